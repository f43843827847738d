"""Outbound calls through the trunk (AMD), the control socket, the traffic generator and the CLI."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.app import Emulator
from emulator.endpoints import CallerScript, PhoneBehaviour, ScriptError, TrunkBehaviour
from emulator.traffic import TrafficProfile, arrivals, run_traffic
from tests.integration.conftest import AmiProbe


async def originate(probe: AmiProbe, number: str) -> None:
    reply = await probe.action("Originate", Channel=f"PJSIP/{number}@pstn-trunk", Context="outbound", Exten=number,
                               Priority="1", Timeout="20000", Async="true", CallerID='"Hotline" <10086>',
                               Variable=["CAMPAIGN=c1", "ACD_FALLBACK_TIMEOUT=2"])
    assert reply.get("Message") == "Originate successfully queued"


async def test_outbound_human_machine_busy_and_no_answer(make_emulator, ami_probe) -> None:
    emulator: Emulator = await make_emulator(clock_scale=20.0)
    probe: AmiProbe = await ami_probe(emulator)
    emulator.set_number("13900000001", answer_after_s=1.0, talk_s=30.0)
    emulator.set_number("13900000002", answer_after_s=1.0, talk_s=30.0, machine=True)
    emulator.set_number("13900000003", busy=True)
    emulator.set_number("13900000004", answer=False)
    for n in range(1, 5):
        await originate(probe, f"1390000000{n}")
    human = await probe.wait_event("UserEvent", UserEvent="AmdResult", Status="HUMAN")
    machine = await probe.wait_event("UserEvent", UserEvent="AmdResult", Status="MACHINE")
    assert machine.get("Cause", "").startswith("LONGGREETING")
    await probe.wait_for(lambda m: m.name == "OriginateResponse" and len(probe.find("OriginateResponse")) == 4)
    number_of = {m.get("DestChannel"): (m.get("DialString") or "").split("@")[0] for m in probe.find("DialBegin")}
    outcome = {number_of[m.get("Channel")]: (m.get("Response"), m.get("Reason")) for m in probe.find("OriginateResponse")}
    assert outcome == {"13900000001": ("Success", "4"), "13900000002": ("Success", "4"),
                       "13900000003": ("Failure", "5"), "13900000004": ("Failure", "3")}
    ok = [r for r in probe.find("OriginateResponse") if r.get("Response") == "Success"]
    assert all(r.get("Context") == "outbound" and r.get("CallerIDNum") == "10086" for r in ok)
    # The human waits for an agent (and, with no control plane acting, falls back); the machine
    # gets the message and is hung up.
    await probe.wait_event("UserEvent", UserEvent="AcdFallback", Channel=human.get("Channel"))
    await probe.wait_event("Hangup", Channel=machine.get("Channel"))
    assert probe.find("Newexten", Channel=machine.get("Channel"), Application="Playback", AppData="vm-intro")
    assert probe.find("VarSet", Channel=human.get("Channel"), Variable="CAMPAIGN", Value="c1")
    # Synchronous Originate: the reply waits for the outcome.
    sync_ok = await probe.action("Originate", Channel="PJSIP/13900000001@pstn-trunk", Application="Wait", Data="1")
    assert sync_ok.get("Message") == "Originate successfully queued"
    sync_busy = await probe.action("Originate", Channel="PJSIP/13900000003@pstn-trunk", Application="Wait", Data="1")
    assert (sync_busy.name, sync_busy.get("Message")) == ("Error", "Originate failed")
    # An application Asterisk does not have: the call is answered, then hung up.
    emulator.set_number("13900000005", answer_after_s=0.1, talk_s=None)
    await probe.action("Originate", Channel="PJSIP/13900000005@pstn-trunk", Application="NoSuchApp", Async="1")
    response = await probe.wait_event("OriginateResponse", Application="NoSuchApp")
    assert response.get("Response") == "Success"
    await probe.wait_event("Hangup", Channel=response.get("Channel"))
    begin = probe.find("DialBegin", DestChannel="PJSIP/pstn-trunk-.*")[0]
    assert begin.get("Channel") is None  # originated: no caller block
    assert begin.get("DialString") in {f"1390000000{n}@pstn-trunk" for n in range(1, 5)}


async def test_control_socket(make_emulator, ami_probe) -> None:
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.control_port)

    async def ask(request: object) -> dict:
        writer.write((request if isinstance(request, bytes) else json.dumps(request).encode()) + b"\n")
        return json.loads(await asyncio.wait_for(reader.readline(), 5))

    placed = await ask({"cmd": "call", "ani": "13800138000", "dnis": "10086", "talk_s": 5})
    assert placed["ok"] and placed["channel"].startswith("PJSIP/pstn-trunk-")
    await probe.wait_event("MusicOnHoldStart", Channel=placed["channel"])
    phone = await ask({"cmd": "endpoint", "name": "1001", "answer_after_s": 3, "talk_s": None})
    assert phone == {"ok": True, "endpoint": {"registered": True, "answer": True, "answer_after_s": 3.0,
                                              "busy": False, "talk_s": None, "machine": False}}
    channels = await ask({"cmd": "channels"})
    assert [c["uniqueid"] for c in channels["channels"]] == [placed["uniqueid"]]
    assert (await ask({"cmd": "press", "channel": placed["uniqueid"], "digits": "12"}))["ok"]
    await probe.wait_event("DTMFEnd", Channel=placed["channel"], Digit="2")
    assert await ask({"cmd": "hangup", "channel": placed["channel"]}) == {"ok": True}
    await probe.wait_event("HangupRequest", Channel=placed["channel"])
    stats = await ask({"cmd": "stats"})
    assert stats["stats"]["calls_placed"] == 1
    traffic = await ask({"cmd": "traffic", "rate_per_s": 20, "duration_s": 1.0, "seed": 3, "hangup_after_s": 1.0})
    assert traffic["ok"] and traffic["calls"] > 5
    async with asyncio.timeout(5):
        while (await ask({"cmd": "stats"}))["stats"]["calls_placed"] < 1 + traffic["calls"]:
            await probe.wait_event("Newchannel", within_s=5)
            await asyncio.sleep(0.05)
    assert (await ask({"cmd": "traffic", "rate_per_s": 0, "duration_s": 1})) == {
        "ok": False, "error": "traffic: traffic rate_per_s has value 0; expected a number > 0"}
    errors = [
        (b"not json", "request is not JSON: Expecting value: line 1 column 1 (char 0)"),
        ({"nocmd": 1}, "request must be a JSON object with a string 'cmd'"),
        ({"cmd": "dance"}, "unknown cmd 'dance'; expected call, endpoint, number, trunk, answer, hangup, press, hold, "
                          "unhold, channels, stats or traffic"),
        ({"cmd": "call", "ani": "1"}, "call: missing field 'dnis'"),
        ({"cmd": "call", "ani": "1", "dnis": "2", "patience_s": "long"},
         "call.patience_s has value 'long'; expected a number >= 0"),
        ({"cmd": "call", "ani": "1", "dnis": "2", "digits": [[1, "x"]]},
         "call.digits has item [1, 'x']; expected [delay_s, digits of 0-9*#A-D]"),
        ({"cmd": "endpoint", "name": "9999"}, "no endpoint '9999' in pjsip.conf"),
        ({"cmd": "endpoint", "name": "1001", "colour": "red"},
         "endpoint: unknown field 'colour'; expected one of registered, answer, answer_after_s, busy, talk_s, machine"),
        ({"cmd": "hangup", "channel": "PJSIP/none"}, "no channel 'PJSIP/none'"),
        ({"cmd": "press", "channel": "x", "digits": "9z"}, "press: digits '9z' must be 0-9, *, #, A-D"),
        ({"cmd": "hangup"}, "'channel' is required and must be a non-empty string"),
    ]
    for request, error in errors:
        assert await ask(request) == {"ok": False, "error": error}
    writer.close()


def test_caller_scripts_validate_their_fields() -> None:
    script = CallerScript.from_dict({"ani": "1", "dnis": "10086", "digits": [[0.5, "1#"]], "patience_s": 30})
    assert script.digits == ((0.5, "1#"),) and script.patience_s == 30.0
    with pytest.raises(ScriptError) as exc:
        CallerScript.from_dict({"ani": "1", "dnis": "2", "utterances": "a.wav"})
    assert str(exc.value) == "call.utterances has value 'a.wav'; expected a list of WAV file paths"


def test_traffic_is_seeded_poisson_with_a_vip_share() -> None:
    profile = TrafficProfile(rate_per_s=5.0, vip_share=0.2, mean_talk_s=60.0)
    calls = arrivals(profile, random.Random(7), 2000.0)
    assert calls == arrivals(profile, random.Random(7), 2000.0)
    assert calls != arrivals(profile, random.Random(8), 2000.0)
    assert abs(len(calls) / 2000.0 - 5.0) < 0.25  # 10,000 expected; 3 sigma is 1.5%
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(calls)]
    assert abs(sum(gaps) / len(gaps) - 0.2) < 0.01
    vip = sum(1 for _, c in calls if c.ani in profile.vip_anis)
    assert abs(vip / len(calls) - 0.2) < 0.02
    talk = [c.talk_s for _, c in calls if c.talk_s is not None]
    assert abs(sum(talk) / len(talk) - 60.0) < 3.0
    lognormal = arrivals(TrafficProfile(rate_per_s=5.0, mean_talk_s=60.0, talk_sigma=0.5), random.Random(7), 2000.0)
    talks = sorted(c.talk_s for _, c in lognormal if c.talk_s is not None)
    mean = sum(talks) / len(talks)
    cv = (sum((t - mean) ** 2 for t in talks) / len(talks)) ** 0.5 / mean
    assert abs(mean - 60.0) < 2.0
    # lognormal sigma 0.5: median 60 * exp(-0.125) = 52.9, CV 0.53 (an exponential: 41.6 and 1.0)
    assert 51.0 < talks[len(talks) // 2] < 55.0 and 0.48 < cv < 0.58
    with pytest.raises(ValueError, match="rate_per_s has value 0"):
        TrafficProfile(rate_per_s=0)


async def test_run_traffic_places_calls_on_the_fast_clock(make_emulator) -> None:
    emulator: Emulator = await make_emulator(agi_port=1, clock_scale=100.0)
    profile = TrafficProfile(rate_per_s=2.0, mean_talk_s=5.0, mean_patience_s=1.0)
    calls = arrivals(profile, random.Random(1), 10.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    placed = await run_traffic(emulator.pbx, calls)
    assert placed == len(calls) > 5
    assert loop.time() - started < 1.0  # 10 emulated seconds at 100x
    async with asyncio.timeout(10):
        await emulator.wait_idle()
    assert emulator.pbx.stats.calls_placed == placed


def test_cli_runs_the_emulator_until_interrupted(tmp_path: Path) -> None:
    env = {**os.environ, "CALLCENTER_DATA_DIR": str(tmp_path)}
    with subprocess.Popen(
        [sys.executable, "-m", "callcenter", "emulator", "--ami-port", "0", "--control-port", "0",
         "--agi-port", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            assert line.startswith("emulator: AMI on 127.0.0.1:"), line + proc.stderr.read()
            port = int(line.split(",")[0].rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                assert sock.recv(64) == b"Asterisk Call Manager/9.0.0\r\n"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_cli_reports_a_bad_dialplan(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "manager.conf").write_text("[u]\nsecret=s\n")
    (conf / "pjsip.conf").write_text("")
    (conf / "extensions.conf").write_text("[c]\nexten => s,1,Nope()\n")
    result = subprocess.run([sys.executable, "-m", "callcenter", "emulator", "--ami-port", "0", "--conf-dir",
                             str(conf)], capture_output=True, text=True, timeout=30, check=False,
                            env={**os.environ, "CALLCENTER_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.strip().endswith("callcenter emulator: extensions.conf:2: unknown application 'Nope'")


def test_trunk_outcomes_follow_their_rates() -> None:
    trunk = TrunkBehaviour(answer_rate=0.5, busy_rate=0.2, machine_rate=0.1, answer_after_s=(1.0, 2.0))
    rng = random.Random(5)
    draws = [trunk.draw(f"1390000{n:04d}", rng) for n in range(5000)]
    answered = [d for d in draws if d.answer and not d.busy and not d.machine]
    share = {
        "answer": len(answered) / 5000,
        "machine": sum(d.machine for d in draws) / 5000,
        "busy": sum(d.busy for d in draws) / 5000,
        "no_answer": sum(not d.answer for d in draws) / 5000,
    }
    for outcome, rate in (("answer", 0.5), ("machine", 0.1), ("busy", 0.2), ("no_answer", 0.2)):
        assert abs(share[outcome] - rate) < 0.025, (outcome, share)
    assert all(1.0 <= d.answer_after_s <= 2.0 for d in answered)
    trunk.overrides["13900000000"] = PhoneBehaviour(busy=True)
    assert trunk.draw("13900000000", rng).busy
