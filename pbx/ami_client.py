"""The AMI connection: login, actions matched to replies, lists, keepalive, reconnect, events.

Built on the sans-I/O codec in `pbx.ami` and asyncio streams; panoramisk is not used (see
docs/decisions/0002-ami-client.md). The promises this module keeps:

- An action is written once. When the connection drops before its reply, the caller gets
  `AmiConnectionLost`; it is never re-sent, because an `Originate` or a `Redirect` may already
  have run. Deciding whether to retry is the caller's job.
- Replies are matched by ActionID, never by order or wording. A list action is complete when an
  event with its ActionID carries `EventList: Complete`.
- Events reach each subscriber in wire order through a bounded queue. When a subscriber's queue is
  full the reader waits for room up to `full_wait_s` (short bursts are absorbed by back-pressure);
  if it is still full, that subscription ends with `AmiSubscriberOverflow` once its queued events
  are consumed. A subscriber therefore either sees every event or learns that it did not; the
  connection is never held up for long by one slow consumer.
- After a drop, subscribers get a local `Event: Disconnected`; after the next successful login,
  `Event: Reconnected` (both with `Privilege: local`), so they can resynchronise state
  (`CoreShowChannels`, `QueueStatus`) for what happened while the link was down.
- Secrets never reach a log: wire bytes are logged at DEBUG under `callcenter.wire.ami` with the
  values of `Secret` and `Key` replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from callcenter.errors import CallCtlError
from callcenter.settings import AmiSettings
from pbx.ami import AmiDecodeError, AmiDecoder, AmiKind, AmiMessage, HeaderValue, make_action, redact

logger = logging.getLogger(__name__)
wire_logger = logging.getLogger("callcenter.wire.ami")

DISCONNECTED = "Disconnected"
RECONNECTED = "Reconnected"
LOCAL_PRIVILEGE = "local"
_READ_SIZE = 64 * 1024


class AmiError(CallCtlError):
    """Base of the AMI client's errors."""


class AmiActionError(AmiError):
    """Asterisk answered an action with `Response: Error`. `message` is its `Message` header."""

    def __init__(self, action: str, action_id: str, reply: AmiMessage) -> None:
        self.action = action
        self.action_id = action_id
        self.reply = reply
        self.message = reply.get("Message", "") or ""
        super().__init__(f"AMI action {action!r} (ActionID {action_id!r}) failed: {self.message}")


class AmiActionTimeout(AmiError, TimeoutError):
    """No (complete) reply within the action timeout. The action may still have run."""


class AmiConnectionLost(AmiError, ConnectionError):
    """The connection dropped, or was not up, before the action was answered."""


class AmiLoginError(AmiError):
    """Asterisk refused the login."""


class AmiSubscriberOverflow(AmiError):
    """A subscriber fell behind by more than its queue and `full_wait_s`; events were lost to it."""


@dataclass(eq=False)
class _Pending:
    name: str
    is_list: bool
    connection: int  # which connection it was written on
    future: asyncio.Future[list[AmiMessage]]
    items: list[AmiMessage] = field(default_factory=list)


class AmiSubscription:
    """Async iterator over events, in wire order. Use `async with` or call `close()` to stop."""

    _END = object()

    def __init__(self, client: AmiClient, maxsize: int, names: frozenset[str] | None, full_wait_s: float) -> None:
        self._client = client
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self._names = names
        self._full_wait_s = full_wait_s
        self._end: AmiError | None = None
        self._ended = False

    def wants(self, message: AmiMessage) -> bool:
        return self._names is None or message.name.lower() in self._names

    async def deliver(self, message: AmiMessage) -> None:
        if self._ended:
            return
        try:
            self._queue.put_nowait(message)
            return
        except asyncio.QueueFull:
            pass
        try:
            await asyncio.wait_for(self._queue.put(message), self._full_wait_s)
        except TimeoutError:
            logger.warning(
                "AMI subscriber overflow: %d events queued, none taken for %.1f s; ending it",
                self._queue.maxsize,
                self._full_wait_s,
            )
            self.end(
                AmiSubscriberOverflow(
                    f"AMI subscriber fell behind by more than {self._queue.maxsize} events for "
                    f"{self._full_wait_s} s; events were lost from {message.name!r} on"
                )
            )

    def end(self, error: AmiError | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        self._end = error
        self._client._subscriptions.discard(self)
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(self._END)  # wakes a reader waiting on an empty queue

    def close(self) -> None:
        self.end()

    def __aiter__(self) -> AsyncIterator[AmiMessage]:
        return self

    async def __anext__(self) -> AmiMessage:
        if self._ended and self._queue.empty():
            raise self._end or StopAsyncIteration
        item = await self._queue.get()
        if item is self._END:
            raise self._end or StopAsyncIteration
        assert isinstance(item, AmiMessage)
        return item

    async def __aenter__(self) -> AmiSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class AmiClient:
    """One AMI session to one Asterisk, kept up until `close()`.

    `connect()` raises if the first connection or login fails; after that, drops are repaired in
    the background with exponential backoff (from `reconnect_min_s` doubling to `reconnect_max_s`,
    each delay drawn uniformly from its upper half so many clients do not reconnect in step).
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        auth: Literal["md5", "plain"] = "md5",
        action_timeout_s: float = 10.0,
        ping_interval_s: float = 20.0,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        if auth not in ("md5", "plain"):
            raise ValueError(f"AMI auth {auth!r} is not 'md5' or 'plain'")
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.auth = auth
        self.action_timeout_s = action_timeout_s
        self.ping_interval_s = ping_interval_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.connect_timeout_s = connect_timeout_s
        self._rng = rng or random.Random()
        # A per-client prefix keeps ActionIDs unique across clients sharing one Asterisk.
        self._ids = (f"{secrets.token_hex(4)}-{n}" for n in itertools.count(1))
        self._pending: dict[str, _Pending] = {}
        self._subscriptions: set[AmiSubscription] = set()
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connection = 0  # counts connections opened; tags pending actions
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._closing = False
        self.version: str | None = None
        self.connections = 0  # successful logins so far

    @classmethod
    def from_settings(cls, ami: AmiSettings) -> AmiClient:
        return cls(
            ami.host,
            ami.port,
            ami.username,
            ami.secret,
            auth="plain" if ami.auth == "plain" else "md5",
            action_timeout_s=ami.action_timeout_s,
            ping_interval_s=ami.ping_interval_s,
            reconnect_min_s=ami.reconnect_min_s,
            reconnect_max_s=ami.reconnect_max_s,
            connect_timeout_s=ami.connect_timeout_s,
        )

    # -- lifecycle ------------------------------------------------------------------------------

    async def connect(self) -> None:
        await self._open()
        self._spawn(self._supervise(), "ami-supervisor")

    async def close(self) -> None:
        """Log off when possible, close the socket, fail pending actions, end subscriptions."""
        if self._closing:
            return
        self._closing = True
        if self._connected.is_set():
            with contextlib.suppress(AmiError, OSError):
                await self._send("Logoff", {}, is_list=False, timeout_s=min(self.action_timeout_s, 2.0))
        self._drop_connection()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._fail_pending("the client was closed")
        for subscription in list(self._subscriptions):
            subscription.end()

    @property
    def is_connected(self) -> bool:
        return self._connected.is_set()

    # -- actions --------------------------------------------------------------------------------

    async def send_action(self, name: str, **headers: HeaderValue) -> AmiMessage:
        """Send one action; return its `Success` reply. Raises `AmiActionError` on `Response: Error`,
        `AmiActionTimeout`, or `AmiConnectionLost` (the action is not re-sent)."""
        (reply,) = await self._send(name, headers, is_list=False, timeout_s=self.action_timeout_s)
        return reply

    async def send_list_action(self, name: str, **headers: HeaderValue) -> list[AmiMessage]:
        """Send a list action (`CoreShowChannels`, `QueueStatus`, ...); return its item events,
        collected until the event with `EventList: Complete` (which is not included)."""
        return await self._send(name, headers, is_list=True, timeout_s=self.action_timeout_s)

    def subscribe(
        self, maxsize: int = 10_000, *, names: Iterable[str] | None = None, full_wait_s: float = 1.0
    ) -> AmiSubscription:
        """Events from now on (optionally only those `names`), plus the local Disconnected and
        Reconnected events. See the module docstring for the slow-subscriber policy."""
        wanted = None if names is None else frozenset(n.lower() for n in (*names, DISCONNECTED, RECONNECTED))
        subscription = AmiSubscription(self, maxsize, wanted, full_wait_s)
        self._subscriptions.add(subscription)
        return subscription

    async def _send(
        self, name: str, headers: dict[str, HeaderValue], *, is_list: bool, timeout_s: float, login: bool = False
    ) -> list[AmiMessage]:
        deadline = time.monotonic() + timeout_s
        if not login and not self._connected.is_set():
            if self._closing:
                raise AmiConnectionLost(f"AMI action {name!r} not sent: the client is closed")
            try:
                await asyncio.wait_for(self._connected.wait(), timeout_s)
            except TimeoutError:
                raise AmiConnectionLost(
                    f"AMI action {name!r} not sent: not connected to {self.host}:{self.port} within {timeout_s} s"
                ) from None
        action_id = next(self._ids)
        data = make_action(name, headers, action_id).encode()
        writer = self._writer
        if writer is None:
            raise AmiConnectionLost(f"AMI action {name!r} not sent: not connected to {self.host}:{self.port}")
        pending = _Pending(name, is_list, self._connection, asyncio.get_running_loop().create_future())
        self._pending[action_id] = pending
        if wire_logger.isEnabledFor(logging.DEBUG):
            wire_logger.debug("ami %s:%s send %r", self.host, self.port, redact(data))
        writer.write(data)
        try:
            return await asyncio.wait_for(pending.future, max(deadline - time.monotonic(), 0))
        except TimeoutError:
            raise AmiActionTimeout(
                f"AMI action {name!r} (ActionID {action_id!r}) got no complete reply within {timeout_s} s"
            ) from None
        finally:
            self._pending.pop(action_id, None)

    # -- connection -----------------------------------------------------------------------------

    async def _open(self) -> None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.connect_timeout_s)
        self._writer = writer
        self._connection += 1
        self._lost.clear()
        self._spawn(self._read_loop(reader, writer, self._connection), "ami-reader")
        try:
            await self._login()
        except BaseException:
            self._drop_connection()
            raise
        self.connections += 1
        logger.info("ami %s:%s: logged in as %s (AMI %s)", self.host, self.port, self.username, self.version)
        self._connected.set()
        self._spawn(self._keepalive(writer), "ami-keepalive")

    async def _login(self) -> None:
        timeout = self.connect_timeout_s
        try:
            if self.auth == "md5":
                (challenge,) = await self._send(
                    "Challenge", {"AuthType": "MD5"}, is_list=False, timeout_s=timeout, login=True
                )
                answer = (challenge.get("Challenge") or "") + self._secret
                key = hashlib.md5(answer.encode(), usedforsecurity=False).hexdigest()
                login: dict[str, HeaderValue] = {"AuthType": "MD5", "Username": self.username, "Key": key}
            else:
                login = {"Username": self.username, "Secret": self._secret}
            await self._send("Login", login, is_list=False, timeout_s=timeout, login=True)
        except AmiActionError as exc:
            raise AmiLoginError(
                f"AMI login to {self.host}:{self.port} as {self.username!r} failed: {exc.message}"
            ) from None

    def _drop_connection(self) -> None:
        writer, self._writer = self._writer, None
        self._connected.clear()
        if writer is not None:
            writer.transport.abort()

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: int) -> None:
        decoder = AmiDecoder()
        reason = "the peer closed the connection"
        try:
            while data := await reader.read(_READ_SIZE):
                if wire_logger.isEnabledFor(logging.DEBUG):
                    wire_logger.debug("ami %s:%s recv %r", self.host, self.port, redact(data))
                while True:
                    try:
                        messages = decoder.feed(data)
                    except AmiDecodeError as exc:
                        logger.error("ami %s:%s: %s; message skipped", self.host, self.port, exc)
                        await self._dispatch(exc.messages)
                        data = b""
                        continue
                    await self._dispatch(messages)
                    break
        except OSError as exc:
            reason = f"read failed: {exc}"
        finally:
            if self._writer is writer:
                self._drop_connection()
            if not self._closing:
                logger.warning("ami %s:%s: connection lost: %s", self.host, self.port, reason)
            self._fail_pending(f"the connection to {self.host}:{self.port} was lost ({reason})", connection)
            if connection == self._connection:
                self._lost.set()

    async def _dispatch(self, messages: list[AmiMessage]) -> None:
        # An event's ActionID matters only while a list action collects its items; skipping the
        # lookup otherwise keeps dispatch close to the decoder's speed. Replies to actions sent
        # while this batch is dispatched cannot be in this batch, so checking once is enough.
        lists_pending = any(p.is_list for p in self._pending.values())
        for message in messages:
            kind = message.kind
            if kind is AmiKind.EVENT and not lists_pending:
                await self._publish(message)
                continue
            action_id = message.action_id
            pending = self._pending.get(action_id) if action_id is not None else None
            if kind is AmiKind.RESPONSE:
                if pending is None:
                    logger.warning(
                        "ami %s:%s: reply for unknown or timed-out ActionID %r: %r",
                        self.host, self.port, action_id, message,
                    )  # fmt: skip
                else:
                    self._on_reply(action_id or "", pending, message)
            elif kind is AmiKind.EVENT:
                if pending is not None and pending.is_list:
                    self._on_list_event(pending, message)
                else:
                    await self._publish(message)
            elif kind is AmiKind.BANNER:
                self.version = message.name
            else:
                logger.warning("ami %s:%s: unexpected %s from the server: %r", self.host, self.port, kind, message)

    def _on_reply(self, action_id: str, pending: _Pending, reply: AmiMessage) -> None:
        if pending.future.done():
            return
        if reply.name.lower() == "error":
            pending.future.set_exception(AmiActionError(pending.name, action_id, reply))
        elif not (pending.is_list and (reply.get("EventList") or "").lower() == "start"):
            # A list action's "EventList: start" reply only acknowledges it; its events follow.
            pending.future.set_result([reply] if not pending.is_list else [])

    @staticmethod
    def _on_list_event(pending: _Pending, event: AmiMessage) -> None:
        if (event.get("EventList") or "").lower() == "complete":
            if not pending.future.done():
                pending.future.set_result(pending.items)
        else:
            pending.items.append(event)

    async def _publish(self, event: AmiMessage) -> None:
        for subscription in list(self._subscriptions):
            if subscription.wants(event):
                await subscription.deliver(event)

    def _fail_pending(self, why: str, connection: int | None = None) -> None:
        for action_id, one in list(self._pending.items()):
            if connection is not None and one.connection != connection:
                continue
            del self._pending[action_id]
            if not one.future.done():
                one.future.set_exception(
                    AmiConnectionLost(
                        f"AMI action {one.name!r} (ActionID {action_id!r}) has no reply: {why}; "
                        "it was not re-sent and may have run"
                    )
                )

    async def _keepalive(self, writer: asyncio.StreamWriter) -> None:
        while self._writer is writer:
            await asyncio.sleep(self.ping_interval_s)
            if self._writer is not writer:
                return
            try:
                await self._send("Ping", {}, is_list=False, timeout_s=self.action_timeout_s)
            except AmiActionTimeout:
                logger.warning(
                    "ami %s:%s: no Pong within %s s; reconnecting", self.host, self.port, self.action_timeout_s
                )
                if self._writer is writer:
                    self._drop_connection()
                return
            except AmiError:
                return

    async def _supervise(self) -> None:
        while not self._closing:
            await self._lost.wait()
            if self._closing:
                return
            down_since = time.monotonic()
            await self._publish(AmiMessage.event(DISCONNECTED, {"Privilege": LOCAL_PRIVILEGE}))
            delay = self.reconnect_min_s
            while not self._closing:
                await asyncio.sleep(self._rng.uniform(delay / 2, delay))
                try:
                    await self._open()
                    break
                except (OSError, TimeoutError, AmiError) as exc:
                    logger.warning(
                        "ami %s:%s: reconnect failed (%s); next try within %.1f s",
                        self.host, self.port, exc or type(exc).__name__, min(delay * 2, self.reconnect_max_s),
                    )  # fmt: skip
                    delay = min(delay * 2, self.reconnect_max_s)
            else:
                return
            downtime = time.monotonic() - down_since
            await self._publish(
                AmiMessage.event(RECONNECTED, {"Privilege": LOCAL_PRIVILEGE, "Downtime": f"{downtime:.3f}"})
            )

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
