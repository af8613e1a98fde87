"""The operator's call site, cheaply: a bounded walk up ``sys._getframe``.

Frames inside the kubernetes client (and the pydantic wrappers of its generated
methods), urllib3, the recorder itself and the standard library's threading
machinery are skipped; each code object is classified once.
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


def _package_dir(module_file: str | None) -> str:
    return os.path.dirname(os.path.abspath(module_file or "")) + os.sep


_INTERNAL_PREFIXES = (
    _package_dir(kubernetes.__file__),
    _package_dir(urllib3.__file__),
    _package_dir(pydantic.__file__),  # the generated APIs are wrapped in validate_call
    _package_dir(recorder.__file__),
)
_INTERNAL_FILES = frozenset({os.path.abspath(threading.__file__)})
_internal: dict[CodeType, bool] = {}

Frame = tuple[str, int, str]


def _is_internal(code: CodeType) -> bool:
    path = os.path.abspath(code.co_filename)
    internal = path.startswith(_INTERNAL_PREFIXES) or path in _INTERNAL_FILES
    if len(_internal) >= _CACHE_LIMIT:
        _internal.clear()
    _internal[code] = internal
    return internal


def call_site(depth: int = 2) -> tuple[Frame, ...]:
    """Up to MAX_FRAMES (file, line, function) of the nearest frames outside the client."""
    frames: list[Frame] = []
    frame = sys._getframe(depth)
    known = _internal.get  # inline cache lookup: no call per frame once a code is seen
    for _ in range(_MAX_WALK):
        code = frame.f_code
        internal = known(code)
        if internal is None:
            internal = _is_internal(code)
        if not internal:
            frames.append((code.co_filename, frame.f_lineno, code.co_name))
            if len(frames) == MAX_FRAMES:
                break
        back = frame.f_back
        if back is None:
            break
        frame = back
    return tuple(frames)
