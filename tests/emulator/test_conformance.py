"""Every event type the emulator sends has Asterisk 20.20.1's fields in Asterisk's order.

The documented field lists come from ../shared/ami/spec/asterisk-manager-spec-20.20.1.json; where
the C code writes headers in another order than the documentation, the order of
spec/asterisk-wire-templates-20.20.1.json wins (WIRE_ORDER below cites the template)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from emulator.app import Emulator
from pbx.ami import AmiMessage
from tests.integration.conftest import AmiProbe

SNAPSHOT = ["Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
            "ConnectedLineName", "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid"]
BRIDGE = ["BridgeUniqueid", "BridgeType", "BridgeTechnology", "BridgeCreator", "BridgeName", "BridgeNumChannels",
          "BridgeVideoSourceMode"]


def prefixed(prefix: str, names: list[str]) -> list[str]:
    return [prefix + n for n in names]


# Header order as written by the C code where it differs from the documentation.
WIRE_ORDER = {
    # main/manager.c:6640 astman_append: idText, snapshot, Application, ApplicationData, Duration, BridgeId
    "CoreShowChannel": ["ActionID", *SNAPSHOT, "Application", "ApplicationData", "Duration", "BridgeId"],
    # main/manager.c:3722: Privilege: Call, snapshot, Type ... Seconds, then variables and idText last
    "Status": [*SNAPSHOT, "Type", "DNID", "EffectiveConnectedLineNum", "EffectiveConnectedLineName", "TimeToHangup",
               "BridgeID", "Application", "Data", "Nativeformats", "Readformat", "Readtrans", "Writeformat",
               "Writetrans", "Callgroup", "Pickupgroup", "Seconds", "ActionID"],
    # main/stasis_bridges.c:1233: Result, six snapshot blocks, IsExternal, then the destination
    "AttendedTransfer": ["Result", *prefixed("OrigTransferer", SNAPSHOT), *prefixed("Orig", BRIDGE),
                         *prefixed("SecondTransferer", SNAPSHOT), *prefixed("Second", BRIDGE),
                         *prefixed("Transferee", SNAPSHOT), *prefixed("TransferTarget", SNAPSHOT), "IsExternal",
                         "DestType", "DestBridgeUniqueid"],
    # wire-format-notes.md "Lists": Event, ActionID, EventList, ListItems (StatusComplete adds Items)
    "CoreShowChannelsComplete": ["ActionID", "EventList", "ListItems"],
    "StatusComplete": ["ActionID", "EventList", "ListItems", "Items"],
    # main/manager.c:3416, written directly
    "FullyBooted": ["Uptime", "LastReload", "Status"],
}
# Fields Asterisk writes only in some instances of the event.
OPTIONAL = {
    "Hangup": {"TechCause"},  # only when a technology cause is set
    "BridgeEnter": {"SwapUniqueid"},
    "DialBegin": set(SNAPSHOT),  # no caller block when AMI Originate dials
    "DialState": set(SNAPSHOT),
    "DialEnd": set(SNAPSHOT),
    "OriginateResponse": {"Context", "Exten", "Application", "Data"},  # one pair or the other
    "UserEvent": set(SNAPSHOT),  # the UserEvent action (main/manager.c:6479) has no channel
    # manager_channels.c channel_chanspy_stop_cb: no Spyee block once the spied channel is gone
    "ChanSpyStop": set(prefixed("Spyee", SNAPSHOT)),
}
# Events written straight to the requesting session: no Privilege line (or Asterisk's own).
PRIVILEGE = {"CoreShowChannel": None, "CoreShowChannelsComplete": None, "StatusComplete": None, "Status": "Call",
             "FullyBooted": "system,all"}


@pytest.fixture(scope="module")
def spec(shared_dir: Path) -> dict:
    return json.loads((shared_dir / "ami/spec/asterisk-manager-spec-20.20.1.json").read_text())


def expected_headers(name: str, spec: dict, present: list[str]) -> list[str]:
    if name in WIRE_ORDER:
        return [h for h in WIRE_ORDER[name] if h in present or h not in ("ActionID",)]
    documented = name if name in spec["events"] else {"Newexten": "NewExten"}.get(name, name)
    event = spec["events"][documented]
    optional = {f for f, d in event["field_details"].items() if d.get("required") == "false"} | OPTIONAL.get(name, set())
    return [f for f in event["fields"] if f not in optional or f in present]


def check(message: AmiMessage, spec: dict) -> str | None:
    names = [k for k, _ in message.headers]
    assert names[0] == "Event"
    name = message.name
    if name in PRIVILEGE:
        want_privilege = PRIVILEGE[name]
    else:
        documented = spec["events"].get(name) or spec["events"][{"Newexten": "NewExten"}.get(name, name)]
        want_privilege = ",".join(documented["privilege"]) + ",all"
    body = names[1:]
    if want_privilege is not None:
        if body[:1] != ["Privilege"] or message.get("Privilege") != want_privilege:
            return f"{name}: Privilege {message.get('Privilege')!r}, expected {want_privilege!r}"
        body = body[1:]
    want = expected_headers(name, spec, body)
    if name == "UserEvent":
        body = body[: len(want)]  # the application's own headers follow
    if body != want:
        return f"{name}: headers {body}\n   expected {want}"
    return None


async def run_scenarios(emulator: Emulator, probe: AmiProbe, tmp_path: Path) -> None:
    emulator.set_endpoint("1001", answer_after_s=0.5, talk_s=None)
    emulator.set_endpoint("1002", answer_after_s=0.5, talk_s=None)
    # 1. An inbound call offered to an agent, recorded, with DTMF, caller id change and a blind transfer.
    call = emulator.place_call({"ani": "13800138000", "dnis": "10086", "caller_name": 'Zoë "VIP"'})
    await probe.wait_event("MusicOnHoldStart", Channel=call.channel)
    for variable, value in (("ACD_AGENT_ID", "1001"), ("ACD_AGENT_INTERFACE", "PJSIP/1001"),
                            ("ACD_RECORD", "1"), ("ACD_RECORDING_FILE", str(tmp_path / "c1.wav"))):
        await probe.action("Setvar", Channel=call.channel, Variable=variable, Value=value)
    await probe.action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
    enter = await probe.wait_event("BridgeEnter", Channel=call.channel)
    agent = next(m.get("Channel") for m in probe.find("BridgeEnter") if m.get("Channel") != call.channel)
    await probe.action("PlayDTMF", Channel=call.channel, Digit="5", Receive="1")
    await probe.wait_event("DTMFEnd", Channel=call.channel)
    await probe.action("Setvar", Channel=call.channel, Variable="CALLERID(num)", Value="13800138999")
    await probe.wait_event("NewCallerid", Channel=call.channel)
    emulator.hold(agent or "")
    await probe.wait_event("Hold", Channel=agent)
    emulator.hold(agent or "", on=False)
    await probe.wait_event("Unhold", Channel=agent)
    mute = await probe.action("MixMonitorMute", Channel=call.channel, Direction="read", State="1")
    assert mute.name == "Success"
    await probe.action("CoreShowChannels")
    await probe.wait_event("CoreShowChannelsComplete")
    await probe.action("Status")
    await probe.wait_event("StatusComplete")
    await probe.action("Atxfer", Channel=agent, Exten="s", Context="acd-wait")
    await probe.wait_event("LocalBridge")
    await asyncio.sleep(0.2)
    await emulator.far_end_hangup(agent or "")
    await probe.wait_event("AttendedTransfer")
    assert enter.get("BridgeUniqueid")
    # 2. Outbound through the trunk (answered, AMD says human) and a Local originate.
    emulator.set_number("13900139000", answer_after_s=0.2, talk_s=3.0)
    await probe.action("Originate", Channel="PJSIP/13900139000@pstn-trunk", Context="outbound",
                       Exten="13900139000", Priority="1", Async="true", CallerID='"Hotline" <10086>')
    await probe.wait_event("OriginateResponse", Response="Success")
    await probe.action("Originate", Channel="Local/s@acd-hold", Application="Wait", Data="1", Async="yes")
    await probe.wait_event("OriginateResponse", Channel="Local/.*")
    # 3. Two callers bridged by AMI, then a blind transfer.
    a = emulator.place_call({"ani": "1", "dnis": "10086"})
    b = emulator.place_call({"ani": "2", "dnis": "10086"})
    await probe.wait_event("MusicOnHoldStart", Channel=b.channel)
    await probe.action("Bridge", Channel1=a.channel, Channel2=b.channel)
    await probe.wait_event("BridgeEnter", Channel=b.channel)
    await probe.action("BlindTransfer", Channel=a.channel, Context="acd-wait", Exten="fallback")
    await probe.wait_event("BlindTransfer")
    await probe.wait_event("Hangup", Channel=a.channel)
    await probe.action("Hangup", Channel=b.channel)
    # 4. A supervisor listens to an agent's call (ChanSpy through [cc-spy]) until the call ends;
    #    the agent's phone was answered with PJSIPNotify.
    emulator.set_endpoint("1002", answer=False, talk_s=None)
    emulator.set_endpoint("9001", answer_after_s=0.2, talk_s=None)
    c = emulator.place_call({"ani": "3", "dnis": "10086"})
    await probe.wait_event("MusicOnHoldStart", Channel=c.channel)
    await probe.action("Setvar", Channel=c.channel, Variable="ACD_AGENT_INTERFACE", Value="PJSIP/1002")
    await probe.action("Redirect", Channel=c.channel, Context="acd-connect", Exten="s", Priority="1")
    spied = (await probe.wait_event("DialState", Channel=c.channel)).get("DestChannel") or ""
    await probe.action("PJSIPNotify", Endpoint="1002", Variable="Event=talk")
    await probe.wait_event("BridgeEnter", Channel=c.channel)
    await probe.action("Originate", Channel="PJSIP/9001", Context="cc-spy", Exten="s", Priority="1", Async="true",
                       Variable=f"CC_SPY_CHANNEL={spied},CC_SPY_OPTIONS=qE")
    await probe.wait_event("ChanSpyStart", SpyeeChannel=spied)
    await emulator.far_end_hangup(c.channel)
    await probe.wait_event("ChanSpyStop")
    await probe.action("UserEvent", UserEvent="Done")
    async with asyncio.timeout(10):
        await emulator.wait_idle()


async def test_every_event_matches_the_20_20_1_spec(make_emulator, ami_probe, spec, tmp_path: Path) -> None:
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0, globals={"ACD_FALLBACK_TIMEOUT": "5"})
    probe: AmiProbe = await ami_probe(emulator)
    await run_scenarios(emulator, probe, tmp_path)
    seen: dict[str, AmiMessage] = {}
    problems = []
    for message in probe.events:
        if (problem := check(message, spec)) is not None and problem not in problems:
            problems.append(problem)
        seen.setdefault(message.name, message)
    assert not problems, "\n".join(problems)
    must = {"Newchannel", "Newstate", "NewCallerid", "NewConnectedLine", "Newexten", "VarSet", "DialBegin",
            "DialState", "DialEnd", "BridgeCreate", "BridgeEnter", "BridgeLeave", "BridgeDestroy", "MusicOnHoldStart",
            "MusicOnHoldStop", "Hold", "Unhold", "DTMFBegin", "DTMFEnd", "MixMonitorStart", "MixMonitorStop", "MixMonitorMute",
            "HangupRequest", "SoftHangupRequest", "Hangup", "OriginateResponse", "UserEvent", "LocalBridge",
            "BlindTransfer", "AttendedTransfer", "CoreShowChannel", "CoreShowChannelsComplete", "Status",
            "StatusComplete", "FullyBooted", "ChanSpyStart", "ChanSpyStop"}
    assert must <= set(seen), f"not exercised: {sorted(must - set(seen))}"


async def test_identifiers_follow_asterisks_rules(make_emulator, ami_probe) -> None:
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    emulator.set_endpoint("1003", answer_after_s=0.2, talk_s=0.5)
    call = emulator.place_call({"ani": "13800138000", "dnis": "10086", "caller_name": "Zoë\n"})
    await probe.wait_event("MusicOnHoldStart", Channel=call.channel)
    await probe.action("Setvar", Channel=call.channel, Variable="ACD_AGENT_INTERFACE", Value="PJSIP/1003")
    await probe.action("Redirect", Channel=call.channel, Context="acd-connect", Exten="s", Priority="1")
    await probe.wait_event("Hangup", Channel=call.channel)
    new = probe.find("Newchannel")
    caller, agent = new[0], new[1]
    sec, _, n = (caller.get("Uniqueid") or "").partition(".")
    assert len(sec) == 10 and sec.isdigit() and n.isdigit()
    assert caller.get("Linkedid") == caller.get("Uniqueid")
    assert agent.get("Linkedid") == caller.get("Uniqueid") != agent.get("Uniqueid")
    assert caller.get("Channel") == "PJSIP/pstn-trunk-00000000"
    assert agent.get("Channel") == "PJSIP/1003-00000001"
    assert (caller.get("ChannelState"), caller.get("ChannelStateDesc")) == ("4", "Ring")
    assert (agent.get("ChannelState"), agent.get("Context"), agent.get("Exten")) == ("0", "agents", "s")
    assert caller.get("CallerIDName") == "Zoë\\n"  # C-escaped
    assert agent.get("ConnectedLineNum") == "<unknown>" and agent.get("AccountCode") == ""
    assert b"AccountCode: \r\n" in bytes(probe.raw)
