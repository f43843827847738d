"""The simulated world outside Asterisk: callers, agents' phones and the PSTN trunk.

* A `CallerScript` is one PSTN subscriber: ANI, DNIS, the digits they press when the IVR asks,
  what they say when recorded (real WAV files), and how patient they are.
* A `PhoneBehaviour` is one far end that gets dialled: an agent's phone (registered or not,
  answer delay, never answer, busy, talk time) or a number reached through the trunk.
* A `TrunkBehaviour` draws a `PhoneBehaviour` for each outbound call from answer / busy /
  no-answer / answering-machine rates with a seeded random generator.

These are plain values; `emulator.pbx` acts them out on channels.
"""

from __future__ import annotations

import random
from dataclasses import MISSING, dataclass, field, fields
from typing import Any


class ScriptError(ValueError):
    """A caller script or endpoint behaviour with a bad field; the message names the field."""


@dataclass(frozen=True, slots=True)
class CallerScript:
    """One inbound PSTN call, from the subscriber's side."""

    ani: str
    dnis: str
    caller_name: str = ""
    # (delay_s, digits): pressed `delay_s` after the IVR next asks for input (GET DATA, WAIT FOR
    # DIGIT, STREAM FILE with escape digits, Background, WaitExten). Unasked digits are never sent.
    digits: tuple[tuple[float, str], ...] = ()
    # WAV files the caller speaks, one per RECORD FILE (or voicemail), in order.
    utterances: tuple[str, ...] = ()
    # Hang up if not talking to someone this long after the call started (None: wait forever).
    patience_s: float | None = None
    # Hang up this long after the call started, whatever is happening.
    hangup_after_s: float | None = None
    # Hang up this long after an agent (or any far end) answers; None leaves it to the far end.
    talk_s: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallerScript:
        script: CallerScript = _build(cls, data, "call")
        return script


@dataclass(frozen=True, slots=True)
class PhoneBehaviour:
    """How a dialled far end behaves."""

    registered: bool = True
    answer: bool = True  # False: rings until the caller gives up
    answer_after_s: float = 1.0
    busy: bool = False
    talk_s: float | None = 5.0  # hang up this long after answering; None: the other side hangs up
    machine: bool = False  # an answering machine (AMD says MACHINE)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhoneBehaviour:
        phone: PhoneBehaviour = _build(cls, data, "endpoint")
        return phone

    def updated(self, data: dict[str, Any]) -> PhoneBehaviour:
        return PhoneBehaviour.from_dict({**{f.name: getattr(self, f.name) for f in fields(self)}, **data})


@dataclass(slots=True)
class TrunkBehaviour:
    """Outcome rates of outbound calls through the PSTN trunk (the rest: no answer)."""

    answer_rate: float = 0.6
    busy_rate: float = 0.1
    machine_rate: float = 0.1
    answer_after_s: tuple[float, float] = (2.0, 8.0)
    talk_s: tuple[float, float] = (20.0, 90.0)
    overrides: dict[str, PhoneBehaviour] = field(default_factory=dict)

    def draw(self, number: str, rng: random.Random) -> PhoneBehaviour:
        if number in self.overrides:
            return self.overrides[number]
        u = rng.random()
        answer_after = rng.uniform(*self.answer_after_s)
        talk = rng.uniform(*self.talk_s)
        if u < self.answer_rate:
            return PhoneBehaviour(answer_after_s=answer_after, talk_s=talk)
        u -= self.answer_rate
        if u < self.machine_rate:
            return PhoneBehaviour(answer_after_s=answer_after, talk_s=talk, machine=True)
        u -= self.machine_rate
        if u < self.busy_rate:
            return PhoneBehaviour(busy=True)
        return PhoneBehaviour(answer=False)


def _build(cls: Any, data: dict[str, Any], what: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ScriptError(f"{what}: unknown field {unknown[0]!r}; expected one of {', '.join(known)}")
    missing = [f.name for f in known.values() if f.default is MISSING and f.default_factory is MISSING and f.name not in data]
    if missing:
        raise ScriptError(f"{what}: missing field {missing[0]!r}")
    values: dict[str, Any] = {}
    for name, value in data.items():
        values[name] = _coerce(what, name, value, known[name].type)
    return cls(**values)


def _coerce(what: str, name: str, value: Any, type_: Any) -> Any:
    t = str(type_)
    where = f"{what}.{name}"
    if value is None and "None" in t:
        return None
    if t.startswith("bool"):
        if not isinstance(value, bool):
            raise ScriptError(f"{where} has value {value!r}; expected true or false")
        return value
    if t.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ScriptError(f"{where} has value {value!r}; expected a number >= 0")
        return float(value)
    if t == "str":
        if not isinstance(value, str):
            raise ScriptError(f"{where} has value {value!r}; expected a string")
        return value
    if name == "digits":
        if not isinstance(value, list | tuple):
            raise ScriptError(f"{where} has value {value!r}; expected a list of [delay_s, digits]")
        out = []
        for item in value:
            ok = (isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], int | float)
                  and isinstance(item[1], str) and all(c in "0123456789*#ABCD" for c in item[1]))
            if not ok:
                raise ScriptError(f"{where} has item {item!r}; expected [delay_s, digits of 0-9*#A-D]")
            out.append((float(item[0]), item[1]))
        return tuple(out)
    if name == "utterances":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ScriptError(f"{where} has value {value!r}; expected a list of WAV file paths")
        return tuple(value)
    return value
