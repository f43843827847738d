"""`callcenter ami decode FILE`: the JSON-lines contract scripts rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callcenter.cli import main
from tests.conftest import SHARED

TRACES = SHARED / "ami" / "traces"


def run(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, list[dict[str, object]], str]:
    status = main(["ami", "decode", str(path)])
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_decodes_a_capture_with_banner_and_client_actions(capsys: pytest.CaptureFixture[str]) -> None:
    status, lines, err = run(capsys, TRACES / "panoramisk--login_md5.txt")
    assert (status, err) == (0, "")
    assert lines == [
        {"kind": "banner", "headers": [["Asterisk Call Manager", "7.0.3"]]},
        {
            "kind": "action",
            "headers": [["Action", "Challenge"], ["AuthType", "MD5"], ["ActionID", "action/transaction_uid/1/1"]],
        },
        {
            "kind": "response",
            "headers": [
                ["Response", "Success"],
                ["Challenge", "145769581"],
                ["ActionID", "action/transaction_uid/1/1"],
            ],
        },
    ]


def test_crlf_and_lf_files_print_the_same(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    raw = (TRACES / "panoramisk--queue_status.txt").read_bytes()
    lf, crlf = tmp_path / "lf.ami", tmp_path / "crlf.ami"
    lf.write_bytes(raw)
    crlf.write_bytes(raw.replace(b"\n", b"\r\n"))
    lf_result, crlf_result = run(capsys, lf), run(capsys, crlf)
    assert lf_result == crlf_result
    status, lines, _ = lf_result
    assert status == 0
    assert [line["kind"] for line in lines] == ["response"] + ["event"] * 8
    assert lines[-1]["headers"] == [["Event", "QueueStatusComplete"], ["ActionID", "action/transaction_uid/1/1"]]


def test_legacy_command_reply_has_a_body(capsys: pytest.CaptureFixture[str]) -> None:
    _, lines, _ = run(capsys, TRACES / "panoramisk--rasterisk_command.txt")
    assert lines[1]["body"] == [
        "Channel              Location             State   Application(Data)             ",
        "0 active channels",
        "0 active calls",
        "2 calls processed",
    ]


def test_malformed_capture_exits_1_naming_the_byte_offset(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    capture = tmp_path / "bad.ami"
    capture.write_bytes(b"Event: A\r\n\r\nEvent: B\r\ngarbage\r\n\r\nEvent: C\r\n\r\n")
    status, lines, err = run(capsys, capture)
    assert status == 1
    assert [line["headers"][0] for line in lines] == [["Event", "A"], ["Event", "C"]]
    assert err == f"callcenter ami decode: {capture}: AMI header at byte 22 has no colon: 'garbage'\n"


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, lines, err = run(capsys, tmp_path / "nope.ami")
    assert (status, lines) == (1, [])
    assert err == f"callcenter ami decode: {tmp_path / 'nope.ami'}: No such file or directory\n"
