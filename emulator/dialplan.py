"""The dialplan: `extensions.conf` parsed into contexts, and Asterisk's substitution language.

Theory of operation
-------------------
Pure: text in, values out; no I/O beyond `load_dialplan` reading the file, no clock.

* `parse_dialplan(text, file, known_apps)` turns `extensions.conf` into a `Dialplan`: `[globals]`,
  and per context the extensions (`exten => pattern,priority(label),App(data)` and
  `same => n,...`). Every application name is checked against `known_apps` while parsing, so an
  application the emulator does not implement is an error naming file and line before any call
  runs, never a silent skip. Errors are `DialplanError("extensions.conf:12: ...")`.
* `Dialplan.find(context, exten, priority)` returns the `Step` to run. Matching follows Asterisk:
  an exact extension wins over a pattern; patterns (`_X.`, `_NXX`, `_[1-5]!`) are tried in file
  order (Asterisk sorts them by specificity; our dialplans never have two overlapping patterns).
* `substitute(text, resolver)` expands `${VAR}`, `${VAR:offset:length}`, `${FUNC(args)}` and
  `$[expression]`, innermost first, exactly once, as `pbx_substitute_variables_helper` does.
  Variables and channel functions come from the caller's `Resolver`; the pure functions
  (`IF`, `LEN`, `ISNULL`, `EXISTS`) are here.
* `evaluate(expr)` is the `$[...]` expression language to the extent the dialplans use it:
  `| & = != < > <= >= + - * / % !`, parentheses and quoted strings. Comparisons are numeric
  when both sides are numbers, else string comparisons; results print like Asterisk (`1`/`0`,
  integers without a decimal point).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class DialplanError(Exception):
    """The dialplan is malformed or uses something the emulator does not run."""


@dataclass(frozen=True, slots=True)
class Step:
    """One priority of one extension: what runs, and where it was written."""

    context: str
    exten: str
    priority: int
    label: str | None
    app: str
    data: str
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class Extension:
    pattern: str
    steps: dict[int, Step] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    regex: re.Pattern[str] | None = None


@dataclass(slots=True)
class Context:
    name: str
    exact: dict[str, Extension] = field(default_factory=dict)
    patterns: list[Extension] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Dialplan:
    file: str
    contexts: dict[str, Context]
    globals: dict[str, str]

    def extension(self, context: str, exten: str) -> Extension | None:
        """The extension `exten` matches in `context` (or its includes), or None."""
        seen: set[str] = set()
        pending = [context]
        while pending:
            name = pending.pop(0)
            if name in seen or name not in self.contexts:
                continue
            seen.add(name)
            ctx = self.contexts[name]
            if exten in ctx.exact:
                return ctx.exact[exten]
            for ext in ctx.patterns:
                if ext.regex is not None and ext.regex.fullmatch(exten):
                    return ext
            pending.extend(ctx.includes)
        return None

    def find(self, context: str, exten: str, priority: int) -> Step | None:
        ext = self.extension(context, exten)
        return None if ext is None else ext.steps.get(priority)

    def resolve_priority(self, context: str, exten: str, priority: str) -> int:
        """A priority given as a number or a label, as Goto and Redirect take it."""
        if priority.strip().lstrip("-").isdigit():
            return int(priority)
        ext = self.extension(context, exten)
        if ext is None or priority.strip() not in ext.labels:
            raise DialplanError(f"no label {priority!r} in extension {exten!r} of context {context!r}")
        return ext.labels[priority.strip()]


_EXTEN_RE = re.compile(r"^\s*(exten|same)\s*=>?\s*(.*)$", re.IGNORECASE)
_KEYVAL_RE = re.compile(r"^\s*([^=\s]+)\s*=>?\s*(.*)$")
_APP_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Asterisk's extension pattern (`_` stripped) as an anchored regular expression."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        upper = c.upper()
        if upper == "X":
            out.append("[0-9]")
        elif upper == "Z":
            out.append("[1-9]")
        elif upper == "N":
            out.append("[2-9]")
        elif c == ".":
            out.append(".+")
        elif c == "!":
            out.append(".*")
        elif c == "[":
            end = pattern.find("]", i)
            if end == -1:
                raise DialplanError(f"unterminated character class in pattern _{pattern}")
            out.append("[" + re.sub(r"([\\\]^])", r"\\\1", pattern[i + 1 : end]) + "]")
            i = end
        elif c == "-":
            pass  # Asterisk ignores dashes in patterns (readability only)
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


def _strip_comment(line: str) -> str:
    # `;` starts a comment unless escaped as `\;`.
    out = []
    i = 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if line[i] == ";":
            break
        out.append(line[i])
        i += 1
    return "".join(out).rstrip()


def parse_dialplan(text: str, file: str, known_apps: Collection[str]) -> Dialplan:
    """Parse `extensions.conf` text; `known_apps` are the application names (any case) we run."""
    known = {a.lower(): a for a in known_apps}
    contexts: dict[str, Context] = {}
    globals_: dict[str, str] = {}
    section: str | None = None
    current: Extension | None = None
    last_priority = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if not line.strip():
            continue
        where = f"{file}:{lineno}"
        stripped = line.strip()
        if stripped.startswith("["):
            end = stripped.find("]")
            if end == -1:
                raise DialplanError(f"{where}: section header without ']'")
            section = stripped[1:end].strip()
            current = None
            if section not in ("general", "globals"):
                contexts.setdefault(section, Context(section))
            continue
        if section is None:
            raise DialplanError(f"{where}: line outside any [context]")
        if section == "general":
            continue
        if section == "globals":
            m = _KEYVAL_RE.match(line)
            if not m:
                raise DialplanError(f"{where}: expected NAME=value in [globals]")
            globals_[m.group(1)] = m.group(2).strip()
            continue
        ctx = contexts[section]
        m = _EXTEN_RE.match(line)
        if not m:
            kv = _KEYVAL_RE.match(line)
            if kv and kv.group(1).lower() == "include":
                ctx.includes.append(kv.group(2).strip())
                continue
            raise DialplanError(f"{where}: expected 'exten =>', 'same =>' or 'include =>'")
        kind, rest = m.group(1).lower(), m.group(2)
        if kind == "exten":
            pattern, sep, rest = rest.partition(",")
            if not sep:
                raise DialplanError(f"{where}: expected exten => pattern,priority,Application(data)")
            pattern = pattern.strip()
            current = _extension(ctx, pattern, where)
            last_priority = 0
        elif current is None:
            raise DialplanError(f"{where}: 'same =>' without a preceding 'exten =>'")
        prio_text, sep, app_text = rest.partition(",")
        if not sep:
            raise DialplanError(f"{where}: expected priority,Application(data)")
        prio_text = prio_text.strip()
        label: str | None = None
        lm = re.fullmatch(r"([^()]+?)\s*(?:\(([^()]*)\))?", prio_text)
        if not lm:
            raise DialplanError(f"{where}: bad priority {prio_text!r}")
        prio_word, label = lm.group(1).strip(), lm.group(2)
        if prio_word.lower() == "hint":
            continue
        if prio_word == "n":
            priority = last_priority + 1
        elif prio_word.isdigit():
            priority = int(prio_word)
        else:
            raise DialplanError(f"{where}: bad priority {prio_word!r}")
        if priority in current.steps:
            raise DialplanError(f"{where}: priority {priority} of extension {current.pattern!r} defined twice")
        am = _APP_RE.match(app_text)
        if not am:
            raise DialplanError(f"{where}: expected Application(data), got {app_text.strip()!r}")
        app_name = am.group(1)
        if app_name.lower() not in known:
            raise DialplanError(f"{where}: unknown application '{app_name}'")
        step = Step(
            context=ctx.name,
            exten=current.pattern,
            priority=priority,
            label=label,
            app=known[app_name.lower()],
            data=am.group(2) or "",
            file=file,
            line=lineno,
        )
        current.steps[priority] = step
        if label:
            current.labels[label] = priority
        last_priority = priority
    return Dialplan(file=file, contexts=contexts, globals=globals_)


def _extension(ctx: Context, pattern: str, where: str) -> Extension:
    if pattern.startswith("_"):
        for ext in ctx.patterns:
            if ext.pattern == pattern:
                return ext
        try:
            regex = pattern_regex(pattern[1:])
        except DialplanError as exc:
            raise DialplanError(f"{where}: {exc}") from None
        ext = Extension(pattern, regex=regex)
        ctx.patterns.append(ext)
        return ext
    return ctx.exact.setdefault(pattern, Extension(pattern))


def load_dialplan(path: Path, known_apps: Collection[str]) -> Dialplan:
    return parse_dialplan(path.read_text(encoding="utf-8"), path.name, known_apps)


# --------------------------------------------------------------------------------------------
# Substitution: ${VAR}, ${FUNC(args)}, $[expr]
# --------------------------------------------------------------------------------------------


class Resolver(Protocol):
    def variable(self, name: str) -> str: ...

    def function(self, name: str, args: str) -> str: ...


def _matching(text: str, start: int, open_: str, close: str) -> int:
    """Index of the bracket closing the one opened just before `start`."""
    depth = 1
    i = start
    while i < len(text):
        c = text[i]
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise DialplanError(f"unbalanced {open_}{close} in {text!r}")


def substitute(text: str, resolver: Resolver) -> str:
    if "$" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("${", i):
            end = _matching(text, i + 2, "{", "}")
            out.append(_expand(substitute(text[i + 2 : end], resolver), resolver))
            i = end + 1
        elif text.startswith("$[", i):
            end = _matching(text, i + 2, "[", "]")
            out.append(evaluate(substitute(text[i + 2 : end], resolver)))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _expand(inner: str, resolver: Resolver) -> str:
    paren = inner.find("(")
    if paren > 0 and inner.endswith(")") and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", inner[:paren]):
        name, args = inner[:paren].upper(), inner[paren + 1 : -1]
        pure = PURE_FUNCTIONS.get(name)
        return pure(args) if pure else resolver.function(name, args)
    m = re.fullmatch(r"([^:]+):(-?\d+)(?::(-?\d+))?", inner)
    if m:
        value = resolver.variable(m.group(1))
        offset = int(m.group(2))
        start = max(len(value) + offset, 0) if offset < 0 else offset
        if m.group(3) is None:
            return value[start:]
        length = int(m.group(3))
        return value[start : start + length] if length >= 0 else value[start:length]
    return resolver.variable(inner)


def _if(args: str) -> str:
    cond, _, branches = args.partition("?")
    true, _, false = branches.partition(":")
    return true if is_true(cond) else false


def _len(args: str) -> str:
    return str(len(args))


def _isnull(args: str) -> str:
    return "1" if args == "" else "0"


def _exists(args: str) -> str:
    return "0" if args == "" else "1"


PURE_FUNCTIONS: dict[str, Callable[[str], str]] = {"IF": _if, "LEN": _len, "ISNULL": _isnull, "EXISTS": _exists}


def is_true(value: str) -> bool:
    """Asterisk's pbx_checkcondition: empty is false, a number is its value, other text is true."""
    value = value.strip()
    if not value:
        return False
    try:
        return float(value) != 0
    except ValueError:
        return True


def split_args(data: str, sep: str = ",") -> list[str]:
    """Split application data on `sep` outside parentheses, brackets and double quotes, as
    ast_app_separate_args does (so `ExecIf(c?UserEvent(a,B: 1):NoOp())` splits right)."""
    args: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    for c in data:
        if c == '"':
            quoted = not quoted
        elif not quoted and c in "([{":
            depth += 1
        elif not quoted and c in ")]}":
            depth -= 1
        elif c == sep and depth == 0 and not quoted:
            args.append("".join(current))
            current = []
            continue
        current.append(c)
    args.append("".join(current))
    return args


# --------------------------------------------------------------------------------------------
# $[...] expressions
# --------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r'\s*("(?:[^"\\]|\\.)*"|<=|>=|!=|=~|[|&=<>+\-*/%!()]|[^\s|&=<>+\-*/%!()"]+)')


def _number(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


def _format(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if value == int(value):
        return str(int(value))
    return repr(value)


class _Parser:
    # Precedence climbing, lowest first: | & comparisons +- */% unary.
    def __init__(self, text: str) -> None:
        self.tokens: list[str] = [t for t in _TOKEN_RE.findall(text) if t.strip()]
        self.pos = 0
        self.text = text

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> float | str:
        if not self.tokens:
            return ""
        value = self.or_()
        if self.peek() is not None:
            raise DialplanError(f"syntax error in expression {self.text!r} near {self.peek()!r}")
        return value

    def or_(self) -> float | str:
        left = self.and_()
        while self.peek() == "|":
            self.take()
            right = self.and_()
            left = left if is_true(_format(left)) else right
        return left

    def and_(self) -> float | str:
        left = self.compare()
        while self.peek() == "&":
            self.take()
            right = self.compare()
            left = right if is_true(_format(left)) and is_true(_format(right)) else 0.0
        return left

    def compare(self) -> float | str:
        left = self.additive()
        while self.peek() in ("=", "!=", "<", ">", "<=", ">=", "=~"):
            op = self.take()
            right = self.additive()
            left = 1.0 if _compare(op, left, right) else 0.0
        return left

    def additive(self) -> float | str:
        left = self.multiplicative()
        while self.peek() in ("+", "-"):
            op = self.take()
            right = self.multiplicative()
            a, b = _arith(left, right, op, self.text)
            left = a + b if op == "+" else a - b
        return left

    def multiplicative(self) -> float | str:
        left = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.take()
            right = self.unary()
            a, b = _arith(left, right, op, self.text)
            if op != "*" and b == 0:
                raise DialplanError(f"division by zero in expression {self.text!r}")
            left = a * b if op == "*" else (a / b if op == "/" else float(int(a) % int(b)))
        return left

    def unary(self) -> float | str:
        token = self.peek()
        if token == "!":
            self.take()
            return 0.0 if is_true(_format(self.unary())) else 1.0
        if token == "-":
            self.take()
            a, _ = _arith(self.unary(), 0.0, "-", self.text)
            return -a
        if token == "(":
            self.take()
            value = self.or_()
            if self.peek() != ")":
                raise DialplanError(f"missing ')' in expression {self.text!r}")
            self.take()
            return value
        if token is None:
            raise DialplanError(f"unexpected end of expression {self.text!r}")
        self.take()
        if token.startswith('"'):
            return token[1:-1]
        number = _number(token)
        return token if number is None else number


def _compare(op: str, left: float | str, right: float | str) -> bool:
    if op == "=~":
        return re.match(_format(right), _format(left)) is not None
    na, nb = _as_number(left), _as_number(right)
    a: float | str
    b: float | str
    a, b = (na, nb) if na is not None and nb is not None else (_format(left), _format(right))
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b  # type: ignore[operator]
    if op == ">":
        return a > b  # type: ignore[operator]
    if op == "<=":
        return a <= b  # type: ignore[operator]
    return a >= b  # type: ignore[operator]


def _as_number(value: float | str) -> float | None:
    return value if isinstance(value, float) else _number(value)


def _arith(left: float | str, right: float | str, op: str, text: str) -> tuple[float, float]:
    a, b = _as_number(left), _as_number(right)
    if a is None or b is None:
        raise DialplanError(f"non-numeric argument to {op!r} in expression {text!r}")
    return a, b


def evaluate(expr: str) -> str:
    """Evaluate an already substituted `$[...]` body and print the result like Asterisk."""
    return _format(_Parser(expr).parse())


def parse_goto(target: str, context: str, exten: str) -> tuple[str, str, str]:
    """`[[context,]exten,]priority` -> (context, exten, priority-or-label)."""
    parts = [p.strip() for p in target.split(",")]
    if len(parts) == 1:
        return context, exten, parts[0]
    if len(parts) == 2:
        return context, parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise DialplanError(f"bad Goto target {target!r}")
