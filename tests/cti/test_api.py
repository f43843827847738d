"""The CTI server over real sockets: login, roles, every agent and supervisor action, the screen
pop, what an agent may not see, malformed requests and a slow client."""

from __future__ import annotations

import asyncio
import json
import logging
import random

import httpx
import pytest
import websockets

from callcenter import events as ev
from callcenter.errors import DomainError
from tests.cti.conftest import PASSWORD, Harness, User


async def ready_agent(cti: Harness, username: str) -> User:
    user = await cti.user(username)
    assert user.socket is not None
    assert (await user.socket.request("login"))["type"] == "cti.request-done"
    await user.socket.next("agent.state-changed", new="not-ready", reason="login")
    assert (await user.socket.request("ready"))["type"] == "cti.request-done"
    await user.socket.next("agent.state-changed", new="ready")
    return user


async def offered_call(cti: Harness, call_id: str, ani: str, *, customer: str | None = None) -> None:
    await cti.inbound_call(call_id, ani)
    await cti.bus.publish(ev.CallQueued(
        call_id=ev.CallId(call_id), channel_id=ev.ChannelId(call_id),
        request=ev.RoutingRequest(queue=ev.QueueName("general"), priority_class="vip", rule="vip-first",
                                  explanation="star-level caller"),
        ani=ani, dnis="10086", customer_id=ev.CustomerId(customer) if customer else None, at=1000.0))


# -- session -------------------------------------------------------------------------------------


async def test_login_returns_a_token_and_a_wrong_password_is_refused(cti: Harness) -> None:
    good = await cti.login("agent1001")
    assert good.status_code == 200
    assert good.json()["role"] == "agent" and good.json()["agent_id"] == "1001"
    bad = await cti.login("agent1001", "wrong")
    assert bad.status_code == 401
    assert bad.json() == {"error_id": "bad-credentials", "message": "unknown user or wrong password", "details": {}}
    unknown = await cti.login("nobody")
    assert unknown.json()["error_id"] == "bad-credentials"


async def test_failed_logins_are_rate_limited_per_user_and_address(cti: Harness) -> None:
    for _ in range(3):
        assert (await cti.login("agent1002", "wrong")).status_code == 401
    limited = await cti.login("agent1002", PASSWORD)  # even the right password waits
    assert limited.status_code == 429
    assert limited.json()["error_id"] == "too-many-logins"
    assert limited.json()["message"].startswith("too many failed logins for 'agent1002'; try again in ")
    assert int(limited.headers["Retry-After"]) > 0
    assert (await cti.login("agent1001")).status_code == 200  # another user is not affected


async def test_login_body_is_validated_and_the_password_never_logged(cti: Harness, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    async with httpx.AsyncClient(base_url=cti.base) as http:
        reply = await http.post("/api/v1/session", json={"username": "agent1001", "pasword": "x"})
        assert reply.status_code == 422
        assert reply.json()["error_id"] == "invalid-request"
        assert reply.json()["message"] == "login: password: Field required; pasword: Extra inputs are not permitted"
        await http.post("/api/v1/session", json={"username": "agent1001", "password": PASSWORD})
    assert PASSWORD not in caplog.text
    assert "login 'agent1001' (agent 1001, agent) from 127.0.0.1" in caplog.text


async def test_requests_without_a_valid_token_are_refused(cti: Harness) -> None:
    async with httpx.AsyncClient(base_url=cti.base) as http:
        missing = await http.get("/api/v1/me")
        assert missing.status_code == 401 and missing.json()["error_id"] == "not-authenticated"
        forged = await http.get("/api/v1/me", headers={"Authorization": "Bearer eyJzdWIiOiI5MDAxIn0.abc"})
        assert forged.status_code == 401 and forged.json()["error_id"] == "invalid-token"
    user = await cti.user("agent1001", socket=False)
    assert (await user.http.get("/api/v1/me")).status_code == 200
    assert (await user.http.delete("/api/v1/session")).status_code == 200
    revoked = await user.http.get("/api/v1/me")
    assert revoked.status_code == 401 and revoked.json()["error_id"] == "token-revoked"


async def test_a_socket_must_authenticate_first(cti: Harness) -> None:
    ws = await websockets.connect(cti.base.replace("http", "ws") + "/ws")
    await ws.send(json.dumps({"type": "hello"}))
    reply = json.loads(await ws.recv())
    assert reply["type"] == "cti.request-failed" and reply["error_id"] == "not-authenticated"
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_agents_cannot_use_supervisor_endpoints(cti: Harness) -> None:
    agent = await cti.user("agent1001")
    assert (await agent.http.get("/api/v1/queues")).json()["error_id"] == "forbidden"
    assert (await agent.http.get("/api/v1/agents")).status_code == 403
    assert agent.socket is not None
    reply = await agent.socket.request("force-state", agent_id="1002", state="ready")
    assert reply["error_id"] == "forbidden"
    assert reply["message"] == "action 'force-state' needs the supervisor role"


# -- agent state ---------------------------------------------------------------------------------


async def test_login_ready_not_ready_logout_go_through_the_acd(cti: Harness) -> None:
    agent = await ready_agent(cti, "agent1001")
    assert agent.socket is not None
    reply = await agent.socket.request("not-ready", reason="lunch")
    assert reply["type"] == "cti.request-done"
    changed = await agent.socket.next("agent.state-changed", new="not-ready", reason="lunch")
    assert changed["old"] == "ready"
    assert (await agent.socket.request("logout"))["type"] == "cti.request-done"
    await agent.socket.next("agent.state-changed", new="logged-out")
    assert cti.service.live.agent(ev.AgentId("1001")).state is ev.AgentState.LOGGED_OUT


async def test_an_illegal_state_change_is_refused_before_the_acd_sees_it(cti: Harness) -> None:
    agent = await cti.user("agent1001")
    assert agent.socket is not None
    reply = await agent.socket.request("ready")
    assert reply["type"] == "cti.request-failed"
    assert reply["error_id"] == "illegal-state"
    assert reply["message"] == "agent 1001: can't handle AgentReady in state LOGGED_OUT"
    assert reply["details"] == {"agent_id": "1001", "state": "logged-out"}


# -- the screen pop and call control -------------------------------------------------------------


async def test_an_offered_call_pops_on_the_right_agent_only_with_the_customer_card(cti: Harness) -> None:
    cti.cards.add("42", "13800138000", "Zhang San", tier="vip")
    first = await ready_agent(cti, "agent1001")
    assert first.socket is not None
    await offered_call(cti, "c1", "13800138000", customer="42")
    pop = await first.socket.next("cti.screen-pop")
    assert pop["call_id"] == "c1" and pop["agent_id"] == "1001"
    assert pop["ani"] == "13800138000" and pop["dnis"] == "10086"
    assert pop["queue"] == "general" and pop["priority_class"] == "vip"
    assert pop["customer"]["name"] == "Zhang San" and pop["customer"]["tier"] == "vip"
    assert pop["customer"]["balance"] == "12.50" and pop["customer"]["open_complaints"] == 1
    assert "rule vip-first; star-level caller" in pop["routing_summary"]
    second = await cti.user("agent1002")
    assert second.socket is not None
    await cti.settle()
    assert "cti.screen-pop" not in second.socket.types()
    assert "call.arrived" not in second.socket.types()


async def test_an_agent_cannot_see_another_agents_call_or_customer(cti: Harness) -> None:
    cti.cards.add("7", "13900000007", "Chen Jie")
    owner = await ready_agent(cti, "agent1001")
    other = await cti.user("agent1002")
    await offered_call(cti, "c2", "13900000007", customer="7")
    assert owner.socket is not None and other.socket is not None
    await owner.socket.next("cti.screen-pop")
    assert (await owner.http.get("/api/v1/calls/c2")).json()["ani"] == "13900000007"
    assert (await owner.http.get("/api/v1/customers/7")).json()["name"] == "Chen Jie"
    call = await other.http.get("/api/v1/calls/c2")
    assert call.status_code == 404
    assert call.json() == {"error_id": "no-such-call", "message": "no call 'c2' among your calls",
                           "details": {"call_id": "c2"}}
    customer = await other.http.get("/api/v1/customers/7")
    assert customer.status_code == 404 and customer.json()["error_id"] == "no-such-customer"
    assert (await other.http.get("/api/v1/calls")).json() == []
    reply = await other.socket.request("hold", call_id="c2")
    assert reply["error_id"] == "no-such-call"
    supervisor = await cti.user("supervisor", socket=False)
    assert (await supervisor.http.get("/api/v1/calls/c2")).status_code == 200
    assert (await supervisor.http.get("/api/v1/customers/7")).status_code == 200


async def test_call_control_becomes_pbx_commands_on_the_right_channels(cti: Harness) -> None:
    agent = await ready_agent(cti, "agent1001")
    assert agent.socket is not None
    await offered_call(cti, "c3", "13800000003")
    await agent.socket.next("cti.screen-pop")
    leg = await cti.agent_leg("c3", "1001")
    await cti.bus.publish(ev.CallAnswered(call_id=ev.CallId("c3"), agent_id=ev.AgentId("1001"), at=1010.0))
    await agent.socket.next("call.answered")
    cti.port.executed.clear()
    for action in ("answer", "hold", "unhold", "hangup"):
        assert (await agent.socket.request(action, call_id="c3"))["type"] == "cti.request-done", action
    assert cti.port.executed == [
        ev.AnswerCall(agent_id=ev.AgentId("1001"), call_id=ev.CallId("c3"), interface="PJSIP/1001"),
        ev.Hold(channel_id=ev.ChannelId("c3")),
        ev.Unhold(channel_id=ev.ChannelId("c3")),
        ev.Hangup(channel_id=ev.ChannelId(leg)),
    ]


async def test_transfers_to_a_number_an_agent_and_a_queue(cti: Harness) -> None:
    agent = await ready_agent(cti, "agent1001")
    target = await ready_agent(cti, "agent1002")
    assert agent.socket is not None and target.socket is not None
    await offered_call(cti, "c4", "13800000004")
    await agent.socket.next("cti.screen-pop")
    leg = ev.ChannelId(await cti.agent_leg("c4", "1001"))
    cti.port.executed.clear()
    assert (await agent.socket.request("transfer", call_id="c4", kind="blind", to="number",
                                        target="13912345678"))["type"] == "cti.request-done"
    assert (await agent.socket.request("transfer", call_id="c4", kind="attended", to="number",
                                        target="13912345678"))["type"] == "cti.request-done"
    assert (await agent.socket.request("transfer", call_id="c4", kind="blind", to="agent",
                                        target="1002"))["type"] == "cti.request-done"
    assert (await agent.socket.request("transfer", call_id="c4", kind="blind", to="queue",
                                        target="general"))["type"] == "cti.request-done"
    assert cti.port.executed[:3] == [
        ev.BlindTransfer(channel_id=leg, context="agents", exten="13912345678"),
        ev.AttendedTransfer(channel_id=leg, context="agents", exten="13912345678"),
        ev.OfferCall(call_id=ev.CallId("c4"), agent_id=ev.AgentId("1002"), interface="PJSIP/1002",
                     queue=ev.QueueName("general"), ring_timeout_s=15.0),
    ]
    assert cti.port.executed[3] == ev.Redirect(channel_id=ev.ChannelId("c4"), context="acd-wait", exten="s")
    transferred = await agent.socket.next("call.transferred", target="agent:1002")
    assert transferred["by_agent"] == "1001" and transferred["kind"] == "blind"
    refused = await agent.socket.request("transfer", call_id="c4", kind="attended", to="queue", target="general")
    assert refused["error_id"] == "unsupported-transfer"
    bad = await agent.socket.request("transfer", call_id="c4", kind="sideways", to="number", target="1")
    assert bad["error_id"] == "invalid-request"
    assert bad["message"] == "transfer: kind: Input should be 'blind' or 'attended'"


async def test_hang_up_then_wrap_up_with_disposition_reaches_the_bus(cti: Harness) -> None:
    agent = await ready_agent(cti, "agent1001")
    assert agent.socket is not None
    await offered_call(cti, "c5", "13800000005")
    await agent.socket.next("cti.screen-pop")
    leg = await cti.agent_leg("c5", "1001")
    await cti.bus.publish(ev.CallAnswered(call_id=ev.CallId("c5"), agent_id=ev.AgentId("1001"), at=1010.0))
    early = await agent.socket.request("wrap-up", call_id="c5", disposition="resolved")
    assert early["error_id"] == "call-in-progress"
    watcher = cti.bus.subscribe("test")
    await cti.hang_up("c5", ("PJSIP/pstn-trunk-c5", "c5"), (f"PJSIP/1001-{leg}", leg))
    await agent.socket.next("call.ended")
    await agent.socket.next("agent.state-changed", new="wrap-up")
    reply = await agent.socket.request("wrap-up", call_id="c5", disposition="resolved", notes="bill explained")
    assert reply["type"] == "cti.request-done"
    await agent.socket.next("agent.state-changed", new="ready")
    seen = []
    while not watcher.queue.empty():
        seen.append(watcher.queue.get_nowait())
    wrap = [m for m in seen if isinstance(m, ev.WrapUpEnded)]
    assert [(w.call_id, w.disposition, w.notes) for w in wrap] == [("c5", "resolved", "bill explained")]
    assert (await agent.http.get("/api/v1/me")).json()["stats"]["answered"] == 1


async def test_callback_request_is_published(cti: Harness) -> None:
    agent = await cti.user("agent1001")
    assert agent.socket is not None
    watcher = cti.bus.subscribe("test")
    reply = await agent.socket.request("callback", number="13800138000", notes="after 6pm")
    assert reply["type"] == "cti.request-done"
    msg = await asyncio.wait_for(watcher.get(), 2)
    assert isinstance(msg, ev.CallbackRequested)
    assert (msg.agent_id, msg.number, msg.notes) == ("1001", "13800138000", "after 6pm")
    bad = await agent.socket.request("callback", number="call me")
    assert bad["error_id"] == "invalid-request"


async def test_a_pbx_failure_comes_back_with_its_error_id(cti: Harness) -> None:
    agent = await ready_agent(cti, "agent1001")
    assert agent.socket is not None
    await offered_call(cti, "c6", "13800000006")
    await agent.socket.next("cti.screen-pop")
    await cti.agent_leg("c6", "1001")
    cti.port.fail_with = DomainError("no-such-channel", "Hold: no channel_id 'c6' is known")
    reply = await agent.socket.request("hold", call_id="c6")
    assert reply["error_id"] == "no-such-channel"
    rest = await agent.http.post("/api/v1/actions/hold", json={"call_id": "c6"})
    assert rest.status_code == 409 and rest.json()["error_id"] == "no-such-channel"


# -- supervisor ----------------------------------------------------------------------------------


async def test_supervisor_sees_queues_agents_and_can_force_states_and_spy(cti: Harness) -> None:
    agent = await ready_agent(cti, "agent1001")
    supervisor = await cti.user("supervisor")
    assert agent.socket is not None and supervisor.socket is not None
    await offered_call(cti, "c7", "13800000007")
    await agent.socket.next("cti.screen-pop")
    await supervisor.socket.next("call.offered", call_id="c7")  # supervisors see every call's events
    await cti.agent_leg("c7", "1001")
    await cti.bus.publish(ev.CallAnswered(call_id=ev.CallId("c7"), agent_id=ev.AgentId("1001"), at=1012.0))
    await cti.settle()
    supervisor.socket.received = [m for m in supervisor.socket.received if m["type"] != "cti.queue-stats"]
    stats = await supervisor.socket.next("cti.queue-stats")
    general = next(q for q in stats["queues"] if q["queue"] == "general")
    assert general["offered"] == 1 and general["answered"] == 1 and general["waiting"] == 0
    agents = (await supervisor.http.get("/api/v1/agents")).json()
    assert [a["agent_id"] for a in agents["on-call"]] == ["1001"]
    cti.port.executed.clear()
    reply = await supervisor.socket.request("spy", agent_id="1001", mode="whisper", phone="PJSIP/9001")
    assert reply["type"] == "cti.request-done"
    (spy,) = cti.port.executed
    assert isinstance(spy, ev.Originate)
    assert spy.destination == "PJSIP/9001" and spy.context == "cc-spy"
    assert dict(spy.variables) == {"CC_SPY_CHANNEL": "PJSIP/1001-c7.1001", "CC_SPY_OPTIONS": "qwE"}
    nophone = await supervisor.socket.request("spy", agent_id="1001", mode="listen")
    assert nophone["error_id"] == "no-phone"
    explanation = await supervisor.http.get("/api/v1/calls/c7/explanation")
    assert "star-level caller" in explanation.text and "offered to 1001 in general" in explanation.text
    forced = await supervisor.http.post("/api/v1/actions/force-state", json={"agent_id": "1002", "state": "ready"})
    assert forced.status_code == 409 and forced.json()["message"] == "agent 1002 is logged out"


async def test_supervisor_forces_an_agent_not_ready_and_logged_out(cti: Harness) -> None:
    agent = await ready_agent(cti, "agent1002")
    supervisor = await cti.user("supervisor")
    assert agent.socket is not None and supervisor.socket is not None
    reply = await supervisor.socket.request("force-state", agent_id="1002", state="not-ready", reason="coaching")
    assert reply["type"] == "cti.request-done"
    changed = await agent.socket.next("agent.state-changed", new="not-ready", reason="coaching")
    assert changed["old"] == "ready"
    assert (await supervisor.socket.request("force-state", agent_id="1002", state="logged-out"))["type"] == "cti.request-done"
    await agent.socket.next("agent.state-changed", new="logged-out")


# -- malformed input and slow clients ------------------------------------------------------------


async def test_malformed_messages_get_a_clear_error_and_the_connection_is_kept(cti: Harness) -> None:
    agent = await cti.user("agent1001")
    assert agent.socket is not None
    ws = agent.socket.ws
    await ws.send("{not json")
    reply = await agent.socket.next("cti.request-failed")
    assert reply["error_id"] == "malformed-message"
    assert reply["message"] == "not JSON: Expecting property name enclosed in double quotes at character 1"
    await ws.send(json.dumps([1, 2]))
    assert (await agent.socket.next("cti.request-failed"))["message"] == "a request must be a JSON object, not list"
    await ws.send(json.dumps({"request_id": "x", "action": "fly"}))
    unknown = await agent.socket.next("cti.request-failed", request_id="x")
    assert unknown["error_id"] == "unknown-action"
    await ws.send(json.dumps({"request_id": "y", "action": "hold", "call_id": "c 1"}))
    invalid = await agent.socket.next("cti.request-failed", request_id="y")
    assert invalid["message"] == "hold: call_id: String should match pattern '^[A-Za-z0-9_.:;@+-]{1,128}$'"
    await ws.send(b"\x00binary")
    assert (await agent.socket.next("cti.request-failed"))["message"] == "send text frames with JSON"
    assert (await agent.socket.request("login"))["type"] == "cti.request-done"  # still connected


async def test_an_oversized_message_closes_the_connection(cti: Harness) -> None:
    agent = await cti.user("agent1001")
    assert agent.socket is not None
    await agent.socket.ws.send(json.dumps({"action": "callback", "notes": "x" * 70_000}))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await agent.socket.ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_a_slow_client_is_closed_and_never_slows_the_others(cti: Harness) -> None:
    fast = await cti.user("supervisor")  # reads everything, promptly
    slow = await cti.user("supervisor")  # stops reading
    assert fast.socket is not None and slow.socket is not None
    # `slow` never reads: its library buffers a few frames, then the kernel buffers fill, then its
    # queue on the server (50 frames).
    reader = asyncio.create_task(fast.socket.next("user.event", within_s=20, at=1999.0))
    rng = random.Random(1)
    for n in range(2000):
        pad = rng.randbytes(6000).hex()  # incompressible (the socket deflates), 12 MB in all
        await cti.bus.publish(ev.UserEventReceived(call_id=None, channel_id=None, name="Load",
                                                   fields=(("pad", pad),), at=float(n)))
        if n % 10 == 0:
            await asyncio.sleep(0.002)  # a busy site, not one burst: the fast reader keeps up
    last = await reader
    assert last["fields"] == [["pad", pad]]
    assert cti.service.hub.closed_slow == 1
    assert len(cti.service.hub.clients) == 1
    slow.socket.ws.transport.abort()  # it would read 12 MB before seeing the close frame
