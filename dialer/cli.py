"""`callcenter campaign ...`: the dialer's commands.

Against the CRM database of the settings (dialer/campaigns.py):

* `callcenter campaign create ID --name N --queue Q [--mode progressive] [--caller-id C]
  [--settings FILE.yaml]`, `callcenter campaign import ID FILE.csv [--json]` (exit 1 when a row
  is rejected), `callcenter campaign segment ID --tier T [--recency-below N]`,
  `callcenter campaign start|pause|resume|stop ID`, `callcenter campaign status ID [--json]`,
  `callcenter campaign decisions ID [--limit N] [--json]`, `callcenter campaign list`. A running control plane picks status changes up within seconds
  (`CampaignSupervisor.sync`).

Without a database:

* `callcenter campaign check-list FILE.csv [--country US] [--json]` parses a contact list and
  prints every rejected row (`row N, column C: reason`); exit 1 when any row is rejected.
* `callcenter campaign simulate SCENARIO.yaml [--seed N] [--json]` runs an outbound scenario
  (`kind: outbound`) through the real pacer, compliance and contact queue.
* `callcenter campaign check-window NUMBER --at ISO [--country US]` says whether a number may be
  called at that instant under the default calling windows, and when it may next.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.cli import get_settings
from callcenter.errors import ConfigError
from callcenter.events import CampaignId, ContactId
from crm.db import make_sessionmaker, open_database
from dialer import campaigns, simulate
from dialer.compliance import CampaignRules, History, check
from dialer.contacts import COUNTRIES, Contact, InvalidNumber, normalise, parse_contacts, zones_for


def register(sub: Any) -> None:
    p = sub.add_parser("campaign", help="outbound campaigns: create, import, start/pause/resume/stop, status; lists, windows, simulation")
    csub = p.add_subparsers(dest="campaign_command", metavar="ACTION")
    check_list = csub.add_parser("check-list", help="validate a contact list CSV; print rejected rows")
    check_list.add_argument("file", metavar="FILE.csv")
    check_list.add_argument("--country", default="US", help="country for numbers without +/00 (default US)")
    check_list.add_argument("--json", action="store_true", help="print one JSON object")
    check_list.set_defaults(func=_check_list)
    sim = csub.add_parser("simulate", help="simulate an outbound scenario (kind: outbound)")
    sim.add_argument("scenario", metavar="SCENARIO.yaml")
    sim.add_argument("--seed", type=int, help="override the scenario's seed (default 1)")
    sim.add_argument("--json", action="store_true", help="print one JSON object")
    sim.set_defaults(func=lambda a: run_outbound_scenario(a.scenario, seed=a.seed, as_json=a.json))
    window = csub.add_parser("check-window", help="may this number be called at this instant?")
    window.add_argument("number")
    window.add_argument("--at", required=True, help="ISO date-time with offset, e.g. 2026-03-08T08:30:00-05:00")
    window.add_argument("--country", default="US")
    window.set_defaults(func=_check_window)
    create = csub.add_parser("create", help="create a campaign (draft) in the CRM")
    create.add_argument("campaign_id", metavar="ID")
    create.add_argument("--name", required=True)
    create.add_argument("--queue", required=True, help="the ACD queue live answers wait in")
    create.add_argument("--mode", default="progressive", choices=("preview", "progressive", "predictive"))
    create.add_argument("--caller-id", default="")
    create.add_argument("--settings", metavar="FILE.yaml", help="the campaign's settings (YAML or JSON; docs/dialer.md)")
    create.set_defaults(func=_create)
    imp = csub.add_parser("import", help="add a CSV contact list to a campaign; print rejected rows")
    imp.add_argument("campaign_id", metavar="ID")
    imp.add_argument("file", metavar="FILE.csv")
    imp.add_argument("--json", action="store_true", help="print one JSON object")
    imp.set_defaults(func=_import)
    seg = csub.add_parser("segment", help="add the CRM customers of a tier (optionally not heard from lately)")
    seg.add_argument("campaign_id", metavar="ID")
    seg.add_argument("--tier", required=True)
    seg.add_argument("--recency-below", type=int, help="RFM recency score below this (1-5; 5 is most recent)")
    seg.set_defaults(func=_segment)
    for action in campaigns.TRANSITIONS:
        act = csub.add_parser(action, help=f"{action} a campaign")
        act.add_argument("campaign_id", metavar="ID")
        act.set_defaults(func=_action, action=action)
    status = csub.add_parser("status", help="progress and results of a campaign")
    status.add_argument("campaign_id", metavar="ID")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(func=_status)
    dec = csub.add_parser("decisions", help="the latest dial decisions (dials and no-dials, with reasons)")
    dec.add_argument("campaign_id", metavar="ID")
    dec.add_argument("--limit", type=int, default=50, help="how many, newest first (default 50)")
    dec.add_argument("--json", action="store_true", help="print one JSON list")
    dec.set_defaults(func=_decisions)
    csub.add_parser("list", help="every campaign").set_defaults(func=_list)


def _in_session(args: argparse.Namespace, work: Callable[[AsyncSession], Awaitable[int]]) -> int:
    """Run `work` in a session on the settings' CRM database; a campaign error exits 1."""
    settings = get_settings(args)

    async def run() -> int:
        settings.ensure_dirs()
        engine = await open_database(settings.database_url, echo=settings.database.echo)
        try:
            async with make_sessionmaker(engine)() as session:
                return await work(session)
        except campaigns.CampaignError as exc:
            print(f"callcenter campaign {args.campaign_command}: {exc}", file=sys.stderr)
            return 1
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _create(args: argparse.Namespace) -> int:
    spec: Any = {}
    if args.settings:
        try:
            spec = yaml.safe_load(Path(args.settings).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            print(f"callcenter campaign create: {args.settings}: {exc}", file=sys.stderr)
            return 1
        if not isinstance(spec, dict):
            print(f"callcenter campaign create: {args.settings}: expected a mapping at the top level", file=sys.stderr)
            return 1

    async def work(s: AsyncSession) -> int:
        await campaigns.create_campaign(s, args.campaign_id, name=args.name, mode=args.mode, queue=args.queue,
                                        caller_id=args.caller_id, settings=spec, now=datetime.now(UTC))
        print(f"campaign {args.campaign_id} created (draft)")
        return 0

    return _in_session(args, work)


def _import(args: argparse.Namespace) -> int:
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"callcenter campaign import: {args.file}: {exc}", file=sys.stderr)
        return 1

    async def work(s: AsyncSession) -> int:
        report = await campaigns.import_contacts(s, args.campaign_id, text)
        if args.json:
            print(json.dumps({"file": args.file, **report.to_json()}, ensure_ascii=False))
        else:
            for r in report.rejections:
                print(f"{args.file}: {r}")
            print(f"{args.file}: {report.added} contacts added, {report.to_json()['rejected_rows']} rows rejected")
        return 1 if report.rejections else 0

    return _in_session(args, work)


def _segment(args: argparse.Namespace) -> int:
    async def work(s: AsyncSession) -> int:
        report = await campaigns.add_segment(s, args.campaign_id, tier=args.tier, recency_below=args.recency_below)
        for r in report.rejections:
            print(str(r))
        print(f"campaign {args.campaign_id}: {report.added} customers of tier {args.tier} added")
        return 0

    return _in_session(args, work)


def _action(args: argparse.Namespace) -> int:
    async def work(s: AsyncSession) -> int:
        campaign = await campaigns.change_status(s, args.campaign_id, args.action)
        print(f"campaign {args.campaign_id}: {campaign.status}")
        return 0

    return _in_session(args, work)


def _status(args: argparse.Namespace) -> int:
    async def work(s: AsyncSession) -> int:
        p = await campaigns.progress(s, args.campaign_id, now=datetime.now(UTC))
        if args.json:
            print(json.dumps(p, ensure_ascii=False))
            return 0
        print(f"campaign {p['campaign_id']} ({p['name']}): {p['status']}, {p['mode']}, queue {p['queue']}")
        print("contacts: " + ", ".join(f"{k} {v}" for k, v in p["contacts"].items()))
        print(f"dials {p['dials']}, live answers {p['answers']}; " + ", ".join(f"{k} {v}" for k, v in p["outcomes"].items()))
        for w in p["abandon_windows"]:
            print(f"abandons {w['window']}: {w['abandons']}/{w['answers']} ({w['rate']:.1%}; limit {p['abandon_limit']:.0%})")
        return 0

    return _in_session(args, work)


def _decisions(args: argparse.Namespace) -> int:
    async def work(s: AsyncSession) -> int:
        rows = await campaigns.decisions(s, args.campaign_id, limit=args.limit)
        if args.json:
            print(json.dumps(rows, ensure_ascii=False))
            return 0
        for r in rows:
            at = datetime.fromtimestamp(r["decided_at"], UTC).isoformat(timespec="seconds")
            verdict = "dial" if r["allowed"] else "no-dial " + ", ".join(r["reasons"])
            reserved = " (agent reserved)" if r["agent_reserved"] else ""
            nxt = r["next_allowed_at"]
            later = f"; next {datetime.fromtimestamp(nxt, UTC).isoformat(timespec='seconds')}" if nxt else ""
            print(f"{at}\t{r['contact_id']}\t{r['number']}\t{verdict}{reserved}{later}")
        return 0

    return _in_session(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(s: AsyncSession) -> int:
        for c in await campaigns.list_campaigns(s):
            print(f"{c['campaign_id']}\t{c['status']}\t{c['mode']}\t{c['queue']}\t{c['name']}")
        return 0

    return _in_session(args, work)


def _check_list(args: argparse.Namespace) -> int:
    if args.country not in COUNTRIES:
        raise ConfigError(f"--country {args.country!r} is not supported ({', '.join(sorted(COUNTRIES))})")
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"callcenter campaign check-list: {args.file}: {exc}", file=sys.stderr)
        return 1
    result = parse_contacts(text, default_country=args.country)
    if args.json:
        print(
            json.dumps(
                {
                    "file": args.file,
                    "accepted": len(result.contacts),
                    "rejected_rows": len({r.row for r in result.rejections}),
                    "rejections": [{"row": r.row, "column": r.column, "reason": r.reason} for r in result.rejections],
                },
                ensure_ascii=False,
            )
        )
    else:
        for r in result.rejections:
            print(f"{args.file}: {r}")
        rows = len({r.row for r in result.rejections})
        print(f"{args.file}: {len(result.contacts)} contacts accepted, {rows} rows rejected")
    return 1 if result.rejections else 0


def is_outbound_scenario(path: str) -> bool:
    """True when the scenario file says `kind: outbound` (for `callcenter simulate` to dispatch)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False  # the inbound loader reports the problem
    return isinstance(data, dict) and data.get("kind") == "outbound"


def run_outbound_scenario(path: str, *, seed: int | None, as_json: bool) -> int:
    """Load and run an outbound scenario file; `callcenter simulate` dispatches here too."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        print(f"callcenter simulate: {path}: {exc}", file=sys.stderr)
        return 1
    if not isinstance(data, dict):
        print(f"callcenter simulate: {path}: expected a mapping at the top level", file=sys.stderr)
        return 1
    use_seed = seed if seed is not None else data.get("seed", 1)
    try:
        report = simulate.run(data, seed=int(use_seed))
    except ConfigError as exc:
        print(f"callcenter simulate: {path}: {exc}", file=sys.stderr)
        return 1
    report = {"scenario": data.get("name", Path(path).stem), "seed": use_seed, **report}
    print(json.dumps(report, ensure_ascii=False) if as_json else _table(report))
    return 0


def _table(r: dict[str, Any]) -> str:
    lines = [
        f"{r['scenario']}: {r['mode']}, {r['agents']} agents, live answer rate {r['answer_rate']:.2f}, "
        f"{r['duration_s'] / 3600:.1f} h, seed {r['seed']}",
        f"  occupancy            {100 * r['occupancy']:.1f}%",
        f"  talk min / agent h   {r['talk_min_per_hour']:.1f}",
        f"  dials / agent h      {r['dials_per_agent_hour']:.1f}",
        f"  live answers         {r['live_answers']} ({r['abandons']} abandoned)",
    ]
    for name, w in r["abandon_rate_by_window"].items():
        lines.append(f"  abandon rate {name:<12} {100 * w['rate']:.2f}% (worst, over {w['answers_when_worst']} answers)")
    p99 = r["connect_p99_s"]
    lines.append(f"  answer-to-agent p99  {'-' if p99 is None else f'{p99:.2f} s'} (2-second rule)")
    return "\n".join(lines)


def _check_window(args: argparse.Namespace) -> int:
    try:
        at = datetime.fromisoformat(args.at)
    except ValueError:
        raise ConfigError(f"--at {args.at!r} is not an ISO date-time") from None
    if at.tzinfo is None:
        raise ConfigError(f"--at {args.at!r} needs a UTC offset")
    if args.country not in COUNTRIES:
        raise ConfigError(f"--country {args.country!r} is not supported ({', '.join(sorted(COUNTRIES))})")
    try:
        number, country = normalise(args.number, args.country)
    except InvalidNumber as exc:
        print(f"callcenter campaign check-window: {exc}", file=sys.stderr)
        return 1
    contact = Contact(ContactId(number), number, country, zones_for(number, country))
    decision = check(contact, CampaignRules(campaign_id=CampaignId("check")), History(), at.timestamp(), agent_reserved=True)
    nxt = decision.next_allowed_at
    print(
        json.dumps(
            {
                "number": number,
                "country": country,
                "time_zones": list(contact.time_zones),
                "allowed": decision.allowed,
                "reasons": list(decision.reasons),
                "next_allowed_at": None if nxt is None else datetime.fromtimestamp(nxt, UTC).isoformat(),
            }
        )
    )
    return 0 if decision.allowed else 1
