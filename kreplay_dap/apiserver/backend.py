"""What the resolver serves from: a ``ClusterState`` plus a hook on writes.

``FakeBackend`` is a plain in-memory cluster. ``replay.ReplayBackend`` answers writes that
match the recording with the recorded response and reports the others as divergences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from kreplay_dap.apiserver.messages import ApiResponse
from kreplay_dap.apiserver.objects import Target
from kreplay_dap.apiserver.state import ClusterState


@dataclass(frozen=True, slots=True)
class WriteIntent:
    """A write as the client sent it, before the state is touched."""

    verb: str  # create, update, patch, delete, deletecollection
    target: Target
    body: Any
    content_type: str = ""
    # dryRun=All: validated and answered, never stored; backends do not intercept it.
    dry_run: bool = False
    # delete and deletecollection: the DeleteOptions, parsed and validated once.
    delete_options: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        if self.target.name:
            return self.target.name
        metadata = self.body.get("metadata") if isinstance(self.body, dict) else None
        return str(metadata.get("name") or "") if isinstance(metadata, dict) else ""


class Backend(Protocol):
    state: ClusterState

    def intercept_write(self, intent: WriteIntent) -> ApiResponse | None:
        """A response to send instead of applying the write, or None to apply it."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


# A backend may also define ``intercept_read(verb: str, target: Target) -> ApiResponse | None``
# ("get" or "list"; watches are not intercepted): ``ApiServer._intercept_read`` calls it when
# present and sends a non-None answer instead of serving the read (live replay uses it).


class FakeBackend:
    """An in-memory cluster; writes always apply."""

    def __init__(self, state: ClusterState | None = None) -> None:
        self.state = state or ClusterState()

    def intercept_write(self, intent: WriteIntent) -> ApiResponse | None:
        return None

    def start(self) -> None:
        """Nothing runs in the background."""

    def stop(self) -> None:
        self.state.close()
