"""Load benchmark: the emulator (its own process) and the call tracker at rising arrival rates.

The emulator runs as `callcenter emulator` in a subprocess with a trivial FastAGI IVR served from
this process; this process also runs the control plane's side: `pbx.ami_client.AmiClient` feeding
every event into `pbx.calls.CallTracker`. Callers arrive as Poisson traffic (the emulator's
`traffic` control command) at each rate of RATES for STAGE_S seconds, go through [hotline] and
the IVR into [acd-wait], and hang up HOLD_S seconds after they called, so the number of calls up
at once climbs to about rate x HOLD_S.

Prints one JSON object:
  calls_per_s          the highest arrival rate (calls/s placed in its stage) that the emulator placed on
                       time and the tracker consumed without falling behind
  concurrent_calls     the most calls up at once (emulator's live channels)
  ami_events_per_s     AMI events per second the emulator sent (and the tracker consumed)
  lost_calls           calls placed that the tracker did not see end (should be 0)
  cpu_ms_per_call      emulator CPU + tracker-process CPU per call, in milliseconds
  tracker_falls_behind_at_rate   the first arrival rate whose events the tracker had not consumed
                       within LAG_LIMIT_S after the stage ended (null: it kept up at every rate)
  stages               per-rate detail
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from callcenter.events import CallArrived, CallEnded  # noqa: E402
from emulator.conffile import ami_users, read_conf  # noqa: E402
from pbx.ami_client import AmiClient  # noqa: E402
from pbx.calls import CallTracker  # noqa: E402
from pbx.fastagi import AgiSession, FastAgiServer  # noqa: E402

RATES = (25.0, 50.0, 100.0, 150.0, 200.0)  # new calls per real second
STAGE_S = 6.0
HOLD_S = 20.0
LAG_LIMIT_S = 1.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Control:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def ask(self, **request: object) -> dict:
        self.writer.write(json.dumps(request).encode() + b"\n")
        reply = json.loads(await self.reader.readline())
        if not reply["ok"]:
            raise RuntimeError(reply["error"])
        return reply


async def ivr(session: AgiSession) -> None:
    await session.send("ANSWER")
    await session.send("SET VARIABLE", "CC_IVR_RESULT", "route")


async def main() -> dict:
    agi = FastAgiServer({"ivr": ivr}, port=0)
    await agi.start()
    spool = tempfile.mkdtemp(prefix="emulator-load-")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter", "--log-level", "WARNING", "emulator", "--ami-port", "0",
        "--control-port", "0", "--agi-port", str(agi.port), "--spool-dir", spool,
        stdout=subprocess.PIPE, cwd=str(REPO), env={**os.environ, "CALLCENTER_DATA_DIR": spool},
    )
    assert proc.stdout is not None
    banner = (await proc.stdout.readline()).decode()
    ami_port, control_port = (int(p) for p in re.findall(r":(\d+)", banner))
    control = Control(*await asyncio.open_connection("127.0.0.1", control_port))
    user = ami_users(read_conf(REPO / "asterisk_conf" / "manager.conf"))["callcenter"]
    client = AmiClient("127.0.0.1", ami_port, user.username, user.secret, ping_interval_s=60, action_timeout_s=30)
    await client.connect()
    tracker = CallTracker(variables=set())
    consumed = 0
    arrived: set[str] = set()
    ended: set[str] = set()
    behind = asyncio.Event()
    progress = asyncio.Event()

    async def track() -> None:
        nonlocal consumed
        try:
            async for message in client.subscribe(maxsize=200_000):
                if message.name in ("Disconnected", "Reconnected", "FullyBooted"):
                    continue
                consumed += 1
                progress.set()
                for fact in tracker.handle(message, now=time.time()):
                    if isinstance(fact, CallArrived):
                        arrived.add(fact.call_id)
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
    max_live = 0
    falls_behind_at = None
    for rate in RATES:
        stage_cpu, stage_emu = time.process_time(), cpu_seconds(proc.pid)
        stage_events0 = (await control.ask(cmd="stats"))["stats"]["events"]
        t0 = time.monotonic()
        calls = (await control.ask(cmd="traffic", rate_per_s=rate, duration_s=STAGE_S, seed=int(rate),
                                   hangup_after_s=HOLD_S, mean_patience_s=None, menu_choices=[]))["calls"]
        placed += calls
        while time.monotonic() - t0 < STAGE_S:
            await asyncio.sleep(0.5)
            max_live = max(max_live, (await control.ask(cmd="stats"))["stats"]["live_channels"])
        stats = (await control.ask(cmd="stats"))["stats"]
        emitted = stats["events"]
        late_calls = placed - stats["calls_placed"]  # arrivals the emulator had not placed on time
        # Has the tracker consumed, within LAG_LIMIT_S, every event sent during the stage?
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LAG_LIMIT_S):
                while consumed < emitted:
                    progress.clear()
                    await progress.wait()
        lag_events = max(0, emitted - consumed)
        if (lag_events or behind.is_set()) and falls_behind_at is None:
            falls_behind_at = rate
        elapsed = time.monotonic() - t0
        stages.append({
            "arrival_rate_per_s": rate,
            "calls": calls,
            "calls_placed_late": late_calls,
            "events_per_s": round((emitted - stage_events0) / elapsed),
            "live_channels_at_end": stats["live_channels"],
            "tracker_backlog_events": lag_events,
            "emulator_cpu_s": round(cpu_seconds(proc.pid) - stage_emu, 2),
            "tracker_process_cpu_s": round(time.process_time() - stage_cpu, 2),
        })
    # Drain: every caller hangs up HOLD_S after calling.
    drain_deadline = time.monotonic() + HOLD_S + 10
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
    kept_up = [s for s in stages if s["calls_placed_late"] <= s["calls"] * 0.02 and not s["tracker_backlog_events"]]
    return {
        # the highest arrival rate both the emulator and the tracker sustained
        "calls_per_s": max((s["calls"] / STAGE_S for s in kept_up), default=0.0),
        "concurrent_calls": max_live,
        "ami_events_per_s": round(stats["events"] / elapsed),
        "lost_calls": placed - len(ended & arrived),
        "calls_placed": placed,
        "cpu_ms_per_call": round(1000 * (emu_cpu + own_cpu) / max(placed, 1), 2),
        "emulator_cpu_ms_per_call": round(1000 * emu_cpu / max(placed, 1), 2),
        "tracker_falls_behind_at_rate": falls_behind_at,
        "untranslated_events": dict(sorted(tracker.untranslated.items())),
        "run_s": round(elapsed, 1),
        "machine_cpus": os.cpu_count(),
        "stages": stages,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
