"""AMI decoding throughput: our codec, panoramisk's parser and a split-only lower bound, on the same
bytes in the same run. Prints one JSON object.

The stream is the wazo-amid capture of a real call (241 messages, mostly VarSet and channel events
with ChanVariable lines) turned back into wire form: CRLF line ends, and the space after the colon
that the capture stripped from empty values restored (Asterisk writes `AccountCode: `), repeated
to about 4 MB and cut into chunks the size of one socket read.

- ours: `pbx.ami.AmiDecoder.feed` per chunk. Every message is framed, decoded and checked (colons,
  UTF-8, size, kind, run-together events) inside `feed`; its header pairs are built when first
  read (pbx/ami.py, rule 8), so two more figures show what reading costs: `ours_dispatch` also
  reads each message's kind and ActionID as the AMI client's dispatch does, and
  `ours_all_headers` builds every message's header pairs.
- panoramisk: `AMIProtocol.data_received` per chunk, i.e. its framing and `Message.from_line`
  parsing and dispatch, with a factory that only counts events.
- split: append the chunk to a buffer and `split(b"\\r\\n\\r\\n")`, nothing else.

Each measure is the process CPU time of one pass, best of `--repeat` interleaved passes: CPU time,
not wall time, because build machines are shared and a descheduled pass says nothing about the
decoder. Usage: `python bench/ami_throughput.py [--chunk BYTES] [--megabytes N] [--repeat N]`.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from panoramisk.ami_protocol import AMIProtocol

from pbx.ami import AmiDecoder

REPO = Path(__file__).resolve().parent.parent
TRACE = "ami/traces/wazo-amid--benchmark-call-events.txt"


def shared_dir() -> Path:
    for candidate in (REPO.parent / "shared", Path("/work/shared")):
        if (candidate / TRACE).is_file():
            return candidate
    sys.exit(f"bench: the shared corpus ({TRACE}) is missing beside the checkout")


def wire_bytes(megabytes: float) -> bytes:
    text = (shared_dir() / TRACE).read_bytes().rstrip(b"\n")
    one_call = re.sub(rb"(?m):$", b": ", text).replace(b"\n", b"\r\n") + b"\r\n\r\n"
    return one_call * max(1, round(megabytes * 1_000_000 / len(one_call)))


def ours(chunks: list[bytes]) -> int:
    decoder = AmiDecoder()
    count = 0
    for chunk in chunks:
        count += len(decoder.feed(chunk))
    return count


def ours_dispatch(chunks: list[bytes]) -> int:
    decoder = AmiDecoder()
    count = 0
    for chunk in chunks:
        for message in decoder.feed(chunk):
            message.kind, message.action_id  # noqa: B018  (read, as the client's dispatch does)
            count += 1
    return count


def ours_all_headers(chunks: list[bytes]) -> int:
    decoder = AmiDecoder()
    count = 0
    for chunk in chunks:
        for message in decoder.feed(chunk):
            message.headers  # noqa: B018
            count += 1
    return count


class _Counter:
    """Stands in for panoramisk's Manager: counts what its protocol dispatches."""

    def __init__(self) -> None:
        self.count = 0

    def dispatch(self, message: object) -> None:
        self.count += 1


def panoramisk(chunks: list[bytes]) -> int:
    protocol = AMIProtocol()
    protocol.connection_made(None)  # type: ignore[arg-type]
    protocol.version = "bench"  # as if the banner had been read
    counter = _Counter()
    protocol.factory = counter
    for chunk in chunks:
        protocol.data_received(chunk)
    return counter.count


def split_only(chunks: list[bytes]) -> int:
    buffer = b""
    count = 0
    for chunk in chunks:
        buffer += chunk
        frames = buffer.split(b"\r\n\r\n")
        buffer = frames.pop()
        count += len(frames)
    return count


def panoramisk_keeps_split_utf8() -> bool:
    """Feed `CallerIDName: Zoë` to panoramisk cut inside the ë; does the value survive?"""
    raw = "Event: Newchannel\r\nCallerIDName: Zoë\r\n\r\n".encode()
    cut = raw.index("ë".encode()) + 1
    protocol = AMIProtocol()
    protocol.connection_made(None)  # type: ignore[arg-type]
    protocol.version = "bench"
    seen: list[object] = []
    protocol.factory = type("Factory", (), {"dispatch": staticmethod(seen.append)})()
    protocol.data_received(raw[:cut])
    protocol.data_received(raw[cut:])
    return bool(seen) and seen[0]["CallerIDName"] == "Zoë"  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=65536, help="bytes per read (the client reads 64 KiB)")
    parser.add_argument("--megabytes", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    data = wire_bytes(args.megabytes)
    chunks = [data[i : i + args.chunk] for i in range(0, len(data), args.chunk)]
    decoders: dict[str, Callable[[list[bytes]], int]] = {
        "ours": ours,
        "ours_dispatch": ours_dispatch,
        "ours_all_headers": ours_all_headers,
        "panoramisk": panoramisk,
        "split": split_only,
    }
    best = dict.fromkeys(decoders, float("inf"))
    counts: dict[str, int] = {}
    for _ in range(args.repeat):  # interleaved, so a noisy moment hurts all alike
        for name, decode in decoders.items():
            start = time.process_time()
            counts[name] = decode(chunks)
            best[name] = min(best[name], time.process_time() - start)
    if len(set(counts.values())) != 1:
        sys.exit(f"bench: the decoders disagree on the message count: {counts}")
    rate = {name: counts[name] / seconds for name, seconds in best.items()}
    print(
        json.dumps(
            {
                "ours_msgs_per_s": round(rate["ours"]),
                "panoramisk_msgs_per_s": round(rate["panoramisk"]),
                "split_msgs_per_s": round(rate["split"]),
                "ours_dispatch_msgs_per_s": round(rate["ours_dispatch"]),
                "ours_all_headers_msgs_per_s": round(rate["ours_all_headers"]),
                "ours_vs_panoramisk": round(rate["ours"] / rate["panoramisk"], 2),
                "split_vs_ours": round(rate["split"] / rate["ours"], 2),
                "target_3x_panoramisk_met": rate["ours"] >= 3 * rate["panoramisk"],
                "target_within_3x_of_split_met": rate["split"] <= 3 * rate["ours"],
                "messages": counts["ours"],
                "bytes": len(data),
                "chunk_bytes": args.chunk,
                "repeat": args.repeat,
                "panoramisk_keeps_split_utf8": panoramisk_keeps_split_utf8(),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
