"""Pairs each live write with the next recorded write of the replayed actor.

A live write to the same object with the same verb is that step: equal bodies (after the
comparison's ignore rules) match, others are a *mismatch*. A live write that fits one of
the next few recorded writes skips the ones before it, which are *missing*. Anything else
is an *extra* write. What is left when the operator goes idle is missing too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kreplay_dap.live.compare import diff_bodies
from kreplay_dap.live.report import (
    EXTRA,
    MISMATCH,
    MISSING,
    Divergence,
    RecordedWrite,
    object_label,
)

LOOKAHEAD = 8
MAX_EXPECTED = 1_000_000


@dataclass(frozen=True, slots=True)
class LiveWrite:
    verb: str
    kind: str
    namespace: str
    name: str
    body: Any

    @property
    def object(self) -> str:
        return object_label(self.kind, self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one live write: the recorded step it stands for, and what went wrong."""

    step: RecordedWrite | None
    divergences: tuple[Divergence, ...]

    @property
    def matched(self) -> bool:
        return self.step is not None and not self.divergences


def _same_target(expected: RecordedWrite, live: LiveWrite) -> bool:
    return (
        expected.verb == live.verb
        and expected.kind == live.kind
        and expected.namespace == live.namespace
        and (expected.name == live.name or not live.name or not expected.name)
    )


class WriteMatcher:
    def __init__(
        self, expected: Iterable[RecordedWrite], ignore: tuple[tuple[str, ...], ...] = ()
    ) -> None:
        self._expected: deque[RecordedWrite] = deque()
        for index, write in enumerate(expected):
            if index >= MAX_EXPECTED:
                break
            self._expected.append(write)
        self._ignore = ignore

    @property
    def remaining(self) -> list[RecordedWrite]:
        return list(self._expected)

    def next_expected(self) -> RecordedWrite | None:
        return self._expected[0] if self._expected else None

    def observe(self, live: LiveWrite) -> Verdict:
        """Judge one live write and advance past the recorded steps it accounts for."""
        window = list(self._expected)[:LOOKAHEAD]
        position = next((i for i, w in enumerate(window) if _same_target(w, live)), None)
        if position is None:
            return Verdict(None, (Divergence(EXTRA, None, live.verb, live.object),))
        skipped = [self._expected.popleft() for _ in range(position)]
        step = self._expected.popleft()
        divergences = [Divergence(MISSING, w.seq, w.verb, w.object) for w in skipped]
        differences = diff_bodies(step.body, live.body, self._ignore)
        if differences:
            divergences.append(
                Divergence(MISMATCH, step.seq, live.verb, step.object, tuple(differences))
            )
        return Verdict(step, tuple(divergences))

    def finish(self) -> list[Divergence]:
        """The operator went idle or exited: every write still expected is missing."""
        missing = [Divergence(MISSING, w.seq, w.verb, w.object) for w in self._expected]
        self._expected.clear()
        return missing
