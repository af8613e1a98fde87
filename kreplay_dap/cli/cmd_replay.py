"""``kreplay replay SESSION``: print the steps, or step interactively (``-i``).

Interactive keys as in the original tool: ``n`` next, ``b`` back, ``r`` reset,
``s`` statistics, ``q`` quit; plus ``g N`` (go to step N), ``/pattern`` (search forward,
wrapping round to the start, e.g. ``/delete Pod/*`` or ``/verb=patch kind=Deployment``) and
``d`` (diff of this step). With more operations than ``--max-ops`` / ``$REPLAY_MAX_OPS``,
the replay stops at the limit and says so.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import click

from kreplay_dap.cli.options import database_option, max_ops_option, print_limits, resolve_max_ops
from kreplay_dap.replay.engine import ReplayEngine
from recorder.errors import InvalidInputError
from recorder.storage import Operation, open_recording

MAX_INTERACTIVE_COMMANDS = 1_000_000
HELP = "n next, b back, r reset, s stats, g N goto, /pattern search, d diff, q quit"


def step_line(op: Operation) -> str:
    code = op.error_code or op.status_code
    where = f"{op.namespace}/{op.name}" if op.namespace else op.name
    verb = f"watch {op.event_type}" if op.event_type else op.verb
    error = f" {op.error_reason}" if op.error_reason else ""
    who = f"{op.actor}/{op.thread}" if op.thread else op.actor
    millis = op.duration_us / 1000
    return f"#{op.seq} {verb} {op.kind} {where} -> {code or '-'}{error} {millis:.1f}ms [{who}]"


@dataclass
class _Replay:
    """The engine, and the last step it may show: the operation limit's, when the session
    has more operations than ``--max-ops`` / ``$REPLAY_MAX_OPS`` (None: no such bound)."""

    engine: ReplayEngine
    bound: int | None
    max_ops: int

    def within(self, answer: str) -> str:
        """A movement past the operation limit comes back to its last step, and says so."""
        engine = self.engine
        if self.bound is None or engine.position <= self.bound:
            return answer
        here = step_line(engine.seek(self.bound))
        return f"end of the {self.max_ops}-operation limit (#{self.bound}): {here}"


def _print_all(replay: _Replay, limit: int | None) -> None:
    engine = replay.engine
    click.echo(step_line(engine.current()))
    for _ in range(min(engine.info.op_count, limit or engine.info.op_count) - 1):
        if engine.step(forward=True).description == "end of recording":
            return
        if replay.bound is not None and engine.position > replay.bound:
            return  # the limit was reported when the replay started
        click.echo(step_line(engine.current()))


def _stats(engine: ReplayEngine) -> str:
    info = engine.info
    lines = [f"session {info.session_id}: {info.op_count} operations, at #{engine.position}"]
    for title, counts in (("verbs", info.verbs), ("kinds", info.kinds), ("actors", info.actors)):
        ranked = sorted(counts.items(), key=lambda item: -item[1])
        lines.append(f"  {title}: " + ", ".join(f"{name} {count}" for name, count in ranked))
    return "\n".join(lines)


def _diff(engine: ReplayEngine) -> str:
    _, changes = engine.history.changes(engine.current())
    if not changes:
        return "  (no field changes at this step)"

    def show(value: Any) -> str:
        return "<absent>" if repr(value) == "<absent>" else json.dumps(value)[:120]

    return "\n".join(f"  {c.path_text}: {show(c.old)} -> {show(c.new)}" for c in changes[:200])


def _goto(replay: _Replay, text: str) -> str:
    seq = int(text)
    if replay.bound is not None and seq > replay.bound:
        raise InvalidInputError(
            f"step {seq} is beyond the {replay.max_ops}-operation limit"
            f" (#{replay.engine.first_seq}..#{replay.bound})"
        )
    return step_line(replay.engine.seek(seq))


def _search(replay: _Replay, pattern: str) -> str:
    """The next match after this step; with none up to the end (or the limit), the first
    from the start (the search wraps round, and says so)."""
    engine, bound = replay.engine, replay.bound
    found = engine.find(pattern)
    if found is not None and (bound is None or found <= bound):
        return step_line(engine.seek(found))
    first = engine.find(pattern, after=engine.first_seq - 1)
    if first is None or first > engine.position or (bound is not None and first > bound):
        where = "" if bound is None else f" up to the {replay.max_ops}-operation limit"
        return f"no match{where} (searched the whole session, wrapping round)"
    if first == engine.position:
        return f"search wrapped round: this step is the only match: {step_line(engine.current())}"
    return f"search wrapped round to the start: {step_line(engine.seek(first))}"


def _command(replay: _Replay, text: str) -> str | None:
    """Run one interactive command; None means quit."""
    engine = replay.engine
    if text == "q":
        return None
    if text in ("n", ""):
        stop = engine.step(forward=True)
        return replay.within(stop.description or step_line(engine.current()))
    if text == "b":
        stop = engine.step(forward=False)
        return stop.description or step_line(engine.current())
    if text == "r":
        return step_line(engine.seek(engine.first_seq))
    if text == "s":
        return _stats(engine)
    if text == "d":
        return _diff(engine)
    if text.startswith("g ") and text[2:].strip().isdigit():
        return _goto(replay, text[2:].strip())
    if text.startswith("/") and len(text) > 1:
        return _search(replay, text[1:])
    return f"unknown command {text!r}: {HELP}"


def _interactive(replay: _Replay) -> None:
    click.echo(HELP)
    click.echo(step_line(replay.engine.current()))
    stream = sys.stdin
    for _ in range(MAX_INTERACTIVE_COMMANDS):
        click.echo("> ", nl=False)
        line = stream.readline(4096)
        if not line:
            return
        try:
            answer = _command(replay, line.strip())
        except InvalidInputError as error:
            answer = f"error: {error}"
        if answer is None:
            return
        click.echo(answer)


@click.command("replay")
@click.argument("session")
@database_option
@click.option("-i", "--interactive", is_flag=True, help="Step with n/b/r/s/q, g N, /pattern, d.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Print at most N steps.")
@max_ops_option
def command(
    session: str, database: str, interactive: bool, limit: int | None, max_ops: int | None
) -> None:
    """Replay SESSION step by step (one API operation per step)."""
    recording = open_recording(database, max_ops=resolve_max_ops(max_ops))
    try:
        engine = ReplayEngine(recording, session)
        replay = _Replay(engine, recording.limit_seq(session), recording.max_ops)
        print_limits(recording)  # before the steps: the replay stops at the limit
        if interactive:
            _interactive(replay)
        else:
            _print_all(replay, limit)
    finally:
        recording.close()
