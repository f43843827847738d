"""The emulator assembled: configuration, PBX, AMI server and control socket, and the Python API
tests and the demo use to drive simulated callers and endpoints.

    emulator = Emulator(EmulatorConfig(ami_port=0, agi_port=4573))
    await emulator.start()
    call = emulator.place_call(CallerScript(ani="13800138000", dnis="10086", digits=((1.0, "1"),)))
    emulator.set_endpoint("1001", answer_after_s=2.0, talk_s=30.0)
    ...
    await emulator.stop()
"""

from __future__ import annotations

import dataclasses
import logging
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.amiserver import AmiServer
from emulator.apps import APPLICATIONS
from emulator.channels import RINGING
from emulator.clock import Clock
from emulator.conffile import AmiUser, ami_users, manager_general, pjsip_endpoints, read_conf
from emulator.control import ControlServer
from emulator.dialplan import load_dialplan
from emulator.endpoints import CallerScript, PhoneBehaviour, ScriptError, TrunkBehaviour
from emulator.pbx import LiveChannel, Pbx
from emulator.traffic import TrafficProfile, arrivals, run_traffic

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONF_DIR = REPO / "asterisk_conf"
DEFAULT_SOUNDS_DIR = Path("/usr/share/asterisk/sounds/en")


@dataclass(slots=True)
class EmulatorConfig:
    conf_dir: Path = DEFAULT_CONF_DIR
    spool_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "callcenter-emulator")
    sounds_dir: Path = DEFAULT_SOUNDS_DIR
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038  # 0: any free port (tests)
    control_port: int | None = None  # None: no control socket; 0: any free port
    agi_host: str | None = None  # overrides CC_AGI_HOST of [globals]
    agi_port: int | None = None  # overrides CC_AGI_PORT of [globals]
    clock_scale: float = 1.0
    seed: int = 0
    globals: dict[str, str] = field(default_factory=dict)  # more [globals] overrides


@dataclass(frozen=True, slots=True)
class PlacedCall:
    channel: str
    uniqueid: str
    linkedid: str


class Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        conf = config.conf_dir
        manager = read_conf(conf / "manager.conf")
        self.users: dict[str, AmiUser] = ami_users(manager)
        general = manager_general(manager)
        endpoints = pjsip_endpoints(read_conf(conf / "pjsip.conf"))
        dialplan = load_dialplan(conf / "extensions.conf", APPLICATIONS)
        self.clock = Clock(config.clock_scale)
        self.pbx = Pbx(
            dialplan,
            endpoints=endpoints,
            clock=self.clock,
            rng=random.Random(config.seed),
            spool_dir=config.spool_dir,
            sounds_dir=config.sounds_dir,
            applications=APPLICATIONS,
            trunk=TrunkBehaviour(),
        )
        if config.agi_host is not None:
            self.pbx.globals["CC_AGI_HOST"] = config.agi_host
        if config.agi_port is not None:
            self.pbx.globals["CC_AGI_PORT"] = str(config.agi_port)
        self.pbx.globals.update(config.globals)
        self.pbx.channelvars = general.channelvars
        self.ami = AmiServer(self.pbx, self.users, host=config.ami_host, port=config.ami_port,
                             timestamps=general.timestampevents)
        self.control: ControlServer | None = None

    async def start(self) -> None:
        await self.ami.start()
        if self.config.control_port is not None:
            self.control = ControlServer(self, port=self.config.control_port)
            await self.control.start()
        logger.info("emulator: AMI on %s:%s, dialplan %s", self.config.ami_host, self.ami.port,
                    self.config.conf_dir / "extensions.conf")

    async def stop(self) -> None:
        if self.control is not None:
            await self.control.close()
        await self.ami.close()
        await self.pbx.shutdown()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def ami_port(self) -> int:
        return self.ami.port

    @property
    def control_port(self) -> int | None:
        return None if self.control is None else self.control.port

    # -- the Python control API -----------------------------------------------------------------

    def place_call(self, script: CallerScript | dict[str, Any]) -> PlacedCall:
        """A PSTN subscriber calls in through the trunk, following `script`."""
        if isinstance(script, dict):
            script = CallerScript.from_dict(script)
        ch = self.pbx.place_call(script)
        return PlacedCall(ch.name, ch.uniqueid, ch.linkedid)

    def set_endpoint(self, name: str, **behaviour: Any) -> PhoneBehaviour:
        """Change how the phone `name` (a pjsip.conf endpoint; `*`: every phone without its own
        setting) behaves from the next call on."""
        if name == "*":
            self.pbx.default_phone = self.pbx.default_phone.updated(behaviour)
            return self.pbx.default_phone
        if name not in self.pbx.endpoint_contexts:
            raise KeyError(f"no endpoint {name!r} in pjsip.conf")
        self.pbx.phones[name] = self.pbx.phone(name).updated(behaviour)
        return self.pbx.phones[name]

    def set_number(self, number: str, **behaviour: Any) -> PhoneBehaviour:
        """How the PSTN number `number` behaves when dialled through the trunk."""
        current = self.pbx.trunk.overrides.get(number, PhoneBehaviour())
        self.pbx.trunk.overrides[number] = current.updated(behaviour)
        return self.pbx.trunk.overrides[number]

    def set_trunk(self, **rates: Any) -> None:
        for key, value in rates.items():
            if key not in ("answer_rate", "busy_rate", "machine_rate", "answer_after_s", "talk_s"):
                raise KeyError(f"trunk has no setting {key!r}")
            setattr(self.pbx.trunk, key, tuple(value) if isinstance(value, list) else value)

    def start_traffic(self, *, duration_s: float, seed: int = 0, hangup_after_s: float | None = None,
                      **profile: Any) -> int:
        """Start Poisson traffic (emulator.traffic) in the background; returns how many calls."""
        try:
            shape = TrafficProfile(**profile)
        except (TypeError, ValueError) as exc:
            raise ScriptError(f"traffic: {exc}") from None
        calls = arrivals(shape, random.Random(seed), duration_s)
        if hangup_after_s is not None:
            calls = [(t, dataclasses.replace(c, hangup_after_s=hangup_after_s)) for t, c in calls]
        self.pbx.spawn(run_traffic(self.pbx, calls), "traffic")
        return len(calls)

    def channel(self, name_or_uniqueid: str) -> LiveChannel | None:
        return self.pbx.channel(name_or_uniqueid) or self.pbx.by_uniqueid(name_or_uniqueid)

    async def far_end_hangup(self, name_or_uniqueid: str) -> bool:
        ch = self.channel(name_or_uniqueid)
        if ch is None:
            return False
        await self.pbx.remote_hangup(ch)
        return True

    async def press(self, name_or_uniqueid: str, digits: str) -> bool:
        ch = self.channel(name_or_uniqueid)
        if ch is None:
            return False
        for digit in digits:
            await self.pbx.send_dtmf(ch, digit)
        return True

    def answer(self, name_or_uniqueid: str) -> bool:
        """The ringing phone on that channel is answered now (e.g. from the demo's agent desktop);
        give the phone `answer=False` so it does not answer by itself first."""
        ch = self.channel(name_or_uniqueid)
        if ch is None or ch.state != RINGING:
            return False
        ch.answer_now.set()
        return True

    def hold(self, name_or_uniqueid: str, on: bool = True) -> bool:
        """The far end of that channel (an agent's phone) puts the call on hold, or resumes it."""
        ch = self.channel(name_or_uniqueid)
        if ch is None:
            return False
        self.pbx.far_end_hold(ch, on)
        return True

    def channels(self) -> list[dict[str, Any]]:
        return [
            {"channel": ch.name, "uniqueid": ch.uniqueid, "linkedid": ch.linkedid, "state": ch.state,
             "context": ch.context, "exten": ch.exten, "priority": ch.priority, "application": ch.application,
             "bridged": ch.bridge is not None}
            for ch in self.pbx.channels.values()
        ]

    async def wait_idle(self) -> None:
        """Wait until no channel is left (bound it with asyncio.timeout)."""
        await self.pbx.idle.wait()
