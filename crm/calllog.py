"""Call logging: domain events in, one call record per call out.

Theory of operation
-------------------
* `CallRecordBuilder` is a pure core. `feed(event)` folds one domain event of
  callcenter/events.py into the draft of its call (keyed by `call_id`, the Linkedid) and returns
  the records that became complete; `expire(now)` returns drafts that waited too long for their
  last event. No I/O, no clock: times come from the events' `at` and from `now`.
* A call is complete when it has ended (`CallEnded`) and either no agent answered it, or the agent
  finished wrap-up (`WrapUpEnded`, which carries the disposition and notes). An answered call whose
  wrap-up never comes (the agent logged out, a lost event) is completed by `expire` after
  `wrap_up_timeout_s`; a call that never ends (a lost `CallEnded`) after `stale_call_s`.
* Rule 0: a call is answered by `CallAnswered`, or by the ACD's `AgentStateChanged` to on-call
  naming the call; one bridged without either (a direct extension call) counts as answered at its
  first bridge, with no agent and no wrap-up. An offer is a `CallOffered` or the ACD's
  `RoutingDecided` (counted once per decision id). Wrap-up ends with `WrapUpEnded` (which
  carries disposition and notes) or the agent's `AgentStateChanged` out of wrap-up, whichever
  comes first.
* Rule 1: the first time of each milestone wins (first queued, first offered, first answered); a
  ring-no-answer re-offer counts in `offers`, not in `offered_at`.
* Rule 2: durations are derived once, at completion:
  wait = answered (or abandon, or end) - queued (or arrived when never queued);
  hold = sum of held intervals on any channel; talk = answered -> ended minus hold;
  wrap-up = ended -> wrap-up ended.
* Rule 3: the outcome is, in order: answered; sent to fallback; abandoned; overflowed (to a queue
  that never answered); self-service (ended in the IVR, never queued); failed (an outbound call
  nobody answered); else abandoned (queued, then the caller hung up with no explicit event).
* Rule 4: an event for a call that was already logged (a late hang-up of a second channel) is
  ignored, for the last `REMEMBERED_CALLS` calls, so it cannot start a second, partial record.
* Every event with a `call_id` is kept (its `to_json` form) for the `call_events` table, up to
  `MAX_EVENTS_PER_CALL`, so one runaway call cannot eat the memory.

`CallLogger` is the adapter: it reads the bus, feeds the builder and hands finished records to
the outbox (crm/outbox.py), which writes them to the database. It never touches the database, so
a database failure never reaches a call in progress.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from callcenter import events as ev
from callcenter.bus import EventBus
from callcenter.events import AgentState, CallOutcome, Direction, HangupSide

if TYPE_CHECKING:  # the outbox imports this module's record type
    from crm.outbox import Outbox

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_CALL = 1000
MAX_JOURNALING = 1000  # journal entries on their way to disk at once; past that the logger waits
REMEMBERED_CALLS = 10_000  # finished call ids whose stragglers are ignored


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecordData:
    """A finished call as the outbox journals it; times are epoch seconds (the events' `at`)."""

    call_id: str
    direction: str
    ani: str = ""
    dnis: str = ""
    caller_name: str = ""
    customer_id: int | None = None
    arrived_at: float
    ivr_exited_at: float | None = None
    queued_at: float | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    wrap_up_ended_at: float | None = None
    wait_s: float = 0.0
    talk_s: float = 0.0
    hold_s: float = 0.0
    wrap_up_s: float = 0.0
    queue: str | None = None
    agent_id: str | None = None
    offers: int = 0
    priority_class: str = ""
    ivr_flow: str = ""
    ivr_path: tuple[str, ...] = ()
    routing_summary: str = ""
    transfers: tuple[dict[str, Any], ...] = ()
    overflowed_to: str | None = None
    fallback_reason: str = ""
    hangup_side: str = HangupSide.UNKNOWN.value
    hangup_cause: int | None = None
    hangup_cause_txt: str = ""
    disposition: str = ""
    notes: str = ""
    recording_id: str | None = None
    outcome: str
    events: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        # Shallow on purpose: the events are already JSON dicts, and asdict's deep copy of them
        # was most of the cost of journaling a call.
        out = {f.name: getattr(self, f.name) for f in _RECORD_FIELDS}
        out["ivr_path"] = list(self.ivr_path)
        out["transfers"] = list(self.transfers)
        out["events"] = list(self.events)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallRecordData:
        fields = dict(data)
        fields["ivr_path"] = tuple(fields.get("ivr_path", ()))
        fields["transfers"] = tuple(fields.get("transfers", ()))
        fields["events"] = tuple(fields.get("events", ()))
        return cls(**fields)


_RECORD_FIELDS = dataclasses.fields(CallRecordData)
_RECORD_DEFAULTS = {f.name: f.default for f in _RECORD_FIELDS if f.default is not dataclasses.MISSING}
_RECORD_REQUIRED = frozenset(f.name for f in _RECORD_FIELDS) - frozenset(_RECORD_DEFAULTS)


def complete_record_json(data: dict[str, Any]) -> dict[str, Any]:
    """`data` (a `CallRecordData.to_json`, possibly from an older writer) with defaults filled in;
    a missing required field or an unknown one raises TypeError, which the outbox treats as
    permanent. Cheaper than a round trip through the dataclass, on the writer's hot path."""
    missing = _RECORD_REQUIRED - data.keys()
    unknown = data.keys() - _RECORD_DEFAULTS.keys() - _RECORD_REQUIRED
    if missing or unknown:
        raise TypeError(f"call record {data.get('call_id')!r}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    return {**_RECORD_DEFAULTS, **data}


@dataclass(slots=True)
class _Draft:
    call_id: str
    arrived_at: float
    direction: str = Direction.INBOUND.value
    ani: str = ""
    dnis: str = ""
    caller_name: str = ""
    customer_id: int | None = None
    ivr_exited_at: float | None = None
    queued_at: float | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    bridged_at: float | None = None
    ended_at: float | None = None
    wrap_up_ended_at: float | None = None
    abandoned_at: float | None = None
    abandoned_wait_s: float | None = None
    queue: str | None = None
    agent_id: str | None = None
    offers: int = 0
    decisions: set[str] = field(default_factory=set)  # offers already counted, by decision id
    priority_class: str = ""
    ivr_flow: str = ""
    ivr_path: tuple[str, ...] = ()
    routing_summary: str = ""
    transfers: list[dict[str, Any]] = field(default_factory=list)
    overflowed_to: str | None = None
    fallback_reason: str | None = None
    held_since: dict[str, float] = field(default_factory=dict)
    hold_s: float = 0.0
    hangup_side: str = HangupSide.UNKNOWN.value
    hangup_cause: int | None = None
    hangup_cause_txt: str = ""
    disposition: str = ""
    notes: str = ""
    recording_id: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    last_at: float = 0.0


def _customer_id(value: str | None) -> int | None:
    # Customer ids are the CRM's integer keys written as text (CustomerId); anything else is not ours.
    return int(value) if value and value.isdigit() else None


class CallRecordBuilder:
    """Folds domain events into call records (see the theory of operation above)."""

    def __init__(self, *, wrap_up_timeout_s: float = 600.0, stale_call_s: float = 6 * 3600.0) -> None:
        self._drafts: dict[str, _Draft] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._wrap_up_timeout_s = wrap_up_timeout_s
        self._stale_call_s = stale_call_s

    @property
    def in_progress(self) -> int:
        return len(self._drafts)

    def feed(self, event: object) -> list[CallRecordData]:
        call_id = getattr(event, "call_id", None)
        if call_id is None and (
            isinstance(event, ev.WrapUpEnded)
            or (isinstance(event, ev.AgentStateChanged) and event.old is AgentState.WRAP_UP)
        ):
            call_id = self._call_in_wrap_up(event.agent_id)
        if not isinstance(call_id, str) or call_id in self._finished:
            return []
        draft = self._drafts.get(call_id)
        if draft is None:
            if isinstance(event, ev.WrapUpEnded | ev.AgentStateChanged) or not hasattr(event, "at"):
                return []  # an agent event for a call already logged (or never seen), or a command
            draft = self._drafts[call_id] = _Draft(call_id=call_id, arrived_at=event.at)
        at: float | None = getattr(event, "at", None)
        if at is not None:
            draft.last_at = max(draft.last_at, at)
            if len(draft.events) < MAX_EVENTS_PER_CALL:
                payload = ev.to_json(event)
                payload["call_id"] = call_id  # agent events may name their call only implicitly
                draft.events.append(payload)
        self._apply(draft, event)
        if self._is_complete(draft):
            return [self._finish(call_id)]
        return []

    def expire(self, now: float) -> list[CallRecordData]:
        """Finish drafts whose wrap-up or end is overdue; a log must not wait forever."""
        overdue = [
            d.call_id
            for d in self._drafts.values()
            if (d.ended_at is not None and now - d.ended_at >= self._wrap_up_timeout_s)
            or (d.ended_at is None and now - d.last_at >= self._stale_call_s)
        ]
        return [self._finish(call_id) for call_id in overdue]

    def flush(self) -> list[CallRecordData]:
        """Finish every draft as it stands (at shutdown), so nothing seen is lost."""
        return [self._finish(call_id) for call_id in list(self._drafts)]

    # -- folding --------------------------------------------------------------------------------

    def _call_in_wrap_up(self, agent_id: str) -> str | None:
        for d in self._drafts.values():
            if d.agent_id == agent_id and d.ended_at is not None and d.answered_at is not None:
                return d.call_id
        return None

    def _apply(self, d: _Draft, e: object) -> None:
        match e:
            case ev.CallArrived():
                d.arrived_at = min(d.arrived_at, e.at)
                d.ani, d.dnis, d.direction, d.caller_name = e.ani, e.dnis, e.direction.value, e.caller_name
            case ev.IvrEntered():
                d.ivr_flow = e.flow
            case ev.IvrExited():
                d.ivr_exited_at, d.ivr_path = e.at, e.path
                d.ivr_flow = d.ivr_flow or e.flow
            case ev.CallQueued():
                if d.queued_at is None:
                    d.queued_at = e.at
                d.queue = e.request.queue
                d.priority_class = e.request.priority_class
                d.routing_summary = "; ".join(s for s in (e.request.rule, e.request.explanation) if s)
                d.customer_id = _customer_id(e.customer_id) or d.customer_id
                d.ani = d.ani or e.ani
                d.dnis = d.dnis or e.dnis
            case ev.CallPriorityChanged():
                d.priority_class = e.priority_class
            case ev.CallOffered() | ev.RoutingDecided():
                self._offer(d, e.decision_id, e.queue, e.at)
                if isinstance(e, ev.RoutingDecided):
                    d.priority_class = d.priority_class or e.priority_class
            case ev.CallAnswered():
                self._answer(d, e.agent_id, e.at)
            case ev.AgentStateChanged():
                if e.new is AgentState.ON_CALL and e.call_id is not None:
                    self._answer(d, e.agent_id, e.at)
                if e.old is AgentState.WRAP_UP and d.wrap_up_ended_at is None:
                    d.wrap_up_ended_at = e.at
            case ev.ChannelBridged():
                if d.bridged_at is None:
                    d.bridged_at = e.at
            case ev.ChannelHeld():
                d.held_since.setdefault(e.channel_id, e.at)
            case ev.ChannelUnheld():
                since = d.held_since.pop(e.channel_id, None)
                if since is not None:
                    d.hold_s += max(0.0, e.at - since)
            case ev.CallTransferred():
                d.transfers.append({"kind": e.kind, "target": e.target, "by_agent": e.by_agent, "at": e.at})
            case ev.ChannelHungUp():
                # The last channel to go ends the call; a losing ring-group leg's "Answered
                # elsewhere" earlier on is not the call's cause.
                d.hangup_cause_txt = e.cause_txt
            case ev.CallEnded():
                d.ended_at = e.at
                d.hangup_side, d.hangup_cause = e.hangup_side.value, e.cause
                for since in d.held_since.values():
                    d.hold_s += max(0.0, e.at - since)
                d.held_since.clear()
            case ev.CallAbandoned():
                d.abandoned_at, d.abandoned_wait_s = e.at, e.waited_s
                d.queue = e.queue or d.queue
            case ev.CallOverflowed():
                d.overflowed_to = e.to_queue
                d.queue = e.to_queue
            case ev.CallSentToFallback():
                d.fallback_reason = e.reason or "fallback"
                d.queue = e.queue or d.queue
            case ev.WrapUpEnded():
                d.wrap_up_ended_at, d.disposition, d.notes = e.at, e.disposition, e.notes
            case ev.RecordingStarted():
                d.recording_id = d.recording_id or e.recording_id
            case _:
                pass  # kept in the event list; no field of the record depends on it

    @staticmethod
    def _offer(d: _Draft, decision_id: str | None, queue: str, at: float) -> None:
        # The ACD's RoutingDecided and a CallOffered may both describe one offer.
        if decision_id is None or decision_id not in d.decisions:
            d.offers += 1
        if decision_id is not None:
            d.decisions.add(decision_id)
        if d.offered_at is None:
            d.offered_at = at
        d.queue = queue

    @staticmethod
    def _answer(d: _Draft, agent_id: str, at: float) -> None:
        if d.answered_at is None:
            d.answered_at = at
            d.agent_id = agent_id

    @staticmethod
    def _is_complete(d: _Draft) -> bool:
        if d.ended_at is None:
            return False
        return d.answered_at is None or d.wrap_up_ended_at is not None

    def _finish(self, call_id: str) -> CallRecordData:
        d = self._drafts.pop(call_id)
        if d.answered_at is None and d.bridged_at is not None:
            d.answered_at = d.bridged_at  # connected without the ACD (a direct or transferred call)
        self._finished[call_id] = None
        if len(self._finished) > REMEMBERED_CALLS:
            self._finished.popitem(last=False)
        start = d.queued_at if d.queued_at is not None else d.arrived_at
        if d.answered_at is not None:
            wait = d.answered_at - start
        elif d.abandoned_wait_s is not None:
            wait = d.abandoned_wait_s
        elif d.queued_at is not None and d.ended_at is not None:
            wait = d.ended_at - d.queued_at
        else:
            wait = 0.0
        talk = 0.0
        if d.answered_at is not None and d.ended_at is not None:
            talk = max(0.0, d.ended_at - d.answered_at - d.hold_s)
        wrap = 0.0
        if d.wrap_up_ended_at is not None and d.ended_at is not None:
            wrap = max(0.0, d.wrap_up_ended_at - d.ended_at)
        return CallRecordData(
            call_id=d.call_id,
            direction=d.direction,
            ani=d.ani,
            dnis=d.dnis,
            caller_name=d.caller_name,
            customer_id=d.customer_id,
            arrived_at=d.arrived_at,
            ivr_exited_at=d.ivr_exited_at,
            queued_at=d.queued_at,
            offered_at=d.offered_at,
            answered_at=d.answered_at,
            ended_at=d.ended_at,
            wrap_up_ended_at=d.wrap_up_ended_at,
            wait_s=round(max(0.0, wait), 3),
            talk_s=round(talk, 3),
            hold_s=round(d.hold_s, 3),
            wrap_up_s=round(wrap, 3),
            queue=d.queue,
            agent_id=d.agent_id,
            offers=d.offers,
            priority_class=d.priority_class,
            ivr_flow=d.ivr_flow,
            ivr_path=d.ivr_path,
            routing_summary=d.routing_summary,
            transfers=tuple(d.transfers),
            overflowed_to=d.overflowed_to,
            fallback_reason=d.fallback_reason or "",
            hangup_side=d.hangup_side,
            hangup_cause=d.hangup_cause,
            hangup_cause_txt=d.hangup_cause_txt,
            disposition=d.disposition,
            notes=d.notes,
            recording_id=d.recording_id,
            outcome=self._outcome(d).value,
            events=tuple(d.events),
        )

    @staticmethod
    def _outcome(d: _Draft) -> CallOutcome:
        if d.answered_at is not None:
            return CallOutcome.ANSWERED
        if d.fallback_reason is not None:
            return CallOutcome.FALLBACK
        if d.abandoned_at is not None:
            return CallOutcome.ABANDONED
        if d.overflowed_to is not None:
            return CallOutcome.OVERFLOWED
        if d.queued_at is None and d.direction == Direction.INBOUND.value:
            return CallOutcome.SELF_SERVICE
        if d.queued_at is None:
            return CallOutcome.FAILED
        return CallOutcome.ABANDONED


# ------------------------------------------------------------------------------------------------
# The adapter
# ------------------------------------------------------------------------------------------------


class CallLogger:
    """Feeds bus events to the builder and journals finished records and agent states."""

    def __init__(
        self,
        bus: EventBus,
        outbox: Outbox,
        *,
        builder: CallRecordBuilder | None = None,
        expire_every_s: float = 30.0,
    ) -> None:
        self._sub = bus.subscribe("crm.calllog", policy="block")
        self._bus = bus
        self._outbox = outbox
        self.builder = builder or CallRecordBuilder()
        self._expire_every_s = expire_every_s
        self._journaling: set[asyncio.Task[None]] = set()
        self._room = asyncio.Semaphore(MAX_JOURNALING)

    @property
    def backlog(self) -> int:
        """Events published to the logger and not yet taken."""
        return self._sub.queue.qsize()

    async def run(self) -> None:
        """Consume until the subscription closes or the task is cancelled; then journal the drafts."""
        expiry = asyncio.create_task(self._expire_periodically())
        try:
            async for msg in self._sub:
                await self.handle(msg)
        finally:
            expiry.cancel()
            self._bus.unsubscribe(self._sub)
            # NOTE(crm): a call still in progress at shutdown is logged as it stands (outcome from
            # what was seen) rather than lost; events after a restart cannot be joined to it.
            for record in self.builder.flush():
                logger.info("call %s: logged unfinished at shutdown", record.call_id)
                await self._journal(self._outbox.put_call, record)
            await self.drain()

    async def _expire_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._expire_every_s)
            for record in self.builder.expire(time.time()):
                logger.warning("call %s: logged without its final event (timed out)", record.call_id)
                await self._journal(self._outbox.put_call, record)

    async def _journal(self, put: Callable[[Any], Awaitable[None]], item: object) -> None:
        """Start journaling `item` without waiting for the disk. Entries started close together
        share one commit and one fsync (the outbox's group commit), so a burst of hang-ups costs a
        few fsyncs rather than one after another; at most MAX_JOURNALING are in flight."""
        await self._room.acquire()
        task = asyncio.create_task(self._put(put, item))
        self._journaling.add(task)
        task.add_done_callback(self._journaled)

    def _journaled(self, task: asyncio.Task[None]) -> None:
        self._journaling.discard(task)
        self._room.release()

    async def drain(self) -> None:
        """Return when every entry started so far is on disk (or reported lost)."""
        while self._journaling:
            await asyncio.gather(*self._journaling)

    async def _put(self, put: Callable[[Any], Awaitable[None]], item: object) -> None:
        try:
            await put(item)
        except (OSError, sqlite3.Error):
            # The local journal itself failed (disk full, unwritable data dir): say so loudly, but
            # keep logging the next calls; the calls themselves are not affected.
            key = getattr(item, "call_id", None) or getattr(item, "agent_id", "?")
            logger.exception("%s: outbox journal write failed; this %s is lost", key, type(item).__name__)

    async def handle(self, msg: object) -> None:
        if isinstance(msg, ev.AgentStateChanged):
            await self._journal(self._outbox.put_agent_state, msg)
        for record in self.builder.feed(msg):
            logger.info("call %s: complete (%s), journaled", record.call_id, record.outcome)
            await self._journal(self._outbox.put_call, record)
