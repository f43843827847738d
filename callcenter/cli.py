"""The `callcenter` command.

Each room contributes its own subcommands from `<room>/cli.py`, through a function
`register(subparsers)`; this module only builds the top-level parser, loads settings once, sets
up logging and maps errors to exit codes. Commands return an int exit status.

Exit status: 0 success, 1 the input was bad (a malformed capture, an invalid flow, ...),
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from callcenter.errors import ConfigError
from callcenter.settings import Settings, load_settings

# Rooms whose `cli.py` adds commands. Order is the order of `callcenter --help`.
COMMAND_MODULES = (
    "callcenter.commands",
    "emulator.cli",
    "pbx.cli",
    "pbx.replay",
    "acd.cli",
    "routing_rules.cli",
    "ivr.cli",
    "crm.cli",
    "cti.cli",
    "dialer.cli",
    "recorder.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcenter", description="Call-center control plane for Asterisk.")
    parser.add_argument("--config", metavar="FILE", help="YAML settings file (also $CALLCENTER_CONFIG)")
    parser.add_argument("--log-level", metavar="LEVEL", help="override log_level (DEBUG, INFO, ...)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that room has no commands yet
            raise
        module.register(sub)
    return parser


def get_settings(args: argparse.Namespace) -> Settings:
    """Settings for this invocation, loaded once and cached on `args`."""
    cached: Settings | None = getattr(args, "_settings", None)
    if cached is None:
        cached = load_settings(args.config)
        if args.log_level:
            cached.log_level = args.log_level.upper()
        args._settings = cached
    return cached


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        settings = get_settings(args)
    except ConfigError as exc:
        print(f"callcenter: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result: Any = args.func(args)
    except ConfigError as exc:
        print(f"callcenter: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)
