"""The resolver's input and output: plain dataclasses, no sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kreplay_dap.apiserver.status import encode

JSON = "application/json"
MAX_QUERY_PARAMS = 64

# A watch stream yields chunks of newline-delimited JSON; None is an idle tick that lets the
# HTTP layer notice a client that went away.
WatchStream = Iterator[bytes | None]


@dataclass(slots=True)
class ApiRequest:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def from_target(
        cls, method: str, target: str, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> ApiRequest:
        """Build from a request line target such as ``/api/v1/pods?watch=1``."""
        parts = urlsplit(target)
        pairs = parse_qsl(parts.query, keep_blank_values=True)[:MAX_QUERY_PARAMS]
        query: dict[str, str] = {}
        for key, value in pairs:
            query.setdefault(key, value)
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        return cls(method.upper(), parts.path or "/", query, lowered, body)

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";")[0].strip().lower()


@dataclass(slots=True)
class ApiResponse:
    status: int
    body: bytes = b""
    content_type: str = JSON
    stream: WatchStream | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, body: Any) -> ApiResponse:
        return cls(status, encode(body))

    def decoded(self) -> Any:
        """The JSON body, for tests and callers that want data rather than bytes."""
        return json.loads(self.body) if self.body else None
