"""The AGI codec against every sample in ../shared/ami/agi/, fed whole, byte by byte and in
random chunks; exact error texts; Hypothesis round trips both directions."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.errors import LocalProtocolError, RemoteProtocolError
from pbx.agi import (
    HANGUP,
    AgiEnvDecoder,
    AgiEnvironment,
    AgiReply,
    AgiReplyDecoder,
    encode_command,
    encode_environment,
    encode_reply,
    parse_command_line,
)

ENV_SAMPLES = [
    "asterisk-java--fastagi-network-session.txt",
    "panoramisk--fastagi-env.txt",
    "zaf-agi--fastagi-env-with-args.txt",
    "ruby_ami--asyncagi-env-decoded.txt",
]


def chunks(raw: bytes, step: int | None, seed: int = 0) -> list[bytes]:
    if step is not None:
        return [raw[i : i + step] for i in range(0, len(raw), step)]
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(raw):
        n = rng.randint(1, 40)
        out.append(raw[i : i + n])
        i += n
    return out


def decode_env(parts: list[bytes]) -> tuple[AgiEnvironment, bytes]:
    decoder = AgiEnvDecoder()
    found = [env for part in parts if (env := decoder.feed(part)) is not None]
    assert len(found) == 1
    return found[0], decoder.unused_data


def agi_file(shared_dir: Path, name: str) -> bytes:
    return (shared_dir / "ami" / "agi" / name).read_bytes()


# ---------------------------------------------------------------------------------- environment


@pytest.mark.parametrize("name", ENV_SAMPLES)
@pytest.mark.parametrize("step", [1, 2, 7, None, 1 << 20])
def test_environment_samples_decode_the_same_however_bytes_arrive(
    shared_dir: Path, name: str, step: int | None
) -> None:
    raw = agi_file(shared_dir, name)
    whole, whole_rest = decode_env([raw])
    env, rest = decode_env(chunks(raw, step))
    assert (env, rest) == (whole, whole_rest)
    # Re-encoding gives back the exact bytes of the block: order, empty values, the blank line.
    assert encode_environment(env) + rest == raw


def test_environment_properties_of_the_asterisk_java_network_session(shared_dir: Path) -> None:
    env, rest = decode_env([agi_file(shared_dir, "asterisk-java--fastagi-network-session.txt")])
    assert env.pairs[:3] == (
        ("agi_network", "yes"),
        ("agi_network_script", "route?targ=7601&ctx=Pre-Handset"),
        ("agi_request", "agi://10.10.0.41/route?targ=7601&ctx=Pre-Handset"),
    )
    assert env.network_script == "route?targ=7601&ctx=Pre-Handset"
    assert env.script_name == "route"
    assert env.channel == "Local/7610@default-2df1,1"
    assert env.uniqueid == "1530169476.16133"
    assert env.callerid == ""  # "unknown" in the wire form
    assert env.get("agi_callerid") == "unknown"
    assert env.dnis == "7601"  # agi_dnid is "unknown": the extension is the number dialled
    assert (env.context, env.extension) == ("routesv2-handset", "7601")
    assert env.get("agi_accountcode") == ""
    assert env.get("agi_version") is None
    assert env.args == ()
    # What follows the environment in this capture is Asterisk's replies.
    replies = AgiReplyDecoder().feed(rest)
    assert [(r.code, r.result, r.data) for r in replies] == [
        (200, "0", None), (200, "1", ""), (200, "0", None), (200, "1", None), (200, "0", None),
        (200, "0", None), (200, "0", None), (200, "0", None), (200, "1", ""), (200, "1", None),
    ]  # fmt: skip


def test_environment_arguments_and_network_script(shared_dir: Path) -> None:
    env, _ = decode_env([agi_file(shared_dir, "zaf-agi--fastagi-env-with-args.txt")])
    assert env.args == ("argument1", "argument 2", "3")
    assert (env.network_script, env.script_name) == ("foo?", "foo")
    assert (env.callerid, env.calleridname, env.dnis) == ("1001", "1001", "123456")
    pan, _ = decode_env([agi_file(shared_dir, "panoramisk--fastagi-env.txt")])
    assert (pan.script_name, pan.args, pan.get("agi_threadid")) == ("call_waiting", ("answered",), "-1260881040")


def test_async_agi_environment_is_not_a_network_script(shared_dir: Path) -> None:
    env, _ = decode_env([agi_file(shared_dir, "ruby_ami--asyncagi-env-decoded.txt")])
    assert env.request == "async"
    assert env.network_script is None and env.script_name is None
    assert (env.callerid, env.calleridname, env.dnis) == ("5678", "Jane Smith", "1000")


def test_network_script_falls_back_to_the_request_url_and_args_sort_numerically() -> None:
    pairs = [("agi_request", "agi://10.0.0.1:4573/ivr/main?lang=en"), ("agi_arg_10", "j")]
    pairs += [(f"agi_arg_{i}", str(i)) for i in range(9, 0, -1)]
    pairs.append(("agi_custom_thing", "kept"))
    env = AgiEnvironment(tuple(pairs))
    assert env.network_script == "ivr/main?lang=en"
    assert env.script_name == "ivr/main"
    assert env.args == ("1", "2", "3", "4", "5", "6", "7", "8", "9", "j")
    assert env.get("agi_custom_thing") == "kept"


def test_for_request_writes_asterisk_order() -> None:
    env = AgiEnvironment.for_request(
        "agi://127.0.0.1:4573/ivr", channel="PJSIP/trunk-00000001", uniqueid="1700000000.1",
        callerid="13800138000", dnid="10086", context="hotline", extension="10086", args=("a b", ""),
    )  # fmt: skip
    keys = [k for k, _ in env.pairs]
    assert keys[:22] == [
        "agi_network", "agi_network_script", "agi_request", "agi_channel", "agi_language", "agi_type",
        "agi_uniqueid", "agi_version", "agi_callerid", "agi_calleridname", "agi_callingpres",
        "agi_callingani2", "agi_callington", "agi_callingtns", "agi_dnid", "agi_rdnis", "agi_context",
        "agi_extension", "agi_priority", "agi_enhanced", "agi_accountcode", "agi_threadid",
    ]  # fmt: skip
    assert keys[22:] == ["agi_arg_1", "agi_arg_2"]
    raw = encode_environment(env)
    assert raw.startswith(b"agi_network: yes\nagi_network_script: ivr\nagi_request: agi://127.0.0.1:4573/ivr\n")
    assert b"agi_calleridname: unknown\n" in raw and raw.endswith(b"agi_arg_1: a b\nagi_arg_2: \n\n")
    decoded, _ = decode_env([raw])
    assert decoded == env and decoded.script_name == "ivr" and decoded.dnis == "10086"
    no_path = AgiEnvironment.for_request("agi://127.0.0.1", channel="c", uniqueid="1.1")
    assert [k for k, _ in no_path.pairs][:2] == ["agi_network", "agi_request"]


def test_environment_trailing_bytes_are_kept_and_crlf_is_tolerated() -> None:
    decoder = AgiEnvDecoder()
    assert decoder.feed(b"agi_request: agi://h/x\r\nagi_channel: SIP/a\r\n") is None
    env = decoder.feed(b"\r\n200 result=1\n")
    assert env is not None and env.pairs == (("agi_request", "agi://h/x"), ("agi_channel", "SIP/a"))
    assert decoder.unused_data == b"200 result=1\n"
    assert decoder.feed(b"HANGUP\n") is None
    assert decoder.unused_data == b"200 result=1\nHANGUP\n"


def test_multibyte_character_split_across_reads() -> None:
    raw = "agi_calleridname: 张三\n\n".encode()
    split = raw.index("张".encode()) + 1
    decoder = AgiEnvDecoder()
    assert decoder.feed(raw[:split]) is None
    env = decoder.feed(raw[split:])
    assert env is not None and env.calleridname == "张三"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "AGI environment line 1: expected 'agi_<name>: <value>', got 'GET / HTTP/1.1'",
        ),
        (b"agi_request: x\nHost: y\n\n", "AGI environment line 2: expected 'agi_<name>: <value>', got 'Host: y'"),
        (b"\n", "AGI environment is empty: the first line is blank"),
        (
            b"agi_request: \xff\xfe\n\n",
            "AGI environment line 1 b'agi_request: \\xff\\xfe' is not valid UTF-8 (byte 13)",
        ),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n",
            "AGI environment line 1 b'\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03' is not valid UTF-8 (byte 8)",
        ),
    ],
)
def test_environment_errors_are_exact(raw: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        AgiEnvDecoder().feed(raw)
    assert str(info.value) == message


def test_environment_without_end_is_limited() -> None:
    decoder = AgiEnvDecoder(max_bytes=100)
    assert decoder.feed(b"agi_request: " + b"x" * 80) is None
    with pytest.raises(RemoteProtocolError) as info:
        decoder.feed(b"x" * 30)
    assert str(info.value) == "AGI environment exceeds 100 bytes without an empty line"


def test_encode_environment_refuses_what_asterisk_could_not_send() -> None:
    with pytest.raises(LocalProtocolError) as info:
        encode_environment(AgiEnvironment((("agi_arg_1", "a\nagi_evil: 1"),)))
    assert str(info.value) == "AGI environment value of agi_arg_1 contains a line break: 'a\\nagi_evil: 1'"
    with pytest.raises(LocalProtocolError) as info:
        encode_environment(AgiEnvironment((("channel", "x"),)))
    assert str(info.value) == "AGI environment key 'channel' is not agi_<name>"


# ---------------------------------------------------------------------------------- replies

REPLY_LINES = [
    AgiReply(200, "1"),
    AgiReply(200, "1", "speech", {"endpos": "1234", "results": "foo bar"}),
    AgiReply(510, text="Invalid or unknown command"),
    AgiReply(511, text="Command Not Permitted on a dead channel"),
    AgiReply(520, text="Invalid command syntax.  Proper usage not available."),
    AgiReply(
        520,
        text="Invalid command syntax.  Proper usage follows:",
        usage="Answers channel if not already in answer state. Returns -1 on channel failure, or 0 if successful.",
    ),
    AgiReply(HANGUP),
]


@pytest.mark.parametrize("step", [1, 3, 5, None, 1 << 20])
def test_reply_lines_sample_decodes_however_bytes_arrive(shared_dir: Path, step: int | None) -> None:
    raw = agi_file(shared_dir, "zaf-agi--reply-lines.txt")
    decoder = AgiReplyDecoder()
    replies = [r for part in chunks(raw, step, seed=7) for r in decoder.feed(part)]
    assert replies == REPLY_LINES
    assert replies[-1].is_hangup and not replies[0].is_hangup


def test_reply_decoder_with_trailing_partial_line(shared_dir: Path) -> None:
    raw = agi_file(shared_dir, "zaf-agi--reply-lines.txt")
    decoder = AgiReplyDecoder()
    assert decoder.feed(raw + b"200 resu") == REPLY_LINES
    assert decoder.feed(b"lt=0 (timeout)\n") == [AgiReply(200, "0", "timeout")]


def test_usage_block_on_separate_lines_as_asterisk_20_sends_it() -> None:
    raw = b"520-Invalid command syntax.  Proper usage follows:\n Usage: GET DATA <file>\n  second line\n520 End of proper usage.\n"
    reply = AgiReply(
        520, text="Invalid command syntax.  Proper usage follows:", usage=" Usage: GET DATA <file>\n  second line"
    )
    assert AgiReplyDecoder().feed(raw) == [reply]
    assert encode_reply(reply) == raw
    assert AgiReply.parse(raw) == reply


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("200", "AGI reply '200': expected '200 result=<value>'"),
        ("200 result 1", "AGI reply '200 result 1': expected '200 result=<value>'"),
        ("200 result= 1", "AGI reply '200 result= 1': expected 'key=value' after the result, got '1'"),
        ("", "AGI reply is an empty line"),
        (
            "some random reply that we are not supposed to get",
            "AGI reply 'some random reply that we are not supposed to get': expected a 3-digit code or HANGUP",
        ),
    ],
)
def test_malformed_replies_sample_is_rejected_with_exact_text(shared_dir: Path, line: str, message: str) -> None:
    sample = agi_file(shared_dir, "zaf-agi--malformed-replies.txt").decode().split("\n")
    assert line in sample  # the case comes from the shared corpus
    with pytest.raises(RemoteProtocolError) as info:
        AgiReply.parse(line)
    assert str(info.value) == message
    with pytest.raises(RemoteProtocolError) as info:
        AgiReplyDecoder().feed(line.encode() + b"\n")
    assert str(info.value) == message


def test_empty_result_is_what_asterisk_sends_for_get_data_without_digits(shared_dir: Path) -> None:
    # zaf/agi lists "200 result=" as malformed, but res_agi.c's handle_getdata prints
    # "200 result=%s (timeout)" / "200 result=%s" with an empty buffer when no digit came.
    assert "200 result=" in agi_file(shared_dir, "zaf-agi--malformed-replies.txt").decode().split("\n")
    assert AgiReply.parse("200 result=") == AgiReply(200, "")
    assert AgiReply.parse("200 result= (timeout)") == AgiReply(200, "", "timeout")
    assert AgiReplyDecoder().feed(b"200 result= (timeout)\n") == [AgiReply(200, "", "timeout")]
    assert encode_reply(AgiReply(200, "", "timeout")) == b"200 result= (timeout)\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("510", "AGI reply '510': expected a message after the code"),
        ("200 result=1 (unclosed", "AGI reply '200 result=1 (unclosed': '(' without a closing ')'"),
        ("200 result=1 junk", "AGI reply '200 result=1 junk': expected 'key=value' after the result, got 'junk'"),
        ("200-result=1", "AGI reply '200-result=1': expected '200 result=<value>'"),
    ],
)
def test_other_malformed_replies(line: str, message: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        AgiReply.parse(line)
    assert str(info.value) == message


def test_unterminated_usage_block_and_size_limit() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        AgiReply.parse(["520-Invalid command syntax.  Proper usage follows:", "usage"])
    assert str(info.value) == "AGI 520 usage block is not terminated by '520 End of proper usage.'"
    decoder = AgiReplyDecoder(max_bytes=64)
    assert decoder.feed(b"520-Invalid command syntax.  Proper usage follows:\n") == []
    with pytest.raises(RemoteProtocolError) as info:
        decoder.feed(b"a long usage line that never ends\n")
    assert str(info.value) == "AGI reply exceeds 64 bytes without its end"


def test_reply_values() -> None:
    assert AgiReply.parse(b"200 result=1 (SIP/000000)\n") == AgiReply(200, "1", "SIP/000000")
    assert AgiReply.parse("200 result=1 (a (b) c)") == AgiReply(200, "1", "a (b) c")
    assert AgiReply.parse("200 result=-1 endpos=0") == AgiReply(200, "-1", None, {"endpos": "0"})
    assert AgiReply.parse("200 result=1 (digit) digit=5 endpos=160") == AgiReply(
        200, "1", "digit", {"digit": "5", "endpos": "160"}
    )
    assert AgiReply.parse("200 result=0 (timeout)") == AgiReply(200, "0", "timeout")


# ---------------------------------------------------------------------------------- commands


def test_encode_command_quotes_only_what_needs_it() -> None:
    assert encode_command("ANSWER") == b"ANSWER\n"
    assert encode_command("STREAM FILE", "welcome", "") == b'STREAM FILE welcome ""\n'
    assert encode_command("GET DATA", "custom/menu main", "5000", "4") == b'GET DATA "custom/menu main" 5000 4\n'
    assert encode_command("SET VARIABLE", "X", 'say "hi"\\now') == b'SET VARIABLE X "say \\"hi\\"\\\\now"\n'
    assert encode_command("VERBOSE", "tab\there", "1") == b'VERBOSE "tab\there" 1\n'


def test_parse_command_line_reads_like_asterisk() -> None:
    assert parse_command_line(b'STREAM FILE welcome ""\n') == ["STREAM", "FILE", "welcome", ""]
    assert parse_command_line(b"GET  DATA\tfoo   5000\n") == ["GET", "DATA", "foo", "5000"]
    assert parse_command_line(b'SET VARIABLE a"b c"d x\\ y \\"q\n') == ["SET", "VARIABLE", "ab cd", "x y", '"q']
    assert parse_command_line(b"A " + b"x " * 200) == ["A"] + ["x"] * 126


def test_encode_command_errors() -> None:
    cases = [
        (
            lambda: encode_command("SET VARIABLE", "a", "b\nHANGUP"),
            "AGI command SET VARIABLE argument 'b\\nHANGUP' contains a line break or NUL",
        ),
        (lambda: encode_command("  "), "AGI command name '  ' is empty or not printable"),
        (
            lambda: encode_command("VERBOSE", *["x"] * 127),
            "AGI command VERBOSE has 128 words; Asterisk reads at most 127",
        ),
        (
            lambda: encode_command("VERBOSE", "x" * 2040),
            "AGI command VERBOSE is 2049 bytes; Asterisk reads at most 2047",
        ),
    ]
    for call, message in cases:
        with pytest.raises(LocalProtocolError) as info:
            call()
        assert str(info.value) == message


# ---------------------------------------------------------------------------------- round trips

words = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\0"), max_size=12)
names = st.lists(st.from_regex(r"[A-Z]{1,8}", fullmatch=True), min_size=1, max_size=3).map(" ".join)


@given(names, st.lists(words, max_size=8))
def test_command_round_trip(name: str, args: list[str]) -> None:
    assert parse_command_line(encode_command(name, *args)) == [*name.split(), *args]


plain = st.text(
    st.characters(blacklist_categories=("Cs", "Zl", "Zp"), blacklist_characters="\n\r\x1c\x1d\x1e\x85"), max_size=20
)
tokens = st.from_regex(r"[^\s=]{1,10}", fullmatch=True)
replies = st.one_of(
    st.builds(
        AgiReply,
        st.just(200),
        tokens,
        st.none() | plain.filter(lambda s: ")" not in s),
        st.dictionaries(
            st.from_regex(r"[a-z0-9_]{1,8}", fullmatch=True), st.from_regex(r"[^\s]{0,8}", fullmatch=True), max_size=3
        ),
    ),
    st.builds(lambda code, text: AgiReply(code, text=text), st.sampled_from([510, 511, 520, 500]), plain),
    st.builds(
        lambda text, usage: AgiReply(520, text=text, usage=usage),
        plain,
        st.lists(plain.filter(lambda s: not s.endswith("520 End of proper usage.")), max_size=4).map("\n".join),
    ),
    st.just(AgiReply(HANGUP)),
)


@given(st.lists(replies, max_size=6), st.integers(1, 50))
def test_reply_round_trip(values: list[AgiReply], step: int) -> None:
    raw = b"".join(encode_reply(r) for r in values)
    decoder = AgiReplyDecoder()
    assert [r for i in range(0, len(raw), step) for r in decoder.feed(raw[i : i + step])] == values


env_values = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=20)


@given(
    st.lists(st.tuples(st.from_regex(r"agi_[a-z0-9_]{1,12}", fullmatch=True), env_values), min_size=1, max_size=10),
    st.integers(1, 64),
)
def test_environment_round_trip(pairs: list[tuple[str, str]], step: int) -> None:
    env = AgiEnvironment(tuple(pairs))
    raw = encode_environment(env)
    decoded, rest = decode_env([raw[i : i + step] for i in range(0, len(raw), step)])
    assert (decoded, rest) == (env, b"")
