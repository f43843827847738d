"""Estimated wait time for a queued call, with a confidence.

Theory of operation
-------------------
Pure arithmetic on what the engine knows (position, eligible agents, AHT and its sample count);
no clock, no randomness.

Model: `n` agents can take the call (logged in, not paused, with the call's skills at the
required levels), each busy for an exponential time with mean `aht_s` (talk + wrap-up). A caller
with `position` calls ahead is served at the (position + 1)-th completion among `n` agents, so the
wait is Gamma(k = position + 1, rate n / aht_s): mean k·aht/n, standard deviation √k·aht/n. The
80% interval is mean ± 1.28 σ (clipped at 0).

Confidence in [0, 1] multiplies two things we know are weak: few handled calls behind the AHT
(samples / (samples + 20)), and a short queue, where the Gamma spread is wide relative to its mean
(1 − cv/2 with cv = 1/√k). Calls ahead that abandon, and agents shared with other queues, are not
modelled; both make the estimate pessimistic rather than optimistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Ewt:
    seconds: float | None  # None: nobody who could take this call is logged in
    low_s: float | None
    high_s: float | None
    confidence: float
    position: int
    eligible_agents: int


def mean_wait_s(position: int, eligible_agents: int, aht_s: float) -> float | None:
    """The estimate's `seconds` alone (what an announcement says), without the interval."""
    if eligible_agents <= 0:
        return None
    return round((position + 1) * aht_s / eligible_agents, 1)


def estimate_wait(*, position: int, eligible_agents: int, aht_s: float, aht_samples: int) -> Ewt:
    if eligible_agents <= 0:
        return Ewt(seconds=None, low_s=None, high_s=None, confidence=0.0, position=position, eligible_agents=0)
    k = position + 1
    mean = k * aht_s / eligible_agents
    sigma = math.sqrt(k) * aht_s / eligible_agents
    cv = 1.0 / math.sqrt(k)
    confidence = (aht_samples / (aht_samples + 20)) * (1.0 - cv / 2)
    return Ewt(
        seconds=mean_wait_s(position, eligible_agents, aht_s),
        low_s=round(max(0.0, mean - 1.28 * sigma), 1),
        high_s=round(mean + 1.28 * sigma, 1),
        confidence=round(confidence, 3),
        position=position,
        eligible_agents=eligible_agents,
    )
