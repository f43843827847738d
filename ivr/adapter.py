"""The FastAGI adapter: runs the pure interpreter on a live call.

For each AGI session (route "ivr"): pick the flow by DNIS, start a session, then loop: execute the
batch of commands in order over AGI, turn the result of the batch's waiting command into the next
event, `step()`. The adapter decides nothing about the flow; it only translates.

| command | AGI |
|---|---|
| Play | STREAM FILE per prompt, SAY NUMBER / SAY DIGITS (no escape digits) |
| GetDigits | STREAM FILE per prompt (any key interrupts), then WAIT FOR DIGIT per key (each waits `timeout_s`) |
| Listen | the prompts as above, then RECORD FILE <dir>/ivr-<uniqueid>-<n> wav <keys> <max ms> 0 BEEP s=2 (silence ends it), then the recognizer on the WAV |
| Lookup | CustomerDirectory.lookup (no AGI) |
| SetVariable / Exec / Hangup | SET VARIABLE / EXEC / HANGUP |
| IvrEntered / IvrInput / IvrExited | published (`publish`) |
| GetDigits / Listen of a `mask: true` node | also RecordingPauseRequested before, RecordingResumeRequested after (`by="ivr:<node>"`) |
| Exit | the route handler for outcome "route", then the AGI session ends |

NOTE(ivr): RECORD FILE is written by Asterisk and read here, so `utterance_dir` must be the same
path on both hosts (the same machine, or a shared mount); see docs/ivr.md.

The caller can hang up at any moment: `AgiHangup` from any command becomes `CallerHungUp`, whose
commands (IvrExited) are published, and the session ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from callcenter.events import (
    CallId,
    ChannelId,
    Hangup,
    IvrEntered,
    IvrExited,
    IvrInput,
    RecordingPauseRequested,
    RecordingResumeRequested,
    SetVariable,
)
from callcenter.settings import SpeechSettings
from ivr.directory import CustomerDirectory
from ivr.interpreter import (
    CallerHungUp,
    Command,
    DigitsEntered,
    Event,
    Exec,
    Exit,
    GetDigits,
    Listen,
    Lookup,
    LookupAnswered,
    NoInput,
    Play,
    PromptPlayed,
    PromptRef,
    SayValue,
    Session,
    SpeechHeard,
    start,
    step,
)
from ivr.prompts import stream_name
from ivr.registry import FlowRegistry
from ivr.speech import RecognitionPool
from pbx.agi import AgiReply
from pbx.fastagi import AgiHangup, AgiSession

logger = logging.getLogger(__name__)

ALL_KEYS = "0123456789*#"
SILENCE_S = 2  # RECORD FILE s=: seconds of silence that end an answer


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrRoute:
    """What a route node hands over: the routing-rule inputs and who is calling."""

    call_id: CallId
    channel_id: ChannelId
    ani: str
    dnis: str
    flow: str
    path: tuple[str, ...]
    inputs: Mapping[str, str]


# Turns the IVR's routing inputs into channel variables to set before the call leaves the IVR
# (the composition root plugs routing_rules/ in here).
RouteHandler = Callable[[IvrRoute], Awaitable[Mapping[str, str]]]
Publish = Callable[
    [IvrEntered | IvrInput | IvrExited | RecordingPauseRequested | RecordingResumeRequested], Awaitable[None]
]


class IvrAgiHandler:
    """The FastAGI handler for the IVR (register it as route "ivr")."""

    def __init__(
        self,
        registry: FlowRegistry,
        *,
        prompts_dir: Path,
        utterance_dir: Path,
        directory: CustomerDirectory,
        publish: Publish,
        speech: RecognitionPool | None = None,
        route: RouteHandler | None = None,
        confidence_thresholds: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._registry = registry
        self._prompts_dir = prompts_dir
        self._utterance_dir = utterance_dir
        self._directory = directory
        self._publish = publish
        self._speech = speech
        self._route = route
        # engine -> the confidence its answers need (settings: speech.<engine>_confidence_threshold)
        self._thresholds = dict(confidence_thresholds or SpeechSettings().confidence_thresholds())
        self._clock = clock
        self._speech_languages = frozenset(speech.recognizer.languages) if speech else frozenset()

    async def __call__(self, agi: AgiSession) -> None:
        env = agi.env
        dnis = env.dnis or env.extension
        flow = self._registry.for_dnis(dnis)
        if flow is None:
            logger.warning("call %s: no IVR flow for DNIS %r; leaving the IVR", env.uniqueid, dnis)
            await agi.send("SET VARIABLE", "CC_IVR_RESULT", "no-flow")
            return
        linkedid = await agi.send("GET VARIABLE", "CHANNEL(linkedid)")
        call_id = CallId((linkedid.data if linkedid.result == "1" and linkedid.data else "") or env.uniqueid)
        session, commands = start(
            flow,
            call_id=call_id,
            channel_id=ChannelId(env.uniqueid),
            ani=env.callerid,
            dnis=dnis,
            at=self._clock(),
            speech_languages=self._speech_languages,
        )
        logger.info("call %s: IVR flow %s version %s for DNIS %s", call_id, flow.name, flow.version, dnis)
        turn = 0
        while True:
            turn += 1
            try:
                event = await self._execute(agi, session, commands, turn)
            except AgiHangup:
                if session.ended:
                    return
                session, commands = step(session, CallerHungUp(at=self._clock()))
                await self._publish_only(commands)
                return
            if event is None:
                return
            session, commands = step(session, event)

    async def _publish_only(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, IvrEntered | IvrInput | IvrExited):
                await self._publish(command)

    async def _execute(self, agi: AgiSession, session: Session, commands: list[Command], turn: int) -> Event | None:
        """Run one batch; the waiting command's result, or None when the batch ended the IVR."""
        call = session.call_id
        for command in commands:
            if isinstance(command, IvrEntered | IvrInput | IvrExited):
                await self._publish(command)
            elif isinstance(command, SetVariable):
                logger.info("call %s: SET VARIABLE %s", call, command.name)
                await agi.send("SET VARIABLE", command.name, command.value)
            elif isinstance(command, Exec):
                logger.info("call %s: EXEC %s %s", call, command.app, command.args)
                await agi.send("EXEC", command.app, command.args)
            elif isinstance(command, Hangup):
                logger.info("call %s: HANGUP", call)
                await agi.send("HANGUP")
            elif isinstance(command, Exit):
                await self._exit(agi, session, command)
                return None
            elif isinstance(command, Play):
                # Announcements play to the end: keys pressed now would be lost anyway.
                await self._play(agi, command.prompts, "")
                if command.say:
                    await self._say(agi, command.say, "")
                return PromptPlayed(at=self._clock())
            elif isinstance(command, GetDigits | Listen):
                return await self._input(agi, session, command, turn)
            elif isinstance(command, Lookup):
                return await self._lookup(session, command)
        # Precondition (interpreter Rule 1): every batch ends with a waiting command or Exit.
        raise AssertionError(f"call {call}: command batch ended without a waiting command or Exit")

    async def _exit(self, agi: AgiSession, session: Session, command: Exit) -> None:
        logger.info("call %s: IVR done, outcome %s", session.call_id, command.outcome)
        if command.outcome != "route" or self._route is None:
            return
        request = IvrRoute(
            call_id=session.call_id,
            channel_id=session.channel_id,
            ani=session.variables.get("ani", ""),
            dnis=session.variables.get("dnis", ""),
            flow=session.flow.name,
            path=session.path,
            inputs=command.routing,
        )
        for name, value in (await self._route(request)).items():
            await agi.send("SET VARIABLE", name, value)

    # -- prompts and keys ------------------------------------------------------------------

    def _files(self, prompts: tuple[PromptRef, ...]) -> list[str]:
        return [stream_name(self._prompts_dir, p.flow, p.name, p.language, p.source) for p in prompts]

    async def _stream(self, agi: AgiSession, file: str, keys: str) -> str:
        reply = await agi.send("STREAM FILE", file, keys)
        if reply.result == "-1":
            logger.warning("channel %s: cannot play %s", agi.env.uniqueid, file)
        return _digit(reply)

    async def _play(self, agi: AgiSession, prompts: tuple[PromptRef, ...], keys: str) -> str:
        for file in self._files(prompts):
            digit = await self._stream(agi, file, keys)
            if digit:
                return digit
        return ""

    async def _say(self, agi: AgiSession, say: SayValue, keys: str) -> str:
        if say.kind == "digits":
            return _digit(await agi.send("SAY DIGITS", "".join(c for c in say.value if c.isdigit()), keys))
        if say.kind == "money":
            try:
                amount = Decimal(say.value)
            except InvalidOperation:
                logger.warning("cannot say %r as money", say.value)
                return ""
            units, cents = divmod(abs(int(amount * 100)), 100)
            digit = _digit(await agi.send("SAY NUMBER", str(-units if amount < 0 else units), keys))
            if not digit and cents:
                digit = await self._stream(agi, "letters/dot", keys) or _digit(await agi.send("SAY DIGITS", f"{cents:02d}", keys))
            return digit
        return _digit(await agi.send("SAY NUMBER", say.value, keys))

    async def _more_digits(self, agi: AgiSession, first: str, max_digits: int, timeout_s: float, terminator: str) -> str:
        digits = first
        while len(digits) < max_digits and not (terminator and digits.endswith(terminator)):
            digit = _digit(await agi.send("WAIT FOR DIGIT", str(int(timeout_s * 1000))))
            if not digit:
                break
            digits += digit
        return digits

    async def _input(self, agi: AgiSession, session: Session, command: GetDigits | Listen, turn: int) -> Event:
        async def read() -> Event:
            if isinstance(command, GetDigits):
                return await self._get_digits(agi, command)
            return await self._listen(agi, session, command, turn)

        if not command.masked:
            return await read()
        # PCI: what the caller keys or says at a masked node (card number, PIN) must not reach the
        # call's recording. The recorder's controller decides: it mutes an active recording, and
        # remembers the pause for a recording that starts during it.
        by = f"ivr:{session.node}"
        await self._publish(RecordingPauseRequested(call_id=session.call_id, by=by, reason="pci", at=self._clock()))
        try:
            return await read()
        finally:
            await self._publish(RecordingResumeRequested(call_id=session.call_id, by=by, at=self._clock()))

    async def _get_digits(self, agi: AgiSession, command: GetDigits) -> Event:
        # NOTE(ivr): STREAM FILE + WAIT FOR DIGIT rather than GET DATA: GET DATA's reply to a
        # caller who pressed nothing is "200 result= (timeout)", which pbx.agi rejects today.
        digit = await self._play(agi, command.prompts, ALL_KEYS)
        if not digit and command.say:
            digit = await self._say(agi, command.say, ALL_KEYS)
        if not digit:
            digit = _digit(await agi.send("WAIT FOR DIGIT", str(int(command.timeout_s * 1000))))
        digits = await self._more_digits(agi, digit, command.max_digits, command.timeout_s, command.terminator) if digit else ""
        if command.terminator:
            digits = digits.removesuffix(command.terminator)
        logger.info("channel %s: keys %s", agi.env.uniqueid, "*" * len(digits) if command.masked else digits or "(none)")
        return DigitsEntered(digits=digits, at=self._clock()) if digits else NoInput(at=self._clock())

    # -- speech ----------------------------------------------------------------------------

    async def _listen(self, agi: AgiSession, session: Session, command: Listen, turn: int) -> Event:
        keys = command.dtmf_keys
        digit = await self._play(agi, command.prompts, keys)
        if not digit and command.say:
            digit = await self._say(agi, command.say, keys)
        if digit:
            digits = await self._more_digits(agi, digit, command.max_digits, command.timeout_s, "#")
            return DigitsEntered(digits=digits.removesuffix("#"), at=self._clock())
        base = self._utterance_dir / f"ivr-{agi.env.uniqueid}-{turn}"
        reply = await agi.send(
            "RECORD FILE", str(base), "wav", keys or "#", str(int(command.max_s * 1000)), "0", "BEEP", f"s={SILENCE_S}"
        )
        digit = _digit(reply) if reply.data == "dtmf" else ""
        if digit and digit != "#":
            digits = await self._more_digits(agi, digit, command.max_digits, command.timeout_s, "#")
            return DigitsEntered(digits=digits.removesuffix("#"), at=self._clock())
        wav = base.parent / f"{base.name}.wav"  # not with_suffix: uniqueids contain a dot
        if self._speech is None or not wav.is_file():
            if self._speech is not None:
                logger.warning("call %s: no recording at %s (is the directory shared with Asterisk?)", session.call_id, wav)
            return NoInput(at=self._clock())
        try:
            result = await self._speech.recognize(
                wav, grammar=command.grammar, sequence=command.sequence, language=command.language
            )
        except (OSError, ValueError, RuntimeError) as exc:
            # A bad recording (truncated, wrong format) is treated like silence: asked again.
            logger.warning("call %s: cannot recognize %s: %s", session.call_id, wav, exc)
            return NoInput(at=self._clock())
        finally:
            wav.unlink(missing_ok=True)  # callers' voices are not kept past recognition
        logger.info(
            "call %s: heard %r (engine said %r), confidence %.2f, rtf %.2f",
            session.call_id,
            "*" * len(result.text) if command.masked else result.text,
            "***" if command.masked else result.raw_text,
            result.confidence,
            result.rtf,
        )
        threshold = self._thresholds[result.engine]
        if not result.text:
            if not result.raw_text:
                return NoInput(at=self._clock())
            return SpeechHeard(text=result.raw_text, confidence=0.0, threshold=threshold, at=self._clock())
        return SpeechHeard(text=result.text, confidence=result.confidence, threshold=threshold, at=self._clock())

    async def _lookup(self, session: Session, command: Lookup) -> Event:
        try:
            values = await self._directory.lookup(command.query, command.key)
        except Exception:
            # A directory outage must not strand the caller: the flow's not-found path runs.
            logger.exception("call %s: directory lookup %s failed; treating as not found", session.call_id, command.query)
            values = None
        logger.info("call %s: lookup %s -> %s", session.call_id, command.query, "found" if values else "not found")
        return LookupAnswered(values=values, at=self._clock())


def _digit(reply: AgiReply) -> str:
    """The key in a STREAM FILE / WAIT FOR DIGIT / SAY reply (result is its ASCII code), or ""."""
    try:
        code = int(reply.result or "0")
    except ValueError:
        return ""
    return chr(code) if code > 0 and chr(code) in ALL_KEYS else ""

