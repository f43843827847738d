"""`callcenter demo`: the embedded default. The Asterisk emulator with simulated subscribers and
agents, the whole control plane, an SQLite CRM and the web UI, on one event loop.

* The CRM is created, migrated and seeded (3,000 subscribers, agents 1001..1012, a supervisor)
  on the first start in the data directory; the demo password is generated then and kept in
  `<data_dir>/demo-password.txt`, so every later start prints the same.
* The supervisor's phone is PJSIP/9001 (enter it on the supervisor page): listen / whisper /
  barge ring it, it picks up after a second and ChanSpy joins the agent's call.
* Agent 1001 is the person at the keyboard: their emulated phone rings until they press Answer on
  the desktop, which sends the same SIP NOTIFY `Event: talk` (AMI PJSIPNotify) a real phone gets
  in production. Agents 1002.. are simulated: they log in and go ready on their own, their phones
  pick up after a second or two, and they wrap up after a few seconds.
* Subscribers call the hotline (10086) at `--rate` calls per minute (Poisson), with the numbers
  of seeded customers: a `--vip-share` of them are VIP / five-star (straight to the VIP queue),
  the others go through the menus by keys or, for English speakers, by voice with real
  recordings from the shared audio corpus when it is there.
* The hotline's flow only sends callers to agents from 08:00 to 22:00 Shanghai time; outside
  those hours the demo runs the IVR's clock at 10:00 of the same day (and says so), so callers
  always reach an agent.
* Ctrl-C (or `--duration`) stops everything in order and exits 0.

The emulator package is imported here only (production code never imports it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callcenter import events as ev
from callcenter.cli import get_settings
from callcenter.errors import ConfigError
from callcenter.settings import Settings, kept_secret

logger = logging.getLogger(__name__)

HUMAN_AGENT = "1001"
SUPERVISOR_PHONE = "9001"  # rung by listen / whisper / barge; picks up after a second
PASSWORD_FILE = "demo-password.txt"  # noqa: S105 (a file name)
VOICE_CHOICES = ("technical_support", "representative", "talk_to_an_agent")
HOTLINE_TZ = ZoneInfo("Asia/Shanghai")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agents", type=int, default=5,
                   help="agents, the person's (1001) included (default 5; at most 12, the seeded CRM's agents)")
    p.add_argument("--rate", type=float, default=4.0, help="calls per minute (default 4)")
    p.add_argument("--speed", type=float, default=1.0, help="emulated time runs this many times faster (default 1)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = until Ctrl-C)")
    p.add_argument("--data-dir", help="data directory for this demo (default: the settings' data_dir)")
    p.add_argument("--port", type=int, help="web UI port (default: http.port, 8080)")
    p.add_argument("--vip-share", type=float, default=0.15, help="share of calls from VIP customers (default 0.15)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the simulated traffic")


def run(args: argparse.Namespace) -> int:
    settings = get_settings(args)
    if args.data_dir:
        settings.data_dir = Path(args.data_dir).expanduser()
    if args.port is not None:
        settings.http.port = args.port
    problems = [
        (name, value, want)
        for name, value, want in (
            ("--agents", args.agents, args.agents >= 1),
            ("--rate", args.rate, args.rate >= 0),
            ("--speed", args.speed, args.speed > 0),
            ("--vip-share", args.vip_share, 0 <= args.vip_share <= 1),
        )
        if not want
    ]
    if problems:
        name, value, _ = problems[0]
        print(f"callcenter demo: {name} has value {value!r}; see callcenter demo --help")
        return 2
    settings.ensure_dirs()
    log_file = settings.data_dir / "demo.log"
    if not args.log_level:  # an explicit --log-level keeps everything on the console
        quiet_console(log_file)
        print(f"callcenter demo: the control plane's log is in {log_file}")
    return asyncio.run(Demo(settings, args).run())


def quiet_console(log_file: Path) -> None:
    """A person watches the demo's console for the logins and warnings; the full INFO log of every
    call goes to `log_file` instead of scrolling the banner away."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)
    to_file = logging.FileHandler(log_file, encoding="utf-8")
    to_file.setLevel(logging.INFO)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(to_file)
    root.setLevel(min(root.level, logging.INFO) if root.level else logging.INFO)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def demo_password(data_dir: Path) -> str:
    return kept_secret(data_dir / PASSWORD_FILE, 9)


def ivr_clock() -> tuple[Any, str]:
    """The IVR's clock: real time in business hours, else 10:00 Shanghai of today moving on."""
    now = dt.datetime.now(HOTLINE_TZ)
    if 8 <= now.hour < 21:
        return time.time, ""
    ten = now.replace(hour=10, minute=0, second=0, microsecond=0)
    offset = ten.timestamp() - time.time()
    return (lambda: time.time() + offset), "outside the hotline's hours (08-22 Shanghai): the IVR's clock runs from 10:00"


@dataclass(frozen=True, slots=True)
class Subscriber:
    ani: str
    tier: str
    language: str


def caller_script(rng: random.Random, people: list[Subscriber], vips: list[Subscriber], voice_dir: Path | None,
                  vip_share: float) -> dict[str, Any]:
    """One simulated subscriber's call (emulator.endpoints.CallerScript as a dict)."""
    talk_s = min(600.0, 20 + rng.expovariate(1 / 70))
    script: dict[str, Any] = {"dnis": "10086", "talk_s": round(talk_s, 1), "patience_s": round(90 + rng.uniform(0, 120), 1)}
    if vips and rng.random() < vip_share:
        return {**script, "ani": rng.choice(vips).ani}  # the VIP fast lane asks nothing
    person = rng.choice(people)
    script["ani"] = person.ani
    if voice_dir is not None and person.language == "en" and rng.random() < 0.6:
        # By voice: silent through the main menu's keys, then says what they want when recorded.
        choice = rng.choice(VOICE_CHOICES)
        script["utterances"] = [str(voice_dir / f"{choice}__{rng.choice(('en-us', 'en-gb', 'en-us_f3'))}.wav")]
        return script
    script["digits"] = [[round(rng.uniform(0.5, 2.5), 1), rng.choice(("0", "2", "3", "3"))]]
    return script


class Demo:
    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.settings = settings
        self.args = args
        self.rng = random.Random(args.seed)
        self.stop = asyncio.Event()
        self.placed = 0
        self._emulator_stopped = False
        self.crm_agents: set[str] = set()  # the CRM's agent accounts (role agent)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.stop.set)
        async with contextlib.AsyncExitStack() as stack:
            password, people, vips = await self._prepare_crm()
            emulator = await self._start_emulator(stack)
            plane = await self._start_plane(stack)
            # At the end the emulator's callers hang up first, so the calls end as calls do and the
            # control plane logs them; then the control plane stops, then the emulator (whose stop
            # was registered first), so nobody sees its peer vanish.
            stack.push_async_callback(self._hang_up_calls, emulator)
            tasks = [
                asyncio.create_task(self._simulated_agents(plane), name="demo.agents"),
                asyncio.create_task(self._traffic(emulator, people, vips), name="demo.traffic"),
            ]
            stack.push_async_callback(self._cancel, tasks)
            self._print_banner(plane, password)
            if self.args.duration > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), self.args.duration)
            else:
                await self.stop.wait()
            print("callcenter demo: stopping ...", flush=True)
        print(f"callcenter demo stopped ({self.placed} calls placed).", flush=True)
        return 0

    async def _stop_emulator(self, emulator: Any) -> None:
        if not self._emulator_stopped:
            self._emulator_stopped = True
            await emulator.stop()

    @staticmethod
    async def _hang_up_calls(emulator: Any) -> None:
        for channel in emulator.channels():
            if channel["channel"].startswith("PJSIP/pstn-trunk-"):  # the callers' side of each call
                with contextlib.suppress(Exception):
                    await emulator.far_end_hangup(channel["channel"])
        await asyncio.sleep(0.3)  # the hang-ups reach the control plane and its call logger

    @staticmethod
    async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _prepare_crm(self) -> tuple[str, list[Subscriber], list[Subscriber]]:
        from sqlalchemy import func, select

        from crm import models as m
        from crm.db import open_database
        from crm.seed import seed_demo

        password = demo_password(self.settings.data_dir)
        engine = await open_database(self.settings.database_url)
        try:
            async with engine.begin() as conn:
                count = (await conn.execute(select(func.count()).select_from(m.Customer))).scalar_one()
            if count == 0:
                print("callcenter demo: creating the CRM (3,000 subscribers) ...", flush=True)
                await seed_demo(engine, now=dt.datetime.now(dt.UTC), agent_password=password)
            async with engine.begin() as conn:
                self.crm_agents = set((await conn.execute(select(m.Agent.id).where(m.Agent.role == "agent"))).scalars())
                rows = (
                    await conn.execute(
                        select(m.CustomerPhone.number, m.Customer.tier, m.Customer.language)
                        .join(m.Customer, m.Customer.id == m.CustomerPhone.customer_id)
                        .where(m.CustomerPhone.is_primary.is_(True))
                        .order_by(m.Customer.id)
                        .limit(3000)
                    )
                ).all()
        finally:
            await engine.dispose()
        people = [Subscriber(r.number, r.tier, r.language) for r in rows]
        vips = [p for p in people if p.tier in ("vip", "star5")]
        return password, [p for p in people if p not in vips], vips

    async def _start_emulator(self, stack: contextlib.AsyncExitStack) -> Any:
        from emulator.app import Emulator, EmulatorConfig
        from emulator.conffile import ami_users, read_conf

        s = self.settings
        conf = EmulatorConfig().conf_dir
        user = ami_users(read_conf(conf / "manager.conf"))["callcenter"]
        s.ami.host, s.ami.port, s.ami.username, s.ami.secret = "127.0.0.1", free_port(), user.username, user.secret
        s.ami.ping_interval_s = 60.0
        s.fastagi.bind_host, s.fastagi.port = "127.0.0.1", free_port()
        emulator = Emulator(EmulatorConfig(ami_port=s.ami.port, agi_host="127.0.0.1", agi_port=s.fastagi.port,
                                           clock_scale=self.args.speed, spool_dir=s.data_dir / "emulator",
                                           seed=self.args.seed))
        await emulator.start()
        stack.push_async_callback(self._stop_emulator, emulator)
        # Agents 1001, 1002, ... each need a phone in pjsip.conf (1001..1050) and a CRM account (the
        # seeded CRM has 1001..1012).
        usable = 0
        while (agent := str(1001 + usable)) in emulator.pbx.endpoint_contexts and agent in self.crm_agents:
            usable += 1
        if self.args.agents > usable:
            raise ConfigError(f"--agents has value {self.args.agents}; at most {usable} (agents 1001.. need a phone in"
                              f" asterisk_conf/pjsip.conf and an account in the CRM)")
        emulator.set_endpoint(HUMAN_AGENT, answer=False, talk_s=None)
        emulator.set_endpoint(SUPERVISOR_PHONE, answer=True, answer_after_s=1.0, talk_s=None)
        for n in range(1, self.args.agents):
            emulator.set_endpoint(str(1001 + n), answer=True, answer_after_s=round(self.rng.uniform(1.0, 3.0), 1),
                                  talk_s=None)
        return emulator

    async def _start_plane(self, stack: contextlib.AsyncExitStack) -> Any:
        from callcenter.app import ControlPlane

        clock, note = ivr_clock()
        if note:
            print(f"callcenter demo: {note}", flush=True)
        plane = ControlPlane(self.settings, ivr_clock=clock)  # Answer: PJSIPNotify, as in production
        await plane.start()
        stack.push_async_callback(plane.stop)
        return plane

    async def _simulated_agents(self, plane: Any) -> None:
        """The desktops of agents 1002..: log in, go ready, wrap up a few seconds after each call."""
        simulated = {ev.AgentId(str(1001 + n)) for n in range(1, self.args.agents)}
        sub = plane.bus.subscribe("demo.agents", policy="drop-oldest", maxsize=1000,
                                  accepts=lambda m: isinstance(m, ev.AgentStateChanged) and m.agent_id in simulated)
        for agent_id in sorted(simulated):
            await plane.bus.publish(ev.AgentLoggedIn(agent_id=agent_id, interface=f"PJSIP/{agent_id}", at=time.time()))
            await plane.bus.publish(ev.AgentReady(agent_id=agent_id, at=time.time()))

        async def wrap_up(msg: ev.AgentStateChanged) -> None:
            await asyncio.sleep(self.rng.uniform(2.0, 6.0) / self.args.speed)
            await plane.bus.publish(ev.WrapUpEnded(agent_id=msg.agent_id, call_id=msg.call_id,
                                                   disposition=self.rng.choice(("resolved", "resolved", "information", "follow-up")),
                                                   notes="(simulated agent)", at=time.time()))

        pending: set[asyncio.Task[None]] = set()
        try:
            async for msg in sub:
                if msg.new is ev.AgentState.WRAP_UP:
                    task = asyncio.create_task(wrap_up(msg))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                elif msg.new is ev.AgentState.NOT_READY and msg.reason == "rona":
                    await plane.bus.publish(ev.AgentReady(agent_id=msg.agent_id, at=time.time()))
        finally:
            for task in pending:
                task.cancel()

    async def _traffic(self, emulator: Any, people: list[Subscriber], vips: list[Subscriber]) -> None:
        if self.args.rate <= 0:
            return
        voice_dir = next((d for d in voice_dirs() if d.is_dir()), None)
        if voice_dir is None:
            logger.info("no voice recordings found: simulated callers use keys only")
        rate_per_s = self.args.rate / 60.0
        while True:
            await emulator.clock.sleep(self.rng.expovariate(rate_per_s))
            script = caller_script(self.rng, people, vips, voice_dir, self.args.vip_share)
            call = emulator.place_call(script)
            self.placed += 1
            logger.info("demo: call %s from %s", call.uniqueid, script["ani"])

    def _print_banner(self, plane: Any, password: str) -> None:
        url = f"http://{self.settings.http.host}:{plane.http_port}"
        print(
            "\n".join(
                [
                    "",
                    f"callcenter demo is running: {url}",
                    f"  agent desktop  {url}/            user agent{HUMAN_AGENT}   password {password}",
                    f"  supervisor     {url}/supervisor  user supervisor  password {password}"
                    f"  (phone PJSIP/{SUPERVISOR_PHONE} for listen / whisper / barge)",
                    f"  wallboard      {url}/wallboard",
                    f"  health         {url}/status      API docs {url}/api/docs",
                    f"  {self.args.agents - 1} simulated agents, {self.args.rate:g} calls/min, speed x{self.args.speed:g};"
                    f" data in {self.settings.data_dir}",
                    f"  As agent{HUMAN_AGENT}: 'Log in to queues', then 'Ready'; calls pop up before you answer.",
                    "  Ctrl-C stops the demo.",
                    "",
                ]
            ),
            flush=True,
        )


def voice_dirs() -> Iterator[Path]:
    """Where the shared corpus's spoken IVR answers may be: $CALLCENTER_SHARED, beside the checkout."""
    from callcenter.app import REPO

    if os.environ.get("CALLCENTER_SHARED"):
        yield Path(os.environ["CALLCENTER_SHARED"]) / "audio" / "espeak-ng-ivr"
    yield REPO.parent / "shared" / "audio" / "espeak-ng-ivr"
    yield Path("/work/shared/audio/espeak-ng-ivr")
