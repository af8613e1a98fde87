"""One short handler per DAP request; importing this package registers them all."""

from kreplay_dap.dap.handlers import breakpoints, inspect, lifecycle, movement

__all__ = ["breakpoints", "inspect", "lifecycle", "movement"]
