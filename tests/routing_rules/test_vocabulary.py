"""The rooms speak one vocabulary (docs/decisions/0005-one-vocabulary.md): what the IVR hands over,
the CRM's tiers and classes and the CRM's skills are the words the routing rules use, unmapped."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from crm.rfm import DEFAULT_TIER_CONFIG
from crm.seed import SKILLS, queue_mirror_rows
from routing_rules.loader import DEFAULT_RULES_FILE, load_rules
from routing_rules.rules import CallContext, Customer

FLOW = Path(__file__).resolve().parents[2] / "flows" / "hotline.yaml"
MONDAY_10AM = dt.datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


def flow_services() -> set[str]:
    """Every literal `service` the hotline flow sets or hands to a route node."""
    services: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("set", "inputs"):
                value = node.get(key)
                if isinstance(value, dict) and "${" not in str(value.get("service", "${")):
                    services.add(value["service"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(yaml.safe_load(FLOW.read_text(encoding="utf-8"))["nodes"])
    return services


def test_every_service_the_ivr_hands_over_has_its_own_rule() -> None:
    rules = load_rules(DEFAULT_RULES_FILE)
    services = flow_services()
    assert services == {"billing", "data", "technical", "complaints", "general", "vip"}
    routed = {
        s: rules.route(CallContext(dnis="10086", ivr={"service": s, "language": "zh"}, at=MONDAY_10AM)).rule
        for s in services
    }
    assert routed == {"billing": "billing", "data": "data-plan", "technical": "tech-support",
                      "complaints": "complaint", "general": "general", "vip": "vip-line"}


def test_the_crm_tiers_and_classes_are_the_rules_words() -> None:
    rules = load_rules(DEFAULT_RULES_FILE)
    classes = {p.priority_class for p in DEFAULT_TIER_CONFIG.priority.values()}
    assert classes <= set(rules.classes), "every class the CRM gives a customer has a head start in the rules"
    for tier in ("vip", "star5"):  # the VIP line's tiers, as the CRM names them
        p = DEFAULT_TIER_CONFIG.priority_for(tier)
        card = Customer(tier=tier, priority_class=p.priority_class, priority=p.priority)
        req = rules.route(CallContext(dnis="10086", ivr={"service": "billing"}, at=MONDAY_10AM, customer=card))
        assert (req.rule, req.queue) == ("vip-line", "vip")
    for customer in rules.customers.by_ani.values():  # the file's test customers agree with crm/tiers.yaml
        p = DEFAULT_TIER_CONFIG.priority_for(customer.tier)
        assert (customer.priority_class, customer.priority) == (p.priority_class, p.priority), customer


def test_the_crm_skills_are_the_rules_skills_and_its_queues_mirror_the_rules() -> None:
    rules = load_rules(DEFAULT_RULES_FILE)
    required = {r.skill for q in rules.queues.values() for r in q.skills}
    required |= {r.skill for rule in rules.rules for r in rule.route.skills}
    assert required == {name for name, _ in SKILLS}
    rows = {row["name"]: row for row in queue_mirror_rows(rules.queues.values())}
    assert set(rows) == set(rules.queues)
    assert rows["complaints"] == {"name": "complaints", "description": "", "strategy": "most-skilled",
                                  "skills": [{"skill": "complaints", "min_level": 1}], "service_level_s": 30.0,
                                  "wrap_up_s": 30.0}
