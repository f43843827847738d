"""Load benchmark: the emulator (its own process) and the call tracker at rising arrival rates.

The emulator runs as `callcenter emulator` in a subprocess with the production dialplan and
AGENTS agents' phones (pjsip.conf plus generated endpoints from the same templates). This process
plays the control plane: a trivial FastAGI IVR (`pbx.fastagi`), `pbx.ami_client.AmiClient`
feeding every event into `pbx.calls.CallTracker`, and a first-free-agent ACD that answers each
`AcdWaiting` UserEvent with Setvar + Redirect to [acd-connect] (what the PBX command port sends
for OfferCall). Callers arrive as Poisson traffic (the emulator's `traffic` control command) at
each rate of RATES for STAGE_S seconds, go through [hotline] -> IVR -> [acd-wait] -> agent; the
agent answers after ANSWER_S and the caller hangs up after talking (exponential, mean TALK_S,
at most CAP_S after calling).

Prints one JSON object:
  calls_per_s          the highest arrival rate (calls/s placed in its stage) that the emulator
                       placed on time and the tracker consumed without falling behind
  concurrent_calls     the most calls up at once (distinct Linkedids among live channels)
  ami_events_per_s     AMI events per second the emulator sent over the run
  lost_calls           calls placed that the tracker did not see end (should be 0)
  cpu_ms_per_call      emulator CPU + this process's CPU (IVR, ACD, AMI client, tracker) per call
  tracker_falls_behind_at_rate   the first arrival rate whose events the tracker had not consumed
                       within LAG_LIMIT_S after its stage (null: it kept up at every rate)
  stages               per-rate detail
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from callcenter.events import CallArrived, CallEnded, ChannelBridged  # noqa: E402
from emulator.conffile import ami_users, read_conf  # noqa: E402
from pbx.ami import AmiMessage  # noqa: E402
from pbx.ami_client import AmiClient  # noqa: E402
from pbx.calls import CallTracker  # noqa: E402
from pbx.fastagi import AgiSession, FastAgiServer  # noqa: E402

RATES = (25.0, 50.0, 100.0, 150.0, 200.0)  # new calls per real second
STAGE_S = 6.0
AGENTS = 4000
ANSWER_S = 1.0
TALK_S = 12.0
CAP_S = 25.0
LAG_LIMIT_S = 1.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def conf_dir(base: Path) -> Path:
    conf = Path(tempfile.mkdtemp(prefix="emulator-load-conf-"))
    for name in ("extensions.conf", "manager.conf"):
        shutil.copy(base / name, conf / name)
    agents = "".join(f"\n[{n}](agent-endpoint)\n[{n}](agent-aor)\n" for n in range(20001, 20001 + AGENTS))
    (conf / "pjsip.conf").write_text((base / "pjsip.conf").read_text() + agents)
    return conf


class Control:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def ask(self, **request: object) -> dict:
        self.writer.write(json.dumps(request).encode() + b"\n")
        reply = json.loads(await self.reader.readline())
        if not reply["ok"]:
            raise RuntimeError(reply["error"])
        return reply


class Acd:
    """First free agent for each waiting caller; the agent is free again when its leg hangs up."""

    def __init__(self, client: AmiClient) -> None:
        self.client = client
        self.free = [str(n) for n in range(20001 + AGENTS - 1, 20000, -1)]
        self.busy: dict[str, str] = {}  # agent leg channel -> agent
        self.offers = 0
        self.no_agent = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def on_event(self, message: AmiMessage) -> None:
        if message.name == "UserEvent" and message.get("UserEvent") == "AcdWaiting":
            if not self.free:
                self.no_agent += 1  # waits for the dialplan's fallback
                return
            task = asyncio.create_task(self.offer(message.get("Channel") or "", self.free.pop()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif message.name == "DialBegin" and message.get("DestChannel", "").startswith("PJSIP/2"):
            self.busy[message.get("DestChannel") or ""] = (message.get("DestChannel") or "")[6:11]
        elif message.name == "Hangup" and (agent := self.busy.pop(message.get("Channel") or "", None)):
            self.free.append(agent)

    async def offer(self, channel: str, agent: str) -> None:
        self.offers += 1
        with contextlib.suppress(Exception):  # the caller may have hung up meanwhile
            await self.client.send_action("Setvar", Channel=channel, Variable="ACD_AGENT_INTERFACE",
                                          Value=f"PJSIP/{agent}")
            await self.client.send_action("Redirect", Channel=channel, Context="acd-connect", Exten="s",
                                          Priority="1")


async def ivr(session: AgiSession) -> None:
    await session.send("ANSWER")
    await session.send("SET VARIABLE", "CC_IVR_RESULT", "route")


async def main() -> dict:
    agi = FastAgiServer({"ivr": ivr}, port=0)
    await agi.start()
    spool = tempfile.mkdtemp(prefix="emulator-load-")
    conf = conf_dir(REPO / "asterisk_conf")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter", "--log-level", "WARNING", "emulator", "--ami-port", "0",
        "--control-port", "0", "--agi-port", str(agi.port), "--spool-dir", spool, "--conf-dir", str(conf),
        stdout=subprocess.PIPE, cwd=str(REPO), env={**os.environ, "CALLCENTER_DATA_DIR": spool},
    )
    assert proc.stdout is not None
    banner = (await proc.stdout.readline()).decode()
    ami_port, control_port = (int(p) for p in re.findall(r":(\d+)", banner))
    control = Control(*await asyncio.open_connection("127.0.0.1", control_port))
    await control.ask(cmd="endpoint", name="*", answer_after_s=ANSWER_S, talk_s=None)
    user = ami_users(read_conf(conf / "manager.conf"))["callcenter"]
    client = AmiClient("127.0.0.1", ami_port, user.username, user.secret, ping_interval_s=60, action_timeout_s=30)
    await client.connect()
    tracker = CallTracker(variables=set())
    acd = Acd(client)
    consumed = 0
    arrived: set[str] = set()
    ended: set[str] = set()
    arrival_at: dict[str, float] = {}
    connect_s: list[float] = []  # call arrived -> caller bridged with the agent (real seconds)
    behind = asyncio.Event()
    progress = asyncio.Event()

    async def track() -> None:
        nonlocal consumed
        try:
            async for message in client.subscribe(maxsize=500_000):
                if message.name in ("Disconnected", "Reconnected", "FullyBooted"):
                    continue
                consumed += 1
                progress.set()
                acd.on_event(message)
                for fact in tracker.handle(message, now=time.time()):
                    if isinstance(fact, CallArrived):
                        arrived.add(fact.call_id)
                        arrival_at[fact.call_id] = time.monotonic()
                    elif isinstance(fact, ChannelBridged) and fact.call_id in arrival_at:
                        connect_s.append(time.monotonic() - arrival_at.pop(fact.call_id))
                    elif isinstance(fact, CallEnded):
                        ended.add(fact.call_id)
        except Exception:  # the subscription overflowed: the tracker fell behind for good
            behind.set()

    tracker_task = asyncio.create_task(track())
    cpu0 = time.process_time()
    emu_cpu0 = cpu_seconds(proc.pid)
    started = time.monotonic()
    stages = []
    placed = 0
    max_calls = 0
    falls_behind_at = None
    for rate in RATES:
        stage_cpu, stage_emu = time.process_time(), cpu_seconds(proc.pid)
        stage_events0 = (await control.ask(cmd="stats"))["stats"]["events"]
        connects0 = len(connect_s)
        t0 = time.monotonic()
        calls = (await control.ask(cmd="traffic", rate_per_s=rate, duration_s=STAGE_S, seed=int(rate),
                                   mean_talk_s=TALK_S, hangup_after_s=CAP_S, mean_patience_s=None,
                                   menu_choices=[]))["calls"]
        placed += calls
        while time.monotonic() - t0 < STAGE_S:
            await asyncio.sleep(0.5)
            max_calls = max(max_calls, (await control.ask(cmd="stats"))["stats"]["live_calls"])
        stats = (await control.ask(cmd="stats"))["stats"]
        emitted = stats["events"]
        late_calls = placed - stats["calls_placed"]  # arrivals the emulator had not placed on time
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LAG_LIMIT_S):
                while consumed < emitted:
                    progress.clear()
                    await progress.wait()
        lag_events = max(0, emitted - consumed)
        if (lag_events or behind.is_set()) and falls_behind_at is None:
            falls_behind_at = rate
        elapsed = time.monotonic() - t0
        stage_connects = sorted(connect_s[connects0:]) or [0.0]
        stages.append({
            "arrival_rate_per_s": rate,
            "calls": calls,
            "calls_placed_late": late_calls,
            "events_per_s": round((emitted - stage_events0) / elapsed),
            "live_calls_at_end": stats["live_calls"],
            "agents_busy_at_end": len(acd.busy),
            # includes the IVR, the offer round trip and ANSWER_S of ringing
            "arrival_to_agent_p50_s": round(stage_connects[len(stage_connects) // 2], 2),
            "arrival_to_agent_p95_s": round(stage_connects[int(len(stage_connects) * 0.95)], 2),
            "tracker_backlog_events": lag_events,
            "emulator_cpu_s": round(cpu_seconds(proc.pid) - stage_emu, 2),
            "control_plane_process_cpu_s": round(time.process_time() - stage_cpu, 2),
        })
    # Drain: every caller hangs up at most CAP_S after calling.
    drain_deadline = time.monotonic() + CAP_S + 10
    while time.monotonic() < drain_deadline:
        stats = (await control.ask(cmd="stats"))["stats"]
        if stats["live_channels"] == 0 and stats["calls_placed"] >= placed and consumed >= stats["events"]:
            break
        await asyncio.sleep(0.25)
    elapsed = time.monotonic() - started
    emu_cpu = cpu_seconds(proc.pid) - emu_cpu0
    own_cpu = time.process_time() - cpu0
    stats = (await control.ask(cmd="stats"))["stats"]
    await client.close()
    tracker_task.cancel()
    control.writer.close()
    proc.terminate()
    await proc.wait()
    await agi.stop()
    shutil.rmtree(conf, ignore_errors=True)
    shutil.rmtree(spool, ignore_errors=True)
    kept_up = [s for s in stages if s["calls_placed_late"] <= s["calls"] * 0.02 and not s["tracker_backlog_events"]]
    return {
        "calls_per_s": max((s["calls"] / STAGE_S for s in kept_up), default=0.0),
        "concurrent_calls": max_calls,
        "ami_events_per_s": round(stats["events"] / elapsed),
        "lost_calls": placed - len(ended & arrived),
        "calls_placed": placed,
        "offers": acd.offers,
        "waited_without_agent": acd.no_agent,
        "cpu_ms_per_call": round(1000 * (emu_cpu + own_cpu) / max(placed, 1), 2),
        "emulator_cpu_ms_per_call": round(1000 * emu_cpu / max(placed, 1), 2),
        "tracker_falls_behind_at_rate": falls_behind_at,
        "emulator_errors": stats["errors"],
        "untranslated_events": dict(sorted(tracker.untranslated.items())),
        "run_s": round(elapsed, 1),
        "machine_cpus": os.cpu_count(),
        "stages": stages,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
