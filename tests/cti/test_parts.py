"""The CTI's pure parts (tokens, the login limiter, the call book, the live view) and the screen
pop's wait for a slow customer-card look-up."""

from __future__ import annotations

import asyncio

import pytest

from callcenter import events as ev
from callcenter.errors import DomainError
from cti.auth import Account, LoginLimiter, TokenSigner
from cti.screenpop import CallBook, build_pop
from cti.supervisor import LiveView
from tests.cti.conftest import Harness

ACCOUNT = Account(agent_id=ev.AgentId("1001"), username="agent1001", name="Li Na", role="agent", interface="PJSIP/1001")


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_token_verifies_until_it_expires_and_not_after_tampering_or_logout() -> None:
    clock = Clock()
    signer = TokenSigner("s" * 32, ttl_s=60, clock=clock)
    token, claims = signer.issue(ACCOUNT)
    assert signer.verify(token) == claims
    assert claims.agent_id == "1001" and claims.role == "agent" and not claims.is_supervisor
    body, signature = token.split(".")
    forged = TokenSigner("another secret, 32 characters..", clock=clock).issue(
        Account(agent_id=ev.AgentId("1001"), username="agent1001", name="x", role="admin"))[0]
    for bad in (body + "." + signature[:-2] + "AA", forged, "nonsense", body):
        with pytest.raises(DomainError) as err:
            signer.verify(bad)
        assert (err.value.error_id, err.value.message) == ("invalid-token", "the session token is not valid; log in again")
    clock.now += 61
    with pytest.raises(DomainError) as expired:
        signer.verify(token)
    assert expired.value.error_id == "token-expired"
    clock.now -= 61
    signer.revoke(claims)
    with pytest.raises(DomainError) as revoked:
        signer.verify(token)
    assert revoked.value.error_id == "token-revoked"
    with pytest.raises(ValueError, match="at least 16 characters"):
        TokenSigner("short")


def test_the_login_limiter_counts_failures_in_a_sliding_minute() -> None:
    clock = Clock()
    limiter = LoginLimiter(2, clock=clock)
    limiter.failed("agent1001", "10.0.0.1")
    clock.now += 30
    limiter.failed("agent1001", "10.0.0.1")
    with pytest.raises(DomainError) as err:
        limiter.check("agent1001", "10.0.0.1")
    assert err.value.message == "too many failed logins for 'agent1001'; try again in 30 s"
    assert err.value.details == {"retry_after_s": 30}
    limiter.check("agent1001", "10.0.0.2")  # another address
    clock.now += 31  # the first failure left the window
    limiter.check("agent1001", "10.0.0.1")
    limiter.failed("agent1001", "10.0.0.1")
    limiter.succeeded("agent1001", "10.0.0.1")
    limiter.check("agent1001", "10.0.0.1")


def test_the_call_book_folds_a_call_and_pops_once_per_agent() -> None:
    book = CallBook(keep_ended=1)
    cid = ev.CallId("c1")
    book.apply(ev.CallArrived(call_id=cid, channel_id=ev.ChannelId("c1"), channel="PJSIP/trunk-1", ani="138",
                              dnis="10086", direction=ev.Direction.INBOUND, at=10.0))
    book.apply(ev.IvrEntered(call_id=cid, channel_id=ev.ChannelId("c1"), flow="hotline", flow_version="1", at=11.0))
    book.apply(ev.IvrInput(call_id=cid, node="main_menu", kind="dtmf", value="3", at=12.0))
    book.apply(ev.IvrExited(call_id=cid, flow="hotline", path=("welcome", "main_menu"), outcome="route", at=13.0))
    book.apply(ev.CallQueued(call_id=cid, request=ev.RoutingRequest(queue=ev.QueueName("tech"), priority_class="gold",
                                                                    rule="tech-support"), at=14.0))
    ctx = book.apply(ev.CallOffered(call_id=cid, agent_id=ev.AgentId("1003"), queue=ev.QueueName("tech"), at=20.0))
    assert ctx is not None and ctx.agents == ["1003"] and ctx.state == "ringing"
    assert book.should_pop(ctx, ev.AgentId("1003")) and not book.should_pop(ctx, ev.AgentId("1003"))
    pop = build_pop(ctx, ev.AgentId("1003"), None, now=21.5)
    assert (pop.ani, pop.dnis, pop.queue, pop.priority_class, pop.ivr_flow) == ("138", "10086", "tech", "gold", "hotline")
    assert pop.ivr_path == ("welcome", "main_menu") and pop.ivr_inputs == (("main_menu", "3"),)
    assert pop.waited_s == 7.5 and pop.routing_summary == "rule tech-support"
    assert [c.call_id for c in book.of_agent("1003")] == ["c1"] and book.of_agent("1004") == []
    book.apply(ev.CallEnded(call_id=cid, at=30.0))
    book.apply(ev.CallOffered(call_id=cid, agent_id=ev.AgentId("1004"), queue=ev.QueueName("tech"), at=31.0))
    assert book.get("c1") is not None and book.get("c1").agents == ["1003"]  # type: ignore[union-attr]
    book.apply(ev.CallArrived(call_id=ev.CallId("c2"), channel_id=ev.ChannelId("c2"), channel="x", ani="", dnis="",
                              direction=ev.Direction.INBOUND, at=40.0))
    book.apply(ev.CallEnded(call_id=ev.CallId("c2"), at=41.0))
    assert book.get("c1") is None  # forgotten: only the last ended call is kept


def test_the_live_view_counts_queues_like_the_acd() -> None:
    view = LiveView({"general": 20.0})
    q = ev.QueueName("general")

    def queued(call: str, at: float) -> None:
        view.apply(ev.CallQueued(call_id=ev.CallId(call), request=ev.RoutingRequest(queue=q), at=at))

    queued("a", 0.0)
    queued("b", 1.0)
    queued("c", 2.0)
    view.apply(ev.AgentStateChanged(agent_id=ev.AgentId("1001"), old=ev.AgentState.RESERVED,
                                    new=ev.AgentState.ON_CALL, call_id=ev.CallId("a"), at=10.0))
    view.apply(ev.CallAnswered(call_id=ev.CallId("a"), agent_id=ev.AgentId("1001"), at=10.0))  # waited 10 s
    view.apply(ev.CallAnswered(call_id=ev.CallId("b"), agent_id=ev.AgentId("1002"), at=31.0))  # 30 s > SL
    (general,) = view.queue_snapshots(now=32.0)
    assert (general.waiting, general.longest_wait_s, general.offered, general.answered) == (1, 30.0, 3, 2)
    assert general.service_level == 0.5 and general.asa_s == 20.0 and general.agents_busy == 1
    view.apply(ev.CallEnded(call_id=ev.CallId("c"), at=40.0))  # hung up waiting: abandoned
    view.apply(ev.CallEnded(call_id=ev.CallId("a"), at=70.0))
    (general,) = view.queue_snapshots(now=70.0)
    assert (general.waiting, general.abandoned, general.abandon_rate) == (0, 1, 1 / 3)
    assert view.agents[ev.AgentId("1001")].talk_s == 60.0
    assert view.peek(ev.AgentId("9001")).state is ev.AgentState.LOGGED_OUT and ev.AgentId("9001") not in view.agents


class SlowCards:
    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    async def by_ani(self, ani: str) -> ev.PopCustomer | None:
        await asyncio.sleep(self.delay_s)
        return ev.PopCustomer(customer_id=ev.CustomerId("5"), account_number="A5", name="Slow Card", tier="star2",
                              segment="consumer", balance="1.00")

    async def by_customer_id(self, customer_id: str) -> ev.PopCustomer | None:
        return None


@pytest.mark.parametrize(("delay_s", "name"), [(0.3, "Slow Card"), (5.0, None)])
async def test_the_pop_waits_for_a_slow_card_at_most_card_wait_s(cti: Harness, delay_s: float, name: str | None) -> None:
    cti.service.cards = SlowCards(delay_s)
    agent = await cti.user("agent1001")
    assert agent.socket is not None
    await agent.socket.request("login")
    await agent.socket.next("agent.state-changed", new="not-ready")
    await agent.socket.request("ready")
    await cti.inbound_call("s1", "13700000000")
    await cti.bus.publish(ev.CallQueued(call_id=ev.CallId("s1"), channel_id=ev.ChannelId("s1"),
                                        request=ev.RoutingRequest(queue=ev.QueueName("general")), at=1.0))
    pop = await agent.socket.next("cti.screen-pop")
    assert (pop["customer"] or {}).get("name") == name
