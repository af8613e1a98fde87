"""Writing simulated sessions into a recording file with the real ``RecordingWriter``."""

from __future__ import annotations

from recorder.storage import RecordingWriter, SessionInfo
from samples.scenarios.catalog import SCENARIOS, Label, Scenario, build_session

BATCH = 2000


def write_session(writer: RecordingWriter, scenario: Scenario, seed: int) -> tuple[str, set[Label]]:
    sim, labels = build_session(scenario, seed)
    writer.begin_session(
        SessionInfo(sim.session_id, started_ns=sim.ops[0].ts_ns, operator="scenario",
                    labels={"scenario": scenario.name, "seed": str(seed)})
    )  # fmt: skip
    writer.upsert_spans(sim.spans)
    for start in range(0, len(sim.ops), BATCH):
        writer.append(sim.ops[start : start + BATCH])
    writer.end_session(sim.session_id, sim.now_ns)
    return sim.session_id, labels


def write_corpus(path: str, seeds: range) -> dict[str, tuple[Scenario, set[Label]]]:
    """Every scenario for every seed in one file: session id -> (scenario, labels)."""
    sessions: dict[str, tuple[Scenario, set[Label]]] = {}
    with RecordingWriter(path) as writer:
        for seed in seeds:
            for scenario in SCENARIOS:
                session_id, labels = write_session(writer, scenario, seed)
                sessions[session_id] = (scenario, labels)
    return sessions
