"""Scenarios of Asterisk's own testsuite (../shared/ami/testsuite/) run on the emulator, with the
testsuite's dialplan, producing the events those tests expect."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emulator.app import DEFAULT_CONF_DIR, Emulator
from emulator.apps import APPLICATIONS
from emulator.dialplan import DialplanError, load_dialplan
from tests.integration.conftest import AmiProbe

TESTS = "ami/testsuite/tests"


def conf_dir(tmp_path: Path, extensions: Path) -> Path:
    """The testsuite test's extensions.conf with our manager.conf and pjsip.conf."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "extensions.conf").write_text(extensions.read_text())
    for name in ("manager.conf", "pjsip.conf"):
        (conf / name).write_text((DEFAULT_CONF_DIR / name).read_text())
    return conf


async def test_manager_originate_channel_ids(make_emulator, ami_probe, shared_dir: Path, tmp_path: Path) -> None:
    # tests/manager/originate: ChannelId/OtherChannelId become the Local halves' Uniqueids.
    conf = conf_dir(tmp_path, shared_dir / TESTS / "manager/originate/configs/ast1/extensions.conf")
    emulator: Emulator = await make_emulator(conf_dir=conf, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    iterations = [
        {"Channel": "Local/one@default", "ChannelId": "MyCustomId", "OtherChannelId": "MyOtherCustomId",
         "Exten": "one"},
        {"Channel": "Local/two@default", "ChannelId": "OnlyOneId", "Exten": "two"},
        {"Channel": "Local/three@default", "Exten": "three"},
    ]
    for it in iterations:
        reply = await probe.action("Originate", Context="default", Priority="1", Async="true", **it)
        assert reply.get("Message") == "Originate successfully queued"
        await probe.wait_event("Hangup", Channel=f"{it['Channel']}-.{{7}}.;2")
        await probe.wait_event("Hangup", Channel=f"{it['Channel']}-.{{7}}.;1")

    def one(name: str, **match: str) -> dict[str, str]:
        found = probe.find(name, **match)
        assert len(found) == 1, (name, match, len(found))
        return dict(found[0].headers)

    assert one("Newchannel", Channel="Local/one@default-.{7}0;1")["Uniqueid"] == "MyCustomId"
    assert one("Newchannel", Channel="Local/one@default-.{7}0;2")["Uniqueid"] == "MyOtherCustomId"
    bridge = one("LocalBridge", LocalOneChannel="Local/one@default-.{7}0;1", LocalTwoChannel="Local/one@default-.{7}0;2")
    assert (bridge["LocalOneUniqueid"], bridge["LocalTwoUniqueid"]) == ("MyCustomId", "MyOtherCustomId")
    assert one("Hangup", Channel="Local/one@default-.{7}0;1")["Uniqueid"] == "MyCustomId"
    assert one("Hangup", Channel="Local/one@default-.{7}0;2")["Uniqueid"] == "MyOtherCustomId"
    two_1 = one("Newchannel", Channel="Local/two@default-.{7}1;1")
    two_2 = one("Newchannel", Channel="Local/two@default-.{7}1;2")
    assert (two_1["Uniqueid"], two_2["Uniqueid"]) == ("OnlyOneId", "OnlyOneId;2")
    assert two_2["Linkedid"] == "OnlyOneId"  # the CEL expectations: LinkedId of both halves
    three_1 = one("Newchannel", Channel="Local/three@default-.{7}2;1")
    three_2 = one("Newchannel", Channel="Local/three@default-.{7}2;2")
    for uid in (three_1["Uniqueid"], three_2["Uniqueid"]):
        sec, dot, n = uid.partition(".")
        assert len(sec) == 10 and sec.isdigit() and dot and n.isdigit()
    assert three_2["Linkedid"] == three_1["Uniqueid"]
    responses = probe.find("OriginateResponse")
    assert [r.get("Response") for r in responses] == ["Success"] * 3
    assert [r.get("Reason") for r in responses] == ["4"] * 3


async def test_manager_redirect_single_app(make_emulator, ami_probe, shared_dir: Path, tmp_path: Path) -> None:
    # tests/manager/redirect/single/app: redirect a channel out of Echo to an extension.
    conf = conf_dir(tmp_path, shared_dir / TESTS / "manager/redirect/single/app/configs/ast1/extensions.conf")
    emulator: Emulator = await make_emulator(conf_dir=conf, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    await probe.action("Originate", Channel="Local/s@default", Application="Echo", Async="true")
    dial_end = await probe.wait_event("DialEnd", DestChannel="Local/s.*1")
    assert dial_end.get("DestChannelState") == "6"
    reply = await probe.action("Redirect", Channel="Local/s@default-00000000;1", Context="default",
                               Exten="redirect", Priority="1")
    assert reply.get("Message") == "Redirect successful"
    event = await probe.wait_event("UserEvent", Channel="Local/s.*1")
    assert event.get("UserEvent") == "Redirected"
    status = await probe.action("Status")
    assert status.get("Message") == "Channel status will follow"
    complete = await probe.wait_event("StatusComplete")
    assert not probe.find("Status", Channel="Surrogate/Local/s.*1")
    assert complete.get("Items") == complete.get("ListItems") == str(len(probe.find("Status")))
    assert {m.get("Channel") for m in probe.find("Status")} == {"Local/s@default-00000000;1", "Local/s@default-00000000;2"}
    done = await probe.action("UserEvent", UserEvent="Done")
    assert done.name == "Success"


async def test_manager_mixmonitor_basic(make_emulator, ami_probe, shared_dir: Path, tmp_path: Path) -> None:
    # tests/manager/mixmonitor/mixmonitor_basic: start, mute, unmute and stop from AMI. Its
    # [soundtest] context checks the file's energy with BackgroundDetect, which the emulator does not
    # run (and refuses to load); this test checks the energy of the WAV file itself instead.
    original = shared_dir / TESTS / "manager/mixmonitor/mixmonitor_basic/configs/ast1/extensions.conf"
    with pytest.raises(DialplanError) as exc:
        load_dialplan(original, APPLICATIONS)
    assert str(exc.value) == "extensions.conf:20: unknown application 'BackgroundDetect'"
    text = original.read_text()
    trimmed = tmp_path / "extensions.conf"
    trimmed.write_text(text[: text.index("[soundtest]")])
    conf = conf_dir(tmp_path, trimmed)
    emulator: Emulator = await make_emulator(conf_dir=conf, clock_scale=4.0)
    probe: AmiProbe = await ami_probe(emulator)
    await probe.action("Originate", Channel="Local/talk@default", Context="default", Exten="echo", Priority="1",
                       Async="true")
    steps = [("start", "MixMonitor", {"File": "theRecording.wav", "Options": "ri(monty)"}),
             ("mute", "MixMonitorMute", {"Direction": "both", "State": "1"}),
             ("unmute", "MixMonitorMute", {"Direction": "both", "State": "0"}),
             ("stop", "StopMixMonitor", {})]
    for marker, action, headers in steps:
        event = await probe.wait_event("UserEvent", UserEvent="test-manager-monitor", Action=marker)
        reply = await probe.action(action, Channel=event.get("Channel"), **headers)
        assert reply.name == "Success", reply
    assert len(probe.find("MixMonitorStart", Channel="Local/talk@default-.*")) == 1
    assert len(probe.find("MixMonitorMute", Channel="Local/talk@default-.*", Direction="both", State="1")) == 1
    assert len(probe.find("MixMonitorMute", Channel="Local/talk@default-.*", Direction="both", State="0")) == 1
    assert len(await asyncio.gather(probe.wait_event("MixMonitorStop", Channel="Local/talk@default-.*"))) == 1
    samples, rate = sf.read(emulator.config.spool_dir / "monitor" / "theRecording.wav", dtype="int16")
    assert rate == 8000 and samples.ndim == 1
    assert len(samples) > 8000  # SayDigits 1, 2, 3 took more than a second
    assert np.abs(samples.astype(np.int32)).mean() > 100  # energy: the far end was heard
    assert (samples == 0).sum() > 1000  # the muted stretch is silence


async def test_manager_playdtmf_receive(make_emulator, ami_probe, shared_dir: Path, tmp_path: Path) -> None:
    # tests/manager/playdtmf: without Receive the digit goes out; with Receive the dialplan gets it.
    conf = conf_dir(tmp_path, shared_dir / TESTS / "manager/playdtmf/configs/ast1/extensions.conf")
    emulator: Emulator = await make_emulator(conf_dir=conf, clock_scale=2.0)
    probe: AmiProbe = await ami_probe(emulator)
    await probe.action("Originate", Channel="Local/dialplan@default", Application="Echo", Async="true")
    ready = await probe.wait_event("UserEvent", UserEvent="ready")
    channel = ready.get("Channel")
    assert (await probe.action("PlayDTMF", Channel=channel, Digit="1")).get("Message") == "DTMF successfully queued"
    await probe.action("PlayDTMF", Channel=channel, Digit="2", Receive="1")
    await probe.wait_event("UserEvent", UserEvent="valid")
    assert not probe.find("UserEvent", UserEvent="invalid")
    sent = probe.find("DTMFEnd", Channel=channel, Digit="1")
    received = probe.find("DTMFEnd", Channel=channel, Digit="2")
    assert [m.get("Direction") for m in sent] == ["Sent"]
    assert [m.get("Direction") for m in received] == ["Received"]


async def test_bridge_action_makes_a_basic_simple_bridge(make_emulator, ami_probe) -> None:
    # tests/manager/bridge_actions: the bridge the Bridge action makes is basic/simple_bridge.
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    a = emulator.place_call({"ani": "1001", "dnis": "10086"})
    b = emulator.place_call({"ani": "1002", "dnis": "10086"})
    await probe.wait_event("MusicOnHoldStart", Channel=b.channel)
    reply = await probe.action("Bridge", Channel1=a.channel, Channel2=b.channel)
    assert reply.get("Message") == "Channels have been bridged"
    for ch in (a.channel, b.channel):
        enter = await probe.wait_event("BridgeEnter", Channel=ch)
        assert (enter.get("BridgeType"), enter.get("BridgeTechnology")) == ("basic", "simple_bridge")
    await probe.action("Hangup", Channel=a.channel)
    await probe.wait_event("BridgeDestroy")
    await probe.wait_event("Hangup", Channel=b.channel)


async def test_two_party_call_far_end_hangs_up(make_emulator, ami_probe) -> None:
    # channels/pjsip/basic_calls/two_parties/.../bob_hangs_up: HangupRequest and Hangup cause 16 on
    # the side that hung up, SoftHangupRequest and Hangup cause 16 on the other.
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    emulator.set_endpoint("1004", answer_after_s=0.5, talk_s=2.0)
    call = emulator.place_call({"ani": "13800138000", "dnis": "10086"})
    await probe.wait_event("MusicOnHoldStart", Channel=call.channel)
    await probe.action("Setvar", Channel=call.channel, Variable="ACD_AGENT_INTERFACE", Value="PJSIP/1004")
    await probe.action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
    await probe.wait_event("Hangup", Channel=call.channel)
    agent = (await probe.wait_event("DialBegin", Channel=call.channel)).get("DestChannel") or ""
    assert [m.get("Cause") for m in probe.find("HangupRequest", Channel=agent)] == ["16"]
    assert [m.get("Cause") for m in probe.find("Hangup", Channel=agent)] == ["16"]
    assert [m.get("Cause") for m in probe.find("SoftHangupRequest", Channel=call.channel)] == ["16"]
    assert [m.get("Cause") for m in probe.find("Hangup", Channel=call.channel)] == ["16"]
    assert not probe.find("HangupRequest", Channel=call.channel)


async def test_dial_busy_and_unregistered(make_emulator, ami_probe) -> None:
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    emulator.set_endpoint("1001", busy=True)
    emulator.set_endpoint("1002", registered=False)
    call = emulator.place_call({"ani": "13800138000", "dnis": "10086"})
    await probe.wait_event("MusicOnHoldStart", Channel=call.channel)
    for agent, status in (("1001", "BUSY"), ("1002", "CHANUNAVAIL")):
        mark = len(probe.messages)
        await probe.action("Setvar", Channel=call.channel, Variable="ACD_AGENT_INTERFACE", Value=f"PJSIP/{agent}")
        await probe.action("Setvar", Channel=call.channel, Variable="ACD_AGENT_ID", Value=agent)
        await probe.action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
        failed = await probe.wait_for(lambda m, a=agent: m.name == "UserEvent" and m.get("Agent") == a, start=mark)
        assert failed.get("UserEvent") == "AcdOfferFailed" and failed.get("DialStatus") == status
    # A ringing agent leg hung up from AMI: Dial's status follows the cause (app_dial handle_cause).
    emulator.set_endpoint("1003", answer=False)
    mark = len(probe.messages)
    await probe.action("Setvar", Channel=call.channel, Variable="ACD_AGENT_INTERFACE", Value="PJSIP/1003")
    await probe.action("Setvar", Channel=call.channel, Variable="ACD_AGENT_ID", Value="1003")
    await probe.action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
    ringing = await probe.wait_for(lambda m: m.name == "DialState" and m.get("Channel") == call.channel, start=mark)
    await probe.action("Hangup", Channel=ringing.get("DestChannel"), Cause="17")
    failed = await probe.wait_for(lambda m: m.name == "UserEvent" and m.get("Agent") == "1003", start=mark)
    assert failed.get("DialStatus") == "BUSY"
    busy_leg = probe.find("Hangup", Channel="PJSIP/1001-.*")
    assert [(m.get("Cause"), m.get("Cause-txt")) for m in busy_leg] == [("17", "User busy")]
    assert [m.get("DialStatus") for m in probe.find("DialEnd", Channel=call.channel)] == ["BUSY", "BUSY"]
    assert [m.get("Cause") for m in probe.find("SoftHangupRequest", Channel="PJSIP/1003-.*")] == ["17"]
    assert not probe.find("Newchannel", Channel="PJSIP/1002-.*")  # no channel for an absent phone
    assert emulator.channel(call.channel) is not None


async def test_manager_vars_and_timestamps(make_emulator, ami_probe, shared_dir: Path, tmp_path: Path) -> None:
    # tests/manager/manager_vars: manager.conf channelvars add ChanVariable lines, empty ones too.
    base = shared_dir / TESTS / "manager/manager_vars/configs/ast1"
    conf = conf_dir(tmp_path, base / "extensions.conf")
    general = (base / "manager.general.conf.inc").read_text().strip()
    users = (DEFAULT_CONF_DIR / "manager.conf").read_text().split("[callcenter]", 1)[1]
    (conf / "manager.conf").write_text(f"[general]\n{general}\ntimestampevents = yes\n\n[callcenter]{users}")
    emulator: Emulator = await make_emulator(conf_dir=conf, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    await probe.action("Originate", Channel="Local/s@default", Application="Echo", Data="", Async="true")
    varset = await probe.wait_event("VarSet", Variable="foo")
    assert varset.get("Value") == "bar"
    assert varset.get_all("ChanVariable") == ["foo=bar", "does_not_exist="]
    (newexten,) = probe.find("Newexten", Exten="s", Context="default", Priority="3")
    assert newexten.get_all("ChanVariable") == ["foo=", "does_not_exist="]
    names = [k for k, _ in newexten.headers]
    assert names[:3] == ["Event", "Privilege", "Timestamp"]
    assert names[names.index("Linkedid") + 1 : names.index("Linkedid") + 3] == ["ChanVariable", "ChanVariable"]
    dial = (await probe.wait_event("DialBegin")).headers
    assert ("DestChanVariable", "does_not_exist=") in dial
