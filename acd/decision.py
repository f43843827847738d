"""The decision log: where `RoutingDecided` records go, and how `routing explain` reads them.

Until the CRM stores decision records, the runner and the simulator append JSON lines (the event
vocabulary's JSON form) to `<data_dir>/acd/decisions.jsonl`: the `call.queued` message of each
call (its routing request says which rule matched, and why) and every `acd.routing-decided`
record. `callcenter routing explain CALL_ID` reads them back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from callcenter.events import to_json


def default_log_path(data_dir: Path) -> Path:
    return data_dir / "acd" / "decisions.jsonl"


class DecisionLog:
    """Appends messages as JSON lines. With `flush_each` (the runner) a crash loses at most the
    line being written; the simulator writes in bulk and flushes at close."""

    def __init__(self, path: Path, *, flush_each: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.flush_each = flush_each
        self._file: TextIO = path.open("a", encoding="utf-8")

    def append(self, msg: object) -> None:
        self.append_json(to_json(msg))

    def append_json(self, data: dict[str, Any]) -> None:
        self._file.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
        if self.flush_each:
            self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_call(path: Path, call_id: str) -> list[dict[str, Any]]:
    """Every record of `call_id` in the log, in order. Lines that are not JSON are an error."""
    out: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
            if isinstance(record, dict) and record.get("call_id") == call_id:
                out.append(record)
    return out


def _skills(reqs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['skill']}>={r['min_level']}" for r in reqs) or "(any)"


def format_records(records: list[dict[str, Any]]) -> str:
    """The records of one call as text for people."""
    lines: list[str] = []
    for r in records:
        if r["type"] == "call.queued":
            req = r["request"]
            lines.append(f"call {r['call_id']} queued at {r['at']:.1f} in {req['queue']} (class {req['priority_class']})")
            lines.append(f"  {req['explanation'] or 'rule ' + repr(req['rule'])}")
            detail = [f"skills {_skills(req['skills'])}"]
            detail += [f"after {s['after_s']:g}s: {_skills(s['skills'])}" for s in req["relaxation"]]
            if req.get("overflow_queue"):
                detail.append(f"overflow to {req['overflow_queue']} after {req['overflow_after_s']:g}s")
            if req.get("max_wait_s") is not None:
                detail.append(f"max wait {req['max_wait_s']:g}s")
            lines.append("  request: " + "; ".join(detail))
        elif r["type"] == "acd.routing-decided":
            lines.append(
                f"decision {r['decision_id']} at {r['at']:.1f} ({r['trigger']}): offered to {r['agent_id']} in {r['queue']}"
            )
            lines.append(
                f"  strategy {r['strategy']}; class {r['priority_class']}; call score {r['call_score_s']:g}s "
                f"(waited {r['wait_s']:g}s); relaxation step {r['relaxation_step']}; "
                f"requirements {_skills(r['requirements'])}"
            )
            shown = ", ".join(f"{c['id']} {tuple(c['score'])}" + (f" [{c['note']}]" if c["note"] else "") for c in r["candidates"])
            lines.append(f"  candidates ({len(r['candidates'])} of {r['candidate_count']}, best first): {shown}")
            if r["excluded"]:
                lines.append("  excluded: " + ", ".join(f"{e['agent_id']} ({e['reason']})" for e in r["excluded"]))
            if r["excluded_counts"]:
                lines.append("  excluded in the queue: " + ", ".join(f"{k} {n}" for k, n in r["excluded_counts"]))
            if r["tie_break"]:
                lines.append(f"  tie-break: {r['tie_break']}")
    return "\n".join(lines)
