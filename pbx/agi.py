"""Sans-I/O AGI codec, both directions: we are the FastAGI server, the emulator plays Asterisk.

Theory of operation
-------------------
A FastAGI session is line-oriented text ending every line with a bare ``\\n``
(res_agi.c; ``../shared/ami/agi/agi-protocol-notes.md``):

1. Asterisk connects and sends the *environment*: ``agi_network: yes``, ``agi_network_script``
   (only when the URL has a path), then ``agi_request`` ... ``agi_threadid`` in a fixed order,
   ``agi_arg_1`` .. ``agi_arg_N``, and one empty line. `AgiEnvDecoder` turns bytes into an
   `AgiEnvironment` (ordered pairs, unknown keys kept); `encode_environment` writes one back.
2. We send one command per line (`encode_command`, quoting as Asterisk's ``parse_args`` reads
   it; `parse_command_line` is that reader, for the emulator).
3. Asterisk answers each command with one reply (`AgiReplyDecoder`, `AgiReply.parse`,
   `encode_reply`): ``200 result=<r> [(<data>)] [key=value ...]``, ``510 ...``, ``511 ...``,
   ``520 ...`` on one line or ``520-`` ... ``520 End of proper usage.`` over several, and the
   unsolicited line ``HANGUP`` when the caller hangs up.

Rule 1: nothing here touches a socket, a clock or the event loop. Bytes in, values out.
Rule 2: a malformed line raises `RemoteProtocolError` (peer sent it) or `LocalProtocolError`
(we were asked to send it), and the message quotes the line.
Rule 3: lines are framed on ``\\n`` first and decoded as UTF-8 per line, so a multi-byte
character split across reads survives. A trailing ``\\r`` is tolerated on input, never written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from callcenter.errors import LocalProtocolError, RemoteProtocolError

# res_agi.c reads commands into a 2048-byte buffer with fgets: a longer line is cut and the
# rest is taken as the next command. MAX_ARGS caps the words of one command line.
MAX_COMMAND_LINE_BYTES = 2047
MAX_ARGS = 128
# Our own guard: an environment or a 520 usage block larger than this is not Asterisk.
MAX_BLOCK_BYTES = 64 * 1024

HANGUP = 0  # `AgiReply.code` of the unsolicited ``HANGUP`` line (it has no numeric code)
USAGE_END = "520 End of proper usage."

_KEY_RE = re.compile(r"agi_[A-Za-z0-9_]+")
_ARG_RE = re.compile(r"agi_arg_([0-9]+)")
_CODE_RE = re.compile(r"([0-9]{3})([ -])(.*)")
_EXTRA_RE = re.compile(r"([A-Za-z0-9_]+)=(.*)")
# Data in parentheses ends at the first ')' that is followed by the end or by ' key='.
_DATA_RE = re.compile(r"\((.*?)\)(?=$| [A-Za-z0-9_]+=)")


def _decode_line(raw: bytes, what: str) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"{what} {raw!r} is not valid UTF-8 (byte {exc.start})") from None


# --------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------


def _unknown_as_empty(value: str | None) -> str:
    # Asterisk writes "unknown" for a caller id or dnid that is not valid.
    return "" if value in (None, "unknown") else value


@dataclass(frozen=True, slots=True)
class AgiEnvironment:
    """The ``agi_*`` variables of one AGI session, in the order they arrived.

    Unknown keys are kept, repeated keys too (`get` returns the first). The properties give the
    domain's view: `callerid` and `dnis` are "" when Asterisk says ``unknown``.
    """

    pairs: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        for k, v in self.pairs:
            if k == key:
                return v
        return None

    @classmethod
    def for_request(
        cls,
        request: str,
        *,
        channel: str,
        uniqueid: str,
        language: str = "en",
        channel_type: str = "PJSIP",
        version: str = "20.20.1",
        callerid: str = "",
        calleridname: str = "",
        dnid: str = "",
        context: str = "default",
        extension: str = "s",
        priority: int = 1,
        accountcode: str = "",
        threadid: int = 0,
        args: Sequence[str] = (),
    ) -> AgiEnvironment:
        """The environment Asterisk 20 sends for ``AGI(request,args...)``, lines in its order
        (setup_env in res_agi.c)."""
        pairs: list[tuple[str, str]] = []
        parts = urlsplit(request)
        if parts.scheme in ("agi", "hagi"):
            pairs.append(("agi_network", "yes"))
            script = request.split("/", 3)[3] if request.count("/") >= 3 else ""
            if script:
                pairs.append(("agi_network_script", script))
        pairs += [
            ("agi_request", request),
            ("agi_channel", channel),
            ("agi_language", language),
            ("agi_type", channel_type),
            ("agi_uniqueid", uniqueid),
            ("agi_version", version),
            ("agi_callerid", callerid or "unknown"),
            ("agi_calleridname", calleridname or "unknown"),
            ("agi_callingpres", "0"),
            ("agi_callingani2", "0"),
            ("agi_callington", "0"),
            ("agi_callingtns", "0"),
            ("agi_dnid", dnid or "unknown"),
            ("agi_rdnis", "unknown"),
            ("agi_context", context),
            ("agi_extension", extension),
            ("agi_priority", str(priority)),
            ("agi_enhanced", "0.0"),
            ("agi_accountcode", accountcode),
            ("agi_threadid", str(threadid)),
        ]
        pairs += [(f"agi_arg_{i}", arg) for i, arg in enumerate(args, start=1)]
        return cls(tuple(pairs))

    @property
    def request(self) -> str:
        return self.get("agi_request") or ""

    @property
    def network_script(self) -> str | None:
        """The URL path after ``host[:port]/`` with its query, as Asterisk sends it.

        None when the session is not a network one (a local script, AsyncAGI).
        """
        script = self.get("agi_network_script")
        if script is not None:
            return script
        parts = urlsplit(self.request)
        if parts.scheme not in ("agi", "hagi"):
            return None
        path = parts.path.lstrip("/")
        return f"{path}?{parts.query}" if parts.query else path or None

    @property
    def script_name(self) -> str | None:
        """`network_script` without the query and slashes: what FastAGI routes on."""
        script = self.network_script
        if script is None:
            return None
        return script.split("?", 1)[0].strip("/") or None

    @property
    def args(self) -> tuple[str, ...]:
        numbered = [(int(m.group(1)), v) for k, v in self.pairs if (m := _ARG_RE.fullmatch(k))]
        return tuple(v for _, v in sorted(numbered, key=lambda nv: nv[0]))

    @property
    def channel(self) -> str:
        return self.get("agi_channel") or ""

    @property
    def uniqueid(self) -> str:
        return self.get("agi_uniqueid") or ""

    @property
    def callerid(self) -> str:
        return _unknown_as_empty(self.get("agi_callerid"))

    @property
    def calleridname(self) -> str:
        return _unknown_as_empty(self.get("agi_calleridname"))

    @property
    def dnis(self) -> str:
        """The number dialled: ``agi_dnid``, or the extension when Asterisk has no dnid."""
        return _unknown_as_empty(self.get("agi_dnid")) or self.extension

    @property
    def extension(self) -> str:
        return self.get("agi_extension") or ""

    @property
    def context(self) -> str:
        return self.get("agi_context") or ""


class AgiEnvDecoder:
    """Bytes from Asterisk in, one `AgiEnvironment` out once the empty line has arrived.

    `feed` returns None while more bytes are needed. Bytes after the empty line are kept in
    `unused_data` (Asterisk sends none before our first command, but a capture may).
    """

    def __init__(self, *, max_bytes: int = MAX_BLOCK_BYTES) -> None:
        self._buffer = bytearray()
        self._max_bytes = max_bytes
        self._pairs: list[tuple[str, str]] = []
        self._size = 0
        self._done = False
        self.unused_data = b""

    def feed(self, data: bytes) -> AgiEnvironment | None:
        if self._done:
            self.unused_data += data
            return None
        self._buffer += data
        while (end := self._buffer.find(b"\n")) != -1:
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self._size += end + 1
            line = _decode_line(raw, f"AGI environment line {len(self._pairs) + 1}")
            if not line:
                if not self._pairs:
                    raise RemoteProtocolError("AGI environment is empty: the first line is blank")
                self._done = True
                self.unused_data = bytes(self._buffer)
                self._buffer.clear()
                return AgiEnvironment(tuple(self._pairs))
            self._pairs.append(self._parse_line(line))
        if self._size + len(self._buffer) > self._max_bytes:
            raise RemoteProtocolError(f"AGI environment exceeds {self._max_bytes} bytes without an empty line")
        return None

    def _parse_line(self, line: str) -> tuple[str, str]:
        where = f"AGI environment line {len(self._pairs) + 1}"
        key, colon, value = line.partition(":")
        if not colon or not _KEY_RE.fullmatch(key):
            raise RemoteProtocolError(f"{where}: expected 'agi_<name>: <value>', got {line!r}")
        # Asterisk writes "key: value"; a capture that stripped trailing spaces has "key:".
        return key, value[1:] if value.startswith(" ") else value


def encode_environment(env: AgiEnvironment) -> bytes:
    """The environment block as Asterisk writes it: the pairs in `env`'s order, then ``\\n``.

    Build `env` with `AgiEnvironment.for_request` to get Asterisk's own line order.
    """
    out = bytearray()
    for key, value in env.pairs:
        if not _KEY_RE.fullmatch(key):
            raise LocalProtocolError(f"AGI environment key {key!r} is not agi_<name>")
        if "\n" in value or "\r" in value:
            raise LocalProtocolError(f"AGI environment value of {key} contains a line break: {value!r}")
        out += f"{key}: {value}\n".encode()
    return bytes(out + b"\n")


# --------------------------------------------------------------------------------------------
# Replies
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgiReply:
    """One reply from Asterisk.

    ``200 result=1 (timeout) endpos=1234`` is ``AgiReply(200, "1", "timeout", {"endpos": "1234"})``.
    For 5xx replies `text` is the message after the code and `usage` the 520 usage block.
    The unsolicited ``HANGUP`` line has code `HANGUP` (0).
    """

    code: int
    result: str | None = None
    data: str | None = None  # the text in parentheses
    extras: dict[str, str] = field(default_factory=dict)
    usage: str | None = None  # 520 multi-line usage text
    text: str = ""  # message of a non-200 reply

    @property
    def is_hangup(self) -> bool:
        return self.code == HANGUP

    @classmethod
    def parse(cls, line_or_lines: str | bytes | Sequence[str]) -> AgiReply:
        """One reply from its line (or the lines of a 520 usage block), without line ends."""
        if isinstance(line_or_lines, bytes):
            line_or_lines = _decode_line(line_or_lines.rstrip(b"\n"), "AGI reply")
        lines = line_or_lines.split("\n") if isinstance(line_or_lines, str) else list(line_or_lines)
        if not lines:
            raise RemoteProtocolError("AGI reply is empty")
        first = lines[0].rstrip("\r")
        if first.startswith("520-"):
            return _parse_usage_block(first, [ln.rstrip("\r") for ln in lines[1:]])
        if len(lines) > 1:
            raise RemoteProtocolError(f"AGI reply {first!r} is followed by more lines; only 520- spans lines")
        return _parse_line(first)


def _parse_line(line: str) -> AgiReply:
    if line == "HANGUP":
        return AgiReply(HANGUP)
    if not line:
        raise RemoteProtocolError("AGI reply is an empty line")
    m = _CODE_RE.fullmatch(line)
    if m is None or m.group(2) != " ":
        if line == "200" or (m is not None and m.group(1) == "200"):
            raise RemoteProtocolError(f"AGI reply {line!r}: expected '200 result=<value>'")
        if re.fullmatch(r"[0-9]{3}", line):
            raise RemoteProtocolError(f"AGI reply {line!r}: expected a message after the code")
        raise RemoteProtocolError(f"AGI reply {line!r}: expected a 3-digit code or HANGUP")
    code, rest = int(m.group(1)), m.group(3)
    if code != 200:
        return AgiReply(code, text=rest)
    if not rest.startswith("result="):
        raise RemoteProtocolError(f"AGI reply {line!r}: expected '200 result=<value>'")
    # NOTE(lead): an empty result is real Asterisk output: GET DATA answers `200 result= (timeout)`
    # when the caller pressed nothing and `200 result=` when they pressed only '#'
    # (res_agi.c handle_getdata prints `result=%s` with an empty buffer). zaf/agi's test data calls
    # both malformed; Asterisk disagrees, and we follow Asterisk.
    result, _, rest = rest[len("result=") :].partition(" ")
    data = None
    if rest.startswith("("):
        dm = _DATA_RE.match(rest)
        if dm is None:
            raise RemoteProtocolError(f"AGI reply {line!r}: '(' without a closing ')'")
        data, rest = dm.group(1), rest[dm.end() :].lstrip(" ")
    extras: dict[str, str] = {}
    last = None
    for token in rest.split(" ") if rest else ():
        em = _EXTRA_RE.fullmatch(token)
        if em is not None:
            last = em.group(1)
            extras[last] = em.group(2)
        elif last is not None:
            # Free text after key=value (speech "results=2 ..."): it belongs to the last value.
            extras[last] += " " + token
        else:
            raise RemoteProtocolError(f"AGI reply {line!r}: expected 'key=value' after the result, got {token!r}")
    return AgiReply(200, result, data, extras)


def _parse_usage_block(first: str, rest: list[str]) -> AgiReply:
    if not rest or not rest[-1].endswith(USAGE_END):
        raise RemoteProtocolError(f"AGI 520 usage block is not terminated by {USAGE_END!r}")
    *middle, last = rest
    # Asterisk writes the usage with "%s", so its last line may carry the terminator glued on.
    tail = last[: -len(USAGE_END)]
    body = [*middle, tail] if tail else middle
    return AgiReply(520, text=first[4:], usage="\n".join(body))


class AgiReplyDecoder:
    """Bytes from Asterisk in, `AgiReply` values out, whatever the read boundaries."""

    def __init__(self, *, max_bytes: int = MAX_BLOCK_BYTES) -> None:
        self._buffer = bytearray()
        self._usage: list[str] | None = None  # lines of an open 520- block
        self._usage_bytes = 0
        self._max_bytes = max_bytes

    def feed(self, data: bytes) -> list[AgiReply]:
        self._buffer += data
        replies: list[AgiReply] = []
        while (end := self._buffer.find(b"\n")) != -1:
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            line = _decode_line(raw, "AGI reply")
            if self._usage is not None:
                self._usage.append(line)
                self._usage_bytes += len(raw) + 1
                if line.endswith(USAGE_END):
                    first, *rest = self._usage
                    self._usage = None
                    replies.append(_parse_usage_block(first, rest))
            elif line.startswith("520-"):
                self._usage, self._usage_bytes = [line], len(raw) + 1
            else:
                replies.append(_parse_line(line))
        if len(self._buffer) + self._usage_bytes > self._max_bytes:
            raise RemoteProtocolError(f"AGI reply exceeds {self._max_bytes} bytes without its end")
        return replies


def encode_reply(reply: AgiReply) -> bytes:
    """The reply line(s) as Asterisk writes them (for the emulator)."""
    if reply.is_hangup:
        return b"HANGUP\n"
    if reply.code == 200:
        if reply.result is None or " " in reply.result:
            raise LocalProtocolError(f"AGI 200 reply needs a result without spaces, got {reply.result!r}")
        line = f"200 result={reply.result}"
        if reply.data is not None:
            line += f" ({reply.data})"
        line += "".join(f" {k}={v}" for k, v in reply.extras.items())
    elif reply.usage is not None:
        line = f"{reply.code}-{reply.text}\n{reply.usage}\n{USAGE_END}"
    else:
        line = f"{reply.code} {reply.text}"
    if "\r" in line or (reply.usage is None and "\n" in line):
        raise LocalProtocolError(f"AGI reply contains a line break: {line!r}")
    return (line + "\n").encode()


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------

_NEEDS_QUOTES = re.compile(r'[\s"\\]')


def _quote(arg: str) -> str:
    if arg and not _NEEDS_QUOTES.search(arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_command(name: str, *args: str) -> bytes:
    """One command line: ``STREAM FILE welcome ""`` for ``("STREAM FILE", "welcome", "")``.

    Arguments that are empty or hold spaces, quotes or backslashes are double-quoted with
    backslash escapes, which is how Asterisk's ``parse_args`` reads them back.
    """
    words = name.split()
    if not words or any(not w.isprintable() for w in words):
        raise LocalProtocolError(f"AGI command name {name!r} is empty or not printable")
    for arg in args:
        if "\n" in arg or "\r" in arg or "\0" in arg:
            raise LocalProtocolError(f"AGI command {name} argument {arg!r} contains a line break or NUL")
    if len(words) + len(args) > MAX_ARGS - 1:
        raise LocalProtocolError(
            f"AGI command {name} has {len(words) + len(args)} words; Asterisk reads at most {MAX_ARGS - 1}"
        )
    line = (" ".join([*words, *(_quote(a) for a in args)]) + "\n").encode()
    if len(line) > MAX_COMMAND_LINE_BYTES:
        raise LocalProtocolError(
            f"AGI command {name} is {len(line)} bytes; Asterisk reads at most {MAX_COMMAND_LINE_BYTES}"
        )
    return line


def parse_command_line(line: bytes) -> list[str]:
    """The words of one command line, read exactly as Asterisk's ``parse_args`` does."""
    text = _decode_line(line.rstrip(b"\n"), "AGI command")
    words: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    in_word = False
    for ch in text:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and not in_word:
                in_word = True  # an opening quote starts a word, even an empty one
            continue
        if ch in " \t" and not quoted and not escaped:
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        in_word, escaped = True, False
        current.append(ch)
    if in_word:
        words.append("".join(current))
    return words[: MAX_ARGS - 1]
