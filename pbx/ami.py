"""Sans-I/O codec for the Asterisk Manager Interface (AMI): bytes in, `AmiMessage` values out, and
`AmiMessage` values back to bytes. No sockets, no asyncio, no clock.

Theory of operation
-------------------
AMI is a line protocol. Every line ends in CRLF (Asterisk also accepts a bare LF, and captures on
disk often have only LF), and every message ends with one blank line. A message is an ordered list
of `Name: value` headers; the same name may repeat (`ChanVariable`, `Variable`, `Output`), so we
keep a tuple of pairs in wire order, with names as sent.

Rule 1: frame first, then decode. `AmiDecoder` finds the blank line in the raw bytes and only then
decodes that one frame as UTF-8, so a multi-byte character split across two reads survives.

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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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


class AmiDecodeError(RemoteProtocolError):
    """The peer sent bytes that are not AMI. `offset` is the byte offset of the problem in the
    stream; `messages` are the good messages decoded before it by the same `feed` call."""

    def __init__(self, message: str, *, offset: int, messages: list[AmiMessage] | None = None) -> None:
        super().__init__(message)
        self.offset = offset
        self.messages = messages if messages is not None else []


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """One AMI message: a banner, an event, a response or an action.

    `headers` are `(name, value)` pairs in wire order with names as sent; lookups by name are
    case-insensitive because Asterisk's are. `body` holds the raw text lines of a legacy
    `Response: Follows` Command reply (empty otherwise). `offset` is where the message started in
    the decoded stream (-1 for messages built in code); it takes no part in equality.
    """

    headers: tuple[tuple[str, str], ...]
    body: tuple[str, ...] = ()
    offset: int = field(default=-1, compare=False)

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
        headers = self.headers
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
        headers = self.headers
        if len(headers) == 1 and headers[0][0] == BANNER_NAME:
            return headers[0][1]
        for name, value in headers:
            if name.lower() in _KIND_BY_NAME:
                return value
        raise LocalProtocolError("AMI message has no Event, Response or Action header")

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first header called `name` (any case), else `default`."""
        lname = name.lower()
        for key, value in self.headers:
            if key == name or key.lower() == lname:
                return value
        return default

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
        lines = []
        for name, value in self.headers:
            if not _NAME_RE.fullmatch(name):
                raise LocalProtocolError(
                    f"AMI header name {name!r} is not a token (printable ASCII, no colon or space)"
                )
            _check_value(name, value)
            lines.append(f"{name}: {value}")
        if self.headers[0][0] == "Event" and any(name == "Event" for name, _ in self.headers[1:]):
            raise LocalProtocolError(
                f"AMI event {self.name!r} has a second Event header; it would read as two events run together"
            )
        if self.body or (kind is AmiKind.RESPONSE and self.name == "Follows"):
            lines.extend(self._legacy_body_lines())
        if kind is AmiKind.ACTION:
            _check_action_limits(self.name, self.headers, lines)
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
        pos = 0
        # Two searches instead of a regex: bytes.find is memchr-fast, and each position found is
        # reused until the loop passes it, so neither search rescans the buffer per message.
        start = max(self._scanned - 2, 0)
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
        headers = []
        for line in lines:
            # Fast path: Asterisk writes "Name: value". The name ends at the first colon, so the
            # split is only right when no colon comes before the ": ".
            name, sep, value = line.partition(": ")
            if not sep or ":" in name:
                # Here the first colon is not followed by a space, so the value is all after it.
                name, sep, value = line.partition(":")
                if not sep:
                    raise self._no_colon(lines, frame, offset, line)
            headers.append((name, value))
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
        return AmiMessage(tuple(headers), (), offset)

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
