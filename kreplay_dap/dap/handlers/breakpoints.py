"""setBreakpoints, setFunctionBreakpoints, setExceptionBreakpoints, data breakpoints, loops."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from kreplay_dap.analysis.model import Finding
from kreplay_dap.dap.dispatch import describe_error, handler
from kreplay_dap.dap.session import LISTING_REFERENCE, DebugSession
from kreplay_dap.replay.breakpoints import (
    EXCEPTION_FILTERS,
    Breakpoint,
    DataWatch,
    configure,
    exception_filter,
    parse_function_pattern,
)
from kreplay_dap.replay.loops import load_findings, loop_label
from kreplay_dap.replay.queries import Queries
from recorder.errors import InvalidInputError
from recorder.storage import open_recording
from recorder.storage.model import ObjectRef

log = logging.getLogger(__name__)

MAX_BREAKPOINTS = 1000
MAX_FILTERS = 64
RACE_TYPES = frozenset({"stale-read", "lost-update", "race"})


def _checked(bp: Breakpoint, spec: dict[str, Any], build: Callable[[], None]) -> Breakpoint:
    """``bp`` built by ``build`` plus the options every kind shares; a bad part makes just
    this breakpoint unverified, with the reason as its message."""
    try:
        build()
        configure(bp, spec.get("condition"), spec.get("hitCondition"), spec.get("logMessage"))
    except InvalidInputError as error:
        bp.message = str(error)
    return bp


def _verified(breakpoints: list[Breakpoint]) -> list[Breakpoint]:
    return [bp for bp in breakpoints if not bp.message]


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


def _function_pattern(bp: Breakpoint, spec: dict[str, Any]) -> None:
    name = spec.get("name")
    if not isinstance(name, str):
        raise InvalidInputError("every function breakpoint needs a 'name' (a string)")
    bp.op_filter = parse_function_pattern(name)


@handler("setBreakpoints")
def set_breakpoints(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    engine, source = session.engine, args.get("source")
    if not isinstance(source, dict):
        raise InvalidInputError("setBreakpoints: 'source' is required")
    listing = source.get("sourceReference") == LISTING_REFERENCE
    path = source.get("path")
    if not listing and not isinstance(path, str):
        raise InvalidInputError(
            "setBreakpoints: 'source' needs a 'path' or the listing's sourceReference"
        )
    created, answers = [], []
    for spec in _specs(args, "breakpoints"):
        line = spec.get("line")
        bp = Breakpoint(
            engine.new_breakpoint_id(), "source" if listing else "callsite", f"line {line}"
        )
        _checked(bp, spec, partial(_line_seqs, session, bp, line, None if listing else path))
        created.append(bp)
        answers.append(_dap_breakpoint(session, bp, line if isinstance(line, int) else None))
    engine.set_breakpoints("listing" if listing else f"file:{path}", _verified(created))
    return {"breakpoints": answers}


def _line_seqs(session: DebugSession, bp: Breakpoint, line: Any, path: str | None) -> None:
    """The steps of a line: the listing's line N is one step, an operator file's line the
    steps whose call was made from it."""
    base = session.line_base
    if not isinstance(line, int) or isinstance(line, bool) or line < base:
        raise InvalidInputError(f"every breakpoint needs an integer 'line' >= {base}")
    adapter_line = session.adapter_line(line)
    if path is None:
        try:
            bp.seqs = [session.engine.check_step(session.seq_of_line(adapter_line))]
        except InvalidInputError as error:
            raise InvalidInputError(f"line {line} of the listing: {error}") from None
        return
    bp.seqs = session.engine.queries.callsite_seqs(session.remote_path(path), adapter_line)
    if not bp.seqs:
        raise InvalidInputError("no recorded API call was made from this line")


@handler("setFunctionBreakpoints")
def set_function_breakpoints(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    engine, created = session.engine, []
    for spec in _specs(args, "breakpoints"):
        name = spec.get("name")
        bp = Breakpoint(engine.new_breakpoint_id(), "function", str(name))
        created.append(_checked(bp, spec, partial(_function_pattern, bp, spec)))
    engine.set_breakpoints("function", _verified(created))
    return {"breakpoints": [_dap_breakpoint(session, bp) for bp in created]}


@handler("setExceptionBreakpoints")
def set_exception_breakpoints(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    """One answer per filter, in order (DAP clients match them by index)."""
    engine = session.engine
    filters = args.get("filters", [])
    if not isinstance(filters, list) or not all(isinstance(f, str) for f in filters):
        raise InvalidInputError("setExceptionBreakpoints: 'filters' must be an array of strings")
    if len(filters) > MAX_FILTERS:
        raise InvalidInputError(f"setExceptionBreakpoints: more than {MAX_FILTERS} filters")
    created, answers, accepted = [], [], []
    for filter_id in filters:
        bp = Breakpoint(engine.new_breakpoint_id(), "exception", filter_id)
        bp.extra["filter"] = filter_id
        try:
            _exception_filter(session, bp, filter_id)
            accepted.append(filter_id)
        except InvalidInputError as error:
            bp.message = str(error)
        if bp.op_filter is not None:
            created.append(bp)
        answers.append(_dap_breakpoint(session, bp))
    engine.set_breakpoints("exception", created)
    session.exception_filters = accepted
    _activate_findings(session)
    return {"breakpoints": answers}


def _exception_filter(session: DebugSession, bp: Breakpoint, filter_id: str) -> None:
    """An operation filter for ``bp``; none for the filters whose breakpoints are the
    analysis' findings (loops, races), which need the analysis to be on."""
    options = session.engine.options
    bp.op_filter = exception_filter(filter_id, options.slow_threshold_ms)
    bp.description = EXCEPTION_FILTERS[filter_id][0]
    if bp.op_filter is None and not options.loops.enabled:
        raise InvalidInputError(
            f"{bp.description}: the analysis is off (launch argument loopDetection.enabled)"
        )


def _activate_findings(session: DebugSession) -> None:
    engine = session.engine
    loops = [bp for bp in session.loop_breakpoints if bp.extra.get("type") == "loop"]
    races = [bp for bp in session.loop_breakpoints if bp.extra.get("type") in RACE_TYPES]
    engine.set_breakpoints("loops", loops if "loops" in session.exception_filters else [])
    engine.set_breakpoints("races", races if "races" in session.exception_filters else [])


def start_analysis(session: DebugSession) -> None:
    """Run the detectors on a thread of their own (own read-only connection); the main
    loop announces the results when they arrive (a run may be waiting for them)."""
    engine, post = session.engine, session.post
    if post is None or session.terminated:
        announce_findings(session, engine.findings(), 0.0)
        return

    def work() -> None:
        started = time.monotonic()
        try:
            findings = _analyse(session, post)
            failure = ""
        except Exception as error:  # reported on the main loop; the runs must not wait
            log.exception("analysis failed")
            findings, failure = [], describe_error(error)
        elapsed = time.monotonic() - started
        post(lambda: announce_findings(session, findings, elapsed, failure))

    session.analysis_running = True
    threading.Thread(target=work, name="kreplay-analysis", daemon=True).start()


def _analyse(session: DebugSession, post: Callable[[Callable[[], None]], None]) -> list[Finding]:
    engine = session.engine
    recording = open_recording(engine.recording.path)
    try:
        threads = Queries(recording, engine.session_id).thread_keys()
        post(lambda: session.add_threads(threads))
        return load_findings(
            recording, engine.session_id, engine.options.loops,
            engine.options.slow_threshold_ms, cancel=lambda: session.terminated,
        )  # fmt: skip
    finally:
        recording.close()


def announce_findings(
    session: DebugSession, findings: list[Finding], elapsed_s: float, failure: str = ""
) -> None:
    """Report each loop/race as a breakpoint (event ``breakpoint``, reason ``new``), then
    let a run that waits for them go (whether or not announcing them worked)."""
    if not (session.terminated or session.loop_breakpoints):
        session.run_action(
            lambda: _announce(session, findings, elapsed_s, failure), "the analysis' findings"
        )
    session.analysis_finished()


def _announce(
    session: DebugSession, findings: list[Finding], elapsed_s: float, failure: str
) -> None:
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
        line = session.client_line(session.line_of(seqs[0]))
        body = {"id": bp.id, "verified": True, "message": label,
                "source": session.listing_source(), "line": line}  # fmt: skip
        session.output.event("breakpoint", {"reason": "new", "breakpoint": body})
    _activate_findings(session)
    if failure:
        text = f"kreplay: the analysis failed: {failure}\n"
        session.output.event("output", {"category": "stderr", "output": text})
        return
    text = f"kreplay: analysis found {len(findings)} findings in {elapsed_s:.1f} s\n"
    session.output.event("output", {"category": "console", "output": text})


@handler("dataBreakpointInfo")
def data_breakpoint_info(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    reference, name = args.get("variablesReference"), args.get("name")
    container = session.handles.get(reference) if isinstance(reference, int) else None
    if container is None or container.ref is None or not isinstance(name, str):
        return {"dataId": None, "description": "only fields of the Object scope can be watched"}
    if isinstance(container.value, list) and not name.isdigit():
        raise InvalidInputError(
            f"dataBreakpointInfo: invalid argument 'name': {name[:40]!r} is no index"
        )
    key: str | int = int(name) if isinstance(container.value, list) else name
    path = [*container.path, key]
    ref = container.ref
    data_id = json.dumps({"ref": [ref.kind, ref.namespace, ref.name], "path": path})
    dotted = ".".join(str(p) for p in path)
    return {"dataId": data_id, "description": f"{ref}: .{dotted} changes", "accessTypes": ["write"],
            "canPersist": True}  # fmt: skip


def _data_watch(bp: Breakpoint, spec: dict[str, Any]) -> None:
    bp.watch = _watch_of(spec.get("dataId"))
    path = ".".join(str(p) for p in bp.watch.path)
    bp.description = f"{bp.watch.ref} .{path} changed"


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
        bp = Breakpoint(engine.new_breakpoint_id(), "data", "data breakpoint")
        created.append(_checked(bp, spec, partial(_data_watch, bp, spec)))
    engine.set_breakpoints("data", _verified(created))
    return {"breakpoints": [_dap_breakpoint(session, bp) for bp in created]}
