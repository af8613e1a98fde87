"""kreplay recorder: production-side capture of Kubernetes API calls, and the storage format.

Importing ``recorder`` pulls in no IDE or debugger dependency.
"""

__version__ = "0.1.0"
