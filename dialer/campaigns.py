"""Campaigns in the CRM: create, fill with contacts, start / pause / resume / stop, progress.

A campaign is a `crm.models.Campaign` row. What the CRM has no column for lives in its `settings`
JSON, read and checked by `parse_settings` (errors name the key):

    {"agents": ["1001", "1002"], "skills": ["retention>=2"], "script": "Hello {name}, ...",
     "dispositions": ["sale", "no-interest", "callback"], "country": "US",
     "compliance": {"calling_windows": {...}, "max_attempts": 6, "retry": {...}, ...},
     "abandon_limit": 0.03, "ring_timeout_s": 25, "grace_s": 2, "machine": "message",
     "trunk": "pstn-trunk", "campaign_dnc": ["+12125550100"], "tick_s": 1, "dnc_refresh_s": 60,
     "preview_skip_s": 3600}

`compliance` is `dialer.compliance.parse_rules`'s mapping. Contacts are `CampaignContact` rows
whose id is `<campaign id>:<list id>` (contact ids are unique across campaigns); the contact's
country, every time zone it may be in, consent, opt-out and the list's other columns are kept in
`data`, so `contact_of(row)` gives back the `dialer.contacts.Contact` the cores work on.

Status: draft -> running (start) <-> paused (pause / resume) -> done (stop). A running campaign
is dialed by a `dialer.runner.CampaignRunner`; the service only records what was asked.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.errors import ConfigError, DomainError
from callcenter.events import CampaignId, ContactId, CustomerId, SkillRequirement
from crm import models as m
from dialer.abandon import DEFAULT_WINDOWS, AbandonLedger
from dialer.compliance import Attempt, CampaignRules, Outcome, parse_rules
from dialer.contacts import COUNTRIES, Contact, InvalidNumber, Rejection, normalise, parse_contacts, zones_for
from dialer.pacing import Mode

logger = logging.getLogger(__name__)

STATUSES = ("draft", "running", "paused", "done")
# action -> (states it may be taken from, state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": (("draft",), "running"),
    "pause": (("running",), "paused"),
    "resume": (("paused",), "running"),
    "stop": (("draft", "running", "paused"), "done"),
}
MACHINE_ACTIONS = ("message", "hangup")
LIVE_OUTCOMES = frozenset({Outcome.HUMAN.value, Outcome.ABANDONED.value})


class CampaignError(DomainError):
    """A campaign request that cannot be carried out; `error_id` says which kind."""


@dataclass(frozen=True, slots=True)
class CampaignSettings:
    agents: tuple[str, ...] = ()
    skills: tuple[SkillRequirement, ...] = ()
    script: str = ""
    dispositions: tuple[str, ...] = ()
    country: str = "US"
    compliance: Mapping[str, object] | None = None
    abandon_limit: float = 0.03
    ring_timeout_s: float = 25.0
    grace_s: float = 2.0  # the 2-second rule
    machine: str = "message"  # what a machine gets: the dialplan's message, or a hang-up
    trunk: str = "pstn-trunk"
    campaign_dnc: tuple[str, ...] = ()  # E.164
    tick_s: float = 1.0
    dnc_refresh_s: float = 60.0  # how often a running campaign re-reads the CRM's do-not-call list
    preview_skip_s: float = 3600.0  # preview: a contact an agent skipped is offered again this much later

    def rules(self, campaign_id: CampaignId, global_dnc: frozenset[str] = frozenset()) -> CampaignRules:
        rules = parse_rules(
            dict(self.compliance or {}), campaign_id=campaign_id, abandon_limit=self.abandon_limit,
            where="settings.compliance",
        )
        return dataclasses.replace(rules, global_dnc=global_dnc, campaign_dnc=frozenset(self.campaign_dnc))


_CAMPAIGN_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SETTINGS_KEYS = (
    "agents", "skills", "script", "dispositions", "country", "compliance", "abandon_limit", "ring_timeout_s",
    "grace_s", "machine", "trunk", "campaign_dnc", "tick_s", "dnc_refresh_s", "preview_skip_s",
)


def parse_settings(spec: Mapping[str, Any], where: str = "settings") -> CampaignSettings:
    """Check a campaign's settings JSON; a `ConfigError` names the key that is wrong."""
    for key in spec:
        if key not in _SETTINGS_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}; expected one of {', '.join(_SETTINGS_KEYS)}")
    country = spec.get("country", "US")
    if country not in COUNTRIES:
        raise ConfigError(f"{where}.country: {country!r}; expected one of {', '.join(sorted(COUNTRIES))}")
    machine = spec.get("machine", "message")
    if machine not in MACHINE_ACTIONS:
        raise ConfigError(f"{where}.machine: {machine!r}; expected one of {', '.join(MACHINE_ACTIONS)}")
    limit = _positive(spec.get("abandon_limit", 0.03), f"{where}.abandon_limit")
    if limit >= 1:
        raise ConfigError(f"{where}.abandon_limit: {limit!r}; expected a share below 1 (0.03 is 3%)")
    dnc = []
    for i, raw in enumerate(_strings(spec.get("campaign_dnc", []), f"{where}.campaign_dnc")):
        try:
            dnc.append(normalise(raw, country)[0])
        except InvalidNumber as exc:
            raise ConfigError(f"{where}.campaign_dnc[{i}]: {exc}") from None
    compliance = spec.get("compliance", {})
    if not isinstance(compliance, Mapping):
        raise ConfigError(f"{where}.compliance: expected a mapping")
    settings = CampaignSettings(
        agents=_strings(spec.get("agents", []), f"{where}.agents"),
        skills=tuple(_skill(s, f"{where}.skills[{i}]") for i, s in enumerate(_strings(spec.get("skills", []), f"{where}.skills"))),
        script=_string(spec.get("script", ""), f"{where}.script"),
        dispositions=_strings(spec.get("dispositions", []), f"{where}.dispositions"),
        country=country,
        compliance=compliance,
        abandon_limit=limit,
        ring_timeout_s=_positive(spec.get("ring_timeout_s", 25.0), f"{where}.ring_timeout_s"),
        grace_s=_positive(spec.get("grace_s", 2.0), f"{where}.grace_s"),
        machine=machine,
        trunk=_string(spec.get("trunk", "pstn-trunk"), f"{where}.trunk"),
        campaign_dnc=tuple(dnc),
        tick_s=_positive(spec.get("tick_s", 1.0), f"{where}.tick_s"),
        dnc_refresh_s=_positive(spec.get("dnc_refresh_s", 60.0), f"{where}.dnc_refresh_s"),
        preview_skip_s=_positive(spec.get("preview_skip_s", 3600.0), f"{where}.preview_skip_s"),
    )
    settings.rules(CampaignId("check"))  # compliance errors surface at creation, not at the first dial
    return settings


def _positive(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}: {value!r}; expected a positive number")
    return float(value)


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {value!r}; expected a string")
    return value


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: {value!r}; expected a list of non-empty strings")
    return tuple(value)


def _skill(text: str, where: str) -> SkillRequirement:
    name, _, level = text.partition(">=")
    if not name.strip() or (level and not level.strip().isdigit()):
        raise ConfigError(f"{where}: {text!r}; expected 'skill' or 'skill>=level'")
    return SkillRequirement(skill=name.strip(), min_level=int(level) if level else 1)


# ---- creating and filling -------------------------------------------------------------------


async def create_campaign(
    session: AsyncSession,
    campaign_id: str,
    *,
    name: str,
    mode: str = "progressive",
    queue: str | None = None,
    caller_id: str = "",
    settings: Mapping[str, Any] | None = None,
    now: dt.datetime,
) -> m.Campaign:
    if not _CAMPAIGN_ID.fullmatch(campaign_id):
        # It travels in URLs, AMI variables and the dialplan: nothing those could read as syntax.
        raise CampaignError("invalid-campaign", f"campaign id {campaign_id!r}: expected 1 to 64 letters, digits, "
                            "'_', '-' or '.'")
    if mode not in {Mode.PREVIEW, Mode.PROGRESSIVE, Mode.PREDICTIVE}:
        raise CampaignError("invalid-campaign", f"campaign {campaign_id}: mode {mode!r}; expected preview, progressive or predictive")
    if not queue:
        raise CampaignError("invalid-campaign", f"campaign {campaign_id}: a queue is required (live answers wait in it for an agent)")
    try:
        parse_settings(settings or {})
    except ConfigError as exc:
        raise CampaignError("invalid-campaign", f"campaign {campaign_id}: {exc}") from None
    if await session.get(m.Campaign, campaign_id) is not None:
        raise CampaignError("campaign-exists", f"campaign {campaign_id} already exists")
    row = m.Campaign(
        id=campaign_id, name=name, mode=mode, status="draft", queue=queue, caller_id=caller_id,
        settings=dict(settings or {}), created_at=now,
    )
    session.add(row)
    await session.commit()
    logger.info("campaign %s: created (%s, queue %s)", campaign_id, mode, queue)
    return row


async def get_campaign(session: AsyncSession, campaign_id: str) -> m.Campaign:
    row = await session.get(m.Campaign, campaign_id)
    if row is None:
        raise CampaignError("no-such-campaign", f"campaign {campaign_id!r} does not exist")
    return row


@dataclass(frozen=True, slots=True)
class ImportReport:
    added: int
    rejections: tuple[Rejection, ...]

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "rejected_rows": len({r.row for r in self.rejections}),
                "rejections": [str(r) for r in self.rejections]}


async def import_contacts(session: AsyncSession, campaign_id: str, csv_text: str) -> ImportReport:
    """Add a CSV contact list (dialer/contacts.py's format). Valid rows are added, each invalid one
    is reported; a number the campaign already holds is reported as a duplicate."""
    campaign = await get_campaign(session, campaign_id)
    if campaign.status == "done":
        raise CampaignError("campaign-done", f"campaign {campaign_id} is done; contacts can't be added")
    settings = parse_settings(campaign.settings)
    parsed = parse_contacts(csv_text, default_country=settings.country)
    have = set((await session.execute(
        select(m.CampaignContact.number).where(m.CampaignContact.campaign_id == campaign_id))).scalars())
    have_ids = set((await session.execute(
        select(m.CampaignContact.id).where(m.CampaignContact.campaign_id == campaign_id))).scalars())
    rejections = list(parsed.rejections)
    fresh = []
    for row, listed in zip(_accepted_rows(csv_text, parsed.rejections), parsed.contacts, strict=True):
        contact = dataclasses.replace(listed, contact_id=ContactId(f"{campaign_id}:{listed.contact_id}"))
        if contact.number in have:
            rejections.append(Rejection(row, "phone", f"{contact.number} is already in campaign {campaign_id}"))
        elif contact.contact_id in have_ids:
            rejections.append(Rejection(row, "id", f"{contact.contact_id} is already in campaign {campaign_id}"))
        else:
            fresh.append(contact)
    await _add_contacts(session, campaign_id, fresh)
    rejections.sort(key=lambda r: r.row)
    logger.info("campaign %s: %d contacts added, %d rows rejected", campaign_id, len(fresh), len({r.row for r in rejections}))
    return ImportReport(len(fresh), tuple(rejections))


def _accepted_rows(csv_text: str, rejections: Sequence[Rejection]) -> list[int]:
    """The line numbers of the rows parse_contacts accepted, in order: every non-blank data row
    that has no rejection (so a contact found in the campaign already is reported at its row)."""
    rejected = {r.row for r in rejections}
    reader = csv.reader(io.StringIO(csv_text, newline=""))
    next(reader, None)
    return [reader.line_num for record in reader if any(c.strip() for c in record) and reader.line_num not in rejected]


async def _add_contacts(session: AsyncSession, campaign_id: str, contacts: Sequence[Contact]) -> None:
    ids = {int(c.customer_id) for c in contacts if c.customer_id is not None and str(c.customer_id).isdigit()}
    known = set((await session.execute(select(m.Customer.id).where(m.Customer.id.in_(ids)))).scalars()) if ids else set()
    for c in contacts:
        fk = int(c.customer_id) if c.customer_id is not None and str(c.customer_id).isdigit() else None
        session.add(m.CampaignContact(
            id=c.contact_id, campaign_id=campaign_id, customer_id=fk if fk in known else None, number=c.number,
            name=c.name, timezone=c.time_zones[0], status="pending", attempts=0,
            data={
                "country": c.country, "time_zones": list(c.time_zones), "consent": c.consent,
                "opted_out": c.opted_out, "customer_id": c.customer_id,
                "fields": dict(c.fields),
            },
        ))
    await session.commit()


async def add_segment(
    session: AsyncSession, campaign_id: str, *, tier: str, recency_below: int | None = None, limit: int = 100_000
) -> ImportReport:
    """Add the CRM's customers of `tier` whose RFM recency score is below `recency_below` (1-5,
    5 is the most recent: `recency_below=3` means "not heard from lately"), their primary phone
    each, skipping customers flagged do-not-call. Numbers that cannot be dialed are reported."""
    campaign = await get_campaign(session, campaign_id)
    settings = parse_settings(campaign.settings)
    query = (
        select(m.Customer.id, m.Customer.name, m.Customer.marketing_consent, m.CustomerPhone.number)
        .join(m.CustomerPhone, m.CustomerPhone.customer_id == m.Customer.id)
        .where(m.Customer.tier == tier, m.Customer.do_not_call.is_(False), m.CustomerPhone.is_primary.is_(True))
        .order_by(m.Customer.id)
        .limit(limit)
    )
    if recency_below is not None:
        query = query.where(m.Customer.rfm_recency.is_not(None), m.Customer.rfm_recency < recency_below)
    have = set((await session.execute(
        select(m.CampaignContact.number).where(m.CampaignContact.campaign_id == campaign_id))).scalars())
    contacts: list[Contact] = []
    rejections: list[Rejection] = []
    for n, (customer_id, name, consent, number) in enumerate((await session.execute(query)).all(), start=1):
        try:
            # The CRM keeps Chinese numbers in national form (crm/phones.py); others are E.164.
            e164, country = normalise(number, "CN" if not number.startswith("+") else settings.country)
        except InvalidNumber as exc:
            rejections.append(Rejection(n, "phone", f"customer {customer_id}: {exc}"))
            continue
        if e164 in have:
            continue
        have.add(e164)
        contacts.append(Contact(
            contact_id=ContactId(f"{campaign_id}:c{customer_id}"), number=e164, country=country,
            time_zones=zones_for(e164, country), name=name, customer_id=CustomerId(str(customer_id)),
            consent=bool(consent),
        ))
    await _add_contacts(session, campaign_id, contacts)
    logger.info("campaign %s: %d customers of tier %s added", campaign_id, len(contacts), tier)
    return ImportReport(len(contacts), tuple(rejections))


def contact_of(row: m.CampaignContact) -> Contact:
    data = row.data or {}
    return Contact(
        contact_id=ContactId(row.id), number=row.number, country=str(data.get("country", "US")),
        time_zones=tuple(data.get("time_zones") or (row.timezone,)), name=row.name,
        customer_id=CustomerId(str(data["customer_id"])) if data.get("customer_id") is not None else None,
        consent=data.get("consent"), opted_out=bool(data.get("opted_out", False)),
        fields=dict(data.get("fields") or {}),
    )


async def pending_contacts(session: AsyncSession, campaign_id: str) -> list[tuple[Contact, float | None]]:
    """The contacts still to be dialed, in list order, with the instant each may next be tried."""
    rows = (await session.execute(
        select(m.CampaignContact).where(m.CampaignContact.campaign_id == campaign_id, m.CampaignContact.status == "pending")
        .order_by(m.CampaignContact.id))).scalars()
    return [(contact_of(r), r.next_attempt_at.timestamp() if r.next_attempt_at else None) for r in rows]


async def attempts_by_number(
    session: AsyncSession, numbers: Sequence[str], *, since: dt.datetime
) -> dict[str, list[Attempt]]:
    """Every campaign's finished attempts on `numbers` since `since`: the history compliance reads."""
    out: dict[str, list[Attempt]] = {}
    if not numbers:
        return out
    rows = await session.execute(
        select(m.CampaignAttempt.number, m.CampaignAttempt.campaign_id, m.CampaignAttempt.started_at, m.CampaignAttempt.outcome)
        .where(m.CampaignAttempt.number.in_(list(numbers)), m.CampaignAttempt.started_at >= since, m.CampaignAttempt.outcome != "")
        .order_by(m.CampaignAttempt.started_at)
    )
    for number, campaign_id, started_at, outcome in rows:
        try:
            out.setdefault(number, []).append(Attempt(CampaignId(campaign_id), started_at.timestamp(), Outcome(outcome)))
        except ValueError:
            logger.warning("campaign %s: attempt on %s has unknown outcome %r; ignored", campaign_id, number, outcome)
    return out


async def live_answers(session: AsyncSession, campaign_id: str, *, since: dt.datetime) -> list[tuple[float, bool]]:
    """(instant, abandoned) of the campaign's live answers since `since`: the abandon ledger's input."""
    rows = await session.execute(
        select(m.CampaignAttempt.started_at, m.CampaignAttempt.outcome)
        .where(m.CampaignAttempt.campaign_id == campaign_id, m.CampaignAttempt.started_at >= since,
               m.CampaignAttempt.outcome.in_(LIVE_OUTCOMES))
        .order_by(m.CampaignAttempt.started_at)
    )
    return [(at.timestamp(), outcome == Outcome.ABANDONED.value) for at, outcome in rows]


# ---- control and progress -------------------------------------------------------------------


async def change_status(session: AsyncSession, campaign_id: str, action: str) -> m.Campaign:
    if action not in TRANSITIONS:
        raise CampaignError("invalid-action", f"campaign {campaign_id}: unknown action {action!r}; expected one of {', '.join(TRANSITIONS)}")
    campaign = await get_campaign(session, campaign_id)
    sources, target = TRANSITIONS[action]
    if campaign.status not in sources:
        raise CampaignError("invalid-state", f"campaign {campaign_id}: can't {action} a campaign that is {campaign.status}")
    if action == "start":
        count = (await session.execute(select(func.count()).select_from(m.CampaignContact)
                                       .where(m.CampaignContact.campaign_id == campaign_id))).scalar_one()
        if count == 0:
            raise CampaignError("invalid-state", f"campaign {campaign_id}: can't start a campaign without contacts")
        if not parse_settings(campaign.settings).agents:
            raise CampaignError("invalid-state", f"campaign {campaign_id}: can't start a campaign without agents (settings.agents)")
    campaign.status = target
    await session.commit()
    logger.info("campaign %s: %s -> %s", campaign_id, action, target)
    return campaign


async def progress(session: AsyncSession, campaign_id: str, *, now: dt.datetime) -> dict[str, Any]:
    """Contacts by status, attempts by outcome and the abandon rate in every window."""
    campaign = await get_campaign(session, campaign_id)
    settings = parse_settings(campaign.settings)
    contacts = Counter({s: n for s, n in (await session.execute(
        select(m.CampaignContact.status, func.count()).where(m.CampaignContact.campaign_id == campaign_id)
        .group_by(m.CampaignContact.status))).all()})
    outcomes = Counter({o or "in-progress": n for o, n in (await session.execute(
        select(m.CampaignAttempt.outcome, func.count()).where(m.CampaignAttempt.campaign_id == campaign_id)
        .group_by(m.CampaignAttempt.outcome))).all()})
    ledger = AbandonLedger(DEFAULT_WINDOWS, limit=settings.abandon_limit)
    for at, abandoned in await live_answers(session, campaign_id, since=now - dt.timedelta(days=31)):
        ledger.record(at, abandoned=abandoned)
    return {
        "campaign_id": campaign.id, "name": campaign.name, "mode": campaign.mode, "status": campaign.status,
        "queue": campaign.queue, "caller_id": campaign.caller_id,
        "contacts": {s: contacts.get(s, 0) for s in ("pending", "done", "failed", "dnc")} | {"total": sum(contacts.values())},
        "dials": sum(outcomes.values()),
        "answers": outcomes.get(Outcome.HUMAN.value, 0) + outcomes.get(Outcome.ABANDONED.value, 0),
        "outcomes": dict(sorted(outcomes.items())),
        "abandon_limit": settings.abandon_limit,
        "abandon_windows": [
            {"window": r.name, "answers": r.answers, "abandons": r.abandons, "rate": round(r.rate, 4)}
            for r in ledger.rates(now.timestamp())
        ],
    }


MAX_DECISIONS = 1000


async def decisions(session: AsyncSession, campaign_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The campaign's latest dial decisions (dials and no-dials), newest first."""
    if not 1 <= limit <= MAX_DECISIONS:
        raise CampaignError("invalid-limit", f"limit {limit}: expected 1 to {MAX_DECISIONS}")
    await get_campaign(session, campaign_id)
    rows = (await session.execute(
        select(m.DialDecision).where(m.DialDecision.campaign_id == campaign_id)
        .order_by(m.DialDecision.decided_at.desc(), m.DialDecision.id.desc()).limit(limit))).scalars()
    return [
        {"contact_id": r.contact_id, "number": r.number, "allowed": r.allowed, "reasons": list(r.reasons),
         "next_allowed_at": r.next_allowed_at.timestamp() if r.next_allowed_at else None,
         "agent_reserved": r.agent_reserved, "decided_at": r.decided_at.timestamp()}
        for r in rows
    ]


async def list_campaigns(session: AsyncSession) -> list[dict[str, Any]]:
    rows = (await session.execute(select(m.Campaign).order_by(m.Campaign.created_at, m.Campaign.id))).scalars()
    return [{"campaign_id": r.id, "name": r.name, "mode": r.mode, "status": r.status, "queue": r.queue} for r in rows]
