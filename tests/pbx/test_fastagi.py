"""The FastAGI server on a real socket, with the test playing Asterisk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pbx.agi import AgiEnvironment, AgiReply, encode_environment, parse_command_line
from pbx.fastagi import AgiCommandError, AgiHangup, AgiSession, AgiTimeout, FastAgiServer

ENV = AgiEnvironment.for_request(
    "agi://127.0.0.1:4573/ivr?lang=en",
    channel="PJSIP/trunk-00000001",
    uniqueid="1700000000.1",
    callerid="13800138000",
    dnid="10086",
    context="hotline",
    extension="10086",
    args=("vip",),
)

Handler = Callable[[AgiSession], Awaitable[None]]
PEERS: list[Asterisk] = []


class Asterisk:
    """The Asterisk side of one FastAGI connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, env: AgiEnvironment | None = ENV) -> Asterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        peer = cls(reader, writer)
        PEERS.append(peer)
        if env is not None:
            await peer.send(encode_environment(env))
        return peer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self) -> list[str]:
        async with asyncio.timeout(2):
            return parse_command_line(await self.reader.readuntil(b"\n"))

    async def closed(self, within_s: float = 2.0) -> bool:
        async with asyncio.timeout(within_s):
            return await self.reader.read(100) == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):  # the server may have reset it first
            await self.writer.wait_closed()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[FastAgiServer]]]:
    servers: list[FastAgiServer] = []

    async def start(routes: dict[str, Handler], **kwargs: float) -> FastAgiServer:
        server = FastAgiServer(routes, host="127.0.0.1", port=0, **kwargs)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()
    while PEERS:
        await PEERS.pop().close()


async def test_full_session(serve: Callable[..., Awaitable[FastAgiServer]]) -> None:
    seen: list[object] = []
    done = asyncio.Event()

    async def ivr(session: AgiSession) -> None:
        seen.append((session.env.script_name, session.env.callerid, session.env.dnis, session.env.args))
        seen.append(await session.send("ANSWER"))
        seen.append(await session.send("GET DATA", "custom/menu main", "5000", "1"))
        seen.append(await session.send("SET VARIABLE", "ACD_QUEUE", "vip billing"))
        done.set()

    server = await serve({"ivr": ivr})
    assert server.port != 0
    asterisk = await Asterisk.connect(server.port)
    assert await asterisk.command() == ["ANSWER"]
    await asterisk.send(b"200 result=0\n")
    assert await asterisk.command() == ["GET", "DATA", "custom/menu main", "5000", "1"]
    await asterisk.send(b"200 result=2 (timeout)\n")
    assert await asterisk.command() == ["SET", "VARIABLE", "ACD_QUEUE", "vip billing"]
    await asterisk.send(b"200 result=1\n")
    assert await asterisk.closed()  # the handler returned: the server ends the session
    assert done.is_set()
    assert seen == [
        ("ivr", "13800138000", "10086", ("vip",)),
        AgiReply(200, "0"),
        AgiReply(200, "2", "timeout"),
        AgiReply(200, "1"),
    ]


@pytest.mark.parametrize(
    ("asterisk_says", "close_after"),
    [(b"HANGUP\n", False), (b"511 Command Not Permitted on a dead channel or intercept routine\n", False), (b"", True)],
    ids=["HANGUP", "511", "EOF"],
)
async def test_hangup_mid_command_is_a_normal_end(
    serve: Callable[..., Awaitable[FastAgiServer]],
    caplog: pytest.LogCaptureFixture,
    asterisk_says: bytes,
    close_after: bool,
) -> None:
    outcome: list[object] = []
    finished = asyncio.Event()

    async def ivr(session: AgiSession) -> None:
        try:
            await session.send("STREAM FILE", "welcome", "")
        except AgiHangup as exc:
            outcome.append((session.hung_up, str(exc)))
            with pytest.raises(AgiHangup):  # nothing more goes out once the caller is gone
                await session.send("VERBOSE", "bye")
            raise
        finally:
            finished.set()

    caplog.set_level(logging.INFO, logger="pbx.fastagi")
    server = await serve({"ivr": ivr})
    asterisk = await Asterisk.connect(server.port)
    assert await asterisk.command() == ["STREAM", "FILE", "welcome", ""]
    await asterisk.send(asterisk_says)
    if close_after:
        await asterisk.close()
    else:
        assert await asterisk.closed()
    async with asyncio.timeout(2):
        await finished.wait()
    hung_up, message = outcome[0]  # type: ignore[misc]
    assert hung_up is True
    expected = {
        b"HANGUP\n": "AGI 1700000000.1: caller hung up during STREAM FILE (HANGUP)",
        b"511 Command Not Permitted on a dead channel or intercept routine\n": "AGI 1700000000.1: caller hung up during STREAM FILE (Command Not Permitted on a dead channel or intercept routine)",
        b"": "AGI 1700000000.1: connection closed during STREAM FILE",
    }[asterisk_says]
    assert message == expected
    for _ in range(50):  # the server logs the end after the handler has returned
        if any("session ended by hangup" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.01)
    assert f"FastAGI 1700000000.1: session ended by hangup: {expected}" in [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_reply_then_hangup_in_one_read(serve: Callable[..., Awaitable[FastAgiServer]]) -> None:
    results: list[object] = []

    async def ivr(session: AgiSession) -> None:
        results.append(await session.send("STREAM FILE", "welcome", "#"))
        try:
            await session.send("GET DATA", "menu")
        except AgiHangup:
            results.append("hangup")

    server = await serve({"ivr": ivr})
    asterisk = await Asterisk.connect(server.port)
    await asterisk.command()
    # Asterisk finishes the interrupted command, then announces the hangup, in one segment.
    await asterisk.send(b"200 result=-1 endpos=8000\nHANGUP\n")
    assert await asterisk.command() == ["GET", "DATA", "menu"]
    assert await asterisk.closed()
    assert results == [AgiReply(200, "-1", None, {"endpos": "8000"}), "hangup"]


async def test_command_errors_carry_the_reply(serve: Callable[..., Awaitable[FastAgiServer]]) -> None:
    errors: list[AgiCommandError] = []

    async def ivr(session: AgiSession) -> None:
        for command in ("FROB", "GET DATA"):
            try:
                await session.send(command)
            except AgiCommandError as exc:
                errors.append(exc)

    server = await serve({"ivr": ivr})
    asterisk = await Asterisk.connect(server.port)
    await asterisk.command()
    await asterisk.send(b"510 Invalid or unknown command\n")
    await asterisk.command()
    await asterisk.send(
        b"520-Invalid command syntax.  Proper usage follows:\nUsage: GET DATA <file>\n520 End of proper usage.\n"
    )
    assert await asterisk.closed()
    assert [str(e) for e in errors] == [
        "AGI 1700000000.1: FROB failed: 510 Invalid or unknown command",
        "AGI 1700000000.1: GET DATA failed: 520 Invalid command syntax.  Proper usage follows:",
    ]
    assert errors[1].reply.usage == "Usage: GET DATA <file>"


async def ticker(stop: asyncio.Event, gaps: list[float]) -> None:
    last = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(0.01)
        now = time.monotonic()
        gaps.append(now - last)
        last = now


@pytest.mark.parametrize(
    "first_bytes", [b"agi_network: yes\nagi_request: agi://h/ivr\n", b""], ids=["half-header", "nothing"]
)
async def test_silent_client_is_closed_after_the_header_timeout_and_the_loop_stays_responsive(
    serve: Callable[..., Awaitable[FastAgiServer]], caplog: pytest.LogCaptureFixture, first_bytes: bytes
) -> None:
    called = []

    async def ivr(session: AgiSession) -> None:
        called.append(session)

    server = await serve({"ivr": ivr}, header_timeout_s=0.3)
    stop, gaps = asyncio.Event(), []
    tick = asyncio.create_task(ticker(stop, gaps))
    cpu0, t0 = time.process_time(), time.monotonic()
    asterisk = await Asterisk.connect(server.port, env=None)
    await asterisk.send(first_bytes)
    assert await asterisk.closed(within_s=3)
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    stop.set()
    await tick
    assert 0.25 <= elapsed < 2.0
    assert max(gaps) < 0.2, f"the loop stalled for {max(gaps):.3f}s"
    assert len(gaps) >= 10
    assert cpu < 0.5 * elapsed + 0.1, f"{cpu:.3f}s CPU while waiting {elapsed:.3f}s"
    assert called == []
    assert any(r.getMessage().endswith("no complete environment within 0.3s; closing") for r in caplog.records)


async def test_garbage_is_closed_at_once(
    serve: Callable[..., Awaitable[FastAgiServer]], caplog: pytest.LogCaptureFixture
) -> None:
    async def ivr(session: AgiSession) -> None:
        raise AssertionError("not reached")

    server = await serve({"ivr": ivr}, header_timeout_s=5.0)
    asterisk = await Asterisk.connect(server.port, env=None)
    t0 = time.monotonic()
    await asterisk.send(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
    assert await asterisk.closed(within_s=2)
    assert time.monotonic() - t0 < 1.0  # not after the 5 s header timeout
    messages = [r.getMessage() for r in caplog.records if r.name == "pbx.fastagi"]
    assert any(
        m.endswith("AGI environment line 1: expected 'agi_<name>: <value>', got 'GET / HTTP/1.1'; closing")
        for m in messages
    )


async def test_unknown_script_is_closed(
    serve: Callable[..., Awaitable[FastAgiServer]], caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve({"ivr": lambda session: asyncio.sleep(0)})
    env = AgiEnvironment.for_request("agi://127.0.0.1/nosuch?x=1", channel="SIP/a-1", uniqueid="42.7")
    asterisk = await Asterisk.connect(server.port, env=env)
    assert await asterisk.closed()
    assert "FastAGI 42.7: no route for script 'nosuch?x=1' (request 'agi://127.0.0.1/nosuch?x=1'); closing" in [
        r.getMessage() for r in caplog.records
    ]


async def test_handler_exception_is_logged_and_the_server_keeps_serving(
    serve: Callable[..., Awaitable[FastAgiServer]], caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def ivr(session: AgiSession) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("flow bug")
        await session.send("ANSWER")

    server = await serve({"ivr": ivr})
    first = await Asterisk.connect(server.port)
    assert await first.closed()
    records = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in records] == ["FastAGI 1700000000.1: handler for 'ivr' failed; closing the session"]
    assert records[0].exc_info is not None and isinstance(records[0].exc_info[1], ValueError)
    second = await Asterisk.connect(server.port)
    assert await second.command() == ["ANSWER"]
    await second.send(b"200 result=0\n")
    assert await second.closed()
    assert calls == 2


async def test_command_timeout_closes_the_session(serve: Callable[..., Awaitable[FastAgiServer]]) -> None:
    errors: list[str] = []

    async def ivr(session: AgiSession) -> None:
        try:
            await session.send("WAIT FOR DIGIT", "100000", timeout_s=0.2)
        except AgiTimeout as exc:
            errors.append(str(exc))
            raise

    server = await serve({"ivr": ivr})
    asterisk = await Asterisk.connect(server.port)
    await asterisk.command()
    assert await asterisk.closed()
    assert errors == ["AGI 1700000000.1: no reply to WAIT FOR DIGIT within 0.2s"]


async def test_stop_cancels_running_sessions(
    serve: Callable[..., Awaitable[FastAgiServer]], caplog: pytest.LogCaptureFixture
) -> None:
    cancelled = asyncio.Event()
    started = asyncio.Event()

    async def ivr(session: AgiSession) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    server = await serve({"ivr": ivr})
    asterisk = await Asterisk.connect(server.port)
    async with asyncio.timeout(2):
        await started.wait()
        await server.stop()
    assert cancelled.is_set()
    assert await asterisk.closed()
    for _ in range(3):  # let asyncio's stream done-callbacks run
        await asyncio.sleep(0)
    assert not [r for r in caplog.records if r.name == "asyncio"], "stop() left asyncio logging a callback error"
