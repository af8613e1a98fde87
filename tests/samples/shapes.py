"""The expected shape of each sample recording, checked on committed and regenerated files."""

from __future__ import annotations

from collections import Counter

from kreplay_dap.analysis import LOOP_LIKE, analyze
from recorder.storage import Recording

Shape = Counter[tuple[str, str, str, int]]  # (verb, kind, subresource, status) -> count
WIDGET_REF = "Widget/default/web"


def shape(recording: Recording, session_id: str) -> Shape:
    counts: Shape = Counter()
    for op in recording.operations(session_id):
        counts[(op.verb, op.kind, op.subresource, op.error_code or op.status_code)] += 1
    return counts


def status_patches(counts: Shape) -> int:
    return sum(n for (verb, kind, sub, code), n in counts.items()
               if (verb, kind, sub, code) == ("patch", "Widget", "status", 200))  # fmt: skip


def conflicts(counts: Shape) -> int:
    return sum(n for (verb, kind, _, code), n in counts.items()
               if verb == "update" and kind == "Widget" and code == 409)  # fmt: skip


def loop_objects(recording: Recording, session_id: str) -> set[str]:
    report = analyze(recording, session_id)
    return {ref for finding in report.of_type(*LOOP_LIKE) for ref in finding.objects}


def check_hotloop(recording: Recording) -> None:
    buggy, fixed = shape(recording, "hotloop-buggy"), shape(recording, "hotloop-fixed")
    assert status_patches(buggy) >= 20, buggy  # 12+ loop turns per step, two steps
    assert 2 <= status_patches(fixed) <= 3, fixed  # one per spec change
    assert ("create", "Deployment", "", 201) in buggy and ("create", "ConfigMap", "", 201) in fixed
    assert conflicts(buggy) == conflicts(fixed) == 0
    assert WIDGET_REF in loop_objects(recording, "hotloop-buggy")
    assert WIDGET_REF not in loop_objects(recording, "hotloop-fixed")
    spans = [span for span in recording.spans("hotloop-buggy") if span.name == "web"]
    assert len(spans) >= 20 and all(span.kind == "Widget" for span in spans)


def check_conflicts(recording: Recording) -> None:
    buggy, fixed = shape(recording, "conflicts-buggy"), shape(recording, "conflicts-fixed")
    assert conflicts(buggy) == 12, buggy  # two spec changes, 1 + 5 stale retries each
    assert conflicts(fixed) == 2, fixed  # one per spec change, then a fresh read succeeds
    assert status_patches(buggy) == status_patches(fixed) == 2
    failed = [span for span in recording.spans("conflicts-buggy") if span.error]
    assert len(failed) == 2


def replica_writers(recording: Recording, session_id: str) -> Counter[str]:
    """Successful Deployment patches per actor."""
    counts: Counter[str] = Counter()
    for op in recording.operations(session_id):
        if op.kind == "Deployment" and op.verb == "patch" and not op.is_error:
            counts[op.actor] += 1
    return counts


def check_fight(recording: Recording) -> None:
    buggy = replica_writers(recording, "fight-buggy")
    fixed = replica_writers(recording, "fight-fixed")
    # Each controller keeps undoing the other: 20+ changes per step, two steps.
    assert buggy["widget-operator"] >= 10 and buggy["replica-scaler"] >= 10, buggy
    assert fixed == Counter({"replica-scaler": 1}), fixed  # scaled once, then left alone
    actors = set(recording.session("fight-buggy").actors)
    assert actors == {"widget-operator", "replica-scaler"}
