"""Loading and validating a routing rules file.

Every problem is reported as `FILE:LINE:COLUMN: problem`; all problems of a file are collected
and raised together as one `RuleError`, so an admin fixes a file in one pass. Conditions are
compiled here (routing_rules/expr.py) and their errors point at the offending character inside
the YAML string. After loading, the file's `examples:` are routed and must give the rule and queue
they expect: a rule change that breaks an example fails at load, not in production.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from acd.config import MaxWaitAction, PriorityClass, QueueConfig, Strategy
from callcenter.errors import ConfigError
from callcenter.events import QueueName, RelaxationStep, SkillRequirement
from routing_rules.expr import ExprError, compile_expr
from routing_rules.rules import (
    BY_TIER,
    WILDCARDS,
    CallContext,
    Customer,
    QueueLoad,
    Route,
    Rule,
    RuleSet,
    StaticCustomers,
    variable_types,
)

T = TypeVar("T")
DEFAULT_RULES_FILE = Path(__file__).resolve().parent / "rules" / "hotline.yaml"
_SKILL = re.compile(r"^([a-z][a-z0-9_-]*)(?:\s*>=\s*(\d+))?$")
_TOP = ("version", "timezone", "holidays", "skills", "classes", "queues", "rules", "customers", "examples")
_QUEUE_KEYS = ("strategy", "skills", "wrap_up_s", "service_level_s", "ring_timeout_s", "on_max_wait")
_RULE_KEYS = ("name", "when", "queue", "skills", "class", "priority", "relax", "overflow", "max_wait_s")


class RuleError(ConfigError):
    """A rules file is invalid. `errors` lists every problem as `FILE:LINE:COLUMN: problem`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Invalid(Exception):
    """One problem; caught per item so loading continues and reports the others."""


class NodeReader:
    """Reads a composed YAML tree, collecting `FILE:LINE:COLUMN: problem` errors."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = text.splitlines()
        self.errors: list[str] = []

    def at(self, node: yaml.Node, problem: str, offset: int | None = None) -> Invalid:
        line, col = node.start_mark.line, node.start_mark.column
        if offset is not None and isinstance(node, yaml.ScalarNode):
            line, col = self._inside(node, offset)
        self.errors.append(f"{self.source}:{line + 1}:{col + 1}: {problem}")
        return Invalid(problem)

    def _inside(self, node: yaml.ScalarNode, offset: int) -> tuple[int, int]:
        """Where character `offset` of a scalar's value is in the file (0-based)."""
        mark = node.start_mark
        if node.style in ("|", ">"):
            before = node.value[:offset]
            line = mark.line + 1 + before.count("\n")
            text = self.lines[line] if line < len(self.lines) else ""
            indent = len(text) - len(text.lstrip(" "))
            return line, indent + len(before.rsplit("\n", 1)[-1])
        if "\n" in node.value:
            return mark.line, mark.column
        return mark.line, mark.column + offset + (1 if node.style in ("'", '"') else 0)

    def guard(self, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return fn(*args)
        except Invalid:
            return None

    # Typed node readers --------------------------------------------------------------------

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...] | None = None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.at(node, f"{what} must be a mapping")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            key = str(k.value)
            if key in out:
                raise self.at(k, f"{what}: duplicate key {key!r}")
            if allowed is not None and key not in allowed:
                raise self.at(k, f"{what}: unknown key {key!r}; expected one of {', '.join(allowed)}")
            out[key] = (k, v)
        return out

    def seq(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.at(node, f"{what} must be a list")
        return list(node.value)

    def string(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null" or node.value == "":
            raise self.at(node, f"{what} must be a non-empty string")
        return str(node.value)

    def number(self, node: yaml.Node, what: str, *, minimum: float = 0.0) -> float:
        try:
            if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:bool":
                raise ValueError
            value = float(node.value)
        except ValueError:
            raise self.at(node, f"{what} must be a number, got {getattr(node, 'value', '...')!r}") from None
        if value < minimum:
            raise self.at(node, f"{what} must be at least {minimum:g}, got {value:g}")
        return value

    def integer(self, node: yaml.Node, what: str) -> int:
        value = self.number(node, what, minimum=-1e9)
        if value != int(value):
            raise self.at(node, f"{what} must be a whole number, got {value:g}")
        return int(value)

    def choice(self, node: yaml.Node, what: str, choices: tuple[str, ...]) -> str:
        value = self.string(node, what)
        if value not in choices:
            raise self.at(node, f"{what} {value!r} is not one of {', '.join(choices)}")
        return value

    def instant(self, node: yaml.Node, what: str, timezone: str) -> float:
        """An ISO date and time as epoch seconds; without an offset it is local time in `timezone`."""
        try:
            local = dt.datetime.fromisoformat(str(node.value))
        except ValueError:
            raise self.at(node, f"{what}: {node.value!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
        if local.tzinfo is None:
            local = local.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
        return local.timestamp()

    def skills(self, node: yaml.Node, what: str, known: set[str]) -> tuple[SkillRequirement, ...]:
        reqs: list[SkillRequirement] = []
        for item in self.seq(node, what):
            text = self.string(item, what)
            m = _SKILL.match(text.strip())
            if m is None or (m.group(2) is not None and not 1 <= int(m.group(2)) <= 5):
                raise self.at(item, f"{what}: {text!r} is not SKILL or SKILL>=LEVEL with LEVEL 1..5")
            if known and m.group(1) not in known:
                raise self.at(item, f"{what}: unknown skill {m.group(1)!r}; declared skills: {', '.join(sorted(known))}")
            reqs.append(SkillRequirement(skill=m.group(1), min_level=int(m.group(2) or 1)))
        return tuple(reqs)


def load_rules(path: str | Path) -> RuleSet:
    """Load and validate one rules file. Raises `RuleError` listing every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError([f"{p}: {exc.strerror or exc}"]) from None
    return load_rules_text(text, str(p))


def compose(text: str, source: str) -> yaml.Node:
    """The YAML node tree of `text` (marks kept for error positions), or `RuleError`."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise RuleError([f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    if root is None:
        raise RuleError([f"{source}:1:1: the file is empty"])
    return root


def load_rules_text(text: str, source: str) -> RuleSet:
    return rules_from_node(compose(text, source), NodeReader(source, text))


def rules_from_node(root: yaml.Node, ld: NodeReader) -> RuleSet:
    """A rule set from a mapping node (a rules file, or a scenario's inline `rules:`)."""
    source = ld.source
    try:
        top = ld.mapping(root, "the rules file", _TOP)
    except Invalid:
        raise RuleError(ld.errors) from None
    for key in ("version", "queues", "rules"):
        if key not in top:
            ld.at(root, f"missing {key!r}")
    if "version" in top and ld.guard(lambda: ld.integer(top["version"][1], "version")) not in (1, None):
        ld.at(top["version"][1], "version must be 1")
    timezone = "UTC"
    if "timezone" in top:
        tz_node = top["timezone"][1]
        timezone = ld.guard(lambda: ld.string(tz_node, "timezone")) or "UTC"
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            ld.at(tz_node, f"unknown time zone {timezone!r}")
            timezone = "UTC"
    holidays = _holidays(ld, top)
    known_skills: set[str] = set()
    if "skills" in top:
        for item in ld.guard(lambda: ld.seq(top["skills"][1], "skills")) or []:
            name = ld.guard(ld.string, item, "skills")
            if name:
                known_skills.add(name)
    classes = _classes(ld, top)
    queues = _queues(ld, top, known_skills)
    rules = _rules(ld, top, queues, classes, known_skills)
    customers = _customers(ld, top, classes)
    if ld.errors:
        raise RuleError(ld.errors)
    ruleset = RuleSet(
        source=source,
        timezone=timezone,
        holidays=frozenset(holidays),
        classes=classes,
        queues=queues,
        rules=tuple(rules),
        customers=StaticCustomers(customers),
    )
    _check_examples(ld, top, ruleset)
    if ld.errors:
        raise RuleError(ld.errors)
    return ruleset


def _holidays(ld: NodeReader, top: dict[str, tuple[yaml.Node, yaml.Node]]) -> list[str]:
    out: list[str] = []
    if "holidays" not in top:
        return out
    for item in ld.guard(lambda: ld.seq(top["holidays"][1], "holidays")) or []:
        value = getattr(item, "value", None)
        try:
            out.append(dt.date.fromisoformat(str(value)).isoformat())
        except ValueError:
            ld.at(item, f"holidays: {value!r} is not a date (YYYY-MM-DD)")
    return out


def _classes(ld: NodeReader, top: dict[str, tuple[yaml.Node, yaml.Node]]) -> dict[str, PriorityClass]:
    classes = {"standard": PriorityClass(name="standard")}
    if "classes" not in top:
        return classes
    for name, (_, node) in (ld.guard(lambda: ld.mapping(top["classes"][1], "classes")) or {}).items():
        fields = ld.guard(ld.mapping, node, f"class {name!r}", ("head_start_s",))
        if fields is None:
            continue
        head = 0.0
        if "head_start_s" in fields:
            head = ld.guard(ld.number, fields["head_start_s"][1], f"class {name!r} head_start_s") or 0.0
        classes[name] = PriorityClass(name=name, head_start_s=head)
    return classes


def _queues(ld: NodeReader, top: dict[str, tuple[yaml.Node, yaml.Node]], skills: set[str]) -> dict[QueueName, QueueConfig]:
    queues: dict[QueueName, QueueConfig] = {}
    if "queues" not in top:
        return queues

    def one(name: str, node: yaml.Node) -> QueueConfig:
        what = f"queue {name!r}"
        f = ld.mapping(node, what, _QUEUE_KEYS)
        kw: dict[str, Any] = {}
        if "strategy" in f:
            kw["strategy"] = Strategy(ld.choice(f["strategy"][1], f"{what} strategy", tuple(s.value for s in Strategy)))
        if "skills" in f:
            kw["skills"] = ld.skills(f["skills"][1], f"{what} skills", skills)
        for key in ("wrap_up_s", "service_level_s", "ring_timeout_s"):
            if key in f:
                kw[key] = ld.number(f[key][1], f"{what} {key}")
        if "on_max_wait" in f:
            actions = tuple(a.value for a in MaxWaitAction)
            kw["on_max_wait"] = MaxWaitAction(ld.choice(f["on_max_wait"][1], f"{what} on_max_wait", actions))
        return QueueConfig(name=QueueName(name), **kw)

    for name, (_, node) in (ld.guard(lambda: ld.mapping(top["queues"][1], "queues")) or {}).items():
        # An invalid queue is still declared, so rules naming it report only their own problems.
        queues[QueueName(name)] = ld.guard(one, name, node) or QueueConfig(name=QueueName(name))
    return queues


def _rules(
    ld: NodeReader,
    top: dict[str, tuple[yaml.Node, yaml.Node]],
    queues: dict[QueueName, QueueConfig],
    classes: dict[str, PriorityClass],
    skills: set[str],
) -> list[Rule]:
    if "rules" not in top:
        return []
    names = variable_types(list(queues))
    rules: list[Rule] = []
    seen: set[str] = set()
    items = ld.guard(lambda: ld.seq(top["rules"][1], "rules")) or []

    def queue_name(node: yaml.Node, what: str) -> QueueName:
        name = ld.string(node, what)
        if name not in queues:
            raise ld.at(node, f"{what}: unknown queue {name!r}; declared queues: {', '.join(sorted(queues))}")
        return QueueName(name)

    def one(index: int, node: yaml.Node) -> Rule:
        f = ld.mapping(node, f"rule {index + 1}", _RULE_KEYS)
        if "name" not in f:
            raise ld.at(node, f"rule {index + 1} has no 'name'")
        name = ld.string(f["name"][1], f"rule {index + 1} name")
        what = f"rule {name!r}"
        if name in seen:
            raise ld.at(f["name"][1], f"{what}: the name is used by an earlier rule")
        seen.add(name)
        if "queue" not in f:
            raise ld.at(node, f"{what} has no 'queue'")
        when = None
        if "when" in f:
            when_node = f["when"][1]
            text = ld.string(when_node, f"{what} when")
            try:
                when = compile_expr(text, names, WILDCARDS)
            except ExprError as exc:
                raise ld.at(when_node, f"{what} when: {exc.problem}", exc.offset) from None
        kw: dict[str, Any] = {"queue": queue_name(f["queue"][1], f"{what} queue")}
        if "skills" in f:
            kw["skills"] = ld.skills(f["skills"][1], f"{what} skills", skills)
        if "class" in f:
            cls = ld.string(f["class"][1], f"{what} class")
            if cls not in classes and cls != BY_TIER:
                raise ld.at(f["class"][1], f"{what} class: unknown class {cls!r}; declared classes: {', '.join(sorted(classes))}")
            kw["priority_class"] = cls
        if "priority" in f:
            kw["priority"] = ld.integer(f["priority"][1], f"{what} priority")
        if "max_wait_s" in f:
            kw["max_wait_s"] = ld.number(f["max_wait_s"][1], f"{what} max_wait_s")
        if "overflow" in f:
            o = ld.mapping(f["overflow"][1], f"{what} overflow", ("queue", "after_s"))
            if "queue" not in o or "after_s" not in o:
                raise ld.at(f["overflow"][1], f"{what} overflow needs 'queue' and 'after_s'")
            kw["overflow_queue"] = queue_name(o["queue"][1], f"{what} overflow queue")
            kw["overflow_after_s"] = ld.number(o["after_s"][1], f"{what} overflow after_s")
        if "relax" in f:
            steps: list[RelaxationStep] = []
            for step_node in ld.seq(f["relax"][1], f"{what} relax"):
                s = ld.mapping(step_node, f"{what} relax step", ("after_s", "skills"))
                if "after_s" not in s or "skills" not in s:
                    raise ld.at(step_node, f"{what} relax step needs 'after_s' and 'skills'")
                after = ld.number(s["after_s"][1], f"{what} relax after_s")
                if steps and after <= steps[-1].after_s:
                    raise ld.at(s["after_s"][1], f"{what} relax steps must have increasing after_s")
                steps.append(RelaxationStep(after_s=after, skills=ld.skills(s["skills"][1], f"{what} relax skills", skills)))
            kw["relaxation"] = tuple(steps)
        return Rule(name=name, when=when, route=Route(**kw), line=node.start_mark.line + 1)

    for i, node in enumerate(items):
        rule = ld.guard(one, i, node)
        if rule is not None:
            rules.append(rule)
    if rules and not ld.errors:
        for rule in rules[:-1]:
            if rule.when is None:
                ld.at(items[rules.index(rule)], f"rule {rule.name!r} has no 'when' but is not last: the rules after it never match")
        if rules[-1].when is not None:
            ld.at(items[-1], f"the last rule, {rules[-1].name!r}, must have no 'when' so that every call routes")
    elif not items:
        ld.at(top["rules"][1], "rules is empty: at least a catch-all rule is needed")
    return rules


def _customers(
    ld: NodeReader, top: dict[str, tuple[yaml.Node, yaml.Node]], classes: dict[str, PriorityClass]
) -> dict[str, Customer]:
    """Test customers, written as the CRM's card would give them: tier, class, priority."""
    out: dict[str, Customer] = {}
    if "customers" not in top:
        return out

    def one(ani: str, node: yaml.Node) -> Customer:
        what = f"customer {ani!r}"
        f = ld.mapping(node, what, ("tier", "class", "priority", "language", "segment"))
        kw: dict[str, Any] = {k: ld.string(f[k][1], f"{what} {k}") for k in ("tier", "language", "segment") if k in f}
        if "class" in f:
            kw["priority_class"] = ld.choice(f["class"][1], f"{what} class", tuple(classes))
        if "priority" in f:
            kw["priority"] = ld.integer(f["priority"][1], f"{what} priority")
        return Customer(**kw)

    for ani, (_, node) in (ld.guard(lambda: ld.mapping(top["customers"][1], "customers")) or {}).items():
        customer = ld.guard(one, ani, node)
        if customer is not None:
            out[ani] = customer
    return out


def _check_examples(ld: NodeReader, top: dict[str, tuple[yaml.Node, yaml.Node]], rules: RuleSet) -> None:
    if "examples" not in top:
        return

    def one(node: yaml.Node) -> None:
        f = ld.mapping(node, "example", ("call", "load", "expect"))
        if "call" not in f or "expect" not in f:
            raise ld.at(node, "an example needs 'call' and 'expect'")
        call = ld.mapping(f["call"][1], "example call", ("dnis", "ani", "ivr", "at"))
        if "dnis" not in call or "at" not in call:
            raise ld.at(f["call"][1], "example call needs 'dnis' and 'at'")
        at = ld.instant(call["at"][1], "example at", rules.timezone)
        ivr = {k: str(v.value) for k, (_, v) in ld.mapping(call["ivr"][1], "example ivr").items()} if "ivr" in call else {}
        loads: dict[str, QueueLoad] = {}
        if "load" in f:
            for q, (_, qnode) in ld.mapping(f["load"][1], "example load").items():
                fields = ld.mapping(qnode, f"example load {q!r}", ("waiting", "longest_wait_s", "ready_agents", "staffed_agents"))
                loads[q] = QueueLoad(**{k: ld.number(v, f"example load {q} {k}") for k, (_, v) in fields.items()})  # type: ignore[arg-type]
        ctx = CallContext(
            dnis=str(call["dnis"][1].value),
            ani=str(call["ani"][1].value) if "ani" in call else "",
            ivr=ivr,
            at=at,
            load=lambda q: loads.get(q, QueueLoad()),
        )
        request = rules.route(ctx)
        expect = ld.mapping(f["expect"][1], "example expect", ("rule", "queue", "class", "priority"))
        got = {"rule": request.rule, "queue": request.queue, "class": request.priority_class,
               "priority": str(request.priority)}
        for key, (_, value) in expect.items():
            if got[key] != str(value.value):
                raise ld.at(value, f"example expects {key} {value.value!r} but got {got[key]!r} ({request.explanation})")

    for node in ld.guard(lambda: ld.seq(top["examples"][1], "examples")) or []:
        ld.guard(one, node)
