from __future__ import annotations

import pytest

from routing_rules.expr import BOOL, NUM, STR, ExprError, compile_expr

NAMES = {"dnis": STR, "ani": STR, "time.hour": NUM, "time.hhmm": STR, "holiday": BOOL, "customer.tier": STR}
WILD = {"ivr.*": STR}
ENV = {"dnis": "10086", "ani": "+8613800000001", "time.hour": 23.0, "time.hhmm": "23:15", "holiday": False,
       "customer.tier": "star4", "ivr.service": "billing"}


def run(text: str) -> object:
    return compile_expr(text, NAMES, WILD).evaluate(lambda name: ENV.get(name, ""))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('dnis == "10086"', True),
        ("dnis != '10086'", False),
        ("time.hour >= 22 and not holiday", True),
        ('customer.tier in ["star4", "vip"]', True),
        ('customer.tier not in ["star4"]', False),
        ('"star" in customer.tier', True),
        ("time.hour in [1, 2, 3]", False),
        ('ivr.service == "billing" or ivr.language == "en"', True),
        ('ivr.unset == ""', True),
        ('starts_with(ani, "+86") and ends_with(ani, "01")', True),
        ('time_between(time.hhmm, "22:00", "06:00")', True),
        ('time_between(time.hhmm, "08:00", "20:00")', False),
        ("not (holiday or time.hour < 8)", True),
        ("true and not false", True),
    ],
)
def test_conditions_evaluate(text: str, value: bool) -> None:
    assert run(text) is value


@pytest.mark.parametrize(
    ("text", "offset", "problem"),
    [
        ('dnis = "1"', 5, "unexpected '='; did you mean '=='?"),
        ('dnis == "1" && holiday', 12, "unexpected '&'; did you mean 'and'?"),
        ('time.hour == "8"', 10, "'==' compares num with str"),
        ('customer.teir == "x"', 0, "unknown name 'customer.teir'; known: ani, customer.tier, dnis, holiday, ivr.*, time.hhmm, time.hour"),
        ("ivr.a.b == 'x'", 0, "unknown name 'ivr.a.b'; known: ani, customer.tier, dnis, holiday, ivr.*, time.hhmm, time.hour"),
        ('dnis == "1', 8, "unterminated string"),
        ("__import__('os')", 0, "unknown function '__import__'; known: ends_with, starts_with, time_between"),
        ("dnis", 0, "a condition must be true or false, got str"),
        ('dnis == "1" and', 15, "expected a value, found the end"),
        ('dnis in [1, "a"]', 12, "a list mixes num and str"),
        ("time.hour < 8 and time.hour", 18, "'and' needs true/false values, got num"),
        ("holiday < true", 8, "'<' needs two nums or two strs, got bool"),
        ("starts_with(dnis)", 0, "starts_with() takes 2 arguments, got 1"),
        ("(holiday", 8, "expected ')', found the end"),
        ("holiday holiday", 8, "unexpected 'holiday' after a complete condition"),
        ("dnis in []", 8, "an empty list never matches; remove the condition"),
        ("   ", 0, "empty condition"),
        ("dnis == $", 8, "unexpected character '$'"),
    ],
)
def test_errors_say_where_and_what(text: str, offset: int, problem: str) -> None:
    with pytest.raises(ExprError) as exc:
        compile_expr(text, NAMES, WILD)
    assert (exc.value.offset, exc.value.problem) == (offset, problem)


def test_the_names_a_condition_uses_are_recorded() -> None:
    cond = compile_expr('dnis == "1" or ivr.service == "data"', NAMES, WILD)
    assert cond.names == {"dnis", "ivr.service"}
