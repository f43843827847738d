"""The pure interpreter, node type by node type: no asyncio, no mocks, just events in, commands out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcenter.errors import IllegalTransition
from callcenter.events import CallId, ChannelId, Hangup, IvrEntered, IvrExited, IvrInput, SetVariable
from ivr.flow import Flow
from ivr.interpreter import (
    MAX_HOPS,
    CallerHungUp,
    Command,
    DigitsEntered,
    Exec,
    Exit,
    GetDigits,
    Listen,
    Lookup,
    LookupAnswered,
    NoInput,
    Play,
    PromptPlayed,
    SayValue,
    Session,
    SpeechHeard,
    start,
    step,
)
from tests.ivr.conftest import FlowFactory

T0 = 1_700_000_000.0
EN = frozenset({"en"})


def begin(flow: Flow, *, speech: frozenset[str] = frozenset(), ani: str = "13800138000", at: float = T0) -> tuple[Session, list[Command]]:
    return start(
        flow,
        call_id=CallId("c1"),
        channel_id=ChannelId("ch1"),
        ani=ani,
        dnis="10086",
        at=at,
        speech_languages=speech,
    )


def feed(session: Session, *events: Any) -> tuple[Session, list[Command]]:
    out: list[Command] = []
    for event in events:
        session, commands = step(session, event)
        out += commands
    return session, out


def exited(commands: Sequence[Command]) -> IvrExited:
    (event,) = [c for c in commands if isinstance(c, IvrExited)]
    return event


def inputs(commands: Sequence[Command]) -> list[tuple[str, str, str]]:
    return [(c.node, c.kind, c.value) for c in commands if isinstance(c, IvrInput)]


MENU = """
flow: m
languages: [en]
start: menu
prompts:
  menu: {en: "Press 1 for sales, 2 for support."}
  sorry: {en: "Sorry."}
  silence: {en: "I heard nothing."}
nodes:
  menu:
    type: menu
    prompt: menu
    timeout_s: 3
    retries: 2
    no_input: silence
    no_match: sorry
    options:
      - {key: 1, say: {en: [sales, buy something]}, set: {service: sales}, next: sales}
      - {key: 2, say: {en: [support, help]}, set: {service: support}, next: support}
    on_failure: operator
  sales: {type: route, queue: sales, inputs: {service: "${service}"}}
  support: {type: route, inputs: {service: "${service}"}}
  operator: {type: transfer, to: "8000"}
"""


def test_start_emits_ivr_entered_then_the_menu_asks_for_one_key(make_flow: FlowFactory) -> None:
    flow = make_flow(MENU)
    session, commands = begin(flow)
    assert commands[0] == IvrEntered(
        call_id=CallId("c1"), channel_id=ChannelId("ch1"), flow="m", flow_version=flow.version, language="en", at=T0
    )
    (ask,) = commands[1:]
    assert isinstance(ask, GetDigits)
    assert (ask.max_digits, ask.timeout_s, ask.terminator) == (1, 3.0, "")
    assert [p.name for p in ask.prompts] == ["menu"]
    assert session.waiting == "input"


def test_menu_key_sets_variables_and_routes_with_inputs(make_flow: FlowFactory) -> None:
    session, _ = begin(make_flow(MENU))
    session, commands = feed(session, DigitsEntered(digits="1", at=T0 + 4))
    assert inputs(commands) == [("menu", "dtmf", "1")]
    assert SetVariable(channel_id=ChannelId("ch1"), name="CC_IVR_QUEUE", value="sales") in commands
    assert SetVariable(channel_id=ChannelId("ch1"), name="CC_IVR_RESULT", value="route") in commands
    assert exited(commands).path == ("menu", "sales")
    assert exited(commands).outcome == "route"
    assert commands[-1] == Exit(outcome="route", routing={"service": "sales", "language": "en", "queue": "sales"})
    assert session.ended
    with pytest.raises(IllegalTransition, match=r"^call c1: IVR session already ended; got DigitsEntered$"):
        step(session, DigitsEntered(digits="1", at=T0 + 5))


def test_menu_retries_with_the_right_reprompt_then_goes_to_on_failure(make_flow: FlowFactory) -> None:
    session, _ = begin(make_flow(MENU))
    session, c1 = feed(session, NoInput(at=T0 + 3))
    (reask,) = [c for c in c1 if isinstance(c, GetDigits)]
    assert [p.name for p in reask.prompts] == ["silence", "menu"]
    session, c2 = feed(session, DigitsEntered(digits="7", at=T0 + 6))
    (reask,) = [c for c in c2 if isinstance(c, GetDigits)]
    assert [p.name for p in reask.prompts] == ["sorry", "menu"]
    session, c3 = feed(session, NoInput(at=T0 + 9))
    assert inputs(c1 + c2 + c3) == [("menu", "timeout", ""), ("menu", "no-match", "7"), ("menu", "timeout", "")]
    assert exited(c3).outcome == "transfer"
    assert exited(c3).path == ("menu", "operator")
    assert SetVariable(channel_id=ChannelId("ch1"), name="CC_IVR_TARGET", value="8000") in c3


def test_menu_without_on_failure_hangs_up_after_retries(make_flow: FlowFactory) -> None:
    flow = make_flow(MENU.replace("    on_failure: operator\n", "").replace("  operator: {type: transfer, to: \"8000\"}\n", ""))
    session, _ = begin(flow)
    session, commands = feed(session, NoInput(at=T0), NoInput(at=T0), NoInput(at=T0))
    assert exited(commands).outcome == "hangup"
    assert Hangup(channel_id=ChannelId("ch1")) in commands
    assert isinstance(commands[-1], Exit)


def test_menu_by_voice_uses_the_options_phrases_as_grammar(make_flow: FlowFactory) -> None:
    session, commands = begin(make_flow(MENU), speech=EN)
    listen = commands[-1]
    assert isinstance(listen, Listen)
    assert listen.grammar == ("sales", "buy something", "support", "help")
    assert (listen.dtmf_keys, listen.sequence, listen.language) == ("12", False, "en")
    session, commands = feed(session, SpeechHeard(text="I need some help", confidence=0.9, threshold=0.6, at=T0 + 2))
    assert inputs(commands) == [("menu", "speech", "2")]
    assert exited(commands).path == ("menu", "support")
    assert ("service", "support") in exited(commands).variables


def test_keys_still_work_while_listening(make_flow: FlowFactory) -> None:
    session, _ = begin(make_flow(MENU), speech=EN)
    _, commands = feed(session, DigitsEntered(digits="1", at=T0))
    assert exited(commands).path == ("menu", "sales")


def test_low_confidence_speech_falls_back_to_keys(make_flow: FlowFactory) -> None:
    session, _ = begin(make_flow(MENU), speech=EN)
    session, commands = feed(session, SpeechHeard(text="sales", confidence=0.3, threshold=0.6, at=T0))
    assert [c.confidence for c in commands if isinstance(c, IvrInput)] == [0.3]
    assert inputs(commands) == [("menu", "no-match", "sales")]
    reask = commands[-1]
    assert isinstance(reask, GetDigits)  # DTMF only from now on at this node
    assert [p.name for p in reask.prompts] == ["sorry", "menu"]


def test_the_bar_is_the_recognizing_engines_own(make_flow: FlowFactory) -> None:
    # The same 0.45 is trusted from an engine whose bar is 0.4 (Whisper's scale) and not at 0.6.
    for threshold, expected in ((0.4, [("menu", "speech", "1")]), (0.6, [("menu", "no-match", "sales")])):
        session, _ = begin(make_flow(MENU), speech=EN)
        _, commands = feed(session, SpeechHeard(text="sales", confidence=0.45, threshold=threshold, at=T0))
        assert inputs(commands) == expected


def test_ambiguous_speech_is_no_match(make_flow: FlowFactory) -> None:
    session, _ = begin(make_flow(MENU), speech=EN)
    session, commands = feed(session, SpeechHeard(text="sales or support", confidence=0.95, threshold=0.6, at=T0))
    assert inputs(commands) == [("menu", "no-match", "sales or support")]
    assert isinstance(commands[-1], Listen)  # confident but unclear: ask again by voice


def test_speech_is_off_for_a_language_the_recognizer_lacks(make_flow: FlowFactory) -> None:
    _, commands = begin(make_flow(MENU), speech=frozenset({"zh"}))
    assert isinstance(commands[-1], GetDigits)


def test_a_menu_without_phrases_in_the_callers_language_takes_keys(make_flow: FlowFactory) -> None:
    flow = make_flow(MENU.replace("languages: [en]", "languages: [zh, en]").replace(
        "prompts:\n  menu: {en: \"Press 1 for sales, 2 for support.\"}\n  sorry: {en: \"Sorry.\"}\n  silence: {en: \"I heard nothing.\"}",
        "prompts:\n  menu: {en: Menu, zh: 菜单}\n  sorry: {en: Sorry, zh: 对不起}\n  silence: {en: Silence, zh: 没有声音}",
    ))
    assert flow.default_language == "zh"
    _, commands = begin(flow, speech=frozenset({"zh", "en"}))
    assert isinstance(commands[-1], GetDigits)  # the options' phrases are English only


def test_caller_hangs_up_mid_prompt(make_flow: FlowFactory) -> None:
    flow = make_flow(
        """
        flow: p
        languages: [en]
        start: hello
        prompts: {hello: {en: Hello}}
        nodes:
          hello: {type: play, prompt: hello, next: bye}
          bye: {type: hangup}
        """
    )
    session, commands = begin(flow)
    assert isinstance(commands[-1], Play)
    session, commands = feed(session, CallerHungUp(at=T0 + 1))
    assert exited(commands) == IvrExited(
        call_id=CallId("c1"),
        flow="p",
        path=("hello",),
        outcome="caller-hung-up",
        variables=(("ani", "13800138000"), ("dnis", "10086"), ("language", "en")),
        at=T0 + 1,
    )
    assert commands[-1] == Exit(outcome="caller-hung-up")
    assert not any(isinstance(c, Hangup) for c in commands)


def test_wrong_event_for_the_state_is_an_illegal_transition(make_flow: FlowFactory) -> None:
    session, _ = begin(make_flow(MENU))
    with pytest.raises(
        IllegalTransition,
        match=r"^call c1: node 'menu' waits for DigitsEntered or NoInput or SpeechHeard; got PromptPlayed$",
    ):
        step(session, PromptPlayed(at=T0))


COLLECT = """
flow: c
languages: [en]
start: account
prompts:
  account: {en: Your account number please.}
  pin: {en: Your PIN please.}
  confirm: {en: You said}
nodes:
  account:
    type: collect
    prompt: account
    variable: account
    min_digits: 5
    max_digits: 8
    pattern: "[1-9][0-9]*"
    speech: true
    retries: 1
    next: check
  check:
    type: confirm
    prompt: confirm
    say: {value: "${account}", as: digits}
    yes: pin
    no: account
  pin:
    type: collect
    prompt: pin
    variable: pin
    min_digits: 4
    max_digits: 4
    mask: true
    next: done
  done: {type: route, inputs: {service: billing}}
"""


def test_collect_validates_length_and_pattern_then_confirms_and_masks_the_pin(make_flow: FlowFactory) -> None:
    session, commands = begin(make_flow(COLLECT))
    ask = commands[-1]
    assert isinstance(ask, GetDigits)
    assert (ask.max_digits, ask.terminator, ask.masked) == (8, "#", False)
    session, commands = feed(session, DigitsEntered(digits="0123456#", at=T0))  # pattern forbids a leading 0
    session, more = feed(session, DigitsEntered(digits="1234", at=T0))  # too short
    assert inputs(commands + more) == [("account", "no-match", "0123456#"), ("account", "no-match", "1234")]
    assert exited(more).outcome == "hangup"  # retries: 1, no on_failure

    session, _ = begin(make_flow(COLLECT))
    session, commands = feed(session, DigitsEntered(digits="30586#", at=T0))
    confirm = commands[-1]
    assert isinstance(confirm, GetDigits)
    assert confirm.say == SayValue("30586", "digits", "en")
    session, commands = feed(session, DigitsEntered(digits="1", at=T0))
    pin = commands[-1]
    assert isinstance(pin, GetDigits) and pin.masked
    session, commands = feed(session, DigitsEntered(digits="2024", at=T0))
    assert inputs(commands) == [("pin", "dtmf", "****")]
    assert session.variables["pin"] == "2024"
    names = [k for k, _ in exited(commands).variables]
    assert "pin" not in names and "account" in names
    assert exited(commands).path == ("account", "check", "pin", "done")


def test_confirm_no_goes_back_and_collect_accepts_spoken_digits(make_flow: FlowFactory) -> None:
    session, commands = begin(make_flow(COLLECT), speech=EN)
    listen = commands[-1]
    assert isinstance(listen, Listen)
    assert listen.sequence and "seven" in (listen.grammar or ())
    session, commands = feed(session, SpeechHeard(text="four seven one nine two", confidence=0.9, threshold=0.6, at=T0))
    assert session.variables["account"] == "47192"
    session, commands = feed(session, SpeechHeard(text="no", confidence=0.9, threshold=0.6, at=T0))
    assert session.node == "account"
    session, commands = feed(session, SpeechHeard(text="Three, 0, five eight six.", confidence=0.9, threshold=0.6, at=T0))
    session, commands = feed(session, SpeechHeard(text="yes", confidence=0.9, threshold=0.6, at=T0))
    assert session.variables["account"] == "30586"
    assert session.path == ("account", "check", "account", "check", "pin")
    assert isinstance(commands[-1], GetDigits)  # the PIN is keys only


def test_spoken_words_that_are_not_digits_are_no_match(make_flow: FlowFactory) -> None:
    session, _ = begin(make_flow(COLLECT), speech=EN)
    session, commands = feed(session, SpeechHeard(text="my account is three zero five", confidence=0.9, threshold=0.6, at=T0))
    assert inputs(commands) == [("account", "no-match", "my account is three zero five")]


ASK = """
flow: a
languages: [en, zh]
start: reason
prompts:
  reason: {en: "Why are you calling?", zh: 请问您来电的原因？}
  keys: {en: Press 1., zh: 请按1。}
nodes:
  reason:
    type: ask
    prompt: reason
    variable: reason
    grammar: {en: [lost phone, new contract]}
    retries: 1
    fallback: by_keys
    next: done
  by_keys:
    type: menu
    prompt: keys
    options: [{key: 1, next: done}]
  done: {type: route, inputs: {reason: "${reason}"}}
"""


def test_ask_stores_the_grammar_phrase(make_flow: FlowFactory) -> None:
    session, commands = begin(make_flow(ASK), speech=EN)
    listen = commands[-1]
    assert isinstance(listen, Listen) and listen.grammar == ("lost phone", "new contract")
    session, commands = feed(session, SpeechHeard(text="I have a Lost Phone.", confidence=0.8, threshold=0.6, at=T0))
    assert commands[-1] == Exit(outcome="route", routing={"reason": "lost phone", "language": "en"})


def test_ask_without_grammar_keeps_the_free_text(make_flow: FlowFactory) -> None:
    flow = make_flow(ASK.replace("    grammar: {en: [lost phone, new contract]}\n", ""))
    session, commands = begin(flow, speech=EN)
    assert isinstance(commands[-1], Listen) and commands[-1].grammar is None
    session, commands = feed(session, SpeechHeard(text="  my  bill is wrong ", confidence=0.8, threshold=0.6, at=T0))
    assert session.variables["reason"] == "my bill is wrong"


def test_ask_goes_to_its_fallback_without_speech_or_after_failures(make_flow: FlowFactory) -> None:
    session, commands = begin(make_flow(ASK))  # no recognizer at all
    assert session.node == "by_keys" and session.path == ("reason", "by_keys")
    session, _ = begin(make_flow(ASK), speech=EN)
    session, commands = feed(session, SpeechHeard(text="pizza", confidence=0.9, threshold=0.6, at=T0), NoInput(at=T0))
    assert session.node == "by_keys"
    assert isinstance(commands[-1], GetDigits)


LOOKUP = """
flow: l
languages: [en]
start: who
prompts:
  balance: {en: Your balance is}
nodes:
  who:
    type: lookup
    query: customer
    key: "${ani}"
    next: tier
    not_found: stranger
  tier:
    type: condition
    branches:
      - {if: {var: tier, in: [vip, star5]}, next: vip}
      - {if: {all: [{var: balance, matches: "-.*"}, {not: {var: tier, equals: star1}}]}, next: owes}
    else: bal
  bal:
    type: play
    prompt: balance
    say: {value: "${balance}", as: money}
    next: done
  vip: {type: route, queue: vip}
  owes: {type: voicemail, mailbox: "100@default"}
  stranger: {type: set, variables: {tier: unknown, greeting: "hello ${ani}"}, next: done}
  done: {type: hangup}
"""


def test_lookup_found_not_found_and_conditions(make_flow: FlowFactory) -> None:
    flow = make_flow(LOOKUP)
    session, commands = begin(flow, ani="13900001111")
    assert commands[-1] == Lookup(query="customer", key="13900001111")
    _, commands = feed(session, LookupAnswered(values={"tier": "vip", "customer_id": "42"}, at=T0))
    assert commands[-1] == Exit(outcome="route", routing={"language": "en", "tier": "vip", "customer_id": "42", "queue": "vip"})

    _, commands = feed(session, LookupAnswered(values={"tier": "star3", "balance": "-5.20"}, at=T0))
    assert Exec(app="VoiceMail", args="100@default,s") in commands
    assert exited(commands).outcome == "voicemail"
    assert SetVariable(channel_id=ChannelId("ch1"), name="CC_IVR_RESULT", value="hangup") in commands
    assert Hangup(channel_id=ChannelId("ch1")) in commands

    s2, commands = feed(session, LookupAnswered(values={"tier": "star1", "balance": "58.20"}, at=T0))
    assert commands[-1] == Play(prompts=commands[-1].prompts, say=SayValue("58.20", "money", "en"))  # type: ignore[union-attr]
    _, commands = feed(s2, PromptPlayed(at=T0))
    assert exited(commands).path == ("who", "tier", "bal", "done")

    _, commands = feed(session, LookupAnswered(values=None, at=T0))
    assert ("greeting", "hello 13900001111") in exited(commands).variables
    assert exited(commands).path == ("who", "stranger", "done")


def hhmm(text: str, day: str = "2026-11-23") -> float:
    """Epoch seconds for a local time in Shanghai (2026-11-23 is a Monday)."""
    return dt.datetime.fromisoformat(f"{day}T{text}").replace(tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


TIME = """
flow: t
languages: [en]
timezone: Asia/Shanghai
holidays: ["2026-10-01"]
start: open
nodes:
  open:
    type: condition
    branches:
      - {if: {holiday: true}, next: holiday}
      - {if: {time: {from: "08:00", to: "20:00", days: [mon, tue, wed, thu, fri]}}, next: agents}
    else: closed
  holiday: {type: hangup}
  agents: {type: route}
  closed: {type: voicemail, mailbox: "1"}
"""


@pytest.mark.parametrize(
    ("at", "node"),
    [
        (hhmm("08:00"), "agents"),
        (hhmm("19:59"), "agents"),
        (hhmm("20:00"), "closed"),
        (hhmm("07:59"), "closed"),
        (hhmm("10:00", "2026-11-22"), "closed"),  # a Sunday
        (hhmm("10:00", "2026-10-01"), "holiday"),
    ],
)
def test_time_and_holiday_conditions_use_the_flow_timezone(make_flow: FlowFactory, at: float, node: str) -> None:
    session, _ = begin(make_flow(TIME), at=at)
    assert session.path == ("open", node)


def test_callback_uses_the_ani_and_hangs_up_after_its_prompt(make_flow: FlowFactory) -> None:
    flow = make_flow(
        """
        flow: cb
        languages: [en]
        start: cb
        prompts: {thanks: {en: We will call you.}}
        nodes:
          cb: {type: callback, prompt: thanks, reason: busy}
        """
    )
    session, commands = begin(flow, ani="13812345678")
    assert isinstance(commands[-1], Play) and session.waiting == "final"
    session, commands = feed(session, PromptPlayed(at=T0))
    assert SetVariable(channel_id=ChannelId("ch1"), name="CC_IVR_TARGET", value="13812345678") in commands
    assert Hangup(channel_id=ChannelId("ch1")) in commands
    assert commands[-1] == Exit(outcome="callback", target="13812345678")


SUB = """
subflow: pin
languages: [en]
start: ask
prompts: {pin: {en: PIN please.}}
nodes:
  ask:
    type: collect
    prompt: pin
    variable: pin
    max_digits: 4
    retries: 0
    on_failure: bad
    next: good
  good: {type: return}
  bad: {type: return, outcome: failed}
"""

CALLER = """
flow: s
languages: [en]
start: get
nodes:
  get: {type: subflow, flow: pin, next: ok, outcomes: {failed: nope}}
  ok: {type: route}
  nope: {type: hangup}
"""


def test_subflow_returns_to_next_or_to_the_outcome_node(make_flow: FlowFactory) -> None:
    flow = make_flow(CALLER, SUB)
    session, commands = begin(flow)
    assert session.node == "get/ask"
    assert commands[-1].prompts[0].name == "pin/pin"  # type: ignore[union-attr]
    _, commands = feed(session, DigitsEntered(digits="1234", at=T0))
    assert exited(commands).path == ("get", "get/ask", "get/good", "ok")
    _, commands = feed(session, NoInput(at=T0))
    assert exited(commands).path == ("get", "get/ask", "get/bad", "nope")


def test_a_runaway_chain_of_instant_nodes_ends_the_call(make_flow: FlowFactory) -> None:
    flow = make_flow(
        """
        flow: loop
        languages: [en]
        start: a
        nodes:
          a:
            type: condition
            branches: [{if: {var: never, equals: "x"}, next: out}]
            else: b
          b: {type: set, variables: {n: "1"}, next: a}
          out: {type: hangup}
        """
    )
    session, commands = begin(flow)
    assert len(session.path) == MAX_HOPS
    assert exited(commands).outcome == "failed"


def test_language_choice_changes_the_prompts(hotline: Flow) -> None:
    session, commands = begin(hotline)
    assert [p.name for p in commands[-1].prompts] == ["welcome"]  # type: ignore[union-attr]
    assert commands[-1].prompts[0].language == "zh"  # type: ignore[union-attr]
    session, commands = feed(session, PromptPlayed(at=T0), LookupAnswered(values=None, at=T0))
    assert session.node == "choose_language"
    session, commands = feed(session, DigitsEntered(digits="2", at=T0))
    menu = commands[-1]
    assert isinstance(menu, GetDigits)  # no recognizer configured
    assert [(p.name, p.language, p.source.value[:8]) for p in menu.prompts] == [("main_menu", "en", "For bill")]


def test_hotline_vip_fast_lane_routes_with_the_customers_priority(hotline: Flow) -> None:
    session, _ = begin(hotline, at=hhmm("10:00"))
    card = {"customer_id": "7", "tier": "vip", "language": "en", "account": "30586001", "priority_class": "vip"}
    session, commands = feed(session, PromptPlayed(at=T0), LookupAnswered(values=card, at=T0))
    assert [p.name for p in commands[-1].prompts] == ["vip_welcome"]  # type: ignore[union-attr]
    assert commands[-1].prompts[0].language == "en"  # type: ignore[union-attr]
    session, commands = feed(session, PromptPlayed(at=T0))
    assert commands[-1] == Exit(
        outcome="route",
        routing={
            "service": "vip",
            "ivr_choice": "vip-fast-lane",
            "language": "en",
            "tier": "vip",
            "customer_id": "7",
            "queue": "vip",
        },
    )
    assert exited(commands).path == ("welcome", "identify_caller", "vip_check", "vip_fast_lane", "vip_route")


def test_hotline_balance_self_service_by_voice_then_goodbye(hotline: Flow) -> None:
    session, _ = begin(hotline, at=hhmm("10:00"), speech=EN)
    session, _ = feed(session, PromptPlayed(at=T0), LookupAnswered(values=None, at=T0), DigitsEntered(digits="2", at=T0))
    session, commands = feed(session, SpeechHeard(text="check my balance", confidence=0.8, threshold=0.6, at=T0))
    assert session.node == "billing_menu"
    session, commands = feed(session, SpeechHeard(text="balance", confidence=0.8, threshold=0.6, at=T0))
    assert session.node == "get_account/ask_account"
    session, commands = feed(
        session,
        SpeechHeard(text="three zero five eight six zero zero one", confidence=0.8, threshold=0.6, at=T0),
        SpeechHeard(text="yes", confidence=0.9, threshold=0.6, at=T0),
        DigitsEntered(digits="123456", at=T0),
    )
    assert commands[-1] == Lookup(query="balance", key="30586001")
    session, commands = feed(session, LookupAnswered(values={"balance": "58.20"}, at=T0))
    play = commands[-1]
    assert isinstance(play, Play) and play.say == SayValue("58.20", "money", "en")
    session, commands = feed(session, PromptPlayed(at=T0), PromptPlayed(at=T0), DigitsEntered(digits="2", at=T0))
    assert session.waiting == "final"
    session, commands = feed(session, PromptPlayed(at=T0))
    ended = exited(commands)
    assert ended.outcome == "hangup"
    assert ended.path[-3:] == ("say_yuan", "anything_else", "goodbye")
    assert "pin" not in dict(ended.variables)
    assert inputs(commands) == []


def test_hotline_after_hours_offers_callback(hotline: Flow) -> None:
    session, _ = begin(hotline, at=hhmm("23:30"))
    session, commands = feed(
        session, PromptPlayed(at=T0), LookupAnswered(values=None, at=T0), NoInput(at=T0), NoInput(at=T0)
    )
    assert session.node == "main_menu"
    session, commands = feed(session, DigitsEntered(digits="0", at=hhmm("23:30")))
    assert session.node == "closed"
    session, commands = feed(session, DigitsEntered(digits="1", at=T0), PromptPlayed(at=T0))
    assert exited(commands).outcome == "callback"
