"""CTI fan-out: the latency from an AMI event arriving to the screen-pop frame at the agent's
browser, with 1,000 agents connected, and the server's CPU per message.

Two processes on the same machine:

* the server (this process): the production path `AmiClient -> TrackingRunner -> CallTracker ->
  EventBus -> CtiService -> WebSocket (uvicorn)`; 1,000 agents logged in (`AgentLoggedIn`), a
  customer card for every caller in memory;
* the load (`--load`, a child process): plays Asterisk on an AMI socket and the 1,000 agents'
  browsers. Each call is `Newchannel` (the caller), then 100 ms later `Newchannel` + `DialBegin`
  towards the agent's phone (the moment the pop is due), then answer, bridge and hang-up events.
  The latency is the time from writing `DialBegin` to the socket to the `cti.screen-pop` frame
  being read by that agent's WebSocket client: both ends are in the load process, on one clock.

Offers are paced at `--rate` per second for `--seconds`. The server's CPU time (user + system) is
taken between the load's `BenchStart` and `BenchEnd` UserEvents and divided by the AMI events
handled (`cpu_us_per_msg`) and by the offers (`cpu_us_per_offer`).

    .venv/bin/python bench/cti_fanout.py [--agents 1000] [--rate 50] [--seconds 20]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callcenter import events as ev
from callcenter.bus import EventBus
from cti.auth import Account, Authenticator, LoginLimiter, TokenSigner
from cti.service import CtiConfig, CtiService
from pbx.ami import AmiDecoder, AmiMessage

SECRET = "bench-secret-0123456789abcdef"
BATCH = 100  # WebSocket connections opened at once


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def agent_id(n: int) -> str:
    return str(100_000 + n)


# -- the server ------------------------------------------------------------------------------------


class Cards:
    async def by_ani(self, ani: str) -> ev.PopCustomer | None:
        return ev.PopCustomer(customer_id=ev.CustomerId(ani[-6:]), account_number=f"A{ani}", name="Bench Customer",
                              tier="star3", segment="consumer", balance="42.00", open_complaints=0)

    async def by_customer_id(self, customer_id: str) -> ev.PopCustomer | None:
        return None


class NoAccounts:
    async def authenticate(self, username: str, password: str) -> Account | None:
        return None


class NoPbx:
    async def execute(self, command: Any) -> object:
        raise RuntimeError("the benchmark sends no commands")


async def server(args: argparse.Namespace) -> dict[str, Any]:
    import uvicorn

    from pbx.ami_client import AmiClient
    from pbx.calls import CallTracker
    from pbx.tracking import TrackingRunner

    bus = EventBus()
    tracker = CallTracker(variables=())
    cti = CtiService(bus=bus, commands=NoPbx(), calls=tracker, cards=Cards(), config=CtiConfig(stats_interval_s=1.0))
    auth = Authenticator(NoAccounts(), TokenSigner(SECRET), LoginLimiter(5))
    from cti.app import create_app

    app = create_app(cti, auth)
    web = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", access_log=False))
    web_task = asyncio.create_task(web.serve())
    while not web.started:  # noqa: ASYNC110 (uvicorn has no "started" event)
        await asyncio.sleep(0.01)
    http_port = web.servers[0].sockets[0].getsockname()[1]
    for n in range(args.agents):
        await bus.publish(ev.AgentLoggedIn(agent_id=ev.AgentId(agent_id(n)), interface=f"PJSIP/{agent_id(n)}",
                                           at=time.time()))

    load = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--load", "--http-port", str(http_port), "--agents", str(args.agents),
        "--rate", str(args.rate), "--seconds", str(args.seconds), stdout=subprocess.PIPE,
    )
    assert load.stdout is not None
    ami_port = int((await load.stdout.readline()).decode())
    marks: dict[str, tuple[float, int, int]] = {}
    done = asyncio.Event()

    async def publish(fact: object) -> None:
        if isinstance(fact, ev.UserEventReceived) and fact.name in ("BenchStart", "BenchEnd"):
            marks[fact.name] = (cpu_s(), runner.stats.events, cti.pops)
            if fact.name == "BenchEnd":
                done.set()
        await bus.publish(fact)

    client = AmiClient("127.0.0.1", ami_port, "bench", "bench", auth="plain", ping_interval_s=600)
    await client.connect()
    runner = TrackingRunner(client, tracker, publish)
    tracking = asyncio.create_task(runner.run())
    result = json.loads((await load.stdout.read()).decode())
    await load.wait()
    await asyncio.wait_for(done.wait(), 10)
    (cpu0, events0, pops0), (cpu1, events1, pops1) = marks["BenchStart"], marks["BenchEnd"]
    tracking.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await tracking
    await client.close()
    web.should_exit = True
    await web_task
    cpu = cpu1 - cpu0
    return {
        **result,
        "server_ami_events": events1 - events0,
        "server_screen_pops": pops1 - pops0,
        "cpu_us_per_msg": round(cpu / max(1, events1 - events0) * 1e6, 1),
        "cpu_us_per_offer": round(cpu / max(1, pops1 - pops0) * 1e6, 1),
        "server_cpu_share": round(cpu / result["seconds"], 3),
        "clients_closed_slow": cti.hub.closed_slow,
    }


# -- the load: Asterisk on AMI, and the agents' browsers --------------------------------------------


class FakeAsterisk:
    def __init__(self) -> None:
        self.writer: asyncio.StreamWriter | None = None
        self.ready = asyncio.Event()
        self.task: asyncio.Task[Any] | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.task = asyncio.current_task()
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        decoder = AmiDecoder(expect_banner=False)
        while data := await reader.read(65536):
            for action in decoder.feed(data):
                name = (action.get("Action") or "").lower()
                headers = {"Message": "Authentication accepted"} if name == "login" else {}
                if name == "ping":
                    headers = {"Ping": "Pong"}
                writer.write(bytes(AmiMessage.response("Success", headers, action_id=action.get("ActionID"))))
                if name == "login":
                    self.writer = writer
                    self.ready.set()

    def send(self, name: str, **headers: str) -> None:
        assert self.writer is not None
        self.writer.write(bytes(AmiMessage.event(name, headers)))


def channel(name: str, uid: str, linked: str, state: str = "4", **extra: str) -> dict[str, str]:
    return {"Channel": name, "ChannelState": state, "ChannelStateDesc": "Ring", "CallerIDNum": "13800138000",
            "CallerIDName": "", "Context": "hotline", "Exten": "10086", "Priority": "1", "Uniqueid": uid,
            "Linkedid": linked, **extra}


async def load(args: argparse.Namespace) -> None:
    import websockets

    asterisk = FakeAsterisk()
    ami = await asyncio.start_server(asterisk.serve, "127.0.0.1", 0)
    print(ami.sockets[0].getsockname()[1], flush=True)
    signer = TokenSigner(SECRET)
    sent: dict[str, float] = {}
    latencies: list[float] = []
    received = 0
    all_popped = asyncio.Event()
    offers = int(args.rate * args.seconds)

    welcomed = 0
    all_welcomed = asyncio.Event()

    async def agent(n: int, connected: asyncio.Semaphore) -> None:
        nonlocal received, welcomed
        aid = agent_id(n)
        token, _ = signer.issue(Account(agent_id=ev.AgentId(aid), username=f"a{aid}", name=aid, role="agent",
                                        interface=f"PJSIP/{aid}"))
        async with connected:
            ws = await websockets.connect(f"ws://127.0.0.1:{args.http_port}/ws", max_queue=None)
            await ws.send(json.dumps({"type": "auth", "token": token}))
            json.loads(await ws.recv())  # cti.welcome
        welcomed += 1
        if welcomed == args.agents:
            all_welcomed.set()
        async for frame in ws:
            received += 1
            if '"cti.screen-pop"' in frame:
                now = time.perf_counter()
                call_id = json.loads(frame)["call_id"]
                latencies.append((now - sent[call_id]) * 1000)
                if len(latencies) == offers:
                    all_popped.set()

    gate = asyncio.Semaphore(BATCH)
    clients = [asyncio.create_task(agent(n, gate)) for n in range(args.agents)]
    await asyncio.wait_for(asterisk.ready.wait(), 30)
    t0 = time.perf_counter()
    await asyncio.wait_for(all_welcomed.wait(), 120)
    connect_s = time.perf_counter() - t0

    async def call(i: int) -> None:
        cid = f"bench.{i}"
        aid = agent_id(i % args.agents)
        leg = f"{cid}.1"
        asterisk.send("Newchannel", **channel(f"PJSIP/pstn-trunk-{i:08x}", cid, cid))
        await asyncio.sleep(0.1)
        asterisk.send("Newchannel", **channel(f"PJSIP/{aid}-{i:08x}", leg, cid, state="0"))
        sent[cid] = last_dial[0] = time.perf_counter()
        asterisk.send("DialBegin", **channel(f"PJSIP/pstn-trunk-{i:08x}", cid, cid),
                      **{"DestChannel": f"PJSIP/{aid}-{i:08x}", "DestUniqueid": leg, "DestLinkedid": cid,
                         "DialString": aid})
        await asyncio.sleep(0.5)
        asterisk.send("DialEnd", **channel(f"PJSIP/pstn-trunk-{i:08x}", cid, cid), DestChannel=f"PJSIP/{aid}-{i:08x}",
                      DestUniqueid=leg, DestLinkedid=cid, DialStatus="ANSWER")
        for name, uid in ((f"PJSIP/pstn-trunk-{i:08x}", cid), (f"PJSIP/{aid}-{i:08x}", leg)):
            asterisk.send("BridgeEnter", **channel(name, uid, cid, state="6"), BridgeUniqueid=f"b{i}")
        await asyncio.sleep(1.0)
        for name, uid in ((f"PJSIP/pstn-trunk-{i:08x}", cid), (f"PJSIP/{aid}-{i:08x}", leg)):
            asterisk.send("Hangup", **channel(name, uid, cid, state="6"), Cause="16", **{"Cause-txt": "Normal Clearing"})

    last_dial = [0.0]
    asterisk.send("UserEvent", UserEvent="BenchStart")
    start = time.perf_counter()
    calls = []
    for i in range(offers):
        delay = start + i / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        calls.append(asyncio.create_task(call(i)))
    await asyncio.gather(*calls)
    await asyncio.wait_for(all_popped.wait(), 30)
    elapsed = time.perf_counter() - start
    pacing = last_dial[0] - start - 0.1  # the first DialBegin is 100 ms after the start
    asterisk.send("UserEvent", UserEvent="BenchEnd")
    await asyncio.sleep(0.5)
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    print(json.dumps({
        "agents": args.agents,
        "offers": len(latencies),
        "offers_per_s": round((offers - 1) / pacing, 1),
        "seconds": round(elapsed, 2),
        "p50_ms": round(q[49], 2),
        "p99_ms": round(q[98], 2),
        "max_ms": round(latencies[-1], 2),
        "frames_received": received,
        "connect_s": round(connect_s, 1),
    }), flush=True)
    for c in clients:
        c.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    assert asterisk.writer is not None
    asterisk.writer.close()  # the server's AMI client sees the end of the stream
    assert asterisk.task is not None
    with contextlib.suppress(TimeoutError, ConnectionError):
        await asyncio.wait_for(asterisk.task, 5)
    ami.close()


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--rate", type=float, default=50.0, help="offers per second")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--http-port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.load:
        asyncio.run(load(args))
        return
    result = asyncio.run(server(args))
    result["python"] = sys.version.split()[0]
    result["cpus"] = os.cpu_count()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
