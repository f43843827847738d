"""The call tracker (pbx.calls) fed live by the emulator over AMI reaches the shape of call the
real captures give: the caller's leg, the agent's leg dialled from it, one bridge, the hang-up."""

from __future__ import annotations

import asyncio

from callcenter.events import (
    CallArrived,
    CallEnded,
    ChannelBridged,
    DialBegan,
    DialEnded,
    DialStatus,
    Direction,
    HangupSide,
    UserEventReceived,
)
from emulator.app import Emulator
from pbx.ami_client import AmiClient
from pbx.calls import CallTracker


async def test_tracker_follows_an_emulated_inbound_call(make_emulator, ami_user) -> None:
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    client = AmiClient("127.0.0.1", emulator.ami_port, *ami_user, ping_interval_s=60)
    await client.connect()
    tracker = CallTracker(variables=set())
    facts: list[object] = []
    call_ended = asyncio.Event()
    subscription = client.subscribe()

    async def track() -> None:
        async for message in subscription:
            for fact in tracker.handle(message, now=0.0):
                facts.append(fact)
                if isinstance(fact, CallEnded):
                    call_ended.set()

    task = asyncio.create_task(track())
    try:
        emulator.set_endpoint("1005", answer_after_s=1.0, talk_s=3.0)
        call = emulator.place_call({"ani": "13800138000", "dnis": "10086"})
        await asyncio.sleep(0.3)
        for name, value in (("ACD_AGENT_ID", "1005"), ("ACD_AGENT_INTERFACE", "PJSIP/1005")):
            await client.send_action("Setvar", Channel=call.channel, Variable=name, Value=value)
        await client.send_action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
        async with asyncio.timeout(10):
            await emulator.wait_idle()
            await call_ended.wait()
    finally:
        await client.close()
        await asyncio.wait([task], timeout=2)

    arrived = [f for f in facts if isinstance(f, CallArrived)]
    assert len(arrived) == 1  # the agent's leg belongs to the same call (Linkedid)
    assert (arrived[0].call_id, arrived[0].ani, arrived[0].dnis) == (call.linkedid, "13800138000", "10086")
    assert arrived[0].direction is Direction.INBOUND
    began = [f for f in facts if isinstance(f, DialBegan)]
    ended = [f for f in facts if isinstance(f, DialEnded)]
    assert len(began) == 1 and began[0].channel_id == call.uniqueid
    assert [e.status for e in ended] == [DialStatus.ANSWER]
    bridged = [f for f in facts if isinstance(f, ChannelBridged)]
    assert len(bridged) == 2 and bridged[0].bridge_id == bridged[1].bridge_id
    assert {b.channel_id for b in bridged} == {call.uniqueid, began[0].dest_channel_id}
    waiting = [f for f in facts if isinstance(f, UserEventReceived) and f.name == "AcdWaiting"]
    assert len(waiting) == 1
    (end,) = [f for f in facts if isinstance(f, CallEnded)]
    assert (end.call_id, end.hangup_side, end.cause) == (call.linkedid, HangupSide.AGENT, 16)
    assert tracker.calls == {}
