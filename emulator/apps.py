"""The dialplan applications the emulator runs, by their Asterisk names.

Each application is `async (pbx, channel, data) -> jumped`: `data` is already substituted, and
`jumped` is True when the application moved the channel (Goto, a matched GotoIf, Gosub, Return,
Background/WaitExten on a digit), so the runner must not step to the next priority. An
application that ends the call raises `ChannelHungUp`. Anything a real Asterisk would reject
(a Goto to nowhere, a bad argument) raises `DialplanError`, which the runner logs with the
file and line of the step, then hangs the channel up.

`APPLICATIONS` is also the list `parse_dialplan` checks names against, so a dialplan that uses an
application missing here does not load at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from emulator import audio
from emulator.agiclient import run_agi
from emulator.channels import RINGING, UP, user_event
from emulator.dialplan import DialplanError, is_true, parse_goto, split_args
from emulator.pbx import ChannelHungUp, LiveChannel, Pbx

logger = logging.getLogger(__name__)

App = Callable[[Pbx, LiveChannel, str], Awaitable[bool]]


def _jump(pbx: Pbx, ch: LiveChannel, target: str) -> bool:
    context, exten, priority = parse_goto(target, ch.context, ch.exten)
    if pbx.dialplan.extension(context, exten) is None:
        raise DialplanError(f"Goto to {context},{exten},{priority}: no such extension")
    ch.context, ch.exten = context, exten
    ch.priority = pbx.dialplan.resolve_priority(context, exten, priority)
    return True


async def answer(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    pbx.answer(ch)
    return False


async def ringing(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    if ch.state != UP:
        pbx.set_state(ch, RINGING)
    return False


async def wait(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    await pbx.clock.sleep(_seconds(data or "0", "Wait"))
    return False


def _seconds(value: str, app: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise DialplanError(f"{app}: {value!r} is not a number of seconds") from None


async def playback(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    files = split_args(data)[0]
    found, _ = await pbx.play(ch, files, None)
    pbx.set_var(ch, "PLAYBACKSTATUS", "SUCCESS" if found else "FAILED")
    return False


async def background(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    pbx.ask_input(ch)
    _, digit = await pbx.play(ch, split_args(data)[0], "0123456789*#")
    if digit is None:
        return False
    return _goto_digit(pbx, ch, digit)


def _goto_digit(pbx: Pbx, ch: LiveChannel, digit: str) -> bool:
    exten = digit if pbx.dialplan.extension(ch.context, digit) is not None else "i"
    if pbx.dialplan.extension(ch.context, exten) is None:
        raise DialplanError(f"caller pressed {digit!r}; no extension {digit!r} or 'i' in context {ch.context!r}")
    ch.exten, ch.priority = exten, 1
    return True


async def wait_exten(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    args = split_args(data)
    pbx.ask_input(ch)
    digit = await pbx.wait_digit(ch, _seconds(args[0], "WaitExten") if args[0] else None)
    if digit is None:
        if pbx.dialplan.extension(ch.context, "t") is None:
            return False
        ch.exten, ch.priority = "t", 1
        return True
    return _goto_digit(pbx, ch, digit)


async def say_digits(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    digits = split_args(data)[0]
    await pbx.play(ch, "&".join(f"digits/{d}" for d in digits if d.isdigit()), None)
    return False


async def set_(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    name, sep, value = data.partition("=")
    if not sep:
        raise DialplanError(f"Set requires name=value, got {data!r}")
    name = name.strip().lstrip("_")
    upper = name.upper()
    if upper in ("CALLERID(NUM)", "CALLERID(NAME)"):
        pbx.set_callerid(ch, **{upper[9:-1].lower(): value})
    elif "(" in name:
        raise DialplanError(f"Set: writing function {name} is not emulated")
    else:
        pbx.set_var(ch, name, value)
    return False


async def goto(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    return _jump(pbx, ch, data)


async def goto_if(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    cond, sep, branches = data.partition("?")
    if not sep:
        raise DialplanError(f"GotoIf requires condition?label1[:label2], got {data!r}")
    true, _, false = branches.partition(":")
    target = true if is_true(cond) else false
    return _jump(pbx, ch, target) if target.strip() else False


async def gosub(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    target, args = data, ""
    if data.endswith(")") and "(" in data:
        target, _, args = data[:-1].partition("(")
    ch.stack.append((ch.context, ch.exten, ch.priority + 1))
    _jump(pbx, ch, target)
    for i, arg in enumerate(split_args(args) if args else [], start=1):
        pbx.set_var(ch, f"ARG{i}", arg)
    return True


async def return_(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    if not ch.stack:
        raise DialplanError("Return without Gosub")
    ch.context, ch.exten, ch.priority = ch.stack.pop()
    if data:
        pbx.set_var(ch, "GOSUB_RETVAL", data)
    return True


async def exec_if(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    cond, sep, branches = data.partition("?")
    if not sep:
        raise DialplanError(f"ExecIf requires condition?app(args)[:app(args)], got {data!r}")
    true, *rest = split_args(branches, ":")
    chosen = (true if is_true(cond) else ":".join(rest)).strip()
    if not chosen:
        return False
    name, _, args = chosen.partition("(")
    app = _by_name(name.strip())
    return await app(pbx, ch, args[:-1] if args.endswith(")") else args)


def _by_name(name: str) -> App:
    for key, app in APPLICATIONS.items():
        if key.lower() == name.lower():
            return app
    raise DialplanError(f"unknown application '{name}'")


async def hangup(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    cause = int(data) if data.strip().isdigit() else 16
    await pbx.hangup(ch, cause)
    raise ChannelHungUp


async def noop(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    return False


async def echo(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    await ch.ended.wait()
    raise ChannelHungUp


async def dial(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    args = split_args(data)
    timeout = _seconds(args[1], "Dial") if len(args) > 1 and args[1].strip() else None
    status = await pbx.dial(ch, args[0], timeout)
    pbx.set_var(ch, "DIALSTATUS", status)
    return False


CHANSPY_OPTIONS = frozenset("qwBE")  # quiet, whisper, barge, exit when the spied channel hangs up


async def chan_spy(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    args = split_args(data)
    options = args[1] if len(args) > 1 else ""
    unknown = sorted(set(options) - CHANSPY_OPTIONS)
    if unknown:
        raise DialplanError(f"ChanSpy option {unknown[0]!r} is not emulated (only q, w, B, E)")
    await pbx.chan_spy(ch, args[0], quiet="q" in options, exit_after="E" in options)
    if ch.hungup:
        raise ChannelHungUp
    return False


async def agi(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    args = split_args(data)
    location = (ch.context, ch.exten, ch.priority)
    status = await run_agi(pbx, ch, args[0], args[1:])
    pbx.set_var(ch, "AGISTATUS", status)
    if ch.hungup:
        raise ChannelHungUp
    return (ch.context, ch.exten, ch.priority) != location


async def music_on_hold(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    args = split_args(data)
    klass = args[0] or "default"
    duration = _seconds(args[1], "MusicOnHold") if len(args) > 1 and args[1].strip() else None
    pbx.start_moh(ch, klass)
    try:
        if duration is None:
            await ch.ended.wait()
        else:
            await pbx.clock.sleep(duration)
    finally:
        pbx.stop_moh(ch)
    return False


async def mix_monitor(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    args = split_args(data)
    rec = pbx.start_recorder(ch, args[0], args[1] if len(args) > 1 else "")
    pbx.set_var(ch, "MIXMONITOR_FILENAME", str(rec.file or ""))
    return False


async def stop_mix_monitor(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    for rec in list(ch.recorders):
        pbx.stop_recorder(ch, rec)
    return False


async def amd(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    # app_amd listens to the greeting: a person says a short "hello" then waits, a machine talks
    # on. The simulated far end says which it is; the analysis takes as long as it would.
    machine = ch.phone is not None and ch.phone.machine
    await pbx.clock.sleep(3.5 if machine else 2.5)
    if ch.hungup:
        raise ChannelHungUp
    status, cause = ("MACHINE", "LONGGREETING-1600-1500") if machine else ("HUMAN", "HUMAN-1000-800")
    pbx.set_var(ch, "AMDSTATUS", status)
    pbx.set_var(ch, "AMDCAUSE", cause)
    return False


async def user_event_app(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    args = split_args(data)
    fields = []
    for item in args[1:]:
        key, sep, value = item.partition(":")
        if not sep:
            raise DialplanError(f"UserEvent body item {item!r} is not 'Header: value'")
        fields.append((key.strip(), value.strip()))
    pbx.emit(user_event(ch, args[0], fields))
    return False


async def voicemail(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    args = split_args(data)
    box, _, context = args[0].partition("@")
    pbx.answer(ch)
    await pbx.play(ch, "vm-intro&beep", None)
    folder = pbx.spool_dir / "voicemail" / (context or "default") / box / "INBOX"
    msg = folder / f"msg{len(list(folder.glob('msg*.wav'))) if folder.exists() else 0:04d}.wav"
    said = pbx.next_utterance(ch, max_s=180.0)
    audio.write_wav(msg, said)
    await pbx.clock.sleep(len(said) / audio.RATE)
    pbx.set_var(ch, "VMSTATUS", "SUCCESS")
    return False


async def verbose(pbx: Pbx, ch: LiveChannel, data: str) -> bool:
    logger.debug("%s: Verbose %s", ch.name, data)
    return False


APPLICATIONS: dict[str, App] = {
    "AGI": agi,
    "AMD": amd,
    "Answer": answer,
    "Background": background,
    "ChanSpy": chan_spy,
    "Dial": dial,
    "Echo": echo,
    "ExecIf": exec_if,
    "Gosub": gosub,
    "Goto": goto,
    "GotoIf": goto_if,
    "Hangup": hangup,
    "MixMonitor": mix_monitor,
    "MusicOnHold": music_on_hold,
    "NoOp": noop,
    "Playback": playback,
    "Return": return_,
    "Ringing": ringing,
    "SayDigits": say_digits,
    "Set": set_,
    "StopMixMonitor": stop_mix_monitor,
    "UserEvent": user_event_app,
    "Verbose": verbose,
    "VoiceMail": voicemail,
    "Wait": wait,
    "WaitExten": wait_exten,
}

