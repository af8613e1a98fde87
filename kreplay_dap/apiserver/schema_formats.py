"""String ``format``s a CRD schema can ask for, checked loosely (kube-openapi's strfmt names).

Only strings are checked: numeric formats (``int32``, ``int64``, ``float``, ``double``) name
the number's width, and kube-apiserver does not range-check them for custom resources either.
Unknown formats are accepted, as the real server does.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from datetime import date
from urllib.parse import urlparse

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?$"
)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?([0-9a-fA-F])[0-9a-fA-F]{3}-?"
                   r"[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")  # fmt: skip
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}$")
_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|h|d|w)\s*)+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
MAX_HOSTNAME_LENGTH = 255


def _is_date(text: str) -> bool:
    match = _DATE.match(text)
    return match is not None and _valid_date(*match.groups())


def _valid_date(year: str, month: str, day: str) -> bool:
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def _is_date_time(text: str) -> bool:
    match = _DATE_TIME.match(text)
    if match is None or not _valid_date(*match.groups()[:3]):
        return False
    hour, minute, second = (int(part) for part in match.groups()[3:6])
    return hour < 24 and minute < 60 and second <= 60


def _is_uuid(text: str, version: str = "") -> bool:
    match = _UUID.match(text)
    return match is not None and (not version or match.group(1) == version)


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_ip(text: str, version: int) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.version == version


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


def _is_hostname(text: str) -> bool:
    labels = text.rstrip(".").split(".")
    return 0 < len(text) <= MAX_HOSTNAME_LENGTH and all(_HOST_LABEL.match(p) for p in labels)


def _is_uri(text: str) -> bool:
    try:
        parsed = urlparse(text)
    except ValueError:
        return False
    return bool(parsed.scheme)


CHECKS: dict[str, Callable[[str], bool]] = {
    "date": _is_date,
    "date-time": _is_date_time,
    "datetime": _is_date_time,
    "uuid": _is_uuid,
    "uuid3": lambda text: _is_uuid(text, "3"),
    "uuid4": lambda text: _is_uuid(text, "4"),
    "uuid5": lambda text: _is_uuid(text, "5"),
    "byte": _is_base64,
    "ipv4": lambda text: _is_ip(text, 4),
    "ipv6": lambda text: _is_ip(text, 6),
    "cidr": _is_cidr,
    "mac": lambda text: _MAC.match(text) is not None,
    "hostname": _is_hostname,
    "email": lambda text: _EMAIL.match(text) is not None,
    "uri": _is_uri,
    "duration": lambda text: _DURATION.match(text) is not None,
    "hexcolor": lambda text: _HEX_COLOR.match(text) is not None,
}


def matches_format(text: str, name: str) -> bool:
    """Whether ``text`` is a valid ``name``; True for formats not checked."""
    check = CHECKS.get(name)
    return check is None or check(text)
