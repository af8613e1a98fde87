"""A labelled scenario corpus written once per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/samples is a package too and tests/ is on sys.path under pytest: put the
# repository root first so "samples" is the top-level samples package.
REPO_ROOT = str(Path(__file__).resolve().parents[2])
if sys.path[0] != REPO_ROOT:
    sys.path.insert(0, REPO_ROOT)

from samples.scenarios import Label, Scenario, write_corpus  # noqa: E402

CORPUS_SEEDS = range(12)


@pytest.fixture(scope="session")
def corpus(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, tuple[Scenario, set[Label]]]]:
    path = tmp_path_factory.mktemp("analysis") / "corpus.db"
    sessions = write_corpus(str(path), CORPUS_SEEDS)
    return path, sessions
