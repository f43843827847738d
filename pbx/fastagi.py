"""The FastAGI server: Asterisk connects here from ``AGI(agi://host:4573/<script>)``.

One connection is one AGI session. The server reads the environment (bounded in size and time),
picks the handler registered for the script name (``agi://host/ivr?x=1`` -> route ``"ivr"``) and
gives it an `AgiSession` to send commands on. The caller hanging up (``HANGUP``, ``511``, EOF) is
the normal end of a session and reaches the handler as `AgiHangup`.

Rule 1: nothing here blocks the loop. Every read is awaited under a timeout; a peer that sends
half an environment, or nothing, is closed after `header_timeout_s` and costs no CPU meanwhile.
Rule 2: the connection handler is the one place that catches `Exception`: it logs with
`logger.exception` and closes the connection. `CancelledError` always propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

from callcenter.errors import CallCtlError, RemoteProtocolError
from pbx.agi import AgiEnvDecoder, AgiEnvironment, AgiReply, AgiReplyDecoder, encode_command

logger = logging.getLogger(__name__)
wire_logger = logging.getLogger("callcenter.wire.agi")

READ_CHUNK = 4096


class AgiHangup(CallCtlError):
    """The caller hung up: Asterisk sent ``HANGUP`` or ``511``, or closed the connection."""


class AgiCommandError(CallCtlError):
    """Asterisk rejected a command (510 unknown command, 520 wrong syntax)."""

    def __init__(self, message: str, reply: AgiReply) -> None:
        super().__init__(message)
        self.reply = reply


class AgiTimeout(CallCtlError):
    """No reply to a command within the command timeout; the session is closed."""


class AgiSession:
    """One AGI conversation: send a command, await its reply.

    Commands are serialised (a lock), so two coroutines sharing a session cannot read each
    other's replies. After a hangup, `send` raises `AgiHangup` without writing.
    """

    def __init__(
        self,
        env: AgiEnvironment,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        command_timeout_s: float,
        pending: bytes = b"",
    ) -> None:
        self.env = env
        self.hung_up = False
        self._reader = reader
        self._writer = writer
        self._timeout_s = command_timeout_s
        self._decoder = AgiReplyDecoder()
        self._replies: deque[AgiReply] = deque(self._decoder.feed(pending))
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def _id(self) -> str:
        return self.env.uniqueid or self.env.channel or "?"

    async def send(self, command: str, *args: str, timeout_s: float | None = None) -> AgiReply:
        """Send `command` with `args` and return Asterisk's 200 reply.

        Raises `AgiHangup` when the caller hung up, `AgiCommandError` for 510/520 and
        `AgiTimeout` (closing the session) when no reply comes within the timeout.
        """
        line = encode_command(command, *args)
        limit_s = self._timeout_s if timeout_s is None else timeout_s
        async with self._lock:
            if self.hung_up or self._closed:
                raise AgiHangup(f"AGI {self._id}: {command} not sent, the call is over")
            wire_logger.debug("AGI %s >> %r", self._id, line)
            try:
                self._writer.write(line)
                await self._writer.drain()
                async with asyncio.timeout(limit_s):
                    reply = await self._next_reply()
            except TimeoutError:
                await self.close()
                raise AgiTimeout(f"AGI {self._id}: no reply to {command} within {limit_s}s") from None
            except (ConnectionError, asyncio.IncompleteReadError):
                self.hung_up = True
                raise AgiHangup(f"AGI {self._id}: connection closed during {command}") from None
            except RemoteProtocolError:
                await self.close()  # the reply stream is out of step; nothing after it can be trusted
                raise
        if reply.is_hangup or reply.code == 511:
            self.hung_up = True
            raise AgiHangup(f"AGI {self._id}: caller hung up during {command} ({reply.text or 'HANGUP'})")
        if reply.code != 200:
            raise AgiCommandError(f"AGI {self._id}: {command} failed: {reply.code} {reply.text}", reply)
        return reply

    async def _next_reply(self) -> AgiReply:
        while not self._replies:
            data = await self._reader.read(READ_CHUNK)
            if not data:
                raise asyncio.IncompleteReadError(b"", None)
            wire_logger.debug("AGI %s << %r", self._id, data)
            self._replies.extend(self._decoder.feed(data))
        return self._replies.popleft()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()


Handler = Callable[[AgiSession], Awaitable[None]]


class FastAgiServer:
    """Accepts FastAGI connections and runs the handler routed by script name."""

    def __init__(
        self,
        routes: Mapping[str, Handler],
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        header_timeout_s: float = 5.0,
        command_timeout_s: float = 60.0,
    ) -> None:
        self._routes = dict(routes)
        self._host = host
        self._port = port
        self._header_timeout_s = header_timeout_s
        self._command_timeout_s = command_timeout_s
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def port(self) -> int:
        """The bound port (useful with port 0); the configured one before `start`."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._stopping = False
        self._server = await asyncio.start_server(self._accept, self._host, self._port)
        logger.info("FastAGI listening on %s:%d, routes %s", self._host, self.port, sorted(self._routes))

    async def stop(self) -> None:
        """Stop listening and end every running session (handlers see CancelledError)."""
        if self._server is not None:
            self._server.close()
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Only now: from Python 3.12 on, wait_closed also waits for the connections to end.
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # Precondition: asyncio runs callbacks of start_server as tasks
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # NOTE(lead): a session cancelled by stop() ends here quietly. On Python 3.11 the
            # stream protocol's done-callback calls task.exception() and logs "Exception in
            # callback" for a cancelled connection task; the handler already saw the cancellation.
        finally:
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        decoder = AgiEnvDecoder()
        env: AgiEnvironment | None = None
        try:
            async with asyncio.timeout(self._header_timeout_s):
                while env is None:
                    data = await reader.read(READ_CHUNK)
                    if not data:
                        logger.info("FastAGI %s: closed before the environment was complete", peer)
                        break
                    env = decoder.feed(data)
        except TimeoutError:
            logger.warning("FastAGI %s: no complete environment within %ss; closing", peer, self._header_timeout_s)
        except RemoteProtocolError as exc:
            logger.warning("FastAGI %s: %s; closing", peer, exc)
        except ConnectionError as exc:
            logger.info("FastAGI %s: connection lost before the environment: %s", peer, exc)
        if env is None:
            writer.close()
            return
        session = AgiSession(
            env, reader, writer, command_timeout_s=self._command_timeout_s, pending=decoder.unused_data
        )
        try:
            await self._run(session)
        finally:
            await session.close()

    async def _run(self, session: AgiSession) -> None:
        env = session.env
        handler = self._routes.get(env.script_name or "")
        if handler is None:
            logger.warning(
                "FastAGI %s: no route for script %r (request %r); closing",
                env.uniqueid,
                env.network_script,
                env.request,
            )
            return
        logger.info("FastAGI %s: %s on %s from %r", env.uniqueid, env.script_name, env.channel, env.callerid)
        try:
            await handler(session)
        except AgiHangup as exc:
            logger.info("FastAGI %s: session ended by hangup: %s", env.uniqueid, exc)
        except AgiTimeout as exc:
            logger.warning("FastAGI %s: %s", env.uniqueid, exc)
        except Exception:
            logger.exception("FastAGI %s: handler for %r failed; closing the session", env.uniqueid, env.script_name)
        else:
            logger.info("FastAGI %s: session done", env.uniqueid)
