"""The compliance check: every rule, all reasons at once, and when the contact may be dialed."""

from __future__ import annotations

from datetime import UTC, datetime

from callcenter.events import CampaignId, ContactId
from dialer.abandon import WindowRate
from dialer.compliance import Attempt, CampaignRules, Decision, History, Outcome, Reason, check
from dialer.contacts import Contact


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


CAMPAIGN = CampaignId("retention")
OTHER = CampaignId("upsell")
NOON_NY = utc("2026-03-04T17:00:00")  # Wednesday 12:00 EST
ANN = Contact(ContactId("c1"), "+12125550100", "US", ("America/New_York",))
RULES = CampaignRules(campaign_id=CAMPAIGN)
ROOMY = (WindowRate("rolling-30d", 1000, 10), WindowRate("calendar-day", 200, 2), WindowRate("live-1h", 100, 1))


def decide(contact: Contact = ANN, rules: CampaignRules = RULES, attempts: tuple[Attempt, ...] = (), now: float = NOON_NY, rates: tuple[WindowRate, ...] = ROOMY, reserved: bool = False) -> Decision:
    return check(contact, rules, History(attempts, rates), now, agent_reserved=reserved)


def test_a_clean_contact_in_its_window_may_be_dialed() -> None:
    assert decide() == Decision(True, (), NOON_NY)


def test_permanent_blocks_are_all_reported_and_have_no_next_time() -> None:
    rules = CampaignRules(
        campaign_id=CAMPAIGN, global_dnc=frozenset({ANN.number}), campaign_dnc=frozenset({ANN.number}), require_consent=True
    )
    refused = Contact(ContactId("c1"), ANN.number, "US", ANN.time_zones, opted_out=True, consent=None)
    assert decide(refused, rules) == Decision(
        False, (Reason.GLOBAL_DNC, Reason.CAMPAIGN_DNC, Reason.OPTED_OUT, Reason.NO_CONSENT), None
    )


def test_consent_unknown_is_fine_unless_required_but_an_explicit_no_always_blocks() -> None:
    said_no = Contact(ContactId("c1"), ANN.number, "US", ANN.time_zones, consent=False)
    assert decide(said_no).reasons == (Reason.NO_CONSENT,)
    assert decide(Contact(ContactId("c1"), ANN.number, "US", ANN.time_zones, consent=True), CampaignRules(campaign_id=CAMPAIGN, require_consent=True)).allowed


def test_retry_delay_per_outcome() -> None:
    busy = (Attempt(CAMPAIGN, NOON_NY - 300, Outcome.BUSY),)
    assert decide(attempts=busy) == Decision(False, (Reason.RETRY_DELAY,), NOON_NY + 300)
    assert decide(attempts=busy, now=NOON_NY + 300).allowed
    machine = (Attempt(CAMPAIGN, NOON_NY - 3600, Outcome.MACHINE),)
    assert decide(attempts=machine).next_allowed_at == NOON_NY + 3 * 3600
    # Another campaign's attempts do not delay this one.
    assert decide(attempts=(Attempt(OTHER, NOON_NY - 300, Outcome.BUSY),)).allowed


def test_a_retry_that_ends_after_the_window_closes_waits_for_the_next_opening() -> None:
    evening = utc("2026-03-05T01:00:00")  # Wednesday 20:00 EST; the window closes at 21:00
    no_answer = (Attempt(CAMPAIGN, evening - 60, Outcome.NO_ANSWER),)  # 2 h delay -> 21:59
    assert decide(attempts=no_answer, now=evening) == Decision(False, (Reason.RETRY_DELAY,), utc("2026-03-05T13:00:00"))


def test_outside_the_window_says_when_it_opens() -> None:
    early = utc("2026-03-04T11:00:00")  # 06:00 EST
    assert decide(now=early) == Decision(False, (Reason.OUTSIDE_WINDOW,), utc("2026-03-04T13:00:00"))
    sunday = utc("2026-03-08T17:00:00")
    assert decide(now=sunday) == Decision(False, (Reason.OUTSIDE_WINDOW,), utc("2026-03-09T12:00:00"))  # Monday, EDT


def test_attempt_cap_and_outcome_caps() -> None:
    six = tuple(Attempt(CAMPAIGN, NOON_NY - 86400 * (i + 1), Outcome.NO_ANSWER) for i in range(2)) + tuple(
        Attempt(CAMPAIGN, NOON_NY - 86400 * (i + 3), Outcome.MACHINE) for i in range(1)
    ) + tuple(Attempt(CAMPAIGN, NOON_NY - 86400 * (i + 4), Outcome.BUSY) for i in range(3))
    assert decide(attempts=six) == Decision(False, (Reason.ATTEMPT_CAP, Reason.OUTCOME_CAP), None)  # 3 busy = busy cap
    reached = (Attempt(CAMPAIGN, NOON_NY - 86400, Outcome.HUMAN),)
    assert decide(attempts=reached) == Decision(False, (Reason.OUTCOME_CAP,), None)
    capped = CampaignRules(campaign_id=CAMPAIGN, max_attempts=2)
    two = tuple(Attempt(CAMPAIGN, NOON_NY - 86400 * (i + 1), Outcome.NO_ANSWER) for i in range(2))
    assert decide(rules=capped, attempts=two).reasons == (Reason.ATTEMPT_CAP,)


def test_callback_requested_is_honoured() -> None:
    later = NOON_NY + 5400
    asked = (Attempt(CAMPAIGN, NOON_NY - 60, Outcome.CALLBACK, callback_at=later),)
    assert decide(attempts=asked) == Decision(False, (Reason.CALLBACK_SCHEDULED,), later)
    assert decide(attempts=asked, now=later).allowed


def test_lockout_after_an_abandoned_call_spans_campaigns_and_is_configurable() -> None:
    abandoned = (Attempt(OTHER, NOON_NY - 3600, Outcome.ABANDONED),)
    assert decide(attempts=abandoned) == Decision(False, (Reason.ABANDON_LOCKOUT,), NOON_NY - 3600 + 72 * 3600)
    assert decide(attempts=abandoned, now=NOON_NY - 3600 + 72 * 3600).allowed
    short = CampaignRules(campaign_id=CAMPAIGN, abandon_lockout_s=1800)
    assert decide(rules=short, attempts=abandoned).allowed


def test_the_abandon_limit_blocks_pooled_dials_only() -> None:
    # 3% of 100 live answers is 3: with 3 abandons no window can take a fourth.
    full = (WindowRate("rolling-30d", 1000, 10), WindowRate("calendar-day", 100, 3))
    assert decide(rates=full) == Decision(False, (Reason.ABANDON_LIMIT,), NOON_NY)
    assert decide(rates=full, reserved=True).allowed
    # Every window counts: a roomy month does not excuse a full day.
    assert not decide(rates=(WindowRate("rolling-30d", 10_000, 0), WindowRate("calendar-day", 34, 1))).allowed
    assert decide(rates=(WindowRate("rolling-30d", 10_000, 0), WindowRate("calendar-day", 67, 1))).allowed
    # No windows known (nothing answered yet): no risk may be taken.
    assert decide(rates=()).reasons == (Reason.ABANDON_LIMIT,)


def test_reasons_combine_and_the_latest_time_wins() -> None:
    early = utc("2026-03-04T12:30:00")  # 07:30 EST
    busy = (Attempt(CAMPAIGN, early - 60, Outcome.BUSY),)  # free again at 07:39, window opens 08:00
    decision = decide(attempts=busy, now=early)
    assert decision == Decision(False, (Reason.RETRY_DELAY, Reason.OUTSIDE_WINDOW), utc("2026-03-04T13:00:00"))
    assert decision.describe() == f"no-dial (retry-delay, outside-calling-window; next {utc('2026-03-04T13:00:00'):.0f})"


def test_every_decision_becomes_a_dial_decided_record() -> None:
    from callcenter.events import DialDecided, from_json, to_json
    from dialer.contact_queue import ContactQueue

    early = utc("2026-03-04T12:30:00")  # 07:30 EST: closed until 08:00
    queue = ContactQueue(iter([ANN]), RULES)
    chosen, checked = queue.take(1, early, lambda c: History((), ROOMY), agent_reserved=False)
    assert chosen == []
    event = checked[0].to_event(CAMPAIGN)
    assert event == DialDecided(
        campaign_id=CAMPAIGN,
        contact_id=ContactId("c1"),
        number="+12125550100",
        allowed=False,
        reasons=("outside-calling-window",),
        next_allowed_at=utc("2026-03-04T13:00:00"),
        at=early,
    )
    assert from_json(to_json(event)) == event
    # Back in the queue for 08:00, and dialed then.
    chosen, checked = queue.take(1, utc("2026-03-04T13:00:00"), lambda c: History((), ROOMY), agent_reserved=False)
    assert chosen == [ANN] and checked[0].to_event(CAMPAIGN).allowed


def test_rules_from_config_merge_over_the_defaults() -> None:
    import pytest

    from callcenter.errors import ConfigError
    from dialer.compliance import RetryRule, parse_rules

    rules = parse_rules(
        {
            "calling_windows": {"US": {"weekdays": "mon-fri", "hours": "10:00-18:00"}},
            "retry": {"busy": {"delay_s": 120}},
            "max_attempts": 3,
            "abandon_lockout_s": 3600,
            "require_consent": True,
        },
        campaign_id=CAMPAIGN,
        abandon_limit=0.02,
    )
    assert rules.retry[Outcome.BUSY] == RetryRule(120.0, 3)  # max_attempts kept from the default
    assert rules.retry[Outcome.NO_ANSWER] == RetryRule(7200.0, 4)
    assert (rules.max_attempts, rules.abandon_lockout_s, rules.abandon_limit, rules.require_consent) == (3, 3600.0, 0.02, True)
    assert "DE" in rules.windows  # the other defaults stay
    assert decide(Contact(ContactId("c1"), ANN.number, "US", ANN.time_zones, consent=True), rules).allowed  # Wed 12:00
    assert decide(rules=rules, now=utc("2026-03-04T14:30:00")).reasons == (Reason.NO_CONSENT, Reason.OUTSIDE_WINDOW)
    for spec, message in (
        ({"retries": {}}, "c: unknown key 'retries'; expected one of abandon_lockout_s, calling_windows, max_attempts, require_consent, retry"),
        ({"retry": {"engaged": {}}}, "c.retry.engaged: unknown outcome; expected one of human, machine, busy, no-answer, failed, abandoned, callback"),
        ({"retry": {"busy": {"delay_s": -5}}}, "c.retry.busy.delay_s: -5; expected a non-negative number"),
        ({"max_attempts": 2.5}, "c.max_attempts: 2.5; expected a non-negative integer"),
        ({"calling_windows": {"US": {"hours": "8-9"}}}, "c.calling_windows.US.hours: '8-9' is not like '09:00-20:00'"),
        ({"require_consent": "yes"}, "c.require_consent: 'yes'; expected true or false"),
    ):
        with pytest.raises(ConfigError) as excinfo:
            parse_rules(spec, campaign_id=CAMPAIGN, where="c")
        assert str(excinfo.value) == message
