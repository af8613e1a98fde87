"""Breakpoint definitions: function patterns, hit conditions, data watches.

Matching itself is index driven: a breakpoint yields candidate sequence numbers (from an
explicit sorted list, an ``OpFilter`` answered by ``Queries``, or an object's history for
a data watch); the engine merges the candidates and checks conditions only on those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kreplay_dap.replay.context import check_names
from kreplay_dap.replay.diff import PathKey
from kreplay_dap.replay.expr import Expression, compile_expression
from kreplay_dap.replay.hits import HitCounter
from kreplay_dap.replay.queries import OpFilter
from recorder.errors import InvalidInputError
from recorder.storage.model import VERBS, ObjectRef

MAX_PATTERN_CHARS = 512
MAX_LOG_EXPRESSIONS = 64
_HIT_CONDITION = re.compile(r"^\s*(==|>=|>|%)?\s*(\d{1,9})\s*$")
_FIND_KEYS = {
    "verb": "verbs",
    "kind": "kind",
    "namespace": "namespace",
    "ns": "namespace",
    "name": "name",
    "actor": "actor",
    "thread": "thread",
    "code": "error_codes",
    "status": "error_codes",
}


@dataclass(frozen=True, slots=True)
class HitCondition:
    """DAP hit conditions: ``5`` or ``==5`` (exactly the 5th), ``>=5``, ``>5``, ``%5``."""

    operator: str
    count: int

    def satisfied(self, hits: int) -> bool:
        if self.operator == ">=":
            return hits >= self.count
        if self.operator == ">":
            return hits > self.count
        if self.operator == "%":
            return hits % self.count == 0
        return hits == self.count


def parse_hit_condition(text: str) -> HitCondition:
    match = _HIT_CONDITION.match(text)
    if match is None:
        raise InvalidInputError(f"hit condition {text!r}: expected N, ==N, >=N, >N or %N")
    operator, count = match.group(1) or "==", int(match.group(2))
    if operator == "%" and count == 0:
        raise InvalidInputError(f"hit condition {text!r}: %0 is not allowed")
    return HitCondition(operator, count)


@dataclass(frozen=True, slots=True)
class DataWatch:
    """A field of one object: stops where an operation changed its value."""

    ref: ObjectRef
    path: tuple[PathKey, ...]


@dataclass(slots=True)
class Breakpoint:
    """One breakpoint of any kind, with its candidates' source and its counters."""

    id: int
    kind: str  # "source", "callsite", "function", "exception", "data", "loop"
    description: str
    op_filter: OpFilter | None = None
    seqs: list[int] | None = None
    watch: DataWatch | None = None
    condition: Expression | None = None
    hit_condition: HitCondition | None = None
    log_message: str | None = None
    counter: HitCounter | None = None  # hits numbered so far (see kreplay_dap.replay.hits)
    message: str = ""  # why it is not verified; such a breakpoint is never given to the engine
    extra: dict[str, object] = field(default_factory=dict)


def configure(
    bp: Breakpoint, condition: object, hit_condition: object, log_message: object
) -> None:
    """Condition, hit condition and log message (each optional, as received), checked now:
    InvalidInputError names the first bad one (syntax, an unknown name, a wrong type).
    Errors only the data can show (``object.metadata in object``) surface at run time."""
    if condition is not None and condition != "":
        bp.condition = _checked_expression("condition", condition)
    if hit_condition is not None and hit_condition != "":
        if not isinstance(hit_condition, str):
            raise InvalidInputError("'hitCondition' must be a string such as '3' or '>=3'")
        bp.hit_condition = parse_hit_condition(hit_condition)
    if log_message is not None and log_message != "":
        if not isinstance(log_message, str):
            raise InvalidInputError("'logMessage' must be a string")
        for text, is_expression in log_parts(log_message):
            if is_expression:
                _checked_expression("log message", text)
        bp.log_message = log_message


def _checked_expression(what: str, text: object) -> Expression:
    if not isinstance(text, str):
        raise InvalidInputError(f"the {what} must be a string")
    try:
        return check_names(compile_expression(text))
    except InvalidInputError as error:
        raise InvalidInputError(f"{what}: {error}") from None


def log_parts(message: str) -> list[tuple[str, bool]]:
    """A logpoint message as (text, is_expression) parts: ``{expression}`` parts are
    evaluated at each hit, the rest is kept; a ``{`` without ``}`` is plain text."""
    parts: list[tuple[str, bool]] = []
    rest = message
    for _ in range(MAX_LOG_EXPRESSIONS):
        start = rest.find("{")
        end = rest.find("}", start + 1)
        if start < 0 or end < 0:
            break
        parts += [(rest[:start], False), (rest[start + 1 : end], True)]
        rest = rest[end + 1 :]
    parts.append((rest, False))
    return parts


def parse_function_pattern(text: str) -> OpFilter:
    """``patch Deployment``, ``delete Pod/*``, ``default/web``, ``Widget/default/w1``,
    or ``key=value`` terms as in ``find verb=delete kind=Pod``."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_PATTERN_CHARS:
        raise InvalidInputError(f"function breakpoint {text!r}: expected e.g. 'patch Deployment'")
    words = text.split()
    if any("=" in word for word in words):
        return parse_find_terms(words)
    verbs: frozenset[str] = frozenset()
    if words[0].lower() in VERBS or words[0].lower() == "write":
        verb = words.pop(0).lower()
        verbs = (
            frozenset(("create", "update", "patch", "delete"))
            if verb == "write"
            else frozenset({verb})
        )
    if len(words) > 1:
        raise InvalidInputError(f"function breakpoint {text!r}: expected '[verb] target'")
    kind, namespace, name = _target_fields(words[0]) if words else ("", "", "")
    return OpFilter(verbs=verbs, kind=kind, namespace=namespace, name=name, description=text)


def _target_fields(target: str) -> tuple[str, str, str]:
    """Kind | Kind/name | Kind/ns/name | ns/name; a Kind starts with a capital letter."""
    parts = target.split("/")
    if len(parts) > 3 or any(not part for part in parts):
        raise InvalidInputError(
            f"function breakpoint target {target!r}: too many '/' or empty part"
        )
    is_kind = parts[0][:1].isupper()
    if len(parts) == 1:
        return (parts[0], "", "") if is_kind else ("", "", parts[0])
    if len(parts) == 2:
        return (parts[0], "", parts[1]) if is_kind else ("", parts[0], parts[1])
    return parts[0], parts[1], parts[2]


def parse_find_terms(words: list[str]) -> OpFilter:
    """``verb=delete kind=Pod ns=default name=web-* actor=x code=409``."""
    values: dict[str, object] = {}
    for word in words[:32]:
        key, sep, value = word.partition("=")
        target = _FIND_KEYS.get(key.lower())
        if not sep or target is None or not value:
            known = ", ".join(sorted(_FIND_KEYS))
            raise InvalidInputError(f"search term {word!r}: expected key=value with key in {known}")
        if target == "verbs":
            values[target] = frozenset(v.lower() for v in value.split(","))
        elif target == "error_codes":
            values[target] = frozenset(_code(v) for v in value.split(","))
        else:
            values[target] = value
    return OpFilter(description=" ".join(words), **values)  # type: ignore[arg-type]


def _code(text: str) -> int:
    if not text.isdigit() or not 100 <= int(text) <= 599:
        raise InvalidInputError(f"status code {text!r}: expected a number 100-599")
    return int(text)


EXCEPTION_FILTERS: dict[str, tuple[str, str, bool]] = {
    # id: (label, description, enabled by default)
    "errors": ("API errors", "Stop at any failed API call (status >= 400).", False),
    "conflict": ("Conflicts (409)", "Stop at optimistic-concurrency conflicts.", True),
    "notfound": ("Not found (404)", "Stop at calls on objects that do not exist.", False),
    "forbidden": ("Forbidden (403)", "Stop at RBAC denials.", True),
    "server": ("Server errors (5xx)", "Stop at API server failures.", True),
    "slow": ("Slow operations", "Stop at calls slower than slowThresholdMs.", False),
    "loops": ("Reconcile loops", "Stop at operations of a detected reconcile loop.", True),
    "races": ("Races", "Stop at stale reads and lost updates found by analysis.", False),
}


def exception_filter(filter_id: str, slow_threshold_ms: int) -> OpFilter | None:
    """The operation filter of an exception filter; None for finding-based ones."""
    if filter_id == "errors":
        return OpFilter(errors_only=True, description="API error")
    if filter_id in ("conflict", "notfound", "forbidden"):
        code = {"conflict": 409, "notfound": 404, "forbidden": 403}[filter_id]
        return OpFilter(error_codes=frozenset({code}), description=EXCEPTION_FILTERS[filter_id][0])
    if filter_id == "server":
        return OpFilter(error_min=500, error_max=599, description="server error")
    if filter_id == "slow":
        return OpFilter(min_duration_us=slow_threshold_ms * 1000, description="slow operation")
    if filter_id in EXCEPTION_FILTERS:
        return None
    raise InvalidInputError(f"unknown exception filter {filter_id!r}")
