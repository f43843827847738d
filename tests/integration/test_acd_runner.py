"""The ACD runner against the emulator over real sockets: AMI events -> call tracker -> ACD core ->
PBX command port (Setvar + Redirect to [acd-connect]) -> the agent's phone rings; ring-no-answer
re-queues the caller, who is offered to the next agent and answered."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from pathlib import Path

from acd.config import AgentProfile
from acd.decision import DecisionLog, read_call
from acd.engine import AcdEngine
from acd.runner import AcdRunner
from callcenter import events as ev
from emulator.app import Emulator
from pbx.ami_client import AmiClient
from pbx.calls import CallTracker
from pbx.commands import PbxCommandPort
from pbx.fastagi import AgiSession, FastAgiServer
from pbx.tracking import TrackingRunner
from routing_rules.loader import load_rules
from routing_rules.rules import CallContext

HOTLINE = Path(__file__).resolve().parents[2] / "routing_rules" / "rules" / "hotline.yaml"


async def test_calls_are_offered_answered_and_requeued_on_no_answer(make_emulator, ami_user, tmp_path: Path) -> None:
    rules = load_rules(HOTLINE)
    pending: dict[ev.CallId, ev.RoutingRequest] = {}

    async def ivr(session: AgiSession) -> None:  # stands in for the IVR room: one menu, then route
        await session.send("ANSWER")
        reply = await session.send("GET DATA", "beep", "3000", "1")
        service = "billing" if reply.result == "1" else "general"  # key 1: billing, as in the flow
        ctx = CallContext(dnis=session.env.dnis, ani=session.env.callerid, ivr={"service": service}, at=time.time())
        pending[ev.CallId(session.env.uniqueid)] = rules.route(ctx)
        await session.send("SET VARIABLE", "CC_IVR_RESULT", "route")

    server = FastAgiServer({"ivr": ivr}, port=0)
    await server.start()
    emulator: Emulator = await make_emulator(agi_port=server.port, clock_scale=10.0)
    emulator.set_endpoint("1001", answer=False)
    emulator.set_endpoint("1002", answer_after_s=1.0, talk_s=None)
    client = AmiClient("127.0.0.1", emulator.ami_port, *ami_user, auth="md5", ping_interval_s=60)
    await client.connect()

    tracker = CallTracker()
    profiles = [
        AgentProfile(agent_id=ev.AgentId(a), skills=(ev.AgentSkill(skill="billing", level=3),), queues=(ev.QueueName("billing"),))
        for a in ("1001", "1002")
    ]
    engine = AcdEngine(rules.acd_config(), agents=profiles, rng=random.Random(1))
    published: list[object] = []
    arrived = asyncio.Event()

    async def publish(msg: object) -> None:
        published.append(msg)
        arrived.set()

    async def until(predicate: Callable[[], bool], within_s: float = 20.0) -> None:
        async with asyncio.timeout(within_s):
            while not predicate():
                arrived.clear()
                await arrived.wait()

    log = DecisionLog(tmp_path / "decisions.jsonl")
    runner = AcdRunner(engine, PbxCommandPort(client, tracker), publish=publish, decisions=log)

    async def from_tracker(fact: object) -> None:
        # The caller reached [acd-wait]: now it is the ACD's (the IVR room's hand-off, in small).
        if isinstance(fact, ev.UserEventReceived) and fact.name == "AcdWaiting" and fact.call_id in pending:
            request = pending.pop(fact.call_id)
            runner.submit(ev.CallQueued(call_id=fact.call_id, channel_id=fact.channel_id, request=request, at=fact.at))
        await runner.publish_sink(fact)

    tasks = [
        asyncio.create_task(TrackingRunner(client, tracker, from_tracker).run()),
        asyncio.create_task(runner.run()),
    ]
    try:
        for agent_id in ("1001", "1002"):  # 1001 has been idle longer: it is offered the call first
            runner.submit(ev.AgentLoggedIn(agent_id=ev.AgentId(agent_id), interface=f"PJSIP/{agent_id}", at=time.time()))
            runner.submit(ev.AgentReady(agent_id=ev.AgentId(agent_id), at=time.time()))
            await asyncio.sleep(0.01)
        call = emulator.place_call({"ani": "13800000003", "dnis": "10086", "digits": [[0.2, "1"]], "talk_s": 5.0})

        def changed(agent_id: str, state: ev.AgentState) -> bool:
            return any(isinstance(m, ev.AgentStateChanged) and m.agent_id == agent_id and m.new is state for m in published)

        await until(lambda: changed("1002", ev.AgentState.WRAP_UP))
        decisions = [m for m in published if isinstance(m, ev.RoutingDecided)]
        assert [(d.agent_id, d.trigger, d.decision_id) for d in decisions] == [
            ("1001", "call-queued", f"{call.uniqueid}/1"),
            ("1002", "rona", f"{call.uniqueid}/2"),
        ]
        assert decisions[0].rule == "billing" and decisions[0].priority_class == "gold"
        assert engine.agents[ev.AgentId("1001")].state is ev.AgentState.NOT_READY
        assert engine.agents[ev.AgentId("1001")].reason == "rona"
        counters = engine.metrics.queue(ev.QueueName("billing"))
        assert (counters.offered, counters.answered, counters.handled) == (1, 1, 1)
        assert runner.refused == 0 and runner.failed_commands == 0
        records = read_call(log.path, call.uniqueid)
        assert [r["type"] for r in records] == ["call.queued", "acd.routing-decided", "acd.routing-decided"]
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.close()
        await client.close()
        await server.stop()
