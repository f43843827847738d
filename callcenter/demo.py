"""`callcenter demo`: the embedded default. Starts every piece that exists, on one event loop,
and says what it started.

NOTE(founding): this grows with each room; the CTI issue makes it the full front door.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from callcenter.cli import get_settings

logger = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="data directory for this demo (default: the settings' data_dir)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = until Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    settings = get_settings(args)
    if args.data_dir:
        from pathlib import Path

        settings.data_dir = Path(args.data_dir)
    settings.ensure_dirs()
    return asyncio.run(_run(settings, args.duration))


async def _run(settings: object, duration: float) -> int:
    started: list[str] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print("callcenter demo started:", flush=True)
    for line in started or ["(no services yet)"]:
        print(f"  - {line}", flush=True)
    if duration > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
    else:
        await stop.wait()
    print("callcenter demo stopped.", flush=True)
    return 0
