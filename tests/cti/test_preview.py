"""Preview dialing from the agent desktop's socket: the dialer's runner offers each agent the next
contact, only the agent it was offered to can call or skip it, and a call becomes an Originate.
Real CTI server and sockets, real runner on the same bus, real SQLite CRM."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callcenter import events as ev
from crm.db import make_engine, make_sessionmaker, upgrade
from crm.outbox import Outbox
from dialer import campaigns
from dialer.runner import CampaignRunner, CrmStore, is_runner_input, load_plan
from tests.cti.conftest import Harness
from tests.cti.test_api import ready_agent

CONTACTS = "id,phone,name,plan\na,+1 212 555 0100,Ann,gold\nb,+1 212 555 0101,Bob,silver\nc,+1 212 555 0102,Cy,gold\n"


class Port:
    def __init__(self) -> None:
        self.commands: list[Any] = []

    async def execute(self, command: Any) -> object:
        self.commands.append(command)
        return []


@pytest.fixture
async def dialer(cti: Harness, tmp_path: Path) -> AsyncIterator[Port]:
    """A preview campaign for agents 1001 and 1002, its runner fed by the CTI's bus: it learns the
    agents' states from the ACD's facts there, as in the control plane."""
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}")
    await upgrade(db)
    sessions = make_sessionmaker(db)
    now = dt.datetime.now(dt.UTC)
    async with sessions() as s:
        await campaigns.create_campaign(s, "spring", name="Spring", queue="general", mode="preview", now=now, settings={
            "agents": ["1001", "1002"], "tick_s": 0.02, "script": "Hello {name}, about your {plan} plan",
            "compliance": {"calling_windows": {"US": {"weekdays": "mon-sun", "hours": "00:00-24:00"}}}})
        await campaigns.import_contacts(s, "spring", CONTACTS)
        plan = await load_plan(s, "spring", now=now)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    port = Port()
    runner = CampaignRunner(plan, port, CrmStore(outbox, sessions), cti.bus.publish)
    sub = cti.bus.subscribe("dialer", accepts=is_runner_input)

    async def pump() -> None:
        async for msg in sub:
            runner.submit(msg)

    tasks = [asyncio.create_task(pump()), asyncio.create_task(runner.run())]
    try:
        yield port
    finally:
        cti.bus.unsubscribe(sub)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        outbox.close()
        await db.dispose()


async def until_dialed(port: Port) -> ev.Originate:
    async with asyncio.timeout(5):
        while not port.commands:  # noqa: ASYNC110 - the runner's ticks dial
            await asyncio.sleep(0.01)
    [command] = port.commands
    assert isinstance(command, ev.Originate)
    return command


async def test_the_agent_who_was_offered_a_contact_calls_it_and_no_other_agent_can(
    cti: Harness, dialer: Port
) -> None:
    ann = await ready_agent(cti, "agent1001")
    assert ann.socket is not None
    mine = await ann.socket.next("campaign.preview-offered")
    bob = await ready_agent(cti, "agent1002")
    assert bob.socket is not None
    theirs = await bob.socket.next("campaign.preview-offered")
    assert (mine["agent_id"], mine["name"], mine["number"], mine["script"]) == (
        "1001", "Ann", "********0100", "Hello Ann, about your gold plan")
    assert (theirs["agent_id"], theirs["contact_id"]) == ("1002", "spring:b")
    await cti.settle()
    stolen = await bob.socket.request("preview-call", contact_id="spring:a")
    assert (stolen["type"], stolen["error_id"], stolen["message"]) == (
        "cti.request-failed", "no-such-preview", "no preview of contact 'spring:a' is offered to you")
    # Everything sent to 1002 before that reply has been read by now: none of it is 1001's offer.
    assert [m for m in bob.socket.received if m.get("agent_id") == "1001"] == []
    await asyncio.sleep(0.1)
    assert dialer.commands == []  # preview waits for the agent

    done = await ann.socket.request("preview-call", contact_id="spring:a")
    assert done["type"] == "cti.request-done"
    originate = await until_dialed(dialer)
    variables = dict(originate.variables)
    assert (originate.destination, variables["CONTACT_ID"], variables["RESERVED_AGENT"]) == (
        "PJSIP/12125550100@pstn-trunk", "spring:a", "1001")
    again = await ann.socket.request("preview-call", contact_id="spring:a")  # a double click
    assert again["error_id"] == "no-such-preview"


async def test_skipping_offers_the_next_contact_and_dials_nothing(cti: Harness, dialer: Port) -> None:
    bob = await ready_agent(cti, "agent1002")
    assert bob.socket is not None
    first = await bob.socket.next("campaign.preview-offered")
    reply = await bob.socket.request("preview-skip", contact_id=first["contact_id"])
    assert reply["type"] == "cti.request-done"
    second = await bob.socket.next("campaign.preview-offered")
    assert (first["contact_id"], second["contact_id"]) == ("spring:a", "spring:b")
    rest = await bob.http.post("/api/v1/actions/preview-skip", json={"contact_id": "spring:a"})
    assert (rest.status_code, rest.json()["error_id"]) == (404, "no-such-preview")
    await asyncio.sleep(0.1)
    assert dialer.commands == []
