"""Content-addressed, compressed storage of JSON bodies.

Every body is stored once per file (keyed by a 16-byte BLAKE2b digest of its bytes).
A body is either a *keyframe* (zstd alone) or a *delta*: zstd with the keyframe of the
same object as a raw-content dictionary. Successive versions of one object differ in a
few fields (resourceVersion, managedFields times, status), so a delta is tens of bytes.
Deltas always point at a keyframe, never at another delta, so decoding costs at most
two decompressions, whatever the history.
"""

from __future__ import annotations

import hashlib
import sqlite3
import zlib
from collections import OrderedDict

import zstandard

from recorder.errors import NotARecordingError

CODEC_RAW = 0
CODEC_ZLIB = 1
CODEC_ZSTD = 2
CODEC_ZSTD_DELTA = 3

_SMALL_BODY = 64
_ZSTD_LEVEL = 3
_KEYFRAME_CACHE = 512
_DIGEST_CACHE = 200_000


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


class _Keyframe:
    __slots__ = ("blob_id", "compressor", "raw_size")

    def __init__(self, blob_id: int, raw: bytes) -> None:
        self.blob_id = blob_id
        self.raw_size = len(raw)
        as_dict = zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        self.compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, dict_data=as_dict)


class BlobEncoder:
    """Writer side: dedups and compresses bodies into the ``blobs`` table."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._plain = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
        self._known: OrderedDict[bytes, int] = OrderedDict()
        self._keyframes: OrderedDict[int, _Keyframe] = OrderedDict()

    def store(self, data: bytes, object_id: int) -> int:
        """Store ``data`` (deduplicated) and return its blob id."""
        key = digest(data)
        found = self._lookup(key)
        if found is not None:
            return found
        codec, base, payload = self._encode(data, object_id)
        cursor = self._conn.execute(
            "INSERT INTO blobs (digest, codec, base, raw_size, data) VALUES (?, ?, ?, ?, ?)",
            (key, codec, base, len(data), payload),
        )
        blob_id = int(cursor.lastrowid or 0)
        self._remember(key, blob_id)
        if codec == CODEC_ZSTD:
            self._set_keyframe(object_id, blob_id, data)
        return blob_id

    def forget(self) -> None:
        """Drop cached ids after a rollback: they may point at rows that were undone."""
        self._known.clear()
        self._keyframes.clear()

    def _lookup(self, key: bytes) -> int | None:
        cached = self._known.get(key)
        if cached is not None:
            self._known.move_to_end(key)
            return cached
        row = self._conn.execute("SELECT id FROM blobs WHERE digest = ?", (key,)).fetchone()
        if row is None:
            return None
        self._remember(key, int(row[0]))
        return int(row[0])

    def _remember(self, key: bytes, blob_id: int) -> None:
        self._known[key] = blob_id
        if len(self._known) > _DIGEST_CACHE:
            self._known.popitem(last=False)

    def _encode(self, data: bytes, object_id: int) -> tuple[int, int | None, bytes]:
        if len(data) < _SMALL_BODY:
            return CODEC_RAW, None, data
        keyframe = self._keyframes.get(object_id)
        if keyframe is not None:
            delta = keyframe.compressor.compress(data)
            # Far from its keyframe, the object deserves a fresh one.
            if len(delta) <= max(128, len(data) // 10):
                self._keyframes.move_to_end(object_id)
                return CODEC_ZSTD_DELTA, keyframe.blob_id, delta
        return CODEC_ZSTD, None, self._plain.compress(data)

    def _set_keyframe(self, object_id: int, blob_id: int, data: bytes) -> None:
        self._keyframes[object_id] = _Keyframe(blob_id, data)
        self._keyframes.move_to_end(object_id)
        if len(self._keyframes) > _KEYFRAME_CACHE * 8:
            self._keyframes.popitem(last=False)


class BlobDecoder:
    """Reader side: decodes blob ids back to bytes, caching keyframe decompressors."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self._path = path
        self._plain = zstandard.ZstdDecompressor()
        self._bases: OrderedDict[int, zstandard.ZstdDecompressor] = OrderedDict()

    def load(self, blob_id: int) -> bytes:
        codec, base, raw_size, payload = self._fetch(blob_id)
        try:
            if codec == CODEC_ZSTD_DELTA and base is not None:
                decompressor = self._base_decompressor(base)
                return decompressor.decompress(payload, max_output_size=raw_size)
            return self._decode_plain(codec, raw_size, payload)
        except (zstandard.ZstdError, zlib.error) as error:
            raise NotARecordingError(f"{self._path}: body {blob_id} is corrupt: {error}") from error

    def _fetch(self, blob_id: int) -> tuple[int, int | None, int, bytes]:
        row = self._conn.execute(
            "SELECT codec, base, raw_size, data FROM blobs WHERE id = ?", (blob_id,)
        ).fetchone()
        if row is None:
            raise NotARecordingError(f"{self._path}: body {blob_id} is missing (corrupt file)")
        base = None if row[1] is None else int(row[1])
        return int(row[0]), base, int(row[2]), bytes(row[3])

    def _decode_plain(self, codec: int, raw_size: int, payload: bytes) -> bytes:
        if codec == CODEC_RAW:
            return payload
        if codec == CODEC_ZLIB:
            return zlib.decompress(payload)
        if codec == CODEC_ZSTD:
            return self._plain.decompress(payload, max_output_size=raw_size)
        raise NotARecordingError(f"{self._path}: unknown or misplaced body codec {codec}")

    def _base_decompressor(self, base_id: int) -> zstandard.ZstdDecompressor:
        cached = self._bases.get(base_id)
        if cached is not None:
            self._bases.move_to_end(base_id)
            return cached
        codec, _, raw_size, payload = self._fetch(base_id)
        raw = self._decode_plain(codec, raw_size, payload)  # keyframes are never deltas
        as_dict = zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        decompressor = zstandard.ZstdDecompressor(dict_data=as_dict)
        self._bases[base_id] = decompressor
        if len(self._bases) > _KEYFRAME_CACHE:
            self._bases.popitem(last=False)
        return decompressor
