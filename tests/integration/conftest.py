"""Fixtures that start the Asterisk emulator on free ports, for any room's integration tests.

    async def test_something(emulator, ami_probe):
        probe = await ami_probe(emulator)            # a logged-in raw AMI connection
        call = emulator.place_call({"ani": "13800138000", "dnis": "10086"})
        await probe.wait_event("Hangup", Uniqueid=call.uniqueid)

`make_emulator(**EmulatorConfig fields)` starts one with other settings (a FastAGI port, a fast
clock, dialplan globals); every emulator and probe a test started is stopped after it.
`ami_user` is the (username, secret) of asterisk_conf/manager.conf.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from emulator.app import DEFAULT_CONF_DIR, Emulator, EmulatorConfig
from emulator.conffile import ami_users, read_conf
from pbx.ami import AmiDecoder, AmiMessage

EVENT_TIMEOUT_S = 10.0


class AmiProbe:
    """A raw AMI connection that records every message, for asserting on the wire itself."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = AmiDecoder(expect_banner=True)
        self.messages: list[AmiMessage] = []
        self.raw = bytearray()
        self._arrived = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._read())
        self._next_id = 0

    async def _read(self) -> None:
        while True:
            try:
                data = await self.reader.read(65536)
            except ConnectionError:
                break
            if not data:
                break
            self.raw += data
            self.messages.extend(self.decoder.feed(data))
            self._arrived.set()
        self._arrived.set()

    @property
    def closed(self) -> bool:
        return self._task.done()

    @property
    def events(self) -> list[AmiMessage]:
        return [m for m in self.messages if m.kind == "event"]

    def send(self, name: str, **headers: Any) -> str:
        self._next_id += 1
        action_id = f"probe-{self._next_id}"
        self.writer.write(bytes(AmiMessage.action(name, action_id=action_id, **headers)))
        return action_id

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def wait_for(self, predicate: Callable[[AmiMessage], bool], within_s: float = EVENT_TIMEOUT_S,
                       start: int = 0) -> AmiMessage:
        async with asyncio.timeout(within_s):
            seen = start
            while True:
                for message in self.messages[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.messages)
                if self.closed:
                    raise ConnectionError("the AMI connection closed before the message arrived")
                self._arrived.clear()
                await self._arrived.wait()

    async def action(self, name: str, **headers: Any) -> AmiMessage:
        """Send an action and return its response."""
        action_id = self.send(name, **headers)
        return await self.wait_for(lambda m: m.kind == "response" and m.get("ActionID") == action_id)

    async def wait_event(self, name: str, within_s: float = EVENT_TIMEOUT_S, **match: str) -> AmiMessage:
        """The first event `name` (so far or to come) whose headers match (values are regexes)."""
        return await self.wait_for(lambda m: _matches(m, name, match), within_s)

    def find(self, name: str, **match: str) -> list[AmiMessage]:
        return [m for m in self.messages if _matches(m, name, match)]

    async def close(self) -> None:
        self.writer.close()
        await asyncio.wait([self._task], timeout=2.0)


def _matches(message: AmiMessage, name: str, match: dict[str, str]) -> bool:
    if message.kind != "event" or message.name != name:
        return False
    return all(re.fullmatch(v, message.get(k) or "") for k, v in match.items())


@pytest.fixture(scope="session")
def ami_user() -> tuple[str, str]:
    users = ami_users(read_conf(DEFAULT_CONF_DIR / "manager.conf"))
    user = users["callcenter"]
    return user.username, user.secret


@pytest.fixture
async def make_emulator(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Emulator]]]:
    started: list[Emulator] = []

    async def make(**overrides: Any) -> Emulator:
        config = EmulatorConfig(**{"ami_port": 0, "control_port": 0, "spool_dir": tmp_path / "spool", **overrides})
        emulator = Emulator(config)
        await emulator.start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        await emulator.stop()


@pytest.fixture
async def emulator(make_emulator: Callable[..., Awaitable[Emulator]]) -> Emulator:
    return await make_emulator()


@pytest.fixture
async def ami_probe(ami_user: tuple[str, str]) -> AsyncIterator[Callable[..., Awaitable[AmiProbe]]]:
    probes: list[AmiProbe] = []

    async def connect(emulator: Emulator, *, login: bool = True, events: str | None = None) -> AmiProbe:
        reader, writer = await asyncio.open_connection("127.0.0.1", emulator.ami_port)
        probe = AmiProbe(reader, writer)
        probes.append(probe)
        if login:
            headers = {"Username": ami_user[0], "Secret": ami_user[1]}
            if events is not None:
                headers["Events"] = events
            reply = await probe.action("Login", **headers)
            assert reply.get("Message") == "Authentication accepted"
        return probe

    yield connect
    for probe in probes:
        await probe.close()
