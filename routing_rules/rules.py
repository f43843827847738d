"""Routing rules: turn a call's context into a `RoutingRequest`, saying which rule matched.

Theory of operation
-------------------
A `RuleSet` is validated data (see `routing_rules/loader.py`): queues and priority classes (the
ACD's configuration), an ordered list of rules, holidays and a time zone, and test customers.
Customers speak the CRM's words: a tier (`vip`, `star5` .. `star1`) and the priority class and
priority the CRM derived from it (crm/tiers.yaml is the only tier -> priority table); a rule with
`class: by-tier` takes the customer's class and adds the customer's priority to its own.
`RuleSet.route(context)` walks the rules in order; the first whose `when` condition is true
builds the request. The last rule has no condition, so every call routes. Evaluating a rule reads
only the context (pure: the time is in the context, queue load comes from a callable the caller
supplies, customers from a `CustomerDirectory`). The request's `rule` and `explanation` fields say
which rule matched and which earlier rules did not.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from acd.config import AcdConfig, PriorityClass, QueueConfig
from callcenter.events import QueueName, RelaxationStep, RoutingRequest, SkillRequirement
from routing_rules.expr import BOOL, NUM, STR, Condition

BY_TIER = "by-tier"  # a rule's class and priority taken from the customer (as the CRM computed them)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
QUEUE_FIELDS = ("waiting", "longest_wait_s", "ready_agents", "staffed_agents")


@dataclass(frozen=True, slots=True, kw_only=True)
class Customer:
    tier: str = ""
    language: str = ""
    segment: str = ""
    priority_class: str = "standard"  # crm.repositories.CustomerCard.priority_class
    priority: int = 0


class CustomerDirectory(Protocol):
    """Who is calling: the CRM implements this; until then the rules file's `customers:`."""

    def lookup(self, ani: str) -> Customer | None: ...


@dataclass(frozen=True, slots=True)
class StaticCustomers:
    by_ani: Mapping[str, Customer]

    def lookup(self, ani: str) -> Customer | None:
        return self.by_ani.get(ani)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueLoad:
    waiting: int = 0
    longest_wait_s: float = 0.0
    ready_agents: int = 0
    staffed_agents: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CallContext:
    dnis: str
    ani: str = ""
    ivr: Mapping[str, str] = field(default_factory=dict)
    at: float  # seconds since the epoch; the rule set's time zone makes it local time
    customer: Customer | None = None  # None: looked up by ANI in the directory
    load: Callable[[str], QueueLoad] | None = None  # queue name -> live load


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    queue: QueueName
    skills: tuple[SkillRequirement, ...] = ()
    priority_class: str = "standard"
    priority: int = 0
    relaxation: tuple[RelaxationStep, ...] = ()
    overflow_queue: QueueName | None = None
    overflow_after_s: float | None = None
    max_wait_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    name: str
    when: Condition | None  # None: always (the catch-all)
    route: Route
    line: int  # where it is in the file, for explanations


def variable_types(queues: Iterable[str]) -> dict[str, str]:
    """The names a condition may use, with their types."""
    names = {
        "dnis": STR,
        "ani": STR,
        "customer.known": BOOL,
        "customer.tier": STR,
        "customer.language": STR,
        "customer.segment": STR,
        "time.hour": NUM,
        "time.minute": NUM,
        "time.hhmm": STR,
        "time.weekday": STR,
        "time.date": STR,
        "holiday": BOOL,
    }
    for q in queues:
        for f in QUEUE_FIELDS:
            names[f"queue.{q}.{f}"] = NUM
    return names


WILDCARDS = {"ivr.*": STR}


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    source: str
    timezone: str
    holidays: frozenset[str]
    classes: dict[str, PriorityClass]
    queues: dict[QueueName, QueueConfig]
    rules: tuple[Rule, ...]
    customers: StaticCustomers

    def acd_config(self, **overrides: Any) -> AcdConfig:
        return AcdConfig(queues=dict(self.queues), classes=dict(self.classes), **overrides)

    def route(self, ctx: CallContext, directory: CustomerDirectory | None = None) -> RoutingRequest:
        env = _Env(self, ctx, directory or self.customers)
        skipped: list[str] = []
        for rule in self.rules:
            if rule.when is None or rule.when.evaluate(env.get):
                return self._request(rule, skipped, env)
            skipped.append(rule.name)
        raise AssertionError("the loader guarantees a catch-all rule")  # pragma: no cover

    def _request(self, rule: Rule, skipped: list[str], env: _Env) -> RoutingRequest:
        r = rule.route
        why = f"rule {rule.name!r} (line {rule.line}) matched"
        why += f": {rule.when.text}" if rule.when else " (catch-all)"
        if skipped:
            why += f"; not matched: {', '.join(skipped)}"
        priority_class, priority = r.priority_class, r.priority
        if priority_class == BY_TIER:
            customer = env.customer() or Customer()
            priority_class, priority = customer.priority_class, priority + customer.priority
            why += f"; class {priority_class!r}, priority {priority} from tier {customer.tier!r}"
        return RoutingRequest(
            queue=r.queue,
            skills=r.skills,
            priority_class=priority_class,
            priority=priority,
            relaxation=r.relaxation,
            overflow_queue=r.overflow_queue,
            overflow_after_s=r.overflow_after_s,
            max_wait_s=r.max_wait_s,
            rule=rule.name,
            explanation=why,
        )


class _Env:
    """Name lookup for one evaluation; time and customer are computed once, on first use."""

    def __init__(self, rules: RuleSet, ctx: CallContext, directory: CustomerDirectory) -> None:
        self.rules = rules
        self.ctx = ctx
        self.directory = directory
        self._local: dt.datetime | None = None
        self._customer: Customer | None = None
        self._looked_up = False

    def customer(self) -> Customer | None:
        if not self._looked_up:
            self._customer = self.ctx.customer or (self.directory.lookup(self.ctx.ani) if self.ctx.ani else None)
            self._looked_up = True
        return self._customer

    def local(self) -> dt.datetime:
        if self._local is None:
            self._local = dt.datetime.fromtimestamp(self.ctx.at, ZoneInfo(self.rules.timezone))
        return self._local

    def get(self, name: str) -> Any:
        ctx = self.ctx
        if name == "dnis":
            return ctx.dnis
        if name == "ani":
            return ctx.ani
        head, _, rest = name.partition(".")
        if head == "ivr":
            return ctx.ivr.get(rest, "")
        if head == "customer":
            c = self.customer()
            if rest == "known":
                return c is not None
            return getattr(c, rest) if c is not None else ""
        if head == "time":
            t = self.local()
            return {
                "hour": float(t.hour),
                "minute": float(t.minute),
                "hhmm": f"{t.hour:02d}:{t.minute:02d}",
                "weekday": WEEKDAYS[t.weekday()],
                "date": t.date().isoformat(),
            }[rest]
        if name == "holiday":
            return self.local().date().isoformat() in self.rules.holidays
        if head == "queue":
            queue, _, fld = rest.rpartition(".")
            load = ctx.load(queue) if ctx.load is not None else QueueLoad()
            return float(getattr(load, fld))
        raise KeyError(name)  # pragma: no cover - the type checker only admits known names


def wait_variables(request: RoutingRequest, *, fallback_after_s: float, margin_s: float = 30.0) -> dict[str, str]:
    """Channel variables to set before the caller enters `[acd-wait]`.

    The dialplan's own timer (`ACD_FALLBACK_TIMEOUT`, restarted on every entry) is the safety net
    for a control plane that is gone; it must not cut short a wait the ACD still manages. So it
    is set to the request's maximum wait (or `acd.fallback_after_s` when the request has none)
    plus a margin: while the ACD runs, its own max-wait action always comes first.
    """
    wait = request.max_wait_s if request.max_wait_s is not None else fallback_after_s
    return {"ACD_FALLBACK_TIMEOUT": str(math.ceil(wait + margin_s)), "ACD_QUEUE": request.queue}
