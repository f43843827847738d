"""A hotline call on the Asterisk emulator, over real sockets, ends up as one call record with
every field right: emulator -> AMI -> call tracker -> bus -> ACD runner (offer, ring-no-answer,
re-offer, answer) -> agent wrap-up -> call logger -> outbox journal -> writer -> SQLite.

The IVR here is a stand-in (one menu, then route), as in tests/integration/test_acd_runner.py;
it reads the caller's card from the CRM, as the real IVR does, to route by tier."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from acd.config import AgentProfile
from acd.engine import AcdEngine
from acd.runner import AcdRunner
from callcenter import events as ev
from callcenter.bus import EventBus
from crm import models as m
from crm.calllog import CallLogger
from crm.db import make_engine, make_reader_sessionmaker, upgrade
from crm.outbox import Outbox, OutboxWriter
from crm.repositories import lookup_by_ani
from emulator.app import Emulator
from pbx.ami_client import AmiClient
from pbx.calls import CallTracker
from pbx.commands import PbxCommandPort
from pbx.fastagi import AgiSession, FastAgiServer
from pbx.tracking import TrackingRunner
from routing_rules.loader import load_rules
from routing_rules.rules import CallContext, Customer
from tests.integration.conftest import ami_user, make_emulator  # noqa: F401 - fixtures

HOTLINE = Path(__file__).resolve().parents[2] / "routing_rules" / "rules" / "hotline.yaml"
ANI = "13800000003"


async def test_an_emulated_hotline_call_becomes_a_complete_call_record(
    make_emulator: Callable[..., Awaitable[Emulator]],  # noqa: F811
    ami_user: tuple[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
    await upgrade(db)
    async with db.begin() as conn:
        customer_id = (
            await conn.execute(
                m.table_of(m.Customer).insert().returning(m.table_of(m.Customer).c.id),
                {"account_number": "A1", "name": "王芳", "tier": "star3", "created_at": dt.datetime.now(dt.UTC)},
            )
        ).scalar_one()
        await conn.execute(m.table_of(m.CustomerPhone).insert(), {"customer_id": customer_id, "number": ANI})
    readers = make_reader_sessionmaker(db)
    rules = load_rules(HOTLINE)
    bus = EventBus()
    requests: dict[ev.CallId, tuple[ev.RoutingRequest, str | None]] = {}

    async def ivr(session: AgiSession) -> None:
        await session.send("ANSWER")
        reply = await session.send("GET DATA", "beep", "3000", "1")
        async with readers() as s:
            card = await lookup_by_ani(s, session.env.callerid)
        customer = (Customer(tier=card.tier, language=card.language, segment=card.segment,
                             priority_class=card.priority_class, priority=card.priority) if card else None)
        ctx = CallContext(
            dnis=session.env.dnis,
            ani=session.env.callerid,
            ivr={"service": "billing" if reply.result == "1" else "general"},  # key 1: billing, as in the flow
            at=time.time(),
            customer=customer,
        )
        call_id = ev.CallId(session.env.uniqueid)
        requests[call_id] = (rules.route(ctx), card.id if card else None)
        await bus.publish(
            ev.IvrExited(call_id=call_id, flow="stand-in", path=("welcome", "menu"), outcome="route", at=time.time())
        )
        await session.send("SET VARIABLE", "CC_IVR_RESULT", "route")

    server = FastAgiServer({"ivr": ivr}, port=0)
    await server.start()
    emulator = await make_emulator(agi_port=server.port, clock_scale=10.0)
    emulator.set_endpoint("1001", answer=False)
    emulator.set_endpoint("1002", answer_after_s=1.0, talk_s=None)
    client = AmiClient("127.0.0.1", emulator.ami_port, *ami_user, auth="md5", ping_interval_s=60)
    await client.connect()

    tracker = CallTracker()
    profiles = [
        AgentProfile(
            agent_id=ev.AgentId(a), skills=(ev.AgentSkill(skill="billing", level=3),), queues=(ev.QueueName("billing"),)
        )
        for a in ("1001", "1002")
    ]
    acd = AcdEngine(rules.acd_config(), agents=profiles, rng=random.Random(1))
    runner = AcdRunner(acd, PbxCommandPort(client, tracker), publish=bus.publish)
    seen = bus.subscribe("test.watch")

    async def from_tracker(fact: object) -> None:
        # The caller reached [acd-wait]: the IVR room's hand-off to the ACD, in small.
        if isinstance(fact, ev.UserEventReceived) and fact.name == "AcdWaiting" and fact.call_id in requests:
            request, cid = requests.pop(fact.call_id)
            queued = ev.CallQueued(
                call_id=fact.call_id,
                channel_id=fact.channel_id,
                request=request,
                ani=ANI,
                dnis="10086",
                customer_id=cid,
                at=fact.at,
            )
            runner.submit(queued)
            await bus.publish(queued)
        await bus.publish(fact)
        await runner.publish_sink(fact)

    outbox = Outbox(tmp_path / "outbox.sqlite3")
    logger = CallLogger(bus, outbox)
    writer = OutboxWriter(outbox, db, backoff_min_s=0.05)
    tasks = [
        asyncio.create_task(TrackingRunner(client, tracker, from_tracker).run()),
        asyncio.create_task(runner.run()),
        asyncio.create_task(logger.run()),
        asyncio.create_task(writer.run()),
    ]
    try:
        for agent_id in ("1001", "1002"):  # 1001 has been idle longer: it is offered the call first
            runner.submit(
                ev.AgentLoggedIn(agent_id=ev.AgentId(agent_id), interface=f"PJSIP/{agent_id}", at=time.time())
            )
            runner.submit(ev.AgentReady(agent_id=ev.AgentId(agent_id), at=time.time()))
            await asyncio.sleep(0.01)
        call = emulator.place_call({"ani": ANI, "dnis": "10086", "digits": [[0.2, "1"]], "talk_s": 5.0})

        async with asyncio.timeout(30):
            while True:  # the agent's desktop: when 1002 is in wrap-up, file a disposition
                msg: Any = await seen.get()
                if (
                    isinstance(msg, ev.AgentStateChanged)
                    and msg.agent_id == "1002"
                    and msg.new is ev.AgentState.WRAP_UP
                ):
                    break
        done = ev.WrapUpEnded(
            agent_id=ev.AgentId("1002"),
            call_id=ev.CallId(call.linkedid),
            disposition="resolved",
            notes="explained the bill",
            at=time.time(),
        )
        await bus.publish(done)
        runner.submit(done)
        for _ in range(200):  # the record reaches the database through the outbox
            async with db.connect() as conn:
                if (await conn.execute(select(m.CallRecord.call_id))).first() is not None:
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"no call record after 10 s; {logger.builder.in_progress} calls in progress")
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        outbox.close()
        await client.close()
        await server.stop()

    async with db.connect() as conn:
        r = (await conn.execute(select(m.CallRecord))).one()
        event_types = (await conn.execute(select(m.CallEvent.type).order_by(m.CallEvent.seq))).scalars().all()
        states = (await conn.execute(select(m.AgentStateHistory.agent_id, m.AgentStateHistory.new_state))).all()
    await db.dispose()

    assert (r.call_id, r.direction, r.ani, r.dnis, r.customer_id) == (
        call.linkedid,
        "inbound",
        ANI,
        "10086",
        customer_id,
    )
    assert (r.queue, r.agent_id, r.offers, r.outcome) == ("billing", "1002", 2, "answered")
    assert (r.priority_class, r.routing_summary.split(";")[0]) == ("silver", "billing")  # star3, by tier
    assert (r.ivr_flow, r.ivr_path) == ("stand-in", ["welcome", "menu"])
    assert (r.hangup_side, r.hangup_cause, r.disposition, r.notes) == ("caller", 16, "resolved", "explained the bill")
    times = [r.arrived_at, r.ivr_exited_at, r.queued_at, r.offered_at, r.answered_at, r.ended_at, r.wrap_up_ended_at]
    assert all(t is not None for t in times) and times == sorted(times)
    assert r.wait_s == round((r.answered_at - r.queued_at).total_seconds(), 3) > 0
    assert r.talk_s == round((r.ended_at - r.answered_at).total_seconds(), 3) > 0
    assert r.wrap_up_s == round((r.wrap_up_ended_at - r.ended_at).total_seconds(), 3) >= 0
    assert r.hold_s == 0 and r.transfers == [] and r.recording_id is None
    assert event_types[0] == "call.arrived"
    assert {"ivr.exited", "call.queued", "acd.routing-decided", "call.ended", "agent.wrap-up-ended"} <= set(event_types)
    assert ("1001", "not-ready") in [tuple(s) for s in states]  # ring-no-answer
    assert ("1002", "on-call") in [tuple(s) for s in states]
