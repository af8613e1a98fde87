"""stackTrace, scopes, variables, source, evaluate, completions, exceptionInfo."""

from __future__ import annotations

import re
from typing import Any

from kreplay_dap.analysis.model import Finding
from kreplay_dap.dap.arguments import int_argument
from kreplay_dap.dap.dispatch import Deferred, handler
from kreplay_dap.dap.live_mode import divergence_info
from kreplay_dap.dap.present import operation_title, redact, short_value, span_title
from kreplay_dap.dap.session import LISTING_REFERENCE, DebugSession, Frame
from kreplay_dap.dap.variables import Container, json_children, json_variable
from kreplay_dap.replay.context import ROOT_NAMES, change_dicts, operation_fields
from kreplay_dap.replay.engine import Stop
from kreplay_dap.replay.expr import compile_expression, resolve_path
from recorder.errors import InvalidInputError

MAX_EVIDENCE_SHOWN = 50
_GOTO = re.compile(r"^\s*goto\s+#?(\d{1,12})\s*$")
_FIND = re.compile(r"^\s*find(back)?\s+(.+)$")


def _frame(
    session: DebugSession, frame_id: int, name: str, source: dict[str, Any], line: int
) -> dict[str, Any]:
    """A stack frame at a 1-based line, numbered as the client numbers lines and columns."""
    return {"id": frame_id, "name": name, "source": source, "line": session.client_line(line),
            "column": session.column_base}  # fmt: skip


@handler("stackTrace")
def stack_trace(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    engine = session.engine
    op = engine.current()
    listing = session.listing_source()
    frames = [_frame(session, 1, operation_title(op), listing, session.line_of(op.seq))]
    session.frames[1] = Frame("operation", op.seq)
    for call in op.call_site[:64]:
        frame_id = len(frames) + 1
        source = {"name": call.file.rsplit("/", 1)[-1], "path": session.local_path(call.file)}
        frames.append(_frame(session, frame_id, call.function, source, max(call.line, 1)))
        session.frames[frame_id] = Frame("callsite", op.seq)
    span = engine.span_of(op)
    if span is not None:
        start = span.start_seq or op.seq
        frames.append(
            _frame(session, len(frames) + 1, span_title(span), listing, session.line_of(start))
        )
        session.frames[len(frames)] = Frame("span", op.seq, span.start_seq)
    start_frame = int_argument(args, "startFrame", "stackTrace")
    levels = int_argument(args, "levels", "stackTrace")
    shown = frames[start_frame : start_frame + levels] if levels > 0 else frames[start_frame:]
    return {"stackFrames": shown, "totalFrames": len(frames)}


@handler("scopes")
def scopes(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    int_argument(args, "frameId", "scopes", 0, None)  # every frame shows the current step
    engine = session.engine
    op = engine.current()
    handles = session.handles
    fields = operation_fields(op)
    version = engine.history.version_at(op.object_ref, op.seq)
    body = redact(op.kind, version.body) if version is not None and not version.deleted else None
    changes = change_dicts(engine.history.changes(op)[1])
    request = redact(op.kind, engine.recording.body_json(op.request_ref))
    findings = (
        [_finding_fields(f) for f in engine.findings_at(op.seq)] if engine.findings_loaded else []
    )
    entries = [
        ("Operation", Container("json", fields), len(fields), False),
        (
            "Object",
            Container("json", body if body is not None else {}, op.object_ref),
            _size(body),
            False,
        ),
        ("Changes", Container("changes", changes), len(changes), False),
        (
            "Request",
            Container("json", request if request is not None else {}),
            _size(request),
            False,
        ),
        ("Cluster", Container("cluster", op.seq), 0, True),
        ("Findings", Container("json", findings), len(findings), False),
    ]
    result = [
        {"name": name, "variablesReference": handles.add(container), "namedVariables": count,
         "expensive": expensive}
        for name, container, count, expensive in entries
    ]  # fmt: skip
    result[1]["presentationHint"] = "locals"
    return {"scopes": result}


def _finding_fields(finding: Finding) -> dict[str, Any]:
    return {
        "type": finding.type,
        "objects": list(finding.objects),
        "first_seq": finding.first_seq,
        "last_seq": finding.last_seq,
        "count": finding.count,
        "description": finding.description,
        "evidence": finding.evidence[:MAX_EVIDENCE_SHOWN],
    }


def _size(value: Any) -> int:
    return len(value) if isinstance(value, dict | list) else 0


@handler("variables")
def variables(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    reference = int_argument(args, "variablesReference", "variables", None, None)
    start = int_argument(args, "start", "variables")
    count = int_argument(args, "count", "variables")
    container = session.handles.get(reference)
    if container is None:
        raise InvalidInputError(f"variables: reference {reference} is not valid at this stop")
    if container.kind == "changes":
        return {"variables": _change_variables(session, container.value)}
    if container.kind == "cluster-object" and container.ref is not None:
        version = session.engine.history.version_at(container.ref, session.engine.position)
        body = redact(container.ref.kind, version.body) if version is not None else None
        object_node = Container("json", body if body is not None else {}, container.ref)
        return {"variables": json_children(session.handles, object_node, start, count)}
    if container.kind.startswith("cluster"):
        return {"variables": _cluster_variables(session, container, start, count)}
    return {"variables": json_children(session.handles, container, start, count)}


def _change_variables(session: DebugSession, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for change in changes[:1000]:
        pair = {"old": change["old"], "new": change["new"]}
        variable = json_variable(session.handles, change["path"], pair, Container("json", {}))
        variable["value"] = f"{short_value(change['old'])} → {short_value(change['new'])}"
        result.append(variable)
    return result


def _cluster_variables(
    session: DebugSession, container: Container, start: int, count: int
) -> list[dict[str, Any]]:
    engine, handles = session.engine, session.handles
    if container.kind == "cluster":
        grouped = engine.cluster.at(container.value)
        return [
            {"name": kind, "value": f"{sum(len(r) for r in namespaces.values())} objects",
             "variablesReference": handles.add(Container("cluster-kind", namespaces)),
             "namedVariables": len(namespaces)}
            for kind, namespaces in sorted(grouped.items())
        ]  # fmt: skip
    if container.kind == "cluster-kind":
        return [
            {"name": namespace or "(cluster)", "value": f"{len(refs)} objects",
             "variablesReference": handles.add(Container("cluster-ns", refs)),
             "indexedVariables": len(refs)}
            for namespace, refs in sorted(container.value.items())
        ]  # fmt: skip
    refs = (
        container.value[start : start + count]
        if count > 0
        else container.value[start : start + 1000]
    )
    return [
        {"name": ref.name, "value": str(ref),
         "variablesReference": handles.add(Container("cluster-object", None, ref))}
        for ref in refs
    ]  # fmt: skip


@handler("source")
def source(session: DebugSession, args: dict[str, Any]) -> dict[str, Any] | Deferred:
    source = args.get("source")
    if source is not None and not isinstance(source, dict):
        raise InvalidInputError("source: invalid argument 'source': expected an object")
    reference = args.get("sourceReference") or (source or {}).get("sourceReference")
    if reference != LISTING_REFERENCE:
        raise InvalidInputError(f"source: unknown sourceReference {reference!r}")
    listing = session.listing()
    if listing.ready or not listing.can_build_aside:
        return {"content": listing.text(), "mimeType": "text/plain"}
    return Deferred(lambda: {"content": listing.text(), "mimeType": "text/plain"})


@handler("exceptionInfo")
def exception_info(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    stop = session.last_stop
    if stop is not None and stop.reason == "exception" and session.live_divergence is not None:
        return divergence_info(session.live_divergence)
    if stop is not None and stop.error:
        return {"exceptionId": "kreplay-error", "description": stop.error, "breakMode": "always",
                "details": {"message": stop.error, "typeName": "replay error"}}  # fmt: skip
    if stop is None or stop.exception is None:
        raise InvalidInputError("exceptionInfo: the adapter is not stopped at an exception")
    op = session.engine.current()
    code = op.error_code or op.status_code
    message = op.error_message or stop.description
    return {
        "exceptionId": stop.exception.extra.get("filter", "error"),
        "description": f"{stop.description}: {operation_title(op)} -> {code}",
        "breakMode": "always",
        "details": {"message": message, "typeName": op.error_reason or f"HTTP {code}",
                    "evaluateName": "error", "stackTrace": operation_title(op)},
    }  # fmt: skip


def _value_result(session: DebugSession, value: Any) -> dict[str, Any]:
    variable = json_variable(session.handles, "result", value, Container("json", {}))
    result = {
        "result": variable["value"],
        "type": variable["type"],
        "variablesReference": variable["variablesReference"],
    }
    for key in ("namedVariables", "indexedVariables"):
        if key in variable:
            result[key] = variable[key]
    return result


def _repl_command(session: DebugSession, text: str) -> dict[str, Any] | None:
    engine = session.engine
    goto = _GOTO.match(text)
    if goto:
        engine.seek(int(goto.group(1)))
    find = _FIND.match(text)
    if find:
        found = engine.find(find.group(2), forward=not find.group(1))
        if found is None:
            return {"result": f"no operation matches {find.group(2)!r}", "variablesReference": 0}
        engine.seek(found)
    if not (goto or find):
        return None
    session.later(lambda: session.report_stop(Stop(engine.position, "goto")))
    return {"result": f"at #{engine.position}", "variablesReference": 0}


@handler("evaluate")
def evaluate(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    text = args.get("expression")
    if not isinstance(text, str):
        raise InvalidInputError("evaluate: 'expression' must be a string")
    if args.get("context") == "repl":
        command = _repl_command(session, text)
        if command is not None:
            return command
    engine = session.engine
    value = compile_expression(text).evaluate(engine.context())
    if hasattr(value, "child"):
        value = f'<{type(value).__name__}: index with ["Kind"]["namespace/name"]>'
    return _value_result(session, value)


@handler("completions")
def completions(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    """Names to complete at the cursor; ``column``, ``line`` and the answer's ``start`` are
    numbered as the client said in ``initialize`` (columnsStartAt1, linesStartAt1) and
    measured in UTF-16 code units, as DAP says."""
    text = args.get("text")
    if not isinstance(text, str):
        raise InvalidInputError("completions: invalid argument 'text': expected a string")
    line, cursor = _cursor(session, text, args)
    before = line[:cursor]
    match = re.search(r"([A-Za-z_][\w\-]*(?:\.[\w\-]+)*)\.?([\w\-]*)$", before)
    if match is None:
        return {"targets": [{"label": name, "type": "variable"} for name in ROOT_NAMES]}
    path_text, partial = match.group(1), match.group(2)
    if not before.endswith(".") and not partial:
        path_text, _, partial = path_text.rpartition(".")
    names = _child_names(session, path_text) if path_text else list(ROOT_NAMES)
    start = _utf16_units(line[: cursor - len(partial)]) + session.column_base
    return {"targets": [{"label": n, "type": "property" if path_text else "variable",
                         "length": _utf16_units(partial), "start": start}
                        for n in names if n.startswith(partial)][:200]}  # fmt: skip


def _cursor(session: DebugSession, text: str, args: dict[str, Any]) -> tuple[str, int]:
    """The line of ``text`` the cursor is on, and the cursor's index in it."""
    lines = text.split("\n")
    row = 0
    if args.get("line") is not None:
        line = int_argument(args, "line", "completions", None, session.line_base)
        row = session.adapter_line(line) - 1
        if row >= len(lines):
            raise InvalidInputError(
                f"completions: invalid argument 'line': the text has {len(lines)} lines"
            )
    column = int_argument(args, "column", "completions", None, session.column_base)
    units = column - session.column_base
    count = 0
    for index, char in enumerate(lines[row]):
        if count >= units:
            return lines[row], index
        count += _utf16_units(char)
    return lines[row], len(lines[row])


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _child_names(session: DebugSession, path_text: str) -> list[str]:
    segments = tuple(path_text.split("."))
    try:
        value = resolve_path(session.engine.context(), segments)
    except InvalidInputError:
        return []
    if isinstance(value, dict):
        return [str(k) for k in value]
    if segments == ("cluster",):
        return sorted(session.engine.info.kinds)
    return []
