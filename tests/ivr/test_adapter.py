"""The FastAGI adapter over a real socket: pbx.fastagi's server in front, a scripted fake Asterisk
channel behind (it sends the AGI environment, answers each command, writes the caller's recorded
answer where RECORD FILE says, and can hang up at any command)."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callcenter.events import IvrEntered, IvrExited, IvrInput
from ivr.adapter import IvrAgiHandler, IvrRoute
from ivr.directory import InMemoryDirectory
from ivr.registry import FlowRegistry
from ivr.speech import RecognitionPool, VoskRecognizer, WhisperRecognizer
from pbx.agi import AgiEnvironment, encode_environment, parse_command_line
from pbx.fastagi import FastAgiServer

CUSTOMERS = InMemoryDirectory(
    {
        "customer": {
            "13800000001": {"customer_id": "7", "tier": "star3", "language": "en", "account": "30586001"},
            "13800000009": {"customer_id": "9", "tier": "vip", "language": "zh", "account": "47192001"},
        },
        "balance": {"30586001": {"balance": "58.20"}},
    }
)


@dataclass
class FakeChannel:
    """One caller, scripted: `keys` answers WAIT FOR DIGIT in order, one key at a time (None: a
    timeout);
    `speech` answers RECORD FILE in order: a WAV is copied where the command says (the caller
    spoke), a string is a key pressed while recording; `hang_up_at` is the command (1-based) that
    gets HANGUP instead of a reply."""

    ani: str
    keys: list[str | None] = field(default_factory=list)
    speech: list[Path | str] = field(default_factory=list)
    hang_up_at: int | None = None
    seen: list[list[str]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)

    def reply(self, words: list[str]) -> bytes:
        name = command_name(words)
        if name == "WAIT FOR DIGIT":
            keys = self.keys.pop(0)
            if not keys:
                return b"200 result=0\n"  # timeout
            if keys[1:]:
                self.keys.insert(0, keys[1:])
            return f"200 result={ord(keys[0])}\n".encode()
        if name == "RECORD FILE":
            answer = self.speech.pop(0)
            if isinstance(answer, str):
                return f"200 result={ord(answer)} (dtmf) endpos=4000\n".encode()
            shutil.copy(answer, words[2] + ".wav")
            return b"200 result=0 (timeout) endpos=16000\n"
        if name == "SET VARIABLE":
            self.variables[words[2]] = words[3]
            return b"200 result=1\n"
        if name == "GET VARIABLE":
            return b"200 result=1 (linked-1)\n"
        if name == "STREAM FILE":
            return b"200 result=0 endpos=8000\n"
        return b"200 result=0\n"

    async def call(self, port: int, dnis: str = "10086") -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        env = AgiEnvironment.for_request(
            f"agi://127.0.0.1:{port}/ivr", channel="PJSIP/trunk-00000001", uniqueid="1700000000.1", callerid=self.ani, dnid=dnis, extension=dnis
        )
        writer.write(encode_environment(env))
        try:
            async with asyncio.timeout(30):
                while line := await reader.readline():
                    words = parse_command_line(line)
                    self.seen.append(words)
                    if len(self.seen) == self.hang_up_at:
                        writer.write(b"HANGUP\n")
                        await writer.drain()
                        break
                    writer.write(self.reply(words))
                    await writer.drain()
                    if words[0].upper() == "HANGUP":
                        break
        finally:
            writer.close()

    def commands(self) -> list[str]:
        return [command_name(w) for w in self.seen]


def command_name(words: list[str]) -> str:
    size = 3 if words[0].upper() == "WAIT" else 2 if words[0].upper() in ("STREAM", "GET", "RECORD", "SET", "SAY") else 1
    return " ".join(words[:size]).upper()


@dataclass
class Harness:
    published: list[object] = field(default_factory=list)
    routes: list[IvrRoute] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


async def run_call(
    repo_dir: Path,
    tmp_path: Path,
    channel: FakeChannel,
    *,
    speech: RecognitionPool | None = None,
    thresholds: dict[str, float] | None = None,  # None: the settings' defaults
    flows: Path | None = None,
    dnis: str = "10086",
) -> Harness:
    harness = Harness()
    registry = FlowRegistry([flows or repo_dir / "flows"])
    assert registry.reload() == []

    async def publish(event: IvrEntered | IvrInput | IvrExited) -> None:
        harness.published.append(event)
        if isinstance(event, IvrExited):
            harness.done.set()

    async def route(request: IvrRoute) -> dict[str, str]:
        harness.routes.append(request)
        return {"CC_PRIORITY": "40"}

    handler = IvrAgiHandler(
        registry,
        prompts_dir=tmp_path / "prompts",
        utterance_dir=tmp_path,
        directory=CUSTOMERS,
        publish=publish,
        speech=speech,
        route=route,
        confidence_thresholds=thresholds,
        # 2026-11-23 10:00 in Shanghai, a Monday: the agents are in.
        clock=lambda: 1_795_399_200.0,
    )
    server = FastAgiServer({"ivr": handler}, host="127.0.0.1", port=0, command_timeout_s=10)
    await server.start()
    try:
        await channel.call(server.port, dnis)
        # The handler finishes after the caller side closes; give it a bounded moment.
        async with asyncio.timeout(5):
            await harness.done.wait()
    finally:
        await server.stop()
    return harness


def exited(h: Harness) -> IvrExited:
    (event,) = [e for e in h.published if isinstance(e, IvrExited)]
    return event


async def test_known_caller_checks_the_balance_by_keys(repo_dir: Path, tmp_path: Path) -> None:
    channel = FakeChannel(ani="13800000001", keys=["1", "1", "2"])
    h = await run_call(repo_dir, tmp_path, channel)
    assert channel.commands() == [
        "GET VARIABLE",
        "STREAM FILE",  # welcome
        "STREAM FILE",  # main menu
        "WAIT FOR DIGIT",  # 1 billing
        "STREAM FILE",  # billing menu
        "WAIT FOR DIGIT",  # 1 balance
        "STREAM FILE",  # "your balance is"
        "SAY NUMBER",  # 58
        "STREAM FILE",  # point
        "SAY DIGITS",  # 20
        "STREAM FILE",  # yuan
        "STREAM FILE",  # anything else?
        "WAIT FOR DIGIT",  # 2 no
        "STREAM FILE",  # goodbye
        "SET VARIABLE",
        "HANGUP",
    ]
    assert channel.seen[1] == ["STREAM", "FILE", str(tmp_path / "prompts/hotline/zh/welcome"), ""]  # before the lookup: the default language
    assert channel.seen[7][:3] == ["SAY", "NUMBER", "58"] and channel.seen[9][:3] == ["SAY", "DIGITS", "20"]
    assert channel.seen[13] == ["STREAM", "FILE", "vm-goodbye", ""]  # an Asterisk sound for English
    assert channel.variables == {"CC_IVR_RESULT": "hangup"}
    entered = h.published[0]
    assert isinstance(entered, IvrEntered) and entered.call_id == "linked-1" and entered.channel_id == "1700000000.1"
    assert exited(h).outcome == "hangup"
    assert exited(h).path == (
        "welcome", "identify_caller", "vip_check", "main_menu", "billing_menu", "known_account",
        "balance_lookup", "say_balance", "say_yuan", "anything_else", "goodbye",
    )  # fmt: skip
    assert [(e.node, e.kind, e.value) for e in h.published if isinstance(e, IvrInput)] == [
        ("main_menu", "dtmf", "1"),
        ("billing_menu", "dtmf", "1"),
        ("anything_else", "dtmf", "no"),
    ]


async def test_vip_goes_straight_to_routing_with_priority(repo_dir: Path, tmp_path: Path) -> None:
    channel = FakeChannel(ani="13800000009")
    h = await run_call(repo_dir, tmp_path, channel)
    (request,) = h.routes
    assert request.inputs == {
        "service": "vip", "ivr_choice": "vip-fast-lane", "language": "zh", "tier": "vip", "customer_id": "9", "queue": "vip",
    }  # fmt: skip
    assert (request.call_id, request.ani, request.dnis) == ("linked-1", "13800000009", "10086")
    assert channel.variables == {"CC_IVR_LANGUAGE": "zh", "CC_IVR_QUEUE": "vip", "CC_IVR_RESULT": "route", "CC_PRIORITY": "40"}
    assert channel.commands()[-1] == "SET VARIABLE"  # no HANGUP: the dialplan takes the call to the agents


async def test_silent_caller_ends_where_the_flow_says(repo_dir: Path, tmp_path: Path) -> None:
    # Unknown caller: language menu (1 retry), then main menu (2 retries), then on_failure -> agent.
    channel = FakeChannel(ani="13900000000", keys=[None] * 5)
    h = await run_call(repo_dir, tmp_path, channel)
    assert exited(h).outcome == "route"
    assert exited(h).path[-3:] == ("main_menu", "to_agent", "agent_route")
    assert [e.kind for e in h.published if isinstance(e, IvrInput)] == ["timeout"] * 5
    assert h.routes[0].inputs["service"] == "general"
    assert channel.keys == []


async def test_caller_hangs_up_mid_menu(repo_dir: Path, tmp_path: Path) -> None:
    channel = FakeChannel(ani="13800000001", keys=["1"], hang_up_at=5)  # hangs up during the billing menu prompt
    h = await run_call(repo_dir, tmp_path, channel)
    assert exited(h).outcome == "caller-hung-up"
    assert exited(h).path[-1] == "billing_menu"
    assert channel.variables == {}
    assert h.routes == []


@pytest.mark.speech
async def test_caller_speaks_menu_choices_keys_in_an_account_and_says_yes_and_no(
    repo_dir: Path, tmp_path: Path, shared_dir: Path, whisper: WhisperRecognizer
) -> None:
    clips = shared_dir / "audio/espeak-ng-ivr"
    channel = FakeChannel(
        ani="13900000000",  # unknown: language menu, and the account number is asked for
        keys=["2", "0", "5", "8", "6", "0", "0", "1", "123456"],
        speech=[
            clips / "billing__en-us.wav",
            clips / "check_my_balance__en-us.wav",
            "3",  # the account number by keys, pressed while the recording runs
            clips / "yes__en-us.wav",
            clips / "no__en-us.wav",
        ],
    )
    # The default thresholds: Whisper's own (0.4) accepts its clear "yes" (0.47-0.62 by CPU) and "no".
    h = await run_call(repo_dir, tmp_path, channel, speech=RecognitionPool(whisper))
    inputs = [(e.node, e.kind, e.value) for e in h.published if isinstance(e, IvrInput)]
    assert inputs == [
        ("choose_language", "dtmf", "2"),  # Chinese has no recognizer here: keys only
        ("main_menu", "speech", "1"),
        ("billing_menu", "speech", "1"),
        ("get_account/ask_account", "dtmf", "30586001"),
        ("get_account/confirm_account", "speech", "yes"),
        ("get_account/ask_pin", "dtmf", "******"),
        ("anything_else", "speech", "no"),
    ]
    record = next(w for w in channel.seen if command_name(w) == "RECORD FILE")
    assert record[2] == str(tmp_path / "ivr-1700000000.1-4")  # uniqueid and turn
    assert record[3:] == ["wav", "01234", "10000", "0", "BEEP", "s=2"]
    left = await asyncio.to_thread(lambda: list(tmp_path.glob("ivr-*.wav")))
    assert left == []  # answers are deleted after recognition
    assert exited(h).outcome == "hangup"
    assert channel.keys == [] and channel.speech == []


KOREAN_FLOW = """\
flow: lights
dnis: ["1588"]
languages: [ko]
start: menu
prompts:
  menu: {ko: 빅스비 또는 코뿔소라고 말씀하세요.}
nodes:
  menu:
    type: menu
    prompt: menu
    options:
      - {key: 1, say: {ko: [빅스비]}, set: {service: assistant}, next: assistant}
      - {key: 2, say: {ko: [코뿔소, 아이스크림]}, set: {service: zoo}, next: zoo}
  assistant: {type: route, inputs: {service: "${service}"}}
  zoo: {type: route, inputs: {service: "${service}"}}
"""


@pytest.mark.speech
async def test_vosk_grammar_answers_a_korean_menu(
    repo_dir: Path, tmp_path: Path, shared_dir: Path, vosk_ko: VoskRecognizer
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "lights.yaml").write_text(KOREAN_FLOW, encoding="utf-8")
    channel = FakeChannel(ani="13900000000", speech=[shared_dir / "audio/korean/porcupine_bixby_ko.wav"])
    h = await run_call(repo_dir, tmp_path, channel, speech=RecognitionPool(vosk_ko), flows=flows, dnis="1588")
    (heard,) = [e for e in h.published if isinstance(e, IvrInput)]
    assert (heard.node, heard.kind, heard.value) == ("menu", "speech", "1")
    assert heard.confidence is not None and heard.confidence > 0.9
    assert h.routes[0].inputs == {"service": "assistant", "language": "ko"}
