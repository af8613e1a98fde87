"""Body normalisation: what counts as a time and is left out of comparisons."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from kreplay_dap.analysis import bodies
from kreplay_dap.analysis.bodies import flatten

_DATE_LIKE = st.from_regex(r"\A\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}.{0,6}\Z")


@given(st.one_of(st.text(max_size=30), _DATE_LIKE))
def test_a_value_is_left_out_exactly_when_it_reads_as_a_time(value: str) -> None:
    is_time = re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}", value) is not None
    assert flatten({"spec": {"value": value}}) == ({} if is_time else {"spec.value": value})


@given(st.text(min_size=1, max_size=20))
def test_a_field_name_is_judged_the_same_cached_or_not(name: str) -> None:
    fresh = bool(re.search(r"(?i)(time|timestamp)$", name)) and name != "creationTimestamp"
    assert bodies._time_key(name) == fresh
    assert bodies._time_key(name) == fresh  # second answer comes from the cache


def test_time_names_and_time_values_are_left_out() -> None:
    # creationTimestamp is no time *name* (kept when its value is no time); "2025-x" no time value.
    body = {
        "metadata": {"name": "a", "creationTimestamp": "unknown", "uid": "2025-01-01T00:00:00Z"},
        "status": {
            "lastProbeTime": "never",
            "note": "2025-01-01 10:00:00 restarted",
            "phase": "2025-x",
            "conditions": [{"type": "Ready", "when": "2025-01-01T00:00:00Z"}],
        },
    }
    assert flatten(body) == {
        "metadata.name": "a",
        "metadata.creationTimestamp": "unknown",
        "status.phase": "2025-x",
        "status.conditions[0].type": "Ready",
    }
