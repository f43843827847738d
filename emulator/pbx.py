"""The emulated PBX: live channels running the dialplan, bridges, and the events they raise.

Theory of operation
-------------------
One `Pbx` per emulator, all on one asyncio loop.

* Every channel that runs dialplan has one task (`LiveChannel.task`) stepping through priorities:
  substitute the data, raise `Newexten`, run the application (`emulator.apps`), then go to the
  next priority unless the application jumped. Only that task moves the channel through the
  dialplan; Redirect cancels it and starts a new one at the new place.
* The far end of a channel (the PSTN caller's script, an agent's phone, a trunk destination) is
  acted out by `far` tasks that call `remote_hangup`, `send_dtmf` or answer a Dial.
* Hang-up is one routine, `hangup(ch, cause, request)`: raise HangupRequest (the far end hung
  up) or SoftHangupRequest (AMI Hangup, the bridge peer left), stop the far-end and dialplan tasks,
  stop music and recordings, leave the bridge (a two-party bridge left with one channel hangs that
  one up too, as Dial without the `g` option does), then raise `Hangup` with its cause.
* Events go to `subscribers` (the AMI server's sessions) as `AmiEvent` values, in the order they
  happen; a subscriber that raises is dropped and logged, never allowed to break a call.

Identifiers follow emulator.channels: Uniqueid `<epoch>.<n>`, Linkedid inherited by every channel
dialled or originated for a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator import audio
from emulator.channels import (
    CONGESTION,
    DOWN,
    NO_ANSWER,
    NORMAL_CLEARING,
    RING,
    RINGING,
    STATE_DESC,
    SUBSCRIBER_ABSENT,
    UP,
    USER_BUSY,
    AmiEvent,
    Bridge,
    Channel,
    blind_transfer_event,
    bridge_event,
    bridge_snapshot,
    channel_event,
    dial_event,
    hangup_event,
    newexten,
    snapshot,
    varset,
    with_chanvars,
)
from emulator.clock import Clock
from emulator.dialplan import Dialplan, DialplanError, substitute
from emulator.endpoints import CallerScript, PhoneBehaviour, TrunkBehaviour

logger = logging.getLogger(__name__)

ASTERISK_VERSION = "20.20.1"
TRUNK = "pstn-trunk"
DTMF_DIGITS = frozenset("0123456789*#ABCD")


# A dialplan application: (pbx, channel, substituted data) -> whether it moved the channel.
Application = Callable[["Pbx", "LiveChannel", str], Awaitable[bool]]


class ChannelHungUp(Exception):
    """Raised inside a channel's own task to stop running the dialplan: the channel is gone."""


@dataclass(slots=True, eq=False)
class Recorder:
    """One MixMonitor on a channel; the WAV files are written when it stops."""

    id: str
    file: Path | None
    rx_file: Path | None
    tx_file: Path | None
    bridged_only: bool
    started_at: float
    mutes: list[tuple[float, str, bool]] = field(default_factory=list)  # (at, read|write|both, on)


@dataclass(slots=True, eq=False, repr=False)
class LiveChannel(Channel):
    task: asyncio.Task[None] | None = None
    far: list[asyncio.Task[None]] = field(default_factory=list)
    dtmf: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    wants_input: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    answer_now: asyncio.Event = field(default_factory=asyncio.Event)  # answered by hand
    script: CallerScript | None = None
    phone: PhoneBehaviour | None = None
    utterances: list[str] = field(default_factory=list)
    voice: audio.Samples | None = None
    moh: str | None = None
    recorders: list[Recorder] = field(default_factory=list)
    bridged_spans: list[list[float]] = field(default_factory=list)  # [start, end or -1]
    stack: list[tuple[str, str, int]] = field(default_factory=list)
    local_peer: LiveChannel | None = None
    dial_peer: LiveChannel | None = None  # the channel this one is dialling / bridged to by Dial
    started_at_call: float = 0.0
    survives_bridge: bool = False  # an attended transfer's Local channel outlives its transferer
    spying: LiveChannel | None = None  # ChanSpy: the channel this one listens to


@dataclass(slots=True)
class PbxStats:
    calls_placed: int = 0
    channels_created: int = 0
    events: int = 0
    errors: int = 0


class Pbx:
    def __init__(
        self,
        dialplan: Dialplan,
        *,
        endpoints: dict[str, str],
        clock: Clock,
        rng: random.Random,
        spool_dir: Path,
        sounds_dir: Path,
        applications: Mapping[str, Application],
        trunk: TrunkBehaviour | None = None,
    ) -> None:
        self.dialplan = dialplan
        self.applications = dict(applications)
        self._applications_lower = {name.lower(): app for name, app in applications.items()}
        self.globals = dict(dialplan.globals)
        self.endpoint_contexts = endpoints
        self.clock = clock
        self.rng = rng
        self.spool_dir = spool_dir
        self.sounds_dir = sounds_dir
        self.trunk = trunk or TrunkBehaviour()
        self.phones: dict[str, PhoneBehaviour] = {}
        self.default_phone = PhoneBehaviour()  # endpoints without their own behaviour
        self.channels: dict[str, LiveChannel] = {}
        self._by_uniqueid: dict[str, LiveChannel] = {}
        self.channelvars: tuple[str, ...] = ()  # manager.conf channelvars
        self.bridges: dict[str, Bridge] = {}
        self.subscribers: list[Callable[[AmiEvent], None]] = []
        self.stats = PbxStats()
        self.idle = asyncio.Event()  # set while no channel exists
        self.idle.set()
        self.started_at = clock.now()
        self._unique = itertools.count()
        self._tech_counters: dict[str, itertools.count[int]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # ----------------------------------------------------------------------------------------
    # events, identifiers, lookup

    def emit(self, event: AmiEvent) -> None:
        self.stats.events += 1
        if self.channelvars:
            event = event._replace(headers=self.with_chanvars(event.headers))
        for subscriber in list(self.subscribers):
            try:
                subscriber(event)
            except Exception:
                logger.exception("event subscriber failed on %s; dropping it", event.name)
                self.subscribers.remove(subscriber)

    def new_uniqueid(self) -> str:
        return f"{int(self.clock.now())}.{next(self._unique)}"

    def _next(self, tech: str) -> int:
        return next(self._tech_counters.setdefault(tech, itertools.count()))

    def channel(self, name: str) -> LiveChannel | None:
        return self.channels.get(name)

    def by_uniqueid(self, uniqueid: str) -> LiveChannel | None:
        return self._by_uniqueid.get(uniqueid)

    def with_chanvars(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return with_chanvars(headers, self.channelvars,
                             lambda uid: ch.variables if (ch := self._by_uniqueid.get(uid)) else None)

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """A background task the PBX keeps a reference to until it ends (and whose errors it logs)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.stats.errors += 1
            logger.error("task %s failed", task.get_name(), exc_info=task.exception())

    def phone(self, endpoint: str) -> PhoneBehaviour:
        return self.phones.get(endpoint, self.default_phone)

    def is_in_use(self, endpoint: str) -> bool:
        return any(ch.endpoint == endpoint and ch.tech == "PJSIP" for ch in self.channels.values())

    # ----------------------------------------------------------------------------------------
    # channel lifecycle

    def new_channel(
        self,
        tech: str,
        endpoint: str,
        *,
        name: str | None = None,
        state: int = DOWN,
        context: str = "",
        exten: str = "s",
        caller_num: str = "",
        caller_name: str = "",
        linkedid: str | None = None,
        uniqueid: str | None = None,
        dnid: str = "",
    ) -> LiveChannel:
        uid = uniqueid or self.new_uniqueid()
        ch = LiveChannel(
            name=name or f"{tech}/{endpoint}-{self._next(tech):08x}",
            uniqueid=uid,
            linkedid=linkedid or uid,
            tech=tech,
            endpoint=endpoint,
            created_at=self.clock.now(),
            state=state,
            caller_num=caller_num,
            caller_name=caller_name,
            context=context,
            exten=exten,
            dnid=dnid,
        )
        self.channels[ch.name] = ch
        self._by_uniqueid[ch.uniqueid] = ch
        self.idle.clear()
        self.stats.channels_created += 1
        self.emit(channel_event("Newchannel", ch))
        return ch

    def set_state(self, ch: LiveChannel, state: int) -> None:
        if ch.state != state and not ch.hungup:
            ch.state = state
            if state == UP:
                ch.answered_at = self.clock.now()
                ch.answered.set()
            self.emit(channel_event("Newstate", ch))

    def answer(self, ch: LiveChannel) -> None:
        self.set_state(ch, UP)
        peer = ch.local_peer
        if peer is not None and peer.state != UP:
            # The two halves of a Local channel carry each other's audio from now on.
            self.set_state(peer, UP)
            for half in (ch, peer):
                half.bridged_spans.append([self.clock.now(), -1.0])

    def set_var(self, ch: LiveChannel | None, name: str, value: str) -> None:
        if ch is None:
            self.globals[name] = value
            return
        ch.variables[name] = value
        self.emit(varset(ch, name, value))

    def set_connected(self, ch: LiveChannel, num: str, name: str) -> None:
        if (ch.connected_num, ch.connected_name) != (num, name):
            ch.connected_num, ch.connected_name = num, name
            self.emit(channel_event("NewConnectedLine", ch))

    def set_callerid(self, ch: LiveChannel, num: str | None = None, name: str | None = None) -> None:
        ch.caller_num = ch.caller_num if num is None else num
        ch.caller_name = ch.caller_name if name is None else name
        self.emit(channel_event("NewCallerid", ch, ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")))

    def start_dialplan(self, ch: LiveChannel, context: str, exten: str, priority: int = 1) -> None:
        ch.context, ch.exten, ch.priority = context, exten, priority
        ch.task = asyncio.get_running_loop().create_task(self._run(ch), name=f"dialplan {ch.name}")

    def application(self, name: str) -> Application | None:
        """A dialplan application by name, in any case (as Asterisk looks them up)."""
        return self._applications_lower.get(name.lower())

    async def _run(self, ch: LiveChannel) -> None:
        step = None
        try:
            while not ch.hungup:
                step = self.dialplan.find(ch.context, ch.exten, ch.priority)
                if step is None:
                    logger.info("%s: no priority %s of %s@%s; hanging up", ch.name, ch.priority, ch.exten, ch.context)
                    break
                data = substitute(step.data, Variables(self, ch))
                ch.application, ch.appdata = step.app, data
                self.emit(newexten(ch, step.app, data))
                jumped = await self.applications[step.app](self, ch, data)
                if not jumped:
                    ch.priority += 1
        except ChannelHungUp:
            pass
        except DialplanError as exc:
            self.stats.errors += 1
            where = step.where if step else self.dialplan.file
            logger.error("%s: %s: %s", ch.name, where, exc)
        if not ch.hungup:
            await self.hangup(ch)

    async def redirect(self, moves: list[tuple[LiveChannel, str, str, int]]) -> None:
        """AMI Redirect (with ExtraChannel: two moves): each channel leaves what it was doing and
        runs the dialplan at its new place. A bridge peer that is not moved too is hung up."""
        moved = {ch for ch, _, _, _ in moves}
        peers = [p for ch, _, _, _ in moves if (p := self.peer_of(ch)) is not None and p not in moved]
        for ch, _, _, _ in moves:
            await self._stop_activity(ch)
        for peer in peers:
            if not peer.hungup:
                self.spawn(self.hangup(peer, NORMAL_CLEARING, "SoftHangupRequest"), f"hangup {peer.name}")
        for ch, context, exten, priority in moves:
            if not ch.hungup:
                self.start_dialplan(ch, context, exten, priority)

    async def _stop_activity(self, ch: LiveChannel) -> None:
        # Pull the channel out of its dialplan and out of its bridge, without hanging it up.
        task = ch.task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        ch.task = None
        if ch.bridge is not None:
            self.leave_bridge(ch, hang_up_peer=False)

    async def remote_hangup(self, ch: LiveChannel, cause: int = NORMAL_CLEARING) -> None:
        """The far end hung up (BYE / CANCEL from the network)."""
        await self.hangup(ch, cause, request="HangupRequest")

    async def hangup(self, ch: LiveChannel, cause: int = NORMAL_CLEARING, request: str | None = None) -> None:
        if ch.hungup:
            await ch.ended.wait()
            return
        ch.hungup = True
        ch.hangup_cause = cause
        if request:
            self.emit(channel_event(request, ch, ("Cause", str(cause))))
        current = asyncio.current_task()
        for task in [*ch.far, ch.task]:
            if task is not None and task is not current and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if ch.moh is not None:
            self.stop_moh(ch)
        for rec in list(ch.recorders):
            self.stop_recorder(ch, rec)
        if ch.bridge is not None:
            self.leave_bridge(ch, hang_up_peer=True)
        if ch.bridged_spans and ch.bridged_spans[-1][1] < 0:
            ch.bridged_spans[-1][1] = self.clock.now()
        peer = ch.local_peer
        if peer is not None and not peer.hungup:
            self.spawn(self.hangup(peer, cause, "SoftHangupRequest"), f"local hangup {peer.name}")
        self.emit(hangup_event(ch))
        self.channels.pop(ch.name, None)
        self._by_uniqueid.pop(ch.uniqueid, None)
        if not self.channels:
            self.idle.set()
        ch.ended.set()
        ch.changed.set()

    # ----------------------------------------------------------------------------------------
    # bridges

    def bridge(self, a: LiveChannel, b: LiveChannel) -> Bridge:
        bridge = Bridge(uniqueid=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)))
        self.bridges[bridge.uniqueid] = bridge
        self.emit(bridge_event("BridgeCreate", bridge))
        for ch in (a, b):
            bridge.channels.append(ch)
            ch.bridge = bridge
            ch.bridged_spans.append([self.clock.now(), -1.0])
            ch.changed.set()
            self.emit(bridge_event("BridgeEnter", bridge, ch))
        return bridge

    def peer_of(self, ch: LiveChannel) -> LiveChannel | None:
        if ch.bridge is None:
            return None
        others = [c for c in ch.bridge.channels if c is not ch]
        return others[0] if others and isinstance(others[0], LiveChannel) else None

    def leave_bridge(self, ch: LiveChannel, *, hang_up_peer: bool) -> None:
        bridge = ch.bridge
        if bridge is None:
            return
        bridge.channels.remove(ch)
        ch.bridge = None
        if ch.bridged_spans and ch.bridged_spans[-1][1] < 0:
            ch.bridged_spans[-1][1] = self.clock.now()
        ch.changed.set()
        self.emit(bridge_event("BridgeLeave", bridge, ch))
        if not bridge.channels:
            self.bridges.pop(bridge.uniqueid, None)
            self.emit(bridge_event("BridgeDestroy", bridge))
            return
        if hang_up_peer:
            # A basic two-party bridge dissolves: the one left behind is hung up (Dial without g).
            for other in list(bridge.channels):
                if isinstance(other, LiveChannel) and not other.hungup and not other.survives_bridge:
                    self.spawn(self.hangup(other, ch.hangup_cause, "SoftHangupRequest"), f"hangup {other.name}")

    # ----------------------------------------------------------------------------------------
    # media-ish: music on hold, DTMF, recordings

    def start_moh(self, ch: LiveChannel, klass: str) -> None:
        ch.moh = klass
        self.emit(channel_event("MusicOnHoldStart", ch, ("Class", klass)))

    def stop_moh(self, ch: LiveChannel) -> None:
        if ch.moh is not None:
            ch.moh = None
            self.emit(channel_event("MusicOnHoldStop", ch))

    def far_end_hold(self, ch: LiveChannel, on: bool, music_class: str = "default") -> None:
        """The phone on `ch` puts its call on hold (re-INVITE sendonly) or takes it off hold: Hold /
        Unhold on `ch`, and the bridge peer hears music meanwhile."""
        peer = self.peer_of(ch)
        if on:
            self.emit(channel_event("Hold", ch, ("MusicClass", music_class)))
            if peer is not None:
                self.start_moh(peer, music_class)
        else:
            self.emit(channel_event("Unhold", ch))
            if peer is not None:
                self.stop_moh(peer)

    async def send_dtmf(self, ch: LiveChannel, digit: str, *, received: bool = True, duration_ms: int = 100) -> None:
        direction = "Received" if received else "Sent"
        self.emit(channel_event("DTMFBegin", ch, ("Digit", digit), ("Direction", direction), klass="dtmf"))
        await self.clock.sleep(duration_ms / 1000)
        if ch.hungup:
            return
        self.emit(channel_event("DTMFEnd", ch, ("Digit", digit), ("DurationMs", str(duration_ms)),
                                ("Direction", direction), klass="dtmf"))
        if received:
            ch.dtmf.put_nowait(digit)

    async def wait_digit(self, ch: LiveChannel, seconds: float | None, accept: str | None = None) -> str | None:
        """The next DTMF digit `ch` receives within `seconds` of emulated time (None: forever).

        Digits not in `accept` (when given) are consumed and ignored, as stream-and-wait does.
        """
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + self.clock.real(seconds)
        while True:
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                digit = await asyncio.wait_for(ch.dtmf.get(), timeout)
            except TimeoutError:
                return None
            if accept is None or digit in accept:
                return digit

    async def play(self, ch: LiveChannel, files: str, escape: str | None) -> tuple[bool, str | None]:
        """Play `a&b&c` for as long as the sound files last; returns (all found, the escape digit
        that interrupted it, if any)."""
        found = True
        for name in files.split("&"):
            length = self.sound_duration(name)
            if length is None:
                logger.warning("%s: sound file %s does not exist", ch.name, self.sound_path(name))
                found = False
                continue
            if escape:
                digit = await self.wait_digit(ch, length, escape)
                if digit is not None:
                    return found, digit
            else:
                await self.clock.sleep(length)
        return found, None

    def next_utterance(self, ch: LiveChannel, *, max_s: float) -> audio.Samples:
        """What the caller says next: their next scripted utterance, or two seconds of silence."""
        if ch.utterances:
            samples = audio.load_8k(ch.utterances.pop(0))
            return samples[: round(max_s * audio.RATE)]
        return audio.silence(min(2.0, max_s))

    def ask_input(self, ch: LiveChannel) -> None:
        """The dialplan/IVR waits for digits now: a scripted caller presses the next ones."""
        ch.wants_input.set()

    def sound_path(self, name: str) -> Path:
        path = Path(name)
        if not path.is_absolute():
            path = self.sounds_dir / path
        return path if path.suffix else path.with_suffix(".wav")

    def sound_duration(self, name: str) -> float | None:
        return audio.duration_s(str(self.sound_path(name)))

    def record_path(self, file: str, fmt: str) -> Path:
        """Where RECORD FILE writes: `file.fmt`, relative paths under the spool's sounds folder."""
        path = Path(f"{file}.{fmt}")
        return path if path.is_absolute() else self.spool_dir / "sounds" / path

    def start_recorder(self, ch: LiveChannel, file: str, options: str) -> Recorder:
        rx = tx = ""
        flags = set()
        i = 0
        while i < len(options):
            opt = options[i]
            if i + 1 < len(options) and options[i + 1] == "(":
                end = options.index(")", i)
                value = options[i + 2 : end]
                if opt == "r":
                    rx = value
                elif opt == "t":
                    tx = value
                i = end + 1
                continue
            flags.add(opt)
            i += 1
        rec = Recorder(
            id=f"{uuid.UUID(int=self.rng.getrandbits(128), version=4)}",
            file=self._monitor_path(file) if file else None,
            rx_file=self._monitor_path(rx) if rx else None,
            tx_file=self._monitor_path(tx) if tx else None,
            bridged_only="b" in flags,
            started_at=self.clock.now(),
        )
        ch.recorders.append(rec)
        self.emit(channel_event("MixMonitorStart", ch))
        return rec

    def _monitor_path(self, file: str) -> Path:
        path = Path(file)
        return path if path.is_absolute() else self.spool_dir / "monitor" / path

    def stop_recorder(self, ch: LiveChannel, rec: Recorder) -> None:
        ch.recorders.remove(rec)
        read, write = self._render(ch, rec, self.clock.now())
        if rec.file is not None:
            audio.write_wav(rec.file, audio.mix(read, write))
        if rec.rx_file is not None:
            audio.write_wav(rec.rx_file, read)
        if rec.tx_file is not None:
            audio.write_wav(rec.tx_file, write)
        self.emit(channel_event("MixMonitorStop", ch))

    def _render(self, ch: LiveChannel, rec: Recorder, stop: float) -> tuple[audio.Samples, audio.Samples]:
        # What the channel sent (read) and heard (write) between start and stop; with `b`, only
        # while it was bridged. Muted stretches are silence, as with MixMonitorMute.
        start = rec.started_at
        n = max(0, round((stop - start) * audio.RATE))
        read = audio.silence(n / audio.RATE)
        write = read.copy()
        peer_voice = self._peer_voice(ch)
        spans = [(max(s, start), min(e if e >= 0 else stop, stop)) for s, e in ch.bridged_spans]
        spans = [(s, e) for s, e in spans if e > s]
        for s, e in spans:
            i, j = round((s - start) * audio.RATE), min(n, round((e - start) * audio.RATE))
            read[i:j] = audio.fit(self._voice(ch), j - i)
            write[i:j] = audio.fit(peer_voice, j - i)
        for leg, direction in ((read, "read"), (write, "write")):
            muted_since: float | None = None
            for at, which, on in [*rec.mutes, (stop, direction, False)]:
                if which not in (direction, "both"):
                    continue
                if on and muted_since is None:
                    muted_since = at
                elif not on and muted_since is not None:
                    leg[round((muted_since - start) * audio.RATE) : round((at - start) * audio.RATE)] = 0
                    muted_since = None
        if rec.bridged_only:
            keep = [slice(round((s - start) * audio.RATE), round((e - start) * audio.RATE)) for s, e in spans]
            read, write = audio.concat(*[read[k] for k in keep]), audio.concat(*[write[k] for k in keep])
        return read, write

    def _voice(self, ch: LiveChannel) -> audio.Samples:
        if ch.voice is None:
            ch.voice = audio.tone(1.0, 300.0 + (hash(ch.endpoint) % 5) * 60.0, 0.1)
        return ch.voice

    def _peer_voice(self, ch: LiveChannel) -> audio.Samples:
        if ch.spying is not None:  # a spy hears both sides of the spied call
            return audio.mix(self._voice(ch.spying), self._peer_voice(ch.spying))
        for s_ch in self.channels.values():
            if s_ch is not ch and s_ch.dial_peer is ch:
                return self._voice(s_ch)
        if ch.dial_peer is not None:
            return self._voice(ch.dial_peer)
        return audio.silence(0.0)

    async def chan_spy(self, spy: LiveChannel, prefix: str, *, quiet: bool, exit_after: bool) -> None:
        """ChanSpy: listen to the first other channel (not a spy itself) whose name starts with
        `prefix` (in any case), scanning once a second until there is one; spying ends when either channel
        hangs up (ChanSpyStart / ChanSpyStop around it). Without `exit_after` (option E) the spy
        goes back to scanning afterwards, as app_chanspy does, until the spy hangs up.

        The spy's MixMonitor hears the spied channel and its bridge peer mixed. Whisper (w) and
        barge (B) change who hears the spy; the emulator does not add the spy's voice to the
        spied call's recordings."""
        if spy.state != UP:
            self.answer(spy)
        while True:
            spyee = next((c for c in self.channels.values() if c is not spy and not c.hungup and c.spying is None
                          and c.name.lower().startswith(prefix.lower())), None)
            if spyee is None:
                await self.clock.sleep(1.0)
                continue
            if not quiet:
                await self.play(spy, "beep", None)
                if spyee.hungup:
                    continue
            spy.spying = spyee
            spy.bridged_spans.append([self.clock.now(), -1.0])
            self.emit(AmiEvent("ChanSpyStart", "call", [*snapshot(spy, "Spyer"), *snapshot(spyee, "Spyee")]))
            try:
                await spyee.ended.wait()
            finally:
                spy.spying = None
                spy.bridged_spans[-1][1] = self.clock.now()
                # The spyee's snapshot is gone from the cache once it has hung up: Spyer block only.
                self.emit(AmiEvent("ChanSpyStop", "call", [
                    *snapshot(spy, "Spyer"), *([] if spyee.hungup else snapshot(spyee, "Spyee"))]))
            if exit_after:
                return

    # ----------------------------------------------------------------------------------------
    # calls into and out of the PBX

    def place_call(self, script: CallerScript) -> LiveChannel:
        """A PSTN subscriber calls `script.dnis` from `script.ani` through the trunk."""
        context = self.endpoint_contexts.get(TRUNK, "hotline")
        ch = self.new_channel("PJSIP", TRUNK, state=RING, context=context, exten=script.dnis,
                              caller_num=script.ani, caller_name=script.caller_name, dnid=script.dnis)
        ch.script = script
        ch.utterances = list(script.utterances)
        if script.utterances:
            ch.voice = audio.mix(*[audio.load_8k(u) for u in script.utterances[:1]])
        ch.started_at_call = self.clock.now()
        self.stats.calls_placed += 1
        self.start_dialplan(ch, context, script.dnis, 1)
        ch.far.append(asyncio.get_running_loop().create_task(self._caller_timers(ch, script), name=f"caller {ch.name}"))
        if script.digits:
            ch.far.append(asyncio.get_running_loop().create_task(self._caller_digits(ch, script), name=f"digits {ch.name}"))
        return ch

    async def _caller_digits(self, ch: LiveChannel, script: CallerScript) -> None:
        for delay, digits in script.digits:
            await ch.wants_input.wait()
            ch.wants_input.clear()
            await self.clock.sleep(delay)
            for digit in digits:
                await self.send_dtmf(ch, digit)

    async def _caller_timers(self, ch: LiveChannel, script: CallerScript) -> None:
        start = ch.started_at_call
        while not ch.hungup:
            now = self.clock.now()
            talking_since = ch.bridged_spans[-1][0] if ch.bridge is not None else None
            deadlines = []
            if script.hangup_after_s is not None:
                deadlines.append(start + script.hangup_after_s)
            if script.patience_s is not None and not ch.bridged_spans:
                deadlines.append(start + script.patience_s)
            if script.talk_s is not None and talking_since is not None:
                deadlines.append(talking_since + script.talk_s)
            deadline = min(deadlines) if deadlines else None
            if deadline is not None and now >= deadline:
                await self.remote_hangup(ch)
                return
            ch.changed.clear()
            timeout = None if deadline is None else self.clock.real(deadline - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ch.changed.wait(), timeout)

    def resolve_interface(self, interface: str) -> tuple[str, str, PhoneBehaviour] | None:
        """`PJSIP/1001` or `PJSIP/<number>@pstn-trunk` -> (endpoint, number, behaviour); None: unavailable."""
        tech, _, resource = interface.partition("/")
        if tech.upper() != "PJSIP" or not resource:
            return None
        number, _, host = resource.partition("@")
        endpoint = host or number
        if endpoint not in self.endpoint_contexts:
            return None
        behaviour = self.trunk.draw(number, self.rng) if endpoint == TRUNK else self.phone(endpoint)
        if not behaviour.registered:
            return None
        return endpoint, number, behaviour

    def _outgoing(self, endpoint: str, number: str, behaviour: PhoneBehaviour, linkedid: str | None,
                  caller_num: str = "", caller_name: str = "", uniqueid: str | None = None) -> LiveChannel:
        ch = self.new_channel("PJSIP", endpoint, context=self.endpoint_contexts.get(endpoint, "default"),
                              exten="s", caller_num=caller_num or number, caller_name=caller_name,
                              linkedid=linkedid, uniqueid=uniqueid)
        ch.phone = behaviour
        return ch

    async def _ring(self, ch: LiveChannel, timeout_s: float | None) -> str:
        """Let the far end of outgoing channel `ch` answer: ANSWER, BUSY or NOANSWER."""
        behaviour = ch.phone or PhoneBehaviour()
        if behaviour.busy:
            return "BUSY"
        await self.clock.sleep(0.05)
        self.set_state(ch, RINGING)
        # First of: the phone answers by itself, someone answers it by hand (`answer_now`, the
        # demo's agent desktop), the caller's ring timeout.
        auto = behaviour.answer_after_s if behaviour.answer else None
        if timeout_s is not None and (auto is None or auto > timeout_s):
            auto = None
        wait = auto if auto is not None else timeout_s
        try:
            await asyncio.wait_for(ch.answer_now.wait(), None if wait is None else self.clock.real(wait))
        except TimeoutError:
            return "ANSWER" if auto is not None else "NOANSWER"
        return "ANSWER"

    async def _await_answer(self, ch: LiveChannel, ring: asyncio.Task[str], on_ringing: Callable[[], None]) -> str:
        """Wait for the far end of `ch` to answer (`ring`'s outcome), reporting ringing once; if
        the channel is hung up meanwhile, the outcome follows its cause, as app_dial's
        handle_cause does."""
        ringing_seen = False
        while not ring.done():
            await asyncio.wait([ring], timeout=self.clock.real(0.05))
            if ch.state == RINGING and not ringing_seen:
                ringing_seen = True
                on_ringing()
            if ch.hungup:
                ring.cancel()
                return {USER_BUSY: "BUSY", CONGESTION: "CONGESTION", SUBSCRIBER_ABSENT: "CHANUNAVAIL"}.get(
                    ch.hangup_cause, "NOANSWER")
        return ring.result()

    def phone_notify(self, endpoint: str, headers: list[tuple[str, str]]) -> None:
        """A SIP NOTIFY reached the phone of `endpoint` (AMI PJSIPNotify). `Event: talk` makes a
        ringing phone go off-hook, as Yealink, Polycom and Snom phones do; a phone ignores any
        other event (check-sync, hold ...) and a talk event while no call is coming in. A call
        comes in from the INVITE on (the channel exists, Down until the phone reports ringing)."""
        event = next((v.strip().lower() for k, v in headers if k.strip().lower() == "event"), "")
        if event != "talk":
            return
        for ch in self.channels.values():
            if ch.endpoint == endpoint != TRUNK and ch.phone is not None and ch.state in (DOWN, RINGING):
                ch.answer_now.set()

    def _start_talk_timer(self, ch: LiveChannel) -> None:
        behaviour = ch.phone
        if behaviour is not None and behaviour.talk_s is not None:
            ch.far.append(asyncio.get_running_loop().create_task(self._talk_then_hangup(ch, behaviour.talk_s),
                                                                 name=f"talk {ch.name}"))

    async def _talk_then_hangup(self, ch: LiveChannel, talk_s: float) -> None:
        await self.clock.sleep(talk_s)
        await self.remote_hangup(ch)

    async def dial(self, caller: LiveChannel, interface: str, timeout_s: float | None) -> str:
        """The Dial application: ring `interface`, bridge on answer; returns DIALSTATUS."""
        if "&" in interface:
            raise DialplanError(f"Dial to several interfaces at once ({interface!r}) is not emulated")
        target = self.resolve_interface(interface)
        if target is None:
            logger.info("%s: %s is unavailable", caller.name, interface)
            return "CHANUNAVAIL"
        endpoint, number, behaviour = target
        if endpoint != TRUNK and self.is_in_use(endpoint):
            behaviour = PhoneBehaviour(busy=True)  # device_state_busy_at = 1 in pjsip.conf
        callee = self._outgoing(endpoint, number, behaviour, caller.linkedid)
        caller.dial_peer = callee
        self.set_connected(callee, caller.caller_num, caller.caller_name)
        self.emit(dial_event("DialBegin", caller, callee, ("DialString", interface.partition("/")[2])))
        status = "CANCEL"
        ring = asyncio.get_running_loop().create_task(self._ring(callee, timeout_s))
        try:
            status = await self._await_answer(
                callee, ring, lambda: self.emit(dial_event("DialState", caller, callee, ("DialStatus", "RINGING")))
            )
            if status != "ANSWER":
                self.emit(dial_event("DialEnd", caller, callee, ("DialStatus", status)))
                await self.hangup(callee, USER_BUSY if status == "BUSY" else NO_ANSWER)
                return status
            self.set_state(callee, UP)
            if caller.state != UP:
                self.answer(caller)
            self.set_connected(caller, callee.caller_num, callee.caller_name)
            self.emit(dial_event("DialEnd", caller, callee, ("DialStatus", "ANSWER")))
            self.set_var(caller, "DIALSTATUS", "ANSWER")
            callee.dial_peer = caller
            self.bridge(callee, caller)
            self._start_talk_timer(callee)
            await caller.ended.wait()  # the bridge ends with a hang-up (no `g` option)
            return "ANSWER"
        finally:
            if status == "CANCEL" and not callee.hungup:
                if not ring.done():
                    ring.cancel()
                self.emit(dial_event("DialEnd", caller, callee, ("DialStatus", "CANCEL")))
                self.spawn(self.hangup(callee, NORMAL_CLEARING), f"cancel {callee.name}")

    async def originate(
        self,
        interface: str,
        *,
        timeout_s: float,
        caller_num: str = "",
        caller_name: str = "",
        variables: Iterable[tuple[str, str]] = (),
        context: str = "",
        exten: str = "",
        priority: str = "1",
        application: str = "",
        data: str = "",
        channel_id: str = "",
        other_channel_id: str = "",
    ) -> tuple[bool, int, LiveChannel | None]:
        """AMI Originate: call `interface`; on answer run the application or the dialplan.

        Returns (answered, reason, channel) where reason is OriginateResponse's Reason.
        """
        tech, _, resource = interface.partition("/")
        variables = list(variables)
        if tech.lower() == "local":
            return await self._originate_local(resource, timeout_s=timeout_s, caller_num=caller_num,
                                               caller_name=caller_name, variables=variables, context=context,
                                               exten=exten, priority=priority, application=application, data=data,
                                               channel_id=channel_id, other_channel_id=other_channel_id)
        target = self.resolve_interface(interface)
        if target is None:
            return False, 0, None
        endpoint, number, behaviour = target
        ch = self._outgoing(endpoint, number, behaviour, None, caller_num, caller_name, uniqueid=channel_id or None)
        for name, value in variables:
            self.set_var(ch, name, value)
        # An originated channel is dialled by nobody: DialBegin/DialEnd carry only the Dest block.
        self.emit(dial_event("DialBegin", None, ch, ("DialString", resource)))
        ring = asyncio.get_running_loop().create_task(self._ring(ch, timeout_s))
        try:
            status = await self._await_answer(ch, ring, lambda: None)
        finally:
            ring.cancel()
        self.emit(dial_event("DialEnd", None, ch, ("DialStatus", status)))
        if status != "ANSWER":
            reason = {"BUSY": 5, "NOANSWER": 3, "CONGESTION": 8}.get(status, 1)
            await self.hangup(ch, USER_BUSY if status == "BUSY" else NO_ANSWER)
            return False, reason, ch
        self.set_state(ch, UP)
        self._start_talk_timer(ch)
        self._after_answer(ch, context, exten, priority, application, data)
        return True, 4, ch

    def _after_answer(self, ch: LiveChannel, context: str, exten: str, priority: str, application: str, data: str) -> None:
        if application:
            self.start_application(ch, application, data)
        else:
            self.start_dialplan(ch, context, exten, self.dialplan.resolve_priority(context, exten, priority))

    def start_application(self, ch: LiveChannel, application: str, data: str) -> None:
        app = self.application(application)

        async def run() -> None:
            ch.application, ch.appdata = application, data
            if app is None:
                # Asterisk answers the originated call, cannot find the application, hangs up.
                logger.warning("%s: no application %r to run after Originate", ch.name, application)
            else:
                with contextlib.suppress(ChannelHungUp):
                    await app(self, ch, data)
            if not ch.hungup:
                await self.hangup(ch)

        ch.task = asyncio.get_running_loop().create_task(run(), name=f"app {ch.name}")

    async def _originate_local(self, resource: str, *, timeout_s: float, caller_num: str, caller_name: str,
                               variables: list[tuple[str, str]], context: str, exten: str, priority: str,
                               application: str, data: str, channel_id: str,
                               other_channel_id: str) -> tuple[bool, int, LiveChannel | None]:
        target, _, _opts = resource.partition("/")
        local_exten, _, local_context = target.partition("@")
        local_context = local_context or "default"
        if self.dialplan.extension(local_context, local_exten) is None:
            return False, 0, None
        n = self._next("Local")
        base = f"Local/{local_exten}@{local_context}-{n:08x}"
        one = self.new_channel("Local", target, name=base + ";1", context=context or "default",
                               exten=exten or "s", caller_num=caller_num, caller_name=caller_name,
                               uniqueid=channel_id or None)
        two_id = other_channel_id or (f"{channel_id};2" if channel_id else None)
        two = self.new_channel("Local", target, name=base + ";2", state=RING, context=local_context,
                               exten=local_exten, caller_num=caller_num, caller_name=caller_name,
                               linkedid=one.linkedid, uniqueid=two_id)
        one.local_peer, two.local_peer = two, one
        one.dial_peer, two.dial_peer = two, one
        for name, value in variables:
            self.set_var(one, name, value)
        self._local_bridge(one, two, local_context, local_exten)
        self.emit(dial_event("DialBegin", None, one, ("DialString", resource)))
        self.start_dialplan(two, local_context, local_exten, 1)
        try:
            await asyncio.wait_for(one.answered.wait(), self.clock.real(timeout_s))
        except TimeoutError:
            self.emit(dial_event("DialEnd", None, one, ("DialStatus", "NOANSWER")))
            await self.hangup(one, NO_ANSWER)
            return False, 3, one
        if one.hungup:
            return False, 1, one
        self.emit(dial_event("DialEnd", None, one, ("DialStatus", "ANSWER")))
        self._after_answer(one, context, exten, priority, application, data)
        return True, 4, one

    def _local_bridge(self, one: LiveChannel, two: LiveChannel, context: str, exten: str) -> None:
        self.emit(AmiEvent("LocalBridge", "call", [
            *snapshot(one, "LocalOne"), *snapshot(two, "LocalTwo"),
            ("Context", context), ("Exten", exten), ("LocalOptimization", "No"),
        ]))

    async def bridge_channels(self, a: LiveChannel, b: LiveChannel) -> None:
        """AMI Bridge: take both channels out of what they are doing and bridge them."""
        for ch in (a, b):
            await self._stop_activity(ch)
            if ch.state != UP:
                self.answer(ch)
        a.dial_peer, b.dial_peer = b, a
        self.bridge(a, b)

    async def blind_transfer(self, transferer: LiveChannel, context: str, exten: str) -> None:
        bridge = transferer.bridge
        assert bridge is not None  # Precondition: the AMI action checked it
        transferee = self.peer_of(transferer)
        self.emit(blind_transfer_event(transferer, transferee, bridge, context, exten))
        if transferee is not None:
            self.leave_bridge(transferee, hang_up_peer=False)
            await self._stop_activity(transferee)
            self.start_dialplan(transferee, context, exten, 1)
        await self.hangup(transferer, NORMAL_CLEARING)

    async def attended_transfer(self, transferer: LiveChannel, context: str, exten: str) -> None:
        """AMI Atxfer: the transferee waits on hold in the call's bridge while the transferer
        talks to `exten@context` through a Local channel; when the transferer hangs up (answered or
        still ringing: a "blonde" transfer), the Local channel takes its place in that bridge."""
        orig = transferer.bridge
        transferee = self.peer_of(transferer)
        if orig is None or transferee is None:
            return
        self.leave_bridge(transferer, hang_up_peer=False)
        self.start_moh(transferee, "default")
        n = self._next("Local")
        base = f"Local/{exten}@{context}-{n:08x}"
        one = self.new_channel("Local", f"{exten}@{context}", name=base + ";1", context=context, exten=exten,
                               caller_num=transferer.caller_num, caller_name=transferer.caller_name,
                               linkedid=transferer.linkedid)
        two = self.new_channel("Local", f"{exten}@{context}", name=base + ";2", state=RING, context=context,
                               exten=exten, caller_num=transferer.caller_num, caller_name=transferer.caller_name,
                               linkedid=transferer.linkedid)
        one.local_peer, two.local_peer = two, one
        one.survives_bridge = True
        self._local_bridge(one, two, context, exten)
        self.start_dialplan(two, context, exten, 1)
        second = self.bridge(one, transferer)
        await transferer.ended.wait()
        if one.hungup or transferee.hungup:
            return
        self.stop_moh(transferee)
        target = two.dial_peer or two
        self.emit(AmiEvent("AttendedTransfer", "call", [
            ("Result", "Success"), *snapshot(transferer, "OrigTransferer"), *bridge_snapshot(orig, "Orig"),
            *snapshot(transferer, "SecondTransferer"), *bridge_snapshot(second, "Second"),
            *snapshot(transferee, "Transferee"), *snapshot(target, "TransferTarget"), ("IsExternal", "Yes"),
            ("DestType", "Bridge"), ("DestBridgeUniqueid", orig.uniqueid),
        ]))
        one.survives_bridge = False
        if one.bridge is not None:
            self.leave_bridge(one, hang_up_peer=False)
        orig.channels.append(one)
        one.bridge = orig
        one.bridged_spans.append([self.clock.now(), -1.0])
        one.dial_peer, transferee.dial_peer = transferee, one
        self.emit(bridge_event("BridgeEnter", orig, one))

    async def shutdown(self) -> None:
        for ch in list(self.channels.values()):
            await self.hangup(ch)
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Variables:
    """The substitution resolver for one channel: built-in variables, channel vars, globals."""

    def __init__(self, pbx: Pbx, ch: LiveChannel) -> None:
        self.pbx = pbx
        self.ch = ch

    def variable(self, name: str) -> str:
        ch = self.ch
        builtin = {
            "EXTEN": lambda: ch.exten,
            "CONTEXT": lambda: ch.context,
            "PRIORITY": lambda: str(ch.priority),
            "UNIQUEID": lambda: ch.uniqueid,
            "CHANNEL": lambda: ch.name,
            "EPOCH": lambda: str(int(self.pbx.clock.now())),
        }.get(name)
        if builtin is not None:
            return builtin()
        if name in ch.variables:
            return ch.variables[name]
        return self.pbx.globals.get(name, "")

    def function(self, name: str, args: str) -> str:
        ch = self.ch
        arg = args.strip().lower()
        if name == "CALLERID":
            values = {"num": ch.caller_num, "name": ch.caller_name,
                      "all": f'"{ch.caller_name}" <{ch.caller_num}>'}
        elif name == "CONNECTEDLINE":
            values = {"num": ch.connected_num, "name": ch.connected_name}
        elif name == "CHANNEL":
            values = {"name": ch.name, "uniqueid": ch.uniqueid, "linkedid": ch.linkedid,
                      "language": ch.language, "state": _state_word(ch.state), "channeltype": ch.tech}
        else:
            raise DialplanError(f"unknown function {name}()")
        if arg not in values:
            raise DialplanError(f"{name}({args}): unknown field {args!r}")
        return values[arg]


def _state_word(state: int) -> str:
    return STATE_DESC[state]
