"""Validating a custom resource against its schema, as kube-openapi's validator words it.

``validate(value, schema, old=MISSING, base="")`` returns ``FieldError``s: types (with
``nullable`` and ``x-kubernetes-int-or-string``), ``enum``, ``required``, ``minimum``/
``maximum`` (exclusive too), ``multipleOf``, ``minLength``/``maxLength``, ``pattern``,
string ``format``s, ``minItems``/``maxItems``, ``minProperties``/``maxProperties``,
``additionalProperties`` maps, duplicates in ``x-kubernetes-list-type`` set/map lists,
embedded resources' ``apiVersion``/``kind``, and ``allOf``/``anyOf``/``oneOf``/``not``.

With an ``old`` object (updates) it ratchets as kube-apiserver does: a value equal to the
value at the same place in the old object (found through properties, map keys and
list-type map/set items) is not validated again, so what was stored stays acceptable.

The walk is iterative: jobs on a stack, each in an error "bucket"; a junctor gives each branch
a bucket of its own, and once the stack is empty the junctors are settled innermost first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from kreplay_dap.apiserver.schema_errors import (
    FieldError,
    duplicate,
    go_number,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
    type_invalid,
)
from kreplay_dap.apiserver.schema_formats import matches_format
from kreplay_dap.apiserver.schema_model import SchemaNode
from kreplay_dap.apiserver.schema_prune import MAX_NODES_VISITED, too_deep, too_large
from kreplay_dap.apiserver.schema_prune import MAX_OBJECT_DEPTH as MAX_DEPTH


class _Missing:
    """No correlated old value (a create, or a place the old object does not have)."""


MISSING: Final = _Missing()


@dataclass(slots=True)
class _Job:
    value: Any
    node: SchemaNode
    path: str
    old: Any
    bucket: int
    depth: int


@dataclass(slots=True)
class _Group:
    """One allOf/anyOf/oneOf/not: its branches' buckets, settled into ``parent``."""

    kind: str
    path: str
    parent: int
    buckets: list[int]


def validate(
    value: Any, schema: SchemaNode, old: Any = MISSING, base: str = ""
) -> list[FieldError]:
    """Errors of ``value`` against ``schema``; fields are reported below ``base``, in field
    order (kube-apiserver's order follows Go's map iteration, so it has none to keep)."""
    return sorted(_Validation(base).run(value, schema, old), key=lambda error: error.field)


def json_type(value: Any) -> str:
    """The JSON type name kube-openapi reports for a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _canonical(value: Any) -> str:
    """A key equal for equal JSON values (keeps true apart from 1)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_equal(left: Any, right: Any, budget: list[int]) -> bool:
    """Deep equality of JSON values, iteratively; ``budget[0]`` counts values compared."""
    stack = [(left, right)]
    while stack:
        budget[0] -= 1
        if budget[0] < 0:
            raise too_large()
        a, b = stack.pop()
        if isinstance(a, dict):
            if not isinstance(b, dict) or a.keys() != b.keys():
                return False
            stack.extend((a[key], b[key]) for key in a)
        elif isinstance(a, list):
            if not isinstance(b, list) or len(a) != len(b):
                return False
            stack.extend(zip(a, b, strict=True))
        elif a != b or (json_type(a) != json_type(b) and not (_is_number(a) and _is_number(b))):
            return False
    return True


class _Validation:
    """One validation run (see the module docstring)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.buckets: list[list[FieldError]] = [[]]
        self.groups: list[_Group] = []
        self.jobs: list[_Job] = []
        self.budget = [MAX_NODES_VISITED]

    def run(self, value: Any, schema: SchemaNode, old: Any) -> list[FieldError]:
        self.jobs.append(_Job(value, schema, "", old, 0, 0))
        while self.jobs:
            job = self.jobs.pop()
            entries = len(job.value) if isinstance(job.value, list | dict) else 0
            self.budget[0] -= 1 + entries  # a list or object pays for its entries too
            if self.budget[0] < 0:
                raise too_large()
            if job.depth > MAX_DEPTH:
                raise too_deep()
            if job.old is not MISSING and json_equal(job.old, job.value, self.budget):
                continue  # ratcheting: unchanged since it was stored
            self._visit(job)
        for group in reversed(self.groups):
            results = [self.buckets[bucket] for bucket in group.buckets]
            self.buckets[group.parent].extend(self._verdict(group, results))
        return self.buckets[0]

    def field(self, path: str) -> str:
        path = path.removeprefix(".")
        if self.base and path:
            return f"{self.base}.{path}"
        return self.base or path

    def _visit(self, job: _Job) -> None:
        errors = self.buckets[job.bucket]
        value, node = job.value, job.node
        if value is None:
            self._check_null(job, errors)
            return
        self._check_type(job, errors)
        self._start_junctors(job)
        if isinstance(value, str):
            self._check_string(job, errors)
        elif _is_number(value):
            self._check_number(job, errors)
        elif isinstance(value, list):
            self._check_array(job, errors)
        if node.enum is not None:
            self._check_enum(job, errors)
        if isinstance(value, dict):
            self._check_object(job, errors)

    # -- scalars ---------------------------------------------------------------------------
    def _check_null(self, job: _Job, errors: list[FieldError]) -> None:
        node = job.node
        wanted = "integer,string" if node.int_or_string else node.type
        if wanted and not node.nullable:
            detail = f'{job.path} in body must be of type {wanted}: "null"'
            errors.append(type_invalid(self.field(job.path), "null", detail))
        elif node.enum is not None and not node.nullable:
            self._check_enum(job, errors)

    def _check_type(self, job: _Job, errors: list[FieldError]) -> None:
        node, value = job.node, job.value
        wanted = ["integer", "string"] if node.int_or_string else [node.type] if node.type else []
        found = json_type(value)
        if not wanted or found in wanted:
            return
        if found == "number" and "integer" in wanted and float(value).is_integer():
            return  # 2.0 is an integer in JSON
        if found == "integer" and "number" in wanted:
            return
        if node.format and not isinstance(value, str | list):
            shown = {"integer": "int64", "number": "float64"}.get(found, "")
            detail = f"{job.path} in body must be of type {node.format}: {json.dumps(shown)}"
            errors.append(type_invalid(self.field(job.path), shown, detail))
            return
        detail = f"{job.path} in body must be of type {','.join(wanted)}: {json.dumps(found)}"
        errors.append(type_invalid(self.field(job.path), found, detail))

    def _check_string(self, job: _Job, errors: list[FieldError]) -> None:
        node, text, where = job.node, job.value, self.field(job.path)
        if node.max_length is not None and len(text) > node.max_length:
            errors.append(too_long(where, node.max_length))
        if node.min_length is not None and len(text) < node.min_length:
            detail = f"{job.path} in body should be at least {node.min_length} chars long"
            errors.append(invalid(where, text, detail))
        if node.pattern is not None and not node.pattern.search(text):
            detail = f"{job.path} in body should match '{node.pattern_text}'"
            errors.append(invalid(where, text, detail))
        if node.format and not matches_format(text, node.format):
            detail = f"{job.path} in body must be of type {node.format}: {json.dumps(text)}"
            errors.append(type_invalid(where, text, detail))

    def _check_number(self, job: _Job, errors: list[FieldError]) -> None:
        node, number, where = job.node, job.value, self.field(job.path)
        if node.maximum is not None and (
            number >= node.maximum if node.exclusive_maximum else number > node.maximum
        ):
            relation = "less than" if node.exclusive_maximum else "less than or equal to"
            detail = f"{job.path} in body should be {relation} {_bound(node.maximum, number)}"
            errors.append(invalid(where, number, detail))
        if node.minimum is not None and (
            number <= node.minimum if node.exclusive_minimum else number < node.minimum
        ):
            relation = "greater than" if node.exclusive_minimum else "greater than or equal to"
            detail = f"{job.path} in body should be {relation} {_bound(node.minimum, number)}"
            errors.append(invalid(where, number, detail))
        factor = node.multiple_of
        if factor is not None and not _is_multiple(number, factor):
            detail = f"{job.path} in body should be a multiple of {_bound(factor, 1.5)}"
            errors.append(invalid(where, number, detail))

    def _check_enum(self, job: _Job, errors: list[FieldError]) -> None:
        allowed = job.node.enum or ()
        wanted = _canonical(job.value)
        if any(_canonical(choice) == wanted for choice in allowed):
            return
        if _is_number(job.value) and any(
            _is_number(choice) and choice == job.value for choice in allowed
        ):
            return
        shown = [c if isinstance(c, str) else _canonical(c) for c in allowed]
        errors.append(not_supported(self.field(job.path), job.value, shown))

    # -- containers ------------------------------------------------------------------------
    def _check_array(self, job: _Job, errors: list[FieldError]) -> None:
        node, items, where = job.node, job.value, self.field(job.path)
        if node.min_items is not None and len(items) < node.min_items:
            detail = f"{job.path} in body should have at least {node.min_items} items"
            errors.append(invalid(where, len(items), detail))
        if node.max_items is not None and len(items) > node.max_items:
            errors.append(too_many(where, len(items), node.max_items))
        if node.list_type in ("set", "map"):
            errors.extend(self._duplicates(job))
        if node.items is None:
            return
        olds = self._correlated_items(job)
        for index in reversed(range(len(items))):
            child = _Job(items[index], node.items, f"{job.path}[{index}]", olds[index],
                         job.bucket, job.depth + 1)  # fmt: skip
            self.jobs.append(child)

    def _item_key(self, node: SchemaNode, item: Any) -> str | None:
        if node.list_type == "set":
            return _canonical(item)
        if not isinstance(item, dict):
            return None
        return _canonical({key: item[key] for key in node.list_map_keys if key in item})

    def _duplicates(self, job: _Job) -> list[FieldError]:
        node, seen, found = job.node, set(), []
        for index, item in enumerate(job.value):
            key = self._item_key(node, item)
            if key is None:
                continue
            if key in seen:
                shown = item if node.list_type == "set" else json.loads(key)
                found.append(duplicate(self.field(f"{job.path}[{index}]"), shown))
            seen.add(key)
        return found

    def _correlated_items(self, job: _Job) -> list[Any]:
        """The old item each new item is compared with: only set and map lists correlate."""
        items, old, node = job.value, job.old, job.node
        if not isinstance(old, list) or node.list_type not in ("set", "map"):
            return [MISSING] * len(items)
        by_key: dict[str, Any] = {}
        for item in old:
            key = self._item_key(node, item)
            if key is not None:
                by_key.setdefault(key, item)
        correlated: list[Any] = []
        for item in items:
            key = self._item_key(node, item)
            correlated.append(by_key.get(key, MISSING) if key is not None else MISSING)
        return correlated

    def _check_object(self, job: _Job, errors: list[FieldError]) -> None:
        node, fields, where = job.node, job.value, self.field(job.path)
        count = len(fields)
        if node.min_properties is not None and count < node.min_properties:
            detail = f"{job.path} in body should have at least {node.min_properties} properties"
            errors.append(invalid(where, count, detail))
        if node.max_properties is not None and count > node.max_properties:
            errors.append(too_many(where, count, node.max_properties))
        missing = [key for key in node.required if key not in fields]
        errors.extend(required(self.field(f"{job.path}.{key}")) for key in missing)
        if node.embedded_resource and job.path:
            errors.extend(self._embedded_resource_errors(job))
        old = job.old if isinstance(job.old, dict) else {}
        children: list[_Job] = []
        for key, value in fields.items():
            declared = node.properties.get(key)
            if declared is None:
                declared = node.additional
            path = f"{job.path}.{key}" if job.path else key
            if declared is not None:
                children.append(_Job(value, declared, path, old.get(key, MISSING), job.bucket,
                                     job.depth + 1))  # fmt: skip
            elif not node.additional_allowed and key not in node.properties:
                detail = f"{job.path}.{key} in body is a forbidden property"
                errors.append(invalid(where, key, detail))
        self.jobs.extend(reversed(children))

    def _embedded_resource_errors(self, job: _Job) -> list[FieldError]:
        found: list[FieldError] = []
        for key in ("apiVersion", "kind"):
            where = self.field(f"{job.path}.{key}")
            if key not in job.value:
                found.append(required(where))
            elif not isinstance(job.value[key], str):
                found.append(invalid(where, job.value[key], "must be a string"))
            elif not job.value[key]:
                found.append(invalid(where, "", "must not be empty"))
        metadata = job.value.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            found.append(invalid(self.field(f"{job.path}.metadata"), metadata, "must be an object"))
        return found

    # -- junctors --------------------------------------------------------------------------
    def _start_junctors(self, job: _Job) -> None:
        for kind, branches in job.node.junctors:
            group = _Group(kind, job.path, job.bucket, [])
            self.groups.append(group)
            for branch in branches:
                group.buckets.append(len(self.buckets))
                self.buckets.append([])
                self.jobs.append(_Job(job.value, branch, job.path, job.old, group.buckets[-1],
                                      job.depth + 1))  # fmt: skip

    def _verdict(self, group: _Group, results: list[list[FieldError]]) -> list[FieldError]:
        """A junctor's errors, as kube-openapi merges them (its own error has no field)."""
        valid = sum(1 for errors in results if not errors)
        closest = min(results, key=len, default=[])
        name = json.dumps(group.path)
        where = self.base or "<nil>"
        if group.kind == "anyOf" and not valid:
            message = f"{name} must validate at least one schema (anyOf)"
            return [invalid(where, "", message), *closest]
        if group.kind == "oneOf" and valid != 1:
            found = "Found none valid" if not valid else f"Found {valid} valid alternatives"
            message = f"{name} must validate one and only one schema (oneOf). {found}"
            return [invalid(where, "", message), *(closest if not valid else [])]
        if group.kind == "allOf" and valid != len(results):
            none = ". None validated" if not valid else ""
            message = f"{name} must validate all the schemas (allOf){none}"
            return [*(e for errors in results for e in errors), invalid(where, "", message)]
        if group.kind == "not" and valid:
            return [invalid(where, "", f"{name} must not validate the schema (not)")]
        return []


def _bound(limit: float, value: Any) -> str:
    """A limit in a message: Go prints it as an integer when the value checked is one."""
    if isinstance(value, int) and float(limit).is_integer():
        return str(int(limit))
    return go_number(limit)


def _is_multiple(number: float, factor: float) -> bool:
    quotient = number / factor if factor >= 1 else (1 / factor) * number
    return float(quotient).is_integer()
