"""What routing, the IVR, the ACD and CTI read: customer cards by ANI, agents, queues."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callcenter import events as ev
from crm import models as m
from crm.db import make_reader_sessionmaker
from crm.repositories import (
    authenticate,
    get_customer_card,
    hash_password,
    is_do_not_call,
    load_agents,
    load_queues,
    lookup_by_ani,
    write_call_records,
    write_recordings,
)
from recorder.adapter import crm_recording_payload

T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)


async def _two_customers(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s:
        s.add(
            m.Customer(
                account_number="A1",
                name="张伟",
                language="zh",
                tier="vip",
                balance=Decimal("88.50"),
                plan="全球通 588",
                created_at=T0,
                phones=[
                    m.CustomerPhone(number="13800138000", is_primary=True),
                    m.CustomerPhone(number="01066551234", kind="home"),
                    m.CustomerPhone(number="+442079460958", kind="work"),
                ],
            )
        )
        s.add(
            m.Customer(
                account_number="A2",
                name="Emily Wong",
                language="en",
                tier="star2",
                created_at=T0,
                phones=[m.CustomerPhone(number="13900139000", is_primary=True)],
            )
        )
        await s.commit()


async def test_every_number_and_spelling_finds_the_same_customer(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _two_customers(sessions)
    async with make_reader_sessionmaker(engine)() as s:  # what routing and the IVR use
        for ani in ("13800138000", "+8613800138000", "+86 138 0013 8000", "010-6655-1234", "0044 20 7946 0958"):
            card = await lookup_by_ani(s, ani)
            assert card is not None, ani
            assert (card.id, card.account_number, card.name, card.tier) == ("1", "A1", "张伟", "vip")
            assert (card.priority_class, card.priority, card.balance) == ("vip", 100, Decimal("88.50"))
        for ani in ("13700137000", "", "anonymous"):  # unknown or withheld
            assert await lookup_by_ani(s, ani) is None, ani


async def test_card_carries_open_complaints_and_the_last_three_calls_newest_first(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _two_customers(sessions)
    async with sessions() as s:
        s.add_all(
            [
                m.Complaint(customer_id=2, category="billing", status="open", opened_at=T0),
                m.Complaint(customer_id=2, category="network", status="in-progress", opened_at=T0),
                m.Complaint(customer_id=2, category="service", status="closed", opened_at=T0),
                m.Complaint(customer_id=1, category="service", status="open", opened_at=T0),
            ]
        )
        await s.commit()
    base = T0.timestamp()
    async with engine.begin() as conn:
        await write_call_records(
            conn,
            [
                {
                    "call_id": f"c{i}",
                    "direction": "inbound",
                    "customer_id": 2,
                    "arrived_at": base + i * 3600,
                    "outcome": "answered",
                    "queue": "billing",
                    "agent_id": "1001",
                    "disposition": f"d{i}",
                }
                for i in range(5)
            ],
        )
    async with sessions() as s:
        card = await lookup_by_ani(s, "+86 139 0013 9000")
        assert card is not None
        assert (card.name, card.language, card.priority_class, card.priority) == ("Emily Wong", "en", "standard", 0)
        assert card.open_complaints == 2
        assert [(i.call_id, i.disposition, i.at) for i in card.last_interactions] == [
            ("c4", "d4", T0 + dt.timedelta(hours=4)),
            ("c3", "d3", T0 + dt.timedelta(hours=3)),
            ("c2", "d2", T0 + dt.timedelta(hours=2)),
        ]
        assert await get_customer_card(s, "2") == card
        assert await get_customer_card(s, "99") is None
        assert await get_customer_card(s, "not-an-id") is None


async def test_agents_log_in_with_argon2_passwords_and_load_with_skills(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s:
        s.add_all([m.Skill(name="billing"), m.Skill(name="vip")])
        s.add(
            m.Agent(
                id="1001",
                username="lina",
                name="李娜",
                password_hash=hash_password("s3cret"),
                interface="PJSIP/1001",
                languages=["zh"],
                skills=[m.AgentSkill(skill="vip", level=5), m.AgentSkill(skill="billing", level=3)],
            )
        )
        s.add(m.Agent(id="1002", username="gone", name="Gone", password_hash=hash_password("s3cret"), active=False))
        s.add(
            m.Queue(name="vip", skills=[{"skill": "vip", "min_level": 3}], service_level_s=10, overflow_queue="general")
        )
        s.add(m.Queue(name="general", skills=[{"skill": "general"}]))
        await s.commit()
    async with sessions() as s:
        account = await authenticate(s, "lina", "s3cret")
        assert account is not None
        assert (account.id, account.role, account.interface, account.skills) == (
            "1001",
            "agent",
            "PJSIP/1001",
            (("billing", 3), ("vip", 5)),
        )
        assert await authenticate(s, "lina", "wrong") is None
        assert await authenticate(s, "nobody", "s3cret") is None
        assert await authenticate(s, "gone", "s3cret") is None  # deactivated
        assert [a.id for a in await load_agents(s)] == ["1001"]
        queues = await load_queues(s)
        assert [(q.name, q.skills, q.overflow_queue, q.service_level_s) for q in queues] == [
            ("general", (("general", 1),), None, 20.0),
            ("vip", (("vip", 3),), "general", 10.0),
        ]


async def test_do_not_call_covers_the_list_expiry_and_flagged_customers(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _two_customers(sessions)
    async with sessions() as s:
        customer = await s.get(m.Customer, 2)
        assert customer is not None
        customer.do_not_call = True
        s.add(m.DncEntry(number="13600136000", source="regulator", added_at=T0))
        s.add(m.DncEntry(number="13500135000", added_at=T0, expires_at=T0 + dt.timedelta(days=30)))
        await s.commit()
    async with sessions() as s:
        now = T0 + dt.timedelta(days=1)
        assert await is_do_not_call(s, "+86 136 0013 6000", now=now)  # listed
        assert await is_do_not_call(s, "13900139000", now=now)  # the customer asked not to be called
        assert await is_do_not_call(s, "13500135000", now=now)
        assert not await is_do_not_call(s, "13500135000", now=T0 + dt.timedelta(days=31))  # expired
        assert not await is_do_not_call(s, "13800138000", now=now)
        assert await is_do_not_call(s, "not a number", now=now)


async def test_a_recorders_payload_round_trips_every_field_and_a_replay_changes_nothing(engine: AsyncEngine) -> None:
    processed = ev.RecordingProcessed(
        call_id=ev.CallId("1763805600.17"),
        recording_id=ev.RecordingId("rec-17"),
        path="2026/11/22/rec-17.ogg",
        format="ogg",
        sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        size_bytes=48_213,
        duration_s=62.5,
        started_at=1_763_805_600.0,
        paused_spans=(ev.PausedSpan(start_s=12.25, end_s=30.0), ev.PausedSpan(start_s=41.0, end_s=44.5)),
        at=1_763_805_670.0,
    )
    payload = crm_recording_payload(processed, retention_days=90, transcript="您好 请问")
    for _ in range(2):  # the outbox replays an entry after a crash between commit and removal
        async with engine.begin() as conn:
            await write_recordings(conn, [payload])
    async with engine.connect() as conn:
        [row] = (await conn.execute(select(m.Recording))).all()
    assert row._asdict() == {
        "id": "rec-17",
        "call_id": "1763805600.17",
        "path": "2026/11/22/rec-17.ogg",
        "format": "ogg",
        "started_at": dt.datetime(2025, 11, 22, 10, 0, tzinfo=dt.UTC),
        "ended_at": dt.datetime(2025, 11, 22, 10, 1, 2, 500_000, tzinfo=dt.UTC),
        "duration_s": 62.5,
        "size_bytes": 48_213,
        "transcript": "您好 请问",
        "delete_after": dt.datetime(2026, 2, 20, 10, 0, tzinfo=dt.UTC),
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "paused_spans": [{"start_s": 12.25, "end_s": 30.0}, {"start_s": 41.0, "end_s": 44.5}],
    }
