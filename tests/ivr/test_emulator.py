"""The hotline flow end to end: the Asterisk emulator runs the production dialplan, which calls the
IVR over FastAGI (pbx.fastagi + ivr.adapter), with the prompts built by `prompts build`.

Callers: one pressing keys, one speaking (the emulator writes the utterance where RECORD FILE
says), one silent, one hanging up mid-menu. Each must end where the flow says, with its path."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callcenter.events import IvrExited, IvrInput
from emulator.app import Emulator
from ivr.adapter import IvrAgiHandler, IvrRoute
from ivr.directory import InMemoryDirectory
from ivr.prompts import build_prompts
from ivr.registry import FlowRegistry
from ivr.speech import RecognitionPool, WhisperRecognizer
from pbx.fastagi import FastAgiServer
from tests.integration.conftest import AmiProbe, ami_probe, ami_user, make_emulator

__all__ = ["ami_probe", "ami_user", "make_emulator"]  # fixtures shared with tests/integration

MONDAY_10AM_SHANGHAI = 1_795_399_200.0
DIRECTORY = InMemoryDirectory(
    {"customer": {"13800000001": {"customer_id": "7", "tier": "star3", "language": "en", "account": "30586001"}},
     "balance": {"30586001": {"balance": "58.20"}}}
)  # fmt: skip


@pytest.fixture(scope="module")
def prompts_dir(repo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed to build the hotline's prompts")
    registry = FlowRegistry([repo_dir / "flows"])
    registry.reload()
    out = tmp_path_factory.mktemp("prompts")
    report = build_prompts(registry.flows.values(), out)
    assert report.errors == []
    return out


@dataclass
class ControlPlane:
    server: FastAgiServer
    events: list[object] = field(default_factory=list)
    routes: list[IvrRoute] = field(default_factory=list)
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    def ivr_exited(self) -> IvrExited:
        (event,) = [e for e in self.events if isinstance(e, IvrExited)]
        return event

    def inputs(self) -> list[tuple[str, str, str]]:
        return [(e.node, e.kind, e.value) for e in self.events if isinstance(e, IvrInput)]


@pytest.fixture
async def control_plane(
    repo_dir: Path, prompts_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Awaitable[ControlPlane]]]:
    servers: list[FastAgiServer] = []

    async def make(speech: RecognitionPool | None = None) -> ControlPlane:
        registry = FlowRegistry([repo_dir / "flows"])
        assert registry.reload() == []
        plane = ControlPlane(server=FastAgiServer({}, port=0))

        async def publish(event: object) -> None:
            plane.events.append(event)
            if isinstance(event, IvrExited):
                plane.exited.set()

        async def route(r: IvrRoute) -> dict[str, str]:
            plane.routes.append(r)
            return {}

        handler = IvrAgiHandler(
            registry,
            prompts_dir=prompts_dir,
            utterance_dir=tmp_path,
            directory=DIRECTORY,
            publish=publish,
            speech=speech,
            route=route,
            clock=lambda: MONDAY_10AM_SHANGHAI,
        )
        plane.server = FastAgiServer({"ivr": handler}, port=0, command_timeout_s=30)
        await plane.server.start()
        servers.append(plane.server)
        return plane

    yield make
    for server in servers:
        await server.stop()


async def test_caller_pressing_keys_hears_the_balance_and_hangs_up(make_emulator, ami_probe, control_plane) -> None:
    plane: ControlPlane = await control_plane()
    emulator: Emulator = await make_emulator(agi_port=plane.server.port, clock_scale=20.0)
    probe: AmiProbe = await ami_probe(emulator)
    call = emulator.place_call(
        {"ani": "13800000001", "dnis": "10086", "digits": [[0.5, "1"], [0.5, "1"], [0.5, "2"]]}
    )
    await probe.wait_event("Hangup", within_s=20, Channel=call.channel)
    assert plane.ivr_exited().outcome == "hangup"
    assert plane.ivr_exited().path[-4:] == ("say_balance", "say_yuan", "anything_else", "goodbye")
    assert plane.inputs() == [("main_menu", "dtmf", "1"), ("billing_menu", "dtmf", "1"), ("anything_else", "dtmf", "no")]
    assert probe.find("VarSet", Channel=call.channel, Variable="CC_IVR_RESULT", Value="hangup")
    assert not probe.find("UserEvent", UserEvent="AcdWaiting")


@pytest.mark.speech
async def test_caller_speaking_is_routed_to_technical_support(
    make_emulator, ami_probe, control_plane, whisper: WhisperRecognizer, shared_dir: Path
) -> None:
    plane: ControlPlane = await control_plane(RecognitionPool(whisper))
    emulator: Emulator = await make_emulator(agi_port=plane.server.port, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    call = emulator.place_call(
        {
            "ani": "13900000000",
            "dnis": "10086",
            "digits": [[0.5, "2"]],  # English
            "utterances": [str(shared_dir / "audio/espeak-ng-ivr/technical_support__en-us.wav")],
        }
    )
    waiting = await probe.wait_event("UserEvent", within_s=30, UserEvent="AcdWaiting", Uniqueid=call.uniqueid)
    assert waiting.get("Channel") == call.channel
    assert plane.inputs() == [("choose_language", "dtmf", "2"), ("main_menu", "speech", "3")]
    assert plane.ivr_exited().path[-3:] == ("main_menu", "to_agent", "agent_route")
    (routed,) = plane.routes
    assert routed.inputs == {"service": "technical", "ivr_choice": "technical", "language": "en"}
    assert probe.find("VarSet", Channel=call.channel, Variable="CC_IVR_RESULT", Value="route")
    assert probe.find("VarSet", Channel=call.channel, Variable="CC_IVR_LANGUAGE", Value="en")


async def test_silent_caller_reaches_an_agent_after_the_retries(make_emulator, ami_probe, control_plane) -> None:
    plane: ControlPlane = await control_plane()
    emulator: Emulator = await make_emulator(agi_port=plane.server.port, clock_scale=20.0)
    probe: AmiProbe = await ami_probe(emulator)
    call = emulator.place_call({"ani": "13900000000", "dnis": "10086"})
    await probe.wait_event("UserEvent", within_s=30, UserEvent="AcdWaiting", Uniqueid=call.uniqueid)
    assert [kind for _, kind, _ in plane.inputs()] == ["timeout"] * 5
    assert plane.ivr_exited().outcome == "route"
    assert plane.routes[0].inputs["service"] == "general"


async def test_caller_hanging_up_mid_menu(make_emulator, ami_probe, control_plane) -> None:
    plane: ControlPlane = await control_plane()
    emulator: Emulator = await make_emulator(agi_port=plane.server.port, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    # Welcome is about 6 s and the language menu about 5 s of speech: 8 s is mid-menu.
    call = emulator.place_call({"ani": "13900000000", "dnis": "10086", "hangup_after_s": 8.0})
    await probe.wait_event("Hangup", within_s=20, Channel=call.channel)
    async with asyncio.timeout(10):
        await plane.exited.wait()
    assert plane.ivr_exited().outcome == "caller-hung-up"
    assert plane.ivr_exited().path == ("welcome", "identify_caller", "choose_language")
    assert plane.routes == []
