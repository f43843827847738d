"""`callcenter simulate SCENARIO.yaml [--json]`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from acd.decision import DecisionLog
from acd.simulate import ScenarioError, load_scenario, simulate


def register(sub: Any) -> None:
    p = sub.add_parser("simulate", help="simulate a scenario through the real routing rules and ACD core")
    p.add_argument("scenario", metavar="SCENARIO", help="scenario YAML (see docs/simulate.md)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--decisions", metavar="FILE", help="append routing requests and decision records (JSON lines)")
    p.set_defaults(func=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    from dialer.cli import is_outbound_scenario, run_outbound_scenario

    if is_outbound_scenario(args.scenario):  # `kind: outbound` runs the dialer's simulation
        return run_outbound_scenario(args.scenario, seed=args.seed, as_json=args.json)
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"callcenter simulate: {exc}", file=sys.stderr)
        return 1
    if args.seed is not None:
        scenario = dataclasses.replace(scenario, seed=args.seed)
    log = DecisionLog(Path(args.decisions), flush_each=False) if args.decisions else None
    started = time.perf_counter()
    try:
        report = simulate(scenario, on_record=log.append_json if log else None)
    finally:
        if log:
            log.close()
    report["wall_s"] = round(time.perf_counter() - started, 3)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(_table(report))
    return 0


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _table(r: dict[str, Any]) -> str:
    o = r["outcomes"]
    lines = [
        f"{r['scenario']}: {r['calls']} calls, {r['agents']} agents, seed {r['seed']}, "
        f"{r['events']} events in {r['wall_s']}s",
        f"answered {o['answered']}, abandoned {o['abandoned']}, fallback {o['fallback']}, "
        f"callback {o['callback']}, lost {r['lost_calls']}",
        "",
        f"{'queue':<12}{'offered':>8}{'answ':>7}{'aband':>7}{'ovfl':>6}{'SL':>8}{'ASA':>7}{'maxW':>7}{'AHT':>7}"
        f"{'occ':>7} | {'ErlC SL':>8}{'ASA':>7} | {'ErlA SL':>8}{'ASA':>7}{'aband':>7}",
    ]
    for name, q in r["queues"].items():
        c = q["erlang_c"] or {}
        a = q["erlang_a"] or {}
        lines.append(
            f"{name:<12}{q['offered']:>8}{q['answered']:>7}{q['abandoned']:>7}{q['overflowed']:>6}"
            f"{_pct(q['service_level']):>8}{_num(q['asa_s']):>7}{_num(q['max_wait_s']):>7}{_num(q['aht_s']):>7}"
            f"{_pct(q['occupancy']):>7} | {_pct(c.get('service_level')):>8}{_num(c.get('asa_s')):>7} | "
            f"{_pct(a.get('service_level')):>8}{_num(a.get('asa_s')):>7}{_pct(a.get('abandon_rate')):>7}"
        )
    lines.append("")
    lines.append(f"{'class':<12}{'offered':>8}{'answ':>7}{'aband':>7}{'SL':>8}{'ASA':>7}{'maxW':>7}")
    for name, k in r["classes"].items():
        lines.append(
            f"{name:<12}{k['offered']:>8}{k['answered']:>7}{k['abandoned']:>7}"
            f"{_pct(k['service_level']):>8}{_num(k['asa_s']):>7}{_num(k['max_wait_s']):>7}"
        )
    return "\n".join(lines)
