"""Live replay: re-run the real operator against a recording and report where it diverges."""
