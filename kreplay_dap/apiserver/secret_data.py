"""Secret bodies as the v1 -> internal conversion handles them.

``data`` values are base64 ([]byte in Go): anything else does not decode (400). ``stringData``
is a write-only convenience: its entries are merged into ``data`` (winning over the same
keys) and it is never stored or returned.
"""

from __future__ import annotations

import base64
import binascii
import string
from typing import Any

from kreplay_dap.apiserver.kinds import KindInfo
from kreplay_dap.apiserver.metadata import DecodeError, unmarshal_error

MAX_SECRET_KEYS = 10_000
_BASE64_ALPHABET = frozenset(string.ascii_letters + string.digits + "+/=")


def is_secret(info: KindInfo) -> bool:
    return info.group == "" and info.kind == "Secret"


def _illegal_byte(text: str) -> int:
    """Where Go's base64 decoder gives up on ``text`` (an approximation of its offset)."""
    for index, char in enumerate(text):
        if char not in _BASE64_ALPHABET and char not in "\r\n":
            return index
    padding = text.find("=")
    return padding if 0 <= padding < len(text.rstrip("=")) else len(text)


def _canonical(info: KindInfo, version: str, text: str) -> str:
    """The value re-encoded as the server returns it; newlines are skipped as Go does."""
    try:
        raw = base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError) as error:
        detail = f"illegal base64 data at input byte {_illegal_byte(text)}"
        raise DecodeError(info, version, detail) from error
    return base64.b64encode(raw).decode("ascii")


def _string_map(info: KindInfo, version: str, body: dict[str, Any], field: str) -> dict[str, Any]:
    values = body.get(field)
    go_type = "map[string][]uint8" if field == "data" else "map[string]string"
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise DecodeError(info, version, unmarshal_error(values, f"Secret.{field}", go_type))
    if len(values) > MAX_SECRET_KEYS:
        raise DecodeError(info, version, f"Secret.{field} has more than {MAX_SECRET_KEYS} keys")
    for value in values.values():
        if value is not None and not isinstance(value, str):
            element = "[]uint8" if field == "data" else "string"
            raise DecodeError(info, version, unmarshal_error(value, f"Secret.{field}", element))
    return values


def normalize_secret(info: KindInfo, version: str, body: dict[str, Any]) -> None:
    """Check ``data``, fold ``stringData`` into it, drop ``stringData`` (in place)."""
    data = {
        key: _canonical(info, version, value or "")
        for key, value in _string_map(info, version, body, "data").items()
    }
    for key, value in _string_map(info, version, body, "stringData").items():
        data[key] = base64.b64encode((value or "").encode()).decode("ascii")
    body.pop("stringData", None)
    if data:
        body["data"] = data
    else:
        body.pop("data", None)
