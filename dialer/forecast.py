"""What the predictive pacer expects to happen in the next few seconds.

Theory of operation
-------------------
* Three things are learned online from what the campaign observes, as empirical distributions in
  one-second bins: how a dialed line resolves (after how long, and whether as a live answer),
  how long calls are talked, and how long wrap-up lasts. Each starts from a handful of prior pseudo-samples, so the first minutes are
  sane, and the data outweighs them after a few dozen observations.
* All questions are conditional on what is already known: a line ringing for `e` seconds answers
  live within the next `h` seconds with P(e < T <= e+h, live) / P(T > e); an agent `e` seconds
  into wrap-up is free within `h` with P(e < W <= e+h) / P(W > e); an agent `e` seconds into a
  call needs the call to end and a whole wrap-up to pass; over a horizon of seconds that is the
  talk's hazard at `e` (calls ending per second, smoothed over 10 s) times E[(h - W)+].
* Pure: no clock, no randomness; the pacer feeds it observations with their durations.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


class Empirical:
    """Observed durations (seconds) in one-second bins, with conditional probabilities.

    Look-ups take numpy arrays of elapsed times, so the pacer asks about every agent or line
    in one call per tick.
    """

    def __init__(self, max_s: int) -> None:
        self._max = max_s
        self._bins = np.zeros(max_s + 2)
        self._total = 0.0
        self._cumulative: np.ndarray | None = None

    @property
    def count(self) -> float:
        return self._total

    def add(self, seconds: float, weight: float = 1.0) -> None:
        self._bins[min(self._max + 1, max(0, int(seconds)))] += weight
        self._total += weight
        self._cumulative = None

    def mass_upto(self, seconds: np.ndarray) -> np.ndarray:
        """Observations with a duration below `seconds` (rounded down to its bin)."""
        if self._cumulative is None:
            self._cumulative = np.concatenate(([0.0], np.cumsum(self._bins)))
        # Precondition: seconds >= 0 (elapsed times and horizons).
        return self._cumulative[np.minimum(seconds.astype(np.int64), self._max + 2)]

    def p_end_within(self, elapsed: np.ndarray, horizon: float | np.ndarray) -> np.ndarray:
        """P(T < elapsed + horizon | T >= elapsed); 1 past anything seen (it should end soon)."""
        done = self.mass_upto(elapsed)
        survivors = self._total - done
        ending = self.mass_upto(elapsed + horizon) - done
        return np.where(survivors > 0.0, ending / np.maximum(survivors, 1e-12), 1.0)

    def quantile(self, q: float) -> float:
        self.mass_upto(np.zeros(1))
        assert self._cumulative is not None
        return float(np.searchsorted(self._cumulative, q * self._total))


class Forecast:
    """Learned distributions of line outcomes and agent handling times."""

    RING_MAX_S = 120

    def __init__(
        self,
        *,
        prior_live_rate: float = 0.25,
        prior_answer_s: float = 10.0,
        prior_ring_timeout_s: float = 25.0,
        prior_talk_s: float = 180.0,
        prior_wrap_s: float = 20.0,
    ) -> None:
        # Smooth priors: many small pseudo-samples along a lognormal's quantiles, so conditional
        # probabilities do not jump at a few lumpy points before real data arrives.
        spread = _lognormal_quantiles(cv=0.6, points=40)
        weight = _PRIOR_WEIGHT / len(spread)
        # Lines: every resolution time, and separately those that were live answers.
        self.lines = Empirical(self.RING_MAX_S)
        self.live = Empirical(self.RING_MAX_S)
        for f in spread:
            self.lines.add(prior_answer_s * f, weight * prior_live_rate)
            self.live.add(prior_answer_s * f, weight * prior_live_rate)
        self.lines.add(prior_ring_timeout_s, _PRIOR_WEIGHT * (1.0 - prior_live_rate))
        self.talk = Empirical(3600)
        self.wrap = Empirical(900)
        for f in spread:
            self.talk.add(prior_talk_s * f, weight)
            self.wrap.add(prior_wrap_s * f, weight)

    def line_resolved(self, after_s: float, *, live: bool) -> None:
        self.lines.add(after_s)
        if live:
            self.live.add(after_s)

    def p_live_within(self, elapsed: np.ndarray, horizon: float | np.ndarray) -> np.ndarray:
        """Lines ringing for `elapsed` s turn into live answers within `horizon` s."""
        survivors = self.lines.count - self.lines.mass_upto(elapsed)
        live = self.live.mass_upto(elapsed + horizon) - self.live.mass_upto(elapsed)
        return np.where(survivors > 0.0, np.minimum(1.0, live / np.maximum(survivors, 1e-12)), 0.0)

    def talk_hazard(self, elapsed: np.ndarray) -> np.ndarray:
        """Calls ending per second among calls `elapsed` s old (smoothed over 10 s)."""
        return self.talk.p_end_within(elapsed, _HAZARD_SPAN_S) / _HAZARD_SPAN_S

    def wrap_slack(self, horizons: np.ndarray, points: int = 8) -> np.ndarray:
        """E[(h - W)+] for each horizon h: the time left after a wrap-up W within h."""
        wraps = np.array([self.wrap.quantile((i + 0.5) / points) for i in range(points)])
        slack: np.ndarray = np.maximum(0.0, horizons[:, None] - wraps[None, :]).mean(axis=1)
        return slack

    def answer_horizon(self, q: float = 0.8) -> float:
        """Seconds by which a share `q` of live answers has happened: how far ahead to look."""
        return self.live.quantile(q)


_PRIOR_WEIGHT = 10.0
_HAZARD_SPAN_S = 10.0


def _lognormal_quantiles(*, cv: float, points: int) -> list[float]:
    """Quantiles (at the middle of `points` equal slices) of a lognormal with mean 1."""
    sigma = math.sqrt(math.log(1.0 + cv * cv))
    dist = NormalDist(-sigma * sigma / 2.0, sigma)
    return [math.exp(dist.inv_cdf((i + 0.5) / points)) for i in range(points)]

