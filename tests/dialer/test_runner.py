"""The campaign runner's contract with the PBX, the ACD and the CRM, with the PBX port recording
the commands (the emulator end to end is tests/integration/test_dialer_campaign.py): what it
originates, how machines and failed originates end, blended agents, and that a CRM that fails
never costs a call."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter import events as ev
from crm import models as m
from crm.db import make_engine, make_sessionmaker, upgrade
from crm.outbox import Outbox
from dialer import campaigns
from dialer.contacts import Contact
from dialer.runner import CampaignRunner, CampaignSupervisor, CrmStore, dnc_snapshot, load_plan, render_script
from tests.crm.conftest import engine, pg_template  # noqa: F401 - fixtures

NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)  # a Tuesday: 11:00 in New York
ANN = "id,phone,name,plan\na,+1 212 555 0100,Ann,gold\n"
ANN_AND_BOB = ANN + "b,+1 212 555 0101,Bob,silver\n"


@pytest.fixture
def crm_engine(engine: AsyncEngine) -> AsyncEngine:  # noqa: F811 - a migrated CRM on SQLite and PostgreSQL
    return engine


class Port:
    def __init__(self, fail: bool = False) -> None:
        self.commands: list[Any] = []
        self.fail = fail

    async def execute(self, command: Any) -> object:
        if self.fail:
            raise ConnectionError("AMI link down")
        self.commands.append(command)
        return []


class Harness:
    def __init__(self, runner: CampaignRunner, port: Port, store: CrmStore, outbox: Outbox, published: list[object],
                 clock: list[float], db: AsyncEngine) -> None:
        self.runner, self.port, self.store, self.outbox = runner, port, store, outbox
        self.published, self.clock, self.engine = published, clock, db
        self.changed = asyncio.Event()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(5):
            while not predicate():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):  # a tick may be what changes things
                    await asyncio.wait_for(self.changed.wait(), 0.02)

    def facts(self, kind: type[Any]) -> list[Any]:
        return [f for f in self.published if isinstance(f, kind)]


@contextlib.asynccontextmanager
async def harness(tmp_path: Path, *, settings: dict[str, Any] | None = None, fail: bool = False, migrate: bool = True,
                  agents: dict[str, ev.AgentState] | None = None, mode: str = "progressive",
                  contacts: str = ANN, dnc: bool = False) -> AsyncIterator[Harness]:
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
    await upgrade(db)
    sessions = make_sessionmaker(db)
    async with sessions() as s:
        await campaigns.create_campaign(s, "c", name="C", queue="out", caller_id="10086", now=NOW, mode=mode,
                                        settings={"agents": ["1001"], "tick_s": 0.01, **(settings or {})})
        await campaigns.import_contacts(s, "c", contacts)
        plan = await load_plan(s, "c", now=NOW)
    store_engine = db
    if not migrate:  # the CRM is "down": a database with no tables at all
        store_engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    store = CrmStore(outbox, make_sessionmaker(store_engine))
    published: list[object] = []
    clock = [NOW.timestamp()]
    h: Harness | None = None

    async def publish(msg: object) -> None:
        published.append(msg)
        if h is not None:
            h.changed.set()

    async def load_dnc() -> frozenset[str]:
        async with sessions() as s:
            return await dnc_snapshot(s, now=NOW)

    port = Port(fail)
    runner = CampaignRunner(plan, port, store, publish, clock=lambda: clock[0], dnc=load_dnc if dnc else None,
                            agents={ev.AgentId(a): s for a, s in (agents or {"1001": ev.AgentState.READY}).items()})
    h = Harness(runner, port, store, outbox, published, clock, db)
    task = asyncio.create_task(runner.run())
    try:
        yield h
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        outbox.close()
        await db.dispose()
        await store_engine.dispose()


async def test_a_free_agent_gets_one_line_originated_into_outbound_with_the_line_as_call_id(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.until(lambda: h.port.commands)
        await asyncio.sleep(0.05)  # further ticks: the agent is reserved, nothing more is dialed
        [originate] = h.port.commands
        line_id = originate.request_id
        assert originate == ev.Originate(
            destination="PJSIP/12125550100@pstn-trunk", context="outbound", exten="12125550100", caller_id="10086",
            timeout_s=25.0, request_id=line_id,
            variables=(("CAMPAIGN_ID", "c"), ("CONTACT_ID", "c:a"), ("LINE_ID", line_id), ("RESERVED_AGENT", "1001")),
        )
        [decided] = h.facts(ev.DialDecided)
        assert (decided.contact_id, decided.allowed, decided.agent_reserved) == ("c:a", True, True)
        [attempted] = h.facts(ev.DialAttempted)
        assert (attempted.call_id, attempted.number) == (line_id, "+12125550100")


async def test_a_machine_is_hung_up_when_the_campaign_says_so_and_retried_after_4_hours(tmp_path: Path) -> None:
    async with harness(tmp_path, settings={"machine": "hangup"}) as h:
        await h.until(lambda: h.port.commands)
        line_id = h.port.commands[0].request_id
        h.runner.submit(ev.UserEventReceived(call_id=ev.CallId(line_id), channel_id=ev.ChannelId(line_id), name="AmdResult",
                                             fields=(("Uniqueid", line_id), ("Status", "MACHINE")), at=0.0))
        await h.until(lambda: h.facts(ev.AttemptEnded))
        assert h.port.commands[1] == ev.Hangup(channel_id=ev.ChannelId(line_id))
        assert [a.outcome for a in h.facts(ev.AttemptEnded)] == ["machine"]
        # The agent is free again, and the only contact waits for its retry: nothing is dialed.
        await asyncio.sleep(0.05)
        assert len(h.port.commands) == 2
        assert h.runner.snapshot()["agents"] == {"free": 1}
        h.clock[0] += 4 * 3600
        await h.until(lambda: len(h.port.commands) == 3)
        assert h.port.commands[2].variables[1] == ("CONTACT_ID", "c:a")


async def test_an_originate_the_pbx_refuses_is_a_failed_attempt_retried_later(tmp_path: Path) -> None:
    async with harness(tmp_path, fail=True) as h:
        await h.until(lambda: h.facts(ev.AttemptEnded))
        assert [a.outcome for a in h.facts(ev.AttemptEnded)] == ["failed"]
        await asyncio.sleep(0.05)
        assert len(h.facts(ev.DialAttempted)) == 1  # the 30-minute retry delay holds
        assert not h.runner.lines


async def test_an_agent_on_an_inbound_call_is_not_dialed_for(tmp_path: Path) -> None:
    async with harness(tmp_path, agents={"1001": ev.AgentState.ON_CALL}) as h:
        await asyncio.sleep(0.05)
        assert h.port.commands == []
        h.runner.submit(ev.AgentStateChanged(agent_id=ev.AgentId("1001"), old=ev.AgentState.WRAP_UP,
                                             new=ev.AgentState.READY, at=0.0))
        await h.until(lambda: h.port.commands)


async def test_a_crm_that_fails_costs_no_call_and_the_outbox_keeps_every_attempt(tmp_path: Path) -> None:
    async with harness(tmp_path, migrate=False) as h:
        await h.until(lambda: h.port.commands)
        line_id = h.port.commands[0].request_id
        h.runner.submit(ev.OriginateFailed(request_id=line_id, call_id=ev.CallId(line_id), reason="busy", at=0.0))
        await h.until(lambda: h.facts(ev.AttemptEnded))
        assert [a.outcome for a in h.facts(ev.AttemptEnded)] == ["busy"]
        await h.until(lambda: h.store.failures == 2)  # the decision's and the contact's updates failed, logged
        h.clock[0] += 601  # the busy retry delay
        await h.until(lambda: len(h.port.commands) == 2)
        live, dead = h.outbox.counts()
        assert (live, dead) == (5, 0)  # start and end of the first attempt, start of the second, two decisions


@pytest.mark.parametrize("status", ["HUMAN", "NOTSURE"])
async def test_a_callee_who_hangs_up_while_waiting_for_an_agent_counts_as_an_abandon(tmp_path: Path, status: str) -> None:
    async with harness(tmp_path) as h:
        await h.until(lambda: h.port.commands)
        line_id = ev.CallId(h.port.commands[0].request_id)
        h.runner.submit(ev.UserEventReceived(call_id=line_id, channel_id=None, name="AmdResult",
                                             fields=(("Status", status),), at=0.0))
        h.runner.submit(ev.UserEventReceived(call_id=line_id, channel_id=None, name="AcdWaiting", at=0.0))
        await h.until(lambda: h.facts(ev.CallQueued))
        [queued] = h.facts(ev.CallQueued)
        assert (queued.request.queue, queued.request.priority, queued.ani) == ("out", 1000, "+12125550100")
        h.runner.submit(ev.CallEnded(call_id=line_id, at=0.0))
        await h.until(lambda: h.facts(ev.AttemptEnded))
        assert [a.outcome for a in h.facts(ev.AttemptEnded)] == ["abandoned"]
        assert [type(f).__name__ for f in h.published if isinstance(f, ev.CallAbandoned)] == ["CallAbandoned"]
        assert len(h.port.commands) == 1  # no redirect: the callee is gone
        assert h.runner.snapshot()["abandon_windows"][2] == {"window": "live-1h", "answers": 1, "abandons": 1, "rate": 1.0}


async def test_a_callback_the_agent_asks_for_turns_the_answer_into_a_callback_at_the_customers_time(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path) as h:
        await h.until(lambda: h.port.commands)
        line_id = ev.CallId(h.port.commands[0].request_id)
        for name, fields in (("AmdResult", (("Status", "HUMAN"),)), ("AcdWaiting", ())):
            h.runner.submit(ev.UserEventReceived(call_id=line_id, channel_id=None, name=name, fields=fields, at=0.0))
        h.runner.submit(ev.AgentStateChanged(agent_id=ev.AgentId("1001"), old=ev.AgentState.RESERVED,
                                             new=ev.AgentState.ON_CALL, call_id=line_id, at=0.0))
        h.runner.submit(ev.CallEnded(call_id=line_id, at=0.0))
        h.runner.submit(ev.AgentStateChanged(agent_id=ev.AgentId("1001"), old=ev.AgentState.ON_CALL,
                                             new=ev.AgentState.WRAP_UP, call_id=line_id, at=0.0))
        await h.until(lambda: [a.outcome for a in h.facts(ev.AttemptEnded)] == ["human"])
        # In wrap-up, the customer asked to be called in two hours.
        h.runner.submit(ev.CallbackRequested(call_id=line_id, agent_id=ev.AgentId("1001"), number="+12125550100",
                                             not_before=h.clock[0] + 7200, at=0.0))
        await h.until(lambda: [a.outcome for a in h.facts(ev.AttemptEnded)] == ["human", "callback"])
        h.runner.submit(ev.AgentStateChanged(agent_id=ev.AgentId("1001"), old=ev.AgentState.WRAP_UP,
                                             new=ev.AgentState.READY, at=0.0))
        h.clock[0] += 7199
        await asyncio.sleep(0.05)
        assert len(h.port.commands) == 1  # not before the customer's time
        h.clock[0] += 1
        await h.until(lambda: len(h.port.commands) == 2)
        assert h.runner.snapshot()["outcomes"] == {"callback": 1}


async def test_load_plan_rebuilds_history_and_the_dnc_snapshot_from_the_crm(crm_engine: AsyncEngine) -> None:
    async with make_sessionmaker(crm_engine)() as s:
        s.add(m.Customer(id=1, account_number="A1", name="Flagged", do_not_call=True, created_at=NOW))
        s.add(m.CustomerPhone(customer_id=1, number="13900139002", is_primary=True))
        s.add(m.DncEntry(number="13900139000", added_at=NOW))
        s.add(m.DncEntry(number="13900139001", added_at=NOW, expires_at=NOW - dt.timedelta(days=1)))
        await campaigns.create_campaign(s, "c", name="C", queue="out", settings={"agents": ["1001"]}, now=NOW)
        await campaigns.import_contacts(s, "c", "id,phone\na,+1 212 555 0100\n")
        s.add(m.CampaignAttempt(campaign_id="c", contact_id="c:a", number="+12125550100",
                                started_at=NOW - dt.timedelta(hours=1), outcome="abandoned"))
        await s.commit()
        plan = await load_plan(s, "c", now=NOW)
        assert (await s.execute(select(m.CampaignContact.status))).scalar_one() == "pending"
    assert plan.rules.global_dnc == frozenset({"+8613900139000", "+8613900139002"})
    assert [a.outcome.value for a in plan.history["+12125550100"]] == ["abandoned"]
    assert plan.live_answers == ((NOW.timestamp() - 3600, True),)


def answer(kind: type[Any], contact: str, agent: str = "1001") -> Any:
    return kind(campaign_id=ev.CampaignId("c"), contact_id=ev.ContactId(contact), agent_id=ev.AgentId(agent), at=0.0)


async def test_preview_offers_the_next_contact_and_dials_only_what_the_agent_accepted(tmp_path: Path) -> None:
    async with harness(tmp_path, mode="preview", contacts=ANN_AND_BOB, settings={"script": "Hi {name}, {plan}"}) as h:
        await h.until(lambda: h.facts(ev.PreviewOffered))
        await asyncio.sleep(0.05)
        [offer] = h.facts(ev.PreviewOffered)  # one agent: one offer at a time
        assert offer == ev.PreviewOffered(
            campaign_id=ev.CampaignId("c"), contact_id=ev.ContactId("c:a"), agent_id=ev.AgentId("1001"), name="Ann",
            number="********0100", script="Hi Ann, gold", customer_id=None, at=NOW.timestamp())
        assert h.port.commands == []  # preview waits for the agent
        # Another agent's accept, and an accept of a contact not offered, change nothing.
        h.runner.submit(answer(ev.PreviewAccepted, "c:a", agent="1002"))
        h.runner.submit(answer(ev.PreviewAccepted, "c:b"))
        await asyncio.sleep(0.05)
        assert h.port.commands == []
        h.runner.submit(answer(ev.PreviewAccepted, "c:a"))
        await h.until(lambda: h.port.commands)
        variables = dict(h.port.commands[0].variables)
        assert (variables["CONTACT_ID"], variables["RESERVED_AGENT"]) == ("c:a", "1001")
        assert len(h.facts(ev.PreviewOffered)) == 1  # the agent is on that line now, not offered more


async def test_a_skipped_preview_moves_on_to_the_next_contact_and_comes_back_later(tmp_path: Path) -> None:
    async with harness(tmp_path, mode="preview", contacts=ANN_AND_BOB, settings={"preview_skip_s": 600}) as h:
        await h.until(lambda: h.facts(ev.PreviewOffered))
        h.runner.submit(answer(ev.PreviewSkipped, "c:a"))
        await h.until(lambda: len(h.facts(ev.PreviewOffered)) == 2)
        h.runner.submit(answer(ev.PreviewSkipped, "c:b"))
        await asyncio.sleep(0.05)
        assert len(h.facts(ev.PreviewOffered)) == 2  # both skipped: nothing to offer for 10 minutes
        h.clock[0] += 600
        await h.until(lambda: len(h.facts(ev.PreviewOffered)) == 3)
        assert [o.contact_id for o in h.facts(ev.PreviewOffered)] == ["c:a", "c:b", "c:a"]
        assert h.port.commands == []
        async with make_sessionmaker(h.engine)() as s:
            row = await s.get(m.CampaignContact, "c:b")
            assert row is not None and (row.status, row.next_attempt_at) == ("pending", NOW + dt.timedelta(seconds=600))


async def test_an_offer_is_withdrawn_when_the_agent_leaves_ready_and_offered_again_after(tmp_path: Path) -> None:
    async with harness(tmp_path, mode="preview") as h:
        await h.until(lambda: h.facts(ev.PreviewOffered))
        h.runner.submit(ev.AgentStateChanged(agent_id=ev.AgentId("1001"), old=ev.AgentState.READY,
                                             new=ev.AgentState.RESERVED, at=0.0))  # an inbound call comes first
        await h.until(lambda: h.facts(ev.PreviewWithdrawn))
        h.runner.submit(answer(ev.PreviewAccepted, "c:a"))  # too late: the offer is gone
        await asyncio.sleep(0.05)
        assert h.port.commands == []
        h.runner.submit(ev.AgentStateChanged(agent_id=ev.AgentId("1001"), old=ev.AgentState.WRAP_UP,
                                             new=ev.AgentState.READY, at=0.0))
        await h.until(lambda: len(h.facts(ev.PreviewOffered)) == 2)
        assert [o.contact_id for o in h.facts(ev.PreviewOffered)] == ["c:a", "c:a"]


async def test_a_number_put_on_the_dnc_list_while_the_campaign_runs_is_not_dialed_after_the_refresh(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path, contacts=ANN_AND_BOB, dnc=True, settings={"dnc_refresh_s": 0.01},
                       agents={"1001": ev.AgentState.NOT_READY}) as h:
        async with make_sessionmaker(h.engine)() as s:
            s.add(m.DncEntry(number="+12125550100", added_at=NOW))  # Ann asked not to be called
            await s.commit()
        await h.until(lambda: "+12125550100" in h.runner.queue.rules.global_dnc)
        h.runner.submit(ev.AgentStateChanged(agent_id=ev.AgentId("1001"), old=ev.AgentState.NOT_READY,
                                             new=ev.AgentState.READY, at=0.0))
        await h.until(lambda: h.port.commands)
        assert dict(h.port.commands[0].variables)["CONTACT_ID"] == "c:b"
        refused = [d for d in h.facts(ev.DialDecided) if not d.allowed]
        assert [(d.contact_id, d.reasons, d.next_allowed_at) for d in refused] == [("c:a", ("global-dnc",), None)]


def test_the_script_is_filled_from_the_contact_and_never_fails() -> None:
    contact = Contact(contact_id=ev.ContactId("c:a"), number="+12125550100", country="US",
                      time_zones=("America/New_York",), name="Ann", fields={"plan": "gold"})
    assert render_script("Hi {name}, your {plan} plan ({number}); {unknown} {", contact) == (
        "Hi Ann, your gold plan (+12125550100); {unknown} {"
    )


async def test_the_supervisor_follows_the_statuses_in_the_crm(tmp_path: Path) -> None:
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
    await upgrade(db)
    sessions = make_sessionmaker(db)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    published: list[object] = []

    async def publish(msg: object) -> None:
        published.append(msg)

    port = Port()
    supervisor = CampaignSupervisor(sessions, port, CrmStore(outbox, sessions), publish,
                                    agents=lambda: {ev.AgentId("1001"): ev.AgentState.NOT_READY})
    try:
        async with sessions() as s:
            for cid in ("a", "b"):
                await campaigns.create_campaign(s, cid, name=cid, queue="out", now=NOW, settings={
                    "agents": ["1001"], "tick_s": 0.05,  # the real clock: a window open at any hour
                    "compliance": {"calling_windows": {"US": {"weekdays": "mon-sun", "hours": "00:00-24:00"}}}})
                await campaigns.import_contacts(s, cid, "phone\n+1 212 555 0100\n")
            await campaigns.change_status(s, "a", "start")
        await supervisor.sync()
        assert list(supervisor.runners) == ["a"]
        async with sessions() as s:
            await campaigns.change_status(s, "a", "pause")
        await supervisor.sync()
        runner = supervisor.runners["a"]
        async with asyncio.timeout(5):
            while runner.running:  # noqa: ASYNC110 - the runner's own consumer applies the pause
                await asyncio.sleep(0.01)
        assert supervisor.snapshot("a") is not None and supervisor.snapshot("a")["state"] == "paused"
        # An agent desktop's click arrives through the bus: the supervisor hands it to each runner.
        supervisor.submit(ev.AgentStateChanged(agent_id=ev.AgentId("1001"), old=ev.AgentState.NOT_READY,
                                               new=ev.AgentState.READY, at=0.0))
        await supervisor.apply("a", "resume")
        async with asyncio.timeout(5):
            while not port.commands:  # noqa: ASYNC110 - the runner's ticks dial
                await asyncio.sleep(0.01)
        assert supervisor.snapshot("b") is None
    finally:
        await supervisor.close()
        outbox.close()
        await db.dispose()
