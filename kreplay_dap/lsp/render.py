"""What the editor shows: lens titles, hover text and diagnostics, from index data.

Pure functions: no I/O, no server state; the server module feeds them and sends the result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lsprotocol import types

from kreplay_dap.lsp.findings import PlacedFinding
from kreplay_dap.lsp.index import CallRecord, LineStats
from kreplay_dap.replay.diff import MISSING, Change

REPLAY_COMMAND = "kreplay.replayFromHere"
DIAGNOSTIC_SOURCE = "kreplay"
MAX_LENS_CALL_KINDS = 3
MAX_DIFF_LINES = 20
MAX_VALUE_CHARS = 80
MAX_RELATED = 20
LINE_END = 10_000  # end character of a whole-line range; clients clamp it to the line


@dataclass(frozen=True, slots=True)
class Origin:
    """Which recording and session an item comes from (the replay command's arguments)."""

    database: str
    session: str

    def command(self, seq: int, title: str) -> types.Command:
        return types.Command(
            title=title, command=REPLAY_COMMAND, arguments=[self.database, self.session, seq]
        )


def line_range(line: int) -> types.Range:
    """The whole of 1-based source ``line`` as an LSP range."""
    row = max(line - 1, 0)
    return types.Range(
        start=types.Position(line=row, character=0),
        end=types.Position(line=row, character=LINE_END),
    )


def call_summary(stats: LineStats) -> str:
    """``patch Widget x200, get x40``: the commonest calls, kind omitted when repeated."""
    parts: list[str] = []
    previous_kind = None
    ranked = sorted(stats.by_call.items(), key=lambda item: (-item[1], item[0]))
    for (verb, kind), count in ranked[:MAX_LENS_CALL_KINDS]:
        shown = verb if kind in (previous_kind, "") else f"{verb} {kind}"
        parts.append(f"{shown} \u00d7{count}")
        previous_kind = kind
    if len(ranked) > MAX_LENS_CALL_KINDS:
        parts.append("\u2026")
    return ", ".join(parts)


def lens_title(stats: LineStats, findings: Sequence[PlacedFinding]) -> str:
    noun = "call" if stats.calls == 1 else "calls"
    pieces = [f"{stats.calls} {noun} ({call_summary(stats)})"]
    if stats.errors:
        pieces.append(f"{stats.errors} error" + ("" if stats.errors == 1 else "s"))
    pieces.extend(f"in {item.short}" for item in findings)
    return " \u00b7 ".join(pieces) + " \u2014 Replay from here"


def code_lens(
    origin: Origin, stats: LineStats, findings: Sequence[PlacedFinding]
) -> types.CodeLens:
    title = lens_title(stats, findings)
    return types.CodeLens(
        range=line_range(stats.line), command=origin.command(stats.first_seq, title)
    )


def _call_row(call: CallRecord) -> str:
    status = str(call.status) if call.status else "-"
    if call.error:
        status += " \u2717"
    duration = f"{call.duration_us / 1000:.1f} ms" if call.duration_us else "-"
    return f"| {call.seq} | {call.verb} | {call.target or '-'} | {status} | {duration} |"


def _value(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "\u2026"


def diff_lines(changes: Sequence[Change]) -> list[str]:
    lines: list[str] = []
    for change in changes[:MAX_DIFF_LINES]:
        if change.old is not MISSING:
            lines.append(f"- {change.path_text}: {_value(change.old)}")
        if change.new is not MISSING:
            lines.append(f"+ {change.path_text}: {_value(change.new)}")
    if len(changes) > MAX_DIFF_LINES:
        lines.append(f"  \u2026 {len(changes) - MAX_DIFF_LINES} more changes")
    return lines


@dataclass(slots=True)
class LastWrite:
    call: CallRecord | None
    seq: int
    changes: list[Change]


def hover_markdown(
    origin: Origin,
    stats: LineStats,
    findings: Sequence[PlacedFinding],
    last_write: LastWrite | None,
) -> str:
    errors = f", {stats.errors} errors" if stats.errors else ""
    out = [
        f"**kreplay** \u00b7 session `{origin.session}` \u00b7 `{origin.database}`",
        "",
        f"{stats.calls} calls from this line ({call_summary(stats)}){errors};"
        f" first at seq {stats.first_seq}, last at seq {stats.last_seq}.",
        "",
        "| seq | verb | object | status | duration |",
        "| ---: | --- | --- | --- | ---: |",
    ]
    out.extend(_call_row(call) for call in reversed(stats.recent))
    if last_write is not None:
        out += ["", f"**Most recent write** (seq {last_write.seq}):", "```diff"]
        out += diff_lines(last_write.changes) or ["(no field changed)"]
        out.append("```")
    if findings:
        out += ["", "**Findings:**"]
        out += [f"- {item.short}: {item.message}" for item in findings]
    return "\n".join(out)


def diagnostics(
    origin: Origin,
    recorded_paths: Sequence[str],
    findings: Sequence[PlacedFinding],
    to_uri: Callable[[str], str],
) -> list[types.Diagnostic]:
    """One warning per (finding, line of this document among the finding's evidence)."""
    wanted = set(recorded_paths)
    result: list[types.Diagnostic] = []
    for item in findings:
        for (file, line), seq in sorted(item.first_seq_by_line.items()):
            if file not in wanted:
                continue
            related = [
                types.DiagnosticRelatedInformation(
                    location=types.Location(uri=to_uri(other_file), range=line_range(other_line)),
                    message=f"same {item.label} ({item.short}), first at seq {other_seq}",
                )
                for (other_file, other_line), other_seq in sorted(item.first_seq_by_line.items())
                if (other_file, other_line) != (file, line)
            ][:MAX_RELATED]
            result.append(
                types.Diagnostic(
                    range=line_range(line),
                    message=item.message,
                    severity=types.DiagnosticSeverity.Warning,
                    code=item.finding.type,
                    source=DIAGNOSTIC_SOURCE,
                    related_information=related or None,
                    data={"database": origin.database, "session": origin.session, "seq": seq},
                )
            )
    return result


def replay_action(diagnostic: types.Diagnostic) -> types.CodeAction | None:
    """ "Replay the first occurrence" for one of our diagnostics (its data names the op)."""
    data = diagnostic.data
    if diagnostic.source != DIAGNOSTIC_SOURCE or not isinstance(data, dict):
        return None
    database, session, seq = data.get("database"), data.get("session"), data.get("seq")
    if not isinstance(database, str) or not isinstance(session, str) or not isinstance(seq, int):
        return None
    title = "Replay the first occurrence"
    return types.CodeAction(
        title=title,
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[diagnostic],
        command=Origin(database, session).command(seq, title),
    )
