"""Listeners bind to loopback unless configured otherwise, and what arrives on them (AMI from
Asterisk, FastAGI from Asterisk) cannot make the process hold unbounded memory."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time

import pytest

from callcenter.settings import Settings
from emulator.amiserver import AmiServer
from emulator.app import EmulatorConfig
from emulator.control import ControlServer
from pbx.agi import MAX_BLOCK_BYTES
from pbx.ami import AmiDecodeError, AmiDecoder, AmiMessage
from pbx.fastagi import AgiSession, FastAgiServer
from tests.pbx.test_ami_client import FakeAsterisk, asterisk, client_for  # noqa: F401 - the fixture

TEN_MB = 10 * 1024 * 1024


def test_every_listener_defaults_to_loopback() -> None:
    settings = Settings()
    assert (settings.http.host, settings.fastagi.bind_host) == ("127.0.0.1", "127.0.0.1")
    assert EmulatorConfig().ami_host == "127.0.0.1"
    for listener in (FastAgiServer, AmiServer, ControlServer):
        assert inspect.signature(listener).parameters["host"].default == "127.0.0.1", listener.__name__


def test_ami_decoder_memory_stays_bounded_on_a_frame_without_end() -> None:
    decoder = AmiDecoder(max_frame_bytes=64 * 1024)
    assert len(decoder.feed(b"Asterisk Call Manager/6.0.0\r\n")) == 1  # the banner
    chunk = b"Event: Flood\r\nX: " + b"a" * (64 * 1024)
    fed, errors = 0, []
    while fed < TEN_MB:
        try:
            decoder.feed(chunk)
        except AmiDecodeError as exc:
            errors.append(str(exc))
        fed += len(chunk)
        # Everything but the last two bytes (a blank line may start there) has been let go.
        assert decoder.offset >= len(b"Asterisk Call Manager/6.0.0\r\n") + fed - 2
    assert errors == ["AMI message at byte 29 is longer than 65536 bytes without a blank line"]  # once, not per chunk
    messages = decoder.feed(b"\r\n\r\nEvent: FullyBooted\r\nStatus: ok\r\n\r\n")
    assert [m.name for m in messages] == ["FullyBooted"]


async def test_ami_client_skips_a_10_mb_frame_and_keeps_working(
    asterisk: FakeAsterisk, caplog: pytest.LogCaptureFixture  # noqa: F811 - the fixture
) -> None:
    def flood(action: AmiMessage, writer: asyncio.StreamWriter) -> list[AmiMessage]:
        writer.write(b"Event: Flood\r\nPayload: " + b"x" * TEN_MB + b"\r\n\r\n")
        return [AmiMessage.response("Success", {"Variable": "X", "Value": "1"}, action_id=action.action_id)]

    asterisk.handlers["getvar"] = flood
    client = client_for(asterisk, action_timeout_s=10.0)
    async with asyncio.timeout(20):
        await client.connect()
        reply = await client.send_action("Getvar", Variable="X")
        pong = await client.send_action("Ping")  # the same connection still works
        await client.close()
    assert (reply.get("Value"), pong.get("Ping")) == ("1", "Pong")
    assert asterisk.logins == 1  # no reconnect was needed
    assert any(r.getMessage().endswith("is longer than 65536 bytes without a blank line; message skipped")
               for r in caplog.records)


async def test_fastagi_closes_a_peer_sending_an_endless_environment(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)

    async def ivr(session: AgiSession) -> None:
        raise AssertionError("not reached")

    server = FastAgiServer({"ivr": ivr}, host="127.0.0.1", port=0, header_timeout_s=10.0)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        t0 = time.monotonic()
        writer.write(b"agi_request: agi://127.0.0.1/ivr\nagi_channel: " + b"x" * (4 * MAX_BLOCK_BYTES))
        with pytest.raises(ConnectionError):  # the server stops reading and closes; writing on fails
            async with asyncio.timeout(5):
                await writer.drain()
                while await reader.read(65536):
                    pass
                raise ConnectionResetError("closed")
        assert time.monotonic() - t0 < 2.0  # at once, not after the header timeout
        writer.close()
    finally:
        await server.stop()
    assert any(r.getMessage().endswith(f"AGI environment exceeds {MAX_BLOCK_BYTES} bytes without an empty line; closing")
               for r in caplog.records)
