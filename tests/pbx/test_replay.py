"""`callcenter replay CAPTURE` on the real traces: JSON lines out, exit codes, offsets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from callcenter.cli import main
from callcenter.events import from_json

WAZO = "wazo-amid--benchmark-call-events.txt"
PANORAMISK = "panoramisk--originate_with_events.txt"


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["replay", *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def trace(shared_dir: Path, name: str) -> Path:
    return shared_dir / "ami" / "traces" / name


def test_wazo_call_replays_to_json_lines(shared_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = replay(capsys, str(trace(shared_dir, WAZO)), "--variables", "")
    assert code == 0
    assert json.loads(lines[0]) == {
        "type": "call.arrived", "v": 1, "call_id": "1511987918.22", "channel_id": "1511987918.22",
        "channel": "SCCP/101-00000004", "ani": "101", "dnis": "103", "direction": "inbound",
        "caller_name": "Alice Wuuuuuuuuuuuunderland", "at": 0.0,
    }  # fmt: skip
    assert json.loads(lines[-1]) == {
        "type": "call.ended", "v": 1, "call_id": "1511987918.22", "hangup_side": "agent", "cause": 16, "at": 0.0,
    }  # fmt: skip
    types = [json.loads(line)["type"] for line in lines]
    assert types.count("channel.created") == 3 and types.count("channel.hung-up") == 3
    assert len(lines) == 24
    for line in lines:
        from_json(json.loads(line))  # every line is a valid domain message


def test_all_variables_by_default(shared_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = replay(capsys, str(trace(shared_dir, WAZO)))
    assert code == 0
    assert sum(json.loads(line)["type"] == "variable.set" for line in lines) == 173


def test_crlf_and_client_actions_do_not_change_the_output(
    shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = trace(shared_dir, PANORAMISK).read_bytes()
    assert b"Action: Originate" in raw
    crlf = tmp_path / "crlf.ami"
    crlf.write_bytes(raw.replace(b"\n", b"\r\n"))
    blocks = raw.split(b"\n\n")
    no_actions = tmp_path / "no-actions.ami"
    no_actions.write_bytes(b"\n\n".join(b for b in blocks if not b.lstrip().startswith(b"Action:")))
    outputs = []
    for path in (trace(shared_dir, PANORAMISK), crlf, no_actions):
        code, lines, _ = replay(capsys, str(path), "--variables", "")
        assert code == 0
        outputs.append(lines)
    assert outputs[0] == outputs[1] == outputs[2]
    assert sum(json.loads(line)["type"] == "call.ended" for line in outputs[0]) == 4


def test_malformed_capture_exits_1_naming_the_offset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = tmp_path / "bad.ami"
    capture.write_bytes(
        b"Asterisk Call Manager/9.0.0\r\n"
        b"Event: Newchannel\r\nChannel: PJSIP/a-1\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\n\r\n"
        b"Event: Hangup\r\nUniqueid 1.1\r\n\r\n"
    )
    code, lines, err = replay(capsys, str(capture))
    assert code == 1
    assert [json.loads(line)["type"] for line in lines] == ["call.arrived", "channel.created"]
    assert err.splitlines()[-1] == f"callcenter replay: {capture}: AMI header at byte 115 has no colon: 'Uniqueid 1.1'"


def test_real_capture_with_holes_reports_each_and_goes_on(
    shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = trace(shared_dir, "panoramisk--agent_loggued_in.txt")
    before_first_hole = tmp_path / "head.ami"
    before_first_hole.write_bytes(path.read_bytes()[:2787])
    _, head_lines, _ = replay(capsys, str(before_first_hole), "--variables", "")
    code, lines, err = replay(capsys, str(path), "--variables", "")
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("callcenter replay:")] == [
        f"callcenter replay: {path}: AMI message at byte 2787 has no Event, Response or Action header"
        " (first header '[218 bytes missing in capture file]Event')",
        f"callcenter replay: {path}: AMI message at byte 7642 has no Event, Response or Action header"
        " (first header '[1613 bytes missing in capture file]Event')",
    ]
    # The capture is replayed to its end: the facts after the first hole are there too.
    assert lines[: len(head_lines)] == head_lines
    assert (len(head_lines), len(lines)) == (2, 26)


def test_capture_ending_inside_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = tmp_path / "cut.ami"
    capture.write_bytes(b"Event: Newchannel\nChannel: PJSIP/a-1\nUniqueid: 1.1\nLinkedid: 1.1\n\nEvent: Hangup\nUniq")
    code, lines, err = replay(capsys, str(capture))
    assert code == 1
    assert [json.loads(line)["type"] for line in lines] == ["call.arrived", "channel.created"]
    assert err.splitlines()[-1] == f"callcenter replay: {capture}: AMI header at byte 80 has no colon: 'Uniq'"


def test_bad_value_exits_1_naming_the_offset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = tmp_path / "bad-value.ami"
    capture.write_bytes(b"Event: Newexten\nUniqueid: 1.1\nLinkedid: 1.1\nPriority: x\n\n")
    code, _, err = replay(capsys, str(capture))
    assert code == 1
    assert (
        err.splitlines()[-1]
        == f"callcenter replay: {capture}: AMI Newexten at byte 0 for 1.1: Priority 'x' is not an integer"
    )


def test_missing_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = replay(capsys, str(tmp_path / "nope.ami"))
    assert (code, lines) == (1, [])
    assert err.splitlines()[-1] == f"callcenter replay: {tmp_path / 'nope.ami'}: No such file or directory"


def test_timestamps_drive_at(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = tmp_path / "stamped.ami"
    capture.write_bytes(
        b"Event: Newchannel\nTimestamp: 1700000000.500000\nChannel: PJSIP/a-1\nChannelState: 4\nUniqueid: 1.1\nLinkedid: 1.1\n\n"
        b"Event: Newstate\nChannel: PJSIP/a-1\nChannelState: 6\nUniqueid: 1.1\nLinkedid: 1.1\n\n"
        b"Event: Hangup\nTimestamp: 1700000009.000000\nChannel: PJSIP/a-1\nUniqueid: 1.1\nLinkedid: 1.1\nCause: 16\n\n"
    )
    code, lines, _ = replay(capsys, str(capture), "--start", "5")
    assert code == 0
    ats = [(json.loads(line)["type"], json.loads(line)["at"]) for line in lines]
    assert ats == [
        ("call.arrived", 1700000000.5),
        ("channel.created", 1700000000.5),
        ("channel.state-changed", 1700000000.5),  # no Timestamp: the last one seen
        ("channel.hung-up", 1700000009.0),
        ("call.ended", 1700000009.0),
    ]


def test_the_installed_command(shared_dir: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "callcenter",
            "--log-level",
            "WARNING",
            "replay",
            str(trace(shared_dir, WAZO)),
            "--variables",
            "",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 24 and result.stderr == ""
