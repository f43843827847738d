"""The recording controller: which commands and audit facts each call event produces."""

from __future__ import annotations

import pytest

from callcenter.events import (
    AgentId,
    CallAnswered,
    CallArrived,
    CallEnded,
    CallId,
    CallQueued,
    CampaignId,
    ChannelId,
    ContactId,
    DialAttempted,
    Direction,
    MuteRecording,
    PausedSpan,
    ProcessRecording,
    QueueName,
    RecordingId,
    RecordingLeg,
    RecordingPaused,
    RecordingPauseRequested,
    RecordingResumed,
    RecordingResumeRequested,
    RecordingStarted,
    RecordingStartRequested,
    RecordingStopped,
    RecordingStopRequested,
    RoutingRequest,
    SetVariable,
    StartRecording,
    StopRecording,
)
from recorder.control import RecordingController
from recorder.policy import RecordingPolicy

C = CallId("1700000000.1")
CH = ChannelId("1700000000.1")
R = RecordingId("1700000000.1")
LEGS = (
    RecordingLeg(speaker="customer", file="/spool/monitor/1700000000.1-customer.wav"),
    RecordingLeg(speaker="agent", file="/spool/monitor/1700000000.1-agent.wav"),
)
START = StartRecording(
    call_id=C, channel_id=CH, recording_id=R, file="", rx_file=LEGS[0].file, tx_file=LEGS[1].file
)


def controller(**policy: object) -> RecordingController:
    return RecordingController(RecordingPolicy.from_mapping(policy, where="test"), legs_dir="/spool/monitor/")


def replay(ctl: RecordingController, events: list[tuple[float, object]]) -> list[tuple[float, object]]:
    return [(t, out) for t, ev in events for out in ctl.handle(ev, t)]


def arrived(direction: Direction = Direction.INBOUND) -> CallArrived:
    return CallArrived(call_id=C, channel_id=CH, channel="PJSIP/trunk-1", ani="13800138000", dnis="10086",
                       direction=direction, at=0.0)


def queued(queue: str = "billing") -> CallQueued:
    return CallQueued(call_id=C, channel_id=CH, request=RoutingRequest(queue=QueueName(queue)), at=0.0)


ANSWERED = CallAnswered(call_id=C, agent_id=AgentId("1001"), at=0.0)
ENDED = CallEnded(call_id=C, at=0.0)


def test_a_recorded_call_is_announced_started_paused_resumed_and_processed() -> None:
    out = replay(controller(), [
        (0.0, arrived()),
        (5.0, queued()),
        (20.0, ANSWERED),
        (30.0, RecordingPauseRequested(call_id=C, by="1001", at=30.0)),
        (45.5, RecordingResumeRequested(call_id=C, by="1001", at=45.5)),
        (80.0, ENDED),
    ])
    assert out == [
        (5.0, SetVariable(channel_id=CH, name="RECORDING_ANNOUNCE", value="1")),
        (20.0, START),
        (30.0, MuteRecording(channel_id=CH, recording_id=R, mute=True)),
        (30.0, RecordingPaused(call_id=C, recording_id=R, by="1001", at=30.0)),
        (45.5, MuteRecording(channel_id=CH, recording_id=R, mute=False)),
        (45.5, RecordingResumed(call_id=C, recording_id=R, by="1001", at=45.5)),
        (80.0, ProcessRecording(
            call_id=C, recording_id=R, legs=LEGS, started_at=20.0,
            paused_spans=(PausedSpan(start_s=10.0, end_s=25.5),),
            queue=QueueName("billing"), agent_id=AgentId("1001"),
        )),
    ]


def test_repeated_pauses_do_nothing_and_an_open_pause_closes_at_the_end() -> None:
    out = replay(controller(), [
        (0.0, arrived()), (1.0, queued()), (2.0, ANSWERED),
        (3.0, RecordingPauseRequested(call_id=C, by="ivr:card", at=3.0)),
        (4.0, RecordingPauseRequested(call_id=C, by="1001", at=4.0)),
        (9.0, ENDED),
    ])
    commands = [o for _, o in out]
    assert sum(isinstance(o, MuteRecording) for o in commands) == 1
    assert isinstance(commands[-1], ProcessRecording)
    assert commands[-1].paused_spans == (PausedSpan(start_s=1.0, end_s=7.0),)


def test_a_pause_before_the_recording_starts_it_muted() -> None:
    # The IVR collects the card number before the agent answers; the agent then talks while the
    # pause is still in force, and the recording must not capture that.
    out = replay(controller(), [
        (0.0, arrived()),
        (1.0, RecordingPauseRequested(call_id=C, by="ivr:card-number", at=1.0)),
        (2.0, queued()),
        (3.0, ANSWERED),
        (4.0, RecordingResumeRequested(call_id=C, by="ivr:card-number", at=4.0)),
        (6.0, ENDED),
    ])
    assert [o for t, o in out if t == 3.0] == [
        START,
        MuteRecording(channel_id=CH, recording_id=R, mute=True),
        RecordingPaused(call_id=C, recording_id=R, by="pause-in-force", at=3.0),
    ]
    assert out[-1][1].paused_spans == (PausedSpan(start_s=0.0, end_s=1.0),)  # type: ignore[union-attr]


def test_nothing_is_recorded_or_announced_when_the_queue_says_never() -> None:
    out = replay(controller(queues={"hr": "never"}), [
        (0.0, arrived()), (1.0, queued("hr")), (2.0, ANSWERED),
        (3.0, RecordingStartRequested(call_id=C, by="1001", at=3.0)),
        (4.0, RecordingPauseRequested(call_id=C, by="1001", at=4.0)),
        (5.0, ENDED),
    ])
    assert out == []


def test_on_demand_starts_on_request_and_stops_on_request() -> None:
    ctl = controller(default="on-demand")
    out = replay(ctl, [
        (0.0, arrived()), (1.0, queued()), (2.0, ANSWERED),
        (10.0, RecordingStartRequested(call_id=C, by="1001", at=10.0)),
        (11.0, RecordingStartRequested(call_id=C, by="1001", at=11.0)),
        (20.0, RecordingPauseRequested(call_id=C, by="1001", at=20.0)),
        (30.0, RecordingStopRequested(call_id=C, by="1001", at=30.0)),
        (30.2, RecordingStartRequested(call_id=C, by="1001", at=30.2)),  # still stopping: ignored
        (30.3, RecordingStopped(call_id=C, recording_id=R, at=30.3)),  # Asterisk closed the files
        (30.5, RecordingResumeRequested(call_id=C, by="1001", at=30.5)),
        (31.0, RecordingStartRequested(call_id=C, by="1001", at=31.0)),
        (40.0, ENDED),
    ])
    r2 = RecordingId(f"{C}-2")
    assert [type(o).__name__ for _, o in out] == [
        "SetVariable", "StartRecording", "MuteRecording", "RecordingPaused", "StopRecording", "ProcessRecording",
        "StartRecording", "ProcessRecording",
    ]
    assert out[1] == (10.0, START)
    assert out[4] == (30.0, StopRecording(call_id=C, channel_id=CH, recording_id=R))
    first = out[5]
    assert first[0] == 30.3
    assert first[1].started_at == 10.0  # type: ignore[union-attr]
    assert first[1].paused_spans == (PausedSpan(start_s=10.0, end_s=20.0),)  # type: ignore[union-attr]
    assert out[6][1].recording_id == r2  # type: ignore[union-attr]
    assert out[6][1].rx_file == f"/spool/monitor/{r2}-customer.wav"  # type: ignore[union-attr]
    assert out[7][1].recording_id == r2  # type: ignore[union-attr]
    assert ctl.active_recording(C) is None


def test_recording_stopped_finishes_once_and_the_call_end_adds_nothing() -> None:
    out = replay(controller(), [
        (0.0, arrived()), (1.0, queued()), (2.0, ANSWERED),
        (9.0, RecordingStopped(call_id=C, recording_id=RecordingId("other"), at=9.0)),
        (9.5, RecordingStopped(call_id=C, recording_id=R, at=9.5)),
        (10.0, ENDED),
    ])
    assert [(t, type(o).__name__) for t, o in out] == [
        (1.0, "SetVariable"), (2.0, "StartRecording"), (9.5, "ProcessRecording"),
    ]


def test_an_early_on_demand_request_starts_at_answer_and_always_cannot_be_stopped() -> None:
    out = replay(controller(default="on-demand"), [
        (0.0, arrived()), (1.0, queued()),
        (1.5, RecordingStartRequested(call_id=C, by="1001", at=1.5)),
        (2.0, ANSWERED),
    ])
    assert out[-1] == (2.0, START)
    always = controller()
    replay(always, [(0.0, arrived()), (1.0, queued()), (2.0, ANSWERED)])
    assert always.handle(RecordingStopRequested(call_id=C, by="1001", at=3.0), 3.0) == []
    assert always.active_recording(C) == R


def test_the_campaign_of_an_outbound_call_decides() -> None:
    out = replay(controller(outbound="never", campaigns={"winback": "always"}), [
        (0.0, DialAttempted(campaign_id=CampaignId("winback"), contact_id=ContactId("k1"), number="138",
                            call_id=C, at=0.0)),
        (0.5, arrived(Direction.OUTBOUND)),
        (2.0, queued("sales")), (3.0, ANSWERED), (9.0, ENDED),
    ])
    process = out[-1][1]
    assert isinstance(process, ProcessRecording)
    assert process.campaign_id == CampaignId("winback")
    assert process.direction is Direction.OUTBOUND


def test_spans_are_measured_from_when_asterisk_started_writing() -> None:
    out = replay(controller(), [
        (0.0, arrived()), (1.0, queued()), (2.0, ANSWERED),
        (2.4, RecordingStarted(call_id=C, recording_id=R, channel_id=CH, at=2.4)),
        (5.0, RecordingPauseRequested(call_id=C, by="1001", at=5.0)),
        (6.0, RecordingResumeRequested(call_id=C, by="1001", at=6.0)),
        (9.0, ENDED),
    ])
    process = out[-1][1]
    assert isinstance(process, ProcessRecording)
    assert process.started_at == 2.4
    assert process.paused_spans == (PausedSpan(start_s=pytest.approx(2.6), end_s=pytest.approx(3.6)),)
