"""setBreakpoints, setFunctionBreakpoints, setExceptionBreakpoints, data breakpoints, loops."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from kreplay_dap.analysis.model import Finding
from kreplay_dap.dap.dispatch import handler
from kreplay_dap.dap.session import LISTING_REFERENCE, DebugSession
from kreplay_dap.replay.breakpoints import (
    EXCEPTION_FILTERS,
    Breakpoint,
    DataWatch,
    exception_filter,
    parse_function_pattern,
    parse_hit_condition,
)
from kreplay_dap.replay.expr import compile_expression
from kreplay_dap.replay.loops import load_findings, loop_label
from kreplay_dap.replay.queries import Queries
from recorder.errors import InvalidInputError, KreplayError
from recorder.storage import open_recording
from recorder.storage.model import ObjectRef

log = logging.getLogger(__name__)

MAX_BREAKPOINTS = 1000
RACE_TYPES = frozenset({"stale-read", "lost-update", "race"})


def _common(session: DebugSession, spec: dict[str, Any], bp: Breakpoint) -> Breakpoint:
    """Condition, hit condition and log message shared by every breakpoint kind."""
    if spec.get("condition"):
        bp.condition = compile_expression(str(spec["condition"]))
    if spec.get("hitCondition"):
        bp.hit_condition = parse_hit_condition(str(spec["hitCondition"]))
    if spec.get("logMessage"):
        bp.log_message = str(spec["logMessage"])
    return bp


def _specs(args: dict[str, Any], key: str) -> list[dict[str, Any]]:
    specs = args.get(key, [])
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise InvalidInputError(f"'{key}' must be an array of objects")
    if len(specs) > MAX_BREAKPOINTS:
        raise InvalidInputError(f"more than {MAX_BREAKPOINTS} breakpoints in one request")
    return specs


def _dap_breakpoint(
    session: DebugSession, bp: Breakpoint, line: int | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {"id": bp.id, "verified": not bp.message}
    if bp.message:
        result["message"] = bp.message
    if line is not None:
        result["line"] = line
    return result


@handler("setBreakpoints")
def set_breakpoints(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    engine, source = session.engine, args.get("source")
    if not isinstance(source, dict):
        raise InvalidInputError("setBreakpoints: 'source' is required")
    listing = source.get("sourceReference") == LISTING_REFERENCE
    group = "listing" if listing else f"file:{source.get('path')}"
    created, answers = [], []
    for spec in _specs(args, "breakpoints"):
        line = spec.get("line")
        if not isinstance(line, int) or isinstance(line, bool) or line < 1:
            raise InvalidInputError("setBreakpoints: every breakpoint needs an integer 'line' >= 1")
        bp = Breakpoint(
            engine.new_breakpoint_id(), "source" if listing else "callsite", f"line {line}"
        )
        bp.seqs = [session.seq_of_line(line)] if listing else _callsite_seqs(session, source, line)
        if not bp.seqs:
            bp.message = "no recorded API call was made from this line"
        created.append(_common(session, spec, bp))
        answers.append(_dap_breakpoint(session, bp, line))
    engine.set_breakpoints(group, [bp for bp in created if bp.seqs])
    return {"breakpoints": answers}


def _callsite_seqs(session: DebugSession, source: dict[str, Any], line: int) -> list[int]:
    path = source.get("path")
    if not isinstance(path, str):
        raise InvalidInputError(
            "setBreakpoints: 'source' needs a 'path' or the listing's sourceReference"
        )
    return session.engine.queries.callsite_seqs(session.remote_path(path), line)


@handler("setFunctionBreakpoints")
def set_function_breakpoints(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    engine, created = session.engine, []
    for spec in _specs(args, "breakpoints"):
        name = spec.get("name")
        if not isinstance(name, str):
            raise InvalidInputError("setFunctionBreakpoints: every breakpoint needs a 'name'")
        bp = Breakpoint(
            engine.new_breakpoint_id(), "function", name, op_filter=parse_function_pattern(name)
        )
        created.append(_common(session, spec, bp))
    engine.set_breakpoints("function", created)
    return {"breakpoints": [_dap_breakpoint(session, bp) for bp in created]}


@handler("setExceptionBreakpoints")
def set_exception_breakpoints(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    engine = session.engine
    filters = args.get("filters", [])
    if not isinstance(filters, list) or not all(isinstance(f, str) for f in filters):
        raise InvalidInputError("setExceptionBreakpoints: 'filters' must be an array of strings")
    created = []
    for filter_id in filters[:32]:
        op_filter = exception_filter(filter_id, engine.options.slow_threshold_ms)
        if op_filter is None:
            continue
        bp = Breakpoint(
            engine.new_breakpoint_id(),
            "exception",
            EXCEPTION_FILTERS[filter_id][0],
            op_filter=op_filter,
        )
        bp.extra["filter"] = filter_id
        created.append(bp)
    engine.set_breakpoints("exception", created)
    session.exception_filters = list(filters)
    _activate_findings(session)
    return {"breakpoints": [_dap_breakpoint(session, bp) for bp in created]}


def _activate_findings(session: DebugSession) -> None:
    engine = session.engine
    loops = [bp for bp in session.loop_breakpoints if bp.extra.get("type") == "loop"]
    races = [bp for bp in session.loop_breakpoints if bp.extra.get("type") in RACE_TYPES]
    engine.set_breakpoints("loops", loops if "loops" in session.exception_filters else [])
    engine.set_breakpoints("races", races if "races" in session.exception_filters else [])


def start_analysis(session: DebugSession) -> None:
    """Run the detectors on a thread of their own (own read-only connection); the main
    loop announces the results when they arrive."""
    engine, post = session.engine, session.post
    if post is None or session.terminated:
        announce_findings(session, engine.findings(), 0.0)
        return

    def work() -> None:
        started = time.monotonic()
        try:
            recording = open_recording(engine.recording.path)
            try:
                threads = Queries(recording, engine.session_id).thread_keys()
                post(lambda: session.add_threads(threads))
                findings = load_findings(
                    recording, engine.session_id, engine.options.loops,
                    engine.options.slow_threshold_ms, cancel=lambda: session.terminated,
                )  # fmt: skip
            finally:
                recording.close()
        except KreplayError as error:
            log.error("analysis failed: %s", error)
            findings = []
        elapsed = time.monotonic() - started
        post(lambda: announce_findings(session, findings, elapsed))

    threading.Thread(target=work, name="kreplay-analysis", daemon=True).start()


def announce_findings(session: DebugSession, findings: list[Finding], elapsed_s: float) -> None:
    """Report each loop/race as a breakpoint (event ``breakpoint``, reason ``new``)."""
    if session.terminated or session.loop_breakpoints:
        return
    engine = session.engine
    engine.set_findings(findings)
    for finding in findings:
        if finding.type != "loop" and finding.type not in RACE_TYPES:
            continue
        seqs = sorted(set(finding.evidence)) or [finding.first_seq]
        label = finding.description
        if finding.type == "loop":
            label = loop_label(engine.recording, engine.session_id, finding)
        bp = Breakpoint(engine.new_breakpoint_id(), "loop", label, seqs=seqs)
        bp.extra["type"] = finding.type
        session.loop_breakpoints.append(bp)
        body = {"id": bp.id, "verified": True, "message": label,
                "source": session.listing_source(), "line": session.line_of(seqs[0])}  # fmt: skip
        session.output.event("breakpoint", {"reason": "new", "breakpoint": body})
    _activate_findings(session)
    text = f"kreplay: analysis found {len(findings)} findings in {elapsed_s:.1f} s\n"
    session.output.event("output", {"category": "console", "output": text})


@handler("dataBreakpointInfo")
def data_breakpoint_info(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    reference, name = args.get("variablesReference"), args.get("name")
    container = session.handles.get(reference) if isinstance(reference, int) else None
    if container is None or container.ref is None or not isinstance(name, str):
        return {"dataId": None, "description": "only fields of the Object scope can be watched"}
    key: str | int = int(name) if isinstance(container.value, list) else name
    path = [*container.path, key]
    ref = container.ref
    data_id = json.dumps({"ref": [ref.kind, ref.namespace, ref.name], "path": path})
    dotted = ".".join(str(p) for p in path)
    return {"dataId": data_id, "description": f"{ref}: .{dotted} changes", "accessTypes": ["write"],
            "canPersist": True}  # fmt: skip


def _watch_of(data_id: Any) -> DataWatch:
    try:
        parsed = json.loads(data_id)
        kind, namespace, name = (str(part) for part in parsed["ref"])
        path = tuple(p if isinstance(p, int) else str(p) for p in parsed["path"][:64])
    except (TypeError, ValueError, KeyError) as error:
        raise InvalidInputError(f"setDataBreakpoints: bad dataId {str(data_id)[:80]!r}") from error
    return DataWatch(ObjectRef(kind, namespace, name), path)


@handler("setDataBreakpoints")
def set_data_breakpoints(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    engine, created = session.engine, []
    for spec in _specs(args, "breakpoints"):
        watch = _watch_of(spec.get("dataId"))
        path = ".".join(str(p) for p in watch.path)
        bp = Breakpoint(
            engine.new_breakpoint_id(), "data", f"{watch.ref} .{path} changed", watch=watch
        )
        created.append(_common(session, spec, bp))
    engine.set_breakpoints("data", created)
    return {"breakpoints": [_dap_breakpoint(session, bp) for bp in created]}
