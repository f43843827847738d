"""What the CTI server knows about each live call, and the screen pop it builds from that.

Theory of operation
-------------------
`CallBook.apply(event)` folds the domain events of a call into its `CallContext`: ANI and DNIS
(`CallArrived`), the IVR flow, path and inputs (`IvrEntered`, `IvrInput`, `IvrExited`), queue,
class, customer and routing explanation (`CallQueued`, `RoutingDecided`), the agents involved
(`CallOffered`, `CallAnswered`, a dial to an agent's interface) and the recording id
(`RecordingStarted`). It does no I/O and reads no clock.

Rules
  1. A call belongs to every agent it was offered to (or that answered it); an agent sees only
     the calls that belong to them. Supervisors see every call.
  2. The screen pop goes out once per (call, agent): at `CallOffered`, or at `DialBegan` towards
     the agent's interface when no offer was seen first (a call that reached the agent without
     the ACD: a transfer, a direct dial). Both come before the agent picks up.
  3. Ended calls are kept for `keep_ended` more calls (REST look-ups and late events), then
     forgotten in order.
  4. The customer card is looked up (I/O, in `CardSource`) when the call is queued, so it is
     usually ready at the offer; `cti/app.py` does that and passes the card in.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

from acd.decision import format_records
from callcenter import events as ev
from callcenter.events import AgentId, CallId, PopCustomer, PopInteraction, ScreenPop

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class CallContext:
    call_id: CallId
    ani: str = ""
    dnis: str = ""
    arrived_at: float = 0.0
    direction: str = "inbound"
    ivr_flow: str = ""
    ivr_path: tuple[str, ...] = ()
    ivr_inputs: list[tuple[str, str]] = field(default_factory=list)
    queue: str | None = None
    priority_class: str = ""
    queued_at: float | None = None
    customer_id: str | None = None
    rule: str = ""
    explanation: str = ""
    decisions: list[ev.RoutingDecided] = field(default_factory=list)
    queued: ev.CallQueued | None = None
    recording_id: str | None = None
    agents: list[AgentId] = field(default_factory=list)  # offered to or answered by, in order
    popped: set[AgentId] = field(default_factory=set)
    answered_by: AgentId | None = None
    answered_at: float | None = None
    held: bool = False
    ended_at: float | None = None
    state: str = "arrived"  # arrived | ivr | queued | ringing | talking | held | ended

    def routing_summary(self) -> str:
        parts = [p for p in (self.rule and f"rule {self.rule}", self.explanation) if p]
        if self.decisions:
            d = self.decisions[-1]
            parts.append(
                f"{d.strategy} in {d.queue} among {d.candidate_count} agent(s), class {d.priority_class},"
                f" relaxation step {d.relaxation_step}"
            )
        return "; ".join(parts)

    def explanation_text(self) -> str:
        records = ([ev.to_json(self.queued)] if self.queued else []) + [ev.to_json(d) for d in self.decisions]
        return format_records(records)

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "ani": self.ani,
            "dnis": self.dnis,
            "direction": self.direction,
            "arrived_at": self.arrived_at,
            "state": self.state,
            "queue": self.queue,
            "priority_class": self.priority_class,
            "ivr_flow": self.ivr_flow,
            "ivr_path": list(self.ivr_path),
            "ivr_inputs": [list(p) for p in self.ivr_inputs],
            "customer_id": self.customer_id,
            "agents": list(self.agents),
            "answered_by": self.answered_by,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
            "recording_id": self.recording_id,
            "routing_summary": self.routing_summary(),
        }


class CallBook:
    """Live calls by id, with the owners of each (see the theory above)."""

    def __init__(self, *, keep_ended: int = 2000) -> None:
        self._calls: dict[CallId, CallContext] = {}
        self._ended: OrderedDict[CallId, None] = OrderedDict()
        self._keep_ended = keep_ended

    def get(self, call_id: str) -> CallContext | None:
        return self._calls.get(CallId(call_id))

    def all(self) -> list[CallContext]:
        return list(self._calls.values())

    def of_agent(self, agent_id: str) -> list[CallContext]:
        return [c for c in self._calls.values() if agent_id in c.agents]

    def _context(self, call_id: CallId, at: float) -> CallContext:
        ctx = self._calls.get(call_id)
        if ctx is None:
            ctx = self._calls[call_id] = CallContext(call_id=call_id, arrived_at=at)
        return ctx

    def apply(self, event: object) -> CallContext | None:
        """Fold one event; return the call it was about (None for other events)."""
        call_id = getattr(event, "call_id", None)
        at = getattr(event, "at", None)
        if not isinstance(call_id, str) or not isinstance(at, float):
            return None
        if call_id in self._ended and not isinstance(event, ev.WrapUpEnded):
            ctx = self._calls.get(CallId(call_id))
            return ctx  # late events of an ended call change nothing
        ctx = self._context(CallId(call_id), at)
        match event:
            case ev.CallArrived():
                ctx.ani, ctx.dnis, ctx.arrived_at = event.ani, event.dnis, event.at
                ctx.direction = event.direction.value
            case ev.IvrEntered():
                ctx.ivr_flow, ctx.state = event.flow, "ivr"
            case ev.IvrInput():
                ctx.ivr_inputs.append((event.node, event.value))
            case ev.IvrExited():
                ctx.ivr_flow, ctx.ivr_path = ctx.ivr_flow or event.flow, event.path
            case ev.CallQueued():
                req = event.request
                ctx.queued = event
                ctx.queue, ctx.priority_class, ctx.state = req.queue, req.priority_class, "queued"
                ctx.rule, ctx.explanation = req.rule, req.explanation
                ctx.queued_at = ctx.queued_at if ctx.queued_at is not None else event.at
                ctx.customer_id = event.customer_id or ctx.customer_id
                ctx.ani, ctx.dnis = ctx.ani or event.ani, ctx.dnis or event.dnis
            case ev.CallOverflowed():
                ctx.queue = event.to_queue
            case ev.RoutingDecided():
                ctx.decisions.append(event)
            case ev.CallOffered():
                ctx.queue = event.queue
                self._own(ctx, event.agent_id)
                ctx.state = "ringing"
            case ev.CallAnswered():
                self._own(ctx, event.agent_id)
                ctx.answered_by, ctx.answered_at, ctx.state = event.agent_id, event.at, "talking"
            case ev.ChannelHeld():
                ctx.held, ctx.state = True, "held"
            case ev.ChannelUnheld():
                ctx.held, ctx.state = False, "talking"
            case ev.RecordingStarted():
                ctx.recording_id = event.recording_id
            case ev.CallEnded():
                ctx.ended_at, ctx.state = event.at, "ended"
                self._end(ctx.call_id)
            case _:
                pass
        return ctx

    @staticmethod
    def _own(ctx: CallContext, agent_id: AgentId) -> None:
        if agent_id not in ctx.agents:
            ctx.agents.append(agent_id)

    def claim(self, call_id: CallId, agent_id: AgentId) -> None:
        """A dial towards the agent's phone without an offer (rule 2) makes the call theirs."""
        ctx = self._calls.get(call_id)
        if ctx is not None:
            self._own(ctx, agent_id)
            if ctx.state != "talking":
                ctx.state = "ringing"

    def _end(self, call_id: CallId) -> None:
        self._ended[call_id] = None
        while len(self._ended) > self._keep_ended:
            old, _ = self._ended.popitem(last=False)
            self._calls.pop(old, None)

    def should_pop(self, ctx: CallContext, agent_id: AgentId) -> bool:
        if agent_id in ctx.popped or ctx.ended_at is not None:
            return False
        ctx.popped.add(agent_id)
        return True


def build_pop(ctx: CallContext, agent_id: AgentId, customer: PopCustomer | None, *, now: float) -> ScreenPop:
    start = ctx.queued_at if ctx.queued_at is not None else ctx.arrived_at
    return ScreenPop(
        call_id=ctx.call_id,
        agent_id=agent_id,
        ani=ctx.ani,
        dnis=ctx.dnis,
        queue=ev.QueueName(ctx.queue) if ctx.queue else None,
        priority_class=ctx.priority_class,
        ivr_flow=ctx.ivr_flow,
        ivr_path=ctx.ivr_path,
        ivr_inputs=tuple(ctx.ivr_inputs),
        waited_s=round(max(0.0, now - start), 3),
        routing_summary=ctx.routing_summary(),
        customer=customer,
        recording_id=ev.RecordingId(ctx.recording_id) if ctx.recording_id else None,
        at=now,
    )


# -- customer cards ------------------------------------------------------------------------------


class CardSource(Protocol):
    async def by_customer_id(self, customer_id: str) -> PopCustomer | None: ...

    async def by_ani(self, ani: str) -> PopCustomer | None: ...


def _ts(value: dt.datetime) -> float:
    return value.timestamp()


def pop_customer(card: Any) -> PopCustomer:
    """A `crm.repositories.CustomerCard` as the screen pop shows it."""
    return PopCustomer(
        customer_id=card.id,
        account_number=card.account_number,
        name=card.name,
        tier=card.tier,
        segment=card.segment,
        balance=str(card.balance),
        plan=card.plan,
        language=card.language,
        open_complaints=card.open_complaints,
        last_interactions=tuple(
            PopInteraction(
                call_id=i.call_id,
                at=_ts(i.at),
                queue=i.queue,
                agent_id=i.agent_id,
                outcome=i.outcome,
                disposition=i.disposition,
            )
            for i in card.last_interactions
        ),
    )


class CrmCards:
    """Customer cards from the CRM (crm.repositories)."""

    def __init__(self, crm: Any) -> None:  # crm.service.Crm
        self._crm = crm

    async def by_customer_id(self, customer_id: str) -> PopCustomer | None:
        from crm.repositories import get_customer_card

        async with self._crm.sessions() as session:
            card = await get_customer_card(session, ev.CustomerId(customer_id), tiers=self._crm.tiers)
        return None if card is None else pop_customer(card)

    async def by_ani(self, ani: str) -> PopCustomer | None:
        from crm.repositories import lookup_by_ani

        async with self._crm.sessions() as session:
            card = await lookup_by_ani(session, ani, tiers=self._crm.tiers)
        return None if card is None else pop_customer(card)
