"""The production recorder: transparent capture from the official Kubernetes client."""

from recorder.capture.facade import Config, RecordingClient
from recorder.capture.recorder import Recorder

__all__ = ["Config", "Recorder", "RecordingClient"]
