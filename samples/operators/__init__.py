"""Small, real Kubernetes operators with typical bugs, each fixable with ``--fixed``.

Each runs as ``python -m samples.operators.<name>`` or ``python samples/operators/<name>.py``.
"""
