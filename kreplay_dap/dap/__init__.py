"""The Debug Adapter Protocol server: framing, dispatch and one handler per request."""
