"""The rule condition language: a small, typed, side-effect-free expression language.

Theory of operation
-------------------
`compile_expr(text, names)` tokenizes, parses (recursive descent, no `eval`), type-checks against
the known names and returns a `Condition`: a tree of Python closures evaluated against an
`Environment`. Every error is an `ExprError` carrying the character offset of the problem, which
the loader turns into file:line:column.

Grammar (lowest precedence first)::

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := operand (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") operand)?
    operand := STRING | NUMBER | "true" | "false" | "[" [literal ("," literal)*] "]"
             | NAME ("." NAME)* | NAME "(" [expr ("," expr)*] ")" | "(" expr ")"

Types are str, num, bool, list of str and list of num. `==`/`!=` need equal types, `<`... need two
nums or two strs, `in` needs a value and a list of that type (or str in str). `and`/`or`/`not`
need bools. A name's type comes from the schema the loader passes in (`dnis: str`,
`time.hour: num`, `queue.billing.waiting: num`, ...); names under a wildcard prefix (`ivr.*`) are
strs, missing at run time as "".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

STR, NUM, BOOL, LIST_STR, LIST_NUM = "str", "num", "bool", "list of str", "list of num"

Environment = Callable[[str], Any]  # name -> value
Evaluator = Callable[[Environment], Any]


class ExprError(ValueError):
    def __init__(self, offset: int, problem: str) -> None:
        super().__init__(problem)
        self.offset = offset
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    evaluate: Evaluator
    names: frozenset[str]


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>\d+(?:\.\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|\.)
  | (?P<bad>\S)
)""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # num, str, name, op, kw, end
    text: str
    offset: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while (m := _TOKEN.match(text, pos)) is not None:  # None: only whitespace is left
        kind = m.lastgroup
        assert kind is not None
        start = m.start(kind)
        value = m.group(kind)
        if kind == "bad":
            if value in "\"'":
                raise ExprError(start, "unterminated string")
            if value in "=!&|":
                hint = {"=": "==", "!": "not", "&": "and", "|": "or"}[value]
                raise ExprError(start, f"unexpected {value!r}; did you mean {hint!r}?")
            raise ExprError(start, f"unexpected character {value!r}")
        if kind == "name" and value in _KEYWORDS:
            kind = "kw"
        toks.append(_Tok(kind, value, start))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


@dataclass(frozen=True, slots=True)
class _Node:
    type: str
    fn: Evaluator
    offset: int


# name -> (argument types, result type, implementation)
FUNCTIONS: dict[str, tuple[tuple[str, ...], str, Callable[..., Any]]] = {
    "starts_with": ((STR, STR), BOOL, lambda s, p: s.startswith(p)),
    "ends_with": ((STR, STR), BOOL, lambda s, p: s.endswith(p)),
    # time_between(hhmm, "08:00", "20:00"): true from the first up to, not including, the second;
    # a window that ends before it starts wraps past midnight ("22:00", "06:00").
    "time_between": (
        (STR, STR, STR),
        BOOL,
        lambda t, a, b: (a <= t < b) if a <= b else (t >= a or t < b),
    ),
}

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class _Parser:
    def __init__(self, text: str, names: Mapping[str, str], wildcards: Mapping[str, str]) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.names = names
        self.wildcards = wildcards
        self.used: set[str] = set()

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> _Tok:
        if self.tok.text != text or self.tok.kind not in ("op", "kw"):
            raise ExprError(self.tok.offset, f"expected {text!r}, found {self._shown(self.tok)}")
        return self.take()

    @staticmethod
    def _shown(tok: _Tok) -> str:
        return "the end" if tok.kind == "end" else repr(tok.text)

    def parse(self) -> _Node:
        node = self.or_()
        if self.tok.kind != "end":
            raise ExprError(self.tok.offset, f"unexpected {self._shown(self.tok)} after a complete condition")
        return node

    def _bool(self, node: _Node, op: str) -> None:
        if node.type != BOOL:
            raise ExprError(node.offset, f"'{op}' needs true/false values, got {node.type}")

    def or_(self) -> _Node:
        left = self.and_()
        while self.tok.kind == "kw" and self.tok.text == "or":
            self.take()
            right = self.and_()
            self._bool(left, "or")
            self._bool(right, "or")
            left = _Node(BOOL, _either(left.fn, right.fn), left.offset)
        return left

    def and_(self) -> _Node:
        left = self.not_()
        while self.tok.kind == "kw" and self.tok.text == "and":
            self.take()
            right = self.not_()
            self._bool(left, "and")
            self._bool(right, "and")
            left = _Node(BOOL, _both(left.fn, right.fn), left.offset)
        return left

    def not_(self) -> _Node:
        if self.tok.kind == "kw" and self.tok.text == "not":
            start = self.take().offset
            inner = self.not_()
            self._bool(inner, "not")
            fn = inner.fn
            return _Node(BOOL, lambda env: not fn(env), start)
        return self.compare()

    def compare(self) -> _Node:
        left = self.operand()
        tok = self.tok
        if tok.kind == "op" and tok.text in _COMPARE:
            self.take()
            right = self.operand()
            return self._comparison(tok, left, right)
        negate = False
        if tok.kind == "kw" and tok.text == "not" and self.toks[self.i + 1].text == "in":
            self.take()
            negate = True
            tok = self.tok
        if tok.kind == "kw" and tok.text == "in":
            self.take()
            right = self.operand()
            node = self._membership(tok, left, right)
            if negate:
                fn = node.fn
                return _Node(BOOL, lambda env: not fn(env), node.offset)
            return node
        return left

    def _comparison(self, op: _Tok, left: _Node, right: _Node) -> _Node:
        if left.type != right.type:
            raise ExprError(op.offset, f"'{op.text}' compares {left.type} with {right.type}")
        if op.text not in ("==", "!=") and left.type not in (STR, NUM):
            raise ExprError(op.offset, f"'{op.text}' needs two nums or two strs, got {left.type}")
        cmp, lf, rf = _COMPARE[op.text], left.fn, right.fn
        return _Node(BOOL, lambda env: cmp(lf(env), rf(env)), left.offset)

    def _membership(self, op: _Tok, left: _Node, right: _Node) -> _Node:
        ok = (left.type, right.type) in ((STR, LIST_STR), (NUM, LIST_NUM), (STR, STR))
        if not ok:
            raise ExprError(op.offset, f"'in' needs a value and a list of that type, got {left.type} in {right.type}")
        lf, rf = left.fn, right.fn
        return _Node(BOOL, lambda env: lf(env) in rf(env), left.offset)

    def operand(self) -> _Node:
        tok = self.tok
        if tok.kind == "num":
            self.take()
            n = float(tok.text)
            return _Node(NUM, lambda env: n, tok.offset)
        if tok.kind == "str":
            self.take()
            s = _unquote(tok.text)
            return _Node(STR, lambda env: s, tok.offset)
        if tok.kind == "kw" and tok.text in ("true", "false"):
            self.take()
            b = tok.text == "true"
            return _Node(BOOL, lambda env: b, tok.offset)
        if tok.kind == "op" and tok.text == "(":
            self.take()
            node = self.or_()
            self.expect(")")
            return node
        if tok.kind == "op" and tok.text == "[":
            return self.list_()
        if tok.kind == "name":
            return self.name()
        raise ExprError(tok.offset, f"expected a value, found {self._shown(tok)}")

    def list_(self) -> _Node:
        start = self.take().offset
        items: list[Any] = []
        item_type: str | None = None
        while not (self.tok.kind == "op" and self.tok.text == "]"):
            if items:
                self.expect(",")
            tok = self.take()
            v: str | float
            if tok.kind == "str":
                t, v = STR, _unquote(tok.text)
            elif tok.kind == "num":
                t, v = NUM, float(tok.text)
            else:
                raise ExprError(tok.offset, f"a list holds only string or number literals, found {self._shown(tok)}")
            if item_type is not None and t != item_type:
                raise ExprError(tok.offset, f"a list mixes {item_type} and {t}")
            item_type = t
            items.append(v)
        self.take()
        if item_type is None:
            raise ExprError(start, "an empty list never matches; remove the condition")
        frozen = frozenset(items)
        return _Node(LIST_STR if item_type == STR else LIST_NUM, lambda env: frozen, start)

    def name(self) -> _Node:
        first = self.take()
        if self.tok.kind == "op" and self.tok.text == "(":
            return self.call(first)
        parts = [first.text]
        while self.tok.kind == "op" and self.tok.text == ".":
            self.take()
            part = self.take()
            if part.kind not in ("name", "kw"):
                raise ExprError(part.offset, f"expected a name after '.', found {self._shown(part)}")
            parts.append(part.text)
        full = ".".join(parts)
        tp = self.names.get(full)
        if tp is None:
            prefix = full.rsplit(".", 1)[0] + ".*" if "." in full else ""
            tp = self.wildcards.get(prefix)
            if tp is None or full.count(".") != 1:
                known = ", ".join(sorted([*self.names, *self.wildcards]))
                raise ExprError(first.offset, f"unknown name {full!r}; known: {known}")
        self.used.add(full)
        return _Node(tp, lambda env: env(full), first.offset)

    def call(self, name: _Tok) -> _Node:
        spec = FUNCTIONS.get(name.text)
        if spec is None:
            raise ExprError(name.offset, f"unknown function {name.text!r}; known: {', '.join(sorted(FUNCTIONS))}")
        arg_types, result, impl = spec
        self.expect("(")
        args: list[_Node] = []
        while not (self.tok.kind == "op" and self.tok.text == ")"):
            if args:
                self.expect(",")
            args.append(self.or_())
        self.take()
        if len(args) != len(arg_types):
            raise ExprError(name.offset, f"{name.text}() takes {len(arg_types)} arguments, got {len(args)}")
        for i, (arg, want) in enumerate(zip(args, arg_types, strict=True)):
            if arg.type != want:
                raise ExprError(arg.offset, f"{name.text}() argument {i + 1} must be {want}, got {arg.type}")
        fns = tuple(a.fn for a in args)
        return _Node(result, lambda env: impl(*(f(env) for f in fns)), name.offset)


def _either(lf: Evaluator, rf: Evaluator) -> Evaluator:
    return lambda env: lf(env) or rf(env)


def _both(lf: Evaluator, rf: Evaluator) -> Evaluator:
    return lambda env: lf(env) and rf(env)


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def compile_expr(text: str, names: Mapping[str, str], wildcards: Mapping[str, str] | None = None) -> Condition:
    """Parse and type-check `text`; the result must be a bool. Raises `ExprError`."""
    if not text.strip():
        raise ExprError(0, "empty condition")
    parser = _Parser(text, names, wildcards or {})
    node = parser.parse()
    if node.type != BOOL:
        raise ExprError(node.offset, f"a condition must be true or false, got {node.type}")
    return Condition(text=text, evaluate=node.fn, names=frozenset(parser.used))
