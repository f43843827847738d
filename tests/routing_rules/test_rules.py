from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callcenter.cli import main
from callcenter.events import QueueName, RelaxationStep, RoutingRequest, SkillRequirement
from routing_rules.loader import RuleError, load_rules, load_rules_text
from routing_rules.rules import CallContext, Customer, QueueLoad

HOTLINE = Path(__file__).resolve().parents[2] / "routing_rules" / "rules" / "hotline.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


def test_the_hotline_rules_load_and_their_examples_hold() -> None:
    rules = load_rules(HOTLINE)
    assert [r.name for r in rules.rules][-1] == "general"
    assert set(rules.queues) == {"vip", "billing", "data", "tech", "complaints", "english", "general"}
    assert rules.classes["vip"].head_start_s == 180


def test_a_star4_customer_calling_about_billing() -> None:
    rules = load_rules(HOTLINE)
    ivr = {"service": "billing", "language": "zh"}
    req = rules.route(CallContext(dnis="10086", ani="13800000003", ivr=ivr, at=at("2026-11-23T10:00")))
    assert (req.queue, req.priority_class, req.priority, req.rule) == ("billing", "gold", 60, "billing")
    assert req.skills == (SkillRequirement(skill="billing", min_level=2),)
    assert req.relaxation == (RelaxationStep(after_s=45, skills=(SkillRequirement(skill="billing", min_level=1),)),)
    assert (req.overflow_queue, req.overflow_after_s, req.max_wait_s) == ("general", 240, 900)
    assert req.explanation == (
        "rule 'billing' (line 87) matched: ivr.service == \"billing\"; not matched: vip-complaint, vip-line, english, "
        "complaint-after-hours, complaint, billing-spill; class 'gold', priority 60 from tier 'star4'"
    )


def test_the_crm_customer_wins_over_the_test_data_and_load_moves_billing_calls() -> None:
    rules = load_rules(HOTLINE)
    busy = {"billing": QueueLoad(waiting=30), "general": QueueLoad(ready_agents=3)}
    ctx = CallContext(
        dnis="10086", ani="13800000003", ivr={"service": "billing"}, at=at("2026-11-23T10:00"),
        customer=Customer(tier="vip", priority_class="vip", priority=100), load=lambda q: busy.get(q, QueueLoad()),
    )
    assert rules.route(ctx).rule == "vip-line"
    # `class: by-tier` takes the class and priority from the card, not from the file's test customer.
    card = Customer(tier="star3", priority_class="silver", priority=40)
    req = rules.route(CallContext(dnis="10086", ani="13800000003", ivr={"service": "billing"}, at=at("2026-11-23T10:00"),
                                  customer=card))
    assert (req.rule, req.priority_class, req.priority) == ("billing", "silver", 40)
    ctx = CallContext(dnis="10086", ani="139", ivr={"service": "billing"}, at=at("2026-11-23T10:00"), load=lambda q: busy.get(q, QueueLoad()))
    assert (rules.route(ctx).rule, rules.route(ctx).queue) == ("billing-spill", "general")


def test_holidays_and_hours_send_complaints_to_the_night_queue() -> None:
    rules = load_rules(HOTLINE)
    ctx = {"dnis": "10086", "ani": "13800000005", "ivr": {"service": "complaints"}}
    assert rules.route(CallContext(**ctx, at=at("2026-11-23T19:59"))).rule == "complaint"
    assert rules.route(CallContext(**ctx, at=at("2026-11-23T20:00"))).rule == "complaint-after-hours"
    assert rules.route(CallContext(**ctx, at=at("2026-05-01T12:00"))).rule == "complaint-after-hours"


GOOD = """\
version: 1
skills: [billing]
classes: {vip: {head_start_s: 60}}
queues:
  billing: {skills: [billing]}
rules:
  - name: vip
    when: customer.tier == "vip"
    queue: billing
    class: vip
  - name: rest
    queue: billing
"""


def test_a_minimal_file_routes_everything() -> None:
    rules = load_rules_text(GOOD, "good.yaml")
    req = rules.route(CallContext(dnis="1", at=0.0))
    assert (req.rule, req.priority_class, req.explanation) == (
        "rest", "standard", "rule 'rest' (line 11) matched (catch-all); not matched: vip"
    )


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (("queue: billing\n    class: vip", "queue: biling\n    class: vip"),
         ["r.yaml:9:12: rule 'vip' queue: unknown queue 'biling'; declared queues: billing"]),
        (('customer.tier == "vip"', 'customer.tier == vip'),
         ["r.yaml:8:28: rule 'vip' when: unknown name 'vip'; known: ani, customer.known, customer.language, "
          "customer.segment, customer.tier, dnis, holiday, ivr.*, queue.billing.longest_wait_s, "
          "queue.billing.ready_agents, queue.billing.staffed_agents, queue.billing.waiting, time.date, time.hhmm, "
          "time.hour, time.minute, time.weekday"]),
        (("class: vip", "class: gold"),
         ["r.yaml:10:12: rule 'vip' class: unknown class 'gold'; declared classes: standard, vip"]),
        (("version: 1", "version: 1\ntiers: {vip: vip}"),
         ["r.yaml:2:1: the rules file: unknown key 'tiers'; expected one of version, timezone, holidays, skills, "
          "classes, queues, rules, customers, examples"]),
        (("rules:", 'customers: {"1": {tier: vip, class: gold}}\nrules:'),
         ["r.yaml:6:37: customer '1' class 'gold' is not one of standard, vip"]),
        (("  billing: {skills: [billing]}", "  billing: {skills: [billing>=9], wrapup_s: 3}"),
         ["r.yaml:5:35: queue 'billing': unknown key 'wrapup_s'; expected one of strategy, skills, wrap_up_s, "
          "service_level_s, ring_timeout_s, on_max_wait"]),
        (("  billing: {skills: [billing]}", "  billing: {skills: [billing>=9]}"),
         ["r.yaml:5:22: queue 'billing' skills: 'billing>=9' is not SKILL or SKILL>=LEVEL with LEVEL 1..5"]),
        (("  - name: rest\n    queue: billing\n", "  - name: rest\n    queue: billing\n    when: holiday\n"),
         ["r.yaml:11:5: the last rule, 'rest', must have no 'when' so that every call routes"]),
        (("version: 1", "version: 2"), ["r.yaml:1:10: version must be 1"]),
        (("queue: billing\n    class: vip", "queue: billing\n    class: vip\n    relax: [{after_s: 5, skills: [tech]}]"),
         ["r.yaml:11:35: rule 'vip' relax skills: unknown skill 'tech'; declared skills: billing"]),
    ],
)
def test_errors_name_file_line_column_and_problem(change: tuple[str, str], errors: list[str]) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(RuleError) as exc:
        load_rules_text(GOOD.replace(old, new), "r.yaml")
    assert exc.value.errors == errors


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = GOOD.replace("queue: billing\n    class: vip", "queue: nowhere").replace("when: customer", "when: custom")
    with pytest.raises(RuleError) as exc:
        load_rules_text(text.replace("  billing: {skills: [billing]}", "  billing: {strategy: fastest}"), "r.yaml")
    assert [e.split(": ", 1)[0] for e in exc.value.errors] == ["r.yaml:5:23", "r.yaml:8:11"]


def test_a_broken_example_fails_the_load() -> None:
    text = GOOD + 'examples:\n  - call: {dnis: "1", at: "2026-01-01T00:00"}\n    expect: {rule: vip}\n'
    with pytest.raises(RuleError) as exc:
        load_rules_text(text, "r.yaml")
    assert exc.value.errors == [
        "r.yaml:15:20: example expects rule 'vip' but got 'rest' "
        "(rule 'rest' (line 11) matched (catch-all); not matched: vip)"
    ]


def test_not_yaml_is_reported_with_its_position() -> None:
    with pytest.raises(RuleError) as exc:
        load_rules_text("rules: [\n", "r.yaml")
    assert str(exc.value).startswith("r.yaml:2:1: not valid YAML")


def test_routing_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["routing", "check", str(HOTLINE)]) == 0
    assert capsys.readouterr().out == f"ok: {HOTLINE} (10 rules, 7 queues)\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("class: vip", "class: gold"))
    assert main(["routing", "check", str(bad)]) == 1
    assert capsys.readouterr().err == f"{bad}:10:12: rule 'vip' class: unknown class 'gold'; declared classes: standard, vip\n"
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)  # valid, but declares only vip and standard
    assert main(["routing", "check", str(good)]) == 1
    assert capsys.readouterr().err == f"{good}: classes the CRM gives customers (crm/tiers.yaml) are not declared: gold, silver\n"
    args = ["routing", "route", "--rules", str(HOTLINE), "--dnis", "10085", "--ani", "1", "--at", "2026-11-23T10:00"]
    assert main(args) == 0
    req = json.loads(capsys.readouterr().out)
    assert (req["queue"], req["rule"], req["priority_class"]) == ("vip", "vip-line", "vip")
    assert main(["routing", "explain", "c1", "--log", str(tmp_path / "none.jsonl")]) == 1
    assert capsys.readouterr().err == f"callcenter routing explain: no decision log at {tmp_path / 'none.jsonl'}\n"


def test_wait_variables_keep_the_dialplan_timer_behind_the_acd() -> None:
    from routing_rules.rules import wait_variables

    rules = load_rules(HOTLINE)
    req = rules.route(CallContext(dnis="10086", ani="1", ivr={"service": "billing"}, at=at("2026-11-23T10:00")))
    assert wait_variables(req, fallback_after_s=120) == {"ACD_FALLBACK_TIMEOUT": "930", "ACD_QUEUE": "billing"}
    no_limit = RoutingRequest(queue=QueueName("billing"))
    assert wait_variables(no_limit, fallback_after_s=120, margin_s=10.5) == {"ACD_FALLBACK_TIMEOUT": "131", "ACD_QUEUE": "billing"}
