"""`callcenter routing check|route|explain`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import zoneinfo
from pathlib import Path
from typing import Any

from callcenter.events import to_json


def register(sub: Any) -> None:
    p = sub.add_parser("routing", help="check routing rules, route a sample call, explain a decision")
    rsub = p.add_subparsers(dest="routing_command", metavar="ACTION")

    check = rsub.add_parser("check", help="validate rules files and run their examples")
    check.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: paths.routing_rules_dir)")
    check.set_defaults(func=_check)

    route = rsub.add_parser("route", help="route one call through the rules and print the routing request")
    route.add_argument("--rules", metavar="FILE", help="rules file (default: hotline.yaml in paths.routing_rules_dir)")
    route.add_argument("--dnis", required=True)
    route.add_argument("--ani", default="")
    route.add_argument("--ivr", action="append", default=[], metavar="NAME=VALUE", help="an IVR variable (repeatable)")
    route.add_argument("--at", help="local date and time, YYYY-MM-DDTHH:MM (default: now)")
    route.set_defaults(func=_route)

    explain = rsub.add_parser("explain", help="print the decision records of a call")
    explain.add_argument("call_id", metavar="CALL_ID")
    explain.add_argument("--log", metavar="FILE", help="decision log (default: <data_dir>/acd/decisions.jsonl)")
    explain.add_argument("--json", action="store_true", help="print the records as JSON lines")
    explain.set_defaults(func=_explain)


def _rules_files(args: argparse.Namespace) -> list[Path]:
    from callcenter.cli import get_settings

    paths = [Path(p) for p in args.paths] or [Path(get_settings(args).paths.routing_rules_dir)]
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
    return files


def _check(args: argparse.Namespace) -> int:
    from callcenter.cli import get_settings
    from callcenter.errors import ConfigError
    from crm.rfm import load_tier_config, tiers_file_in
    from routing_rules.loader import RuleError, load_rules

    files = _rules_files(args)
    if not files:
        print("callcenter routing check: no rules files found", file=sys.stderr)
        return 1
    tiers_file = tiers_file_in(get_settings(args).data_dir)
    try:
        # `class: by-tier` takes the class the CRM computed; a class the rules do not declare
        # would get no head start, silently.
        crm_classes = {p.priority_class for p in load_tier_config(tiers_file).priority.values()}
    except ConfigError as exc:
        print(f"callcenter routing check: {exc}", file=sys.stderr)
        return 1
    status = 0
    for f in files:
        try:
            rules = load_rules(f)
        except RuleError as exc:
            print(exc, file=sys.stderr)
            status = 1
            continue
        missing = sorted(crm_classes - set(rules.classes))
        if missing:
            print(f"{f}: classes the CRM gives customers ({tiers_file or 'crm/tiers.yaml'}) are not declared: "
                  f"{', '.join(missing)}", file=sys.stderr)
            status = 1
            continue
        print(f"ok: {f} ({len(rules.rules)} rules, {len(rules.queues)} queues)")
    return status


def _route(args: argparse.Namespace) -> int:
    from callcenter.cli import get_settings
    from routing_rules.loader import RuleError, load_rules
    from routing_rules.rules import CallContext

    path = Path(args.rules) if args.rules else Path(get_settings(args).paths.routing_rules_dir) / "hotline.yaml"
    try:
        rules = load_rules(path)
    except RuleError as exc:
        print(exc, file=sys.stderr)
        return 1
    ivr: dict[str, str] = {}
    for item in args.ivr:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"callcenter routing route: --ivr {item!r} is not NAME=VALUE", file=sys.stderr)
            return 2
        ivr[name] = value
    zone = zoneinfo.ZoneInfo(rules.timezone)
    if args.at:
        try:
            local = dt.datetime.fromisoformat(args.at)
        except ValueError:
            print(f"callcenter routing route: --at {args.at!r} is not YYYY-MM-DDTHH:MM", file=sys.stderr)
            return 2
        at = (local if local.tzinfo else local.replace(tzinfo=zone)).timestamp()
    else:
        at = dt.datetime.now(tz=zone).timestamp()
    request = rules.route(CallContext(dnis=args.dnis, ani=args.ani, ivr=ivr, at=at))
    data = to_json_request(request)
    print(json.dumps(data, ensure_ascii=False))
    return 0


def to_json_request(request: Any) -> dict[str, Any]:
    """A RoutingRequest as plain JSON (it travels inside `call.queued`)."""
    from callcenter.events import CallId, CallQueued

    return dict(to_json(CallQueued(call_id=CallId(""), request=request, at=0.0))["request"])


def _explain(args: argparse.Namespace) -> int:
    from acd.decision import default_log_path, format_records, read_call
    from callcenter.cli import get_settings

    path = Path(args.log) if args.log else default_log_path(get_settings(args).data_dir)
    if not path.is_file():
        print(f"callcenter routing explain: no decision log at {path}", file=sys.stderr)
        return 1
    try:
        records = read_call(path, args.call_id)
    except ValueError as exc:
        print(f"callcenter routing explain: {exc}", file=sys.stderr)
        return 1
    if not records:
        print(f"callcenter routing explain: no records for call {args.call_id!r} in {path}", file=sys.stderr)
        return 1
    if args.json:
        for r in records:
            print(json.dumps(r, ensure_ascii=False))
    else:
        print(format_records(records))
    return 0
