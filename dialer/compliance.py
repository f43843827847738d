"""Compliance: may this contact be dialed now, and if not, why and when?

Theory of operation
-------------------
`check(contact, campaign, history, now)` is a pure function. It is asked before every dial and
its `Decision` is kept for every dial and every no-dial (the adapter writes it to the CRM; the
simulation counts it). It evaluates every rule, never stopping at the first, so the record says
all that stood in the way:

* Permanent (no `next_allowed_at`): global DNC, campaign DNC, the customer's opt-out, consent
  (an explicit "no" always blocks; "unknown" blocks when the campaign requires consent), the
  campaign's attempt cap, and a per-outcome cap (a human answer ends the contact by default).
* Timed (`next_allowed_at` is the first instant all of them clear): the retry delay after the
  last outcome (busy, no answer, machine, failed), a callback the customer asked for, the
  lock-out after an abandoned call (72 h by default, across campaigns, because the callee heard
  a silent-then-message call from us), and the calling window, open in every zone the callee may
  be in, in local time (windows.py).
* Campaign-level: the abandon-rate limit. A dial not backed by a reserved agent could abandon, so
  it is refused while any window could not absorb one more abandon (abandon.py, Rule 1). The same
  contact may be dialed at once with an agent reserved (`agent_reserved=True`), so this reason
  does not push `next_allowed_at` past `now`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from callcenter.errors import ConfigError
from callcenter.events import CampaignId
from dialer.abandon import WindowRate, can_risk_abandon
from dialer.contacts import Contact
from dialer.windows import DEFAULT_WINDOWS, CallingWindow, next_open_everywhere, parse_window

HOUR_S = 3600.0


class Outcome(enum.StrEnum):
    """How an attempt ended (the `outcome` of `events.AttemptEnded`)."""

    HUMAN = "human"  # a live answer connected to an agent
    MACHINE = "machine"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"  # congestion, unreachable, invalid
    ABANDONED = "abandoned"  # a live answer no agent took within 2 s
    CALLBACK = "callback"  # the customer asked to be called at another time


class Reason(enum.StrEnum):
    GLOBAL_DNC = "global-dnc"
    CAMPAIGN_DNC = "campaign-dnc"
    OPTED_OUT = "opted-out"
    NO_CONSENT = "no-consent"
    ATTEMPT_CAP = "attempt-cap"
    OUTCOME_CAP = "outcome-cap"
    RETRY_DELAY = "retry-delay"
    CALLBACK_SCHEDULED = "callback-scheduled"
    ABANDON_LOCKOUT = "abandon-lockout"
    OUTSIDE_WINDOW = "outside-calling-window"
    ABANDON_LIMIT = "abandon-limit"


PERMANENT = frozenset(
    {Reason.GLOBAL_DNC, Reason.CAMPAIGN_DNC, Reason.OPTED_OUT, Reason.NO_CONSENT, Reason.ATTEMPT_CAP, Reason.OUTCOME_CAP}
)


@dataclass(frozen=True, slots=True)
class RetryRule:
    """After an attempt with this outcome: wait `delay_s`; stop after `max_attempts` of them."""

    delay_s: float
    max_attempts: int


DEFAULT_RETRY: dict[Outcome, RetryRule] = {
    Outcome.HUMAN: RetryRule(0.0, 1),
    Outcome.MACHINE: RetryRule(4 * HOUR_S, 2),
    Outcome.BUSY: RetryRule(600.0, 3),
    Outcome.NO_ANSWER: RetryRule(2 * HOUR_S, 4),
    Outcome.FAILED: RetryRule(1800.0, 2),
    Outcome.ABANDONED: RetryRule(0.0, 2),  # the lock-out supplies the delay
    Outcome.CALLBACK: RetryRule(0.0, 3),  # the customer's time supplies the delay
}


@dataclass(frozen=True, slots=True)
class CampaignRules:
    """What compliance needs to know about a campaign. Plain values; the adapter builds it."""

    campaign_id: CampaignId
    windows: Mapping[str, CallingWindow] = field(default_factory=lambda: dict(DEFAULT_WINDOWS))
    max_attempts: int = 6
    retry: Mapping[Outcome, RetryRule] = field(default_factory=lambda: dict(DEFAULT_RETRY))
    abandon_lockout_s: float = 72 * HOUR_S
    abandon_limit: float = 0.03
    require_consent: bool = False
    global_dnc: frozenset[str] = frozenset()  # E.164 numbers
    campaign_dnc: frozenset[str] = frozenset()

    def window_for(self, country: str) -> CallingWindow:
        return self.windows.get(country) or self.windows["*"]


@dataclass(frozen=True, slots=True)
class Attempt:
    campaign_id: CampaignId
    at: float
    outcome: Outcome
    callback_at: float | None = None


@dataclass(frozen=True, slots=True)
class History:
    """The contact's number's attempts (every campaign) and the campaign's abandon windows."""

    attempts: tuple[Attempt, ...] = ()
    abandon_rates: tuple[WindowRate, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reasons: tuple[Reason, ...]
    next_allowed_at: float | None  # None: never again in this campaign (or no window within a year)

    def describe(self) -> str:
        if self.allowed:
            return "dial"
        when = "never" if self.next_allowed_at is None else f"{self.next_allowed_at:.0f}"
        return f"no-dial ({', '.join(self.reasons)}; next {when})"


def check(
    contact: Contact, campaign: CampaignRules, history: History, now: float, *, agent_reserved: bool = False
) -> Decision:
    reasons: list[Reason] = []
    if contact.number in campaign.global_dnc:
        reasons.append(Reason.GLOBAL_DNC)
    if contact.number in campaign.campaign_dnc:
        reasons.append(Reason.CAMPAIGN_DNC)
    if contact.opted_out:
        reasons.append(Reason.OPTED_OUT)
    if contact.consent is False or (campaign.require_consent and contact.consent is not True):
        reasons.append(Reason.NO_CONSENT)

    mine = [a for a in history.attempts if a.campaign_id == campaign.campaign_id]
    if len(mine) >= campaign.max_attempts:
        reasons.append(Reason.ATTEMPT_CAP)
    if any(_count(mine, o) >= rule.max_attempts for o, rule in campaign.retry.items()):
        reasons.append(Reason.OUTCOME_CAP)

    earliest = now
    last = max(mine, key=lambda a: a.at, default=None)
    if last is not None:
        rule = campaign.retry.get(last.outcome)
        if rule is not None and last.at + rule.delay_s > now:
            reasons.append(Reason.RETRY_DELAY)
            earliest = max(earliest, last.at + rule.delay_s)
        if last.outcome is Outcome.CALLBACK and last.callback_at is not None and last.callback_at > now:
            reasons.append(Reason.CALLBACK_SCHEDULED)
            earliest = max(earliest, last.callback_at)
    lockouts = [a.at + campaign.abandon_lockout_s for a in history.attempts if a.outcome is Outcome.ABANDONED]
    if lockouts and max(lockouts) > now:
        reasons.append(Reason.ABANDON_LOCKOUT)
        earliest = max(earliest, *lockouts)

    window = campaign.window_for(contact.country)
    opens = next_open_everywhere(window, contact.time_zones, now)
    if opens != now:
        reasons.append(Reason.OUTSIDE_WINDOW)
    next_at = next_open_everywhere(window, contact.time_zones, earliest) if earliest > now else opens

    if not agent_reserved and not can_risk_abandon(history.abandon_rates, campaign.abandon_limit):
        reasons.append(Reason.ABANDON_LIMIT)

    if not reasons:
        return Decision(True, (), now)
    permanent = any(r in PERMANENT for r in reasons)
    return Decision(False, tuple(reasons), None if permanent else next_at)


def _count(attempts: list[Attempt], outcome: Outcome) -> int:
    return sum(1 for a in attempts if a.outcome is outcome)


def parse_rules(
    spec: Mapping[str, object], *, campaign_id: CampaignId, abandon_limit: float = 0.03, where: str = "compliance"
) -> CampaignRules:
    """Campaign rules from config; windows and retry rules are merged over the defaults.

    `{calling_windows: {US: {weekdays: mon-fri, hours: "09:00-20:00"}, "*": {...}},
    max_attempts: 6, retry: {busy: {delay_s: 600, max_attempts: 3}}, abandon_lockout_s: 259200,
    require_consent: false}`
    """
    known = {"calling_windows", "max_attempts", "retry", "abandon_lockout_s", "require_consent"}
    for key in spec:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}; expected one of {', '.join(sorted(known))}")
    windows = dict(DEFAULT_WINDOWS)
    raw_windows = spec.get("calling_windows", {})
    if not isinstance(raw_windows, Mapping):
        raise ConfigError(f"{where}.calling_windows: expected a mapping of country to window")
    for country, window in raw_windows.items():
        if not isinstance(window, Mapping):
            raise ConfigError(f"{where}.calling_windows.{country}: expected a mapping")
        windows[str(country)] = parse_window(window, f"{where}.calling_windows.{country}")
    retry = dict(DEFAULT_RETRY)
    raw_retry = spec.get("retry", {})
    if not isinstance(raw_retry, Mapping):
        raise ConfigError(f"{where}.retry: expected a mapping of outcome to rule")
    for name, rule in raw_retry.items():
        at = f"{where}.retry.{name}"
        try:
            outcome = Outcome(name)
        except ValueError:
            raise ConfigError(f"{at}: unknown outcome; expected one of {', '.join(o.value for o in Outcome)}") from None
        if not isinstance(rule, Mapping) or set(rule) - {"delay_s", "max_attempts"}:
            raise ConfigError(f"{at}: expected {{delay_s: seconds, max_attempts: n}}")
        retry[outcome] = RetryRule(
            _number(rule.get("delay_s", retry[outcome].delay_s), f"{at}.delay_s"),
            int(_number(rule.get("max_attempts", retry[outcome].max_attempts), f"{at}.max_attempts", integer=True)),
        )
    consent = spec.get("require_consent", False)
    if not isinstance(consent, bool):
        raise ConfigError(f"{where}.require_consent: {consent!r}; expected true or false")
    return CampaignRules(
        campaign_id=campaign_id,
        windows=windows,
        max_attempts=int(_number(spec.get("max_attempts", 6), f"{where}.max_attempts", integer=True)),
        retry=retry,
        abandon_lockout_s=_number(spec.get("abandon_lockout_s", 72 * HOUR_S), f"{where}.abandon_lockout_s"),
        abandon_limit=abandon_limit,
        require_consent=consent,
    )


def _number(value: object, where: str, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (integer and value != int(value)):
        raise ConfigError(f"{where}: {value!r}; expected a non-negative {'integer' if integer else 'number'}")
    return float(value)
