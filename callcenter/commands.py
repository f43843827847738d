"""Composition-root commands: `config show`, `serve`, `demo`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("config", help="show the effective settings (secrets redacted)")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION")
    show = csub.add_parser("show", help="print the effective settings as JSON")
    show.set_defaults(func=_config_show)

    serve = sub.add_parser("serve", help="run the control plane against a real Asterisk (AMI + FastAGI + web UI)")
    # Also accepted after the command (`callcenter serve --config FILE`); SUPPRESS keeps a
    # `--config` given before the command when this one is absent.
    serve.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="YAML settings file")
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo", help="run the emulator, the control plane, SQLite and the web UI")
    from callcenter import demo as demo_module

    demo.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="YAML settings file")
    demo_module.add_arguments(demo)
    demo.set_defaults(func=demo_module.run)


def _config_show(args: argparse.Namespace) -> int:
    from callcenter.cli import get_settings

    print(json.dumps(get_settings(args).redacted(), indent=2, ensure_ascii=False))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from callcenter.cli import get_settings

    return asyncio.run(_serve_until_signal(get_settings(args)))


async def _serve_until_signal(settings: Any) -> int:
    from callcenter.app import ControlPlane

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    plane = ControlPlane(settings)
    await plane.start()
    print(f"callcenter serving: http://{settings.http.host}:{plane.http_port} (Ctrl-C stops)", flush=True)
    try:
        await stop.wait()
    finally:
        await plane.stop()
    return 0
