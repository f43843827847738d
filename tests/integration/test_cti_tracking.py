"""pbx.tracking.TrackingRunner against the emulator: facts in wire order onto the bus, and a resync
through CoreShowChannels after the AMI link drops, so a call that ended during the outage ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from callcenter import events as ev
from emulator.app import Emulator
from pbx.ami_client import AmiClient
from pbx.calls import CallTracker
from pbx.tracking import TrackingRunner


async def test_tracking_publishes_in_order_and_resyncs_after_a_drop(make_emulator, ami_user) -> None:
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0, globals={"ACD_FALLBACK_TIMEOUT": "600"})
    client = AmiClient("127.0.0.1", emulator.ami_port, *ami_user, auth="md5", ping_interval_s=60,
                       reconnect_min_s=0.05, reconnect_max_s=0.1)
    await client.connect()
    tracker = CallTracker(variables=())
    facts: list[object] = []
    arrived = asyncio.Event()

    async def publish(fact: object) -> None:
        facts.append(fact)
        arrived.set()

    async def until(predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(15):
            while not predicate():
                arrived.clear()
                await arrived.wait()

    runner = TrackingRunner(client, tracker, publish)
    task = asyncio.create_task(runner.run())
    try:
        call = emulator.place_call({"ani": "13800138000", "dnis": "10086"})
        await until(lambda: any(isinstance(f, ev.ChannelEnteredDialplan) and f.call_id == call.linkedid
                                and f.context == "acd-wait" for f in facts))
        mine = [type(f).__name__ for f in facts if getattr(f, "call_id", None) == call.linkedid]
        assert mine[:2] == ["CallArrived", "ChannelCreated"]
        assert runner.status()["ok"] is True and runner.status()["calls"] == 1

        # The link drops; the caller hangs up while nobody listens; the link comes back.
        for session in list(emulator.ami.sessions):
            session.writer.transport.abort()
        await emulator.far_end_hangup(call.channel)
        await until(lambda: any(isinstance(f, ev.CallEnded) and f.call_id == call.linkedid for f in facts))
        ended = next(f for f in facts if isinstance(f, ev.CallEnded) and f.call_id == call.linkedid)
        assert ended.cause == 0 and ended.hangup_side is ev.HangupSide.UNKNOWN  # learnt from the resync
        assert runner.stats.resyncs == 1
        assert tracker.calls == {}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()
