"""Plain data types of the recording format, shared by every reader and writer."""

from __future__ import annotations

from dataclasses import dataclass, field

VERBS = frozenset(
    {"get", "list", "create", "update", "patch", "delete", "deletecollection", "watch"}
)
WATCH_EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"})
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True, slots=True)
class CallFrame:
    """One frame of the operator's call site."""

    file: str
    line: int
    function: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.function}"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """Identity of a Kubernetes object inside a session: kind, namespace, name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"


@dataclass(slots=True)
class Operation:
    """One Kubernetes API operation (or one watch event).

    Bodies are JSON text (UTF-8 bytes) exactly as sent or received, so the recorder never
    re-serializes on the operator's thread. A reader leaves them ``None`` and sets the
    ``*_ref`` handles instead; ``Recording.body(ref)`` decodes them on demand.
    """

    session_id: str
    seq: int
    ts_ns: int
    verb: str
    event_type: str = ""
    api_version: str = ""
    kind: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int | None = None
    patch_type: str = ""
    request_body: bytes | None = None
    response_body: bytes | None = None
    status_code: int = 0
    error_code: int = 0
    error_reason: str = ""
    error_message: str = ""
    duration_us: int = 0
    actor: str = ""
    thread: str = ""
    span_id: int | None = None
    call_site: tuple[CallFrame, ...] = ()
    request_ref: int | None = None
    response_ref: int | None = None

    @property
    def object_ref(self) -> ObjectRef:
        return ObjectRef(self.kind, self.namespace, self.name)

    @property
    def is_error(self) -> bool:
        return self.error_code >= 400 or self.status_code >= 400 or self.event_type == "ERROR"

    @property
    def is_write(self) -> bool:
        return self.verb in WRITE_VERBS

    @property
    def api_group(self) -> str:
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""


@dataclass(slots=True)
class SessionInfo:
    """Session metadata and summary, read without scanning operations."""

    session_id: str
    started_ns: int = 0
    ended_ns: int | None = None
    operator: str = ""
    cluster: str = ""
    server_version: str = ""
    recorder_version: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    op_count: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    dropped_ops: int = 0
    oversize_ops: int = 0
    truncated: bool = False
    kinds: dict[str, int] = field(default_factory=dict)
    actors: dict[str, int] = field(default_factory=dict)
    verbs: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class ReconcileSpan:
    """One reconcile of one object by one actor; operations point at it by ``span_id``."""

    session_id: str
    span_id: int
    kind: str
    namespace: str = ""
    name: str = ""
    actor: str = ""
    thread: str = ""
    trigger: str = ""
    start_ns: int = 0
    end_ns: int | None = None
    start_seq: int | None = None
    end_seq: int | None = None
    error: str = ""
    external_id: str = ""

    @property
    def object_ref(self) -> ObjectRef:
        return ObjectRef(self.kind, self.namespace, self.name)
