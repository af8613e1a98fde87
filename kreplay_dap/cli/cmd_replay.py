"""``kreplay replay SESSION``: print the steps, or step interactively (``-i``).

Interactive keys as in the original tool: ``n`` next, ``b`` back, ``r`` reset,
``s`` statistics, ``q`` quit; plus ``g N`` (go to step N), ``/pattern`` (search forward,
e.g. ``/delete Pod/*`` or ``/verb=patch kind=Deployment``) and ``d`` (diff of this step).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from kreplay_dap.cli.options import database_option
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


def _print_all(engine: ReplayEngine, limit: int | None) -> None:
    click.echo(step_line(engine.current()))
    for _ in range(min(engine.info.op_count, limit or engine.info.op_count) - 1):
        if engine.step(forward=True).description == "end of recording":
            return
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


def _command(engine: ReplayEngine, text: str) -> str | None:
    """Run one interactive command; None means quit."""
    if text == "q":
        return None
    if text in ("n", ""):
        stop = engine.step(forward=True)
        return stop.description or step_line(engine.current())
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
        return step_line(engine.seek(int(text[2:].strip())))
    if text.startswith("/") and len(text) > 1:
        found = engine.find(text[1:])
        return step_line(engine.seek(found)) if found is not None else "no match"
    return f"unknown command {text!r}: {HELP}"


def _interactive(engine: ReplayEngine) -> None:
    click.echo(HELP)
    click.echo(step_line(engine.current()))
    stream = sys.stdin
    for _ in range(MAX_INTERACTIVE_COMMANDS):
        click.echo("> ", nl=False)
        line = stream.readline(4096)
        if not line:
            return
        try:
            answer = _command(engine, line.strip())
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
def command(session: str, database: str, interactive: bool, limit: int | None) -> None:
    """Replay SESSION step by step (one API operation per step)."""
    recording = open_recording(database)
    try:
        engine = ReplayEngine(recording, session)
        if interactive:
            _interactive(engine)
        else:
            _print_all(engine, limit)
    finally:
        recording.close()
