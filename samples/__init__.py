"""Sample operators with real bugs, the script that records them, and committed recordings."""
