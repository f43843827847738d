"""PCI pause from the IVR: a masked collect node (the service PIN) asks the recorder to pause around
the caller's input, and the recorder's controller turns that into MixMonitorMute commands and
audit facts naming the node, only while a recording is active."""

from __future__ import annotations

from pathlib import Path

from callcenter.events import (
    AgentId,
    CallAnswered,
    CallArrived,
    CallId,
    CallQueued,
    ChannelId,
    IvrInput,
    MuteRecording,
    QueueName,
    RecordingId,
    RecordingPaused,
    RecordingPauseRequested,
    RecordingResumed,
    RecordingResumeRequested,
    RoutingRequest,
    StartRecording,
)
from recorder.config import RecorderConfig
from recorder.control import RecordingController
from tests.ivr.test_adapter import FakeChannel, run_call

PIN_NODE = "get_account/ask_pin"


async def ivr_requests(repo_dir: Path, tmp_path: Path) -> list[object]:
    """An unknown caller keys in an account number and the PIN; what the IVR publishes, in order."""
    channel = FakeChannel(ani="13900000000", keys=["2", "1", "1", "30586001", "1", "123456", "2"])
    h = await run_call(repo_dir, tmp_path, channel)
    return [e for e in h.published if isinstance(e, IvrInput | RecordingPauseRequested | RecordingResumeRequested)]


async def test_a_masked_node_pauses_around_the_input_only(repo_dir: Path, tmp_path: Path) -> None:
    published = await ivr_requests(repo_dir, tmp_path)
    shown = [(type(e).__name__, getattr(e, "node", getattr(e, "by", "")), getattr(e, "value", "")) for e in published]
    assert shown == [
        ("IvrInput", "choose_language", "2"),
        ("IvrInput", "main_menu", "1"),
        ("IvrInput", "billing_menu", "1"),
        ("IvrInput", "get_account/ask_account", "30586001"),  # not masked: no pause
        ("IvrInput", "get_account/confirm_account", "yes"),
        ("RecordingPauseRequested", f"ivr:{PIN_NODE}", ""),
        ("RecordingResumeRequested", f"ivr:{PIN_NODE}", ""),
        ("IvrInput", PIN_NODE, "******"),
        ("IvrInput", "anything_else", "no"),
    ]
    pause = published[5]
    assert isinstance(pause, RecordingPauseRequested) and pause.call_id == "linked-1" and pause.reason == "pci"


async def test_the_ivr_pause_mutes_an_active_recording_and_is_audited(repo_dir: Path, tmp_path: Path) -> None:
    call, channel = CallId("linked-1"), ChannelId("1700000000.1")
    controller = RecordingController(RecorderConfig().policy, legs_dir="/legs")
    controller.handle(CallArrived(call_id=call, channel_id=channel, channel="PJSIP/trunk-00000001", ani="139",
                                  dnis="10086", at=0.0), 0.0)
    controller.handle(CallQueued(call_id=call, channel_id=channel, request=RoutingRequest(queue=QueueName("billing")),
                                 at=1.0), 1.0)
    started = controller.handle(CallAnswered(call_id=call, agent_id=AgentId("1001"), at=2.0), 2.0)
    assert [type(m) for m in started] == [StartRecording]
    # The agent hands the caller to the IVR to key in the PIN (a payment flow), recording on.
    requests = [e for e in await ivr_requests(repo_dir, tmp_path) if not isinstance(e, IvrInput)]
    out = [m for i, e in enumerate(requests) for m in controller.handle(e, 10.0 + i)]
    rid = RecordingId(call)
    assert out == [
        MuteRecording(channel_id=channel, recording_id=rid, mute=True),
        RecordingPaused(call_id=call, recording_id=rid, by=f"ivr:{PIN_NODE}", at=10.0),
        MuteRecording(channel_id=channel, recording_id=rid, mute=False),
        RecordingResumed(call_id=call, recording_id=rid, by=f"ivr:{PIN_NODE}", at=11.0),
    ]


async def test_without_a_recording_the_ivr_pause_does_nothing(repo_dir: Path, tmp_path: Path) -> None:
    controller = RecordingController(RecorderConfig().policy, legs_dir="/legs")
    requests = [e for e in await ivr_requests(repo_dir, tmp_path) if not isinstance(e, IvrInput)]
    assert [controller.handle(e, 5.0) for e in requests] == [[], []]
    assert controller.active_recording(CallId("linked-1")) is None
