"""A small, safe expression language for breakpoint conditions, watches and REPL filters.

Recordings and launch files may come from other people, so user text is never passed to
``eval``. Grammar (operators by increasing precedence)::

    or / ||      and / &&      not / !      == != < <= > >= in, not in, like

Operands are literals (numbers, 'strings', "strings", true, false, null, [lists of
literals]) and field paths such as ``object.spec.replicas`` or
``cluster.Deployment["default/web"].spec``. The parser is a shunting-yard (no recursion);
evaluation runs the resulting postfix program on an explicit stack.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from recorder.errors import InvalidInputError

MAX_EXPRESSION_CHARS = 4096
MAX_TOKENS = 512
MAX_PATH_SEGMENTS = 64
MAX_LIST_ITEMS = 256

_WORD_OPERATORS = {"and": "and", "or": "or", "not": "not", "in": "in", "like": "like"}
_SYMBOL_OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", "<", ">", "!")
_SYMBOL_ALIASES = {"&&": "and", "||": "or", "!": "not"}
_KEYWORD_LITERALS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "none": None,
    "True": True,
    "False": False,
    "None": None,
}
# Python errors an operator can raise on the values it is given (``[1] in {...}``...).
_EVALUATION_ERRORS = (TypeError, ValueError, ArithmeticError, LookupError, AttributeError)
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "not": 3,
    "==": 4,
    "!=": 4,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "in": 4,
    "not in": 4,
    "like": 4,
}


class PathNode(Protocol):
    """A lazily resolved value that a field path can step into (e.g. the cluster view)."""

    def child(self, key: str | int) -> Any: ...


class NameResolver(Protocol):
    """Supplies the value of a root name (``object``, ``verb``...); KeyError when unknown."""

    def resolve(self, name: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "value", "path", "op", "(", ")"
    text: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled expression: its source, postfix program and the root names it reads."""

    source: str
    program: tuple[Token, ...]
    roots: frozenset[str]

    def evaluate(self, resolver: NameResolver) -> Any:
        """The value; InvalidInputError (never a Python error) when it cannot be computed,
        e.g. an unknown name or ``object.metadata in object`` (a dict is no dict key)."""
        try:
            return _run(self.program, resolver)
        except _EVALUATION_ERRORS as error:
            raise InvalidInputError(
                f"expression {self.source!r}: cannot evaluate ({type(error).__name__}: {error})"
            ) from None

    def is_true(self, resolver: NameResolver) -> bool:
        return bool(self.evaluate(resolver))


def _error(source: str, position: int, message: str) -> InvalidInputError:
    return InvalidInputError(f"expression {source!r}, at {position + 1}: {message}")


class _Lexer:
    """Turns the source into tokens; whole paths and list literals are single tokens."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0

    def tokens(self) -> list[Token]:
        result: list[Token] = []
        for _ in range(MAX_TOKENS + 1):
            self._skip_space()
            if self.pos >= len(self.source):
                return result
            result.append(self._token())
        raise _error(self.source, self.pos, f"more than {MAX_TOKENS} tokens")

    def _skip_space(self) -> None:
        while self.pos < len(self.source) and self.source[self.pos].isspace():
            self.pos += 1

    def _token(self) -> Token:
        char = self.source[self.pos]
        if char in "()":
            self.pos += 1
            return Token(char, char)
        for symbol in _SYMBOL_OPERATORS:
            if self.source.startswith(symbol, self.pos):
                self.pos += len(symbol)
                return Token("op", _SYMBOL_ALIASES.get(symbol, symbol))
        if char == "[":
            return Token("value", "[...]", self._list())
        if char.isalpha() or char == "_":
            return self._word()
        return Token("value", char, self._literal())

    def _word(self) -> Token:
        start = self.pos
        name = self._name()
        if name in _WORD_OPERATORS:
            return Token("op", _WORD_OPERATORS[name])
        if name in _KEYWORD_LITERALS:
            return Token("value", name, _KEYWORD_LITERALS[name])
        segments: list[str | int] = [name]
        for _ in range(MAX_PATH_SEGMENTS):
            if self.source.startswith(".", self.pos):
                self.pos += 1
                segments.append(self._name())
            elif self.source.startswith("[", self.pos):
                segments.append(self._subscript())
            else:
                return Token("path", self.source[start : self.pos], tuple(segments))
        raise _error(self.source, start, f"path longer than {MAX_PATH_SEGMENTS} segments")

    def _name(self) -> str:
        start = self.pos
        while self.pos < len(self.source) and (
            self.source[self.pos].isalnum() or self.source[self.pos] in "_-$"
        ):
            self.pos += 1
        if start == self.pos:
            raise _error(self.source, start, "expected a field name")
        return self.source[start : self.pos]

    def _subscript(self) -> str | int:
        self.pos += 1
        self._skip_space()
        key = self._literal()
        self._skip_space()
        if not self.source.startswith("]", self.pos):
            raise _error(self.source, self.pos, "expected ']'")
        self.pos += 1
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise _error(self.source, self.pos, "a subscript is a string or an integer")
        return key

    def _list(self) -> list[Any]:
        self.pos += 1
        items: list[Any] = []
        for _ in range(MAX_LIST_ITEMS):
            self._skip_space()
            if self.source.startswith("]", self.pos):
                self.pos += 1
                return items
            if items:
                if not self.source.startswith(",", self.pos):
                    raise _error(self.source, self.pos, "expected ',' or ']'")
                self.pos += 1
                self._skip_space()
            items.append(self._literal())
        raise _error(self.source, self.pos, f"list longer than {MAX_LIST_ITEMS} items")

    def _literal(self) -> Any:
        if self.pos >= len(self.source):
            raise _error(self.source, self.pos, "unexpected end")
        char = self.source[self.pos]
        if char in "'\"":
            return self._string(char)
        if char.isdigit() or char in "-+.":
            return self._number()
        if char.isalpha():
            start = self.pos
            word = self._name()
            if word in _KEYWORD_LITERALS:
                return _KEYWORD_LITERALS[word]
            raise _error(self.source, start, f"expected a literal, found {word!r}")
        raise _error(self.source, self.pos, f"unexpected character {char!r}")

    def _string(self, quote: str) -> str:
        end = self.source.find(quote, self.pos + 1)
        if end < 0:
            raise _error(self.source, self.pos, "unterminated string")
        text = self.source[self.pos + 1 : end]
        self.pos = end + 1
        return text

    def _number(self) -> int | float:
        start = self.pos
        self.pos += 1
        while self.pos < len(self.source) and (
            self.source[self.pos].isalnum() or self.source[self.pos] == "."
        ):
            self.pos += 1
        text = self.source[start : self.pos]
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            raise _error(self.source, start, f"bad number {text!r}") from None


def compile_expression(source: str) -> Expression:
    """Parse ``source`` into an Expression; raises InvalidInputError naming the problem."""
    if not isinstance(source, str) or not source.strip():
        raise InvalidInputError("empty expression")
    if len(source) > MAX_EXPRESSION_CHARS:
        raise InvalidInputError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    tokens = _merge_not_in(_Lexer(source).tokens())
    program = _to_postfix(source, tokens)
    roots = frozenset(str(t.value[0]) for t in program if t.kind == "path")
    return Expression(source, tuple(program), roots)


def _merge_not_in(tokens: list[Token]) -> list[Token]:
    merged: list[Token] = []
    for token in tokens:
        previous = merged[-1] if merged else None
        after_operand = len(merged) >= 2 and merged[-2].kind in ("value", "path", ")")
        if token.text == "in" and previous is not None and previous.text == "not" and after_operand:
            merged[-1] = Token("op", "not in")
            continue
        merged.append(token)
    return merged


def _to_postfix(source: str, tokens: list[Token]) -> list[Token]:
    output: list[Token] = []
    stack: list[Token] = []
    expect_operand = True
    for index, token in enumerate(tokens):
        if token.kind in ("value", "path"):
            if not expect_operand:
                raise _error(source, index, f"unexpected operand {token.text!r}")
            output.append(token)
            expect_operand = False
        elif token.kind == "(":
            if not expect_operand:
                raise _error(source, index, "unexpected '('")
            stack.append(token)
        elif token.kind == ")":
            if expect_operand:
                raise _error(source, index, "unexpected ')'")
            _pop_until_paren(source, stack, output)
        elif token.text == "not" and expect_operand:
            stack.append(token)
        else:
            if expect_operand:
                raise _error(source, index, f"operator {token.text!r} needs a left operand")
            _pop_operators(stack, output, _PRECEDENCE[token.text])
            stack.append(token)
            expect_operand = True
    if expect_operand:
        raise _error(source, len(source) - 1, "expression ends with an operator")
    while stack:
        top = stack.pop()
        if top.kind == "(":
            raise _error(source, len(source) - 1, "unbalanced '('")
        output.append(top)
    return output


def _pop_operators(stack: list[Token], output: list[Token], precedence: int) -> None:
    while stack and stack[-1].kind == "op" and _PRECEDENCE[stack[-1].text] >= precedence:
        output.append(stack.pop())


def _pop_until_paren(source: str, stack: list[Token], output: list[Token]) -> None:
    while stack and stack[-1].kind != "(":
        output.append(stack.pop())
    if not stack:
        raise _error(source, len(source) - 1, "unbalanced ')'")
    stack.pop()


def resolve_path(resolver: NameResolver, segments: tuple[str | int, ...]) -> Any:
    """Walk a field path; a missing step yields None rather than an error."""
    try:
        value = resolver.resolve(str(segments[0]))
    except KeyError:
        raise InvalidInputError(f"unknown name {segments[0]!r}") from None
    for key in segments[1:]:
        value = step_into(value, key)
        if value is None:
            return None
    return value


def step_into(value: Any, key: str | int) -> Any:
    """One path step into a dict, list or PathNode."""
    if isinstance(value, dict):
        return value.get(key) if isinstance(key, str) else value.get(str(key))
    if isinstance(value, list):
        index = key if isinstance(key, int) else int(key) if str(key).isdigit() else None
        return value[index] if index is not None and -len(value) <= index < len(value) else None
    child = getattr(value, "child", None)
    return child(key) if callable(child) else None


def _numeric(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value) if "." in value else int(value)
        except ValueError:
            return value
    return value


def _compare(operator: str, left: Any, right: Any) -> bool:
    if isinstance(left, int | float) != isinstance(right, int | float):
        left, right = _numeric(left), _numeric(right)
    if operator == "==":
        return bool(left == right)
    if operator == "!=":
        return bool(left != right)
    try:
        return bool(_ORDERING[operator](left, right))
    except TypeError:
        return False


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list | dict | tuple | set | frozenset):
        return item in container
    return False


def _apply(operator: str, left: Any, right: Any) -> Any:
    if operator == "and":
        return bool(left) and bool(right)
    if operator == "or":
        return bool(left) or bool(right)
    if operator == "in":
        return _contains(right, left)
    if operator == "not in":
        return not _contains(right, left)
    if operator == "like":
        return isinstance(left, str) and fnmatch.fnmatchcase(left, str(right))
    return _compare(operator, left, right)


def _run(program: tuple[Token, ...], resolver: NameResolver) -> Any:
    stack: list[Any] = []
    for token in program:
        if token.kind == "value":
            stack.append(token.value)
        elif token.kind == "path":
            stack.append(resolve_path(resolver, token.value))
        elif token.text == "not" and len(stack) >= 1 and _is_unary(token):
            stack.append(not stack.pop())
        else:
            right, left = stack.pop(), stack.pop()
            stack.append(_apply(token.text, left, right))
    return stack[-1]


def _is_unary(token: Token) -> bool:
    return token.kind == "op" and token.text == "not"
