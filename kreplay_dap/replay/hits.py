"""Hit counts for hit conditions: a breakpoint's hits are numbered in recording order.

The Nth hit of a breakpoint is the Nth step, counted from the start of the recording,
where it hits: the step is one of its candidates and its condition (if any) holds. The
number belongs to the step, not to the way the debugger reached it, so Continue and
Reverse Continue agree: ``hitCondition: 3`` stops at the third hit of the recording
whichever way you pass it, ``>=3`` at every hit from the third on, ``%3`` at every third,
and running backwards, restarting or stopping elsewhere never changes a count. A logpoint
with a hit condition logs at those same steps.

A breakpoint whose candidates are an explicit list and that has no condition numbers its
hits by position in that list. Otherwise the engine examines the candidates once, from the
start of the recording up to the step in question, and ``HitCounter`` keeps what it found,
so each step is examined at most once per breakpoint.
"""

from __future__ import annotations

import bisect
from array import array
from dataclasses import dataclass, field


@dataclass(slots=True)
class HitCounter:
    """The hits of one breakpoint found so far, in recording order."""

    frontier: int  # every candidate at or before this seq has been examined
    hits: array[int] = field(default_factory=lambda: array("q"))  # ascending seqs

    def examined(self, seq: int, hit: bool) -> None:
        """Candidate ``seq`` (after ``frontier``) was examined: a hit or not."""
        if hit:
            self.hits.append(seq)
        self.frontier = seq

    def number_at(self, seq: int) -> int:
        """How many hits lie at or before ``seq`` (which must not be past ``frontier``)."""
        return bisect.bisect_right(self.hits, seq)
