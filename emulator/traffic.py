"""Traffic: Poisson arrivals of scripted callers, with a VIP share and handle-time distributions.

Theory of operation
-------------------
`arrivals(profile, rng, horizon_s)` is pure: with an injected `random.Random` it returns the
calls of `horizon_s` seconds as (offset_s, CallerScript), exponential inter-arrival times at
`rate_per_s`. Each caller is a VIP with probability `vip_share` (their ANI is drawn from
`vip_anis`, the numbers the CRM rates as star-level), else a random mobile number; their talk
time has mean `mean_talk_s`, exponential or (`talk_sigma` > 0) lognormal with that shape, which
fits measured handle times better; their patience is exponential with mean `mean_patience_s`;
they press the digits of one of the `menu_choices` when the IVR asks.
The same seed gives the same calls. `run_traffic` is the adapter that places them on an emulator
on its (possibly fast) clock.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass, field

from emulator.endpoints import CallerScript
from emulator.pbx import Pbx


@dataclass(frozen=True, slots=True)
class TrafficProfile:
    rate_per_s: float
    dnis: str = "10086"
    vip_share: float = 0.1
    vip_anis: tuple[str, ...] = ("13900000001", "13900000002", "13900000003")
    mean_talk_s: float = 120.0
    talk_sigma: float = 0.0  # > 0: lognormal talk times with this sigma (and mean mean_talk_s)
    mean_patience_s: float | None = 90.0
    menu_choices: tuple[str, ...] = ("1", "2", "0")
    utterances: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0:
            raise ValueError(f"traffic rate_per_s has value {self.rate_per_s!r}; expected a number > 0")
        if not 0 <= self.vip_share <= 1:
            raise ValueError(f"traffic vip_share has value {self.vip_share!r}; expected 0..1")
        if self.vip_share > 0 and not self.vip_anis:
            raise ValueError("traffic vip_anis is empty but vip_share > 0")


def caller(profile: TrafficProfile, rng: random.Random) -> CallerScript:
    vip = rng.random() < profile.vip_share
    ani = rng.choice(profile.vip_anis) if vip else f"13{rng.randrange(10**9):09d}"
    patience = rng.expovariate(1 / profile.mean_patience_s) if profile.mean_patience_s else None
    digits = ((rng.uniform(0.5, 2.0), rng.choice(profile.menu_choices)),) if profile.menu_choices else ()
    if profile.talk_sigma > 0:
        # E[lognormal(mu, sigma)] = exp(mu + sigma^2 / 2): choose mu so the mean is mean_talk_s.
        mu = math.log(profile.mean_talk_s) - profile.talk_sigma**2 / 2
        talk = rng.lognormvariate(mu, profile.talk_sigma)
    else:
        talk = rng.expovariate(1 / profile.mean_talk_s)
    return CallerScript(
        ani=ani,
        dnis=profile.dnis,
        digits=digits,
        utterances=profile.utterances,
        patience_s=patience,
        talk_s=talk,
    )


def arrivals(profile: TrafficProfile, rng: random.Random, horizon_s: float) -> list[tuple[float, CallerScript]]:
    out: list[tuple[float, CallerScript]] = []
    t = rng.expovariate(profile.rate_per_s)
    while t < horizon_s:
        out.append((t, caller(profile, rng)))
        t += rng.expovariate(profile.rate_per_s)
    return out


async def run_traffic(pbx: Pbx, calls: list[tuple[float, CallerScript]]) -> int:
    """Place `calls` at their offsets on the PBX's clock; returns how many were placed."""
    start = pbx.clock.now()
    placed = 0
    for offset, script in calls:
        delay = start + offset - pbx.clock.now()
        if delay > 0:
            await pbx.clock.sleep(delay)
        pbx.place_call(script)
        placed += 1
    await asyncio.sleep(0)
    return placed
