"""`callcenter replay CAPTURE`: feed a recorded AMI stream through the call tracker.

Prints one JSON object per domain fact, in order, in the form `callcenter.events.to_json` gives
(`{"type": "call.arrived", "v": 1, "call_id": ..., ...}`), so a production incident can be
reproduced and diffed. The capture may use CRLF or LF line ends, start with the banner or not, and
mix in the client's `Action:` blocks (they are skipped). `at` is the event's `Timestamp` header
when Asterisk wrote one (`timestampevents=yes`), else the last timestamp seen, else `--start`.

Exit status: 0 when the whole capture was replayed; 1 when it cannot be read or is malformed. A
malformed message (or a value the tracker cannot accept) is reported on stderr with its byte offset
and skipped, and the replay goes on, like `callcenter ami decode`: the tracker copes with a lost
event (a call it saw start still ends) and the rest of the incident is still worth seeing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO, Any

from callcenter.errors import RemoteProtocolError
from callcenter.events import to_json
from pbx.ami import AmiDecodeError, AmiKind, AmiMessage
from pbx.calls import CallTracker
from pbx.cli import read_capture


def register(sub: Any) -> None:
    p = sub.add_parser(
        "replay", help="replay an AMI capture through the call tracker; print domain events as JSON lines"
    )
    p.add_argument("capture", metavar="CAPTURE", help="an AMI capture (CRLF or LF line ends)")
    p.add_argument(
        "--variables",
        metavar="NAMES",
        help="comma-separated channel variables to report as variable.set (default: all; '' for none)",
    )
    p.add_argument("--start", type=float, default=0.0, metavar="SECONDS", help="`at` until a Timestamp header is seen")
    p.set_defaults(func=_replay)


def _replay(args: argparse.Namespace) -> int:
    variables = None if args.variables is None else [v for v in args.variables.split(",") if v]
    tracker = CallTracker(variables=variables)
    try:
        with open(args.capture, "rb") as capture:
            errors = replay(capture, tracker, sys.stdout, sys.stderr, name=args.capture, start=args.start)
    except OSError as exc:
        print(f"callcenter replay: {args.capture}: {exc.strerror}", file=sys.stderr)
        return 1
    return 1 if errors else 0


def replay(
    capture: IO[bytes], tracker: CallTracker, out: IO[str], err: IO[str], *, name: str, start: float = 0.0
) -> int:
    """Write the facts of `capture` to `out` and each malformed message (with its byte offset) to
    `err`; return how many were malformed."""
    clock = start
    errors = 0

    def report(exc: RemoteProtocolError) -> None:
        nonlocal errors
        errors += 1
        print(f"callcenter replay: {name}: {exc}", file=err)

    def play(messages: list[AmiMessage]) -> None:
        nonlocal clock
        for message in messages:
            clock = _timestamp(message, clock)
            try:
                facts = tracker.handle(message, now=clock)
            except RemoteProtocolError as exc:
                report(exc)
                continue
            for fact in facts:
                out.write(json.dumps(to_json(fact), ensure_ascii=False) + "\n")

    for item in read_capture(capture):
        if isinstance(item, AmiDecodeError):
            play(item.messages)  # the good messages before the bad one
            report(item)
        else:
            play(item)
    return errors


def _timestamp(message: AmiMessage, clock: float) -> float:
    if message.kind is not AmiKind.EVENT:
        return clock
    stamp = message.get("Timestamp")
    try:
        return float(stamp) if stamp else clock
    except ValueError:
        return clock  # the tracker reports the bad header with its offset
