"""Outbound pacing compared: preview, progressive, the VICIdial-style ratio rule, and ours.

Setup: the outbound simulation (dialer/simulate.py) of one 4-hour shift starting on a Monday at
09:00 in New York, at 20, 50 and 100 agents and live answer rates of 0.20 and 0.35; machines
15%, busy 10%, failures 3%, the rest ring out at 25 s; time to answer lognormal 9 +- 5 s plus
1.5 s of AMD; talk lognormal 180 +- 120 s; wrap-up lognormal 25 +- 10 s; bridge 0.3 s. The
abandon limit is 3% of live answers in each of the default windows (rolling 30 days, calendar
day, rolling hour), and compliance (calling window, retries, lock-outs) runs before every dial.

"All at <= 3% abandon": the ratio rule only watches today's rate, so at the 3% target it breaks
the live window. As an operator would, the bench lowers the ratio rule's own target (3%, 2.5%,
2%, 1.5%, 1%) until every window holds 3%, and reports the target it needed
(`ratio_target_used`); the rule itself is unchanged (dialer/pacing.py).

Occupancy is (talk + wrap-up) / logged-in time. `abandon_rate_max_window` is the worst value
any window took while judged (see dialer/simulate.py); `limit_held` says whether it stayed
within the limit. Prints one JSON object: {"results": [{agents, answer_rate, mode, occupancy,
talk_min_per_hour, abandon_rate_max_window, ...}], ...}.

    .venv/bin/python bench/dialer.py [--duration-s 14400] [--seed 1] [--agents 20 50 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer.simulate import run

MODES = ("preview", "progressive", "ratio", "predictive")
LIMIT = 0.03
RATIO_TARGETS = (0.03, 0.025, 0.02, 0.015, 0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=14_400.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--agents", type=int, nargs="+", default=[20, 50, 100])
    parser.add_argument("--answer-rates", type=float, nargs="+", default=[0.20, 0.35])
    args = parser.parse_args()
    started = time.perf_counter()
    results = []
    for agents in args.agents:
        for rate in args.answer_rates:
            for mode in MODES:
                t0 = time.perf_counter()
                for target in RATIO_TARGETS if mode == "ratio" else (LIMIT,):
                    r = run(
                        {
                            "kind": "outbound",
                            "agents": agents,
                            "duration_s": args.duration_s,
                            "pacing": {"mode": mode, "abandon_limit": target},
                            "lines": {"live_rate": rate},
                        },
                        seed=args.seed,
                    )
                    if r["abandon_rate_max_window"] <= LIMIT:
                        break
                results.append(
                    {
                        "agents": agents,
                        "answer_rate": rate,
                        "mode": mode,
                        **({"ratio_target_used": target} if mode == "ratio" else {}),
                        "occupancy": r["occupancy"],
                        "talk_min_per_hour": r["talk_min_per_hour"],
                        "abandon_rate_max_window": r["abandon_rate_max_window"],
                        "limit_held": r["abandon_rate_max_window"] <= LIMIT,
                        "abandon_rate_day": r["abandon_rate_by_window"]["calendar-day"]["rate"],
                        "dials_per_agent_hour": r["dials_per_agent_hour"],
                        "connect_p99_s": r["connect_p99_s"],
                        "wall_s": round(time.perf_counter() - t0, 2),
                    }
                )
    target = next(
        (x for x in results if x["agents"] == 50 and x["answer_rate"] == 0.20 and x["mode"] == "predictive"), None
    )
    print(
        json.dumps(
            {
                "benchmark": "dialer",
                "duration_s": args.duration_s,
                "seed": args.seed,
                "abandon_limit": LIMIT,
                "target_50_agents_020": None
                if target is None
                else {"occupancy": target["occupancy"], "met": target["occupancy"] >= 0.93 and target["limit_held"]},
                "results": results,
                "wall_s": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
