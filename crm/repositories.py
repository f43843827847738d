"""What the other rooms call to read and write the CRM.

* Routing and the IVR: `lookup_by_ani(session, ani) -> CustomerCard | None` (one index probe on
  the normalised number, plus the last interactions), `get_customer_card(session, customer_id)`.
* The dialer, before every dial: `is_do_not_call(session, number, now=...)`.
* The ACD at start: `load_queues(session)`, `load_agents(session)`.
* CTI login: `authenticate(session, username, password) -> AgentAccount | None`, `hash_password`.
* The outbox writers (`write_call_records`, ...): idempotent upserts keyed by the natural key, so
  writing a batch twice leaves the database as writing it once.
* `recompute_rfm(session, config, as_of)`: RFM scores and tiers for every customer with history.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased, selectinload

from acd import config as acd_config
from callcenter.events import AgentId, CustomerId
from crm import models as m
from crm.calllog import complete_record_json
from crm.phones import InvalidNumber, normalise_number
from crm.rfm import DEFAULT_TIER_CONFIG, CustomerFacts, TierConfig, score

logger = logging.getLogger(__name__)

OPEN_COMPLAINT_STATES = ("open", "in-progress")
LAST_INTERACTIONS = 3


def utc(ts: float | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC)


# ------------------------------------------------------------------------------------------------
# Customer cards
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Interaction:
    call_id: str
    at: dt.datetime
    queue: str | None
    agent_id: str | None
    outcome: str
    disposition: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerCard:
    """What routing, the IVR and the screen pop need to know about a caller."""

    id: CustomerId
    account_number: str
    name: str
    language: str
    tier: str
    priority_class: str
    priority: int
    segment: str
    balance: Decimal
    plan: str
    last_bill_amount: Decimal | None
    last_bill_date: dt.date | None
    data_used_mb: int
    data_quota_mb: int
    do_not_call: bool
    open_complaints: int
    last_interactions: tuple[Interaction, ...]


_open_complaints = (
    select(func.count())
    .select_from(m.Complaint)
    .where(m.Complaint.customer_id == m.Customer.id, m.Complaint.status.in_(OPEN_COMPLAINT_STATES))
    .correlate(m.Customer)
    .scalar_subquery()
)

_CARD_COLUMNS = (
    m.Customer.id,
    m.Customer.account_number,
    m.Customer.name,
    m.Customer.language,
    m.Customer.tier,
    m.Customer.segment,
    m.Customer.balance,
    m.Customer.plan,
    m.Customer.last_bill_amount,
    m.Customer.last_bill_date,
    m.Customer.data_used_mb,
    m.Customer.data_quota_mb,
    m.Customer.do_not_call,
    _open_complaints.label("open_complaints"),
)


# The customer's last calls ride along in the same statement (one row per call, or one row with
# NULL call columns): one round trip per look-up, which matters more than anything else for the
# look-up's latency, on SQLite (a thread hop per statement) as on PostgreSQL (a network hop).
_recent = aliased(m.CallRecord)
_RECENT_IDS = (
    select(m.CallRecord.call_id)
    .where(m.CallRecord.customer_id == m.Customer.id)
    .order_by(m.CallRecord.arrived_at.desc())
    .limit(LAST_INTERACTIONS)
    .correlate(m.Customer)
)
_CARD_QUERY = (
    select(
        *_CARD_COLUMNS,
        _recent.call_id.label("r_call_id"),
        _recent.arrived_at.label("r_at"),
        _recent.queue.label("r_queue"),
        _recent.agent_id.label("r_agent_id"),
        _recent.outcome.label("r_outcome"),
        _recent.disposition.label("r_disposition"),
    )
    .outerjoin(_recent, _recent.call_id.in_(_RECENT_IDS))
    .order_by(_recent.arrived_at.desc())
)
# Built once: SQLAlchemy memoises a statement's cache key, so a reused statement skips that work.
_ANI_QUERY = _CARD_QUERY.join(m.CustomerPhone, m.CustomerPhone.customer_id == m.Customer.id).where(
    m.CustomerPhone.number == bindparam("number")
)
_ID_QUERY = _CARD_QUERY.where(m.Customer.id == bindparam("id"))


def _card(rows: Sequence[Any], tiers: TierConfig) -> CustomerCard | None:
    if not rows:
        return None
    row = rows[0]
    priority = tiers.priority_for(row.tier)
    return CustomerCard(
        id=CustomerId(str(row.id)),
        account_number=row.account_number,
        name=row.name,
        language=row.language,
        tier=row.tier,
        priority_class=priority.priority_class,
        priority=priority.priority,
        segment=row.segment,
        balance=row.balance,
        plan=row.plan,
        last_bill_amount=row.last_bill_amount,
        last_bill_date=row.last_bill_date,
        data_used_mb=row.data_used_mb,
        data_quota_mb=row.data_quota_mb,
        do_not_call=row.do_not_call,
        open_complaints=row.open_complaints,
        last_interactions=tuple(
            Interaction(
                call_id=r.r_call_id,
                at=r.r_at,
                queue=r.r_queue,
                agent_id=r.r_agent_id,
                outcome=r.r_outcome,
                disposition=r.r_disposition,
            )
            for r in rows
            if r.r_call_id is not None
        ),
    )


async def lookup_by_ani(
    session: AsyncSession, ani: str, *, tiers: TierConfig = DEFAULT_TIER_CONFIG
) -> CustomerCard | None:
    """The customer whose number is `ani` (any spelling: +86, spaces, ...); None when unknown
    or withheld. One index probe on the normalised number, one statement."""
    try:
        number = normalise_number(ani)
    except InvalidNumber:
        return None
    return _card((await session.execute(_ANI_QUERY, {"number": number})).all(), tiers)


async def get_customer_card(
    session: AsyncSession, customer_id: CustomerId | int, *, tiers: TierConfig = DEFAULT_TIER_CONFIG
) -> CustomerCard | None:
    key = int(customer_id) if str(customer_id).isdigit() else -1
    return _card((await session.execute(_ID_QUERY, {"id": key})).all(), tiers)


async def is_do_not_call(session: AsyncSession, number: str, *, now: dt.datetime) -> bool:
    """True when `number` must not be dialled: on the DNC list (and not expired), or belonging to
    a customer flagged do-not-call. A number that is not a number is never dialled either."""
    try:
        key = normalise_number(number)
    except InvalidNumber:
        return True
    listed = select(m.DncEntry.number).where(
        m.DncEntry.number == key, (m.DncEntry.expires_at.is_(None)) | (m.DncEntry.expires_at > now)
    )
    flagged = (
        select(m.CustomerPhone.number)
        .join(m.Customer, m.Customer.id == m.CustomerPhone.customer_id)
        .where(m.CustomerPhone.number == key, m.Customer.do_not_call.is_(True))
    )
    return (await session.execute(listed.union_all(flagged).limit(1))).first() is not None


# ------------------------------------------------------------------------------------------------
# Agents and queues (CTI login, ACD configuration)
# ------------------------------------------------------------------------------------------------

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash, for `agents.password_hash`."""
    return _hasher.hash(password)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAccount:
    id: AgentId
    username: str
    name: str
    role: str  # agent | supervisor | admin
    interface: str
    languages: tuple[str, ...]
    skills: tuple[tuple[str, int], ...]  # (skill, level 1..5)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    name: str
    description: str
    strategy: str
    skills: tuple[tuple[str, int], ...]  # (skill, min_level)
    service_level_s: float
    max_wait_s: float | None
    overflow_queue: str | None
    overflow_after_s: float | None
    wrap_up_s: float


def _account(agent: m.Agent) -> AgentAccount:
    return AgentAccount(
        id=AgentId(agent.id),
        username=agent.username,
        name=agent.name,
        role=agent.role,
        interface=agent.interface,
        languages=tuple(agent.languages),
        skills=tuple((s.skill, s.level) for s in agent.skills),
    )


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def authenticate(session: AsyncSession, username: str, password: str) -> AgentAccount | None:
    """The active agent with this username and password, else None (never says which was wrong).

    argon2 costs tens of milliseconds of CPU on purpose, so it runs in a worker thread: a flood of
    logins must not stall the event loop that controls calls. An unknown or inactive name is
    checked against a dummy hash, so the answer takes as long as for a wrong password and does not
    tell an attacker which usernames exist."""
    agent = (
        await session.execute(select(m.Agent).options(selectinload(m.Agent.skills)).where(m.Agent.username == username))
    ).scalar_one_or_none()
    known = agent is not None and agent.active
    password_hash = agent.password_hash if agent is not None and known else _dummy_hash()
    matches = await asyncio.to_thread(_password_matches, password_hash, password)
    return _account(agent) if agent is not None and known and matches else None


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


async def load_agents(session: AsyncSession) -> list[AgentAccount]:
    agents = await session.execute(
        select(m.Agent).options(selectinload(m.Agent.skills)).where(m.Agent.active.is_(True)).order_by(m.Agent.id)
    )
    return [_account(a) for a in agents.scalars()]


def queue_mirror_rows(queues: Iterable[acd_config.QueueConfig]) -> list[dict[str, Any]]:
    """The CRM `queues` rows for the routing rules' queues. The rules file is the source of truth
    for queue configuration; the table is a copy for reports (overflow and maximum wait are per
    rule there, so they stay empty here)."""
    return [
        {
            "name": q.name,
            "description": "",
            "strategy": q.strategy.value,
            "skills": [{"skill": r.skill, "min_level": r.min_level} for r in q.skills],
            "service_level_s": q.service_level_s,
            "wrap_up_s": q.wrap_up_s,
        }
        for q in queues
    ]


async def write_queue_mirror(conn: AsyncConnection, queues: Iterable[acd_config.QueueConfig]) -> int:
    """Replace the CRM `queues` table with the rules' queues; returns how many were written."""
    rows = queue_mirror_rows(queues)
    await conn.execute(delete(m.table_of(m.Queue)))
    if rows:
        await conn.execute(insert(m.table_of(m.Queue)), rows)
    return len(rows)


async def load_queues(session: AsyncSession) -> list[QueueConfig]:
    queues = await session.execute(select(m.Queue).order_by(m.Queue.name))
    return [
        QueueConfig(
            name=q.name,
            description=q.description,
            strategy=q.strategy,
            skills=tuple((s["skill"], int(s.get("min_level", 1))) for s in q.skills),
            service_level_s=q.service_level_s,
            max_wait_s=q.max_wait_s,
            overflow_queue=q.overflow_queue,
            overflow_after_s=q.overflow_after_s,
            wrap_up_s=q.wrap_up_s,
        )
        for q in queues.scalars()
    ]


# ------------------------------------------------------------------------------------------------
# Outbox writers: idempotent upserts
# ------------------------------------------------------------------------------------------------


def _insert(conn: AsyncConnection, table: Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _last_per_key(rows: Sequence[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    # One statement may not upsert the same key twice (PostgreSQL refuses); the newest wins.
    return list({tuple(r[k] for k in keys): r for r in rows}.values())


async def _upsert(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str], *, update_: bool = True
) -> None:
    rows = _last_per_key(rows, *keys)
    if not rows:
        return
    ins = _insert(conn, table)
    if update_:
        changing = [c.name for c in table.columns if c.name not in keys and c.name in rows[0]]
        stmt = ins.on_conflict_do_update(index_elements=list(keys), set_={c: ins.excluded[c] for c in changing})
    else:
        stmt = ins.on_conflict_do_nothing(index_elements=list(keys))
    await conn.execute(stmt, rows)


_CALL_TIMES = ("arrived_at", "ivr_exited_at", "queued_at", "offered_at", "answered_at", "ended_at", "wrap_up_ended_at")
_CALL_COLUMNS = frozenset(c.name for c in m.table_of(m.CallRecord).columns)


async def write_call_records(conn: AsyncConnection, payloads: Sequence[dict[str, Any]]) -> None:
    records: list[dict[str, Any]] = []
    events: list[tuple[Any, ...]] = []
    for payload in payloads:
        p = complete_record_json(payload)
        row = {k: v for k, v in p.items() if k in _CALL_COLUMNS}
        for k in _CALL_TIMES:
            row[k] = utc(p[k])
        records.append(row)
        events.extend((p["call_id"], i, e["type"], utc(e["at"]), e) for i, e in enumerate(p["events"]))
    await _upsert(conn, m.table_of(m.CallRecord), records, ["call_id"])
    await _insert_events(conn, events)


_EVENT_COLUMNS = ("call_id", "seq", "type", "at", "payload")


async def _insert_events(conn: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
    """Insert-or-ignore call events, keyed by (call_id, seq)."""
    rows = list({(r[0], r[1]): r for r in rows}.values())
    await insert_rows(
        conn, m.table_of(m.CallEvent), _EVENT_COLUMNS, rows, suffix="ON CONFLICT (call_id, seq) DO NOTHING"
    )


async def insert_rows(
    conn: AsyncConnection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], *, suffix: str = ""
) -> None:
    """INSERT `rows` (tuples in `columns` order) through the driver's executemany.

    NOTE(crm): for bulk rows SQLAlchemy's per-row statement work was most of the cost (five event
    rows per call record; a million customers when seeding), so this skips it while applying the
    columns' own bind processors: the same UTC, JSON and Decimal conversions SQLAlchemy would."""
    if not rows:
        return
    dialect = conn.dialect
    procs = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    params = [tuple(v if proc is None else proc(v) for proc, v in zip(procs, row, strict=True)) for row in rows]
    if dialect.paramstyle == "qmark":  # SQLite
        marks = ", ".join("?" for _ in columns)
    else:  # asyncpg: numeric_dollar
        marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks}) {suffix}"  # noqa: S608 - our names
    await conn.exec_driver_sql(sql, params)


async def write_agent_states(conn: AsyncConnection, payloads: Sequence[dict[str, Any]]) -> None:
    rows = [
        {
            "agent_id": p["agent_id"],
            "at": utc(p["at"]),
            "old_state": p["old"],
            "new_state": p["new"],
            "reason": p.get("reason", ""),
            "call_id": p.get("call_id"),
        }
        for p in payloads
    ]
    await _upsert(conn, m.table_of(m.AgentStateHistory), rows, ["agent_id", "at", "new_state"], update_=False)


async def write_recordings(conn: AsyncConnection, payloads: Sequence[dict[str, Any]]) -> None:
    """Payload (`recorder.adapter.crm_recording_payload`): id, call_id, path, format, started_at
    (epoch s) and optionally ended_at, duration_s, size_bytes, transcript, delete_after, sha256 and
    paused_spans as `[[start_s, end_s], ...]` (stored as `[{"start_s", "end_s"}, ...]`); a later
    entry for the same id updates it."""
    rows = [
        {
            "id": p["id"],
            "call_id": p["call_id"],
            "path": p["path"],
            "format": p.get("format", "wav"),
            "started_at": utc(p["started_at"]),
            "ended_at": utc(p.get("ended_at")),
            "duration_s": p.get("duration_s"),
            "size_bytes": p.get("size_bytes"),
            "transcript": p.get("transcript"),
            "delete_after": utc(p.get("delete_after")),
            "sha256": p.get("sha256"),
            "paused_spans": [{"start_s": start, "end_s": end} for start, end in p.get("paused_spans", ())],
        }
        for p in payloads
    ]
    await _upsert(conn, m.table_of(m.Recording), rows, ["id"])


async def write_campaign_attempts(conn: AsyncConnection, payloads: Sequence[dict[str, Any]]) -> None:
    """Payload: campaign_id, contact_id, number, started_at (epoch s), and optionally call_id,
    ended_at, outcome; keyed by (contact_id, started_at), so the attempt's end updates its start."""
    rows = [
        {
            "campaign_id": p["campaign_id"],
            "contact_id": p["contact_id"],
            "number": p["number"],
            "call_id": p.get("call_id"),
            "started_at": utc(p["started_at"]),
            "ended_at": utc(p.get("ended_at")),
            "outcome": p.get("outcome", ""),
        }
        for p in payloads
    ]
    await _upsert(conn, m.table_of(m.CampaignAttempt), rows, ["contact_id", "started_at"])


async def write_dial_decisions(conn: AsyncConnection, payloads: Sequence[dict[str, Any]]) -> None:
    """Payload: a `DialDecided` as JSON (campaign_id, contact_id, number, allowed, reasons,
    next_allowed_at and at in epoch s, agent_reserved); keyed by (contact_id, decided_at), so a
    journal entry written twice is one row."""
    rows = [
        {
            "campaign_id": p["campaign_id"],
            "contact_id": p["contact_id"],
            "number": p["number"],
            "allowed": bool(p["allowed"]),
            "reasons": list(p.get("reasons", ())),
            "next_allowed_at": utc(p.get("next_allowed_at")),
            "agent_reserved": bool(p.get("agent_reserved", False)),
            "decided_at": utc(p["at"]),
        }
        for p in payloads
    ]
    await _upsert(conn, m.table_of(m.DialDecision), rows, ["contact_id", "decided_at"])


# ------------------------------------------------------------------------------------------------
# RFM
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RfmSummary:
    scored: int
    tiers: dict[str, int]  # tier -> customers now in it
    changed: int  # customers whose tier changed


async def recompute_rfm(session: AsyncSession, config: TierConfig, *, as_of: dt.datetime) -> RfmSummary:
    """Score every customer with transactions as of `as_of`; customers without any keep their tier."""
    since = as_of - dt.timedelta(days=config.window_days)
    in_window = (m.Transaction.at >= since) & (m.Transaction.at <= as_of)
    result = await session.execute(
        select(
            m.Transaction.customer_id,
            func.max(m.Transaction.at),
            func.count().filter(in_window),
            func.coalesce(func.sum(m.Transaction.amount).filter(in_window), 0),
            m.Customer.tier,
        )
        .join(m.Customer, m.Customer.id == m.Transaction.customer_id)
        .where(m.Transaction.at <= as_of)
        .group_by(m.Transaction.customer_id, m.Customer.tier)
    )
    updates: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    changed = 0
    for customer_id, last_at, count, total, old_tier in result:
        if isinstance(last_at, str):  # SQLite's MAX() over the stored text loses the type
            last_at = dt.datetime.fromisoformat(last_at).replace(tzinfo=dt.UTC)
        facts = CustomerFacts(
            customer_id=customer_id,
            last_at=last_at,
            count=int(count),
            total=Decimal(str(total)).quantize(Decimal("0.01")),
        )
        s = score(facts, config, as_of=as_of)
        counts[s.tier] = counts.get(s.tier, 0) + 1
        changed += s.tier != old_tier
        updates.append({"cid": customer_id, "tier": s.tier, "r": s.recency, "f": s.frequency, "mon": s.monetary})
    table = m.table_of(m.Customer)
    if updates:
        stmt = (
            update(table)
            .where(table.c.id == bindparam("cid"))
            .values(
                tier=bindparam("tier"),
                rfm_recency=bindparam("r"),
                rfm_frequency=bindparam("f"),
                rfm_monetary=bindparam("mon"),
                rfm_scored_at=as_of,
            )
        )
        conn = await session.connection()
        await conn.execute(stmt, updates)
    logger.info("rfm: %d customers scored as of %s, %d changed tier", len(updates), as_of.isoformat(), changed)
    return RfmSummary(scored=len(updates), tiers=dict(sorted(counts.items())), changed=changed)
