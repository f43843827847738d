"""Customer value: RFM scores, tiers, and the tier's routing priority.

Theory of operation
-------------------
* Input per customer: the date of the last transaction, the number of transactions and their sum
  within a window (`CustomerFacts`). Output: three scores 1..5 (recency, frequency, monetary) and a
  tier name (`vip`, `star5` ... `star1` by default).
* Scores come from fixed, configured thresholds, not from quintiles of the population: a customer's
  tier then depends on what the customer did, not on everyone else, and it can be explained
  ("spent 3,200 yuan in 365 days: M=5").
* Rule 1: a score is 5 when the value reaches the first bound, 4 the second, ... and 1 below all;
  recency is better when *smaller*, so it compares the other way.
* Rule 2: tiers are tried top to bottom; the first whose minimum total score (and minimum
  monetary value, when given) is met wins. The last tier must accept everyone (min_score 0).
* `TierConfig.priority_for(tier)` is what routing uses: tier -> (priority class, priority).
* Scoring is pure: no I/O, no clock (`as_of` comes in). Only the loaders at the end read files
  (`DEFAULT_TIER_CONFIG` is read from crm/tiers.yaml at import). `recompute` in
  crm/repositories.py is the adapter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from callcenter.errors import ConfigError
from callcenter.settings import read_yaml_file

DEFAULT_TIERS_FILE = Path(__file__).resolve().parent / "tiers.yaml"


@dataclass(frozen=True, slots=True, kw_only=True)
class TierRule:
    name: str
    min_score: int
    min_monetary: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Priority:
    priority_class: str
    priority: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TierConfig:
    window_days: int
    recency_days: tuple[int, int, int, int]
    frequency: tuple[int, int, int, int]
    monetary: tuple[Decimal, Decimal, Decimal, Decimal]
    tiers: tuple[TierRule, ...]
    priority: Mapping[str, Priority]

    def priority_for(self, tier: str) -> Priority:
        """Routing priority of a tier; an unknown tier (hand-edited data) routes as standard."""
        return self.priority.get(tier, Priority(priority_class="standard", priority=0))


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerFacts:
    customer_id: int
    last_at: dt.datetime | None  # newest transaction ever
    count: int  # transactions in the window
    total: Decimal  # their sum


@dataclass(frozen=True, slots=True, kw_only=True)
class RfmScore:
    recency: int
    frequency: int
    monetary: int
    tier: str

    @property
    def total(self) -> int:
        return self.recency + self.frequency + self.monetary


def _score_at_least(value: Decimal | int, bounds: Sequence[Decimal | int]) -> int:
    for i, bound in enumerate(bounds):
        if value >= bound:
            return 5 - i
    return 1


def score(facts: CustomerFacts, config: TierConfig, *, as_of: dt.datetime) -> RfmScore:
    if facts.last_at is None:
        recency = 1
    else:
        days = (as_of - facts.last_at).total_seconds() / 86400
        recency = next((5 - i for i, bound in enumerate(config.recency_days) if days <= bound), 1)
    frequency = _score_at_least(facts.count, config.frequency)
    monetary = _score_at_least(facts.total, config.monetary)
    total = recency + frequency + monetary
    for rule in config.tiers:
        if total >= rule.min_score and (rule.min_monetary is None or facts.total >= rule.min_monetary):
            tier = rule.name
            break
    else:  # pragma: no cover - load_tier_config guarantees a catch-all last tier
        raise AssertionError("tier config has no catch-all tier")
    return RfmScore(recency=recency, frequency=frequency, monetary=monetary, tier=tier)


# ------------------------------------------------------------------------------------------------
# Loading the YAML
# ------------------------------------------------------------------------------------------------


def _bounds(data: Mapping[str, Any], key: str, where: str, *, descending: bool) -> tuple[Any, ...]:
    value = data.get(key)
    if not isinstance(value, list) or len(value) != 4:
        raise ConfigError(f"{where}: {key} must be a list of 4 numbers, got {value!r}")
    try:
        numbers = tuple(Decimal(str(v)) for v in value)
    except ArithmeticError:
        raise ConfigError(f"{where}: {key} must be a list of 4 numbers, got {value!r}") from None
    ordered = sorted(numbers, reverse=descending)
    if list(numbers) != ordered:
        order = "decreasing" if descending else "increasing"
        raise ConfigError(f"{where}: {key} must be {order}, got {value!r}")
    return numbers


def parse_tier_config(data: Any, where: str) -> TierConfig:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    window = data.get("window_days")
    if not isinstance(window, int) or isinstance(window, bool) or window <= 0:
        raise ConfigError(f"{where}: window_days must be a positive integer, got {window!r}")
    recency = _bounds(data, "recency_days", where, descending=False)
    frequency = _bounds(data, "frequency", where, descending=True)
    monetary = _bounds(data, "monetary", where, descending=True)
    raw_tiers = data.get("tiers")
    if not isinstance(raw_tiers, list) or not raw_tiers:
        raise ConfigError(f"{where}: tiers must be a non-empty list")
    tiers: list[TierRule] = []
    for i, t in enumerate(raw_tiers, start=1):
        if not isinstance(t, Mapping) or not isinstance(t.get("name"), str) or not isinstance(t.get("min_score"), int):
            raise ConfigError(f"{where}: tiers[{i}] needs a name and an integer min_score, got {t!r}")
        floor = t.get("min_monetary")
        tiers.append(
            TierRule(
                name=t["name"],
                min_score=t["min_score"],
                min_monetary=None if floor is None else Decimal(str(floor)),
            )
        )
    last = tiers[-1]
    if last.min_score > 3 or last.min_monetary is not None:
        raise ConfigError(
            f"{where}: the last tier ({last.name}) must accept everyone (min_score at most 3, no min_monetary)"
        )
    raw_priority = data.get("priority") or {}
    priority: dict[str, Priority] = {}
    for rule in tiers:
        p = raw_priority.get(rule.name)
        if not isinstance(p, Mapping) or not isinstance(p.get("class"), str) or not isinstance(p.get("priority"), int):
            raise ConfigError(f"{where}: priority.{rule.name} needs a class and an integer priority, got {p!r}")
        priority[rule.name] = Priority(priority_class=p["class"], priority=p["priority"])
    return TierConfig(
        window_days=window,
        recency_days=tuple(int(v) for v in recency),  # type: ignore[arg-type]
        frequency=tuple(int(v) for v in frequency),  # type: ignore[arg-type]
        monetary=monetary,
        tiers=tuple(tiers),
        priority=priority,
    )


def tiers_file_in(data_dir: Path) -> Path | None:
    """An operator's `tiers.yaml` in the data directory, which replaces the packaged default."""
    path = data_dir / "tiers.yaml"
    return path if path.is_file() else None


def load_tier_config(path: Path | None = None) -> TierConfig:
    """The tier configuration in `path`, or the packaged default (crm/tiers.yaml)."""
    p = path or DEFAULT_TIERS_FILE
    return parse_tier_config(read_yaml_file(p, "tier config"), f"tier config {p}")


DEFAULT_TIER_CONFIG = load_tier_config()
