"""A campaign end to end on the emulator, over real sockets and a real CRM database:

CRM campaign -> CampaignRunner (pacer, compliance) -> Originate into [outbound] with AMD -> the
emulator's trunk -> AmdResult -> the live answer queued through the ACD (AcdRunner) -> an agent's
phone; ring-no-answer past 2 s -> [outbound-abandon]; busy -> retried later; DNC and a closed
calling window -> never dialed; every attempt in campaign_attempts, every call in call_records.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
import zoneinfo
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.config import AcdConfig, AgentProfile, QueueConfig
from acd.engine import AcdEngine
from acd.runner import AcdRunner, is_acd_input
from callcenter import events as ev
from callcenter.bus import EventBus
from crm import models as m
from crm.calllog import CallLogger
from crm.db import make_engine, make_sessionmaker, upgrade
from crm.outbox import Outbox, OutboxWriter
from dialer import campaigns
from dialer.runner import CampaignRunner, CrmStore, is_runner_input, load_plan
from emulator.app import Emulator
from pbx.ami_client import AmiClient
from pbx.calls import CallTracker
from pbx.commands import PbxCommandPort
from pbx.tracking import TrackingRunner

QUEUE = ev.QueueName("outbound")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _settings(**extra: Any) -> dict[str, Any]:
    # New York's window is closed all of today (local), whatever day the test runs.
    today_ny = dt.datetime.now(zoneinfo.ZoneInfo("America/New_York")).weekday()
    open_days = ",".join(d for i, d in enumerate(WEEKDAYS) if i != today_ny)
    return {
        "agents": ["1001", "1002"], "country": "CN", "script": "Hello {name}, about your {plan} plan",
        "compliance": {
            "calling_windows": {"CN": {"weekdays": "mon-sun", "hours": "00:00-24:00"}, "US": {"weekdays": open_days}},
            "retry": {"busy": {"delay_s": 2, "max_attempts": 3}},
        },
        "grace_s": 2, "ring_timeout_s": 10, "tick_s": 0.2, **extra,
    }


@dataclass
class Rig:
    emulator: Emulator
    db: AsyncEngine
    bus: EventBus
    engine: AcdEngine
    acd: AcdRunner
    port: PbxCommandPort
    outbox: Outbox
    seen: list[object] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def until(self, predicate: Callable[[], bool], within_s: float = 30.0) -> None:
        async with asyncio.timeout(within_s):
            while not predicate():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), 0.5)

    def facts(self, kind: type[Any]) -> list[Any]:
        return [f for f in self.seen if isinstance(f, kind)]

    async def run_campaign(self, campaign_id: str) -> CampaignRunner:
        sessions = make_sessionmaker(self.db)
        async with sessions() as s:
            plan = await load_plan(s, campaign_id, now=dt.datetime.now(dt.UTC))
        agents = {a: self.engine.agents[ev.AgentId(a)].state for a in plan.settings.agents}
        runner = CampaignRunner(plan, self.port, CrmStore(self.outbox, sessions), self.bus.publish, agents=agents)
        self.tasks.append(asyncio.create_task(runner.run()))
        self.tasks.append(asyncio.create_task(self._pump("dialer", is_runner_input, runner.submit)))
        return runner

    async def _pump(self, name: str, accepts: Callable[[object], bool], submit: Callable[[object], None]) -> None:
        async for msg in self.bus.subscribe(name, accepts=accepts):
            submit(msg)


@contextlib.asynccontextmanager
async def rig(make_emulator: Any, ami_user: tuple[str, str], tmp_path: Path, agents: dict[str, dict[str, Any]]) -> AsyncIterator[Rig]:
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
    await upgrade(db)
    emulator: Emulator = await make_emulator(clock_scale=5.0)
    for agent_id, behaviour in agents.items():
        emulator.set_endpoint(agent_id, **behaviour)
    client = AmiClient("127.0.0.1", emulator.ami_port, *ami_user, auth="md5", ping_interval_s=60)
    await client.connect()
    tracker = CallTracker()
    port = PbxCommandPort(client, tracker)
    config = AcdConfig(queues={QUEUE: QueueConfig(name=QUEUE, wrap_up_s=0.5)})
    profiles = [AgentProfile(agent_id=ev.AgentId(a), queues=(QUEUE,)) for a in agents]
    engine = AcdEngine(config, agents=profiles, rng=random.Random(1))
    bus = EventBus()
    acd = AcdRunner(engine, port, publish=bus.publish)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    r = Rig(emulator, db, bus, engine, acd, port, outbox)

    async def watch() -> None:
        async for msg in bus.subscribe("test.watch"):
            r.seen.append(msg)
            r.changed.set()

    r.tasks = [
        asyncio.create_task(watch()),
        asyncio.create_task(r._pump("acd", is_acd_input, acd.submit)),
        asyncio.create_task(TrackingRunner(client, tracker, bus.publish).run()),
        asyncio.create_task(acd.run()),
        asyncio.create_task(CallLogger(bus, outbox).run()),
        asyncio.create_task(OutboxWriter(outbox, db, backoff_min_s=0.05).run()),
    ]
    try:
        await asyncio.sleep(0)
        for agent_id in agents:
            acd.submit(ev.AgentLoggedIn(agent_id=ev.AgentId(agent_id), interface=f"PJSIP/{agent_id}", at=time.time()))
            acd.submit(ev.AgentReady(agent_id=ev.AgentId(agent_id), at=time.time()))
        await r.until(lambda: all(engine.agents[ev.AgentId(a)].state is ev.AgentState.READY for a in agents))
        yield r
    finally:
        for task in reversed(r.tasks):
            task.cancel()
        for task in r.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        outbox.close()
        await client.close()
        await db.dispose()


async def _attempts(db: AsyncEngine, within_s: float, want: int) -> list[Any]:
    """The campaign_attempts rows, once the outbox has written `want` finished ones."""
    deadline = time.monotonic() + within_s
    while True:
        async with db.connect() as conn:
            rows = (await conn.execute(select(m.CampaignAttempt).order_by(m.CampaignAttempt.started_at))).all()
        if sum(1 for r in rows if r.outcome) >= want or time.monotonic() > deadline:
            return list(rows)
        await asyncio.sleep(0.1)


CONTACTS = """id,phone,name,country,plan
h1,+86 139 0013 9001,Ann,,gold
h2,+86 139 0013 9002,Bob,,silver
b1,+86 139 0013 9003,Busy,,
m1,+86 139 0013 9004,Machine,,
d1,+86 139 0013 9005,Dnc,,
w1,+1 212 555 0100,Night,US,
"""


async def test_campaign_connects_retries_busy_and_skips_dnc_and_closed_windows(
    make_emulator: Any, ami_user: tuple[str, str], tmp_path: Path
) -> None:
    agent = {"answer_after_s": 0.5, "talk_s": None}
    async with rig(make_emulator, ami_user, tmp_path, {"1001": agent, "1002": agent}) as r:
        human = {"answer_after_s": 1.0, "talk_s": 15.0}  # emulated seconds from the answer
        r.emulator.set_number("8613900139001", **human)
        r.emulator.set_number("8613900139002", **human)
        r.emulator.set_number("8613900139003", busy=True)
        r.emulator.set_number("8613900139004", answer_after_s=1.0, talk_s=20.0, machine=True)
        now = dt.datetime.now(dt.UTC)
        async with make_sessionmaker(r.db)() as s:
            s.add(m.DncEntry(number="13900139005", source="customer", added_at=now))  # the CRM's national form
            await s.commit()
            await campaigns.create_campaign(s, "spring", name="Spring", queue=QUEUE, caller_id="10086",
                                            settings=_settings(), now=now)
            report = await campaigns.import_contacts(s, "spring", CONTACTS)
            assert (report.added, report.rejections) == (6, ())
            await campaigns.change_status(s, "spring", "start")
        runner = await r.run_campaign("spring")

        def busy_seen() -> bool:
            return any(a.outcome == "busy" for a in r.facts(ev.AttemptEnded))

        await r.until(busy_seen)
        r.emulator.set_number("8613900139003", busy=False, **human)  # the line is free when we retry
        await r.until(lambda: runner.counts["human"] == 3 and runner.counts["machine"] == 1 and not runner.lines, 60)
        runner.stop()
        rows = await _attempts(r.db, 10, want=5)

        ended = r.facts(ev.AttemptEnded)
        assert sorted((a.contact_id, a.outcome) for a in ended) == [
            ("spring:b1", "busy"), ("spring:b1", "human"), ("spring:h1", "human"), ("spring:h2", "human"),
            ("spring:m1", "machine"),
        ]
        busy, retried = [a for a in ended if a.contact_id == "spring:b1"]
        assert retried.at - busy.at >= 2.0  # the busy retry rule's delay
        # Live answers went through the ACD to an agent, with the contact for the screen pop.
        on_call = {f.call_id: f.agent_id for f in r.facts(ev.AgentStateChanged) if f.new is ev.AgentState.ON_CALL}
        humans = [a.call_id for a in ended if a.outcome == "human"]
        assert all(on_call.get(c) in ("1001", "1002") for c in humans)
        pops = {p.contact_id: p for p in r.facts(ev.CampaignCallQueued)}
        assert pops["spring:h1"].script == "Hello Ann, about your gold plan"
        assert (pops["spring:h1"].number, pops["spring:h1"].fields) == ("+8613900139001", (("plan", "gold"),))
        queued = {q.call_id: q.request for q in r.facts(ev.CallQueued)}
        assert all(queued[c].queue == QUEUE and queued[c].priority == 1000 for c in humans)
        # The machine heard the message; nobody was abandoned.
        assert runner.counts["abandons"] == 0
        plays = [f for f in r.facts(ev.ChannelEnteredDialplan) if f.application == "Playback" and f.context == "outbound"]
        assert [p.call_id for p in plays] == [a.call_id for a in ended if a.outcome == "machine"]
        # Compliance: the DNC number and the closed window were decided, logged and never dialed.
        decided = {(d.contact_id, d.allowed, d.reasons) for d in r.facts(ev.DialDecided) if not d.allowed}
        assert ("spring:d1", False, ("global-dnc",)) in decided
        assert ("spring:w1", False, ("outside-calling-window",)) in decided
        dialed = {d.contact_id for d in r.facts(ev.DialAttempted)}
        assert dialed == {"spring:h1", "spring:h2", "spring:b1", "spring:m1"}

        # The CRM holds every attempt, with its call id and outcome, and each contact's state.
        assert sorted((row.contact_id, row.outcome) for row in rows) == sorted((a.contact_id, a.outcome) for a in ended)
        assert {row.call_id for row in rows} == {a.call_id for a in ended}
        assert all(row.ended_at is not None and row.ended_at >= row.started_at for row in rows)
        # And every decision, dial or no-dial, is a dial_decisions row (through the outbox).
        published = sorted((d.contact_id, d.allowed, list(d.reasons)) for d in r.facts(ev.DialDecided))
        for _ in range(100):
            async with r.db.connect() as conn:
                stored = sorted((row.contact_id, row.allowed, row.reasons)
                                for row in (await conn.execute(select(m.DialDecision))).all())
            if len(stored) >= len(published):
                break
            await asyncio.sleep(0.1)
        assert stored == published
        assert ("spring:d1", False, ["global-dnc"]) in stored
        async with make_sessionmaker(r.db)() as s:
            contacts = {c.id: c for c in (await s.execute(select(m.CampaignContact))).scalars()}
        status = {cid: (c.status, c.attempts) for cid, c in contacts.items()}
        assert status == {
            "spring:h1": ("done", 1), "spring:h2": ("done", 1), "spring:b1": ("done", 2),
            "spring:m1": ("pending", 1), "spring:d1": ("dnc", 0), "spring:w1": ("pending", 0),
        }
        assert contacts["spring:w1"].data["last_decision"]["reasons"] == ["outside-calling-window"]
        assert contacts["spring:w1"].next_attempt_at is not None and contacts["spring:w1"].next_attempt_at > now
        machine_retry = contacts["spring:m1"].next_attempt_at
        assert machine_retry is not None and machine_retry - now >= dt.timedelta(hours=3, minutes=59)
        # And the call records: one per dialed call, outbound, linked by the call id.
        for _ in range(100):
            async with r.db.connect() as conn:
                records = {row.call_id: row for row in (await conn.execute(select(m.CallRecord))).all()}
            if set(records) >= set(humans):
                break
            await asyncio.sleep(0.1)
        assert all(records[c].direction == "outbound" and records[c].agent_id in ("1001", "1002") for c in humans)
        assert all(records[c].queue == QUEUE for c in humans)
        async with r.db.connect() as conn:
            types = (await conn.execute(select(m.CallEvent.type).where(m.CallEvent.call_id == humans[0])
                                        .order_by(m.CallEvent.seq))).scalars().all()
        assert types[0] == "campaign.dial-attempted"
        assert {"call.arrived", "campaign.call-queued", "call.queued", "campaign.attempt-ended", "call.ended"} <= set(types)


async def test_a_live_answer_no_agent_takes_within_2_s_hears_the_message_and_counts_as_abandoned(
    make_emulator: Any, ami_user: tuple[str, str], tmp_path: Path
) -> None:
    async with rig(make_emulator, ami_user, tmp_path, {"1001": {"answer": False}}) as r:  # rings, nobody picks up
        r.emulator.set_number("8613900139001", answer_after_s=1.0, talk_s=30.0)
        now = dt.datetime.now(dt.UTC)
        async with make_sessionmaker(r.db)() as s:
            await campaigns.create_campaign(s, "solo", name="Solo", queue=QUEUE, settings=_settings(agents=["1001"]), now=now)
            await campaigns.import_contacts(s, "solo", "phone,name\n13900139001,Ann\n")
            await campaigns.change_status(s, "solo", "start")
        runner = await r.run_campaign("solo")
        await r.until(lambda: any(a.outcome == "abandoned" for a in r.facts(ev.AttemptEnded)))
        queued_at = next(f.at for f in r.facts(ev.CampaignCallQueued))
        abandoned = next(a for a in r.facts(ev.AttemptEnded) if a.outcome == "abandoned")
        # The 2-second rule, on our clock: it runs from the AMD result, a moment before the queueing.
        assert 1.5 <= abandoned.at - queued_at <= 2.1
        # The callee is taken to [outbound-abandon], which plays the identification message.
        await r.until(lambda: any(f.context == "outbound-abandon" and f.application == "Playback"
                                  for f in r.facts(ev.ChannelEnteredDialplan)))
        # The ACD let the ringing agent go (the caller is gone), so the agent can take the next call.
        await r.until(lambda: r.engine.agents[ev.AgentId("1001")].state is ev.AgentState.READY)
        offered = [f for f in r.facts(ev.AgentStateChanged) if f.new is ev.AgentState.RESERVED]
        assert [f.call_id for f in offered] == [abandoned.call_id]
        live = runner.snapshot()
        assert (live["answers"], live["abandons"]) == (1, 1)
        assert {w["window"]: (w["answers"], w["abandons"]) for w in live["abandon_windows"]} == {
            "rolling-30d": (1, 1), "calendar-day": (1, 1), "live-1h": (1, 1),
        }
        runner.stop()
        rows = await _attempts(r.db, 10, want=1)
        assert [(row.contact_id, row.outcome) for row in rows] == [("solo:2", "abandoned")]
        async with make_sessionmaker(r.db)() as s:
            contact = await s.get(m.CampaignContact, "solo:2")
            assert contact is not None
            # The 72-hour lock-out after an abandoned call.
            assert contact.status == "pending" and contact.next_attempt_at is not None
            assert contact.next_attempt_at - now >= dt.timedelta(hours=71, minutes=59)
            progress = await campaigns.progress(s, "solo", now=dt.datetime.now(dt.UTC))
        assert progress["abandon_windows"][2] == {"window": "live-1h", "answers": 1, "abandons": 1, "rate": 1.0}
