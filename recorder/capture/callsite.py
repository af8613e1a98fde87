"""The operator's call site, cheaply: a bounded walk up ``sys._getframe``.

Frames inside the kubernetes client (and the pydantic wrappers of its generated
methods), urllib3, the recorder itself and the standard library's threading
machinery are skipped; each code object is classified once.

The cache is keyed by ``id(code)``, not the code object: hashing a code object hashes
its constants, nested code objects included (over 100 us for a module's code). Each
entry holds its code object, so the id cannot be reused while the entry exists. Line
numbers are cached per instruction offset (``f_lineno`` walks the code's line table),
as whole (file, line, function) tuples, shared by every call from that spot.

Every frame object we look at costs about a microsecond: making it, and copying the
frame into it when its function returns. So the walk remembers how many client frames
lay below the operator's first frame, and later calls jump there (checking that frame
and the one below it, or only that frame if its line reached the client at that distance
before) instead of walking the client's frames one by one.
"""

from __future__ import annotations

import os
import sys
import threading
from types import CodeType, FrameType

import kubernetes
import pydantic
import urllib3

import recorder

MAX_FRAMES = 3
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
# id(code) -> (the code, whether it is internal, its frame tuple by instruction offset,
# and by offset: the distance from the client's frame at which that call was checked)
_Entry = tuple[CodeType, bool, dict[int, Frame], dict[int, int]]
_codes: dict[int, _Entry] = {}
# How many client frames lay between the caller and the operator's first frame lately,
# latest first: a few paths (a typed call, the same via Watch.stream, the dynamic client).
_recent_skips: list[int] = []
_SKIPS_KEPT = 4


def _classify(code: CodeType) -> _Entry:
    path = os.path.abspath(code.co_filename)
    internal = path.startswith(_INTERNAL_PREFIXES) or path in _INTERNAL_FILES
    if len(_codes) >= _CACHE_LIMIT:
        _codes.clear()
    entry: _Entry = (code, internal, {}, {})
    _codes[id(code)] = entry
    return entry


def _entry(frame: FrameType) -> _Entry:
    code = frame.f_code
    return _codes.get(id(code)) or _classify(code)


def _site(frame: FrameType, entry: _Entry) -> Frame:
    sites = entry[2]
    offset = frame.f_lasti
    site = sites.get(offset)
    if site is None:
        site = (entry[0].co_filename, frame.f_lineno, entry[0].co_name)
        if len(sites) < _LINES_PER_CODE:
            sites[offset] = site
    return site


def _first_outside(depth: int, skips: list[int]) -> FrameType | None:
    """The frame a remembered skip leads to, if it is still the first outside the client.

    ``sys._getframe(n)`` makes a frame object for frame n only; walking ``f_back`` makes
    one for every frame on the way, which costs more than the rest of the walk.
    """
    for skip in skips:
        try:
            frame = sys._getframe(depth + 1 + skip)
        except ValueError:  # the stack is not that deep
            continue
        entry = _entry(frame)
        if entry[1]:
            continue
        checked = entry[3]
        if checked.get(frame.f_lasti) == skip:
            return frame  # this line reached the client at this distance before
        if not skip or _entry(sys._getframe(depth + skip))[1]:
            _note_checked(frame, checked, skip)
            return frame
    return None


def _note_checked(frame: FrameType, checked: dict[int, int], skip: int) -> None:
    if len(checked) < _LINES_PER_CODE:
        checked[frame.f_lasti] = skip


def _walk_to_outside(start: FrameType, skips: list[int]) -> FrameType | None:
    """Up from the client's frame to the first frame outside it; remembers the distance."""
    frame: FrameType | None = start
    for skip in range(_MAX_WALK):
        if frame is None:
            return None
        entry = _entry(frame)
        if not entry[1]:
            _note_checked(frame, entry[3], skip)
            if skip in skips:
                skips.remove(skip)
            skips.insert(0, skip)
            del skips[_SKIPS_KEPT:]
            return frame
        frame = frame.f_back
    return None


def call_site(depth: int = 2) -> tuple[Frame, ...]:
    """Up to MAX_FRAMES (file, line, function) of the nearest frames outside the client.

    ``depth`` is the client's frame: the caller of the function that calls this. The
    usual path is inline: each call of a helper costs as much as a frame object here,
    the client's own work having pushed our code and data out of the caches.
    """
    known, skips = _codes.get, _recent_skips
    frame: FrameType | None = None
    if skips:
        try:
            frame = sys._getframe(depth + skips[0])
        except ValueError:  # the stack is not that deep
            frame = None
        if frame is not None:
            code = frame.f_code
            entry = known(id(code)) or _classify(code)
            if entry[1] or entry[3].get(frame.f_lasti) != skips[0]:
                frame = _first_outside(depth, skips)  # not a line checked at this distance
    if frame is None:
        frame = _walk_to_outside(sys._getframe(depth), skips)
    frames: list[Frame] = []
    for _ in range(_MAX_WALK):
        if frame is None:
            break
        code = frame.f_code
        entry = known(id(code)) or _classify(code)
        if not entry[1]:
            site = entry[2].get(frame.f_lasti)
            frames.append(site if site is not None else _site(frame, entry))
            if len(frames) == MAX_FRAMES:
                break
        frame = frame.f_back
    return tuple(frames)
