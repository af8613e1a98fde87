"""The safe expression language: parsing, precedence, paths, errors."""

from __future__ import annotations

from typing import Any

import pytest

from kreplay_dap.replay.expr import compile_expression
from recorder.errors import InvalidInputError


class Names:
    def __init__(self, **values: Any) -> None:
        self.values = values

    def resolve(self, name: str) -> Any:
        return self.values[name]


NAMES = Names(
    verb="patch",
    code=409,
    object={
        "spec": {"replicas": 3},
        "metadata": {"labels": {"app.k8s.io/name": "web"}},
        "items": [{"a": 1}, {"a": 2}],
    },
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("object.spec.replicas == 3", True),
        ("object.spec.replicas > 2 and verb == 'patch'", True),
        ("not verb == 'patch' or code == 409", True),
        ("not (verb == 'patch' or code == 409)", False),
        ("verb in ['patch', 'update']", True),
        ("verb not in ['patch']", False),
        ('object.metadata.labels["app.k8s.io/name"] == "web"', True),
        ("object.items[1].a", 2),
        ("object.items[5].a == null", True),
        ("code >= 400 && code < 500", True),
        ("!(code == 409)", False),
        ("code == '409'", True),
        ("verb like 'pa*'", True),
        ("object.spec.missing.deeper", None),
        ("object.spec.replicas < 'x'", False),
    ],
)
def test_expressions_evaluate(text: str, expected: Any) -> None:
    assert compile_expression(text).evaluate(NAMES) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "verb ==",
        "== 3",
        "(verb == 'a'",
        "verb == 'a')",
        "verb 'a'",
        "__import__('os')",
        "'unterminated",
        "a.b[",
        "x @ y",
        "a[1.5]",
    ],
)
def test_bad_expressions_are_refused_with_a_message(text: str) -> None:
    with pytest.raises(InvalidInputError):
        compile_expression(text).evaluate(NAMES)


def test_unknown_root_name_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="unknown name 'nope'"):
        compile_expression("nope == 1").evaluate(NAMES)


def test_roots_lists_the_names_read() -> None:
    assert compile_expression("object.spec.x == 1 and verb == 'get'").roots == {"object", "verb"}


def test_long_input_is_bounded() -> None:
    with pytest.raises(InvalidInputError):
        compile_expression("a" + " or a" * 2000)


def test_errors_the_values_cause_are_invalid_input_not_python_errors() -> None:
    with pytest.raises(InvalidInputError, match=r"cannot evaluate.*unhashable"):
        compile_expression("object.metadata in object").evaluate(NAMES)
    with pytest.raises(InvalidInputError, match="unknown name 'nope'"):
        compile_expression("nope == 1").evaluate(NAMES)
