from __future__ import annotations

import pytest

from acd.erlang import erlang_a, erlang_c


def test_erlang_c_matches_the_textbook_value() -> None:
    # c = 3 agents, a = 2 erlangs: P(wait) = 4/9; ASA = P(wait) / (cμ - λ).
    p = erlang_c(arrival_rate=2 / 60, service_time_s=60, agents=3, sl_t_s=0)
    assert p is not None
    assert p.service_level == pytest.approx(1 - 4 / 9)
    assert p.asa_s == pytest.approx((4 / 9) / (3 / 60 - 2 / 60))


def test_erlang_c_has_no_answer_for_an_overloaded_queue() -> None:
    assert erlang_c(arrival_rate=1.0, service_time_s=10, agents=10, sl_t_s=20) is None


def test_erlang_a_with_endless_patience_is_erlang_c() -> None:
    c = erlang_c(arrival_rate=0.14, service_time_s=60, agents=10, sl_t_s=20)
    a = erlang_a(arrival_rate=0.14, service_time_s=60, agents=10, patience_s=1e8, sl_t_s=20)
    assert c is not None and a is not None
    assert a.service_level == pytest.approx(c.service_level, abs=1e-4)
    assert a.asa_s == pytest.approx(c.asa_s, rel=1e-3)
    assert a.abandon_rate < 1e-6


def test_erlang_a_answers_for_an_overloaded_queue_and_abandonment_balances_it() -> None:
    a = erlang_a(arrival_rate=11 / 60, service_time_s=60, agents=10, patience_s=90, sl_t_s=20)
    assert a is not None
    # At least the load above capacity (1 of 11 erlangs) must abandon; patience makes it more.
    assert 1 / 11 < a.abandon_rate < 0.3
    assert 0 < a.service_level < 1
