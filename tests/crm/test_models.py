"""Every kind of row goes in and comes back equal, with types intact, on both backends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from crm import models as m

T0 = dt.datetime(2026, 5, 1, 8, 30, 15, 250000, tzinfo=dt.UTC)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _customer(account: str = "A1", numbers: tuple[str, ...] = ("13800138000",)) -> m.Customer:
    return m.Customer(
        account_number=account,
        name="王伟",
        language="zh",
        tier="star4",
        segment="business",
        balance=Decimal("-12.35"),
        plan="5G 128",
        last_bill_amount=Decimal("138.40"),
        last_bill_date=dt.date(2026, 5, 1),
        data_used_mb=20480,
        data_quota_mb=61440,
        marketing_consent=True,
        do_not_call=False,
        created_at=T0,
        phones=[m.CustomerPhone(number=n, is_primary=i == 0) for i, n in enumerate(numbers)],
    )


async def test_customer_with_numbers_round_trips(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        s.add(_customer(numbers=("13800138000", "01066551234")))
        await s.commit()
    async with sessions() as s:
        c = (await s.execute(select(m.Customer).options(selectinload(m.Customer.phones)))).scalar_one()
        assert (c.name, c.tier, c.balance, c.last_bill_amount) == (
            "王伟",
            "star4",
            Decimal("-12.35"),
            Decimal("138.40"),
        )
        assert c.last_bill_date == dt.date(2026, 5, 1)
        assert c.created_at == T0 and c.created_at.tzinfo is not None
        assert [(p.number, p.is_primary, p.kind) for p in c.phones] == [
            ("13800138000", True, "mobile"),
            ("01066551234", False, "mobile"),
        ]


async def test_a_number_belongs_to_one_customer_only(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        s.add(_customer("A1", ("13800138000",)))
        await s.commit()
    async with sessions() as s:
        s.add(_customer("A2", ("13800138000",)))
        with pytest.raises(IntegrityError):
            await s.commit()


async def test_call_record_and_events_round_trip(sessions: async_sessionmaker[AsyncSession]) -> None:
    local = T0.astimezone(SHANGHAI)  # any offset in, UTC out
    async with sessions() as s:
        s.add(
            m.CallRecord(
                call_id="1714552215.42",
                direction="inbound",
                ani="13800138000",
                dnis="10086",
                arrived_at=local,
                answered_at=T0 + dt.timedelta(seconds=42.5),
                wait_s=42.5,
                ivr_path=["welcome", "main", "billing"],
                transfers=[{"kind": "blind", "target": "2001", "by_agent": "1001", "at": 1.5}],
                outcome="answered",
                queue="billing",
                agent_id="1001",
            )
        )
        s.add(
            m.CallEvent(
                call_id="1714552215.42", seq=0, type="call.arrived", at=T0, payload={"type": "call.arrived", "v": 1}
            )
        )
        await s.commit()
    async with sessions() as s:
        r = await s.get(m.CallRecord, "1714552215.42")
        assert r is not None
        assert r.arrived_at == T0 and r.arrived_at.utcoffset() == dt.timedelta(0)
        assert r.answered_at == T0 + dt.timedelta(seconds=42.5)
        assert r.ivr_path == ["welcome", "main", "billing"]
        assert r.transfers == [{"kind": "blind", "target": "2001", "by_agent": "1001", "at": 1.5}]
        assert (r.hangup_side, r.offers, r.ended_at, r.notes) == ("unknown", 0, None, "")
        e = (await s.execute(select(m.CallEvent))).scalar_one()
        assert e.payload == {"type": "call.arrived", "v": 1}


async def test_naive_datetimes_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        s.add(m.DncEntry(number="13800138000", added_at=dt.datetime(2026, 5, 1)))
        with pytest.raises(
            Exception, match=r"naive datetime 2026-05-01T00:00:00 given; the CRM stores timezone-aware UTC"
        ):
            await s.commit()


async def test_agents_queues_campaigns_complaints_surveys_recordings_round_trip(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s:
        s.add_all([m.Skill(name="billing"), m.Skill(name="vip")])
        s.add(_customer())
        await s.flush()
        s.add(
            m.Agent(
                id="1001",
                username="agent1001",
                name="李娜",
                password_hash="x",
                role="supervisor",
                interface="PJSIP/1001",
                languages=["zh", "en"],
                skills=[m.AgentSkill(skill="billing", level=4), m.AgentSkill(skill="vip", level=2)],
            )
        )
        s.add(
            m.Queue(
                name="billing",
                skills=[{"skill": "billing", "min_level": 2}],
                overflow_queue="general",
                overflow_after_s=90,
            )
        )
        s.add(m.AgentStateHistory(agent_id="1001", at=T0, old_state="ready", new_state="on-call", call_id="c1"))
        s.add(
            m.Campaign(
                id="camp1", name="Renewals", mode="predictive", settings={"window": ["09:00", "21:00"]}, created_at=T0
            )
        )
        await s.flush()
        s.add(
            m.CampaignContact(
                id="k1", campaign_id="camp1", customer_id=1, number="13800138000", data={"plan": "5G 128"}
            )
        )
        await s.flush()
        s.add(
            m.CampaignAttempt(
                campaign_id="camp1", contact_id="k1", number="13800138000", started_at=T0, outcome="human"
            )
        )
        s.add(m.DncEntry(number="13900139000", source="regulator", added_at=T0))
        s.add(m.Complaint(customer_id=1, call_id="c1", category="billing", summary="double charge", opened_at=T0))
        s.add(m.SurveyAnswer(call_id="c1", question="csat", answer="5", at=T0))
        s.add(m.Recording(id="r1", call_id="c1", path="recordings/c1.wav", started_at=T0, size_bytes=5_000_000_000))
        await s.commit()
    async with sessions() as s:
        agent = (await s.execute(select(m.Agent).options(selectinload(m.Agent.skills)))).scalar_one()
        assert (agent.role, agent.languages) == ("supervisor", ["zh", "en"])
        assert [(k.skill, k.level) for k in agent.skills] == [("billing", 4), ("vip", 2)]
        queue = await s.get(m.Queue, "billing")
        assert queue is not None and (queue.skills, queue.overflow_after_s, queue.wrap_up_s) == (
            [{"skill": "billing", "min_level": 2}],
            90.0,
            10.0,
        )
        contact = await s.get(m.CampaignContact, "k1")
        assert contact is not None and (contact.status, contact.timezone, contact.data) == (
            "pending",
            "Asia/Shanghai",
            {"plan": "5G 128"},
        )
        attempt = (await s.execute(select(m.CampaignAttempt))).scalar_one()
        assert (attempt.outcome, attempt.started_at) == ("human", T0)
        complaint = (await s.execute(select(m.Complaint))).scalar_one()
        assert (complaint.status, complaint.summary) == ("open", "double charge")
        recording = await s.get(m.Recording, "r1")
        assert recording is not None and recording.size_bytes == 5_000_000_000
        assert (await s.execute(select(m.SurveyAnswer.answer))).scalar_one() == "5"
        assert (await s.execute(select(m.AgentStateHistory.new_state))).scalar_one() == "on-call"
        assert (await s.get(m.DncEntry, "13900139000")) is not None
