"""Composition-root commands: `config show`, `demo`, `serve`."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("config", help="show the effective settings (secrets redacted)")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION")
    show = csub.add_parser("show", help="print the effective settings as JSON")
    show.set_defaults(func=_config_show)

    demo = sub.add_parser("demo", help="run the emulator, the control plane, SQLite and the web UI")
    from callcenter import demo as demo_module

    demo_module.add_arguments(demo)
    demo.set_defaults(func=demo_module.run)


def _config_show(args: argparse.Namespace) -> int:
    from callcenter.cli import get_settings

    print(json.dumps(get_settings(args).redacted(), indent=2, ensure_ascii=False))
    return 0
