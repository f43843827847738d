"""The pure IVR interpreter: `step(session, event) -> (session, commands)`.

Theory of operation
-------------------
A call in the IVR is a `Session`: the `Flow` it started on (kept for the whole call, so a flow
reloaded mid-call does not change it), the current node, the call's variables, the retry count at
the current node and the path of node ids visited. `start()` makes the first session; every later
fact about the call comes in through `step()`, which returns the next session and the commands to
execute. Nothing here does I/O, reads a clock or awaits: time arrives as `at` on each event.

Events (what the adapter observed) and the one command each answers:

    PromptPlayed   <- Play        the prompts finished
    DigitsEntered  <- GetDigits, Listen   the caller pressed keys
    NoInput        <- GetDigits, Listen   nothing before the timeout (or silence only)
    SpeechHeard    <- Listen      a recognizer's transcript and confidence
    LookupAnswered <- Lookup      the customer directory's answer (None: not found)
    CallerHungUp   (any time)

Rule 1: every batch of commands holds at most one *waiting* command (Play, GetDigits, Listen,
Lookup), and it comes last; the adapter executes the batch in order and feeds the waiting
command's result back through `step()`. Everything before it (SetVariable, Exec, Hangup, the IVR
domain events, Exit) is fire-and-forget.

Rule 2: nodes that need no caller input (set, condition, subflow, return, lookup answers) are
passed through inside one `step()`; a runaway chain of them (more than MAX_HOPS) ends the call
with outcome "failed" instead of spinning.

Rule 3: a menu, collect or confirm node counts failures (no input, no match, invalid digits, low
speech confidence). After `retries` re-prompts it goes to `on_failure`, or ends the call when there
is none. A speech answer below its recognizer's confidence threshold (carried on `SpeechHeard`:
each engine scores on its own scale) switches that node to keys only (the DTMF fallback); speech is
also off for a language the recognizer cannot do.

Rule 4: values from nodes with `mask: true` never leave as clear text: IvrInput carries stars and
the variable is left out of IvrExited and of the channel variables.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.errors import IllegalTransition
from callcenter.events import CallId, ChannelId, Hangup, IvrEntered, IvrExited, IvrInput, SetVariable
from ivr.flow import Flow, PromptSource, prompt_names
from ivr.spoken import match_phrases, spoken_digits

MAX_HOPS = 200
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_RETRIES = 2
DIGIT_WORDS = {
    "en": ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "zh": ("零", "一", "幺", "二", "两", "三", "四", "五", "六", "七", "八", "九"),
}
YES_NO = {
    "en": (("yes", "yeah", "correct", "right"), ("no", "nope", "wrong")),
    "zh": (("是", "对", "是的", "正确"), ("不是", "不对", "错")),
}
_TEMPLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_-]*)\}")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# ------------------------------------------------------------------------------------------
# Events in
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptPlayed:
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DigitsEntered:
    digits: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class NoInput:
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechHeard:
    text: str
    confidence: float
    threshold: float  # the recognizing engine's: below it the answer is not trusted
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupAnswered:
    values: Mapping[str, str] | None
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerHungUp:
    at: float


Event = PromptPlayed | DigitsEntered | NoInput | SpeechHeard | LookupAnswered | CallerHungUp


# ------------------------------------------------------------------------------------------
# Commands out
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PromptRef:
    """One prompt to play in one language; the adapter turns it into a file name."""

    flow: str
    name: str
    language: str
    source: PromptSource


@dataclass(frozen=True, slots=True)
class SayValue:
    value: str
    kind: str  # "number" | "digits" | "money"
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Play:
    prompts: tuple[PromptRef, ...]
    say: SayValue | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetDigits:
    prompts: tuple[PromptRef, ...]
    max_digits: int
    timeout_s: float
    terminator: str = "#"
    say: SayValue | None = None
    masked: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Listen:
    """Play the prompts, record the answer (silence ends it), recognize it.

    `grammar` None means free recognition; `sequence` means any sequence of the grammar's
    phrases (spoken digits), otherwise the answer is one phrase. Keys in `dtmf_keys` stop the
    prompt or the recording and come back as DigitsEntered."""

    prompts: tuple[PromptRef, ...]
    language: str
    grammar: tuple[str, ...] | None
    sequence: bool = False
    dtmf_keys: str = ""
    max_digits: int = 1
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_s: float = 10.0
    say: SayValue | None = None
    masked: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Lookup:
    query: str  # "customer" | "balance" | "last_bill" | "complaint_status"
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Exec:
    app: str
    args: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Exit:
    """The IVR is done with the call; the adapter ends the AGI session (after hanging up when asked)."""

    outcome: str  # "route" | "transfer" | "voicemail" | "callback" | "hangup" | "failed" | "caller-hung-up"
    routing: Mapping[str, str] = field(default_factory=dict)
    target: str = ""


Command = Play | GetDigits | Listen | Lookup | Exec | Exit | SetVariable | Hangup | IvrEntered | IvrInput | IvrExited
WAITING = (Play, GetDigits, Listen, Lookup)


# ------------------------------------------------------------------------------------------
# The session
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    flow: Flow
    call_id: CallId
    channel_id: ChannelId
    node: str
    variables: Mapping[str, str]
    sensitive: frozenset[str] = frozenset()
    speech_languages: frozenset[str] = frozenset()
    attempts: int = 0
    dtmf_only: bool = False
    waiting: str = ""  # "prompt" | "input" | "lookup" | "final" | "" (ended)
    path: tuple[str, ...] = ()
    ended: bool = False

    @property
    def language(self) -> str:
        return self.variables.get("language", self.flow.default_language)

    def public_variables(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((k, v) for k, v in self.variables.items() if k not in self.sensitive))


def start(
    flow: Flow,
    *,
    call_id: CallId,
    channel_id: ChannelId,
    ani: str,
    dnis: str,
    at: float,
    speech_languages: frozenset[str] = frozenset(),
) -> tuple[Session, list[Command]]:
    """A new session on `flow`, entered at its start node."""
    variables = {**flow.variables, "ani": ani, "dnis": dnis, "language": flow.default_language}
    session = Session(
        flow=flow,
        call_id=call_id,
        channel_id=channel_id,
        node=flow.start,
        variables=variables,
        speech_languages=speech_languages,
    )
    entered = IvrEntered(
        call_id=call_id,
        channel_id=channel_id,
        flow=flow.name,
        flow_version=flow.version,
        language=flow.default_language,
        at=at,
    )
    commands: list[Command] = [entered]
    session = _enter(session, flow.start, at, commands)
    return session, commands


def step(session: Session, event: Event) -> tuple[Session, list[Command]]:
    """Apply one event to a session; return the new session and the commands to execute."""
    if session.ended:
        raise IllegalTransition(f"call {session.call_id}: IVR session already ended; got {type(event).__name__}")
    commands: list[Command] = []
    if isinstance(event, CallerHungUp):
        ended = dataclasses.replace(session, ended=True, waiting="")
        commands.append(_exited(ended, "caller-hung-up", event.at))
        commands.append(Exit(outcome="caller-hung-up"))
        return ended, commands
    node = session.flow.node(session.node)
    expected = {
        "prompt": (PromptPlayed,),
        "final": (PromptPlayed,),
        "lookup": (LookupAnswered,),
        "input": (DigitsEntered, NoInput, SpeechHeard),
    }[session.waiting]
    if not isinstance(event, expected):
        raise IllegalTransition(
            f"call {session.call_id}: node {session.node!r} waits for "
            f"{' or '.join(e.__name__ for e in expected)}; got {type(event).__name__}"
        )
    if session.waiting == "final":
        return _finish(session, node, event.at, commands), commands
    if isinstance(event, PromptPlayed):
        return _enter(session, node["next"], event.at, commands), commands
    if isinstance(event, LookupAnswered):
        return _answer_lookup(session, node, event, commands), commands
    return _answer_input(session, node, event, commands), commands


# ------------------------------------------------------------------------------------------
# Entering nodes
# ------------------------------------------------------------------------------------------


def _enter(session: Session, node_id: str, at: float, commands: list[Command]) -> Session:
    """Move to `node_id` and pass through nodes that need no input, until one waits or ends."""
    for _ in range(MAX_HOPS):
        session = dataclasses.replace(session, node=node_id, attempts=0, dtmf_only=False, path=(*session.path, node_id))
        node = session.flow.node(node_id)
        kind = node["type"]
        if kind == "set":
            session = _assign(session, node["variables"])
            node_id = node["next"]
        elif kind == "condition":
            node_id = next((b["next"] for b in node["branches"] if _holds(session, b["if"], at)), node["else"])
        elif kind in ("subflow", "return"):
            node_id = node["next"]
        elif kind == "ask" and session.language not in session.speech_languages:
            node_id = node["fallback"]  # a speech-only question with no recognizer: its DTMF path
        elif kind == "lookup":
            commands.append(Lookup(query=node["query"], key=_render(session, node["key"])))
            return dataclasses.replace(session, waiting="lookup")
        elif kind == "play":
            commands.append(Play(prompts=_prompts(session, node.get("prompt")), say=_say(session, node)))
            return dataclasses.replace(session, waiting="prompt")
        elif kind in ("menu", "collect", "ask", "confirm"):
            commands.append(_ask(session, node, ()))
            return dataclasses.replace(session, waiting="input")
        elif "prompt" in node:  # a terminal node that says something first
            commands.append(Play(prompts=_prompts(session, node["prompt"])))
            return dataclasses.replace(session, waiting="final")
        else:
            return _finish(session, node, at, commands)
    return _end(session, "failed", at, commands, hangup=True)


def _ask(session: Session, node: Mapping[str, Any], before: tuple[str, ...]) -> Command:
    """The input command for an asking node, with `before` prompts (no-input/no-match) first."""
    kind = node["type"]
    prompts = _prompts(session, [*before, *prompt_names(node["prompt"])])
    timeout_s = float(node.get("timeout_s", DEFAULT_TIMEOUT_S))
    say = _say(session, node)
    lang = session.language
    speech = (
        lang in session.speech_languages
        and not session.dtmf_only
        and bool(node.get("speech", kind in ("ask", "confirm") or any("say" in o for o in node.get("options", ()))))
    )
    if kind == "menu":
        keys = "".join(sorted({c for o in node["options"] for c in o["key"]}))
        max_digits = max(len(o["key"]) for o in node["options"])
        grammar = tuple(p for o in node["options"] for p in o.get("say", {}).get(lang, ()))
        if speech and grammar:  # no phrases in this language: keys only
            return Listen(prompts=prompts, language=lang, grammar=grammar, dtmf_keys=keys, max_digits=max_digits, timeout_s=timeout_s)
        return GetDigits(prompts=prompts, max_digits=max_digits, timeout_s=timeout_s, terminator="")
    if kind == "collect":
        masked = bool(node.get("mask", False))
        if speech and lang in DIGIT_WORDS:
            return Listen(
                prompts=prompts,
                language=lang,
                grammar=DIGIT_WORDS[lang],
                sequence=True,
                dtmf_keys="0123456789*#",
                max_digits=node["max_digits"],
                timeout_s=timeout_s,
                masked=masked,
            )
        return GetDigits(
            prompts=prompts, max_digits=node["max_digits"], timeout_s=timeout_s, terminator=node.get("terminator", "#"), masked=masked
        )
    if kind == "confirm":
        if speech and lang in YES_NO:
            yes, no = YES_NO[lang]
            return Listen(prompts=prompts, language=lang, grammar=(*yes, *no), dtmf_keys="12", timeout_s=timeout_s, say=say)
        return GetDigits(prompts=prompts, max_digits=1, timeout_s=timeout_s, terminator="", say=say)
    # ask: speech only (its DTMF path is `fallback`)
    grammar = node.get("grammar", {}).get(lang)
    return Listen(
        prompts=prompts,
        language=lang,
        grammar=tuple(grammar) if grammar else None,
        timeout_s=timeout_s,
        max_s=float(node.get("max_s", 10.0)),
    )


# ------------------------------------------------------------------------------------------
# Answers
# ------------------------------------------------------------------------------------------


def _answer_lookup(session: Session, node: Mapping[str, Any], event: LookupAnswered, commands: list[Command]) -> Session:
    if event.values is None:
        return _enter(session, node["not_found"], event.at, commands)
    session = dataclasses.replace(session, variables={**session.variables, **event.values})
    return _enter(session, node["next"], event.at, commands)


def _answer_input(
    session: Session, node: Mapping[str, Any], event: DigitsEntered | NoInput | SpeechHeard, commands: list[Command]
) -> Session:
    kind = node["type"]
    masked = bool(node.get("mask", False))
    if isinstance(event, NoInput):
        commands.append(_input(session, "timeout", "", None, event.at))
        return _retry(session, node, "no_input", event.at, commands)
    speech = isinstance(event, SpeechHeard)
    raw = event.text if isinstance(event, SpeechHeard) else event.digits
    confidence = event.confidence if isinstance(event, SpeechHeard) else None
    if isinstance(event, SpeechHeard) and event.confidence < event.threshold:
        commands.append(_input(session, "no-match", _mask(raw) if masked else raw, confidence, event.at))
        return _retry(dataclasses.replace(session, dtmf_only=True), node, "no_match", event.at, commands)
    target, value, assignments = _interpret(session, node, raw, speech)
    if target is None:
        commands.append(_input(session, "no-match", _mask(raw) if masked else raw, confidence, event.at))
        return _retry(session, node, "no_match", event.at, commands)
    shown = _mask(value) if masked else value
    commands.append(_input(session, "speech" if speech else "dtmf", shown, confidence, event.at))
    if kind in ("collect", "ask"):
        assignments = {node["variable"]: value}
    session = dataclasses.replace(
        session,
        variables={**session.variables, **assignments},
        sensitive=session.sensitive | ({node["variable"]} if masked else set()),
    )
    return _enter(session, target, event.at, commands)


def _interpret(session: Session, node: Mapping[str, Any], raw: str, speech: bool) -> tuple[str | None, str, dict[str, str]]:
    """(next node, the value understood, variables to set); next node None when the answer is no match."""
    kind = node["type"]
    lang = session.language
    if kind == "menu":
        options = node["options"]
        if speech:
            index = match_phrases(raw, [o.get("say", {}).get(lang, ()) for o in options])
        else:
            index = next((i for i, o in enumerate(options) if o["key"] == raw), None)
        if index is None:
            return None, raw, {}
        option = options[index]
        return option["next"], option["key"], {k: _render(session, v) for k, v in option.get("set", {}).items()}
    if kind == "confirm":
        yes, no = YES_NO.get(lang, ((), ()))
        answer = match_phrases(raw, [yes, no]) if speech else {"1": 0, "2": 1}.get(raw)
        if answer is None:
            return None, raw, {}
        return (node["yes"], "yes", {}) if answer == 0 else (node["no"], "no", {})
    if kind == "collect":
        digits = spoken_digits(raw, lang) if speech else raw.rstrip("#*")
        if digits is None or not _valid_digits(node, digits):
            return None, raw, {}
        return node["next"], digits, {}
    # ask: with a grammar the answer is the one phrase heard, without it the whole text
    text = " ".join(raw.split())
    grammar = node.get("grammar", {}).get(lang)
    if grammar:
        index = match_phrases(text, [[p] for p in grammar])
        return (None, raw, {}) if index is None else (node["next"], grammar[index], {})
    return (node["next"], text, {}) if text else (None, raw, {})


def _valid_digits(node: Mapping[str, Any], digits: str) -> bool:
    if not node.get("min_digits", 1) <= len(digits) <= node["max_digits"] or not digits.isdigit():
        return False
    pattern = node.get("pattern")
    return pattern is None or re.fullmatch(pattern, digits) is not None


def _retry(session: Session, node: Mapping[str, Any], reason: str, at: float, commands: list[Command]) -> Session:
    attempts = session.attempts + 1
    if attempts > int(node.get("retries", DEFAULT_RETRIES)):
        if node["type"] == "ask":
            return _enter(session, node["fallback"], at, commands)
        if "on_failure" in node:
            return _enter(session, node["on_failure"], at, commands)
        return _end(session, "hangup", at, commands, hangup=True)
    session = dataclasses.replace(session, attempts=attempts)
    commands.append(_ask(session, node, tuple(prompt_names(node.get(reason)))))
    return session


# ------------------------------------------------------------------------------------------
# Leaving the IVR
# ------------------------------------------------------------------------------------------


def _finish(session: Session, node: Mapping[str, Any], at: float, commands: list[Command]) -> Session:
    kind = node["type"]
    if kind == "route":
        routing = {k: _render(session, v) for k, v in node.get("inputs", {}).items()}
        routing.setdefault("language", session.language)
        for name in ("tier", "customer_id"):
            if name in session.variables:
                routing.setdefault(name, session.variables[name])
        if "queue" in node:
            routing["queue"] = node["queue"]
        _channel_vars(session, commands, {"CC_IVR_QUEUE": node.get("queue", "")})
        return _end(session, "route", at, commands, routing=routing)
    if kind == "transfer":
        target = _render(session, node["to"])
        _channel_vars(session, commands, {"CC_IVR_TARGET": target})
        return _end(session, "transfer", at, commands, target=target)
    if kind == "voicemail":
        _channel_vars(session, commands, {"CC_IVR_TARGET": node["mailbox"]})
        commands.append(Exec(app="VoiceMail", args=f"{node['mailbox']},s"))
        return _end(session, "voicemail", at, commands, target=node["mailbox"], hangup=True)
    if kind == "callback":
        number = _render(session, node.get("number", "${ani}"))
        _channel_vars(session, commands, {"CC_IVR_TARGET": number})
        return _end(session, "callback", at, commands, target=number, hangup=True)
    return _end(session, "hangup", at, commands, hangup=True)


def _channel_vars(session: Session, commands: list[Command], extra: Mapping[str, str]) -> None:
    values = {"CC_IVR_LANGUAGE": session.language, **{k: v for k, v in extra.items() if v}}
    for name, value in values.items():
        commands.append(SetVariable(channel_id=session.channel_id, name=name, value=value))


def _end(
    session: Session,
    outcome: str,
    at: float,
    commands: list[Command],
    *,
    routing: Mapping[str, str] | None = None,
    target: str = "",
    hangup: bool = False,
) -> Session:
    ended = dataclasses.replace(session, ended=True, waiting="")
    # The dialplan's contract (asterisk_conf/extensions.conf): "hangup" ends the call there, any
    # other result continues to the agents.
    result = "hangup" if hangup else outcome
    commands.append(SetVariable(channel_id=session.channel_id, name="CC_IVR_RESULT", value=result))
    commands.append(_exited(ended, outcome, at))
    if hangup:
        commands.append(Hangup(channel_id=session.channel_id))
    commands.append(Exit(outcome=outcome, routing=dict(routing or {}), target=target))
    return ended


def _exited(session: Session, outcome: str, at: float) -> IvrExited:
    return IvrExited(
        call_id=session.call_id,
        flow=session.flow.name,
        path=session.path,
        outcome=outcome,
        variables=session.public_variables(),
        at=at,
    )


# ------------------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------------------


def _input(session: Session, kind: str, value: str, confidence: float | None, at: float) -> IvrInput:
    return IvrInput(call_id=session.call_id, node=session.node, kind=kind, value=value, confidence=confidence, at=at)


def _mask(value: str) -> str:
    return "*" * len(value)


def _render(session: Session, template: Any) -> str:
    return _TEMPLATE.sub(lambda m: session.variables.get(m[1], ""), str(template))


def _assign(session: Session, assignments: Mapping[str, Any]) -> Session:
    values = {k: _render(session, v) for k, v in assignments.items()}
    return dataclasses.replace(session, variables={**session.variables, **values})


def _prompts(session: Session, names: Any) -> tuple[PromptRef, ...]:
    out = []
    for name in prompt_names(names):
        langs = session.flow.prompts[name]
        lang = session.language if session.language in langs else session.flow.default_language
        out.append(PromptRef(session.flow.name, name, lang, langs[lang]))
    return tuple(out)


def _say(session: Session, node: Mapping[str, Any]) -> SayValue | None:
    say = node.get("say")
    if not isinstance(say, Mapping):
        return None
    return SayValue(_render(session, say["value"]), say.get("as", "number"), session.language)


def _holds(session: Session, cond: Mapping[str, Any], at: float) -> bool:
    """Evaluate one condition; a mapping with several tests holds when all of them do."""
    results = []
    value = session.variables.get(cond["var"]) if "var" in cond else None
    if "equals" in cond:
        results.append(value == _render(session, cond["equals"]))
    if "in" in cond:
        results.append(value in {_render(session, v) for v in cond["in"]})
    if "matches" in cond:
        results.append(value is not None and re.fullmatch(cond["matches"], value) is not None)
    if "exists" in cond:
        results.append((value is not None and value != "") == cond["exists"])
    if "time" in cond or "holiday" in cond:
        local = datetime.fromtimestamp(at, ZoneInfo(session.flow.timezone))
        if "holiday" in cond:
            results.append((local.date().isoformat() in session.flow.holidays) == cond["holiday"])
        if "time" in cond:
            spec = cond["time"]
            hhmm = local.strftime("%H:%M")
            ok = spec.get("from", "00:00") <= hhmm < spec.get("to", "24:00")
            results.append(ok and _DAYS[local.weekday()] in spec.get("days", _DAYS))
    if "all" in cond:
        results.append(all(_holds(session, c, at) for c in cond["all"]))
    if "any" in cond:
        results.append(any(_holds(session, c, at) for c in cond["any"]))
    if "not" in cond:
        results.append(not _holds(session, cond["not"], at))
    return all(results)
