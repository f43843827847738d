"""Sans-I/O codec for the Asterisk Manager Interface (AMI): bytes in, `AmiMessage` values out, and
`AmiMessage` values back to bytes. No sockets, no asyncio, no clock.

Theory of operation
-------------------
AMI is a line protocol. Every line ends in CRLF (Asterisk also accepts a bare LF, and captures on
disk often have only LF), and every message ends with one blank line. A message is an ordered list
of `Name: value` headers; the same name may repeat (`ChanVariable`, `Variable`, `Output`), so we
keep a tuple of pairs in wire order, with names as sent.

Rule 1: frame first, then decode. `AmiDecoder` finds the blank line in the raw bytes and only then
decodes the complete frames before it as UTF-8, so a multi-byte character split across two reads
survives.

Rule 2: a blank line is a LF followed by an optional CR and a LF (`\\n\\n` or `\\n\\r\\n`), so CRLF,
LF and a CRLF line followed by an LF blank line all end a message. Blank or whitespace-only lines
between messages are skipped.

Rule 3: the connection starts with one greeting line, `Asterisk Call Manager/<version>`, with no
blank line after it. With `expect_banner=True` (the client side) it becomes a BANNER message whose
only header is `("Asterisk Call Manager", "<version>")`.

Rule 4: the kind of a message is decided by the first of the headers `Event`, `Response` or
`Action` (case-insensitive) in wire order: events start with `Event`, but a client may put `Action`
anywhere in its block, and an `OriginateResponse` event carries a `Response` header later on.

Rule 5: the pre-Asterisk-14 Command reply (`Response: Follows`, `Privilege: Command`, optional
`ActionID`, then raw text, then `--END COMMAND--`) keeps its raw text lines in `body`; the 14+ form
has one `Output:` header per line. `output_lines` reads either.

Rule 6: bad input raises `AmiDecodeError` (a `RemoteProtocolError`) naming what was wrong and its
byte offset in the stream: a line without a colon, bytes that are not UTF-8, no blank line within
`max_frame_bytes`, no Event/Response/Action header, a second `Event:` line (two messages run
together because a blank line is missing), a legacy Command reply without its end marker. The bad
message is skipped, the messages decoded before it in the same `feed` call travel on the exception
(`exc.messages`), and `feed(b"")` continues with the bytes after it. Nothing is dropped silently
and the decoder is never wedged.

Rule 7: encoding refuses what would corrupt the stream (CR or LF inside a header, a name that is
not a token, a second `Event` header that rule 6 would read as two events run together) and, for
actions, what Asterisk would drop: lines over 1024 bytes (CRLF included, manager.c's `inbuf`) and
more than 128 headers (`AST_MAX_MANHEADERS`). Those raise `LocalProtocolError`.

Rule 8: one bulk pass for plain input. What Asterisk sends is plain: CRLF lines, each with a
colon, frames that start with `Event: `, `Response: ` (not `Follows`) or `Action: `, one blank
line between them, one Event line per event. `feed` first tries the complete frames at the start of
its buffer as a whole: one UTF-8 decode, one split at the blank lines, and a few C-level scans
(`bytes.translate` and `count`) that prove every line has its colon and no event has a second
Event line. If they are all plain, each becomes a message holding its checked frame text, whose
header pairs are built on first use; rule 6's errors can't arise later, because the scans already
ruled them out. If anything is not plain (a bare LF, a blank line too many, an error, a legacy
reply, a frame over `max_frame_bytes`), nothing is taken and the per-frame path of rules 1-6
decodes the same bytes, so both paths agree on every message, offset and error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

from callcenter.errors import LocalProtocolError, RemoteProtocolError

BANNER_NAME = "Asterisk Call Manager"
MAX_LINE_BYTES = 1024  # a request line Asterisk accepts, CRLF included
MAX_HEADERS = 128  # AST_MAX_MANHEADERS
END_COMMAND = "--END COMMAND--"
REDACTED = "********"

_BANNER_PREFIX = (BANNER_NAME + "/").encode()
_WHITESPACE = b" \t\r\n"
_SECRET_HEADERS = frozenset({"secret", "key"})
_LEGACY_HEADERS = frozenset({"privilege", "actionid"})
# A header name is a token: printable ASCII without spaces or colons.
_NAME_RE = re.compile(r"[!-9;-~]+")

HeaderValue = str | int | Sequence[str]


class AmiKind(StrEnum):
    BANNER = "banner"
    EVENT = "event"
    RESPONSE = "response"
    ACTION = "action"


_KIND_BY_NAME = {"event": AmiKind.EVENT, "response": AmiKind.RESPONSE, "action": AmiKind.ACTION}
_KIND_BY_INITIAL = {"E": AmiKind.EVENT, "R": AmiKind.RESPONSE, "A": AmiKind.ACTION}


class AmiDecodeError(RemoteProtocolError):
    """The peer sent bytes that are not AMI. `offset` is the byte offset of the problem in the
    stream; `messages` are the good messages decoded before it by the same `feed` call."""

    def __init__(self, message: str, *, offset: int, messages: list[AmiMessage] | None = None) -> None:
        super().__init__(message)
        self.offset = offset
        self.messages = messages if messages is not None else []


class AmiMessage:
    """One AMI message: a banner, an event, a response or an action.

    `headers` are `(name, value)` pairs in wire order with names as sent; lookups by name are
    case-insensitive because Asterisk's are. `body` holds the raw text lines of a legacy
    `Response: Follows` Command reply (empty otherwise). `offset` is where the message started in
    the decoded stream (-1 for messages built in code); it takes no part in equality. Messages
    are immutable values: equal when their headers and body are, and hashable.
    """

    # A message the decoder took on its fast path (rule 8) keeps its checked frame text in
    # `_wire` (None for others) and builds `_headers` from it on first use (the slot stays unset
    # until then, sparing the decoder a store); `_lookup` is built on the first `get`.
    __slots__ = ("_body", "_headers", "_lookup", "_offset", "_wire")
    __match_args__ = ("headers", "body", "offset")
    _body: tuple[str, ...]
    _headers: tuple[tuple[str, str], ...]
    _lookup: str | dict[str, str] | None
    _offset: int
    _wire: str | None

    def __init__(self, headers: tuple[tuple[str, str], ...], body: tuple[str, ...] = (), offset: int = -1) -> None:
        self._headers = headers
        self._body = body
        self._offset = offset
        self._lookup = None
        self._wire = None

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        try:
            return self._headers
        except AttributeError:
            assert self._wire is not None  # Precondition: only rule 8's messages lack them
            self._headers = headers = _header_pairs(self._wire.split("\r\n"))
            return headers

    @property
    def body(self) -> tuple[str, ...]:
        return self._body

    @property
    def offset(self) -> int:
        return self._offset

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AmiMessage):
            return NotImplemented
        return self.headers == other.headers and self._body == other._body

    def __hash__(self) -> int:
        return hash((self.headers, self._body))

    # -- building -------------------------------------------------------------------------------

    @classmethod
    def action(cls, name: str, *, action_id: str | None = None, **headers: HeaderValue) -> AmiMessage:
        """`AmiMessage.action("Originate", action_id="7", Channel="PJSIP/100", Variable=["A=1", "B=2"])`.
        A list value repeats the header."""
        return make_action(name, headers, action_id)

    @classmethod
    def event(cls, name: str, headers: Mapping[str, HeaderValue] | Iterable[tuple[str, str]] = ()) -> AmiMessage:
        return cls((("Event", name), *_pairs(headers)))

    @classmethod
    def response(
        cls,
        status: str,
        headers: Mapping[str, HeaderValue] | Iterable[tuple[str, str]] = (),
        *,
        action_id: str | None = None,
    ) -> AmiMessage:
        """A reply in manager.c's order: `Response`, then `ActionID` (when the request had one), then
        the other headers."""
        first: tuple[tuple[str, str], ...] = (("Response", status),)
        if action_id:
            first += (("ActionID", action_id),)
        return cls((*first, *_pairs(headers)))

    @classmethod
    def banner(cls, version: str) -> AmiMessage:
        return cls(((BANNER_NAME, version),))

    # -- reading --------------------------------------------------------------------------------

    @property
    def kind(self) -> AmiKind:
        wire = self._wire
        if wire is not None:  # a rule 8 frame starts with its kind header
            return _KIND_BY_INITIAL[wire[0]]
        headers = self._headers
        if len(headers) == 1 and headers[0][0] == BANNER_NAME:
            return AmiKind.BANNER
        for name, _ in headers:
            kind = _KIND_BY_NAME.get(name.lower())
            if kind is not None:
                return kind
        raise LocalProtocolError("AMI message has no Event, Response or Action header")

    @property
    def name(self) -> str:
        """The Event name, the Response status or the Action name (the banner's AMI version)."""
        wire = self._wire
        if wire is not None:  # the value on a rule 8 frame's first line, after `Event: ` or the like
            start = wire.index(" ") + 1
            end = wire.find("\r\n", start)
            return wire[start:] if end == -1 else wire[start:end]
        headers = self._headers
        if len(headers) == 1 and headers[0][0] == BANNER_NAME:
            return headers[0][1]
        for name, value in headers:
            if name.lower() in _KIND_BY_NAME:
                return value
        raise LocalProtocolError("AMI message has no Event, Response or Action header")

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first header called `name` (any case), else `default`."""
        lname = name.lower()
        lookup = self._lookup
        if lookup is None:
            lookup = self._prepare_lookup()
        if isinstance(lookup, dict):
            return lookup.get(lname, default)
        # The first line whose name (all before its first colon) is `lname`; such a name holds
        # no colon and no line end.
        if ":" in lname or "\n" in lname:
            return default
        key = lname + ":"
        if lookup.startswith(key):
            start = len(key)
        else:
            at = lookup.find("\n" + key)
            if at == -1:
                return default
            start = at + 1 + len(key)
        wire = self._wire
        assert wire is not None  # Precondition: `lookup` is a str only for rule 8's messages
        end = wire.find("\r\n", start)
        value = wire[start:] if end == -1 else wire[start:end]
        return value[1:] if value[:1] == " " else value

    def _prepare_lookup(self) -> str | dict[str, str]:
        """What `get` searches. A frame text in ASCII is searched in lower case: for the few
        headers a consumer reads, that costs less than building all the pairs (lower-casing
        keeps ASCII text's length, so positions in it are positions in the text). Else a dict
        index of the pairs, the first of repeated headers kept."""
        wire = self._wire
        lookup: str | dict[str, str]
        if wire is not None and wire.isascii():
            lookup = wire.lower()
        else:
            lookup = {key.lower(): value for key, value in reversed(self.headers)}
        self._lookup = lookup
        return lookup

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    @property
    def output_lines(self) -> list[str]:
        """The text of a Command reply: the legacy raw body, or the 14+ `Output:` headers."""
        return list(self.body) if self.body else self.get_all("Output")

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}: {REDACTED if name.lower() in _SECRET_HEADERS else value!r}" for name, value in self.headers
        )
        extra = f", body={len(self.body)} lines" if self.body else ""
        return f"<AmiMessage {shown}{extra}>"

    # -- writing --------------------------------------------------------------------------------

    def encode(self) -> bytes:
        """CRLF wire bytes. Raises `LocalProtocolError` for what would corrupt the stream and,
        for actions, for what Asterisk would drop (see rule 7)."""
        kind = self.kind
        if kind is AmiKind.BANNER:
            version = self.headers[0][1]
            _check_value(BANNER_NAME, version)
            return f"{BANNER_NAME}/{version}\r\n".encode()
        headers = self.headers
        lines = []
        for name, value in headers:
            if not _NAME_RE.fullmatch(name):
                raise LocalProtocolError(
                    f"AMI header name {name!r} is not a token (printable ASCII, no colon or space)"
                )
            _check_value(name, value)
            lines.append(f"{name}: {value}")
        if headers[0][0] == "Event" and any(name == "Event" for name, _ in headers[1:]):
            raise LocalProtocolError(
                f"AMI event {self.name!r} has a second Event header; it would read as two events run together"
            )
        if self.body or (kind is AmiKind.RESPONSE and self.name == "Follows"):
            lines.extend(self._legacy_body_lines())
        if kind is AmiKind.ACTION:
            _check_action_limits(self.name, headers, lines)
        lines.append("\r\n")
        return "\r\n".join(lines).encode()

    def _legacy_body_lines(self) -> list[str]:
        for name, _ in self.headers[1:]:
            if name.lower() not in _LEGACY_HEADERS:
                raise LocalProtocolError(
                    f"AMI legacy Command reply can only carry Privilege and ActionID headers before its body, not {name!r}"
                )
        for line in self.body:
            if not line.strip() or line == END_COMMAND:
                raise LocalProtocolError(f"AMI legacy Command body line {line!r} would end the reply early")
            _check_value("body", line)
        return [*self.body, END_COMMAND]

    def __bytes__(self) -> bytes:
        return self.encode()


def make_action(
    name: str,
    headers: Mapping[str, HeaderValue] | Iterable[tuple[str, str]] = (),
    action_id: str | None = None,
) -> AmiMessage:
    """An action: `Action` first, then `ActionID` when given, then `headers` in order."""
    first: tuple[tuple[str, str], ...] = (("Action", name),)
    if action_id is not None:
        first += (("ActionID", action_id),)
    return AmiMessage((*first, *_pairs(headers)))


def encode_action(
    name: str,
    headers: Mapping[str, HeaderValue] | Iterable[tuple[str, str]] = (),
    action_id: str | None = None,
) -> bytes:
    return make_action(name, headers, action_id).encode()


def redact(data: bytes) -> bytes:
    """Wire bytes with the values of Secret and Key headers replaced, for DEBUG logs."""
    return _SECRET_LINE_RE.sub(rb"\1" + REDACTED.encode(), data)


_SECRET_LINE_RE = re.compile(rb"(?im)^((?:secret|key)[ \t]*:[ \t]*)[^\r\n]*")


def _pairs(headers: Mapping[str, HeaderValue] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    pairs: list[tuple[str, str]] = []
    for name, value in items:
        if isinstance(value, str | int):
            pairs.append((name, str(value)))
        else:
            pairs.extend((name, str(one)) for one in value)
    return pairs


def _check_value(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise LocalProtocolError(f"AMI header {name!r} has a CR or LF in its value {value!r}")


def _check_action_limits(action: str, headers: tuple[tuple[str, str], ...], lines: list[str]) -> None:
    if len(headers) > MAX_HEADERS:
        raise LocalProtocolError(
            f"AMI action {action!r} has {len(headers)} headers; Asterisk accepts at most {MAX_HEADERS}"
        )
    for (name, _), line in zip(headers, lines, strict=False):
        size = len(line.encode()) + 2
        if size > MAX_LINE_BYTES:
            raise LocalProtocolError(
                f"AMI action {action!r}: header {name!r} makes a {size}-byte line; "
                f"Asterisk accepts at most {MAX_LINE_BYTES} bytes per line (CRLF included)"
            )


def _header_pairs(lines: Iterable[str]) -> tuple[tuple[str, str], ...]:
    # Precondition: every line has a colon (the decoder checked when the message arrived).
    pairs = []
    for line in lines:
        # Asterisk writes "Name: value". The name ends at the first colon, so this split is only
        # right when no colon comes before the ": "; otherwise the value is all after the colon.
        name, sep, value = line.partition(": ")
        if not sep or ":" in name:
            name, _, value = line.partition(":")
        pairs.append((name, value))
    return tuple(pairs)


def _utf8_size(text: str) -> int:
    return len(text.encode())


_new_message = object.__new__
# Every byte but the colon, CR and LF: what `bytes.translate` deletes for rule 8's line check.
_NOT_COLON_CR_LF = bytes(byte for byte in range(256) if byte not in b":\r\n")


class AmiDecoder:
    """Bytes from an AMI peer in, `AmiMessage` values out (see the theory of operation above).

    `expect_banner=True` for the client side (Asterisk greets first); the server side (the
    emulator reading actions) uses `expect_banner=False`. `max_frame_bytes` bounds the memory one
    message may take before it is refused.
    """

    def __init__(self, *, expect_banner: bool = True, max_frame_bytes: int = 64 * 1024) -> None:
        self._buffer = b""
        self._base = 0  # stream offset of self._buffer[0]
        self._scanned = 0  # no blank line starts before self._scanned - 2 in self._buffer
        self._expect_banner = expect_banner
        self._max_frame_bytes = max_frame_bytes
        self._skipping = False  # inside an oversized message, waiting for its blank line

    @property
    def offset(self) -> int:
        """Stream offset of the first byte not yet consumed."""
        return self._base

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Add bytes; return every message they complete, in order."""
        self._buffer = self._buffer + data if self._buffer else bytes(data)
        messages: list[AmiMessage] = []
        if self._expect_banner and not self._take_banner(messages):
            return messages
        buf = self._buffer
        pos = 0 if self._skipping else self._take_plain_frames(messages)
        # Two searches instead of a regex: bytes.find is memchr-fast, and each position found is
        # reused until the loop passes it, so neither search rescans the buffer per message.
        start = max(self._scanned - 2, pos)
        crlf = buf.find(b"\n\r\n", start)
        lf = buf.find(b"\n\n", start)
        while crlf != -1 or lf != -1:
            if lf == -1 or (crlf != -1 and crlf < lf):
                end, nxt = crlf, crlf + 3
            else:
                end, nxt = lf, lf + 2
            if self._skipping:
                self._skipping = False
            else:
                try:
                    message = self._decode_frame(buf, pos, end - 1 if end > pos and buf[end - 1] == 13 else end)
                except AmiDecodeError as exc:
                    self._consume(nxt)
                    exc.messages = messages
                    raise
                if message is not None:
                    messages.append(message)
            pos = nxt
            if crlf != -1 and crlf < pos:
                crlf = buf.find(b"\n\r\n", pos)
            if lf != -1 and lf < pos:
                lf = buf.find(b"\n\n", pos)
        self._consume(pos)
        self._scanned = len(self._buffer)
        if len(self._buffer) > self._max_frame_bytes:
            start_offset = self._base
            # Keep the tail: the blank line that ends the oversized message may begin in it.
            self._consume(len(self._buffer) - 2)
            if not self._skipping:
                self._skipping = True
                raise AmiDecodeError(
                    f"AMI message at byte {start_offset} is longer than {self._max_frame_bytes} bytes "
                    "without a blank line",
                    offset=start_offset,
                    messages=messages,
                )
        return messages

    def end_of_stream(self) -> list[AmiMessage]:
        """The capture (or connection) ended: decode a last message that lacks its blank line or
        even its final line end, as files on disk often do."""
        rest = self._buffer
        if self._skipping or not rest.strip(_WHITESPACE):
            self._consume(len(rest))
            return []
        return self.feed(b"\n" if rest.endswith(b"\n") else b"\n\n")

    def _take_plain_frames(self, messages: list[AmiMessage]) -> int:
        """Rule 8: decode the complete frames at the start of the buffer in bulk when they are all
        plain (see the theory of operation), appending them to `messages`; return where they end.
        Return 0 and append nothing when anything in them is not plain."""
        buf = self._buffer
        # The search starts where the last feed stopped: a slow trickle of bytes costs no rescans.
        end = buf.rfind(b"\r\n\r\n", max(self._scanned - 3, 0)) + 4
        if end < 4:
            return 0
        try:
            text = str(memoryview(buf)[:end], "utf-8")  # no copy of the bytes first
        except UnicodeDecodeError:
            return 0
        frames = text.split("\r\n\r\n")
        if frames.pop():  # "\r\n" when the region ends in one blank line too many
            return 0
        # Every line must end in CRLF and hold a colon, except the one blank line ending each
        # frame. With all but colons, CRs and LFs deleted, a good line reads `:...:\r\n`, any
        # other line (blank, no colon, bare LF, CR inside the value) ends otherwise, and each of
        # the len(frames) blank lines is one such line. The scan takes the whole buffer, sparing
        # a copy: the complete lines of the incomplete frame after `end` must be good as well,
        # which they are in plain input.
        marks = buf.translate(None, _NOT_COLON_CR_LF)
        if marks.count(b"\n") - marks.count(b":\r\n") != len(frames):
            return 0
        size = len if text.isascii() else _utf8_size  # offsets and limits count bytes
        if end > self._max_frame_bytes and max(map(size, frames)) > self._max_frame_bytes:
            return 0
        plain: list[AmiMessage] = []
        append, new, cls = plain.append, _new_message, AmiMessage  # locals: this loop is the hot one
        events = 0
        offset = self._base
        for frame in frames:
            if frame.startswith("Event: "):
                events += 1
            elif not frame.startswith(("Response: ", "Action: ")) or frame.startswith("Response: Follows"):
                return 0
            message = new(cls)
            message._wire = frame
            message._body = ()
            message._offset = offset
            message._lookup = None
            append(message)
            offset += size(frame) + 4
        # Each event's own `Event:` line follows a CRLF (the blank line before it), but the first
        # frame's; one more would be an event with a second Event header (rule 6).
        if text.count("\r\nEvent: ") + frames[0].startswith("Event: ") != events:
            return 0
        messages += plain
        return end

    def _consume(self, upto: int) -> None:
        self._buffer = self._buffer[upto:]
        self._base += upto
        self._scanned = 0

    def _take_banner(self, messages: list[AmiMessage]) -> bool:
        """Take the greeting line off the stream start. False while it is still incomplete."""
        buf = self._buffer
        if buf.startswith(_BANNER_PREFIX):
            eol = buf.find(b"\n")
            if eol == -1 and len(buf) <= self._max_frame_bytes:
                return False
            if eol == -1:  # no greeting after all; the framing loop refuses the oversized bytes
                self._expect_banner = False
                return True
            try:
                version = buf[:eol].rstrip(b"\r").decode()[len(_BANNER_PREFIX) :]
            except UnicodeDecodeError as exc:
                self._expect_banner = False
                error = self._not_utf8(self._base, exc)
                self._consume(eol + 1)
                raise error from None
            messages.append(AmiMessage(((BANNER_NAME, version),), (), self._base))
            self._consume(eol + 1)
        elif _BANNER_PREFIX.startswith(buf):
            return False  # too few bytes to tell yet
        self._expect_banner = False
        return True

    def _decode_frame(self, buf: bytes, start: int, end: int) -> AmiMessage | None:
        frame = buf[start:end]
        if not frame or frame[0] in _WHITESPACE:
            stripped = frame.lstrip(_WHITESPACE)
            if not stripped:
                return None
            start += len(frame) - len(stripped)
            frame = stripped
        offset = self._base + start
        if len(frame) > self._max_frame_bytes:
            raise AmiDecodeError(
                f"AMI message at byte {offset} is longer than {self._max_frame_bytes} bytes without a blank line",
                offset=offset,
            )
        try:
            text = frame.decode()
        except UnicodeDecodeError as exc:
            raise self._not_utf8(offset, exc) from None
        if "\r" in text:
            lines = text.split("\r\n")
            if text.count("\n") >= len(lines):  # some lines end in a bare LF
                text = text.replace("\r\n", "\n")
                lines = text.split("\n")
        else:
            lines = text.split("\n")
        if lines[0] == "Response: Follows":
            return self._legacy_command(lines, offset)
        for line in lines:
            if ":" not in line:
                raise self._no_colon(lines, frame, offset, line)
        headers = _header_pairs(lines)
        first = headers[0][0]
        if first == "Event":
            if "\nEvent: " in text:
                at = offset + frame.find(b"\nEvent: ") + 1
                raise AmiDecodeError(
                    f"AMI message at byte {offset} has a second Event header at byte {at}; a blank line is missing",
                    offset=at,
                )
        elif first not in ("Response", "Action") and not any(name.lower() in _KIND_BY_NAME for name, _ in headers):
            raise AmiDecodeError(
                f"AMI message at byte {offset} has no Event, Response or Action header (first header {first!r})",
                offset=offset,
            )
        return AmiMessage(headers, (), offset)

    @staticmethod
    def _legacy_command(lines: list[str], offset: int) -> AmiMessage:
        # Asterisk 11 writes `Response: Follows`, `Privilege: Command`, an optional `ActionID`,
        # then raw CLI text that may itself contain colons, then the end marker (on the last text
        # line when the text does not end in a newline). So the header block is exactly those
        # names and everything after it is body.
        if not lines[-1].endswith(END_COMMAND):
            raise AmiDecodeError(
                f"AMI Command reply at byte {offset} (Response: Follows) has no {END_COMMAND} line",
                offset=offset,
            )
        last = lines.pop()[: -len(END_COMMAND)]
        if last:
            lines.append(last)
        headers = [("Response", "Follows")]
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or name.lower() not in _LEGACY_HEADERS:
                break
            headers.append((name, value[1:] if value[:1] == " " else value))
        return AmiMessage(tuple(headers), tuple(lines[len(headers) :]), offset)

    @staticmethod
    def _no_colon(lines: list[str], frame: bytes, offset: int, line: str) -> AmiDecodeError:
        index = lines.index(line)  # the first line without a colon is the first equal to it
        at = offset + sum(len(raw) + 1 for raw in frame.split(b"\n")[:index])
        return AmiDecodeError(f"AMI header at byte {at} has no colon: {line[:60]!r}", offset=at)

    @staticmethod
    def _not_utf8(offset: int, exc: UnicodeDecodeError) -> AmiDecodeError:
        bad = exc.object[exc.start]
        at = offset + exc.start
        return AmiDecodeError(f"AMI message at byte {offset} is not UTF-8: byte 0x{bad:02x} at byte {at}", offset=at)
