"""Switching a new file to WAL retries while another writer process holds its lock.

Two processes creating one recording at the same moment can get SQLITE_BUSY from the
journal-mode switch without SQLite's busy handler ever waiting (seen once in CI). The race
itself cannot be forced from a test, so the connection here answers as SQLite did.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from recorder.storage.connection import _enter_wal


class AnswersBusy:
    """A connection whose first ``busy`` journal-mode switches fail as SQLite's did."""

    def __init__(self, busy: int, name: str = "SQLITE_BUSY") -> None:
        self.busy, self.name, self.calls = busy, name, 0

    def execute(self, sql: str) -> Any:
        self.calls += 1
        if self.calls <= self.busy:
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorname = self.name
            raise error
        assert sql == "PRAGMA journal_mode = WAL"
        return None


def test_busy_answers_are_retried_until_the_switch_succeeds() -> None:
    connection = AnswersBusy(busy=3)
    _enter_wal(connection)  # type: ignore[arg-type]
    assert connection.calls == 4


def test_other_errors_are_not_retried() -> None:
    connection = AnswersBusy(busy=1, name="SQLITE_IOERR")
    with pytest.raises(sqlite3.OperationalError):
        _enter_wal(connection)  # type: ignore[arg-type]
    assert connection.calls == 1


def test_a_real_new_file_ends_in_wal(tmp_path: Any) -> None:
    connection = sqlite3.connect(str(tmp_path / "new.db"))
    try:
        _enter_wal(connection)
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        connection.close()
