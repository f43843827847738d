"""The CTI service: the live picture (calls, agents, queues), the fan-out to WebSocket clients,
and the agents' and supervisors' actions as domain facts and commands.

Theory of operation
-------------------
One dispatcher task reads the bus (policy "block": the CTI must see every fact, and it never
awaits a socket, so it does not slow the bus). For each message, in order:

  1. `CallBook` and `LiveView` fold it (cti/screenpop.py, cti/supervisor.py);
  2. it is encoded once and delivered to the agents the call belongs to (or the agent it is
     about) and to every supervisor / wallboard (cti/ws.py; bounded queues, no awaiting);
  3. at an offer (or a dial towards a logged-in agent's phone) the agent gets `cti.screen-pop`.

Customer cards are looked up (CRM I/O) in their own task as soon as the call is known (by ANI at
`CallArrived`, by customer id at `CallQueued`), so the pop rarely waits. When it must, the pop
is sent by that task once the card is there (at most `card_wait_s` later, then without a card).

Preview dialing: the dialer's `PreviewOffered` goes to its agent like any agent fact, and the
CTI keeps each agent's open offer, so `preview-call` / `preview-skip` are accepted for that
offer only (`no-such-preview` otherwise) and become `PreviewAccepted` / `PreviewSkipped`.

Actions (`perform`) are validated (pydantic, `cti/api.py` models), checked against the caller's
role and calls, checked against the ACD's state table (`acd.state.transition`) for agent state
changes, and then either published as facts (AgentReady, WrapUpEnded, ...) for the ACD and the
CRM, or executed as commands through the PBX command port (Hold, BlindTransfer, ...). Errors are
`DomainError`s with a stable `error_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from acd.state import Trigger, transition
from callcenter import events as ev
from callcenter.bus import EventBus, Subscription
from callcenter.errors import CallCtlError, DomainError, IllegalTransition
from callcenter.events import AgentId, AgentState, CallId, ChannelId, PopCustomer, QueueName
from cti import api_models as m
from cti.auth import Claims
from cti.screenpop import CallBook, CallContext, CardSource, build_pop
from cti.supervisor import LiveView, spy_command
from cti.ws import Client, Hub, encode

logger = logging.getLogger(__name__)


class CommandPort(Protocol):
    async def execute(self, command: Any) -> object: ...


class CallLookup(Protocol):
    """What the service reads from `pbx.calls.CallTracker`."""

    def call(self, call_id: CallId) -> Any: ...

    def caller_channel(self, call_id: CallId) -> ChannelId | None: ...

    def channel_name(self, channel_id: ChannelId) -> str | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CtiConfig:
    client_queue_size: int = 1000
    stats_interval_s: float = 1.0
    card_wait_s: float = 1.0
    number_context: str = "agents"  # where a transferred caller dials a PSTN number (`_X.` -> trunk)
    agent_context: str = "cc-agent"  # where an attended transfer dials an agent's extension
    wait_context: str = "acd-wait"  # where a caller transferred to a queue waits
    ring_timeout_s: float = 15.0
    service_levels: Mapping[str, float] | None = None


NOT_YOURS = "no-such-call"


class CtiService:
    def __init__(
        self,
        *,
        bus: EventBus,
        commands: CommandPort,
        calls: CallLookup,
        cards: CardSource,
        config: CtiConfig = CtiConfig(),
        directory: Mapping[str, str] | None = None,  # agent id -> phone interface (from the CRM)
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self.commands = commands
        self.tracker = calls
        self.cards = cards
        self.config = config
        self.directory = dict(directory or {})
        self.clock = clock
        self.hub = Hub(queue_size=config.client_queue_size)
        self.book = CallBook()
        self.live = LiveView(dict(config.service_levels or {}))
        self._card_tasks: dict[CallId, asyncio.Task[PopCustomer | None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._sub: Subscription | None = None
        self._late_pops: set[asyncio.Task[None]] = set()  # referenced until done (asyncio keeps weak refs)
        self._interfaces: dict[str, AgentId] = {}  # logged-in phone interface -> agent
        self._previews: dict[AgentId, ev.PreviewOffered] = {}  # each agent's open preview offer
        self.dispatched = 0
        self.pops = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._sub = self.bus.subscribe("cti", maxsize=10_000, policy="block")
        self._tasks = [
            asyncio.create_task(self._dispatch(self._sub), name="cti.dispatch"),
            asyncio.create_task(self._publish_stats(), name="cti.stats"),
        ]

    async def stop(self) -> None:
        if self._sub is not None:
            self.bus.unsubscribe(self._sub)  # a "block" subscriber nobody reads would stall the bus
            self._sub = None
        for task in [*self._tasks, *self._card_tasks.values()]:
            task.cancel()
        for task in [*self._tasks, *self._card_tasks.values()]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.hub.close_all()

    def status(self) -> dict[str, Any]:
        running = bool(self._tasks) and not any(t.done() for t in self._tasks)
        return {
            "ok": running,
            "clients": len(self.hub.clients),
            "agents_connected": self.hub.agents_connected(),
            "dispatched": self.dispatched,
            "screen_pops": self.pops,
            "clients_closed_slow": self.hub.closed_slow,
            "live_calls": len(self.book.all()),
        }

    # -- the dispatcher -------------------------------------------------------------------------

    async def _dispatch(self, sub: Any) -> None:
        async for msg in sub:
            try:
                self.handle(msg)
            except Exception:  # one bad event must not stop the desktops
                logger.exception("cti: event %s could not be dispatched", type(msg).__name__)

    def handle(self, msg: object) -> None:
        """Fold one bus message and fan it out (synchronous: never awaits a client)."""
        self.dispatched += 1
        ctx = self.book.apply(msg)
        self.live.apply(msg)
        match msg:
            case ev.AgentLoggedIn():
                self._interfaces[msg.interface] = msg.agent_id
            case ev.AgentLoggedOut():
                self._interfaces = {i: a for i, a in self._interfaces.items() if a != msg.agent_id}
            case ev.CallArrived() if msg.ani:
                self._fetch_card(msg.call_id, self.cards.by_ani(msg.ani))
            case ev.CallQueued() if msg.customer_id and msg.call_id not in self._card_tasks:
                self._fetch_card(msg.call_id, self.cards.by_customer_id(msg.customer_id))
            case ev.PreviewOffered():
                self._previews[msg.agent_id] = msg
            case ev.PreviewWithdrawn():
                offer = self._previews.get(msg.agent_id)
                if offer is not None and offer.contact_id == msg.contact_id:
                    del self._previews[msg.agent_id]
            case _:
                pass
        frame = encode(msg)
        agent_id = getattr(msg, "agent_id", None)
        if ctx is not None:
            self.hub.to_agents(ctx.agents, frame)
        elif isinstance(agent_id, str):
            self.hub.to_agents((AgentId(agent_id),), frame)
        else:
            self.hub.to_watchers(frame)
        if ctx is None:
            return
        if isinstance(msg, ev.CallOffered):
            self._pop(ctx, msg.agent_id)
        elif isinstance(msg, ev.DialBegan):
            name = self.tracker.channel_name(msg.dest_channel_id) or ""
            agent = self._interfaces.get(name.rsplit("-", 1)[0])
            if agent is not None and agent not in ctx.popped:
                self.book.claim(ctx.call_id, agent)
                self._pop(ctx, agent)
        elif isinstance(msg, ev.CallEnded):
            task = self._card_tasks.pop(ctx.call_id, None)
            if task is not None and not task.done():
                task.cancel()

    def _fetch_card(self, call_id: CallId, fetch: Awaitable[PopCustomer | None]) -> None:
        async def run() -> PopCustomer | None:
            try:
                return await fetch
            except Exception:
                logger.exception("call %s: customer card look-up failed; popping without it", call_id)
                return None

        self._card_tasks[call_id] = asyncio.get_running_loop().create_task(run(), name=f"cti.card-{call_id}")

    def _pop(self, ctx: CallContext, agent_id: AgentId) -> None:
        if not self.book.should_pop(ctx, agent_id):
            return
        lookup = self._card_tasks.get(ctx.call_id)
        if lookup is None or lookup.done():
            card = lookup.result() if lookup is not None and not lookup.cancelled() else None
            self._send_pop(ctx, agent_id, card)
            return
        pending: asyncio.Task[PopCustomer | None] = lookup

        async def later() -> None:
            card = None
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                card = await asyncio.wait_for(asyncio.shield(pending), self.config.card_wait_s)
            self._send_pop(ctx, agent_id, card)

        task = asyncio.get_running_loop().create_task(later(), name=f"cti.pop-{ctx.call_id}")
        self._late_pops.add(task)
        task.add_done_callback(self._late_pops.discard)

    def _send_pop(self, ctx: CallContext, agent_id: AgentId, card: PopCustomer | None) -> None:
        self.pops += 1
        pop = build_pop(ctx, agent_id, card, now=self.clock())
        self.hub.to_agents((agent_id,), encode(pop))
        logger.info("call %s: screen pop for agent %s", ctx.call_id, agent_id)

    async def _publish_stats(self) -> None:
        while True:
            await asyncio.sleep(self.config.stats_interval_s)
            now = self.clock()
            self.hub.to_watchers(encode(ev.QueueStatsPublished(queues=self.live.queue_snapshots(now), at=now)))

    # -- queries --------------------------------------------------------------------------------

    def visible_call(self, claims: Claims, call_id: str) -> CallContext:
        ctx = self.book.get(call_id)
        if ctx is None or not (claims.is_supervisor or claims.agent_id in ctx.agents):
            raise DomainError(NOT_YOURS, f"no call {call_id!r} among your calls", call_id=call_id)
        return ctx

    def visible_customer(self, claims: Claims, customer_id: str) -> None:
        if claims.is_supervisor:
            return
        for ctx in self.book.of_agent(claims.agent_id):
            if ctx.customer_id == customer_id:
                return
        raise DomainError(
            "no-such-customer", f"no customer {customer_id!r} among your calls' customers", customer_id=customer_id
        )

    async def customer_card(self, claims: Claims, customer_id: str) -> PopCustomer:
        self.visible_customer(claims, customer_id)
        card = await self.cards.by_customer_id(customer_id)
        if card is None:
            raise DomainError("no-such-customer", f"no customer {customer_id!r}", customer_id=customer_id)
        return card

    def calls_of(self, claims: Claims) -> list[CallContext]:
        return self.book.all() if claims.is_supervisor else self.book.of_agent(claims.agent_id)

    def agent_stats(self, agent_id: str) -> dict[str, Any]:
        now = self.clock()
        a = self.live.peek(AgentId(agent_id))
        data = a.to_json(now)
        data["calls"] = len(self.book.of_agent(agent_id))
        return data

    # -- actions --------------------------------------------------------------------------------

    async def perform(self, claims: Claims, action: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and carry out one request; return its result or raise `DomainError`."""
        spec = m.ACTIONS.get(action)
        if spec is None:
            raise DomainError(
                "unknown-action", f"unknown action {action!r}; expected one of {', '.join(sorted(m.ACTIONS))}"
            )
        model, supervisor_only = spec
        if supervisor_only and not claims.is_supervisor:
            raise DomainError("forbidden", f"action {action!r} needs the supervisor role", action=action)
        request = m.validate(model, data, action)
        handler: Callable[[Claims, Any], Awaitable[dict[str, Any]]] = getattr(self, "_do_" + action.replace("-", "_"))
        try:
            result = await handler(claims, request)
        except DomainError:
            raise
        except (CallCtlError, OSError) as exc:
            raise DomainError("pbx-error", f"the PBX refused {action!r}: {exc}", action=action) from exc
        logger.info("agent %s: %s done", claims.agent_id, action)
        return result

    def _check_state(self, agent_id: AgentId, trigger: Trigger, event_name: str) -> None:
        state = self.live.peek(agent_id).state
        try:
            transition(agent_id, state, trigger, event_name)
        except IllegalTransition as exc:
            raise DomainError("illegal-state", str(exc), agent_id=agent_id, state=state.value) from None

    async def _change_state(self, agent_id: AgentId, interface: str, state: str, reason: str) -> dict[str, Any]:
        now = self.clock()
        fact: object
        if state == "logged-in":
            if not interface:
                raise DomainError("no-phone", f"agent {agent_id} has no phone interface to log in with")
            self._check_state(agent_id, Trigger.LOGIN, "AgentLoggedIn")
            fact = ev.AgentLoggedIn(agent_id=agent_id, interface=interface, at=now)
        elif state == "ready":
            self._check_state(agent_id, Trigger.READY, "AgentReady")
            fact = ev.AgentReady(agent_id=agent_id, at=now)
        elif state == "not-ready":
            self._check_state(agent_id, Trigger.NOT_READY, "AgentNotReady")
            fact = ev.AgentNotReady(agent_id=agent_id, reason=reason, at=now)
        else:
            self._check_state(agent_id, Trigger.LOGOUT, "AgentLoggedOut")
            fact = ev.AgentLoggedOut(agent_id=agent_id, at=now)
        await self.bus.publish(fact)
        return {"agent_id": agent_id, "requested": state}

    async def _do_login(self, claims: Claims, req: m.Login) -> dict[str, Any]:
        return await self._change_state(claims.agent_id, req.interface or claims.interface, "logged-in", "")

    async def _do_logout(self, claims: Claims, req: m.Empty) -> dict[str, Any]:
        return await self._change_state(claims.agent_id, "", "logged-out", "")

    async def _do_ready(self, claims: Claims, req: m.Empty) -> dict[str, Any]:
        return await self._change_state(claims.agent_id, "", "ready", "")

    async def _do_not_ready(self, claims: Claims, req: m.NotReady) -> dict[str, Any]:
        return await self._change_state(claims.agent_id, "", "not-ready", req.reason)

    async def _do_force_state(self, claims: Claims, req: m.ForceState) -> dict[str, Any]:
        target = AgentId(req.agent_id)
        if req.state != "logged-out" and self.live.peek(target).state is AgentState.LOGGED_OUT:
            raise DomainError("illegal-state", f"agent {target} is logged out", agent_id=target, state="logged-out")
        logger.info("supervisor %s forces agent %s to %s", claims.agent_id, target, req.state)
        return await self._change_state(target, "", req.state, req.reason or f"forced by {claims.username}")

    def _own_call(self, claims: Claims, call_id: str) -> CallContext:
        return self.visible_call(claims, call_id)

    def _agent_channel(self, ctx: CallContext, agent_id: AgentId, interface: str) -> ChannelId:
        call = self.tracker.call(ctx.call_id)
        if call is not None and interface:
            for channel_id, channel in call.channels.items():
                if channel.name.startswith(interface + "-"):
                    return ChannelId(channel_id)
        raise DomainError(
            "no-agent-channel", f"call {ctx.call_id}: agent {agent_id} has no live channel on it", call_id=ctx.call_id
        )

    def _caller_channel(self, ctx: CallContext) -> ChannelId:
        channel = self.tracker.caller_channel(ctx.call_id)
        if channel is None:
            raise DomainError("call-ended", f"call {ctx.call_id} has no live caller channel", call_id=ctx.call_id)
        return channel

    def _interface_of(self, agent_id: AgentId) -> str:
        return self.live.peek(agent_id).interface or self.directory.get(agent_id, "")

    async def _do_answer(self, claims: Claims, req: m.CallRef) -> dict[str, Any]:
        ctx = self._own_call(claims, req.call_id)
        await self.commands.execute(
            ev.AnswerCall(agent_id=claims.agent_id, call_id=ctx.call_id, interface=self._interface_of(claims.agent_id))
        )
        return {"call_id": ctx.call_id}

    # NOTE(cti): the PBX port holds a call by moving both parties out of their bridge (music for the
    # caller), which Asterisk reports as dialplan moves, not as `Hold` (a phone's own hold). So
    # once the port has done it, the hold is a fact and the CTI publishes it (desktops, CRM hold_s).
    async def _do_hold(self, claims: Claims, req: m.CallRef) -> dict[str, Any]:
        ctx = self._own_call(claims, req.call_id)
        if ctx.held:
            raise DomainError("illegal-state", f"call {ctx.call_id} is already on hold", call_id=ctx.call_id)
        caller = self._caller_channel(ctx)
        await self.commands.execute(ev.Hold(channel_id=caller))
        await self.bus.publish(ev.ChannelHeld(call_id=ctx.call_id, channel_id=caller, at=self.clock()))
        return {"call_id": ctx.call_id}

    async def _do_unhold(self, claims: Claims, req: m.CallRef) -> dict[str, Any]:
        ctx = self._own_call(claims, req.call_id)
        if not ctx.held:
            raise DomainError("illegal-state", f"call {ctx.call_id} is not on hold", call_id=ctx.call_id)
        caller = self._caller_channel(ctx)
        await self.commands.execute(ev.Unhold(channel_id=caller))
        await self.bus.publish(ev.ChannelUnheld(call_id=ctx.call_id, channel_id=caller, at=self.clock()))
        return {"call_id": ctx.call_id}

    async def _do_hangup(self, claims: Claims, req: m.CallRef) -> dict[str, Any]:
        ctx = self._own_call(claims, req.call_id)
        channel = self._agent_channel(ctx, claims.agent_id, self._interface_of(claims.agent_id))
        await self.commands.execute(ev.Hangup(channel_id=channel))
        return {"call_id": ctx.call_id}

    async def _do_transfer(self, claims: Claims, req: m.Transfer) -> dict[str, Any]:
        ctx = self._own_call(claims, req.call_id)
        agent_channel = self._agent_channel(ctx, claims.agent_id, self._interface_of(claims.agent_id))
        command: Any
        if req.to == "number":
            context, exten = self.config.number_context, req.target
            command = (
                ev.BlindTransfer(channel_id=agent_channel, context=context, exten=exten)
                if req.kind == "blind"
                else ev.AttendedTransfer(channel_id=agent_channel, context=context, exten=exten)
            )
        elif req.to == "agent":
            target = AgentId(req.target)
            interface = self._interface_of(target)
            if not interface or self.live.peek(target).state is AgentState.LOGGED_OUT:
                raise DomainError("agent-unavailable", f"agent {target} is not logged in", agent_id=target)
            if req.kind == "blind":
                # The ACD's own offer path: the caller is sent to ring the target's phone.
                command = ev.OfferCall(
                    call_id=ctx.call_id,
                    agent_id=target,
                    interface=interface,
                    queue=QueueName(ctx.queue or "transfer"),
                    ring_timeout_s=self.config.ring_timeout_s,
                )
            else:
                command = ev.AttendedTransfer(channel_id=agent_channel, context=self.config.agent_context, exten=target)
        else:
            if req.kind == "attended":
                raise DomainError(
                    "unsupported-transfer", "a transfer to a queue is blind; use kind 'blind'", to=req.to
                )
            caller = self._caller_channel(ctx)
            await self.bus.publish(
                ev.CallQueued(
                    call_id=ctx.call_id,
                    channel_id=caller,
                    request=ev.RoutingRequest(
                        queue=QueueName(req.target),
                        priority_class=ctx.priority_class or "standard",
                        rule="cti-transfer",
                        explanation=f"transferred by agent {claims.agent_id}",
                    ),
                    ani=ctx.ani,
                    dnis=ctx.dnis,
                    customer_id=ev.CustomerId(ctx.customer_id) if ctx.customer_id else None,
                    at=self.clock(),
                )
            )
            command = ev.Redirect(channel_id=caller, context=self.config.wait_context, exten="s")
        await self.commands.execute(command)
        if isinstance(command, ev.BlindTransfer | ev.AttendedTransfer):
            return {"call_id": ctx.call_id, "to": req.to, "target": req.target}  # Asterisk reports these itself
        await self.bus.publish(
            ev.CallTransferred(
                call_id=ctx.call_id,
                kind=req.kind,
                target=f"{req.to}:{req.target}",
                by_agent=claims.agent_id,
                at=self.clock(),
            )
        )
        return {"call_id": ctx.call_id, "to": req.to, "target": req.target}

    async def _do_wrap_up(self, claims: Claims, req: m.WrapUp) -> dict[str, Any]:
        ctx = self._own_call(claims, req.call_id)
        me = self.live.peek(claims.agent_id)
        done_with_it = me.state is AgentState.WRAP_UP and me.call_id == ctx.call_id  # e.g. after a transfer
        if ctx.ended_at is None and not done_with_it:
            raise DomainError("call-in-progress", f"call {ctx.call_id} has not ended yet", call_id=ctx.call_id)
        await self.bus.publish(
            ev.WrapUpEnded(
                agent_id=claims.agent_id,
                call_id=ctx.call_id,
                disposition=req.disposition,
                notes=req.notes,
                at=self.clock(),
            )
        )
        return {"call_id": ctx.call_id, "disposition": req.disposition}

    async def _do_callback(self, claims: Claims, req: m.Callback) -> dict[str, Any]:
        call_id = None
        if req.call_id is not None:
            call_id = self._own_call(claims, req.call_id).call_id
        await self.bus.publish(
            ev.CallbackRequested(
                call_id=call_id,
                agent_id=claims.agent_id,
                number=req.number,
                not_before=req.not_before,
                notes=req.notes,
                at=self.clock(),
            )
        )
        return {"number": req.number}

    async def _do_spy(self, claims: Claims, req: m.Spy) -> dict[str, Any]:
        phone = req.phone or claims.interface
        if not phone:
            raise DomainError("no-phone", f"supervisor {claims.username} has no phone; send 'phone'")
        target = self.live.peek(AgentId(req.agent_id))
        if target.call_id is None:
            raise DomainError("agent-not-on-call", f"agent {req.agent_id} is not on a call", agent_id=req.agent_id)
        ctx = self.book.get(target.call_id)
        if ctx is None:
            raise DomainError(NOT_YOURS, f"no call {target.call_id!r}", call_id=target.call_id)
        channel = self._agent_channel(ctx, target.agent_id, self._interface_of(target.agent_id))
        name = self.tracker.channel_name(channel) or ""
        request_id = f"spy-{claims.agent_id}-{int(self.clock() * 1000)}"
        await self.commands.execute(
            spy_command(supervisor_interface=phone, target_channel=name, mode=req.mode, request_id=request_id)
        )
        return {"agent_id": req.agent_id, "mode": req.mode, "request_id": request_id}

    def _take_preview(self, claims: Claims, contact_id: str) -> ev.PreviewOffered:
        offer = self._previews.get(claims.agent_id)
        if offer is None or offer.contact_id != contact_id:
            raise DomainError(
                "no-such-preview", f"no preview of contact {contact_id!r} is offered to you", contact_id=contact_id
            )
        del self._previews[claims.agent_id]  # taken now: a second click is refused, not sent twice
        return offer

    async def _do_preview_call(self, claims: Claims, req: m.PreviewRef) -> dict[str, Any]:
        offer = self._take_preview(claims, req.contact_id)
        await self.bus.publish(
            ev.PreviewAccepted(
                campaign_id=offer.campaign_id, contact_id=offer.contact_id, agent_id=claims.agent_id, at=self.clock()
            )
        )
        return {"campaign_id": offer.campaign_id, "contact_id": offer.contact_id}

    async def _do_preview_skip(self, claims: Claims, req: m.PreviewRef) -> dict[str, Any]:
        offer = self._take_preview(claims, req.contact_id)
        await self.bus.publish(
            ev.PreviewSkipped(
                campaign_id=offer.campaign_id, contact_id=offer.contact_id, agent_id=claims.agent_id, at=self.clock()
            )
        )
        return {"campaign_id": offer.campaign_id, "contact_id": offer.contact_id}

    # -- WebSocket requests ---------------------------------------------------------------------

    async def ws_request(self, client: Client, data: Any) -> None:
        """One request from a socket; the result goes back to that socket only."""
        request_id = ""
        action: Any = ""
        try:
            if not isinstance(data, dict):
                raise DomainError("malformed-message", f"a request must be a JSON object, not {type(data).__name__}")
            request_id = str(data.get("request_id", ""))[:64]
            action = data.get("action")
            if not isinstance(action, str):
                raise DomainError("malformed-message", "a request needs a string 'action'")
            params = {k: v for k, v in data.items() if k not in ("request_id", "action")}
            await self.perform(client.claims, action, params)
            self.hub.to_client(client, ev.CtiRequestDone(request_id=request_id, action=action, at=self.clock()))
        except DomainError as exc:
            self.hub.to_client(client, failed(request_id, action if isinstance(action, str) else "", exc, self.clock()))


def failed(request_id: str, action: str, exc: DomainError, now: float) -> ev.CtiRequestFailed:
    return ev.CtiRequestFailed(
        request_id=request_id,
        action=action,
        error_id=exc.error_id,
        message=exc.message,
        details={k: v for k, v in exc.details.items() if isinstance(v, str | int | float | bool | list | None)},
        at=now,
    )

