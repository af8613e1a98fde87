"""Label selectors (=, ==, !=, in, notin, exists, !exists, >, <) and field selectors (=, ==, !=)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kreplay_dap.apiserver.status import bad_request

MAX_SELECTOR_LENGTH = 4_096
MAX_TERMS = 64
MAX_VALUES = 64
_KEY = re.compile(
    r"^([A-Za-z0-9][-A-Za-z0-9_.]{0,252}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
_SET_TERM = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$")
_COMPARE_TERM = re.compile(r"^\s*([^=!\s]+)\s*(==|!=|=)\s*(\S*)\s*$")
_LABEL_COMPARE_TERM = re.compile(r"^\s*([^=!<>\s]+)\s*(==|!=|=|>|<)\s*(\S*)\s*$")
# Go's strconv.ParseInt(value, 10, 64): an optional sign and decimal digits, within int64.
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str  # "in", "notin", "exists", "!exists", "gt", "lt"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "exists":
            return self.key in labels
        if self.operator == "!exists":
            return self.key not in labels
        if self.operator == "in":
            return labels.get(self.key) in self.values
        if self.operator in ("gt", "lt"):
            return self._compares(labels.get(self.key))
        return labels.get(self.key) not in self.values

    def _compares(self, label: str | None) -> bool:
        """Gt/Lt: the label must exist and be an integer (else no match, as in Go)."""
        have = parse_int64(label) if label is not None else None
        want = parse_int64(next(iter(self.values), ""))
        if have is None or want is None:
            return False
        return have > want if self.operator == "gt" else have < want


def parse_int64(text: str) -> int | None:
    if not _INTEGER.match(text):
        return None
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else None


LabelSelector = tuple[Requirement, ...]


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside an ``in (...)`` value list."""
    terms: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            terms.append(text[start:index])
            start = index + 1
        if depth not in (0, 1):
            raise bad_request(f"unable to parse requirement: unbalanced parentheses in {text!r}")
    terms.append(text[start:])
    if len(terms) > MAX_TERMS:
        raise bad_request(f"selector has more than {MAX_TERMS} terms")
    return [t for t in terms if t.strip()]


def _check_key(key: str) -> str:
    if not _KEY.match(key):
        raise bad_request(f"unable to parse requirement: invalid label key {key!r}")
    return key


def _check_value(value: str) -> str:
    if not _VALUE.match(value):
        raise bad_request(f"unable to parse requirement: invalid label value {value!r}")
    return value


def _parse_label_term(term: str) -> Requirement:
    set_match = _SET_TERM.match(term)
    if set_match:
        key, operator, raw = set_match.groups()
        values = [v.strip() for v in raw.split(",")]
        if len(values) > MAX_VALUES:
            raise bad_request(f"selector lists more than {MAX_VALUES} values")
        checked = frozenset(_check_value(v) for v in values)
        return Requirement(_check_key(key), operator, checked)
    compare = _LABEL_COMPARE_TERM.match(term)
    if compare:
        key, operator, value = compare.groups()
        if operator in (">", "<"):
            if parse_int64(value) is None:
                raise bad_request(
                    f'unable to parse requirement: values[0]: Invalid value: "{value}": for'
                    " 'Gt', 'Lt' operators, the value must be an integer"
                )
            kind = "gt" if operator == ">" else "lt"
        else:
            kind = "notin" if operator == "!=" else "in"
        return Requirement(_check_key(key), kind, frozenset({_check_value(value)}))
    stripped = term.strip()
    if stripped.startswith("!"):
        return Requirement(_check_key(stripped[1:].strip()), "!exists")
    return Requirement(_check_key(stripped), "exists")


def parse_label_selector(text: str | None) -> LabelSelector:
    if not text:
        return ()
    if len(text) > MAX_SELECTOR_LENGTH:
        raise bad_request("label selector too long")
    return tuple(_parse_label_term(term) for term in _split_terms(text))


def labels_match(selector: LabelSelector, obj: Mapping[str, Any]) -> bool:
    if not selector:
        return True
    metadata = obj.get("metadata") or {}
    labels = metadata.get("labels") or {}
    return all(requirement.matches(labels) for requirement in selector)


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    path: tuple[str, ...]
    equal: bool
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        current: Any = obj
        for part in self.path:
            current = current.get(part) if isinstance(current, dict) else None
        text = "" if current is None else str(current)
        if isinstance(current, bool):
            text = "true" if current else "false"
        return (text == self.value) == self.equal


FieldSelector = tuple[FieldRequirement, ...]
ALWAYS_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


def parse_field_selector(text: str | None, supported: frozenset[str]) -> FieldSelector:
    """Parse ``a=b,c!=d``; labels outside ``supported`` get the API server's 400."""
    if not text:
        return ()
    if len(text) > MAX_SELECTOR_LENGTH:
        raise bad_request("field selector too long")
    requirements: list[FieldRequirement] = []
    for term in _split_terms(text):
        match = _COMPARE_TERM.match(term)
        if not match:
            raise bad_request(f"invalid field selector term {term!r}")
        label, operator, value = match.groups()
        if label not in supported and label not in ALWAYS_FIELDS:
            raise bad_request(f'"{label}" is not a known field selector: only "metadata.name", '
                              f'"metadata.namespace"')  # fmt: skip
        requirements.append(FieldRequirement(tuple(label.split(".")), operator != "!=", value))
    return tuple(requirements)


def fields_match(selector: FieldSelector, obj: Mapping[str, Any]) -> bool:
    return all(requirement.matches(obj) for requirement in selector)


def object_filter(
    labels: LabelSelector, fields: FieldSelector
) -> Callable[[Mapping[str, Any]], bool]:
    def accept(obj: Mapping[str, Any]) -> bool:
        return labels_match(labels, obj) and fields_match(fields, obj)

    return accept
