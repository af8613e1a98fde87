"""Regenerate the committed sample recordings: ``python samples/record.py [--output DIR]``.

For each sample operator, runs it twice (buggy, then ``--fixed``) as a subprocess with the
recorder on, against a fresh in-memory API server, while a scripted user creates, edits and
deletes a Widget. Each operator gets one file, ``<operator>.db``, with the sessions
``<operator>-buggy`` and ``<operator>-fixed``. Files are compacted and left in rollback-journal
mode, so they can be read from a read-only checkout.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``samples`` and kreplay importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kreplay_dap.demo import OPERATORS, Progress, SampleRun, record_sample
from recorder.errors import KreplayError

RECORDINGS_DIR = Path(__file__).resolve().parent / "recordings"
VARIANTS = (("buggy", False), ("fixed", True))


def session_id(operator: str, variant: str) -> str:
    return f"{operator}-{variant}"


def compact(database: Path) -> None:
    """Fold the WAL into the file, switch to a rollback journal and drop free pages."""
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("VACUUM")
    finally:
        connection.close()


def printer(session: str, verbose: bool) -> Progress:
    """Print each new step once (the change counts are for live displays)."""
    seen: set[str] = set()

    def show(message: str, _changes: int) -> None:
        if verbose and message not in seen:
            seen.add(message)
            print(f"  {session}: {message}", flush=True)

    return show


def record_operator(operator: str, output_dir: Path, verbose: bool = True) -> Path:
    """Record both variants of one operator into ``output_dir/<operator>.db`` (replaced)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{operator}.db"
    with tempfile.TemporaryDirectory(prefix="kreplay-record-") as workdir:
        database = Path(workdir) / target.name
        for variant, fixed in VARIANTS:
            run = SampleRun(operator, fixed=fixed, session_id=session_id(operator, variant))
            record_sample(run, database, printer(run.session_id, verbose))
        compact(database)
        os.replace(database, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=RECORDINGS_DIR, help="output directory")
    parser.add_argument(
        "--operator", action="append", choices=OPERATORS, help="only these (repeatable)"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the files written")
    args = parser.parse_args(argv)
    for operator in args.operator or OPERATORS:
        try:
            target = record_operator(operator, args.output, verbose=not args.quiet)
        except KreplayError as error:
            print(f"record: error: {operator}: {error}", file=sys.stderr)
            return 2
        print(f"wrote {target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
