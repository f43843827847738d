"""The WebSocket hub: who is connected, and fan-out with a bounded queue per client.

Theory of operation
-------------------
Each connection is a `Client` with its own `asyncio.Queue` of frames (already-encoded JSON text)
and one sender task that writes them in order. The dispatcher never awaits a socket: `deliver`
puts the frame on the client's queue with `put_nowait` and returns, so one slow or dead browser
cannot delay any other client or the bus.

Drop / close policy (documented in docs/cti.md): when a client's queue is full (it has not taken
`queue_size` frames), the client is **closed** with code 1013 ("try again later") rather than
having frames dropped: a desktop that silently misses a screen pop or a state change is worse
than one that reconnects and reloads its state through REST. The sender task is cancelled and
the socket closed without waiting on it.

A frame is encoded once per event, whatever the number of recipients (`encode`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Iterable
from typing import Any

from starlette.websockets import WebSocket

from callcenter.events import AgentId, to_json
from cti.auth import Claims

logger = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 1013  # "try again later": the client fell behind
CLOSE_POLICY = 1008  # policy violation: not authenticated, token expired
CLOSE_TOO_BIG = 1009
CLOSE_GOING_AWAY = 1001


def encode(message: object) -> str:
    data = message if isinstance(message, dict) else to_json(message)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class Client:
    def __init__(self, client_id: int, ws: WebSocket, claims: Claims, queue_size: int) -> None:
        self.id = client_id
        self.ws = ws
        self.claims = claims
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.sender: asyncio.Task[None] | None = None
        self.closed = False

    @property
    def agent_id(self) -> AgentId:
        return self.claims.agent_id

    @property
    def sees_everything(self) -> bool:
        return self.claims.is_supervisor

    async def _send_loop(self) -> None:
        while True:
            frame = await self.queue.get()
            await self.ws.send_text(frame)


class Hub:
    def __init__(self, *, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self._ids = itertools.count(1)
        self.clients: dict[int, Client] = {}
        self._by_agent: dict[AgentId, set[Client]] = {}
        self._watchers: set[Client] = set()  # supervisors and wallboards: every event
        self.closed_slow = 0
        self._closing: set[asyncio.Task[None]] = set()  # referenced until done (asyncio keeps weak refs)

    def add(self, ws: WebSocket, claims: Claims) -> Client:
        client = Client(next(self._ids), ws, claims, self.queue_size)
        self.clients[client.id] = client
        if client.sees_everything:
            self._watchers.add(client)
        else:
            self._by_agent.setdefault(client.agent_id, set()).add(client)
        client.sender = asyncio.get_running_loop().create_task(self._run_sender(client), name=f"cti.ws-{client.id}")
        return client

    async def _run_sender(self, client: Client) -> None:
        try:
            await client._send_loop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket died under us: forget the client
            logger.info("ws client %d (agent %s): send failed (%s); dropping it", client.id, client.agent_id, exc)
            self.remove(client)

    def remove(self, client: Client) -> None:
        if client.id not in self.clients:
            return
        del self.clients[client.id]
        self._watchers.discard(client)
        peers = self._by_agent.get(client.agent_id)
        if peers is not None:
            peers.discard(client)
            if not peers:
                del self._by_agent[client.agent_id]
        client.closed = True
        if client.sender is not None and client.sender is not asyncio.current_task():
            client.sender.cancel()

    def deliver(self, client: Client, frame: str) -> None:
        if client.closed:
            return
        try:
            client.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.closed_slow += 1
            logger.warning(
                "ws client %d (agent %s): %d frames not taken; closing it (1013)",
                client.id,
                client.agent_id,
                self.queue_size,
            )
            self.close(client, CLOSE_TOO_SLOW, "too slow: reconnect and reload")

    def close(self, client: Client, code: int, reason: str) -> None:
        self.remove(client)

        async def close_socket() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.ws.close(code, reason), 1.0)

        task = asyncio.get_running_loop().create_task(close_socket(), name=f"cti.ws-close-{client.id}")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def to_agents(self, agent_ids: Iterable[AgentId], frame: str) -> None:
        """Send to the clients of these agents and to every watcher (supervisors)."""
        for agent_id in agent_ids:
            for client in list(self._by_agent.get(agent_id, ())):
                self.deliver(client, frame)
        self.to_watchers(frame)

    def to_watchers(self, frame: str) -> None:
        for client in list(self._watchers):
            self.deliver(client, frame)

    def to_client(self, client: Client, message: Any) -> None:
        self.deliver(client, encode(message))

    def agents_connected(self) -> int:
        return len(self._by_agent)

    async def close_all(self) -> None:
        for client in list(self.clients.values()):
            self.close(client, CLOSE_GOING_AWAY, "server shutting down")
        await asyncio.sleep(0)
