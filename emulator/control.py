"""The emulator's control socket: JSON lines over TCP on 127.0.0.1.

One JSON object per line in, one JSON object per line out, in order. Every request has `cmd`;
every reply has `ok` and, when `ok` is false, `error` naming what was wrong. The commands
(docs/emulator.md has examples):

    {"cmd": "call", "ani": "13800138000", "dnis": "10086", "digits": [[1.0, "1"]],
     "utterances": ["/path/billing.wav"], "patience_s": 60, "hangup_after_s": null, "talk_s": 30}
        -> {"ok": true, "channel": "PJSIP/pstn-trunk-00000000", "uniqueid": "...", "linkedid": "..."}
    {"cmd": "endpoint", "name": "1001", "answer_after_s": 3, "answer": true, "busy": false,
     "talk_s": 20, "registered": true}                 -> {"ok": true, "endpoint": {...}}
        ("name": "*" changes every phone that has no behaviour of its own)
    {"cmd": "number", "number": "13900139000", "machine": true}   (a PSTN number via the trunk)
    {"cmd": "trunk", "answer_rate": 0.7, "busy_rate": 0.1, "machine_rate": 0.1}
    {"cmd": "answer", "channel": "<name or uniqueid>"}   the ringing phone is answered now
    {"cmd": "hangup", "channel": "<name or uniqueid>"}   the far end hangs up
    {"cmd": "press", "channel": "<name or uniqueid>", "digits": "12#"}
    {"cmd": "hold", "channel": "<name or uniqueid>"}    that phone holds the call ("unhold" resumes)
    {"cmd": "channels"}                                   -> {"ok": true, "channels": [...]}
    {"cmd": "stats"}                                      -> {"ok": true, "stats": {...}}
    {"cmd": "traffic", "rate_per_s": 20, "duration_s": 60, "seed": 1, "vip_share": 0.1,
     "mean_talk_s": 120, "talk_sigma": 0.6, "mean_patience_s": 90, "hangup_after_s": null}
        -> {"ok": true, "calls": <how many will arrive>}  (Poisson arrivals on the emulator's clock)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any

from emulator.endpoints import ScriptError

if TYPE_CHECKING:
    from emulator.app import Emulator

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024


class ControlError(Exception):
    pass


class ControlServer:
    def __init__(self, emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.host = host
        self.requested_port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "ControlServer.start() first"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.requested_port, limit=MAX_LINE_BYTES)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            # Closing the transports ends each connection's loop (cancelling would make
            # asyncio.streams log the CancelledError on Python 3.11).
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=2.0)
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None  # Precondition: start_server runs each connection as a task
        self._tasks.add(task)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ConnectionError, ValueError):
                    return  # ValueError: a line over MAX_LINE_BYTES
                if not line:
                    return
                if not line.strip():
                    continue
                reply = await self.handle_line(line)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            return
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            with contextlib.suppress(ConnectionError):
                writer.close()

    async def handle_line(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return {"ok": False, "error": f"request is not JSON: {exc}"}
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            return {"ok": False, "error": "request must be a JSON object with a string 'cmd'"}
        try:
            return {"ok": True, **await self.handle(request)}
        except (ControlError, ScriptError, KeyError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) else str(exc)
            return {"ok": False, "error": message}

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        emulator = self.emulator
        cmd = request.pop("cmd")
        if cmd == "call":
            return dataclasses.asdict(emulator.place_call(request))
        if cmd == "endpoint":
            name = _required(request, "name")
            return {"endpoint": dataclasses.asdict(emulator.set_endpoint(name, **request))}
        if cmd == "number":
            number = _required(request, "number")
            return {"number": dataclasses.asdict(emulator.set_number(number, **request))}
        if cmd == "trunk":
            emulator.set_trunk(**request)
            return {}
        if cmd == "hangup":
            channel = _required(request, "channel")
            if not await emulator.far_end_hangup(channel):
                raise ControlError(f"no channel {channel!r}")
            return {}
        if cmd == "press":
            channel, digits = _required(request, "channel"), _required(request, "digits")
            if any(d not in "0123456789*#ABCD" for d in digits):
                raise ControlError(f"press: digits {digits!r} must be 0-9, *, #, A-D")
            if not await emulator.press(channel, digits):
                raise ControlError(f"no channel {channel!r}")
            return {}
        if cmd == "answer":
            channel = _required(request, "channel")
            if not emulator.answer(channel):
                raise ControlError(f"no ringing channel {channel!r}")
            return {}
        if cmd in ("hold", "unhold"):
            channel = _required(request, "channel")
            if not emulator.hold(channel, cmd == "hold"):
                raise ControlError(f"no channel {channel!r}")
            return {}
        if cmd == "channels":
            return {"channels": emulator.channels()}
        if cmd == "stats":
            channels = emulator.pbx.channels.values()
            return {"stats": {**dataclasses.asdict(emulator.pbx.stats), "live_channels": len(channels),
                              "live_calls": len({ch.linkedid for ch in channels})}}
        if cmd == "traffic":
            return {"calls": emulator.start_traffic(**request)}
        raise ControlError(
            f"unknown cmd {cmd!r}; expected call, endpoint, number, trunk, answer, hangup, press, hold, unhold, "
            "channels, stats or traffic"
        )


def _required(request: dict[str, Any], key: str) -> str:
    value = request.pop(key, None)
    if not isinstance(value, str) or not value:
        raise ControlError(f"'{key}' is required and must be a non-empty string")
    return value
