"""The CRM schema: SQLAlchemy 2 declarative models, identical on SQLite and PostgreSQL.

Choices that matter for speed and for history:

* A customer's numbers live in `customer_phones` with a UNIQUE index on the *normalised* number
  (`crm.phones.normalise_number`), so an ANI look-up is one B-tree probe however many millions
  of customers there are, and a number can never belong to two customers.
* `call_records` is one row per call, keyed by `call_id` (Asterisk's Linkedid). It is a log of
  what happened, so `customer_id` and `agent_id` are plain indexed columns, not foreign keys:
  NOTE(crm): a call that names an agent the CRM does not know (a PBX-only extension), or a
  customer deleted later, must still be logged, and the outbox must never hold a record it can
  never write.
* Times are timezone-aware UTC (`UtcDateTime`): PostgreSQL stores `timestamptz`, SQLite an ISO
  string that is read back as UTC.
* Money is `Numeric(12, 2)` in yuan (Decimal in Python), never float.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so that later migrations (and SQLite batch mode) can address them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A 64-bit key on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Money = Numeric(12, 2)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; the CRM stores timezone-aware UTC")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """The Core table of a model (typed as a Table, for bulk statements)."""
    return cast(Table, model.__table__)


# ------------------------------------------------------------------------------------------------
# Customers
# ------------------------------------------------------------------------------------------------


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    tier: Mapped[str] = mapped_column(String(16), default="star1")  # star1..star5, vip (see crm/tiers.yaml)
    segment: Mapped[str] = mapped_column(String(32), default="consumer")
    # Billing facts the IVR reads out for self-service.
    balance: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    plan: Mapped[str] = mapped_column(String(64), default="")
    last_bill_amount: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    last_bill_date: Mapped[dt.date | None] = mapped_column(nullable=True)
    data_used_mb: Mapped[int] = mapped_column(Integer, default=0)
    data_quota_mb: Mapped[int] = mapped_column(Integer, default=0)
    # Consent and compliance.
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    do_not_call: Mapped[bool] = mapped_column(Boolean, default=False)
    # RFM value, recomputed by `callcenter crm rfm`.
    rfm_recency: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rfm_frequency: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rfm_monetary: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rfm_scored_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerPhone.id"
    )


class CustomerPhone(Base):
    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # normalised: the ANI look-up key
    kind: Mapped[str] = mapped_column(String(16), default="mobile")  # mobile | home | work
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)

    customer: Mapped[Customer] = relationship(back_populates="phones")


class Transaction(Base):
    """Billing and payment history: the input of RFM scoring."""

    __tablename__ = "transactions"
    __table_args__ = (Index("ix_transactions_customer_at", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    amount: Mapped[Decimal] = mapped_column(Money)
    kind: Mapped[str] = mapped_column(String(16), default="bill")  # bill | recharge | purchase
    reference: Mapped[str] = mapped_column(String(64), default="")


# ------------------------------------------------------------------------------------------------
# Calls
# ------------------------------------------------------------------------------------------------


class CallRecord(Base):
    """One row per call, keyed by Linkedid; written through the outbox (crm/outbox.py)."""

    __tablename__ = "call_records"
    __table_args__ = (
        Index("ix_call_records_customer_arrived", "customer_id", "arrived_at"),
        Index("ix_call_records_agent_arrived", "agent_id", "arrived_at"),
    )

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(16))
    ani: Mapped[str] = mapped_column(String(32), default="")
    dnis: Mapped[str] = mapped_column(String(32), default="")
    caller_name: Mapped[str] = mapped_column(String(200), default="")
    customer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    arrived_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    ivr_exited_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    queued_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    offered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    wrap_up_ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    wait_s: Mapped[float] = mapped_column(Float, default=0.0)
    talk_s: Mapped[float] = mapped_column(Float, default=0.0)
    hold_s: Mapped[float] = mapped_column(Float, default=0.0)
    wrap_up_s: Mapped[float] = mapped_column(Float, default=0.0)
    queue: Mapped[str | None] = mapped_column(String(64), nullable=True)
    agent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    offers: Mapped[int] = mapped_column(Integer, default=0)  # agents rung, answered or not
    priority_class: Mapped[str] = mapped_column(String(16), default="")
    ivr_flow: Mapped[str] = mapped_column(String(64), default="")
    ivr_path: Mapped[list[str]] = mapped_column(JSON, default=list)
    routing_summary: Mapped[str] = mapped_column(Text, default="")
    transfers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    overflowed_to: Mapped[str | None] = mapped_column(String(64), nullable=True)
    fallback_reason: Mapped[str] = mapped_column(String(200), default="")
    hangup_side: Mapped[str] = mapped_column(String(16), default="unknown")
    hangup_cause: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hangup_cause_txt: Mapped[str] = mapped_column(String(64), default="")
    disposition: Mapped[str] = mapped_column(String(64), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    recording_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), index=True)


class CallEvent(Base):
    """The domain events of a call, in the JSON form of `callcenter.events.to_json`."""

    __tablename__ = "call_events"
    __table_args__ = (UniqueConstraint("call_id", "seq", name="uq_call_events_call_id_seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(48))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


# ------------------------------------------------------------------------------------------------
# Agents, skills, queues
# ------------------------------------------------------------------------------------------------


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # AgentId, e.g. "1001"
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id (crm.repositories.hash_password)
    role: Mapped[str] = mapped_column(String(16), default="agent")  # agent | supervisor | admin
    interface: Mapped[str] = mapped_column(String(64), default="")  # what Dial() rings, e.g. PJSIP/1001
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    skills: Mapped[list[AgentSkill]] = relationship(cascade="all, delete-orphan", order_by="AgentSkill.skill")


class Skill(Base):
    __tablename__ = "skills"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(200), default="")


class AgentSkill(Base):
    __tablename__ = "agent_skills"

    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    skill: Mapped[str] = mapped_column(ForeignKey("skills.name", ondelete="CASCADE"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, default=1)  # proficiency 1..5


class Queue(Base):
    """A queue's configuration, as the ACD loads it at start."""

    __tablename__ = "queues"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    strategy: Mapped[str] = mapped_column(String(32), default="longest-idle")
    skills: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{"skill": s, "min_level": n}]
    service_level_s: Mapped[float] = mapped_column(Float, default=20.0)
    max_wait_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    overflow_queue: Mapped[str | None] = mapped_column(String(64), nullable=True)
    overflow_after_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    wrap_up_s: Mapped[float] = mapped_column(Float, default=10.0)


class AgentStateHistory(Base):
    __tablename__ = "agent_state_history"
    __table_args__ = (UniqueConstraint("agent_id", "at", "new_state", name="uq_agent_state_history_agent_at_new"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    old_state: Mapped[str] = mapped_column(String(16))
    new_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    call_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


# ------------------------------------------------------------------------------------------------
# Outbound campaigns and compliance
# ------------------------------------------------------------------------------------------------


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # CampaignId
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16), default="progressive")  # preview | progressive | predictive
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | running | paused | done
    queue: Mapped[str | None] = mapped_column(String(64), nullable=True)
    caller_id: Mapped[str] = mapped_column(String(32), default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # windows, retries, pacing
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class CampaignContact(Base):
    __tablename__ = "campaign_contacts"
    __table_args__ = (Index("ix_campaign_contacts_campaign_status", "campaign_id", "status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # ContactId
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), nullable=True)
    number: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | failed | dnc
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CampaignAttempt(Base):
    __tablename__ = "campaign_attempts"
    __table_args__ = (UniqueConstraint("contact_id", "started_at", name="uq_campaign_attempts_contact_started"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("campaign_contacts.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), default="")  # human | machine | busy | no-answer | ...


class DialDecision(Base):
    """Compliance's answer for every dial and every no-dial of a campaign. A log, journaled by the
    runner through the outbox and keyed by contact and instant; like `call_records`, no foreign
    keys, so the outbox never holds a decision it can never write."""

    __tablename__ = "dial_decisions"
    __table_args__ = (
        UniqueConstraint("contact_id", "decided_at", name="uq_dial_decisions_contact_decided"),
        Index("ix_dial_decisions_campaign_decided", "campaign_id", "decided_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(32))
    allowed: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)  # compliance.Reason values
    next_allowed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    agent_reserved: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class DncEntry(Base):
    """Do-not-call list: numbers (normalised) that outbound campaigns must never dial."""

    __tablename__ = "dnc_entries"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), default="customer")  # customer | regulator | internal
    reason: Mapped[str] = mapped_column(String(200), default="")
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


# ------------------------------------------------------------------------------------------------
# After the call: complaints, surveys, recordings
# ------------------------------------------------------------------------------------------------


class Complaint(Base):
    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_customer_status", "customer_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    call_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    category: Mapped[str] = mapped_column(String(32), default="general")  # billing | network | service | ...
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | in-progress | resolved | closed
    opened_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    agent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SurveyAnswer(Base):
    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("call_id", "question", name="uq_survey_answers_call_question"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(String(64))  # e.g. "csat", "resolved"
    answer: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Recording(Base):
    """Recording metadata; the audio itself lives under the data directory's recordings/."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # RecordingId
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(8), default="wav")
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    transcript: Mapped[str | None] = mapped_column(Text, nullable=True)
    delete_after: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)  # hex digest of the stored file
    # [{"start_s", "end_s"}]: seconds from the recording's start that were muted (card numbers...).
    # Rows from before migration 0002 have none recorded.
    paused_spans: Mapped[list[dict[str, float]]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
