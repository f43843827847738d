"""The call record builder: domain events in, one complete record per call out (pure, no I/O)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callcenter import events as ev
from callcenter.events import AgentId, CallId, ChannelId, QueueName
from crm.calllog import CallRecordBuilder, CallRecordData

C = CallId("1714552215.42")
CALLER = ChannelId("1714552215.42")
AGENT_LEG = ChannelId("1714552230.43")
A = AgentId("1001")


def _request(queue: str = "billing") -> ev.RoutingRequest:
    return ev.RoutingRequest(
        queue=QueueName(queue),
        priority_class="vip",
        priority=100,
        rule="vip-first",
        explanation="tier vip -> priority 100",
    )


def _arrive_and_queue(t: float = 100.0) -> list[Any]:
    return [
        ev.CallArrived(
            call_id=C,
            channel_id=CALLER,
            channel="PJSIP/trunk-00000001",
            ani="13800138000",
            dnis="10086",
            caller_name="ZHANG",
            at=t,
        ),
        ev.IvrEntered(call_id=C, channel_id=CALLER, flow="hotline", flow_version="3", at=t + 1),
        ev.IvrExited(call_id=C, flow="hotline", path=("welcome", "main", "billing"), outcome="route", at=t + 20),
        ev.CallQueued(
            call_id=C,
            channel_id=CALLER,
            request=_request(),
            ani="13800138000",
            dnis="10086",
            customer_id=ev.CustomerId("7"),
            at=t + 20.5,
        ),
    ]


def _feed(builder: CallRecordBuilder, events: list[Any]) -> list[CallRecordData]:
    out: list[CallRecordData] = []
    for e in events:
        out.extend(builder.feed(e))
    return out


def test_answered_call_with_hold_transfer_recording_and_wrap_up() -> None:
    builder = CallRecordBuilder()
    events = [
        *_arrive_and_queue(),
        ev.CallOffered(call_id=C, agent_id=AgentId("1009"), queue=QueueName("billing"), at=125.0),
        ev.OfferNotAnswered(call_id=C, agent_id=AgentId("1009"), at=140.0),
        ev.CallOffered(call_id=C, agent_id=A, queue=QueueName("billing"), at=141.0),
        ev.CallAnswered(call_id=C, agent_id=A, at=145.0),
        ev.RecordingStarted(call_id=C, recording_id=ev.RecordingId("rec-1"), channel_id=CALLER, at=145.1),
        ev.ChannelHeld(call_id=C, channel_id=CALLER, at=200.0),
        ev.ChannelUnheld(call_id=C, channel_id=CALLER, at=230.0),
        ev.CallTransferred(call_id=C, kind="blind", target="2001", by_agent=A, at=300.0),
        ev.ChannelHungUp(call_id=C, channel_id=CALLER, cause=16, cause_txt="Normal Clearing", at=345.0),
        ev.CallEnded(call_id=C, hangup_side=ev.HangupSide.CALLER, cause=16, at=345.0),
    ]
    assert _feed(builder, events) == []  # the agent is still in wrap-up
    assert builder.in_progress == 1
    [record] = builder.feed(
        ev.WrapUpEnded(agent_id=A, call_id=C, disposition="resolved", notes="refund issued", at=360.0)
    )
    assert builder.in_progress == 0
    expected_events = [ev.to_json(e) for e in events]
    expected_events.append(
        ev.to_json(ev.WrapUpEnded(agent_id=A, call_id=C, disposition="resolved", notes="refund issued", at=360.0))
    )
    assert record == CallRecordData(
        call_id=C,
        direction="inbound",
        ani="13800138000",
        dnis="10086",
        caller_name="ZHANG",
        customer_id=7,
        arrived_at=100.0,
        ivr_exited_at=120.0,
        queued_at=120.5,
        offered_at=125.0,
        answered_at=145.0,
        ended_at=345.0,
        wrap_up_ended_at=360.0,
        wait_s=24.5,
        talk_s=170.0,
        hold_s=30.0,
        wrap_up_s=15.0,
        queue="billing",
        agent_id="1001",
        offers=2,
        priority_class="vip",
        ivr_flow="hotline",
        ivr_path=("welcome", "main", "billing"),
        routing_summary="vip-first; tier vip -> priority 100",
        transfers=({"kind": "blind", "target": "2001", "by_agent": "1001", "at": 300.0},),
        hangup_side="caller",
        hangup_cause=16,
        hangup_cause_txt="Normal Clearing",
        disposition="resolved",
        notes="refund issued",
        recording_id="rec-1",
        outcome="answered",
        events=tuple(expected_events),
    )
    assert CallRecordData.from_json(record.to_json()) == record


def test_abandoned_call_keeps_its_wait_and_completes_without_wrap_up() -> None:
    builder = CallRecordBuilder()
    [record] = _feed(
        builder,
        [
            *_arrive_and_queue(),
            ev.CallAbandoned(call_id=C, queue=QueueName("billing"), waited_s=33.0, at=153.5),
            ev.CallEnded(call_id=C, hangup_side=ev.HangupSide.CALLER, at=153.5),
        ],
    )
    assert (record.outcome, record.wait_s, record.talk_s, record.agent_id, record.hangup_side) == (
        "abandoned",
        33.0,
        0.0,
        None,
        "caller",
    )


def test_a_caller_who_hangs_up_in_queue_without_an_abandon_event_is_abandoned_with_the_wait() -> None:
    [record] = _feed(CallRecordBuilder(), [*_arrive_and_queue(), ev.CallEnded(call_id=C, at=150.5)])
    assert (record.outcome, record.wait_s) == ("abandoned", 30.0)


def test_overflow_then_fallback_and_self_service_outcomes() -> None:
    builder = CallRecordBuilder()
    [overflowed] = _feed(
        builder,
        [
            *_arrive_and_queue(),
            ev.CallOverflowed(call_id=C, from_queue=QueueName("billing"), to_queue=QueueName("external"), at=210.0),
            ev.CallEnded(call_id=C, at=211.0),
        ],
    )
    assert (overflowed.outcome, overflowed.overflowed_to, overflowed.queue) == ("overflowed", "external", "external")

    c2 = CallId("c2")
    [fallback] = _feed(
        builder,
        [
            ev.CallArrived(call_id=c2, channel_id=ChannelId("c2"), channel="PJSIP/t-2", ani="", dnis="10086", at=0.0),
            ev.CallQueued(call_id=c2, request=_request("general"), at=5.0),
            ev.CallSentToFallback(call_id=c2, queue=QueueName("general"), reason="control plane gone", at=125.0),
            ev.CallEnded(call_id=c2, hangup_side=ev.HangupSide.SYSTEM, at=160.0),
        ],
    )
    assert (fallback.outcome, fallback.fallback_reason, fallback.wait_s) == ("fallback", "control plane gone", 155.0)

    c3 = CallId("c3")
    [selfservice] = _feed(
        builder,
        [
            ev.CallArrived(
                call_id=c3, channel_id=ChannelId("c3"), channel="PJSIP/t-3", ani="13900139000", dnis="10086", at=0.0
            ),
            ev.IvrExited(call_id=c3, flow="hotline", path=("welcome", "balance"), outcome="hangup", at=40.0),
            ev.CallEnded(call_id=c3, hangup_side=ev.HangupSide.CALLER, at=41.0),
        ],
    )
    assert (selfservice.outcome, selfservice.ivr_path, selfservice.wait_s, selfservice.queue) == (
        "self-service",
        ("welcome", "balance"),
        0.0,
        None,
    )


def test_wrap_up_without_call_id_is_matched_by_agent_and_late_events_are_ignored() -> None:
    builder = CallRecordBuilder()
    _feed(
        builder,
        [
            *_arrive_and_queue(),
            ev.CallAnswered(call_id=C, agent_id=A, at=130.0),
            ev.CallEnded(call_id=C, at=190.0),
        ],
    )
    [record] = builder.feed(ev.WrapUpEnded(agent_id=A, disposition="info", at=200.0))
    assert (record.disposition, record.wrap_up_s) == ("info", 10.0)
    assert record.events[-1]["call_id"] == C
    # A straggler from another channel of the finished call must not start a second record.
    assert builder.feed(ev.ChannelHungUp(call_id=C, channel_id=AGENT_LEG, cause=16, at=201.0)) == []
    assert builder.in_progress == 0
    assert builder.expire(now=10**9) == []


def test_expire_finishes_overdue_wrap_ups_and_stale_calls_only() -> None:
    builder = CallRecordBuilder(wrap_up_timeout_s=600, stale_call_s=3600)
    _feed(
        builder,
        [*_arrive_and_queue(), ev.CallAnswered(call_id=C, agent_id=A, at=130.0), ev.CallEnded(call_id=C, at=190.0)],
    )
    c2 = CallId("c2")
    builder.feed(ev.CallArrived(call_id=c2, channel_id=ChannelId("c2"), channel="x", ani="1", dnis="10086", at=0.0))
    assert builder.expire(now=789.0) == []
    [late] = builder.expire(now=790.0)
    assert (late.call_id, late.outcome, late.disposition, late.wrap_up_ended_at) == (C, "answered", "", None)
    [stale] = builder.expire(now=3600.0)
    assert (stale.call_id, stale.ended_at, stale.outcome) == ("c2", None, "self-service")


def test_a_real_asterisk_call_capture_becomes_one_record(shared_dir: Path) -> None:
    """A Wazo/Asterisk capture of one extension-to-extension call (ring group of two phones, one
    answers), through the PBX room's call tracker, then the builder."""
    from pbx.ami import AmiDecoder
    from pbx.calls import CallTracker

    tracker = CallTracker(variables=[])
    builder = CallRecordBuilder()
    decoder = AmiDecoder()
    raw = (shared_dir / "ami" / "traces" / "wazo-amid--benchmark-call-events.txt").read_bytes()
    facts = [f for msg in [*decoder.feed(raw), *decoder.end_of_stream()] for f in tracker.handle(msg, now=50.0)]
    records = [r for f in facts for r in builder.feed(f)]
    assert builder.in_progress == 0
    [record] = records
    assert (record.call_id, record.ani, record.dnis, record.caller_name, record.direction) == (
        "1511987918.22",
        "101",
        "103",
        "Alice Wuuuuuuuuuuuunderland",
        "inbound",
    )
    assert (record.hangup_side, record.hangup_cause, record.hangup_cause_txt) == ("agent", 16, "Normal Clearing")
    assert (record.arrived_at, record.answered_at, record.ended_at, record.outcome) == (50.0, 50.0, 50.0, "answered")
    assert (record.agent_id, record.queue, record.wrap_up_ended_at) == (None, None, None)
    assert [e["type"] for e in record.events] == [ev.message_name(f) for f in facts]
    assert [ev.from_json(e) for e in record.events] == facts


def _decided(decision: str, agent: str, at: float) -> ev.RoutingDecided:
    return ev.RoutingDecided(
        decision_id=ev.DecisionId(decision),
        call_id=C,
        agent_id=AgentId(agent),
        queue=QueueName("billing"),
        trigger="call-queued",
        strategy="longest-idle",
        priority_class="gold",
        call_score_s=0.0,
        wait_s=0.0,
        relaxation_step=0,
        at=at,
    )


def _state(
    agent: str, old: ev.AgentState, new: ev.AgentState, at: float, call: CallId | None = C
) -> ev.AgentStateChanged:
    return ev.AgentStateChanged(agent_id=AgentId(agent), old=old, new=new, call_id=call, at=at)


def test_the_acds_own_facts_drive_offers_answer_and_wrap_up() -> None:
    builder = CallRecordBuilder()
    S = ev.AgentState
    events = [
        *_arrive_and_queue(),
        _decided(f"{C}/1", "1001", 121.0),
        ev.CallOffered(
            call_id=C, agent_id=A, queue=QueueName("billing"), decision_id=ev.DecisionId(f"{C}/1"), at=121.0
        ),
        _state("1001", S.RESERVED, S.NOT_READY, 136.0),  # ring-no-answer
        _decided(f"{C}/2", "1002", 136.0),
        _state("1002", S.RESERVED, S.ON_CALL, 140.0),
        ev.CallEnded(call_id=C, hangup_side=ev.HangupSide.CALLER, at=200.0),
        _state("1002", S.ON_CALL, S.WRAP_UP, 200.0),
    ]
    assert _feed(builder, events) == []
    [record] = builder.feed(_state("1002", S.WRAP_UP, S.READY, 210.0, call=None))
    assert (record.offers, record.offered_at, record.answered_at, record.agent_id) == (2, 121.0, 140.0, "1002")
    assert (record.wait_s, record.talk_s, record.wrap_up_ended_at, record.wrap_up_s) == (19.5, 60.0, 210.0, 10.0)
    assert (record.priority_class, record.outcome) == ("vip", "answered")  # the request's class stands
    assert record.events[-1] == {**ev.to_json(_state("1002", S.WRAP_UP, S.READY, 210.0, call=None)), "call_id": C}
