"""The ``kreplay`` command line (also installed as ``replay-cli``)."""
