"""The AMI client against a small AMI server on a real socket (127.0.0.1, an ephemeral port)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from callcenter.settings import AmiSettings
from pbx.ami import AmiDecoder, AmiMessage
from pbx.ami_client import (
    AmiActionError,
    AmiActionTimeout,
    AmiClient,
    AmiConnectionLost,
    AmiLoginError,
    AmiSubscriberOverflow,
)

CHALLENGE = "145769581"
Handler = Callable[[AmiMessage, asyncio.StreamWriter], list[AmiMessage] | None]


class FakeAsterisk:
    """Speaks just enough AMI: banner, Challenge, Login (plain and MD5), Ping, Logoff, plus the
    per-test `handlers` (returning None means: send no reply)."""

    def __init__(self, *, username: str = "admin", secret: str = "s3cret") -> None:
        self.username = username
        self.secret = secret
        self.received: list[AmiMessage] = []
        self.handlers: dict[str, Handler] = {}
        self.writers: list[asyncio.StreamWriter] = []
        self.sessions: set[asyncio.Task[None]] = set()
        self.new_connection = asyncio.Condition()
        self.logins = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self.writers:
            writer.transport.abort()
        await asyncio.gather(*self.sessions, return_exceptions=True)
        await self._server.wait_closed()

    def names(self) -> list[str]:
        return [action.name for action in self.received]

    def send(self, message: AmiMessage, connection: int = -1) -> None:
        self.writers[connection].write(message.encode())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self.sessions.add(task)
        async with self.new_connection:
            self.new_connection.notify_all()
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        decoder = AmiDecoder(expect_banner=False)
        try:
            while data := await reader.read(65536):
                for action in decoder.feed(data):
                    self.received.append(action)
                    for reply in self._respond(action, writer) or []:
                        writer.write(reply.encode())
        except ConnectionError:
            pass
        finally:
            writer.transport.abort()

    def _respond(self, action: AmiMessage, writer: asyncio.StreamWriter) -> list[AmiMessage] | None:
        name = action.name.lower()
        aid = action.action_id
        if name in self.handlers:
            return self.handlers[name](action, writer)
        if name == "challenge":
            return [AmiMessage.response("Success", {"Challenge": CHALLENGE}, action_id=aid)]
        if name == "login":
            if action.get("AuthType", "").lower() == "md5":
                ok = action.get("Key") == hashlib.md5((CHALLENGE + self.secret).encode()).hexdigest()
            else:
                ok = action.get("Secret") == self.secret
            if ok and action.get("Username") == self.username:
                self.logins += 1
                return [
                    AmiMessage.response("Success", {"Message": "Authentication accepted"}, action_id=aid),
                    AmiMessage.event(
                        "FullyBooted", {"Privilege": "system,all", "Uptime": "5", "Status": "Fully Booted"}
                    ),
                ]
            writer.write(AmiMessage.response("Error", {"Message": "Authentication failed"}, action_id=aid).encode())
            writer.close()
            return None
        if name == "ping":
            return [AmiMessage.response("Success", {"Ping": "Pong", "Timestamp": "1.000000"}, action_id=aid)]
        if name == "logoff":
            return [AmiMessage.response("Goodbye", {"Message": "Thanks for all the fish."}, action_id=aid)]
        return [AmiMessage.response("Error", {"Message": f"Invalid/unknown command: {action.name}."}, action_id=aid)]


@pytest.fixture
async def asterisk() -> AsyncIterator[FakeAsterisk]:
    server = FakeAsterisk()
    await server.start()
    yield server
    await server.stop()


def client_for(server: FakeAsterisk, **options: object) -> AmiClient:
    settings: dict[str, object] = {
        "action_timeout_s": 2.0,
        "ping_interval_s": 60.0,
        "reconnect_min_s": 0.02,
        "reconnect_max_s": 0.1,
        "connect_timeout_s": 2.0,
    }
    settings.update(options)
    return AmiClient("127.0.0.1", server.port, "admin", "s3cret", **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("auth", ["md5", "plain"])
async def test_login_and_ping(asterisk: FakeAsterisk, auth: str) -> None:
    client = client_for(asterisk, auth=auth)
    async with asyncio.timeout(5):
        await client.connect()
        reply = await client.send_action("Ping")
        await client.close()
    assert reply.get("Ping") == "Pong"
    assert client.version == "9.0.0"
    login = next(action for action in asterisk.received if action.name == "Login")
    if auth == "md5":
        assert asterisk.names()[:2] == ["Challenge", "Login"]
        assert login.get("Key") == hashlib.md5((CHALLENGE + "s3cret").encode()).hexdigest()
        assert login.get("Secret") is None
    else:
        assert login.get("Secret") == "s3cret"
    assert asterisk.names()[-1] == "Logoff"


@pytest.mark.parametrize("auth", ["md5", "plain"])
async def test_login_failure_raises(asterisk: FakeAsterisk, auth: str) -> None:
    client = AmiClient("127.0.0.1", asterisk.port, "admin", "wrong", auth=auth, connect_timeout_s=2.0)  # type: ignore[arg-type]
    async with asyncio.timeout(5):
        with pytest.raises(AmiLoginError) as info:
            await client.connect()
        await client.close()
    assert str(info.value) == f"AMI login to 127.0.0.1:{asterisk.port} as 'admin' failed: Authentication failed"


async def test_secrets_never_reach_the_wire_log(asterisk: FakeAsterisk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(asterisk, auth="plain")
    async with asyncio.timeout(5):
        await client.connect()
        await client.close()
    wire = [r.getMessage() for r in caplog.records if r.name == "callcenter.wire.ami"]
    assert any("Secret: ********" in line for line in wire)
    assert "s3cret" not in caplog.text


async def test_interleaved_replies_are_matched_by_action_id(asterisk: FakeAsterisk) -> None:
    held: list[AmiMessage] = []

    def getvar(action: AmiMessage, writer: asyncio.StreamWriter) -> None:
        held.append(action)
        if len(held) == 3:  # answer in reverse order
            for one in reversed(held):
                variable = one.get("Variable") or ""
                reply = AmiMessage.response(
                    "Success", {"Variable": variable, "Value": variable.lower()}, action_id=one.action_id
                )
                writer.write(reply.encode())
        return None

    asterisk.handlers["getvar"] = getvar
    client = client_for(asterisk)
    async with asyncio.timeout(5):
        await client.connect()
        replies = await asyncio.gather(*(client.send_action("Getvar", Variable=v) for v in ("A", "B", "C")))
        await client.close()
    assert [reply.get("Value") for reply in replies] == ["a", "b", "c"]


async def test_error_reply_raises_with_its_message(asterisk: FakeAsterisk) -> None:
    client = client_for(asterisk)
    async with asyncio.timeout(5):
        await client.connect()
        with pytest.raises(AmiActionError) as info:
            await client.send_action("Hangup", Channel="PJSIP/nobody-0001")
        await client.close()
    aid = asterisk.received[-2].action_id
    assert info.value.message == "Invalid/unknown command: Hangup."
    assert str(info.value) == f"AMI action 'Hangup' (ActionID {aid!r}) failed: Invalid/unknown command: Hangup."


async def test_list_action_collects_items_until_eventlist_complete(asterisk: FakeAsterisk) -> None:
    def channels(action: AmiMessage, writer: asyncio.StreamWriter) -> list[AmiMessage]:
        aid = action.action_id
        assert aid is not None
        item = {"ActionID": aid, "Channel": "PJSIP/100-00000001", "Application": "AGI"}
        return [
            AmiMessage.response("Success", {"EventList": "start", "Message": "Channels will follow"}, action_id=aid),
            AmiMessage.event("CoreShowChannel", item),
            AmiMessage.event("Newchannel", {"Privilege": "call,all", "Channel": "PJSIP/200-00000002"}),
            # wording that a wording-based client would take for the end; only EventList counts
            AmiMessage.event("CoreShowChannel", {**item, "Channel": "PJSIP/101-00000003", "Message": "Complete"}),
            AmiMessage.event("CoreShowChannelsComplete", {"ActionID": aid, "EventList": "Complete", "ListItems": "2"}),
        ]

    asterisk.handlers["coreshowchannels"] = channels
    client = client_for(asterisk)
    async with asyncio.timeout(5):
        await client.connect()
        events = client.subscribe(names=["Newchannel"])
        items = await client.send_list_action("CoreShowChannels")
        newchannel = await anext(events)
        await client.close()
    assert [item.get("Channel") for item in items] == ["PJSIP/100-00000001", "PJSIP/101-00000003"]
    assert newchannel.get("Channel") == "PJSIP/200-00000002"  # not swallowed by the list


async def test_action_timeout_and_late_reply(asterisk: FakeAsterisk, caplog: pytest.LogCaptureFixture) -> None:
    late: list[AmiMessage] = []
    asterisk.handlers["originate"] = lambda action, writer: late.append(action)  # type: ignore[func-returns-value]
    client = client_for(asterisk, action_timeout_s=0.2)
    async with asyncio.timeout(5):
        await client.connect()
        with pytest.raises(AmiActionTimeout) as info:
            await client.send_action("Originate", Channel="PJSIP/100", Exten="100")
        asterisk.send(
            AmiMessage.response("Success", {"Message": "Originate successfully queued"}, action_id=late[0].action_id)
        )
        assert (await client.send_action("Ping")).get("Ping") == "Pong"  # the session is still fine
        await client.close()
    assert any("reply for unknown or timed-out ActionID" in r.getMessage() for r in caplog.records)
    aid = next(a for a in asterisk.received if a.name == "Originate").action_id
    assert str(info.value) == f"AMI action 'Originate' (ActionID {aid!r}) got no complete reply within 0.2 s"


async def test_drop_mid_action_fails_it_and_never_resends(asterisk: FakeAsterisk) -> None:
    def drop(action: AmiMessage, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()
        return None

    asterisk.handlers["originate"] = drop
    client = client_for(asterisk)
    async with asyncio.timeout(5):
        await client.connect()
        events = client.subscribe(names=["Newchannel"])
        with pytest.raises(AmiConnectionLost) as info:
            await client.send_action("Originate", Channel="PJSIP/100", Exten="100")
        assert (await anext(events)).name == "Disconnected"
        reconnected = await anext(events)
        assert reconnected.name == "Reconnected"
        assert float(reconnected.get("Downtime") or "-1") >= 0
        assert (await client.send_action("Ping")).get("Ping") == "Pong"
        await client.close()
    aid = next(a for a in asterisk.received if a.name == "Originate").action_id
    assert str(info.value) == (
        f"AMI action 'Originate' (ActionID {aid!r}) has no reply: the connection to 127.0.0.1:{asterisk.port} "
        "was lost (the peer closed the connection); it was not re-sent and may have run"
    )
    assert asterisk.names().count("Originate") == 1
    assert asterisk.logins == 2


async def test_reconnects_with_backoff_while_asterisk_is_down(asterisk: FakeAsterisk) -> None:
    client = client_for(asterisk)
    async with asyncio.timeout(5):
        await client.connect()
        events = client.subscribe(names=["Newchannel"])
        asterisk.secret = "rotated"  # the next logins fail until the secret is back
        asterisk.writers[-1].transport.abort()
        assert (await anext(events)).name == "Disconnected"
        async with asterisk.new_connection:
            await asterisk.new_connection.wait_for(lambda: len(asterisk.writers) >= 3)
        assert not client.is_connected
        asterisk.secret = "s3cret"
        assert (await anext(events)).name == "Reconnected"
        assert client.is_connected
        await client.close()
    assert client.connections == 2


async def test_missing_pong_triggers_reconnect(asterisk: FakeAsterisk) -> None:
    silent = {"on": True}

    def ping(action: AmiMessage, writer: asyncio.StreamWriter) -> list[AmiMessage] | None:
        if silent["on"]:
            silent["on"] = False
            return None
        return [AmiMessage.response("Success", {"Ping": "Pong"}, action_id=action.action_id)]

    asterisk.handlers["ping"] = ping
    client = client_for(asterisk, ping_interval_s=0.05, action_timeout_s=0.2)
    async with asyncio.timeout(5):
        await client.connect()
        events = client.subscribe(names=["Newchannel"])
        assert [(await anext(events)).name, (await anext(events)).name] == ["Disconnected", "Reconnected"]
        await client.close()
    assert asterisk.logins == 2


async def test_events_in_order_and_slow_subscriber_is_ended_not_silently_starved(asterisk: FakeAsterisk) -> None:
    client = client_for(asterisk)
    async with asyncio.timeout(5):
        await client.connect()
        fast = client.subscribe()
        slow = client.subscribe(maxsize=3, full_wait_s=0.1)
        for n in range(20):
            asterisk.send(AmiMessage.event("UserEvent", {"UserEvent": "Tick", "N": str(n)}))
        seen = [int((await anext(fast)).get("N") or -1) for _ in range(20)]
        got = []
        with pytest.raises(AmiSubscriberOverflow) as info:
            async for event in slow:
                got.append(int(event.get("N") or -1))
        assert (await client.send_action("Ping")).get("Ping") == "Pong"
        await client.close()
    assert seen == list(range(20))
    assert got == [0, 1, 2]
    assert str(info.value) == (
        "AMI subscriber fell behind by more than 3 events for 0.1 s; events were lost from 'UserEvent' on"
    )


async def test_close_ends_subscriptions_and_fails_new_actions(asterisk: FakeAsterisk) -> None:
    client = client_for(asterisk)
    async with asyncio.timeout(5):
        await client.connect()
        events = client.subscribe()
        await client.close()
        assert [event async for event in events] == []
        with pytest.raises(AmiConnectionLost) as info:
            await client.send_action("Ping")
    assert str(info.value) == "AMI action 'Ping' not sent: the client is closed"


async def test_client_from_settings(asterisk: FakeAsterisk) -> None:
    settings = AmiSettings(port=asterisk.port, username="admin", secret="s3cret", auth="plain", connect_timeout_s=2.0)
    client = AmiClient.from_settings(settings)
    async with asyncio.timeout(5):
        await client.connect()
        await client.close()
    assert asterisk.names()[0] == "Login"
    assert asterisk.received[0].get("Secret") == "s3cret"


async def test_garbage_from_the_server_is_reported_and_skipped(
    asterisk: FakeAsterisk, caplog: pytest.LogCaptureFixture
) -> None:
    def garbage(action: AmiMessage, writer: asyncio.StreamWriter) -> list[AmiMessage]:
        writer.write(b"this is not AMI\r\n\r\n")
        return [AmiMessage.response("Success", {"Variable": "X", "Value": "1"}, action_id=action.action_id)]

    asterisk.handlers["getvar"] = garbage
    client = client_for(asterisk)
    async with asyncio.timeout(5):
        await client.connect()
        reply = await client.send_action("Getvar", Variable="X")
        await client.close()
    assert reply.get("Value") == "1"
    assert any("has no colon: 'this is not AMI'; message skipped" in r.getMessage() for r in caplog.records)


async def test_actions_while_down_wait_then_fail(asterisk: FakeAsterisk) -> None:
    client = client_for(asterisk, reconnect_min_s=5.0, reconnect_max_s=5.0)
    async with asyncio.timeout(5):
        await client.connect()
        async with client.subscribe(names=[]) as events:
            asterisk.writers[-1].transport.abort()
            assert (await anext(events)).name == "Disconnected"
        with pytest.raises(AmiConnectionLost) as info:
            await client.send_action("Ping")
        await client.close()
    assert str(info.value) == f"AMI action 'Ping' not sent: not connected to 127.0.0.1:{asterisk.port} within 2.0 s"


def test_unknown_auth_is_refused() -> None:
    with pytest.raises(ValueError) as info:
        AmiClient("127.0.0.1", 5038, "admin", "x", auth="sha1")  # type: ignore[arg-type]
    assert str(info.value) == "AMI auth 'sha1' is not 'md5' or 'plain'"
