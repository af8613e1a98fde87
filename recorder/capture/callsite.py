"""The operator's call site, cheaply: a bounded walk up ``sys._getframe``.

Frames inside the kubernetes client (and the pydantic wrappers of its generated
methods), urllib3, the recorder itself and the standard library's threading
machinery are skipped; each code object is classified once.

The cache is keyed by ``id(code)``, not the code object: hashing a code object hashes
its constants, nested code objects included (over 100 us for a module's code). Each
entry holds its code object, so the id cannot be reused while the entry exists. Line
numbers are cached per instruction offset (``f_lineno`` walks the code's line table),
as whole (file, line, function) tuples, shared by every call from that spot.
"""

from __future__ import annotations

import os
import sys
import threading
from types import CodeType

import kubernetes
import pydantic
import urllib3

import recorder

MAX_FRAMES = 4
_MAX_WALK = 64
_CACHE_LIMIT = 50_000
_LINES_PER_CODE = 256


def _package_dir(module_file: str | None) -> str:
    return os.path.dirname(os.path.abspath(module_file or "")) + os.sep


_INTERNAL_PREFIXES = (
    _package_dir(kubernetes.__file__),
    _package_dir(urllib3.__file__),
    _package_dir(pydantic.__file__),  # the generated APIs are wrapped in validate_call
    _package_dir(recorder.__file__),
)
_INTERNAL_FILES = frozenset({os.path.abspath(threading.__file__)})
Frame = tuple[str, int, str]
# id(code) -> (the code, whether it is internal, its frame tuple by instruction offset)
_Entry = tuple[CodeType, bool, dict[int, Frame]]
_codes: dict[int, _Entry] = {}


def _classify(code: CodeType) -> _Entry:
    path = os.path.abspath(code.co_filename)
    internal = path.startswith(_INTERNAL_PREFIXES) or path in _INTERNAL_FILES
    if len(_codes) >= _CACHE_LIMIT:
        _codes.clear()
    entry: _Entry = (code, internal, {})
    _codes[id(code)] = entry
    return entry


def call_site(depth: int = 2) -> tuple[Frame, ...]:
    """Up to MAX_FRAMES (file, line, function) of the nearest frames outside the client."""
    frames: list[Frame] = []
    frame = sys._getframe(depth)
    known = _codes.get
    for _ in range(_MAX_WALK):
        code = frame.f_code
        entry = known(id(code)) or _classify(code)
        if not entry[1]:
            sites = entry[2]
            offset = frame.f_lasti
            site = sites.get(offset)
            if site is None:
                site = (code.co_filename, frame.f_lineno, code.co_name)
                if len(sites) < _LINES_PER_CODE:
                    sites[offset] = site
            frames.append(site)
            if len(frames) == MAX_FRAMES:
                break
        back = frame.f_back
        if back is None:
            break
        frame = back
    return tuple(frames)
