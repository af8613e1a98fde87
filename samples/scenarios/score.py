"""Precision and recall of the analysis against the scenario labels.

A finding is a true positive when a label of its type names one of its objects (for
``slow``: its verb and kind); every label no finding matches is a miss. Negative
controls count every loop-like or race finding as a false positive.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field

from kreplay_dap.analysis import AnalysisOptions, Finding, analyze
from recorder.storage import open_recording
from samples.scenarios.catalog import Label, Scenario
from samples.scenarios.corpus import write_corpus

SCORED = ("loop", "noop-write", "fight", "conflict", "error", "stale-read", "lost-update", "slow")
LOOP_OR_RACE = frozenset({"loop", "noop-write", "fight", "stale-read", "lost-update"})


@dataclass
class Score:
    true_positives: Counter[str] = field(default_factory=Counter)
    false_positives: Counter[str] = field(default_factory=Counter)
    misses: Counter[str] = field(default_factory=Counter)
    negative_flags: int = 0
    backoff_right: int = 0
    backoff_total: int = 0
    details: list[str] = field(default_factory=list)

    def precision(self, kind: str) -> float:
        found = self.true_positives[kind] + self.false_positives[kind]
        return self.true_positives[kind] / found if found else 1.0

    def recall(self, kind: str) -> float:
        expected = self.true_positives[kind] + self.misses[kind]
        return self.true_positives[kind] / expected if expected else 1.0

    def combined(self, kinds: frozenset[str]) -> tuple[float, float]:
        tp = sum(self.true_positives[k] for k in kinds)
        fp = sum(self.false_positives[k] for k in kinds)
        fn = sum(self.misses[k] for k in kinds)
        return (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0)


def _names(finding: Finding) -> set[str]:
    if finding.type == "slow":
        return {f"{finding.fields.get('verb')} {finding.fields.get('kind')}"}
    return set(finding.objects)


def score_session(
    score: Score, session: str, scenario: Scenario, labels: set[Label], findings: list[Finding]
) -> None:
    matched: set[Label] = set()
    for finding in findings:
        if finding.type not in SCORED or finding.fields.get("outlier"):
            continue
        hits = {(finding.type, name) for name in _names(finding)} & labels
        if hits:
            score.true_positives[finding.type] += 1 if not hits <= matched else 0
            matched |= hits
            _check_backoff(score, scenario, finding)
        else:
            score.false_positives[finding.type] += 1
            score.details.append(f"{session}: unexpected {finding.type}: {finding.description}")
            if scenario.negative and finding.type in LOOP_OR_RACE:
                score.negative_flags += 1
    for kind, name in labels - matched:
        score.misses[kind] += 1
        score.details.append(f"{session}: missed {kind} on {name}")


def _check_backoff(score: Score, scenario: Scenario, finding: Finding) -> None:
    for name in finding.objects:
        if name in scenario.backoff:
            score.backoff_total += 1
            score.backoff_right += int(
                bool(finding.fields.get("backoff")) == scenario.backoff[name]
            )


def evaluate(seeds: range, path: str, options: AnalysisOptions | None = None) -> Score:
    sessions = write_corpus(path, seeds)
    score = Score()
    recording = open_recording(path)
    try:
        for session, (scenario, labels) in sessions.items():
            report = analyze(recording, session, options or AnalysisOptions())
            score_session(score, session, scenario, labels, report.findings)
    finally:
        recording.close()
    return score


def table(score: Score) -> str:
    lines = [
        "| type | TP | FP | FN | precision | recall |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind in SCORED:
        lines.append(
            f"| {kind} | {score.true_positives[kind]} | {score.false_positives[kind]} | "
            f"{score.misses[kind]} | {score.precision(kind):.3f} | {score.recall(kind):.3f} |"
        )
    precision, recall = score.combined(frozenset({"loop", "noop-write", "fight"}))
    lines.append(f"| loop-like (loop+noop-write+fight) | | | | {precision:.3f} | {recall:.3f} |")
    lines.append(f"\nloop/race findings on negative controls: {score.negative_flags}")
    lines.append(f"backoff classification: {score.backoff_right}/{score.backoff_total} right")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--keep", help="write the corpus here instead of a temporary file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = args.keep or os.path.join(directory, "corpus.db")
        score = evaluate(range(args.seeds), path)
    print(table(score))
    for line in score.details[:100]:
        print(line)


if __name__ == "__main__":
    main()
