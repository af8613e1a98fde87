"""HTTP/1.1 chunked transfer coding, decoded incrementally in the writer process.

The operator side records a watch stream's bytes as its socket file delivers them (one
copy per socket read, not a Python step per event), so those bytes still carry the
chunk framing. The writer takes it off here: feed it the pieces in order, in any sizes,
and it returns the body bytes.

After a gap (pieces the operator side had to drop), the decoder resynchronises on the
framing. A watch stream's body is JSON, which never holds a raw CR, so a line that ends
in CR LF is framing: a chunk-size line, or the CR LF that closes a chunk's data. A guess
is only trusted once a whole chunk confirms it (its data followed by CR LF); until then
its data is held back, so a wrong guess costs nothing but the guess.
"""

from __future__ import annotations

import re

from recorder.errors import KreplayError

_MAX_LINE = 4096  # a chunk-size line or a trailer field
_MAX_GUESSED_CHUNK = 16 << 20  # data held back while a resynchronisation is unconfirmed
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_PLAIN_SIZE_LINE = re.compile(rb"([0-9a-fA-F]{1,16})\r\n")  # no extensions

_SIZE, _DATA, _DATA_END, _TRAILER, _DONE, _RESYNC = range(6)


class ChunkingError(KreplayError):
    """The bytes are not HTTP chunked transfer coding."""


def chunk_size(line: bytes) -> int | None:
    """The size a chunk-size line (ending in CR LF) announces, or None if it is not one."""
    if not line.endswith(b"\r\n"):
        return None
    digits = line[:-2].split(b";", 1)[0].strip(b" \t")
    if not digits or len(digits) > 16 or not _HEX_DIGITS.issuperset(digits):
        return None
    return int(digits, 16)


class ChunkedDecoder:
    """One stream's decoding state."""

    __slots__ = ("_guessed", "_left", "_line", "_state", "_tentative")

    def __init__(self) -> None:
        self._state = _SIZE
        self._left = 0
        self._line = bytearray()
        self._tentative = False  # resynchronised, not yet confirmed by a whole chunk
        self._guessed: list[bytes] = []  # the tentative chunk's data

    def lost_sync(self) -> None:
        """Bytes are missing before the next piece: find the next chunk boundary."""
        self._state, self._left, self._tentative = _RESYNC, 0, False
        self._line.clear()
        self._guessed.clear()

    @property
    def finished(self) -> bool:
        return self._state == _DONE

    def feed(self, piece: bytes) -> bytes:
        """The body bytes in ``piece``. Raises ChunkingError on malformed framing."""
        out: list[bytes] = []
        position, end = 0, len(piece)
        for _ in range(end):  # every step consumes at least one byte
            if position >= end or self._state == _DONE:
                break  # nothing may follow the last chunk's trailer: ignore it
            if self._state == _SIZE and not self._line and not self._tentative:
                position = self._whole_chunks(piece, position, out)
                if position >= end:
                    break
            if self._state == _DATA:
                position = self._data(piece, position, out)
            else:
                position = self._collect_line(piece, position, out)
        return b"".join(out)

    def _whole_chunks(self, piece: bytes, position: int, out: list[bytes]) -> int:
        """The usual case, one step per chunk: chunks that lie whole in ``piece``."""
        match, end = _PLAIN_SIZE_LINE.match, len(piece)
        for _ in range(end):
            found = match(piece, position)
            if found is None:
                break
            start = found.end()
            stop = start + int(found.group(1), 16)
            if stop == start or piece[stop : stop + 2] != b"\r\n":
                break  # the last chunk, one cut by the piece's end, or bad framing
            out.append(piece[start:stop])
            position = stop + 2
        return position

    def _data(self, piece: bytes, position: int, out: list[bytes]) -> int:
        take = min(self._left, len(piece) - position)
        (self._guessed if self._tentative else out).append(piece[position : position + take])
        self._left -= take
        if not self._left:
            self._state = _DATA_END
        return position + take

    def _collect_line(self, piece: bytes, position: int, out: list[bytes]) -> int:
        newline = piece.find(b"\n", position)
        stop = len(piece) if newline < 0 else newline + 1
        self._line += piece[position:stop]
        if len(self._line) > _MAX_LINE:
            if self._state != _RESYNC:
                self._fail("a chunk-size or trailer line over 4 KiB")
            self._line.clear()  # resynchronising inside an event: keep scanning, bounded
            return stop
        if newline >= 0:
            line = bytes(self._line)
            self._line.clear()
            self._on_line(line, out)
        return stop

    def _on_line(self, line: bytes, out: list[bytes]) -> None:
        state = self._state
        if state == _SIZE:
            self._size_line(line)
        elif state == _DATA_END:
            if line != b"\r\n":
                self._fail("a chunk's data not followed by CR LF")
                return
            self._state = _SIZE
            if self._tentative:  # a whole chunk: the guess was right
                out.extend(self._guessed)
                self._guessed.clear()
                self._tentative = False
        elif state == _TRAILER:
            if line in (b"\r\n", b"\n"):
                self._state = _DONE
        elif line == b"\r\n":  # _RESYNC: the end of a chunk's data, a size line next
            self._state, self._tentative = _SIZE, True
        elif chunk_size(line) is not None:
            self._tentative = True
            self._size_line(line)

    def _size_line(self, line: bytes) -> None:
        size = chunk_size(line)
        if size is None:
            self._fail("a malformed chunk-size line")
        elif self._tentative and not 0 < size <= _MAX_GUESSED_CHUNK:
            self.lost_sync()  # the last chunk, or a huge one, is no proof of a guess
        elif size:
            self._state, self._left = _DATA, size
        else:
            self._state = _TRAILER

    def _fail(self, reason: str) -> None:
        if self._tentative:
            self.lost_sync()  # a wrong guess, at a line boundary: scan on
            return
        raise ChunkingError(f"watch stream framing: {reason}")
