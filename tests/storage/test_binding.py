"""Writers bind ``bytes`` and ``None`` without sqlite3's adaptation lookups, storing exactly
what they stored before, and keep any adapter the process registered itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import NoneType
from typing import Any

import pytest

from recorder.storage.connection import bind_without_adapting, open_writable

BYTES_KEY: tuple[type[Any], type[Any]] = (bytes, sqlite3.PrepareProtocol)
NONE_KEY: tuple[type[Any], type[Any]] = (NoneType, sqlite3.PrepareProtocol)


@pytest.fixture
def clean_adapters() -> Iterator[None]:
    saved = {
        key: sqlite3.adapters.pop(key) for key in (BYTES_KEY, NONE_KEY) if key in sqlite3.adapters
    }
    try:
        yield
    finally:
        for key in (BYTES_KEY, NONE_KEY):
            sqlite3.adapters.pop(key, None)
        sqlite3.adapters.update(saved)


def test_bytes_and_none_are_stored_as_blob_and_null(tmp_path: Path, clean_adapters: None) -> None:
    conn = open_writable(str(tmp_path / "w.db"))
    assert sqlite3.adapters[BYTES_KEY] is bytes
    conn.execute("CREATE TABLE t (a, b, c)")
    conn.execute("INSERT INTO t VALUES (?, ?, ?)", (b"\x00\xff", None, bytearray(b"z")))
    row = conn.execute("SELECT typeof(a), typeof(b), typeof(c), a, c FROM t").fetchone()
    conn.close()
    assert row == ("blob", "null", "blob", b"\x00\xff", b"z")


def test_an_adapter_the_process_registered_is_kept(clean_adapters: None) -> None:
    def mine(value: None) -> str:
        return "nothing"

    sqlite3.register_adapter(NoneType, mine)
    bind_without_adapting()
    assert sqlite3.adapters[NONE_KEY] is mine and sqlite3.adapters[BYTES_KEY] is bytes
    conn = sqlite3.connect(":memory:")
    assert conn.execute("SELECT ?", (None,)).fetchone() == ("nothing",)
    conn.close()
