"""`callcenter emulator`: run the Asterisk emulator standalone until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from callcenter.cli import get_settings
from emulator.app import DEFAULT_CONF_DIR, DEFAULT_SOUNDS_DIR, Emulator, EmulatorConfig
from emulator.conffile import ConfError
from emulator.dialplan import DialplanError

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "emulator",
        help="run the Asterisk emulator (AMI server, dialplan, simulated callers and phones)",
        description="Listen for AMI on 127.0.0.1:PORT with the user and secret of manager.conf, run "
        "extensions.conf, and connect to FastAGI like Asterisk 20. Runs until interrupted.",
    )
    p.add_argument("--ami-port", type=int, default=5038, metavar="PORT", help="AMI port (default 5038; 0: any)")
    p.add_argument("--conf-dir", type=Path, default=None, metavar="DIR",
                   help=f"Asterisk configuration directory (default {DEFAULT_CONF_DIR})")
    p.add_argument("--agi-host", default=None, metavar="HOST", help="FastAGI host (overrides CC_AGI_HOST)")
    p.add_argument("--agi-port", type=int, default=None, metavar="PORT", help="FastAGI port (overrides CC_AGI_PORT)")
    p.add_argument("--control-port", type=int, default=None, metavar="PORT",
                   help="JSON-lines control socket on 127.0.0.1 (see docs/emulator.md)")
    p.add_argument("--clock-scale", type=float, default=1.0, metavar="X", help="run X times faster than real time")
    p.add_argument("--seed", type=int, default=0, help="seed of the emulator's random choices")
    p.add_argument("--spool-dir", type=Path, default=None, metavar="DIR",
                   help="where recordings, voicemail and RECORD FILE output go (default DATA_DIR/emulator)")
    p.add_argument("--sounds-dir", type=Path, default=DEFAULT_SOUNDS_DIR, metavar="DIR",
                   help=f"Asterisk sound files, for prompt lengths (default {DEFAULT_SOUNDS_DIR})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = get_settings(args)
    conf_dir = args.conf_dir or Path(settings.paths.asterisk_conf_dir)
    if not conf_dir.is_absolute() and not conf_dir.exists():
        conf_dir = DEFAULT_CONF_DIR
    config = EmulatorConfig(
        conf_dir=conf_dir,
        spool_dir=args.spool_dir or settings.data_dir / "emulator",
        sounds_dir=args.sounds_dir,
        ami_port=args.ami_port,
        control_port=args.control_port,
        agi_host=args.agi_host,
        agi_port=args.agi_port,
        clock_scale=args.clock_scale,
        seed=args.seed,
    )
    try:
        asyncio.run(serve(config))
    except (ConfError, DialplanError) as exc:
        print(f"callcenter emulator: {exc}", file=sys.stderr)
        return 1
    return 0


async def serve(config: EmulatorConfig) -> None:
    emulator = Emulator(config)
    await emulator.start()
    print(f"emulator: AMI on 127.0.0.1:{emulator.ami_port}"
          + (f", control on 127.0.0.1:{emulator.control_port}" if emulator.control_port is not None else ""),
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emulator.stop()
