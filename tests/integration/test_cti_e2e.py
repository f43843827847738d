"""The whole control plane (callcenter.app.ControlPlane) against the emulator over real sockets:
a VIP subscriber calls the hotline, goes through the IVR, the ACD offers the call to the logged-in
agent, the agent's desktop (a real WebSocket) gets the screen pop with the right ANI, DNIS and
customer before answering; answer, hold, unhold, transfer and hang-up change the emulator's
channels; the call record in the CRM matches."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import select

from callcenter import events as ev
from callcenter.app import ControlPlane
from callcenter.demo import free_port
from callcenter.settings import Settings
from crm import models as m
from crm.db import open_database
from crm.seed import seed_demo
from emulator.app import Emulator
from tests import polling

PASSWORD = "e2e-demo-password"
SPEED = 5.0  # emulated time: the dialplan's 15 s ring timeout is 3 s here


@pytest.fixture(scope="session")
def prompts(repo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """The hotline's prompts, synthesised once for the session (None without espeak-ng/sox)."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        return None
    from ivr.prompts import build_prompts
    from ivr.registry import FlowRegistry

    registry = FlowRegistry([repo_dir / "flows"])
    assert registry.reload() == []
    out = tmp_path_factory.mktemp("prompts")
    assert build_prompts(registry.flows.values(), out).errors == []
    return out


@dataclass
class Stack:
    plane: ControlPlane
    emulator: Emulator
    base: str
    vip: dict[str, Any]  # a VIP customer: id, name, ani

    async def token(self, username: str) -> str:
        async with httpx.AsyncClient(base_url=self.base) as http:
            reply = await http.post("/api/v1/session", json={"username": username, "password": PASSWORD})
            assert reply.status_code == 200, reply.text
            return str(reply.json()["token"])


class Desk:
    """An agent desktop: a real WebSocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def next(self, type_: str, within_s: float = 20.0, **match: Any) -> dict[str, Any]:
        for msg in self.seen:
            if msg["type"] == type_ and all(msg.get(k) == v for k, v in match.items()):
                self.seen.remove(msg)
                return msg
        async with asyncio.timeout(within_s):
            while True:
                msg = json.loads(await self.ws.recv())
                if msg["type"] == type_ and all(msg.get(k) == v for k, v in match.items()):
                    return msg
                self.seen.append(msg)

    async def act(self, action: str, **params: Any) -> dict[str, Any]:
        await self.ws.send(json.dumps({"request_id": action, "action": action, **params}))
        reply: dict[str, Any] | None = None
        async with asyncio.timeout(10):
            while reply is None:
                msg = json.loads(await self.ws.recv())
                if msg.get("request_id") == action and msg["type"] in ("cti.request-done", "cti.request-failed"):
                    reply = msg
                else:
                    self.seen.append(msg)
        assert reply["type"] == "cti.request-done", reply
        return reply


@contextlib.asynccontextmanager
async def running_stack(make_emulator: Callable[..., Awaitable[Emulator]], ami_user: tuple[str, str], tmp_path: Path,
                        prompts: Path | None, *, clock_scale: float, with_recorder: bool) -> AsyncIterator[Stack]:
    """The control plane on a seeded SQLite CRM, against an emulator; `vip` is a VIP customer."""
    settings = Settings(data_dir=tmp_path / "data")
    settings.ensure_dirs()
    if prompts is not None:
        settings.prompts_dir.rmdir()
        settings.prompts_dir.symlink_to(prompts)
    settings.speech.engine = "none"
    engine = await open_database(settings.database_url)
    await seed_demo(engine, customers=300, now=dt.datetime.now(dt.UTC), agent_password=PASSWORD)
    async with engine.begin() as conn:
        row = (await conn.execute(
            select(m.Customer.id, m.Customer.name, m.CustomerPhone.number)
            .join(m.CustomerPhone, m.CustomerPhone.customer_id == m.Customer.id)
            .where(m.Customer.tier.in_(("vip", "star5")), m.CustomerPhone.is_primary.is_(True)).limit(1)
        )).one()
    await engine.dispose()
    settings.fastagi.bind_host, settings.fastagi.port = "127.0.0.1", free_port()
    emulator = await make_emulator(agi_port=settings.fastagi.port, clock_scale=clock_scale)
    settings.ami.host, settings.ami.port = "127.0.0.1", emulator.ami_port
    settings.ami.username, settings.ami.secret = ami_user
    settings.http.host = "127.0.0.1"
    plane = ControlPlane(settings, http_port=0, with_recorder=with_recorder)
    await plane.start()
    try:
        yield Stack(plane, emulator, f"http://127.0.0.1:{plane.http_port}",
                    {"id": str(row.id), "name": row.name, "ani": row.number})
    finally:
        await plane.stop()


@pytest.fixture
async def stack(make_emulator: Callable[..., Awaitable[Emulator]], ami_user: tuple[str, str], tmp_path: Path,
                prompts: Path | None) -> AsyncIterator[Stack]:
    async with running_stack(make_emulator, ami_user, tmp_path, prompts, clock_scale=SPEED, with_recorder=False) as s:
        yield s


@contextlib.asynccontextmanager
async def desk(stack: Stack, username: str) -> AsyncIterator[Desk]:
    ws = await websockets.connect(stack.base.replace("http", "ws") + "/ws")
    try:
        await ws.send(json.dumps({"type": "auth", "token": await stack.token(username)}))
        d = Desk(ws)
        await d.next("cti.welcome")
        yield d
    finally:
        await ws.close()


def agent_channel(emulator: Emulator, agent: str) -> dict[str, Any] | None:
    return next((c for c in emulator.channels() if c["channel"].startswith(f"PJSIP/{agent}-")), None)


# The emulator's channels have no change event: poll them, longer and slower than the default.
until = functools.partial(polling.until, within_s=15.0, every_s=0.05)


async def test_a_vip_call_pops_is_answered_held_hung_up_and_logged(stack: Stack) -> None:
    emulator = stack.emulator
    emulator.set_endpoint("1001", answer=False, talk_s=None)
    async with desk(stack, "agent1001") as agent, desk(stack, "agent1002") as other:
        await agent.act("login")
        await agent.next("agent.state-changed", new="not-ready")
        await agent.act("ready")
        waiting = stack.plane.bus.subscribe(
            "test.waiting", policy="drop-oldest", accepts=lambda m: isinstance(m, ev.UserEventReceived) and m.name == "AcdWaiting")
        call = emulator.place_call({"ani": stack.vip["ani"], "dnis": "10086"})

        pop = await agent.next("cti.screen-pop", within_s=30)
        assert pop["call_id"] == call.linkedid and pop["agent_id"] == "1001"
        # The vip-line rule allows 600 s of waiting: the dialplan's own fallback timer follows it
        # (600 + 30 s margin) instead of the global 120 s.
        assert ("FallbackTimeout", "630") in (await asyncio.wait_for(waiting.get(), 5)).fields
        stack.plane.bus.unsubscribe(waiting)
        assert pop["ani"] == stack.vip["ani"] and pop["dnis"] == "10086"
        assert pop["queue"] == "vip" and pop["priority_class"] == "vip"
        assert pop["customer"]["customer_id"] == stack.vip["id"] and pop["customer"]["name"] == stack.vip["name"]
        assert pop["ivr_path"][:2] == ["welcome", "identify_caller"] and pop["ivr_path"][-1] == "vip_route"
        ringing = agent_channel(emulator, "1001")
        assert ringing is not None and ringing["state"] != "Up"  # popped before the agent picked up

        await agent.act("answer", call_id=call.linkedid)
        await agent.next("call.answered", call_id=call.linkedid)
        bridged = await until(lambda: (c := agent_channel(emulator, "1001")) and c["bridged"] and c)
        assert emulator.channel(call.channel) is not None

        await agent.act("hold", call_id=call.linkedid)
        await agent.next("channel.held", call_id=call.linkedid)
        caller = await until(lambda: (c := emulator.channel(call.channel)) and c.context == "acd-hold" and c)
        assert caller.bridge is None
        await agent.act("unhold", call_id=call.linkedid)
        await until(lambda: (c := emulator.channel(call.channel)) and c.bridge is not None)

        await agent.act("hangup", call_id=call.linkedid)
        ended = await agent.next("call.ended", call_id=call.linkedid)
        assert ended["hangup_side"] in ("agent", "system")
        assert emulator.channel(call.channel) is None and emulator.channel(bridged["channel"]) is None
        await agent.next("agent.state-changed", new="wrap-up")
        await agent.act("wrap-up", call_id=call.linkedid, disposition="resolved", notes="VIP asked about roaming")

        await asyncio.sleep(0.3)
        assert not [m for m in other.seen if m.get("call_id") == call.linkedid]  # 1002 saw nothing of it

    def logged() -> tuple[Any, ...] | None:
        with sqlite3.connect(stack.plane.settings.data_dir / "crm.sqlite3") as db:
            return db.execute(
                "select ani, dnis, customer_id, queue, agent_id, outcome, disposition, notes, answered_at is not null,"
                " hold_s > 0 from call_records where call_id = ?", (call.linkedid,)).fetchone()

    record = await until(logged, within_s=15)
    assert record == (stack.vip["ani"], "10086", int(stack.vip["id"]), "vip", "1001", "answered", "resolved",
                      "VIP asked about roaming", 1, 1)


async def test_blind_transfer_to_a_number_moves_the_caller_and_frees_the_agent(stack: Stack) -> None:
    emulator = stack.emulator
    emulator.set_endpoint("1001", answer=False, talk_s=None)
    emulator.set_number("13912345678", answer=True, answer_after_s=1.0, talk_s=None)
    async with desk(stack, "agent1001") as agent:
        await agent.act("login")
        await agent.next("agent.state-changed", new="not-ready")
        await agent.act("ready")
        call = emulator.place_call({"ani": stack.vip["ani"], "dnis": "10086"})
        await agent.next("cti.screen-pop", within_s=30)
        await agent.act("answer", call_id=call.linkedid)
        await agent.next("call.answered", call_id=call.linkedid)
        await agent.act("transfer", call_id=call.linkedid, kind="blind", to="number", target="13912345678")
        transferred = await agent.next("call.transferred", call_id=call.linkedid)
        assert transferred["target"] == "13912345678@agents"  # as Asterisk reports it
        trunk = await until(lambda: next((c for c in emulator.channels()
                                          if c["channel"].startswith("PJSIP/pstn-trunk-") and c["uniqueid"] != call.uniqueid
                                          and c["linkedid"] == call.linkedid), None))
        assert trunk is not None
        await until(lambda: agent_channel(emulator, "1001") is None)  # the agent's leg is gone
        assert emulator.channel(call.channel) is not None  # the caller talks to the number now
        wrap = await agent.next("agent.state-changed", new="wrap-up")  # the agent is done with the call
        assert wrap["call_id"] == call.linkedid
        await agent.act("wrap-up", call_id=call.linkedid, disposition="transferred")  # the call itself goes on
        await agent.next("agent.state-changed", new="ready")


async def test_blind_transfer_to_a_queue_reaches_the_next_agent_with_a_pop(stack: Stack) -> None:
    emulator = stack.emulator
    emulator.set_endpoint("1001", answer=False, talk_s=None)
    emulator.set_endpoint("1002", answer=True, answer_after_s=0.5, talk_s=None)
    async with desk(stack, "agent1001") as first, desk(stack, "agent1002") as second:
        await first.act("login")
        await first.next("agent.state-changed", new="not-ready")
        await first.act("ready")
        call = emulator.place_call({"ani": stack.vip["ani"], "dnis": "10086"})
        await first.next("cti.screen-pop", within_s=30)
        await first.act("answer", call_id=call.linkedid)
        await first.next("call.answered", call_id=call.linkedid)
        await second.act("login")
        await second.next("agent.state-changed", new="not-ready")
        await second.act("ready")
        await first.act("transfer", call_id=call.linkedid, kind="blind", to="queue", target="general")
        await first.next("agent.state-changed", new="wrap-up")
        pop = await second.next("cti.screen-pop", call_id=call.linkedid)
        assert pop["queue"] == "general" and pop["ani"] == stack.vip["ani"]
        await second.next("call.answered", call_id=call.linkedid, agent_id="1002")
        talking = await until(lambda: (c := agent_channel(emulator, "1002")) and c["bridged"] and c)
        assert talking["linkedid"] == call.linkedid


async def test_the_control_plane_runs_a_campaign_started_through_its_api(stack: Stack) -> None:
    """The dialer is wired into the running control plane: the supervisor's REST calls create and
    start a campaign, its runner dials through the emulator's trunk, and the attempt lands in the CRM."""
    emulator = stack.emulator
    emulator.set_trunk(answer_rate=0.0, busy_rate=1.0, machine_rate=0.0)
    always = {"weekdays": "mon-sun", "hours": "00:00-24:00"}
    async with desk(stack, "agent1001") as agent, httpx.AsyncClient(base_url=stack.base) as http:
        await agent.act("login")
        await agent.act("ready")
        await agent.next("agent.state-changed", new="ready")
        sup = {"Authorization": f"Bearer {await stack.token('supervisor')}"}
        created = await http.post("/api/v1/campaigns", headers=sup, json={
            "id": "winback", "name": "Win-back", "queue": "general", "caller_id": "10086",
            "settings": {"agents": ["1001"], "country": "CN", "tick_s": 0.2,
                         "compliance": {"calling_windows": {"CN": always}}},
        })
        assert created.status_code == 201, created.text
        imported = await http.post("/api/v1/campaigns/winback/contacts", headers=sup | {"Content-Type": "text/csv"},
                                   content=b"id,phone,name\nc1,+86 139 0013 9001,Ann\n")
        assert imported.json()["added"] == 1
        started = await http.post("/api/v1/campaigns/winback/start", headers=sup)
        assert started.json()["status"] == "running"
        assert (await http.get("/campaigns")).status_code == 200

        async def busy_attempt() -> bool:
            shown = (await http.get("/api/v1/campaigns/winback", headers=sup)).json()
            return bool(shown.get("outcomes", {}).get("busy"))

        async with asyncio.timeout(20):
            while not await busy_attempt():  # noqa: ASYNC110 (polling the REST API is the point)
                await asyncio.sleep(0.2)
    assert stack.plane.dialer is not None and "winback" in stack.plane.dialer.runners
