"""`callcenter db ...` and `callcenter crm ...` commands.

Exit status: 0 done; 1 the input was refused (rejected CSV rows, a non-empty CRM to seed, an
unknown number); 2 usage or configuration error (the CLI's convention).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from callcenter.cli import get_settings
from callcenter.errors import ConfigError
from callcenter.settings import Settings
from crm.db import make_sessionmaker, open_database, upgrade_url
from crm.exports import export_calls
from crm.importers import ImportFileError, ImportReport, import_customers, import_transactions
from crm.outbox import Outbox
from crm.repositories import lookup_by_ani, recompute_rfm
from crm.rfm import TierConfig, load_tier_config, tiers_file_in
from crm.seed import seed_demo
from crm.service import OUTBOX_FILE

DEMO_AGENT_PASSWORD = "demo"  # noqa: S105 - the documented password of the demo's seeded agents


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="the CRM database")
    dsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dsub.add_parser("upgrade", help="create the database if needed and apply every migration")
    up.add_argument("--revision", default="head", help="migrate to this revision (default: head)")
    up.set_defaults(func=_db_upgrade)

    crm = sub.add_parser("crm", help="customers, tiers, imports and exports")
    csub = crm.add_subparsers(dest="crm_command", metavar="ACTION", required=True)

    seed = csub.add_parser("seed", help="fill an empty CRM with demo subscribers, agents, queues and history")
    seed.add_argument("--customers", type=int, default=3000, help="how many subscribers (default 3000)")
    seed.add_argument("--seed", type=int, default=7, help="random seed: the same seed gives the same data")
    seed.add_argument("--agent-password", default=DEMO_AGENT_PASSWORD, help="password of every seeded agent")
    seed.set_defaults(func=_seed)

    rfm = csub.add_parser("rfm", help="recompute RFM scores and tiers from the billing history")
    rfm.add_argument("--tiers", type=Path, help="tier thresholds (YAML; default: data_dir/tiers.yaml or built-in)")
    rfm.add_argument("--as-of", help="score as of this ISO date or time (default: now)")
    rfm.set_defaults(func=_rfm)

    imp = csub.add_parser("import", help="import a CSV file")
    isub = imp.add_subparsers(dest="import_kind", metavar="KIND", required=True)
    for kind, helptext in (("customers", "customers and their numbers"), ("transactions", "billing history")):
        p = isub.add_parser(kind, help=helptext)
        p.add_argument("file", type=Path)
        p.add_argument("--skip-bad", action="store_true", help="import the good rows even when some are rejected")
        p.set_defaults(func=_import, kind=kind, tiers=None)
        if kind == "customers":
            p.add_argument("--tiers", type=Path, help="tier configuration naming the valid tiers (YAML)")

    exp = csub.add_parser("export", help="export to CSV")
    esub = exp.add_subparsers(dest="export_kind", metavar="KIND", required=True)
    calls = esub.add_parser("calls", help="call records")
    calls.add_argument("file", type=Path)
    calls.add_argument("--since", help="calls that arrived at or after this ISO date or time (UTC)")
    calls.add_argument("--until", help="calls that arrived before this ISO date or time (UTC)")
    calls.set_defaults(func=_export_calls)

    lookup = csub.add_parser("lookup", help="show the customer card for a caller number (as routing sees it)")
    lookup.add_argument("ani")
    lookup.set_defaults(func=_lookup)

    outbox = csub.add_parser("outbox", help="show the outbox journal: waiting and dead entries")
    outbox.add_argument("--revive", action="store_true", help="retry dead entries (after fixing the cause)")
    outbox.set_defaults(func=_outbox)


def _when(text: str | None, what: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{what} has value {text!r}; expected an ISO date or time (2026-05-01 or 2026-05-01T08:00)"
        ) from None
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at


def _tiers(settings: Settings, path: Path | None) -> TierConfig:
    return load_tier_config(path or tiers_file_in(settings.data_dir))


def _with_engine(settings: Settings, work: Callable[[AsyncEngine], Awaitable[int]]) -> int:
    async def run() -> int:
        settings.ensure_dirs()
        if settings.log_level != "DEBUG":  # "Context impl SQLiteImpl" on every command is noise
            logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
        engine = await open_database(settings.database_url, echo=settings.database.echo)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[int]]) -> int:
    async def run(engine: AsyncEngine) -> int:
        async with make_sessionmaker(engine)() as session:
            return await work(session)

    return _with_engine(settings, run)


def _db_upgrade(args: argparse.Namespace) -> int:
    settings = get_settings(args)
    settings.ensure_dirs()
    upgrade_url(settings.database_url, args.revision)
    print(f"database migrated to {args.revision}")
    return 0


def _seed(args: argparse.Namespace) -> int:
    settings = get_settings(args)
    if args.customers < 1:
        raise ConfigError(f"--customers has value {args.customers}; expected a positive number")
    tiers = _tiers(settings, None)

    async def work(engine: AsyncEngine) -> int:
        try:
            counts = await seed_demo(
                engine,
                customers=args.customers,
                seed=args.seed,
                now=dt.datetime.now(dt.UTC),
                agent_password=args.agent_password,
                tiers=tiers,
            )
        except ValueError as exc:
            print(f"callcenter crm seed: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(counts, ensure_ascii=False))
        return 0

    return _with_engine(settings, work)


def _rfm(args: argparse.Namespace) -> int:
    settings = get_settings(args)
    tiers = _tiers(settings, args.tiers)
    as_of = _when(args.as_of, "--as-of") or dt.datetime.now(dt.UTC)

    async def work(session: AsyncSession) -> int:
        summary = await recompute_rfm(session, tiers, as_of=as_of)
        await session.commit()
        print(json.dumps({"scored": summary.scored, "changed": summary.changed, "tiers": summary.tiers}))
        return 0

    return _with_session(settings, work)


def _print_report(report: ImportReport, path: Path) -> None:
    for problem in report.problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if report.committed:
        print(f"{path}: {report.imported} imported, {report.rejected_rows} rows rejected")
    else:
        print(f"{path}: {report.rejected_rows} rows rejected; nothing imported (use --skip-bad to import the rest)")


def _import(args: argparse.Namespace) -> int:
    settings = get_settings(args)
    tiers = _tiers(settings, args.tiers)

    async def work(session: AsyncSession) -> int:
        try:
            if args.kind == "customers":
                report = await import_customers(
                    session, args.file, skip_bad=args.skip_bad, tiers=tiers, now=dt.datetime.now(dt.UTC)
                )
            else:
                report = await import_transactions(session, args.file, skip_bad=args.skip_bad)
        except ImportFileError as exc:
            print(f"callcenter crm import: {exc}", file=sys.stderr)
            return 1
        _print_report(report, args.file)
        return 0 if report.committed and not report.problems else 1

    return _with_session(settings, work)


def _export_calls(args: argparse.Namespace) -> int:
    settings = get_settings(args)
    since, until = _when(args.since, "--since"), _when(args.until, "--until")

    async def work(session: AsyncSession) -> int:
        count = await export_calls(session, args.file, since=since, until=until)
        print(f"{args.file}: {count} calls exported")
        return 0

    return _with_session(settings, work)


def _lookup(args: argparse.Namespace) -> int:
    settings = get_settings(args)
    tiers = _tiers(settings, None)

    async def work(session: AsyncSession) -> int:
        card = await lookup_by_ani(session, args.ani, tiers=tiers)
        if card is None:
            print(f"no customer has the number {args.ani!r}", file=sys.stderr)
            return 1
        print(json.dumps(dataclasses.asdict(card), ensure_ascii=False, indent=2, default=str))
        return 0

    return _with_session(settings, work)


def _outbox(args: argparse.Namespace) -> int:
    settings = get_settings(args)
    path = settings.data_dir / OUTBOX_FILE
    if not path.exists():
        print(json.dumps({"waiting": 0, "dead": 0}))
        return 0
    outbox = Outbox(path)
    try:
        if args.revive:
            print(f"{outbox.revive()} dead entries will be retried")
        live, dead = outbox.counts()
        print(json.dumps({"waiting": live, "dead": dead}))
        for entry, error in outbox.dead_entries():
            print(f"dead {entry.seq} {entry.kind} {entry.key}: {error}")
    finally:
        outbox.close()
    return 0
