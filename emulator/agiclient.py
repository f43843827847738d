"""The AGI() application over FastAGI: connect to the control plane and obey its commands.

Like res_agi: connect to `agi://host[:port]/script?args`, send the environment block
(pbx.agi builds it in Asterisk's order), then read one command line at a time and answer each with
one reply line. When the channel hangs up, send `HANGUP` and close. The result is AGISTATUS:
SUCCESS (the server closed the session), FAILURE (no connection), HANGUP (the channel hung up).

The commands are the ones an IVR uses; any other gets `510 Invalid or unknown command`, and a
command missing its arguments gets the 520 usage error.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from emulator import audio
from emulator.dialplan import DialplanError, substitute
from emulator.pbx import ChannelHungUp, LiveChannel, Pbx, Variables
from pbx.agi import AgiEnvironment, AgiReply, encode_environment, encode_reply, parse_command_line

logger = logging.getLogger(__name__)

FASTAGI_PORT = 4573
CONNECT_TIMEOUT_S = 5.0
DEFAULT_DIGIT_TIMEOUT_S = 5.0

UNKNOWN = AgiReply(510, text="Invalid or unknown command")
DEAD = AgiReply(511, text="Command Not Permitted on a dead channel or intercept routine")
USAGE = AgiReply(520, text="Invalid command syntax.  Proper usage not available.")


def ok(result: str | int, data: str | None = None, **extras: str | int) -> AgiReply:
    return AgiReply(200, str(result), data, {k: str(v) for k, v in extras.items()})


async def run_agi(pbx: Pbx, ch: LiveChannel, url: str, args: list[str]) -> str:
    parts = urlsplit(url)
    if parts.scheme != "agi" or not parts.hostname:
        raise DialplanError(f"AGI({url}): only agi://host[:port]/script is emulated")
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or FASTAGI_PORT), CONNECT_TIMEOUT_S
        )
    except (OSError, TimeoutError) as exc:
        logger.warning("%s: FastAGI server %s unreachable: %s", ch.name, url, exc)
        return "FAILURE"
    env = AgiEnvironment.for_request(
        url, channel=ch.name, uniqueid=ch.uniqueid, language=ch.language, channel_type=ch.tech,
        version="20.20.1", callerid=ch.caller_num, calleridname=ch.caller_name, dnid=ch.dnid,
        context=ch.context, extension=ch.exten, priority=ch.priority, accountcode=ch.accountcode,
        args=args,
    )
    session = AgiCommands(pbx, ch)
    try:
        writer.write(encode_environment(env))
        while True:
            line = await reader.readline()
            if not line:
                return "HANGUP" if ch.hungup else "SUCCESS"
            words = parse_command_line(line)
            reply = DEAD if ch.hungup else await session.execute(words)
            writer.write(reply if isinstance(reply, bytes) else encode_reply(reply))
            await writer.drain()
            if session.hangup_requested:
                writer.write(b"HANGUP\n")
                await pbx.hangup(ch)
                return "HANGUP"
    except asyncio.CancelledError:
        # The channel was hung up or redirected while the script ran: Asterisk says HANGUP.
        writer.write(b"HANGUP\n")
        raise
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        logger.warning("%s: FastAGI session to %s broke: %s", ch.name, url, exc)
        return "FAILURE"
    finally:
        writer.close()


class AgiCommands:
    """Runs AGI commands on one channel."""

    def __init__(self, pbx: Pbx, ch: LiveChannel) -> None:
        self.pbx = pbx
        self.ch = ch
        self.hangup_requested = False

    async def execute(self, words: list[str]) -> AgiReply | bytes:
        upper = [w.upper() for w in words]
        for size in (3, 2, 1):
            handler = COMMANDS.get(" ".join(upper[:size]))
            if handler is not None:
                try:
                    return await handler(self, words[size:])
                except IndexError:
                    return USAGE
        return UNKNOWN

    async def answer(self, args: list[str]) -> AgiReply:
        self.pbx.answer(self.ch)
        return ok(0)

    async def hangup(self, args: list[str]) -> AgiReply:
        self.hangup_requested = True
        return ok(1)

    async def noop(self, args: list[str]) -> AgiReply:
        return ok(0)

    async def verbose(self, args: list[str]) -> AgiReply:
        logger.debug("%s: AGI VERBOSE %s", self.ch.name, args[0])
        return ok(1)

    async def channel_status(self, args: list[str]) -> AgiReply:
        return ok(self.ch.state)

    async def stream_file(self, args: list[str]) -> AgiReply:
        file, escape = args[0], args[1]
        if escape:
            self.pbx.ask_input(self.ch)
        if self.pbx.sound_duration(file) is None:
            return ok(-1, endpos=0)
        started = self.pbx.clock.now()
        _, digit = await self.pbx.play(self.ch, file, escape or None)
        played = self.pbx.clock.now() - started
        return ok(ord(digit) if digit else 0, endpos=round(played * audio.RATE))

    async def get_data(self, args: list[str]) -> AgiReply | bytes:
        file = args[0]
        timeout = int(args[1]) / 1000 if len(args) > 1 and int(args[1]) > 0 else DEFAULT_DIGIT_TIMEOUT_S
        max_digits = int(args[2]) if len(args) > 2 else 1024
        self.pbx.ask_input(self.ch)
        _, first = await self.pbx.play(self.ch, file, "0123456789*#")
        digits = ""
        pending = first
        while len(digits) < max_digits:
            digit = pending if pending is not None else await self.pbx.wait_digit(self.ch, timeout)
            pending = None
            if digit is None:
                # pbx.agi cannot encode an empty result; Asterisk writes exactly this line.
                return ok(digits, "timeout") if digits else b"200 result= (timeout)\n"
            if digit == "#":
                break
            digits += digit
        return ok(digits) if digits else b"200 result=\n"

    async def wait_for_digit(self, args: list[str]) -> AgiReply:
        timeout_ms = int(args[0])
        self.pbx.ask_input(self.ch)
        digit = await self.pbx.wait_digit(self.ch, None if timeout_ms < 0 else timeout_ms / 1000)
        return ok(ord(digit) if digit else 0)

    async def record_file(self, args: list[str]) -> AgiReply:
        file, fmt, escape, timeout_ms = args[0], args[1], args[2], int(args[3])
        silence_s = 0.0
        for extra in args[4:]:
            if extra.lower().startswith("s="):
                silence_s = float(extra[2:])
        if fmt.lower() != "wav":
            return ok(-1, "writefile", endpos=0)
        if escape:
            self.pbx.ask_input(self.ch)
        max_s = timeout_ms / 1000 if timeout_ms > 0 else 3600.0
        samples = self.pbx.next_utterance(self.ch, max_s=max_s)
        samples = audio.concat(samples, audio.silence(min(silence_s, max_s - len(samples) / audio.RATE)))
        audio.write_wav(self.pbx.record_path(file, fmt), samples)
        await self.pbx.clock.sleep(len(samples) / audio.RATE)
        return ok(0, "timeout", endpos=len(samples))

    async def set_variable(self, args: list[str]) -> AgiReply:
        self.pbx.set_var(self.ch, args[0], args[1])
        return ok(1)

    async def get_variable(self, args: list[str]) -> AgiReply:
        value = Variables(self.pbx, self.ch).variable(args[0]) if "(" not in args[0] else self._full("${" + args[0] + "}")
        return ok(1, value) if value else ok(0)

    async def get_full_variable(self, args: list[str]) -> AgiReply:
        value = self._full(args[0])
        return ok(1, value) if value else ok(0)

    def _full(self, expression: str) -> str:
        try:
            return substitute(expression, Variables(self.pbx, self.ch))
        except DialplanError:
            return ""

    async def exec_(self, args: list[str]) -> AgiReply:
        app = self.pbx.application(args[0])
        if app is None:
            return ok(-2)
        data = " ".join(args[1:])
        try:
            await app(self.pbx, self.ch, data)
        except ChannelHungUp:
            return ok(-1)
        return ok(0)

    async def say_digits(self, args: list[str]) -> AgiReply:
        files = "&".join(f"digits/{d}" for d in args[0] if d.isdigit())
        _, digit = await self.pbx.play(self.ch, files, args[1] or None)
        return ok(ord(digit) if digit else 0)

    async def say_number(self, args: list[str]) -> AgiReply:
        return await self.say_digits(args)

    async def set_context(self, args: list[str]) -> AgiReply:
        self.ch.context = args[0]
        return ok(0)

    async def set_extension(self, args: list[str]) -> AgiReply:
        self.ch.exten = args[0]
        return ok(0)

    async def set_priority(self, args: list[str]) -> AgiReply:
        self.ch.priority = self.pbx.dialplan.resolve_priority(self.ch.context, self.ch.exten, args[0])
        return ok(0)

    async def set_music(self, args: list[str]) -> AgiReply:
        if args[0].lower() == "on":
            self.pbx.start_moh(self.ch, args[1] if len(args) > 1 else "default")
        else:
            self.pbx.stop_moh(self.ch)
        return ok(0)


COMMANDS = {
    "ANSWER": AgiCommands.answer,
    "HANGUP": AgiCommands.hangup,
    "NOOP": AgiCommands.noop,
    "VERBOSE": AgiCommands.verbose,
    "CHANNEL STATUS": AgiCommands.channel_status,
    "STREAM FILE": AgiCommands.stream_file,
    "GET DATA": AgiCommands.get_data,
    "WAIT FOR DIGIT": AgiCommands.wait_for_digit,
    "RECORD FILE": AgiCommands.record_file,
    "SET VARIABLE": AgiCommands.set_variable,
    "GET VARIABLE": AgiCommands.get_variable,
    "GET FULL VARIABLE": AgiCommands.get_full_variable,
    "EXEC": AgiCommands.exec_,
    "SAY DIGITS": AgiCommands.say_digits,
    "SAY NUMBER": AgiCommands.say_number,
    "SET CONTEXT": AgiCommands.set_context,
    "SET EXTENSION": AgiCommands.set_extension,
    "SET PRIORITY": AgiCommands.set_priority,
    "SET MUSIC": AgiCommands.set_music,
}
