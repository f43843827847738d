"""The AMI server's session rules and exact responses (../shared/ami/wire-format-notes.md)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import pytest

from emulator.app import DEFAULT_CONF_DIR
from tests.integration.conftest import AmiProbe

UNKNOWN = "Invalid/unknown command: {}. Use Action: ListCommands to show available commands."


async def test_banner_is_asterisk_20s(emulator, ami_probe) -> None:
    probe: AmiProbe = await ami_probe(emulator, login=False)
    await probe.wait_for(lambda m: m.kind == "banner")
    assert bytes(probe.raw).startswith(b"Asterisk Call Manager/9.0.0\r\n")
    assert not bytes(probe.raw).startswith(b"Asterisk Call Manager/9.0.0\r\n\r\n")


async def test_plain_login_then_fully_booted_then_logoff(emulator, ami_probe, ami_user) -> None:
    probe: AmiProbe = await ami_probe(emulator, login=False)
    reply = await probe.action("Login", Username=ami_user[0], Secret=ami_user[1])
    assert reply.headers == (("Response", "Success"), ("ActionID", reply.get("ActionID")),
                             ("Message", "Authentication accepted"))
    booted = await probe.wait_event("FullyBooted")
    assert [k for k, _ in booted.headers] == ["Event", "Privilege", "Uptime", "LastReload", "Status"]
    assert booted.get("Privilege") == "system,all" and booted.get("Status") == "Fully Booted"
    again = await probe.action("Login", Username=ami_user[0], Secret=ami_user[1])
    assert again.get("Message") == "Already authenticated"
    bye = await probe.action("Logoff")
    assert (bye.name, bye.get("Message")) == ("Goodbye", "Thanks for all the fish.")
    await asyncio.wait_for(probe._task, 2.0)
    assert probe.closed


async def test_md5_challenge_login(emulator, ami_probe, ami_user) -> None:
    probe: AmiProbe = await ami_probe(emulator, login=False)
    challenge = await probe.action("Challenge", AuthType="MD5")
    assert [k for k, _ in challenge.headers] == ["Response", "ActionID", "Challenge"]
    key = hashlib.md5((challenge.get("Challenge", "") + ami_user[1]).encode()).hexdigest()
    reply = await probe.action("Login", Username=ami_user[0], AuthType="MD5", Key=key)
    assert reply.get("Message") == "Authentication accepted"
    bad = await probe.action("Challenge", AuthType="plain")
    assert bad.get("Message") == "Must specify AuthType"


@pytest.mark.parametrize("secret", ["wrong", ""])
async def test_failed_login_is_answered_after_a_second_then_closed(emulator, ami_probe, ami_user, secret) -> None:
    probe: AmiProbe = await ami_probe(emulator, login=False)
    started = time.monotonic()
    reply = await probe.action("Login", Username=ami_user[0], Secret=secret)
    assert time.monotonic() - started >= 0.95
    assert (reply.name, reply.get("Message")) == ("Error", "Authentication failed")
    await asyncio.wait_for(probe._task, 2.0)


async def test_requests_before_login_and_malformed_requests(emulator, ami_probe) -> None:
    probe: AmiProbe = await ami_probe(emulator, login=False)
    denied = await probe.action("Ping")
    assert denied.headers == (("Response", "Error"), ("ActionID", denied.get("ActionID")),
                              ("Message", "Permission denied"))
    probe.send_raw(b"Action: \r\nActionID: x1\r\n\r\n")
    missing = await probe.wait_for(lambda m: m.get("ActionID") == "x1")
    assert missing.get("Message") == "Missing action in request"
    # No Action header at all, then a good request in the same read: both are answered.
    probe.send_raw(b"Channel: foo\r\nnot a header\r\n\r\nAction: Login\r\nActionID: x2\r\n\r\n")
    second = await probe.wait_for(lambda m: m.get("ActionID") == "x2")
    first = probe.messages[probe.messages.index(second) - 1]
    assert first.headers == (("Response", "Error"), ("Message", "Missing action in request"))


async def test_unknown_actions_and_missing_permissions(emulator, ami_probe) -> None:
    probe: AmiProbe = await ami_probe(emulator)
    reply = await probe.action("QueueStatus")
    assert reply.get("Message") == UNKNOWN.format("QueueStatus")
    reply = await probe.action("FrobNicate")
    assert reply.get("Message") == UNKNOWN.format("FrobNicate")
    # manager.conf grants the control plane no `command` class.
    reply = await probe.action("Command", Command="core show version")
    assert (reply.name, reply.get("Message")) == ("Error", "Permission denied")


async def test_action_names_and_headers_are_case_insensitive(emulator, ami_probe, ami_user) -> None:
    probe: AmiProbe = await ami_probe(emulator, login=False)
    probe.send_raw(f"action: login\r\nusername: {ami_user[0]}\r\nsecret: {ami_user[1]}\r\nactionid: lc\r\n\r\n".encode())
    reply = await probe.wait_for(lambda m: m.kind == "response" and m.get("ActionID") == "lc")
    assert reply.get("Message") == "Authentication accepted"
    probe.send_raw(b"Action: ping\nActionID: lf\n\n")  # bare LF line ends are accepted too
    pong = await probe.wait_for(lambda m: m.kind == "response" and m.get("ActionID") == "lf")
    assert [k for k, _ in pong.headers] == ["Response", "ActionID", "Ping", "Timestamp"]
    assert pong.get("Ping") == "Pong"
    sec, _, usec = (pong.get("Timestamp") or "").partition(".")
    assert sec.isdigit() and len(usec) == 6


async def test_command_core_show_version_for_a_user_with_command_class(make_emulator, ami_probe, tmp_path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    for name in ("extensions.conf", "pjsip.conf"):
        (conf / name).write_text((DEFAULT_CONF_DIR / name).read_text())
    (conf / "manager.conf").write_text(
        "[general]\nenabled = yes\n\n[callcenter]\nsecret = callcenter-ami-secret\n"
        "read = all\nwrite = call,command\n"
    )
    emulator = await make_emulator(conf_dir=conf)
    probe: AmiProbe = await ami_probe(emulator)
    reply = await probe.action("Command", Command="core show version")
    assert [k for k, _ in reply.headers] == ["Response", "ActionID", "Message", "Output"]
    assert reply.get("Message") == "Command output follows"
    assert (reply.get("Output") or "").startswith("Asterisk 20.20.1 ")
    reply = await probe.action("Command", Command="core show nothing")
    assert reply.name == "Error"
    assert reply.get("Output") == "No such command 'core show nothing' (type 'core show help core' for other possible commands)"


async def test_events_action_turns_events_off_and_on(emulator, ami_probe) -> None:
    probe: AmiProbe = await ami_probe(emulator)
    off = await probe.action("Events", EventMask="off")
    assert [k for k, _ in off.headers] == ["Response", "ActionID", "Events"] and off.get("Events") == "Off"
    emulator.place_call({"ani": "1", "dnis": "10086", "hangup_after_s": 0.2})
    await asyncio.sleep(0.1)
    assert not probe.find("Newchannel")
    on = await probe.action("Events", EventMask="call")
    assert on.get("Events") == "On"
    bad = await probe.action("Events", EventMask="bogus")
    assert bad.get("Message") == "Invalid event mask"


@pytest.mark.parametrize(
    ("action", "headers", "message"),
    [
        ("Originate", {}, "Channel not specified"),
        ("Originate", {"Channel": "nochannel"}, "Invalid channel"),
        ("Originate", {"Channel": "PJSIP/1001", "Timeout": "soon"}, "Invalid timeout"),
        ("Originate", {"Channel": "PJSIP/1001", "Context": "hotline", "Exten": "10086", "Priority": "nope"},
         "Invalid priority"),
        ("Redirect", {}, "Channel not specified"),
        ("Redirect", {"Channel": "PJSIP/x-1"}, "Context not specified"),
        ("Redirect", {"Channel": "PJSIP/x-1", "Context": "acd-connect"}, "Exten not specified"),
        ("Redirect", {"Channel": "PJSIP/x-1", "Context": "acd-connect", "Exten": "s"}, "Priority not specified"),
        ("Redirect", {"Channel": "PJSIP/x-1", "Context": "acd-connect", "Exten": "s", "Priority": "1"},
         "Channel does not exist: PJSIP/x-1"),
        ("Redirect", {"Channel": "PJSIP/x-1", "Context": "acd-connect", "Exten": "s", "Priority": "zz"},
         "Priority is invalid"),
        ("Hangup", {}, "No channel specified"),
        ("Hangup", {"Channel": "PJSIP/x-1"}, "No such channel"),
        ("Setvar", {"Value": "1"}, "No variable specified"),
        ("Setvar", {"Channel": "PJSIP/x-1", "Variable": "A", "Value": "1"}, "No such channel"),
        ("Getvar", {}, "No variable specified"),
        ("Getvar", {"Channel": "PJSIP/x-1", "Variable": "A"}, "No such channel"),
        ("Getvar", {"Variable": "CALLERID(num)"}, "No channel specified"),
        ("Bridge", {"Channel1": "PJSIP/x-1"}, "Missing channel parameter in request"),
        ("Bridge", {"Channel1": "PJSIP/x-1", "Channel2": "PJSIP/x-2"}, "Channel1 does not exist: PJSIP/x-1"),
        ("BlindTransfer", {}, "No channel specified"),
        ("BlindTransfer", {"Channel": "PJSIP/x-1"}, "No extension specified"),
        ("BlindTransfer", {"Channel": "PJSIP/x-1", "Exten": "10086"}, "Channel specified does not exist"),
        ("Atxfer", {"Channel": "PJSIP/x-1", "Exten": "10086"}, "Channel specified does not exist"),
        ("MixMonitor", {}, "No channel specified"),
        ("MixMonitor", {"Channel": "PJSIP/x-1"}, "No such channel"),
        ("StopMixMonitor", {"Channel": "PJSIP/x-1"}, "No such channel"),
        ("MixMonitorMute", {"Channel": "PJSIP/x-1"}, "No direction specified. Must be read, write or both"),
        ("MixMonitorMute", {"Channel": "PJSIP/x-1", "Direction": "up"},
         "Invalid direction specified. Must be read, write or both"),
        ("PlayDTMF", {"Channel": "PJSIP/x-1", "Digit": "1"}, "Channel not found"),
        ("Status", {"Channel": "PJSIP/x-1"}, "No such channel"),
        ("UserEvent", {}, "Missing UserEvent"),
    ],
)
async def test_malformed_actions_get_asterisks_error_responses(emulator, ami_probe, action, headers, message) -> None:
    probe: AmiProbe = await ami_probe(emulator)
    reply = await probe.action(action, **headers)
    assert reply.headers == (("Response", "Error"), ("ActionID", reply.get("ActionID")), ("Message", message))


async def test_setvar_getvar_globals_and_channel_variables(emulator, ami_probe) -> None:
    probe: AmiProbe = await ami_probe(emulator)
    assert (await probe.action("Setvar", Variable="G1", Value="x")).get("Message") == "Variable Set"
    got = await probe.action("Getvar", Variable="G1")
    assert got.headers == (("Response", "Success"), ("ActionID", got.get("ActionID")), ("Variable", "G1"),
                           ("Value", "x"))
    assert (await probe.action("Getvar", Variable="ACD_RING_TIMEOUT")).get("Value") == "15"
    call = emulator.place_call({"ani": "13800138000", "dnis": "10086", "hangup_after_s": 30})
    await probe.wait_event("Newchannel", Channel=call.channel)
    await probe.action("Setvar", Channel=call.channel, Variable="ACD_QUEUE", Value="vip")
    assert (await probe.wait_event("VarSet", Channel=call.channel, Variable="ACD_QUEUE")).get("Value") == "vip"
    assert (await probe.action("Getvar", Channel=call.channel, Variable="ACD_QUEUE")).get("Value") == "vip"
    ani = await probe.action("Getvar", Channel=call.channel, Variable="CALLERID(num)")
    assert ani.get("Value") == "13800138000"
    hung = await probe.action("Hangup", Channel=call.channel)
    assert hung.get("Message") == "Channel Hungup"
    hangup = await probe.wait_event("Hangup", Channel=call.channel)
    assert probe.find("SoftHangupRequest", Channel=call.channel)
    assert (hangup.get("Cause"), hangup.get("Cause-txt")) == ("16", "Normal Clearing")


async def test_user_event_action_broadcasts_its_headers(emulator, ami_probe) -> None:
    probe: AmiProbe = await ami_probe(emulator)
    other: AmiProbe = await ami_probe(emulator)
    reply = await probe.action("UserEvent", UserEvent="Wallboard", Queue="vip", Waiting="3")
    assert reply.get("Message") == "Event Sent"
    event = await other.wait_event("UserEvent", UserEvent="Wallboard")
    assert event.headers == (("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "Wallboard"),
                             ("Queue", "vip"), ("Waiting", "3"))


def test_manager_conf_grants_only_what_the_control_plane_needs() -> None:
    from emulator.conffile import ami_users, read_conf

    users = ami_users(read_conf(Path(DEFAULT_CONF_DIR) / "manager.conf"))
    assert list(users) == ["callcenter"]
    user = users["callcenter"]
    assert user.read == {"call", "dialplan", "dtmf", "user", "system"}
    assert user.write == {"call", "originate", "system", "reporting", "user"}
    assert "command" not in user.write and "all" not in user.write and user.secret
