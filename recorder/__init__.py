"""kreplay recorder: production-side capture of Kubernetes API calls, and the storage format.

Importing ``recorder`` pulls in no IDE or debugger dependency. ``Recorder``,
``RecordingClient`` and ``Config`` are loaded on first use, so readers of recordings
do not import the kubernetes client.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Config", "Recorder", "RecordingClient", "__version__"]


def __getattr__(name: str) -> Any:
    if name in {"Config", "Recorder", "RecordingClient"}:
        from recorder import capture

        return getattr(capture, name)
    raise AttributeError(f"module 'recorder' has no attribute {name!r}")
