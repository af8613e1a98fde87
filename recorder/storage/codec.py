"""Content-addressed, compressed storage of JSON bodies.

Every body is stored once per file (keyed by the first 16 bytes of its SHA-256 digest).
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
# Deltas against keyframes up to 16 KiB (most objects): level 3's strategy with tables
# sized for them. Level 3's own tables are sized for any input, and with thousands of
# keyframes in use each delta missed the caches on them: 10.5 -> 7.8 us a delta, same
# sizes (62.7 B on the bench session; zstd's fast strategy, 6.8 us, made 3x bigger deltas
# of repetitive objects). The window covers the keyframe and a body of its size.
_SMALL_KEYFRAME = 16 << 10
_SMALL_DELTA_PARAMS = zstandard.ZstdCompressionParameters(
    window_log=15, hash_log=12, chain_log=12, search_log=1, min_match=5,
    strategy=zstandard.STRATEGY_DFAST,
)  # fmt: skip
_KEYFRAME_CACHE = 2048  # each cached keyframe holds a zstd context (~100 KB)
# A decompressor with a raw-content dictionary holds a zstd context (~180 KB), rebuilt from
# the cached keyframe bytes on a miss. 512 of them keep random access over a 1M-op session at
# ~60 us median (32 gave ~95 us) for at most ~90 MB more resident memory.
_DECODER_CACHE = 512
_KEYFRAME_BYTES_BUDGET = 32 << 20
_DIGEST_WINDOW = 131_072  # digests searched for dedup, per generation (two kept)
_LAST_BODY_BUDGET = 64 << 20  # bytes of recent bodies kept to skip hashing repeats
_LAST_BODY_MAX = 256 << 10


def digest(data: bytes) -> bytes:
    # SHA-256 is hardware-accelerated (SHA-NI) and faster here than BLAKE2b.
    return hashlib.sha256(data).digest()[:16]


class _Keyframe:
    """A keyframe body; its zstd context is built on first use (many are never used)."""

    __slots__ = ("_compressor", "blob_id", "raw")

    def __init__(self, blob_id: int, raw: bytes) -> None:
        self.blob_id = blob_id
        self.raw = raw
        self._compressor: zstandard.ZstdCompressor | None = None

    def compress(self, data: bytes) -> bytes:
        if self._compressor is None:
            as_dict = zstandard.ZstdCompressionDict(
                self.raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT
            )
            if len(self.raw) <= _SMALL_KEYFRAME:
                as_dict.precompute_compress(compression_params=_SMALL_DELTA_PARAMS)
                self._compressor = zstandard.ZstdCompressor(
                    dict_data=as_dict, compression_params=_SMALL_DELTA_PARAMS
                )
            else:
                as_dict.precompute_compress(level=_ZSTD_LEVEL)
                self._compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, dict_data=as_dict)
        result: bytes = self._compressor.compress(data)
        return result


class BlobEncoder:
    """Writer side: dedups and compresses bodies into the ``blobs`` table.

    Must be used inside the writer's ``BEGIN IMMEDIATE`` transaction. ``store`` dedups and
    allocates ids; ``flush`` compresses the batch's new bodies, inserts them in one
    ``executemany`` and ends the batch.

    Dedup looks in memory only: the digests of the newest ``_DIGEST_WINDOW`` bodies of the
    file (this writer's and, caught up at each batch, other writers'). An index on the
    digest would be updated at a random place for every new body, rewriting most of its
    pages at each commit; a repeat older than the window is stored again (tens of bytes
    for a delta) and still reads back the same.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._plain = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
        self._known: dict[bytes, int] = {}
        self._older: dict[bytes, int] = {}  # the previous window, still searched
        self._keyframes: OrderedDict[int, _Keyframe] = OrderedDict()
        self._last: dict[int, tuple[bytes, int]] = {}
        self._last_bytes = 0
        self._unencoded: list[tuple[int, bytes, bytes, int]] = []
        self._pending: list[tuple[int, bytes, int, int | None, int, bytes]] = []
        self._next_id: int | None = None
        self._seen_up_to = 0  # every blob id up to this one has been remembered

    def store(self, data: bytes, object_id: int) -> int:
        """Store ``data`` (deduplicated) and return its blob id."""
        last = self._last.get(object_id)
        if last is not None and last[0] == data:  # the commonest repeat: no hash needed
            return last[1]
        if self._next_id is None:
            self._start_batch()
        key = hashlib.sha256(data).digest()[:16]  # = digest(data), inlined: hot path
        blob_id = self._known.get(key)  # holds this batch's pending blobs too
        if blob_id is None:
            blob_id = self._older.get(key)
            if blob_id is None:
                blob_id = self._insert(key, data, object_id)
            else:
                self._remember(key, blob_id)
        if len(data) <= _LAST_BODY_MAX:
            self._remember_last(object_id, data, blob_id, last)
        return blob_id

    def _encode_pending(self) -> None:
        """Compress the batch's new bodies, in order (a delta needs its keyframe first)."""
        pending = self._pending
        encode = self._encode
        for blob_id, key, data, object_id in self._unencoded:
            codec, base, payload = encode(data, object_id)
            pending.append((blob_id, key, codec, base, len(data), payload))
            if codec == CODEC_ZSTD:
                self._set_keyframe(object_id, blob_id, data)
        self._unencoded.clear()

    def flush(self) -> None:
        """Insert the batch's new blobs; call before COMMIT."""
        self._encode_pending()
        if self._pending:
            self._conn.executemany(
                "INSERT INTO blobs (id, digest, codec, base, raw_size, data) VALUES (?,?,?,?,?,?)",
                self._pending,
            )
            self._seen_up_to = self._pending[-1][0]
        self._pending.clear()
        self._next_id = None  # another process may write blobs before our next batch

    def forget(self) -> None:
        """Drop cached ids after a rollback: they may point at rows that were undone."""
        self._known.clear()
        self._older.clear()
        self._keyframes.clear()
        self._last.clear()
        self._last_bytes = 0
        self._unencoded.clear()
        self._pending.clear()
        self._next_id = None
        self._seen_up_to = 0  # the next batch remembers the file's newest digests again

    def _start_batch(self) -> int:
        """First store of a transaction: remember the digests other writers added."""
        row = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM blobs").fetchone()
        newest = int(row[0])
        if newest > self._seen_up_to:
            rows = self._conn.execute(
                "SELECT digest, id FROM blobs WHERE id > ? AND id <= ? ORDER BY id",
                (max(self._seen_up_to, newest - _DIGEST_WINDOW), newest),
            )
            for key, blob_id in rows:
                self._remember(bytes(key), int(blob_id))
        self._seen_up_to = newest
        self._next_id = newest + 1
        return self._next_id

    def _insert(self, key: bytes, data: bytes, object_id: int) -> int:
        blob_id = self._next_id if self._next_id is not None else self._start_batch()
        self._next_id = blob_id + 1
        self._unencoded.append((blob_id, key, data, object_id))
        self._remember(key, blob_id)
        return blob_id

    def _remember(self, key: bytes, blob_id: int) -> None:
        known = self._known
        if len(known) >= _DIGEST_WINDOW:
            # Two generations: the newest window's digests stay findable after a rollover.
            self._older = known
            self._known = known = {}
        known[key] = blob_id

    def _remember_last(
        self, object_id: int, data: bytes, blob_id: int, previous: tuple[bytes, int] | None
    ) -> None:
        if self._last_bytes > _LAST_BODY_BUDGET:
            self._last.clear()
            self._last_bytes = 0
            previous = None
        if previous is not None:
            self._last_bytes -= len(previous[0])
        self._last[object_id] = (data, blob_id)
        self._last_bytes += len(data)

    def _encode(self, data: bytes, object_id: int) -> tuple[int, int | None, bytes]:
        if len(data) < _SMALL_BODY:
            return CODEC_RAW, None, data
        keyframe = self._keyframes.get(object_id)
        if keyframe is not None:
            delta = keyframe.compress(data)
            # Far from its keyframe, the object deserves a fresh one.
            if len(delta) <= max(128, len(data) // 10):
                self._keyframes.move_to_end(object_id)
                return CODEC_ZSTD_DELTA, keyframe.blob_id, delta
        return CODEC_ZSTD, None, self._plain.compress(data)

    def _set_keyframe(self, object_id: int, blob_id: int, data: bytes) -> None:
        if len(data) > _LAST_BODY_MAX:  # huge bodies: plain zstd, no context kept for them
            return
        self._keyframes[object_id] = _Keyframe(blob_id, data)
        self._keyframes.move_to_end(object_id)
        if len(self._keyframes) > _KEYFRAME_CACHE:
            self._keyframes.popitem(last=False)


class BlobDecoder:
    """Reader side: decodes blob ids back to bytes, caching keyframe decompressors."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self._path = path
        self._plain = zstandard.ZstdDecompressor()
        self._bases: OrderedDict[int, zstandard.ZstdDecompressor] = OrderedDict()
        self._keyframe_bytes: OrderedDict[int, bytes] = OrderedDict()
        self._keyframe_total = 0
        self._primed: tuple[int, tuple[int, int | None, int, bytes]] | None = None

    def prime(
        self, blob_id: int, codec: int, base: int | None, raw_size: int, payload: bytes
    ) -> None:
        """Hand over a blob row read along with its operation; the next ``load`` uses it."""
        self._primed = (blob_id, (codec, base, raw_size, payload))

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
        primed = self._primed
        if primed is not None and primed[0] == blob_id:
            return primed[1]
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
        as_dict = zstandard.ZstdCompressionDict(
            self._keyframe(base_id), dict_type=zstandard.DICT_TYPE_RAWCONTENT
        )
        decompressor = zstandard.ZstdDecompressor(dict_data=as_dict)
        self._bases[base_id] = decompressor
        if len(self._bases) > _DECODER_CACHE:
            self._bases.popitem(last=False)
        return decompressor

    def _keyframe(self, base_id: int) -> bytes:
        raw = self._keyframe_bytes.get(base_id)
        if raw is not None:
            self._keyframe_bytes.move_to_end(base_id)
            return raw
        codec, _, raw_size, payload = self._fetch(base_id)
        raw = self._decode_plain(codec, raw_size, payload)  # keyframes are never deltas
        self._keyframe_bytes[base_id] = raw
        self._keyframe_total += len(raw)
        for _ in range(len(self._keyframe_bytes) - 1):  # the newest one always stays
            if self._keyframe_total <= _KEYFRAME_BYTES_BUDGET:
                break
            self._keyframe_total -= len(self._keyframe_bytes.popitem(last=False)[1])
        return raw
