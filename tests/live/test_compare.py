"""Unit tests of the live-replay write comparison."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kreplay_dap.live.compare import diff_bodies, parse_ignore_path
from recorder.errors import InvalidInputError


def widget(replicas: int, rv: str, reconciled: str, ready: bool = True) -> dict[str, object]:
    return {
        "metadata": {"name": "w1", "resourceVersion": rv, "managedFields": [{"time": rv}]},
        "spec": {"replicas": replicas, "ports": [80, 443]},
        "status": {"lastReconcileTime": reconciled, "ready": ready},
    }


def test_server_managed_metadata_and_time_values_are_ignored() -> None:
    recorded = widget(3, "10", "2026-11-26T09:00:00Z")
    live = widget(3, "99", "2026-11-27T10:11:12.5+01:00")
    assert diff_bodies(recorded, live) == []


def test_real_changes_are_reported_with_paths() -> None:
    recorded = widget(3, "10", "2026-11-26T09:00:00Z")
    live = widget(5, "10", "2026-11-26T09:00:00Z", ready=False)
    live["spec"]["ports"] = [80, 8443]  # type: ignore[index]
    found = {d.path: (d.recorded, d.live) for d in diff_bodies(recorded, live)}
    assert found == {
        ".spec.replicas": (3, 5),
        ".spec.ports[1]": (443, 8443),
        ".status.ready": (True, False),
    }


def test_a_timestamp_against_a_non_timestamp_still_differs() -> None:
    recorded = widget(3, "1", "2026-11-26T09:00:00Z")
    live = widget(3, "1", "never")
    assert [d.path for d in diff_bodies(recorded, live)] == [".status.lastReconcileTime"]


def test_user_ignore_paths_accept_jsonpath_forms() -> None:
    recorded = widget(3, "1", "t", ready=True)
    live = widget(4, "1", "t", ready=False)
    ignore = (parse_ignore_path("$.spec.replicas"), parse_ignore_path(".status.*"))
    assert diff_bodies(recorded, live, ignore) == []


@pytest.mark.parametrize("bad", ["", "..", "spec.$(rm)", "a" * 600])
def test_bad_ignore_paths_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_ignore_path(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=20,
)


@given(json_values)
def test_a_document_never_differs_from_itself(value: object) -> None:
    assert diff_bodies(value, value) == []
