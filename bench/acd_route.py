"""ACD decision speed: the indexed core against a naive scan, on the same events.

Setup: 10,000 agents with 4 of 200 skills each (levels 1-5) in 2 of 20 queues, and 5,000 calls
waiting (each needing one or two skills, three priority classes), every agent who can take a call
on one. Then, repeatedly, one agent's call ends (the agent is free at once and picks the best
waiting call across its queues: an agent-side decision) and a new call arrives (a call-side
decision: almost always "no agent is free"), so the queue stays at 5,000.

The same setup is built three times. The second engine has its two look-ups replaced by full
scans (every agent for a call, every waiting call for an agent) and replays the first one's
recorded events; its offers must be identical. The third ("probe") replays the same events with
its look-ups timed, so the timers never run inside the measured engine. Prints one JSON object.

Latencies and rates are the deciding thread's CPU time (`time.thread_time`), so other processes
on a shared machine do not count; the `wall_*` keys give wall-clock time too. Each measured
interval includes about half a microsecond of the clock's own cost (`clock_overhead_us`), which
counts against the indexed core only in practice. `select_*` times the look-up alone (which
agent, which call) on the naive engine's events, without applying the event and building its
messages (state changes, the decision record, the offer, the timer), which both engines share.
`shared_work_us` is that shared work per event (the indexed core's mean time minus the probe's
look-up time per event), and `speedup_ceiling` the naive scan's mean time over it: the speed-up
that an index costing nothing would reach, so the most that any index can give.

    .venv/bin/python bench/acd_route.py [--events 4000] [--naive-events 300]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acd.config import AcdConfig, AgentProfile, PriorityClass, QueueConfig, Strategy
from acd.engine import WAITING, AcdEngine, QueueEntry, Reqs
from acd.state import AgentRecord
from callcenter import events as ev

AGENTS, SKILLS, QUEUES, WAITING_CALLS = 10_000, 200, 20, 5_000
TARGET_P99_MS, TARGET_SPEEDUP = 1.0, 50.0  # issue 4's benchmark target


class NaiveEngine(AcdEngine):
    """The same core with its indexes ignored: every decision scans everything."""

    def _candidate_agents(self, queue: ev.QueueName, reqs: Reqs) -> list[AgentRecord]:
        return [a for a in self.agents.values() if a.state is ev.AgentState.READY and queue in a.queues and a.meets(reqs)]

    def _best_calls_for(self, agent: AgentRecord) -> list[QueueEntry]:
        best: QueueEntry | None = None
        for c in self.calls.values():
            if c.state == WAITING and c.queue in agent.queues and agent.meets(c.reqs):
                entry = (c.key, c.seq, c)
                if best is None or entry < best:
                    best = entry
        return [best] if best else []


def build(rng: random.Random) -> tuple[AcdEngine, list[ev.CallQueued]]:
    queues = {
        ev.QueueName(f"q{i}"): QueueConfig(name=ev.QueueName(f"q{i}"), strategy=Strategy.LONGEST_IDLE, wrap_up_s=0)
        for i in range(QUEUES)
    }
    classes = {"standard": PriorityClass(name="standard"), "gold": PriorityClass(name="gold", head_start_s=60),
               "vip": PriorityClass(name="vip", head_start_s=180)}
    profiles = []
    for i in range(AGENTS):
        skills = rng.sample(range(SKILLS), 4)
        profiles.append(AgentProfile(
            agent_id=ev.AgentId(f"a{i}"),
            skills=tuple(ev.AgentSkill(skill=f"s{s}", level=rng.randint(1, 5)) for s in skills),
            queues=tuple(ev.QueueName(f"q{q}") for q in rng.sample(range(QUEUES), 2)),
        ))
    engine = AcdEngine(AcdConfig(queues=queues, classes=classes), agents=profiles, rng=random.Random(1))
    calls = [new_call(rng, n) for n in range(40_000)]
    return engine, calls


def new_call(rng: random.Random, n: int) -> ev.CallQueued:
    reqs = tuple(
        ev.SkillRequirement(skill=f"s{s}", min_level=rng.randint(1, 3)) for s in rng.sample(range(SKILLS), rng.choice((1, 1, 1, 2)))
    )
    request = ev.RoutingRequest(
        queue=ev.QueueName(f"q{rng.randrange(QUEUES)}"),
        skills=reqs,
        priority_class=rng.choices(("standard", "gold", "vip"), (85, 12, 3))[0],
    )
    return ev.CallQueued(call_id=ev.CallId(f"c{n}"), request=request, at=0.0)


def time_selection(engine: AcdEngine, sink: list[float]) -> None:
    """Time the selection alone (which agent for a call, which call for an agent) on this engine."""
    best_calls_for, candidate_agents = engine._best_calls_for, engine._candidate_agents

    def timed_best_calls_for(agent: AgentRecord) -> list[QueueEntry]:
        start = time.perf_counter()
        result = best_calls_for(agent)
        sink.append(time.perf_counter() - start)
        return result

    def timed_candidate_agents(queue: ev.QueueName, reqs: Reqs) -> list[AgentRecord]:
        start = time.perf_counter()
        result = candidate_agents(queue, reqs)
        sink.append(time.perf_counter() - start)
        return result

    engine._best_calls_for = timed_best_calls_for  # type: ignore[method-assign]
    engine._candidate_agents = timed_candidate_agents  # type: ignore[method-assign]


def offers(out: list[object]) -> list[ev.OfferCall]:
    return [m for m in out if isinstance(m, ev.OfferCall)]


def fill(engine: AcdEngine, calls: list[ev.CallQueued]) -> tuple[float, int, list[ev.CallId]]:
    """Log everybody in, then queue calls (answering each offer) until 5,000 wait."""
    now = 0.0
    for agent_id in engine.agents:
        engine.handle(ev.AgentLoggedIn(agent_id=agent_id, interface=f"PJSIP/{agent_id}", at=now), now=now)
        engine.handle(ev.AgentReady(agent_id=agent_id, at=now), now=now)
    on_call: list[ev.CallId] = []
    n = 0
    while sum(1 for c in engine.calls.values() if c.state == WAITING) < WAITING_CALLS:
        now += 0.01
        for offer in offers(engine.handle(calls[n], now=now)):
            engine.handle(ev.CallAnswered(call_id=offer.call_id, agent_id=offer.agent_id, at=now), now=now)
            on_call.append(offer.call_id)
        n += 1
    return now, n, on_call


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=4000, help="measured events for the indexed core")
    parser.add_argument("--naive-events", type=int, default=300, help="measured events for the naive scan")
    args = parser.parse_args()

    t0 = time.perf_counter()
    engine, calls = build(random.Random(42))
    now, n, on_call = fill(engine, calls)
    setup_s = time.perf_counter() - t0
    naive, naive_calls = build(random.Random(42))
    fill(naive, naive_calls)
    naive.__class__ = NaiveEngine
    probe, probe_calls = build(random.Random(42))
    fill(probe, probe_calls)
    # The 15,000 calls and 10,000 agents built above would otherwise be walked by every full
    # collection (~100 ms each): a long-running runner does the same after loading its state.
    gc.collect()
    gc.freeze()

    selection: list[float] = []
    naive_selection: list[float] = []
    time_selection(probe, selection)
    time_selection(naive, naive_selection)
    rng = random.Random(7)
    recorded: list[tuple[float, object]] = []
    latencies: list[float] = []  # thread CPU time per event
    walls: list[float] = []  # wall time per event
    offered: list[tuple[str, str]] = []
    decisions = 0
    for _ in range(args.events // 2):
        now += 0.01
        ended = on_call.pop(rng.randrange(len(on_call)))
        for event in (ev.CallEnded(call_id=ended, at=now), calls[n]):
            recorded.append((now, event))
            wall, cpu = time.perf_counter(), time.thread_time()
            out = engine.handle(event, now=now)
            latencies.append(time.thread_time() - cpu)
            walls.append(time.perf_counter() - wall)
            decisions += 1
            for offer in offers(out):
                offered.append((offer.call_id, offer.agent_id))
                answer = ev.CallAnswered(call_id=offer.call_id, agent_id=offer.agent_id, at=now)
                recorded.append((now, answer))
                engine.handle(answer, now=now)
                on_call.append(offer.call_id)
        n += 1
    total = sum(latencies)

    naive_latencies: list[float] = []
    naive_offered: list[tuple[str, str]] = []
    replayed = 0
    for when, event in recorded:
        if len(naive_latencies) >= args.naive_events:
            break
        cpu = time.thread_time()
        out = naive.handle(event, now=when)
        if not isinstance(event, ev.CallAnswered):
            naive_latencies.append(time.thread_time() - cpu)
        naive_offered.extend((o.call_id, o.agent_id) for o in offers(out))
        replayed += 1
    for when, event in recorded[:replayed]:  # the naive engine's events, after it: its scans would evict the probe's caches
        probe.handle(event, now=when)
    same = naive_offered == offered[: len(naive_offered)]
    empty = []
    for _ in range(1000):
        cpu = time.thread_time()
        empty.append(time.thread_time() - cpu)

    q = statistics.quantiles(latencies, n=100)
    naive_mean_s = sum(naive_latencies) / len(naive_latencies)
    # The probe replayed the naive engine's events with its look-ups timed: their time per event.
    shared_s = total / decisions - sum(selection) / len(naive_latencies)
    wq = statistics.quantiles(walls, n=100)
    waiting = sum(1 for c in engine.calls.values() if c.state == WAITING)
    result = {
        "agents": AGENTS,
        "skills": SKILLS,
        "queues": QUEUES,
        "waiting_calls": waiting,
        "events": decisions,
        "offers": len(offered),
        "p50_ms": round(q[49] * 1000, 4),
        "p99_ms": round(q[98] * 1000, 4),
        "max_ms": round(max(latencies) * 1000, 4),
        "decisions_per_s": round(decisions / total),
        "wall_p50_ms": round(wq[49] * 1000, 4),
        "wall_p99_ms": round(wq[98] * 1000, 4),
        "wall_decisions_per_s": round(decisions / sum(walls)),
        "clock_overhead_us": round(statistics.median(empty) * 1e6, 2),
        "naive_events": len(naive_latencies),
        "naive_p50_ms": round(statistics.median(naive_latencies) * 1000, 3),
        "naive_decisions_per_s": round(len(naive_latencies) / sum(naive_latencies)),
        "speedup": round((decisions / total) / (len(naive_latencies) / sum(naive_latencies)), 1),
        "speedup_p50": round(statistics.median(naive_latencies) / statistics.median(latencies), 1),
        # the look-up alone, without applying the event and building its messages
        "select_p50_us": round(statistics.median(selection) * 1e6, 2),
        "naive_select_p50_us": round(statistics.median(naive_selection) * 1e6, 2),
        "select_speedup_p50": round(statistics.median(naive_selection) / statistics.median(selection), 1),
        # What both engines do besides the look-up, per event, and the speed-up an index that took
        # no time at all would reach against the naive scan: the ceiling that indexing can give.
        "shared_work_us": round(shared_s * 1e6, 2),
        "speedup_ceiling": round(naive_mean_s / shared_s, 1),
        "same_decisions": same,
        "naive_offers_compared": len(naive_offered),
        "setup_s": round(setup_s, 2),
        "gc_frozen_after_setup": True,
    }
    result["target_met"] = result["p99_ms"] < TARGET_P99_MS and result["speedup"] >= TARGET_SPEEDUP
    print(json.dumps(result))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
