"""The labelled scenarios: one bug pattern (or a healthy negative control) each, always
among background noise, and the findings a good analysis must report.

A label is ``(type, object)``; ``slow`` labels name ``"verb Kind"`` instead of an
object. ``error`` labels carry whether the series backs off.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from samples.scenarios import behaviors as b
from samples.scenarios.sim import Key, Process, Sim, key_text, setter

NS = b.NS
Label = tuple[str, str]


@dataclass
class Scenario:
    name: str
    negative: bool
    build: Callable[[Sim], list[Process]]
    labels: Callable[[Sim], set[Label]] = field(default=lambda _sim: set())
    backoff: dict[str, bool] = field(default_factory=dict)


def _widgets(sim: Sim, count: int) -> list[Key]:
    keys = [("Widget", NS, f"widget-{index}") for index in range(count)]
    for key in keys:
        sim.create("widget-admin", key, {"size": 1})
    return keys


def noise(sim: Sim, until_s: float) -> list[Process]:
    """A healthy controller, users editing, a resync, kubelet updates, plain lists."""
    sim.watch("Widget", "widget-controller")
    sim.watch("Gadget", "gadget-controller")
    sim.watch("Deployment", "deployment-controller")
    widgets = _widgets(sim, sim.rng.randrange(5, 15))
    pods = [("Pod", NS, f"noise-pod-{index}") for index in range(sim.rng.randrange(3, 8))]
    for pod in pods:
        sim.create(
            "replicaset-controller", pod, {"containers": [{"name": "app", "image": "app:1"}]}
        )
    return [
        b.healthy_controller(sim, "widget-controller", "Widget", until_s),
        b.user_edits(sim, "alice", widgets, int(until_s / 4), 4.0),
        b.periodic_resync(sim, "widget-controller", widgets, int(until_s / 30) + 1, 30.0),
        b.kubelet(sim, pods, int(until_s / 3), 3.0),
        b.slow_lister(sim, "widget-controller", int(until_s / 2), 10**9),
    ]


def _target(sim: Sim, kind: str, name: str, spec: dict[str, object]) -> Key:
    key = (kind, NS, name)
    sim.create("gadget-admin", key, spec)
    return key


def _status_loop(noop: bool) -> Callable[[Sim], list[Process]]:
    def build(sim: Sim) -> list[Process]:
        key = _target(sim, "Gadget", "gadget-looping", {"size": 2})
        return [b.status_loop(sim, "gadget-controller", key, sim.rng.randrange(12, 60), noop)]

    return build


def _slow_loop(sim: Sim) -> list[Process]:
    key = _target(sim, "Gadget", "gadget-slow-loop", {"size": 2})
    return [b.status_loop(sim, "gadget-controller", key, sim.rng.randrange(8, 15), False, 20.0)]


def _many_loops(sim: Sim) -> list[Process]:
    keys = [_target(sim, "Gadget", f"gadget-spin-{index}", {"size": 2}) for index in range(3)]
    return [
        b.status_loop(sim, "gadget-controller", key, sim.rng.randrange(10, 40), False)
        for key in keys
    ]


def _requeue(sim: Sim) -> list[Process]:
    key = _target(sim, "Gadget", "gadget-requeue", {"size": 2})
    return [b.requeue_loop(sim, "gadget-controller", key, sim.rng.randrange(15, 80))]


def _fight(sim: Sim) -> list[Process]:
    key = _target(sim, "Deployment", "web", {"replicas": 1})
    rounds = sim.rng.randrange(10, 25)
    return [b.fighter(sim, "gitops-sync", key, 3, rounds), b.fighter(sim, "hpa", key, 5, rounds)]


def _conflicts(sim: Sim) -> list[Process]:
    key = _target(sim, "Gadget", "gadget-contended", {"size": 2})
    rounds = sim.rng.randrange(8, 30)
    return [
        b.spec_bumper(sim, "gadget-admin", key, rounds),
        b.stale_retrier(sim, "gadget-controller", key, rounds),
    ]


def _error_storm(code: int, reason: str, kind: str) -> Callable[[Sim], list[Process]]:
    def build(sim: Sim) -> list[Process]:
        key = (kind, NS, "db-credentials" if kind == "Secret" else "gone-pod")
        return [
            b.error_storm(sim, "gadget-controller", key, sim.rng.randrange(10, 60), code, reason)
        ]

    return build


def _backoff(sim: Sim) -> list[Process]:
    key = _target(sim, "Gadget", "gadget-flaky", {"size": 2})
    return [b.backoff_retries(sim, "gadget-controller", key, sim.rng.randrange(6, 11))]


def _lost_update(sim: Sim) -> list[Process]:
    key = _target(sim, "Gadget", "gadget-raced", {"size": 2})
    return [b.lost_update(sim, "gadget-controller", "pauser", key, sim.rng.randrange(1, 4))]


def _stale_read(sim: Sim) -> list[Process]:
    key = _target(sim, "Gadget", "gadget-stale", {"size": 2})
    return [b.stale_reader(sim, "gadget-controller", "gadget-admin", key, sim.rng.randrange(1, 4))]


def _slow(sim: Sim) -> list[Process]:
    return [b.slow_lister(sim, "reporting-controller", sim.rng.randrange(20, 60), 7)]


def _resync(sim: Sim) -> list[Process]:
    keys = [_target(sim, "Gadget", f"gadget-{index}", {"size": 1}) for index in range(20)]
    period = sim.rng.choice([0.5, 2.0, 10.0, 30.0])
    return [b.periodic_resync(sim, "gadget-controller", keys, sim.rng.randrange(5, 20), period)]


def _labels(*labels: tuple[str, str]) -> Callable[[Sim], set[Label]]:
    return lambda sim: set(labels)


def rolling_update(sim: Sim) -> list[Process]:
    """A new image rolled over many distinct pods; the controller writes status as pods
    become ready, each write justified by the kubelet's changes to the pods it lists."""
    key = _target(
        sim, "Deployment", "shop-api", {"replicas": sim.rng.randrange(5, 15), "image": "api:1"}
    )
    return [_roll(sim, key)]


def _roll(sim: Sim, key: Key) -> Process:
    yield 1.0
    sim.write("alice", key, setter("spec", "image", "api:2"))
    replicas = int(sim.objects[key]["spec"]["replicas"])
    for index in range(replicas):
        pod = ("Pod", NS, f"shop-api-v2-{sim.rng.randrange(16**5):05x}-{index}")
        sim.create("replicaset-controller", pod, {"image": "api:2"})
        yield sim.rng.uniform(0.2, 1.0)
        sim.write("kubelet", pod, setter("status", "phase", "Running"), sub="status")
        yield sim.rng.uniform(0.05, 0.3)
        span = sim.begin("deployment-controller", key, "watch")
        sim.get("deployment-controller", key, span)
        sim.list("deployment-controller", "Pod", NS, span)
        sim.write(
            "deployment-controller",
            key,
            setter("status", "updatedReplicas", index + 1),
            span,
            sub="status",
        )
        sim.end(span)
        old = ("Pod", NS, f"shop-api-v1-{index}")
        if old in sim.objects:
            sim.delete("replicaset-controller", old)


def creation_burst(sim: Sim) -> list[Process]:
    """A Job creating dozens of pods in one reconcile, then tracking them."""
    key = _target(sim, "Job", "nightly-import", {"parallelism": sim.rng.randrange(20, 80)})
    return [_burst(sim, key)]


def _burst(sim: Sim, key: Key) -> Process:
    yield 0.5
    span = sim.begin("job-controller", key, "watch")
    sim.get("job-controller", key, span)
    pods = []
    for index in range(int(sim.objects[key]["spec"]["parallelism"])):
        pod = ("Pod", NS, f"nightly-import-{index:03d}")
        sim.create("job-controller", pod, {"image": "import:7"}, span)
        pods.append(pod)
    sim.write(
        "job-controller",
        key,
        setter("status", "active", len(pods)),
        span,
        sub="status",
    )
    sim.end(span)
    for round_index in range(sim.rng.randrange(5, 15)):
        yield sim.rng.uniform(0.5, 2.0)
        for pod in sim.rng.sample(pods, min(5, len(pods))):
            sim.write(
                "kubelet",
                pod,
                setter("status", "phase", "Succeeded"),
                sub="status",
            )
        span = sim.begin("job-controller", key, "watch")
        sim.get("job-controller", key, span)
        sim.list("job-controller", "Pod", NS, span)
        sim.write(
            "job-controller",
            key,
            setter("status", "succeeded", 5 * (round_index + 1)),
            span,
            sub="status",
        )
        sim.end(span)


def _gadget(name: str) -> str:
    return f"Gadget/{NS}/{name}"


LOOPING = _gadget("gadget-looping")
SECRET = f"Secret/{NS}/db-credentials"
GONE_POD = f"Pod/{NS}/gone-pod"
FLAKY = _gadget("gadget-flaky")
SPINNING = tuple(("loop", _gadget(f"gadget-spin-{index}")) for index in range(3))

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("status-loop", False, _status_loop(False), _labels(("loop", LOOPING))),
    Scenario("noop-status-loop", False, _status_loop(True),
             _labels(("loop", LOOPING), ("noop-write", LOOPING))),
    Scenario("slow-status-loop", False, _slow_loop,
             _labels(("loop", _gadget("gadget-slow-loop")))),
    Scenario("interleaved-loops", False, _many_loops, _labels(*SPINNING)),
    Scenario("requeue-loop", False, _requeue, _labels(("loop", _gadget("gadget-requeue")))),
    Scenario("fight", False, _fight, _labels(("fight", f"Deployment/{NS}/web"))),
    Scenario("conflict-storm", False, _conflicts,
             _labels(("conflict", _gadget("gadget-contended")))),
    Scenario("rbac-error-storm", False, _error_storm(403, "Forbidden", "Secret"),
             _labels(("error", SECRET)), {SECRET: False}),
    Scenario("gone-error-storm", False, _error_storm(404, "NotFound", "Pod"),
             _labels(("error", GONE_POD)), {GONE_POD: False}),
    Scenario("lost-update", False, _lost_update, _labels(("lost-update", _gadget("gadget-raced")))),
    Scenario("stale-read", False, _stale_read, _labels(("stale-read", _gadget("gadget-stale")))),
    Scenario("slow-lists", False, _slow, _labels(("slow", "list Pod"))),
    Scenario("healthy-resync", True, _resync),
    Scenario("rolling-update", True, rolling_update),
    Scenario("creation-burst", True, creation_burst),
    Scenario("backoff-errors", True, _backoff, _labels(("error", FLAKY)), {FLAKY: True}),
)  # fmt: skip


def build_session(scenario: Scenario, seed: int) -> tuple[Sim, set[Label]]:
    """Simulate one scenario among noise; returns the simulation and its labels."""
    sim = Sim(f"{scenario.name}-{seed}", random.Random(f"{scenario.name}/{seed}"))
    processes = noise(sim, sim.rng.uniform(40.0, 120.0)) + scenario.build(sim)
    sim.rng.shuffle(processes)
    sim.run(processes)
    if seed % 3 == 2:  # every third variant comes from a recorder without reconcile spans
        sim.spans.clear()
        for operation in sim.ops:
            operation.span_id = None
    return sim, scenario.labels(sim)


__all__ = ["SCENARIOS", "Label", "Scenario", "build_session", "key_text"]
