"""Labelled corpus of simulated operator sessions: bug patterns and negative controls.

``build_session(scenario, seed)`` simulates one session; ``write_corpus(path, seeds)``
writes every scenario for every seed into one recording; ``score`` compares analysis
findings with the labels. ``python -m samples.scenarios.score --seeds 30`` prints the
precision/recall table reported in docs/ANALYSIS.md.
"""

from samples.scenarios.catalog import SCENARIOS, Label, Scenario, build_session
from samples.scenarios.corpus import write_corpus, write_session

__all__ = ["SCENARIOS", "Label", "Scenario", "build_session", "write_corpus", "write_session"]
