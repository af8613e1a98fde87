"""Actor processes: healthy controllers, users, kubelets, and the buggy ones.

Each process is a generator yielding the simulated seconds until its next step.
"""

from __future__ import annotations

from collections.abc import Callable

from samples.scenarios.sim import Body, Key, Process, Sim, setter, unchanged

NS = "shop"


def _set_ready(generation: int, stamp: str) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        body["status"]["observedGeneration"] = generation
        body["status"]["conditions"] = [
            {"type": "Ready", "status": "True", "lastTransitionTime": stamp, "reason": "Synced"}
        ]

    return change


def healthy_controller(sim: Sim, actor: str, kind: str, until_s: float) -> Process:
    """Reconciles on every event; writes status only when the generation moved."""
    end = sim.now_ns + int(until_s * 1e9)
    for _ in range(100_000):
        if sim.now_ns >= end:
            return
        event = sim.take(actor)
        if event is None:
            yield sim.rng.uniform(0.02, 0.1)
            continue
        key, _writer = event
        if key not in sim.objects:
            continue
        span = sim.begin(actor, key, "watch")
        body = sim.get(actor, key, span)
        generation = body["metadata"]["generation"]
        if body["status"].get("observedGeneration") != generation:
            sim.write(actor, key, _set_ready(generation, sim.stamp()), span, sub="status")
        sim.end(span)
        yield sim.rng.uniform(0.005, 0.03)


def user_edits(sim: Sim, actor: str, keys: list[Key], count: int, gap_s: float) -> Process:
    """Somebody outside the operator changing specs now and then."""
    for index in range(count):
        yield sim.rng.uniform(gap_s / 2, gap_s * 1.5)
        key = sim.rng.choice(keys)
        if key not in sim.objects:
            continue
        sim.write(actor, key, setter("spec", "size", index % 7 + 1))


def periodic_resync(sim: Sim, actor: str, keys: list[Key], rounds: int, period_s: float) -> Process:
    """A resync: every period, read every object; nothing to do, so no write."""
    for _ in range(rounds):
        yield sim.rng.uniform(period_s * 0.9, period_s * 1.1)
        for key in keys:
            if key in sim.objects:
                span = sim.begin(actor, key, "resync")
                sim.get(actor, key, span)
                sim.end(span)
                yield sim.rng.uniform(0.001, 0.01)


def kubelet(sim: Sim, pods: list[Key], updates: int, gap_s: float) -> Process:
    """Pod status changes made by the node agent."""
    phases = ("Pending", "ContainerCreating", "Running")
    for index in range(updates):
        yield sim.rng.uniform(gap_s / 2, gap_s * 1.5)
        live = [pod for pod in pods if pod in sim.objects]
        if not live:
            continue
        pod = sim.rng.choice(live)
        phase = phases[min(index % 4, 2)]
        sim.write("kubelet", pod, setter("status", "phase", phase), sub="status")


def slow_lister(sim: Sim, actor: str, count: int, slow_every: int) -> Process:
    """Lists pods; every ``slow_every``-th list is slow (a cold cache, a big namespace)."""
    for index in range(count):
        yield sim.rng.uniform(0.5, 2.0)
        slow = index % slow_every == slow_every - 1
        duration = (
            sim.rng.randrange(1_500_000, 4_000_000) if slow else sim.rng.randrange(2_000, 40_000)
        )
        sim.op(actor, "list", ("Pod", NS, ""), status_code=200, duration_us=duration,
               body={"kind": "PodList", "items": []})  # fmt: skip


# -- buggy processes --------------------------------------------------------------------
def status_loop(
    sim: Sim, actor: str, key: Key, rounds: int, noop: bool, period_s: float = 0.2
) -> Process:
    """Writes status on every reconcile, and every write wakes it up again."""
    for index in range(rounds):
        span = sim.begin(actor, key, "watch")
        body = sim.get(actor, key, span)
        count = int(body["status"].get("reconcileCount", 0))

        def change(b: Body, stamp: str = sim.stamp(), n: int = count) -> None:
            b["status"]["lastReconcileTime"] = stamp
            if not noop:
                b["status"]["reconcileCount"] = n + 1

        if noop and index % 2:
            sim.write(actor, key, change, span, verb="patch", sub="status")
        else:
            sim.write(actor, key, change, span, sub="status")
        sim.end(span)
        yield sim.rng.uniform(0.01, 3.0) if index % 5 == 0 else sim.rng.uniform(0.01, period_s)


def requeue_loop(sim: Sim, actor: str, key: Key, rounds: int) -> Process:
    """Returns Requeue: true with no backoff and nothing to do."""
    period = sim.rng.uniform(0.05, 0.3)
    for _ in range(rounds):
        span = sim.begin(actor, key, "requeue")
        sim.get(actor, key, span)
        sim.end(span)
        yield period * sim.rng.uniform(0.9, 1.1)


def fighter(sim: Sim, actor: str, key: Key, replicas: int, rounds: int) -> Process:
    """Forces spec.replicas to its own value whenever somebody else changes it."""
    for _ in range(rounds):
        yield sim.rng.uniform(0.2, 1.5)
        span = sim.begin(actor, key, "watch")
        body = sim.get(actor, key, span)
        if body["spec"].get("replicas") != replicas:
            sim.write(actor, key, setter("spec", "replicas", replicas), span)
        sim.end(span)


def stale_retrier(sim: Sim, actor: str, key: Key, rounds: int) -> Process:
    """Reads once, then keeps retrying the update with the same (stale) copy."""
    span = sim.begin(actor, key, "watch")
    body = sim.get(actor, key, span)
    sent = body["metadata"]["resourceVersion"]
    yield 0.5
    for _ in range(rounds):
        if sim.objects[key]["metadata"]["resourceVersion"] == sent:
            yield 0.2
            continue
        body["spec"]["size"] = 9
        sim.fail(actor, "update", key, 409, "Conflict", request=body, resource_version=sent,
                 span_id=span)  # fmt: skip
        yield sim.rng.uniform(0.15, 0.25)
    sim.end(span, "conflict")


def spec_bumper(sim: Sim, actor: str, key: Key, rounds: int) -> Process:
    for index in range(rounds):
        sim.write(actor, key, setter("metadata.annotations", "bump", str(index)))  # fmt: skip
        yield sim.rng.uniform(0.3, 0.8)


def error_storm(sim: Sim, actor: str, key: Key, rounds: int, code: int, reason: str) -> Process:
    period = sim.rng.uniform(0.05, 0.5)
    for _ in range(rounds):
        span = sim.begin(actor, key, "requeue")
        sim.fail(actor, "get", key, code, reason, span_id=span)
        sim.end(span, reason)
        yield period * sim.rng.uniform(0.8, 1.2)


def backoff_retries(sim: Sim, actor: str, key: Key, retries: int) -> Process:
    """Fails with 500 and retries with exponential backoff, then succeeds."""
    delay = sim.rng.uniform(0.005, 0.02)
    for _ in range(retries):
        span = sim.begin(actor, key, "retry")
        sim.get(actor, key, span)
        sim.fail(actor, "update", key, 500, "InternalError", span_id=span)
        sim.end(span, "InternalError")
        yield delay
        delay *= 2
    span = sim.begin(actor, key, "retry")
    sim.get(actor, key, span)
    sim.write(actor, key, setter("status", "synced", True), span, sub="status")
    sim.end(span)


def lost_update(sim: Sim, actor: str, other: str, key: Key, rounds: int) -> Process:
    """Reads, another actor pauses the object, then writes its old copy back."""
    for index in range(rounds):
        yield sim.rng.uniform(1.0, 4.0)
        span = sim.begin(actor, key, "watch")
        copy_read = sim.get(actor, key, span)
        yield sim.rng.uniform(0.05, 0.2)
        flag = index % 2 == 0
        sim.write(other, key, setter("spec", "paused", flag), verb="patch")
        yield sim.rng.uniform(0.05, 0.2)
        copy_read["metadata"]["resourceVersion"] = ""  # a forced update: no precondition
        copy_read["spec"]["size"] = 3 + index
        sim.write(actor, key, unchanged, span, base=copy_read)
        sim.end(span)


def stale_reader(sim: Sim, actor: str, other: str, key: Key, rounds: int) -> Process:
    """Acts on a lagging cache: reads an older version than one already written."""
    for index in range(rounds):
        yield sim.rng.uniform(1.0, 4.0)
        sim.write(other, key, setter("spec", "size", index + 1))
        span = sim.begin(actor, key, "watch")
        sim.get(actor, key, span, stale=True)
        label = setter("metadata.labels", "seen", str(index))
        sim.write(actor, key, label, span, verb="patch")
        sim.end(span)
