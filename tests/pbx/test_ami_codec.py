"""The sans-I/O AMI codec against the shared traces, byte by byte, round-trips and exact errors."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.errors import LocalProtocolError, RemoteProtocolError
from pbx.ami import (
    AmiDecodeError,
    AmiDecoder,
    AmiKind,
    AmiMessage,
    encode_action,
    make_action,
    redact,
)
from tests.conftest import SHARED

TRACES = sorted((SHARED / "ami" / "traces").glob("*.txt"))


def decode_all(
    raw: bytes, sizes: list[int] | None = None, *, expect_banner: bool = True
) -> tuple[list[AmiMessage], list[str]]:
    """Feed `raw` in chunks of the given sizes (cycled; whole when None); collect messages and the
    texts of the errors raised, continuing after each as a client would."""
    decoder = AmiDecoder(expect_banner=expect_banner)
    messages: list[AmiMessage] = []
    errors: list[str] = []
    pos = 0
    turn = 0
    while pos < len(raw):
        size = sizes[turn % len(sizes)] if sizes else len(raw)
        turn += 1
        chunk = raw[pos : pos + size]
        pos += size
        while True:
            try:
                messages += decoder.feed(chunk)
                break
            except AmiDecodeError as exc:
                messages += exc.messages
                errors.append(str(exc))
                chunk = b""
    messages += decoder.end_of_stream()
    return messages, errors


def trace(name: str) -> bytes:
    return next(path for path in TRACES if path.name == name).read_bytes()


def reference_decode(raw: bytes) -> list[list[tuple[str, str]]]:
    """A deliberately naive reading of a well-formed LF trace: messages are separated by blank
    lines, a header splits at its first colon, one space after the colon is dropped."""
    result = []
    for block in raw.decode().split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if lines:
            pairs = [line.split(":", 1) for line in lines]
            result.append([(name, value[1:] if value.startswith(" ") else value) for name, value in pairs])
    return result


def test_the_shared_traces_are_there() -> None:
    assert len(TRACES) >= 19


@pytest.mark.parametrize("path", TRACES, ids=lambda path: path.name)
def test_trace_decodes_the_same_however_the_bytes_arrive(path: Path) -> None:
    raw = path.read_bytes()
    whole, whole_errors = decode_all(raw)
    assert whole
    rng = random.Random(path.name)
    for sizes in ([1], [2, 3, 7], [rng.randint(1, 400) for _ in range(50)], [4096]):
        messages, errors = decode_all(raw, sizes)
        assert messages == whole
        assert [m.offset for m in messages] == [m.offset for m in whole]
        assert errors == whole_errors


@pytest.mark.parametrize("path", TRACES, ids=lambda path: path.name)
def test_crlf_and_lf_versions_of_a_trace_decode_alike(path: Path) -> None:
    raw = path.read_bytes().replace(b"\r\n", b"\n")
    lf, lf_errors = decode_all(raw)
    crlf, crlf_errors = decode_all(raw.replace(b"\n", b"\r\n"), [5, 11])
    assert crlf == lf
    assert len(crlf_errors) == len(lf_errors)


@pytest.mark.parametrize("path", TRACES, ids=lambda path: path.name)
def test_trailing_partial_message_is_held_back(path: Path) -> None:
    raw = path.read_bytes().replace(b"\r\n", b"\n").rstrip(b"\n") + b"\n\n"
    expected, _ = decode_all(raw)
    decoder = AmiDecoder()
    messages: list[AmiMessage] = []
    chunk = raw + b"Event: Newchannel\nChannel: PJSIP/1"
    for _ in range(10):
        try:
            messages += decoder.feed(chunk)
            break
        except AmiDecodeError as exc:
            messages += exc.messages
            chunk = b""
    assert messages == expected
    assert decoder.offset == len(raw)


@pytest.mark.parametrize(
    "name",
    [
        path.name
        for path in TRACES
        if path.name.startswith(("wazo", "goami2"))
        or path.name.split("--")[1]
        in {
            "agent_not_in_pause.txt",
            "asyncagi_get_var.txt",
            "originate_with_events.txt",
            "queue_status.txt",
            "pjsip_show_endpoint.txt",
            "sip_notify.txt",
            "originate_sync.txt",
        }
    ],
)
def test_trace_matches_a_naive_reading(name: str) -> None:
    raw = trace(name).replace(b"\r\n", b"\n")
    messages, errors = decode_all(raw)
    assert errors == []
    assert [list(m.headers) for m in messages] == reference_decode(raw)


def test_login_trace_has_banner_action_response_and_event() -> None:
    messages, errors = decode_all(trace("panoramisk--login_ok.txt"))
    assert errors == []
    assert [m.kind for m in messages] == [AmiKind.BANNER, AmiKind.ACTION, AmiKind.RESPONSE, AmiKind.EVENT]
    banner, login, reply, booted = messages
    assert banner.headers == (("Asterisk Call Manager", "1.3"),)
    assert banner.name == "1.3"
    assert login.name == "login"
    assert login.get("Secret") == "yyyyyyyyyyyy"  # sent as lower-case `secret:`
    assert "yyyy" not in repr(login)
    assert reply.action_id == "action/transaction_uid/1/1"
    assert (reply.name, reply.get("message")) == ("Success", "Authentication accepted")
    assert booted.headers == (("Event", "FullyBooted"), ("Privilege", "system,all"), ("Status", "Fully Booted"))


def test_damaged_capture_reports_its_gaps_and_decodes_the_rest() -> None:
    # The capture marks lost bytes with a text marker glued to the next header.
    messages, errors = decode_all(trace("panoramisk--agent_loggued_in.txt"))
    assert errors == [
        "AMI message at byte 2787 has no Event, Response or Action header "
        "(first header '[218 bytes missing in capture file]Event')",
        "AMI message at byte 7642 has no Event, Response or Action header "
        "(first header '[1613 bytes missing in capture file]Event')",
    ]
    assert len(messages) == 161
    # the first message follows a whitespace-only line, which is skipped like a blank line
    assert messages[0].headers[0] == ("Action", "Ping")
    assert messages[0].offset == 2
    user_event = next(m for m in messages if m.get("UserEvent") == "AgentLogin")
    assert user_event.kind is AmiKind.EVENT  # it carries an `Action:` header too


def test_capture_without_final_line_end_keeps_its_last_message() -> None:
    raw = trace("panoramisk--originate_with_events.txt")
    assert not raw.endswith(b"\n")
    messages, errors = decode_all(raw)
    assert errors == []
    assert messages[-1].headers[-1] == ("Status", "0")
    assert messages[-1].get("Exten") == "*666148"


def test_legacy_command_reply_keeps_raw_text() -> None:
    messages, _ = decode_all(trace("panoramisk--rasterisk_command.txt"))
    reply = messages[1]
    assert reply.headers == (("Response", "Follows"), ("Privilege", "Command"), ("ActionID", "generated_id"))
    assert reply.output_lines == [
        "Channel              Location             State   Application(Data)             ",
        "0 active channels",
        "0 active calls",
        "2 calls processed",
    ]
    version, _ = decode_all(trace("panoramisk--command_core_show_version.txt"))
    # a colon inside the raw text does not make it a header
    assert version[1].body[0].startswith("Asterisk 11.11.0+xivo")
    assert version[1].body[0].endswith("19:30:37 UTC")
    assert AmiDecoder().feed(version[1].encode()) == [version[1]]


def test_modern_command_reply_output_headers() -> None:
    raw = (
        b"Response: Success\r\nActionID: 9\r\nMessage: Command output follows\r\n"
        b"Output: Channel  Location\r\nOutput: 0 active channels\r\nOutput:    indented: yes\r\n\r\n"
    )
    (reply,) = AmiDecoder(expect_banner=False).feed(raw)
    assert reply.output_lines == ["Channel  Location", "0 active channels", "   indented: yes"]


def test_event_list_markers_survive() -> None:
    messages, _ = decode_all(trace("panoramisk--pjsip_show_endpoint.txt"))
    assert messages[0].get("EventList") == "start"
    assert messages[-1].name == "EndpointDetailComplete"
    assert messages[-1].get("eventlist") == "Complete"
    assert messages[-1].get("ListItems") == "5"


def test_repeated_headers_keep_wire_order() -> None:
    messages, _ = decode_all(trace("wazo-amid--benchmark-call-events.txt"))
    newchannel = next(m for m in messages if m.name == "Newchannel")
    assert newchannel.get_all("ChanVariable") == [
        "WAZO_USERUUID=",
        "XIVO_BASE_EXTEN=",
        "WAZO_DEREFERENCED_USERUUID=",
    ]
    assert newchannel.get("AccountCode") == ""
    assert newchannel.get("NoSuchHeader") is None
    assert newchannel.get("NoSuchHeader", "x") == "x"


def test_utf8_character_split_across_reads_survives() -> None:
    raw = "Event: Newchannel\r\nCallerIDName: Zoë\r\n\r\n".encode()
    cut = raw.index("ë".encode()) + 1
    decoder = AmiDecoder(expect_banner=False)
    assert decoder.feed(raw[:cut]) == []
    (message,) = decoder.feed(raw[cut:])
    assert message.get("CallerIDName") == "Zoë"


def test_banner_split_across_reads() -> None:
    decoder = AmiDecoder()
    assert decoder.feed(b"Asterisk Call") == []
    assert decoder.feed(b" Manager/9.0.0\r") == []
    messages = decoder.feed(b"\nResponse: Success\r\nMessage: Authentication accepted\r\n\r\n")
    assert [m.kind for m in messages] == [AmiKind.BANNER, AmiKind.RESPONSE]
    assert messages[0].encode() == b"Asterisk Call Manager/9.0.0\r\n"
    assert messages[1].offset == len(b"Asterisk Call Manager/9.0.0\r\n")


def test_server_side_reads_actions_without_banner() -> None:
    raw = b"action: Login\nusername: admin\nSecret:s3cret\n\n"
    (login,) = AmiDecoder(expect_banner=False).feed(raw)
    assert login.kind is AmiKind.ACTION
    assert login.get("secret") == "s3cret"


# -- errors -----------------------------------------------------------------------------------


def feed_error(decoder: AmiDecoder, data: bytes) -> AmiDecodeError:
    with pytest.raises(AmiDecodeError) as info:
        decoder.feed(data)
    assert isinstance(info.value, RemoteProtocolError)
    return info.value


def test_header_without_colon_names_the_byte_and_decoder_recovers() -> None:
    decoder = AmiDecoder(expect_banner=False)
    good = b"Event: A\r\nX: 1\r\n\r\n"
    exc = feed_error(decoder, good + b"Event: B\r\nno colon here\r\n\r\nEvent: C\r\n\r\n")
    assert str(exc) == "AMI header at byte 28 has no colon: 'no colon here'"
    assert exc.offset == 28
    assert [m.name for m in exc.messages] == ["A"]
    assert [m.name for m in decoder.feed(b"")] == ["C"]


def test_non_utf8_names_the_byte() -> None:
    decoder = AmiDecoder(expect_banner=False)
    exc = feed_error(decoder, b"Event: A\r\n\r\nEvent: B\r\nCallerIDName: Zo\xff\r\n\r\n")
    assert str(exc) == "AMI message at byte 12 is not UTF-8: byte 0xff at byte 38"
    assert decoder.feed(b"Event: C\r\n\r\n")[0].name == "C"


def test_oversized_message_is_refused_then_skipped() -> None:
    decoder = AmiDecoder(expect_banner=False, max_frame_bytes=100)
    assert decoder.feed(b"Event: Big\r\n") == []
    exc = feed_error(decoder, b"Data: " + b"x" * 100)
    assert str(exc) == "AMI message at byte 0 is longer than 100 bytes without a blank line"
    assert decoder.feed(b"y" * 500) == []  # still the same message: dropped, memory stays bounded
    assert len(decoder._buffer) <= 100
    assert [m.name for m in decoder.feed(b"\r\n\r\nEvent: Next\r\n\r\n")] == ["Next"]


def test_complete_oversized_message_is_refused() -> None:
    decoder = AmiDecoder(expect_banner=False, max_frame_bytes=20)
    exc = feed_error(decoder, b"Event: A\r\nData: " + b"x" * 30 + b"\r\n\r\nEvent: B\r\n\r\n")
    assert str(exc) == "AMI message at byte 0 is longer than 20 bytes without a blank line"
    assert [m.name for m in decoder.feed(b"")] == ["B"]


def test_two_events_glued_without_blank_line() -> None:
    decoder = AmiDecoder(expect_banner=False)
    exc = feed_error(decoder, b"Event: A\r\nX: 1\r\nEvent: B\r\nY: 2\r\n\r\n")
    assert str(exc) == "AMI message at byte 0 has a second Event header at byte 16; a blank line is missing"


def test_message_without_kind_header() -> None:
    exc = feed_error(AmiDecoder(expect_banner=False), b"Foo: bar\r\n\r\n")
    assert str(exc) == "AMI message at byte 0 has no Event, Response or Action header (first header 'Foo')"


def test_legacy_reply_without_end_marker() -> None:
    exc = feed_error(AmiDecoder(expect_banner=False), b"Response: Follows\r\nPrivilege: Command\r\ntext\r\n\r\n")
    assert str(exc) == "AMI Command reply at byte 0 (Response: Follows) has no --END COMMAND-- line"


# -- encoding ---------------------------------------------------------------------------------


def test_action_encoding_order_and_repeats() -> None:
    action = AmiMessage.action("Originate", action_id="42", Channel="PJSIP/100", Variable=["A=1", "B=2"], Timeout=30000)
    assert action.encode() == (
        b"Action: Originate\r\nActionID: 42\r\nChannel: PJSIP/100\r\nVariable: A=1\r\nVariable: B=2\r\n"
        b"Timeout: 30000\r\n\r\n"
    )
    assert bytes(action) == action.encode()
    assert make_action("Ping", {}, "1") == AmiMessage((("Action", "Ping"), ("ActionID", "1")))
    assert encode_action("Ping", [("X", "y")]) == b"Action: Ping\r\nX: y\r\n\r\n"


def test_response_and_event_helpers() -> None:
    reply = AmiMessage.response("Success", {"Message": "Authentication accepted"}, action_id="7")
    assert reply.encode() == b"Response: Success\r\nActionID: 7\r\nMessage: Authentication accepted\r\n\r\n"
    event = AmiMessage.event("Hangup", [("Channel", "PJSIP/1-0001"), ("Cause", "16")])
    assert event.kind is AmiKind.EVENT
    assert AmiDecoder(expect_banner=False).feed(event.encode()) == [event]


def test_action_line_limit_is_1024_bytes_with_crlf() -> None:
    fits = "x" * (1024 - len("Data: ") - 2)
    assert len(encode_action("Setvar", {"Data": fits}).split(b"\r\n")[1]) == 1022
    with pytest.raises(LocalProtocolError) as info:
        encode_action("Setvar", {"Data": fits + "x"})
    assert str(info.value) == (
        "AMI action 'Setvar': header 'Data' makes a 1025-byte line; "
        "Asterisk accepts at most 1024 bytes per line (CRLF included)"
    )


def test_action_header_limit_is_128() -> None:
    encode_action("UserEvent", [(f"H{i}", "v") for i in range(127)])
    with pytest.raises(LocalProtocolError) as info:
        encode_action("UserEvent", [(f"H{i}", "v") for i in range(128)])
    assert str(info.value) == "AMI action 'UserEvent' has 129 headers; Asterisk accepts at most 128"


def test_events_may_exceed_request_limits() -> None:
    # the limits are Asterisk's input buffer; what Asterisk (or the emulator) sends has none
    event = AmiMessage.event("VarSet", {"Value": "x" * 5000})
    assert AmiDecoder(expect_banner=False).feed(event.encode()) == [event]


@pytest.mark.parametrize(
    ("headers", "text"),
    [
        (
            {"Channel": "PJSIP/1\r\nAction: Hangup"},
            "AMI header 'Channel' has a CR or LF in its value 'PJSIP/1\\r\\nAction: Hangup'",
        ),
        ({"Bad Name": "x"}, "AMI header name 'Bad Name' is not a token (printable ASCII, no colon or space)"),
        ({"A:B": "x"}, "AMI header name 'A:B' is not a token (printable ASCII, no colon or space)"),
    ],
)
def test_encoding_refuses_injection(headers: dict[str, str], text: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        encode_action("Hangup", headers)
    assert str(info.value) == text


def test_repr_and_wire_log_redact_secrets() -> None:
    login = AmiMessage.action("Login", Username="admin", Secret="hunter2")
    challenge = AmiMessage.action("Login", AuthType="MD5", Key="0123abcd")
    assert "hunter2" not in repr(login)
    assert "0123abcd" not in repr(challenge)
    assert "Username: 'admin'" in repr(login)
    assert redact(login.encode() + challenge.encode()) == (
        b"Action: Login\r\nUsername: admin\r\nSecret: ********\r\n\r\n"
        b"Action: Login\r\nAuthType: MD5\r\nKey: ********\r\n\r\n"
    )


# -- round trip -------------------------------------------------------------------------------

names = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=":"), min_size=1, max_size=12
)
values = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=40)
KIND_NAMES = {"event", "response", "action"}
body_headers = st.lists(st.tuples(names.filter(lambda name: name.lower() not in KIND_NAMES), values), max_size=20)


@st.composite
def messages(draw: st.DrawFn) -> AmiMessage:
    kind = draw(st.sampled_from(["Event", "Response", "Action"]))
    name = draw(values.filter(lambda value: value != "Follows"))
    return AmiMessage(((kind, name), *draw(body_headers)))


@given(st.lists(messages(), min_size=1, max_size=5), st.integers(min_value=1, max_value=64))
def test_decode_of_encode_round_trips(batch: list[AmiMessage], step: int) -> None:
    raw = b"".join(message.encode() for message in batch)
    decoded, errors = decode_all(raw, [step], expect_banner=False)
    assert errors == []
    assert decoded == batch


@given(st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20))
def test_banner_round_trips(version: str) -> None:
    banner = AmiMessage.banner(version)
    assert AmiDecoder().feed(banner.encode()) == [banner]


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_wedge_the_decoder(garbage: bytes) -> None:
    decoder = AmiDecoder(max_frame_bytes=128)
    for chunk in (garbage, b"\r\n\r\n"):
        for _ in range(len(garbage) + 2):  # each error consumes at least one message
            try:
                decoder.feed(chunk)
                break
            except AmiDecodeError:
                chunk = b""
    assert decoder.feed(b"Event: Alive\r\n\r\n")[-1].name == "Alive"


def test_header_split_at_first_colon_without_space() -> None:
    (message,) = AmiDecoder(expect_banner=False).feed(b"Action:Ping\r\nX:a: b\r\nEmpty:\r\nSpaced:  two\r\n\r\n")
    assert message.headers == (("Action", "Ping"), ("X", "a: b"), ("Empty", ""), ("Spaced", " two"))


def test_legacy_marker_on_the_last_text_line() -> None:
    raw = b"Response: Follows\r\nPrivilege: Command\r\nno newline at the end--END COMMAND--\r\n\r\n"
    (reply,) = AmiDecoder(expect_banner=False).feed(raw)
    assert reply.body == ("no newline at the end",)


def test_banner_that_is_not_utf8() -> None:
    decoder = AmiDecoder()
    exc = feed_error(decoder, b"Asterisk Call Manager/\xff\r\nEvent: A\r\n\r\n")
    assert str(exc) == "AMI message at byte 0 is not UTF-8: byte 0xff at byte 22"
    assert [m.name for m in decoder.feed(b"")] == ["A"]


def test_endless_banner_line_is_refused() -> None:
    decoder = AmiDecoder(max_frame_bytes=64)
    exc = feed_error(decoder, b"Asterisk Call Manager/" + b"9" * 100)
    assert str(exc) == "AMI message at byte 0 is longer than 64 bytes without a blank line"


def test_message_without_kind_cannot_be_read_or_encoded() -> None:
    message = AmiMessage((("Foo", "bar"),))
    for read in (lambda: message.kind, lambda: message.name, message.encode):
        with pytest.raises(LocalProtocolError) as info:
            read()
        assert str(info.value) == "AMI message has no Event, Response or Action header"


def test_legacy_reply_encoding_refuses_what_would_not_round_trip() -> None:
    extra = AmiMessage((("Response", "Follows"), ("Message", "x")), ("text",))
    with pytest.raises(LocalProtocolError) as info:
        extra.encode()
    assert str(info.value) == (
        "AMI legacy Command reply can only carry Privilege and ActionID headers before its body, not 'Message'"
    )
    blank = AmiMessage((("Response", "Follows"),), ("a", ""))
    with pytest.raises(LocalProtocolError) as info:
        blank.encode()
    assert str(info.value) == "AMI legacy Command body line '' would end the reply early"


def test_event_with_a_second_event_header_is_not_encoded() -> None:
    with pytest.raises(LocalProtocolError) as info:
        AmiMessage.event("UserEvent", {"Event": "x"}).encode()
    assert (
        str(info.value) == "AMI event 'UserEvent' has a second Event header; it would read as two events run together"
    )


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"Event: A\nX: 1\n\nEvent: B\nbad\n\n", "AMI header at byte 24 has no colon: 'bad'"),
        (b"Event: A\nX: 1\n\nEvent: B\r\nbad\nY: 2\r\n\r\n", "AMI header at byte 25 has no colon: 'bad'"),
    ],
    ids=["lf", "mixed"],
)
def test_no_colon_offset_with_lf_and_mixed_line_ends(raw: bytes, text: str) -> None:
    exc = feed_error(AmiDecoder(expect_banner=False), raw)
    assert str(exc) == text
    assert raw[exc.offset : exc.offset + 3] == b"bad"


# -- the bulk path for plain input (rule 8) agrees with the per-frame path --------------------


def frame_texts(
    starts: list[str], values: st.SearchStrategy[str], odd_lines: list[str], ends: list[str]
) -> st.SearchStrategy[str]:
    first = st.builds("".join, st.tuples(st.sampled_from(starts), st.sampled_from(["Newchannel", "", "a: b", " x"])))
    name = st.text(st.sampled_from("AEIDevnt-x:"), min_size=1, max_size=8)
    header = st.builds("".join, st.tuples(name, st.sampled_from([":", ": ", ":  "]), values))
    lines = st.lists(header | st.sampled_from(odd_lines), max_size=5)
    return st.builds(lambda head, rest, eol: eol.join([head, *rest]), first, lines, st.sampled_from(ends))


# Plain frames take the bulk path when a whole feed holds only them; odd ones make it step aside.
plain_frames = frame_texts(
    ["Event: ", "Response: ", "Action: "],
    st.text(st.sampled_from(" :xé한E"), max_size=8),
    ["ActionID: 7", "actionid: 8", " Lead: x", "Event:x", "ResponseX: y"],
    ["\r\n"],
)
odd_frames = frame_texts(
    ["Event: ", "Event:", "event: ", " Event: ", "Foo: ", "", "Response: Follows"],
    st.text(st.sampled_from(" :x\rE"), max_size=3),
    ["Event: again", "no colon", "", "--END COMMAND--"],
    ["\r\n", "\n"],
)
frames = st.one_of(plain_frames, plain_frames, plain_frames, odd_frames)


def observe(messages: list[AmiMessage]) -> list[tuple[object, ...]]:
    """Everything a consumer can read, name and kind first (before the headers are built)."""
    seen = []
    for message in messages:
        first = (message.kind, message.name, message.action_id)
        names = [name for name, _ in message.headers] + ["actionid", "NoSuch"]
        lookups = [(message.get(name), message.get_all(name)) for name in names]
        seen.append((*first, message.headers, message.body, message.offset, hash(message), lookups))
    return seen


@given(st.lists(frames, min_size=1, max_size=8), st.integers(min_value=1, max_value=80))
def test_bulk_and_per_frame_decoding_agree(batch: list[str], step: int) -> None:
    raw = "".join(frame + "\r\n\r\n" for frame in batch).encode()
    bulk, bulk_errors = decode_all(raw, expect_banner=False)
    # One blank line too many at the end makes the whole feed take the per-frame path; it adds
    # no message and moves no offset.
    per_frame, per_frame_errors = decode_all(raw + b"\r\n", expect_banner=False)
    chunked, chunked_errors = decode_all(raw, [step], expect_banner=False)
    assert observe(bulk) == observe(per_frame) == observe(chunked)
    assert bulk_errors == per_frame_errors == chunked_errors


def test_plain_frames_read_like_their_lf_form_with_byte_offsets() -> None:
    raw = (
        "Event: Newchannel\r\nChannel: PJSIP/1\r\nCallerIDName: 김민준\r\nChanVariable: A=1\r\n"
        "chanvariable: B=2\r\n\r\n"
        "Response: Success\r\nActionID: 7\r\nMessage: Pong\r\n\r\n"
        "Action: Ping\r\nActionID: 8\r\n\r\nEvent: Hangup\r\nCause:16\r\n\r\n"
    ).encode()
    messages = AmiDecoder(expect_banner=False).feed(raw)
    assert [(m.kind, m.name, m.action_id) for m in messages] == [
        (AmiKind.EVENT, "Newchannel", None),
        (AmiKind.RESPONSE, "Success", "7"),
        (AmiKind.ACTION, "Ping", "8"),
        (AmiKind.EVENT, "Hangup", None),
    ]
    assert [raw[m.offset : m.offset + 5] for m in messages] == [b"Event", b"Respo", b"Actio", b"Event"]
    newchannel = messages[0]
    assert newchannel.get("CALLERIDNAME") == "김민준"
    assert newchannel.get("ChanVariable") == "A=1"
    assert newchannel.get_all("chanVARIABLE") == ["A=1", "B=2"]
    assert messages[3].headers == (("Event", "Hangup"), ("Cause", "16"))
    assert messages == AmiDecoder(expect_banner=False).feed(raw.replace(b"\r\n", b"\n"))
    assert len({*messages, *[AmiMessage(m.headers) for m in messages]}) == 4


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"Event: B\r\nX: 1\r\nno colon\r\n\r\n", "AMI header at byte 28 has no colon: 'no colon'"),
        (b"Event: B\r\nX: \xe9\r\n\r\n", "AMI message at byte 12 is not UTF-8: byte 0xe9 at byte 25"),
        (b"Event: B\r\nEvent: C\r\n\r\n", "AMI message at byte 12 has a second Event header at byte 22; a blank line is missing"),
    ],
    ids=["no-colon", "not-utf8", "run-together"],
)  # fmt: skip
def test_errors_amid_plain_frames_are_raised_by_feed(raw: bytes, text: str) -> None:
    decoder = AmiDecoder(expect_banner=False)
    exc = feed_error(decoder, b"Event: A\r\n\r\n" + raw + b"Event: Z\r\n\r\n")
    assert str(exc) == text
    assert [m.name for m in exc.messages] == ["A"]
    assert [m.name for m in decoder.feed(b"")] == ["Z"]


def test_legacy_reply_whose_text_lines_hold_colons_stays_legacy() -> None:
    raw = b"Response: Follows\r\nPrivilege: Command\r\nUptime: 5 s--END COMMAND--\r\n\r\nEvent: A\r\n\r\n"
    reply, event = AmiDecoder(expect_banner=False).feed(raw)
    assert reply.headers == (("Response", "Follows"), ("Privilege", "Command"))
    assert reply.output_lines == ["Uptime: 5 s"]
    assert event.name == "A"
