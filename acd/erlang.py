"""Queueing theory for one queue: Erlang C (M/M/c) and Erlang A (M/M/c+M, exponential patience).

Both answer the simulator's question "what should this queue do with this load?" in the same
terms as `acd/metrics.py`: service level = P(answered within T) over all offered calls, ASA = mean
wait of answered calls, abandon rate = P(abandon).

Erlang C is the closed form. Erlang A has none that is pleasant, so it is computed exactly from
the birth-death chain of the number of calls in the system (birth λ; death min(n, c)·μ plus
max(n - c, 0)·θ), truncated where the tail is below 1e-16. An arrival (PASTA) that finds n ≥ c
calls has j = n - c ahead of it; it moves to j - 1 at rate cμ + jθ and abandons at rate θ, which
gives P(served | j) and E[wait · 1{served} | j] by recurrence, and P(served by T | j) by
uniformisation of that small absorbing chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Prediction:
    service_level: float
    asa_s: float
    abandon_rate: float = 0.0


def erlang_c(*, arrival_rate: float, service_time_s: float, agents: int, sl_t_s: float) -> Prediction | None:
    """M/M/c; None when the load is at or above the number of agents (the queue grows forever)."""
    a = arrival_rate * service_time_s
    if agents <= 0 or a >= agents:
        return None
    if a == 0:
        return Prediction(service_level=1.0, asa_s=0.0)
    b = 1.0
    for k in range(1, agents + 1):
        b = a * b / (k + a * b)
    c_prob = agents * b / (agents - a * (1 - b))
    mu = 1.0 / service_time_s
    drain = agents * mu - arrival_rate
    return Prediction(
        service_level=1.0 - c_prob * math.exp(-drain * sl_t_s),
        asa_s=c_prob / drain,
    )


def erlang_a(
    *, arrival_rate: float, service_time_s: float, agents: int, patience_s: float | None, sl_t_s: float
) -> Prediction | None:
    """M/M/c+M. With no patience (None) it is Erlang C, and None when that is unstable."""
    if patience_s is None:
        pred = erlang_c(arrival_rate=arrival_rate, service_time_s=service_time_s, agents=agents, sl_t_s=sl_t_s)
        return None if pred is None else Prediction(pred.service_level, pred.asa_s, 0.0)
    if agents <= 0 or patience_s <= 0:
        return None
    lam, mu, theta, c = arrival_rate, 1.0 / service_time_s, 1.0 / patience_s, agents
    if lam == 0:
        return Prediction(service_level=1.0, asa_s=0.0, abandon_rate=0.0)
    # log-weights of the stationary distribution, relative to state 0
    logs = [0.0]
    n = 0
    while True:
        n += 1
        death = min(n, c) * mu + max(n - c, 0) * theta
        logs.append(logs[-1] + math.log(lam / death))
        if n > c and lam < death and logs[-1] < max(logs) - 37:
            break
        if n > c + 1_000_000:  # patience so long that the queue is all but unstable
            return None
    w = np.exp(np.array(logs) - max(logs))
    pi = w / w.sum()
    p_free = float(pi[:c].sum())
    q = pi[c:]  # an arrival finds j = 0, 1, ... calls ahead
    j = np.arange(len(q), dtype=float)
    move = c * mu + j * theta  # someone ahead leaves (served or abandons)
    rate = move + theta  # ... or this caller abandons
    served = np.cumprod(move / rate)  # P(served | j)
    m = np.empty_like(served)  # E[wait · 1{served} | j]
    prev = 0.0
    for i in range(len(q)):
        prev = served[i] / rate[i] + (move[i] / rate[i]) * prev
        m[i] = prev
    p_served = p_free + float((q * served).sum())
    asa = float((q * m).sum()) / p_served
    within = p_free + float((q * _served_by(move, theta, sl_t_s)).sum())
    return Prediction(service_level=within, asa_s=asa, abandon_rate=1.0 - p_served)


def _served_by(move: np.ndarray, theta: float, t: float) -> np.ndarray:
    """P(served within t | j ahead) for every j, by uniformisation of the absorbing chain."""
    size = len(move)
    if t <= 0:
        return np.zeros(size)
    big = float(move[-1] + theta)
    x = big * t
    steps = int(x + 12 * math.sqrt(x) + 30)
    # Backward form: v_k[j] = P(served within k uniformised steps | start j).
    v = np.zeros(size)
    total = np.zeros(size)
    stay = 1.0 - (move + theta) / big
    down = move / big
    log_p = -x  # log Poisson(0; x)
    for k in range(steps + 1):
        weight = math.exp(log_p)
        total += weight * v
        nxt = stay * v
        nxt[0] += down[0]  # j = 0: the next departure serves this caller
        nxt[1:] += down[1:] * v[:-1]
        v = nxt
        log_p += math.log(x) - math.log(k + 1)
    # Mass beyond `steps` is below 1e-9 at these sizes; P(served by t) = Σ_k Pois(k) · v_k.
    return total
