"""The emulator's AMI server: Asterisk 20's manager interface over TCP.

Behaviour read from manager.c (../shared/ami/wire-format-notes.md):
* On connect: `Asterisk Call Manager/9.0.0` and CRLF, no blank line.
* Before Login only Login, Logoff and Challenge run; anything else gets `Permission denied`.
  A failed Login is answered after one second with `Authentication failed`, then the connection
  is closed. Login takes the plain secret or, after `Challenge`, `Key = md5(challenge + secret)`.
* A request without `Action` gets `Missing action in request`; an unknown action gets
  `Invalid/unknown command: X. Use Action: ListCommands to show available commands.`; an action
  the user's `write` classes do not cover gets `Permission denied`.
* Events go to logged-in sessions with events on whose `read` classes cover the event's class;
  each event is encoded once (pbx.ami) and written to every such session.
* A session that goes away, even mid-call, only ends that session; a session whose output backs
  up past `MAX_BACKLOG_BYTES` is closed, as Asterisk drops a client that stops reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable

from emulator.channels import AmiEvent, event_message, originate_response, snapshot
from emulator.conffile import AmiUser
from emulator.dialplan import DialplanError
from emulator.pbx import ASTERISK_VERSION, DTMF_DIGITS, LiveChannel, Pbx, Variables
from pbx.ami import AmiDecodeError, AmiDecoder, AmiMessage

logger = logging.getLogger(__name__)

AMI_VERSION = "9.0.0"
MAX_BACKLOG_BYTES = 32 * 1024 * 1024
EVENT_CLASSES = frozenset({"system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf",
                           "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security",
                           "message"})

Handler = Callable[["AmiSession", AmiMessage], Awaitable[None]]


class AmiServer:
    def __init__(self, pbx: Pbx, users: dict[str, AmiUser], *, host: str = "127.0.0.1", port: int = 0,
                 timestamps: bool = False) -> None:
        self.pbx = pbx
        self.timestamps = timestamps
        self.users = users
        self.host = host
        self.requested_port = port
        self.sessions: set[AmiSession] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        pbx.subscribers.append(self.broadcast)

    @property
    def port(self) -> int:
        assert self._server is not None, "AmiServer.start() first"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.requested_port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.close()
        # Closing the transports ends each session's read loop; cancelling the tasks instead
        # would make asyncio.streams log the CancelledError (Python 3.11).
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self._server is not None:
            await self._server.wait_closed()
        with contextlib.suppress(ValueError):
            self.pbx.subscribers.remove(self.broadcast)

    def broadcast(self, event: AmiEvent) -> None:
        data: bytes | None = None
        for session in list(self.sessions):
            if session.wants(event.klass):
                if data is None:
                    data = bytes(event_message(event, self.pbx.clock.now() if self.timestamps else None))
                session.write(data)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AmiSession(self, reader, writer)
        self.sessions.add(session)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await session.run()
        except Exception:
            # The one place a connection's unexpected error is caught: log it, close that session.
            logger.exception("AMI session %s failed", session.peer)
        finally:
            self._tasks.discard(task)
            self.sessions.discard(session)
            session.close()


class AmiSession:
    def __init__(self, server: AmiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.pbx = server.pbx
        self.reader = reader
        self.writer = writer
        self.peer = str(writer.get_extra_info("peername"))
        self.user: AmiUser | None = None
        self.events_on = True
        self.event_mask: frozenset[str] | None = None  # None: all the user may read
        self.challenge: str | None = None
        self.closed = False

    # -- I/O ------------------------------------------------------------------------------------

    def wants(self, klass: str) -> bool:
        if self.user is None or not self.events_on or self.closed:
            return False
        if "all" not in self.user.read and klass not in self.user.read:
            return False
        return self.event_mask is None or klass in self.event_mask

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        transport = self.writer.transport
        if transport.is_closing():
            self.close()
            return
        if transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
            logger.warning("AMI session %s stopped reading; closing it", self.peer)
            self.close()
            return
        self.writer.write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()

    def respond(self, request: AmiMessage, status: str, *headers: tuple[str, str], message: str | None = None) -> None:
        pairs = list(headers)
        if message is not None:
            pairs.append(("Message", message))
        self.write(bytes(AmiMessage.response(status, pairs, action_id=request.action_id or None)))

    def error(self, request: AmiMessage, message: str) -> None:
        self.respond(request, "Error", message=message)

    def ack(self, request: AmiMessage, message: str | None = None) -> None:
        self.respond(request, "Success", message=message)

    async def run(self) -> None:
        self.write(bytes(AmiMessage.banner(AMI_VERSION)))
        decoder = AmiDecoder(expect_banner=False)
        while not self.closed:
            try:
                data = await self.reader.read(65536)
            except ConnectionError:
                return
            if not data:
                return
            while True:
                try:
                    messages, bad = decoder.feed(data), None
                except AmiDecodeError as exc:
                    messages, bad = exc.messages, exc
                for message in messages:
                    await self.handle(message)
                    if self.closed:
                        return
                if bad is None:
                    break
                # A block without an Action header (or with lines that are not headers): Asterisk
                # answers it like any request without an action. The decoder keeps the rest.
                logger.info("AMI session %s sent a malformed request: %s", self.peer, bad)
                self.write(bytes(AmiMessage.response("Error", [("Message", "Missing action in request")])))
                data = b""

    # -- dispatch -------------------------------------------------------------------------------

    async def handle(self, request: AmiMessage) -> None:
        action = request.get("Action")
        if not action:
            self.error(request, "Missing action in request")
            return
        name = action.lower()
        if self.user is None and name not in ("login", "logoff", "challenge"):
            self.error(request, "Permission denied")
            return
        entry = ACTIONS.get(name)
        if entry is None:
            self.error(request, f"Invalid/unknown command: {action}. Use Action: ListCommands to show available commands.")
            return
        privileges, handler = entry
        if privileges and self.user is not None and "all" not in self.user.write and not privileges & self.user.write:
            self.error(request, "Permission denied")
            return
        await handler(self, request)

    def channel_arg(self, request: AmiMessage, header: str = "Channel") -> LiveChannel | None:
        name = request.get(header) or ""
        return self.pbx.channel(name)

    def required_channel(self, request: AmiMessage) -> LiveChannel | None:
        """The request's live `Channel`, or None after answering with Asterisk's error for a
        missing header or an unknown channel."""
        if not request.get("Channel"):
            self.error(request, "No channel specified")
            return None
        ch = self.channel_arg(request)
        if ch is None:
            self.error(request, "No such channel")
        return ch

    # -- authentication -------------------------------------------------------------------------

    async def login(self, request: AmiMessage) -> None:
        if self.user is not None:
            self.ack(request, "Already authenticated")
            return
        user = self.server.users.get(request.get("Username") or "")
        if user is None or not self._secret_ok(request, user):
            await asyncio.sleep(1.0)
            self.error(request, "Authentication failed")
            self.close()
            return
        self.user = user
        events = (request.get("Events") or "").strip().lower()
        if events:
            self._set_mask(events)
        logger.info("AMI session %s: %s logged in", self.peer, user.username)
        self.ack(request, "Authentication accepted")
        if self.wants("system"):
            uptime = int(self.pbx.clock.now() - self.pbx.started_at)
            self.write(bytes(AmiMessage.event("FullyBooted", [
                ("Privilege", "system,all"), ("Uptime", str(uptime)), ("LastReload", str(uptime)),
                ("Status", "Fully Booted"),
            ])))

    def _secret_ok(self, request: AmiMessage, user: AmiUser) -> bool:
        if (request.get("AuthType") or "").lower() == "md5":
            if self.challenge is None:
                return False
            expected = hashlib.md5((self.challenge + user.secret).encode(), usedforsecurity=False).hexdigest()
            return secrets.compare_digest(expected, (request.get("Key") or "").lower())
        return bool(user.secret) and secrets.compare_digest(user.secret, request.get("Secret") or "")

    async def challenge_action(self, request: AmiMessage) -> None:
        if (request.get("AuthType") or "").lower() != "md5":
            self.error(request, "Must specify AuthType")
            return
        if self.challenge is None:
            self.challenge = str(secrets.randbelow(900_000_000) + 100_000_000)
        self.respond(request, "Success", ("Challenge", self.challenge))

    async def logoff(self, request: AmiMessage) -> None:
        self.respond(request, "Goodbye", message="Thanks for all the fish.")
        self.close()

    async def ping(self, request: AmiMessage) -> None:
        self.respond(request, "Success", ("Ping", "Pong"), ("Timestamp", f"{self.pbx.clock.now():.6f}"))

    def _set_mask(self, mask: str) -> bool:
        if mask in ("on", "all", "yes", "true"):
            self.events_on, self.event_mask = True, None
        elif mask in ("off", "no", "false", "none"):
            self.events_on = False
        else:
            classes = frozenset(c.strip() for c in mask.split(",") if c.strip())
            if not classes <= EVENT_CLASSES:
                return False
            self.events_on, self.event_mask = True, classes
        return True

    async def events(self, request: AmiMessage) -> None:
        mask = (request.get("EventMask") or "").strip().lower()
        if not self._set_mask(mask):
            self.error(request, "Invalid event mask")
            return
        self.respond(request, "Success", ("Events", "On" if self.events_on else "Off"))

    # -- calls ----------------------------------------------------------------------------------

    async def originate(self, request: AmiMessage) -> None:
        channel = request.get("Channel") or ""
        if not channel:
            self.error(request, "Channel not specified")
            return
        if "/" not in channel:
            self.error(request, "Invalid channel")
            return
        timeout_text = request.get("Timeout") or "30000"
        try:
            timeout_s = int(timeout_text) / 1000
        except ValueError:
            self.error(request, "Invalid timeout")
            return
        context = request.get("Context") or "default"
        exten = request.get("Exten") or "s"
        priority = request.get("Priority") or "1"
        application = request.get("Application") or ""
        if not application:
            try:
                self.pbx.dialplan.resolve_priority(context, exten, priority)
            except DialplanError:
                self.error(request, "Invalid priority")
                return
        name, num = _parse_callerid(request.get("CallerID") or "")
        variables = _variables(request)
        data = request.get("Data") or ""

        def dial() -> Awaitable[tuple[bool, int, LiveChannel | None]]:
            return self.pbx.originate(
                channel, timeout_s=timeout_s, caller_num=num, caller_name=name, variables=variables,
                context=context, exten=exten, priority=priority, application=application, data=data,
                channel_id=request.get("ChannelId") or "", other_channel_id=request.get("OtherChannelId") or "",
            )

        if (request.get("Async") or "").lower() not in ("true", "yes", "1", "on"):
            answered, _, _ = await dial()
            if answered:
                self.ack(request, "Originate successfully queued")
            else:
                self.error(request, "Originate failed")
            return
        self.ack(request, "Originate successfully queued")
        action_id = request.action_id or ""

        async def run() -> None:
            answered, reason, ch = await dial()
            self.pbx.emit(originate_response(
                action_id, answered, ch.name if ch else channel, reason, ch.uniqueid if ch else "",
                num, name, context=context, exten=exten, application=application, data=data,
            ))

        self.pbx.spawn(run(), f"originate {channel}")

    async def redirect(self, request: AmiMessage) -> None:
        moves = []
        for prefix in ("", "Extra"):
            name = request.get(prefix + "Channel") or ""
            if prefix and not name:
                break
            if not name:
                self.error(request, "Channel not specified")
                return
            context = request.get(prefix + "Context") or ""
            exten = request.get(prefix + "Exten") or ""
            priority = request.get(prefix + "Priority") or ""
            if not context:
                self.error(request, "Context not specified")
                return
            if not exten:
                self.error(request, "Exten not specified")
                return
            if not priority:
                self.error(request, "Priority not specified")
                return
            try:
                prio = self.pbx.dialplan.resolve_priority(context, exten, priority)
            except DialplanError:
                prio = 0
            if prio < 1:
                self.error(request, "Priority is invalid")
                return
            ch = self.pbx.channel(name)
            if ch is None:
                self.error(request, f"Channel does not exist: {name}")
                return
            if ch.hungup:
                self.error(request, "Redirect failed, channel not up." if not prefix else
                           "Redirect failed, extra channel not up.")
                return
            moves.append((ch, context, exten, prio))
        await self.pbx.redirect(moves)
        self.ack(request, "Dual Redirect successful" if len(moves) == 2 else "Redirect successful")

    async def hangup(self, request: AmiMessage) -> None:
        ch = self.required_channel(request)
        if ch is None:
            return
        cause_text = request.get("Cause") or "16"
        cause = int(cause_text) if cause_text.isdigit() else 16
        self.pbx.spawn(self.pbx.hangup(ch, cause, "SoftHangupRequest"), f"ami hangup {ch.name}")
        await asyncio.sleep(0)
        self.ack(request, "Channel Hungup")

    async def setvar(self, request: AmiMessage) -> None:
        variable = request.get("Variable") or ""
        if not variable:
            self.error(request, "No variable specified")
            return
        ch = None
        if request.get("Channel"):
            ch = self.channel_arg(request)
            if ch is None:
                self.error(request, "No such channel")
                return
        value = request.get("Value") or ""
        upper = variable.upper()
        if ch is not None and upper in ("CALLERID(NUM)", "CALLERID(NAME)"):
            self.pbx.set_callerid(ch, **{upper[9:-1].lower(): value})
        else:
            self.pbx.set_var(ch, variable, value)
        self.ack(request, "Variable Set")

    async def getvar(self, request: AmiMessage) -> None:
        variable = request.get("Variable") or ""
        if not variable:
            self.error(request, "No variable specified")
            return
        if request.get("Channel"):
            ch = self.channel_arg(request)
            if ch is None:
                self.error(request, "No such channel")
                return
            resolver = Variables(self.pbx, ch)
            try:
                if variable.endswith(")") and "(" in variable:
                    name, _, args = variable[:-1].partition("(")
                    value = resolver.function(name.upper(), args)
                else:
                    value = resolver.variable(variable)
            except DialplanError:
                value = ""
        elif variable.endswith(")"):
            self.error(request, "No channel specified")
            return
        else:
            value = self.pbx.globals.get(variable, "")
        self.respond(request, "Success", ("Variable", variable), ("Value", value))

    async def bridge(self, request: AmiMessage) -> None:
        one, two = request.get("Channel1") or "", request.get("Channel2") or ""
        if not one or not two:
            self.error(request, "Missing channel parameter in request")
            return
        a, b = self.pbx.channel(one), self.pbx.channel(two)
        if a is None:
            self.error(request, f"Channel1 does not exist: {one}")
            return
        if b is None:
            self.error(request, f"Channel2 does not exist: {two}")
            return
        await self.pbx.bridge_channels(a, b)
        self.ack(request, "Channels have been bridged")

    def transfer_target(self, request: AmiMessage, invalid: str) -> tuple[LiveChannel, str, str] | None:
        """(bridged channel, context, exten) of a BlindTransfer or Atxfer, or None after replying
        with Asterisk's error (`invalid` when the channel is not bridged or the target unknown)."""
        if not request.get("Channel"):
            self.error(request, "No channel specified")
            return None
        exten = request.get("Exten") or ""
        if not exten:
            self.error(request, "No extension specified")
            return None
        ch = self.channel_arg(request)
        if ch is None:
            self.error(request, "Channel specified does not exist")
            return None
        context = request.get("Context") or ch.context
        if ch.bridge is None or self.pbx.dialplan.extension(context, exten) is None:
            self.error(request, invalid)
            return None
        return ch, context, exten

    async def blind_transfer(self, request: AmiMessage) -> None:
        if (target := self.transfer_target(request, "Transfer invalid")) is None:
            return
        await self.pbx.blind_transfer(*target)
        self.ack(request, "Transfer succeeded")

    async def atxfer(self, request: AmiMessage) -> None:
        if (target := self.transfer_target(request, "Atxfer failed")) is None:
            return
        self.pbx.spawn(self.pbx.attended_transfer(*target), f"atxfer {target[0].name}")
        self.ack(request, "Atxfer successfully queued")

    async def mixmonitor(self, request: AmiMessage) -> None:
        ch = self.required_channel(request)
        if ch is None:
            return
        file = request.get("File") or f"{ch.uniqueid}.wav"
        rec = self.pbx.start_recorder(ch, file, request.get("Options") or "")
        self.respond(request, "Success", ("MixMonitorID", rec.id))

    async def stop_mixmonitor(self, request: AmiMessage) -> None:
        ch = self.required_channel(request)
        if ch is None:
            return
        wanted = request.get("MixMonitorID")
        recs = [r for r in ch.recorders if wanted in (None, "", r.id)]
        if not recs:
            self.error(request, "Could not stop monitoring channel")
            return
        for rec in recs:
            self.pbx.stop_recorder(ch, rec)
        self.ack(request)

    async def mixmonitor_mute(self, request: AmiMessage) -> None:
        if not request.get("Channel"):
            self.error(request, "No channel specified")
            return
        direction = (request.get("Direction") or "").lower()
        if not direction:
            self.error(request, "No direction specified. Must be read, write or both")
            return
        if direction not in ("read", "write", "both"):
            self.error(request, "Invalid direction specified. Must be read, write or both")
            return
        ch = self.channel_arg(request)
        if ch is None:
            self.error(request, "No such channel")
            return
        if not ch.recorders:
            self.error(request, "Cannot set mute flag")
            return
        state = (request.get("State") or "0").strip().lower() in ("1", "true", "yes", "on")
        for rec in ch.recorders:
            rec.mutes.append((self.pbx.clock.now(), direction, state))
        self.pbx.emit(AmiEvent("MixMonitorMute", "call", [*snapshot(ch), ("Direction", direction),
                                                           ("State", "1" if state else "0")]))
        self.ack(request)

    async def play_dtmf(self, request: AmiMessage) -> None:
        ch = self.channel_arg(request)
        if ch is None:
            self.error(request, "Channel not found")
            return
        digit = request.get("Digit") or ""
        if not digit:
            self.error(request, "No digit specified")
            return
        if digit[0] not in DTMF_DIGITS:
            self.error(request, "Invalid digit specified")
            return
        duration_text = request.get("Duration") or "250"
        duration = int(duration_text) if duration_text.isdigit() else 250
        receive = (request.get("Receive") or "").lower() in ("true", "yes", "1", "on")
        self.pbx.spawn(self.pbx.send_dtmf(ch, digit[0], received=receive, duration_ms=duration), f"dtmf {ch.name}")
        self.ack(request, "DTMF successfully queued")

    async def pjsip_notify(self, request: AmiMessage) -> None:
        # res_pjsip_notify's manager_notify: exactly one of Option / Variable, exactly one of
        # Endpoint / URI / Channel; the NOTIFY goes out on a task and the ack does not wait for it.
        endpoint = request.get("Endpoint") or ""
        uri = request.get("URI") or ""
        channel = request.get("Channel") or ""
        option = request.get("Option") or ""
        headers = _variables(request)
        if bool(option) == bool(request.get("Variable")):
            self.error(request, "PJSIPNotify requires either an Option or Variable(s).You must use only one of them.")
            return
        if sum(1 for target in (endpoint, uri, channel) if target) != 1:
            self.error(request, "PJSIPNotify requires either an endpoint name, a SIP URI, or a channel."
                       + ("  You must use only one of them." if endpoint or uri or channel else ""))
            return
        if option:
            # asterisk_conf/ has no pjsip_notify.conf, so no notify type is defined.
            self.error(request, f"Unable to find notify type '{option}'")
            return
        if endpoint:
            for prefix in ("sip/", "pjsip/"):
                if endpoint.lower().startswith(prefix):
                    endpoint = endpoint[len(prefix):]
            if endpoint not in self.pbx.endpoint_contexts:
                self.error(request, f"Unable to retrieve endpoint {endpoint}")
                return
        elif channel:
            ch = self.pbx.channel(channel)
            if ch is None or ch.tech != "PJSIP":
                self.error(request, f"Channel {channel} not found")
                return
            endpoint = ch.endpoint
        self.ack(request, "NOTIFY sent")
        if endpoint:  # a bare URI reaches no emulated phone
            self.pbx.phone_notify(endpoint, headers)

    # -- lists, commands, user events -----------------------------------------------------------

    async def core_show_channels(self, request: AmiMessage) -> None:
        self.respond(request, "Success", ("EventList", "start"), message="Channels will follow")
        aid = [("ActionID", request.action_id)] if request.action_id else []
        now = self.pbx.clock.now()
        channels = list(self.pbx.channels.values())
        for ch in channels:
            seconds = int(now - ch.created_at)
            duration = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
            self.write(bytes(AmiMessage.event("CoreShowChannel", [
                *aid, *self.pbx.with_chanvars(snapshot(ch)), ("Application", ch.application), ("ApplicationData", ch.appdata),
                ("Duration", duration), ("BridgeId", ch.bridge.uniqueid if ch.bridge else ""),
            ])))
        self.write(bytes(AmiMessage.event("CoreShowChannelsComplete", [
            *aid, ("EventList", "Complete"), ("ListItems", str(len(channels))),
        ])))

    async def status(self, request: AmiMessage) -> None:
        if request.get("Channel"):
            one = self.channel_arg(request)
            if one is None:
                self.error(request, "No such channel")
                return
            channels = [one]
        else:
            channels = list(self.pbx.channels.values())
        self.respond(request, "Success", ("EventList", "start"), message="Channel status will follow")
        aid = [("ActionID", request.action_id)] if request.action_id else []
        now = self.pbx.clock.now()
        for ch in channels:
            self.write(bytes(AmiMessage.event("Status", [
                ("Privilege", "Call"), *self.pbx.with_chanvars(snapshot(ch)), ("Type", ch.tech), ("DNID", ch.dnid),
                ("EffectiveConnectedLineNum", ch.connected_num or "<unknown>"),
                ("EffectiveConnectedLineName", ch.connected_name or "<unknown>"),
                ("TimeToHangup", "0"), ("BridgeID", ch.bridge.uniqueid if ch.bridge else ""),
                ("Application", ch.application), ("Data", ch.appdata), ("Nativeformats", "(alaw)"),
                ("Readformat", "alaw"), ("Readtrans", ""), ("Writeformat", "alaw"), ("Writetrans", ""),
                ("Callgroup", "0"), ("Pickupgroup", "0"), ("Seconds", str(int(now - ch.created_at))), *aid,
            ])))
        self.write(bytes(AmiMessage.event("StatusComplete", [
            *aid, ("EventList", "Complete"), ("ListItems", str(len(channels))), ("Items", str(len(channels))),
        ])))

    async def command(self, request: AmiMessage) -> None:
        cli = " ".join((request.get("Command") or "").split())
        if cli.lower() == "core show version":
            self.respond(request, "Success", ("Message", "Command output follows"),
                         ("Output", f"Asterisk {ASTERISK_VERSION} built by callcenter-emulator @ localhost on a "
                                    "x86_64 running Linux"))
            return
        word = cli.split(" ", 1)[0] if cli else ""
        self.respond(request, "Error", ("Message", "Command output follows"),
                     ("Output", f"No such command '{cli}' (type 'core show help {word}' for other possible commands)"))

    async def user_event(self, request: AmiMessage) -> None:
        name = request.get("UserEvent") or ""
        if not name:
            self.error(request, "Missing UserEvent")
            return
        body = [(k, v) for k, v in request.headers if k.lower() not in ("action", "actionid", "userevent")]
        self.ack(request, "Event Sent")
        self.pbx.emit(AmiEvent("UserEvent", "user", [("UserEvent", name), *body]))


def _variables(request: AmiMessage) -> list[tuple[str, str]]:
    """`Variable: a=1,b=2` headers (any number of them) as astman_get_variables reads them."""
    variables = []
    for header in request.get_all("Variable"):
        for pair in header.split(","):
            key, _, value = pair.partition("=")
            if key.strip():
                variables.append((key.strip(), value))
    return variables


def _parse_callerid(value: str) -> tuple[str, str]:
    """`"Name" <num>` / `Name <num>` / `num` -> (name, num), as ast_callerid_parse reads them."""
    value = value.strip()
    if "<" in value and value.endswith(">"):
        name, _, num = value[:-1].partition("<")
        return name.strip().strip('"'), num.strip()
    if value.replace("+", "").isdigit():
        return "", value
    return value.strip('"'), ""


# name (lower case) -> (write classes any one of which allows it; empty: no permission needed)
ACTIONS: dict[str, tuple[frozenset[str], Handler]] = {
    "login": (frozenset(), AmiSession.login),
    "challenge": (frozenset(), AmiSession.challenge_action),
    "logoff": (frozenset(), AmiSession.logoff),
    "ping": (frozenset(), AmiSession.ping),
    "events": (frozenset(), AmiSession.events),
    "originate": (frozenset({"originate"}), AmiSession.originate),
    "redirect": (frozenset({"call"}), AmiSession.redirect),
    "hangup": (frozenset({"system", "call"}), AmiSession.hangup),
    "setvar": (frozenset({"call"}), AmiSession.setvar),
    "getvar": (frozenset({"call", "reporting"}), AmiSession.getvar),
    "bridge": (frozenset({"call"}), AmiSession.bridge),
    "blindtransfer": (frozenset({"call"}), AmiSession.blind_transfer),
    "atxfer": (frozenset({"call"}), AmiSession.atxfer),
    "mixmonitor": (frozenset({"system"}), AmiSession.mixmonitor),
    "stopmixmonitor": (frozenset({"system", "call"}), AmiSession.stop_mixmonitor),
    "mixmonitormute": (frozenset({"system", "call"}), AmiSession.mixmonitor_mute),
    "playdtmf": (frozenset({"call"}), AmiSession.play_dtmf),
    "pjsipnotify": (frozenset({"system"}), AmiSession.pjsip_notify),
    "coreshowchannels": (frozenset({"system", "reporting"}), AmiSession.core_show_channels),
    "status": (frozenset({"system", "call", "reporting"}), AmiSession.status),
    "command": (frozenset({"command"}), AmiSession.command),
    "userevent": (frozenset({"user"}), AmiSession.user_event),
}
