"""`callcenter ami ...` commands.

`callcenter ami decode FILE` prints every AMI message of a capture as one JSON object per line, in
order: `{"kind": "banner"|"event"|"response"|"action", "headers": [[name, value], ...]}` with
headers in wire order and names as sent. A legacy `Response: Follows` Command reply also carries
`"body": [line, ...]` (its raw text). The file may use CRLF or LF line ends and may mix in the
client's `Action:` blocks. A malformed message is reported on stderr with its byte offset and
skipped; the exit status is then 1 (0 when everything decoded). Scripts rely on this format.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import IO, Any

from pbx.ami import AmiDecodeError, AmiDecoder, AmiMessage

_CHUNK = 1 << 20


def register(sub: Any) -> None:
    ami = sub.add_parser("ami", help="AMI tools")
    ami_sub = ami.add_subparsers(dest="ami_command", metavar="ACTION", required=True)
    decode = ami_sub.add_parser("decode", help="print the AMI messages of a capture as JSON lines")
    decode.add_argument("file", metavar="FILE", help="an AMI capture (CRLF or LF line ends)")
    decode.set_defaults(func=_decode)


def _decode(args: argparse.Namespace) -> int:
    try:
        with open(args.file, "rb") as capture:
            errors = decode_capture(capture, sys.stdout, sys.stderr, name=args.file)
    except OSError as exc:
        print(f"callcenter ami decode: {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    return 1 if errors else 0


def read_capture(capture: IO[bytes]) -> Iterator[list[AmiMessage] | AmiDecodeError]:
    """The messages of an AMI capture in order, read in chunks: lists of messages, and an
    `AmiDecodeError` (holding the good messages before it) for each malformed one, which is
    skipped; decoding goes on after it. `ami decode` and `replay` both read captures this way."""
    decoder = AmiDecoder()
    data = capture.read(_CHUNK)
    at_end = not data
    while True:
        try:
            messages = decoder.end_of_stream() if at_end else decoder.feed(data)
        except AmiDecodeError as exc:
            yield exc
            if at_end:
                return  # the stream stops inside a message: nothing follows
            data = b""  # the bad message was consumed; go on with what is still buffered
            continue
        yield messages
        if at_end:
            return
        data = capture.read(_CHUNK)
        at_end = not data


def decode_capture(capture: IO[bytes], out: IO[str], err: IO[str], *, name: str) -> int:
    """Write the JSON lines of `capture` to `out`, errors to `err`; return how many errors."""
    errors = 0
    for item in read_capture(capture):
        if isinstance(item, AmiDecodeError):
            _write(out, item.messages)
            print(f"callcenter ami decode: {name}: {item}", file=err)
            errors += 1
        else:
            _write(out, item)
    return errors


def _write(out: IO[str], messages: list[AmiMessage]) -> None:
    for message in messages:
        line: dict[str, Any] = {"kind": message.kind.value, "headers": [list(pair) for pair in message.headers]}
        if message.body:
            line["body"] = list(message.body)
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
