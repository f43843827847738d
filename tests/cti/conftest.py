"""A CTI server on a real uvicorn port, with the real bus, the real ACD core and the real call
tracker behind it. Only the PBX is replaced: `RecordingPort` keeps the commands it was asked to
execute (the end-to-end tests in tests/integration/ use the emulator instead).

    async def test_x(cti):
        agent = await cti.agent("agent1001")          # logged-in REST client + socket
        await cti.ami("Newchannel", ...)               # AMI events through the tracker onto the bus
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
from argon2 import PasswordHasher

from acd.config import AcdConfig, AgentProfile, QueueConfig
from acd.engine import AcdEngine
from callcenter import events as ev
from callcenter.bus import EventBus
from callcenter.errors import DomainError
from cti.app import create_app
from cti.auth import Account, Authenticator, LoginLimiter, TokenSigner
from cti.service import CtiConfig, CtiService
from pbx.ami import AmiMessage
from pbx.calls import CallTracker
from tests.asgi import served

PASSWORD = "correct horse battery"
SECRET = "test-secret-0123456789abcdef"
_hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
_HASH = _hasher.hash(PASSWORD)

ACCOUNTS = {
    "agent1001": Account(agent_id=ev.AgentId("1001"), username="agent1001", name="Li Na", role="agent", interface="PJSIP/1001"),
    "agent1002": Account(agent_id=ev.AgentId("1002"), username="agent1002", name="Wang Wei", role="agent", interface="PJSIP/1002"),
    "supervisor": Account(agent_id=ev.AgentId("9001"), username="supervisor", name="Boss", role="supervisor", interface=""),
}


class HashedAccounts:
    """Accounts with real argon2 hashes, as the CRM keeps them."""

    async def authenticate(self, username: str, password: str) -> Account | None:
        account = ACCOUNTS.get(username)
        if account is None:
            return None
        try:
            _hasher.verify(_HASH, password)
        except Exception:
            return None
        return account


class Cards:
    def __init__(self) -> None:
        self.by_id: dict[str, ev.PopCustomer] = {}
        self.by_number: dict[str, str] = {}

    def add(self, customer_id: str, ani: str, name: str, tier: str = "star3") -> ev.PopCustomer:
        card = ev.PopCustomer(customer_id=ev.CustomerId(customer_id), account_number=f"A{customer_id}", name=name,
                              tier=tier, segment="consumer", balance="12.50", open_complaints=1)
        self.by_id[customer_id] = card
        self.by_number[ani] = customer_id
        return card

    async def by_customer_id(self, customer_id: str) -> ev.PopCustomer | None:
        return self.by_id.get(customer_id)

    async def by_ani(self, ani: str) -> ev.PopCustomer | None:
        cid = self.by_number.get(ani)
        return None if cid is None else self.by_id[cid]


@dataclass
class RecordingPort:
    executed: list[Any] = field(default_factory=list)
    fail_with: DomainError | None = None

    async def execute(self, command: Any) -> object:
        if self.fail_with is not None:
            raise self.fail_with
        self.executed.append(command)
        return []


class MiniAcd:
    """The ACD core on the bus, as acd's runner does it: facts go back on the bus, an OfferCall
    becomes CallOffered (the PBX part is the recording port)."""

    def __init__(self, bus: EventBus, port: RecordingPort) -> None:
        config = AcdConfig(queues={ev.QueueName("general"): QueueConfig(name=ev.QueueName("general"), wrap_up_s=300)})
        agents = [AgentProfile(agent_id=ev.AgentId(a), queues=(ev.QueueName("general"),)) for a in ("1001", "1002")]
        self.engine = AcdEngine(config, agents=agents)
        self.bus = bus
        self.port = port
        self.sub = bus.subscribe("acd", policy="block")

    async def run(self) -> None:
        async for msg in self.sub:
            at = getattr(msg, "at", None)
            for out in self.engine.handle(msg, now=at if isinstance(at, float) else time.time()):
                if isinstance(out, ev.OfferCall):
                    self.port.executed.append(out)
                    await self.bus.publish(ev.CallOffered(call_id=out.call_id, agent_id=out.agent_id, queue=out.queue,
                                                          decision_id=out.decision_id, at=time.time()))
                elif hasattr(out, "at"):
                    await self.bus.publish(out)


class Socket:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    async def next(self, type_: str, within_s: float = 5.0, **match: Any) -> dict[str, Any]:
        """The first message of `type_` (already received or to come) whose fields match."""
        def hit(m: dict[str, Any]) -> bool:
            return m.get("type") == type_ and all(m.get(k) == v for k, v in match.items())

        for m in self.received:
            if hit(m):
                self.received.remove(m)
                return m
        async with asyncio.timeout(within_s):
            while True:
                m = json.loads(await self.ws.recv())
                if hit(m):
                    return m
                self.received.append(m)

    async def request(self, action: str, **params: Any) -> dict[str, Any]:
        request_id = f"{action}-{len(self.received)}-{time.monotonic_ns()}"
        await self.ws.send(json.dumps({"request_id": request_id, "action": action, **params}))
        async with asyncio.timeout(5.0):
            while True:
                m = json.loads(await self.ws.recv())
                if m.get("request_id") == request_id and m["type"] in ("cti.request-done", "cti.request-failed"):
                    return m
                self.received.append(m)

    def types(self) -> list[str]:
        return [m["type"] for m in self.received]


@dataclass
class User:
    http: httpx.AsyncClient
    token: str
    socket: Socket | None = None


class Harness:
    def __init__(self, base: str, bus: EventBus, port: RecordingPort, service: CtiService, tracker: CallTracker,
                 cards: Cards) -> None:
        self.base = base
        self.bus = bus
        self.port = port
        self.service = service
        self.tracker = tracker
        self.cards = cards
        self._closers: list[Callable[[], Any]] = []

    async def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base) as http:
            return await http.post("/api/v1/session", json={"username": username, "password": password})

    async def user(self, username: str, *, socket: bool = True) -> User:
        reply = await self.login(username)
        assert reply.status_code == 200, reply.text
        token = reply.json()["token"]
        http = httpx.AsyncClient(base_url=self.base, headers={"Authorization": f"Bearer {token}"})
        self._closers.append(http.aclose)
        user = User(http, token)
        if socket:
            user.socket = await self.socket(token)
        return user

    async def socket(self, token: str | None) -> Socket:
        ws = await websockets.connect(self.base.replace("http", "ws") + "/ws", max_size=2**22)
        self._closers.append(ws.close)
        if token is not None:
            await ws.send(json.dumps({"type": "auth", "token": token}))
        s = Socket(ws)
        if token is not None:
            await s.next("cti.welcome")
        return s

    async def ami(self, name: str, **headers: str) -> None:
        """One AMI event through the real tracker; its facts onto the bus (the tracking runner's job)."""
        for fact in self.tracker.handle(AmiMessage.event(name, headers), now=time.time()):
            await self.bus.publish(fact)

    async def inbound_call(self, call_id: str, ani: str, dnis: str = "10086") -> None:
        await self.ami("Newchannel", Channel=f"PJSIP/pstn-trunk-{call_id}", ChannelState="4", ChannelStateDesc="Ring",
                       CallerIDNum=ani, CallerIDName="", Context="hotline", Exten=dnis, Priority="1",
                       Uniqueid=call_id, Linkedid=call_id)

    async def agent_leg(self, call_id: str, agent: str, *, answered: bool = True) -> str:
        """The caller dials the agent's phone and (optionally) the agent answers and they are bridged."""
        leg = f"{call_id}.{agent}"
        name = f"PJSIP/{agent}-{leg}"
        await self.ami("Newchannel", Channel=name, ChannelState="0", ChannelStateDesc="Down", CallerIDNum=agent,
                       Context="agents", Exten="s", Priority="1", Uniqueid=leg, Linkedid=call_id)
        await self.ami("DialBegin", Channel=f"PJSIP/pstn-trunk-{call_id}", Uniqueid=call_id, Linkedid=call_id,
                       DestChannel=name, DestUniqueid=leg, DestLinkedid=call_id, DialString=agent)
        if answered:
            await self.ami("DialEnd", Channel=f"PJSIP/pstn-trunk-{call_id}", Uniqueid=call_id, Linkedid=call_id,
                           DestChannel=name, DestUniqueid=leg, DestLinkedid=call_id, DialStatus="ANSWER")
            for ch, uid in ((f"PJSIP/pstn-trunk-{call_id}", call_id), (name, leg)):
                await self.ami("BridgeEnter", Channel=ch, Uniqueid=uid, Linkedid=call_id, BridgeUniqueid=f"b-{call_id}")
        return leg

    async def hang_up(self, call_id: str, *channels: tuple[str, str]) -> None:
        for name, uid in channels:
            await self.ami("Hangup", Channel=name, Uniqueid=uid, Linkedid=call_id, Cause="16", **{"Cause-txt": "Normal Clearing"})

    async def settle(self) -> None:
        """Wait until the bus subscribers have taken everything published so far."""
        async with asyncio.timeout(5.0):
            while any(not s.queue.empty() for s in self.bus._subs):  # noqa: ASYNC110 (the bus has no "drained" event)
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)

    async def close(self) -> None:
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                await close()


@pytest.fixture
async def cti() -> AsyncIterator[Harness]:
    bus = EventBus()
    port = RecordingPort()
    tracker = CallTracker(variables=())
    cards = Cards()
    service = CtiService(bus=bus, commands=port, calls=tracker, cards=cards,
                         config=CtiConfig(stats_interval_s=0.2, client_queue_size=50),
                         directory={"1001": "PJSIP/1001", "1002": "PJSIP/1002"})
    auth = Authenticator(HashedAccounts(), TokenSigner(SECRET), LoginLimiter(3))
    acd = asyncio.create_task(MiniAcd(bus, port).run())
    try:
        async with served(create_app(service, auth)) as base:
            harness = Harness(base, bus, port, service, tracker, cards)
            try:
                yield harness
            finally:
                await harness.close()
    finally:
        acd.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await acd
