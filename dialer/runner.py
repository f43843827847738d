"""The campaign runner: the dialer's cores driven against the PBX, the ACD and the CRM.

Theory of operation
-------------------
One `CampaignRunner` per running campaign; one `asyncio.Queue` and one consumer task, so the
cores see events in arrival order (docs/dialer.md, "Adapter contract"). Producers call `submit`:
the bus's facts (`is_runner_input`), the runner's own ticks and timers. What it says goes out
through `publish` (the bus): decisions, attempts, and the ACD's inputs for live answers.

* **Tick** (every `tick_s`, while running): `pacing.tick(state, now)`; for each `Dial` the
  `ContactQueue` asks compliance before taking a contact. Every decision, dial or no-dial, is a
  `DialDecided` that is published, logged and stored. An allowed contact is dialed: the attempt
  is stored first (so the CRM holds it even if we die mid-call), then `Originate` into
  `[outbound]` with `request_id` = the line id, which becomes the call's `call_id`.
* **Line outcome**: `OriginateFailed` gives busy / no-answer / failed. `[outbound]` runs AMD and
  says `UserEvent(AmdResult)`: MACHINE gets the dialplan's message (or a hang-up, per campaign)
  and ends the attempt; HUMAN (or NOTSURE) is a live answer: the 2-second timer starts, and when
  the call reaches `[acd-wait]` (`AcdWaiting`) it is queued to the campaign's queue through the
  ACD at the highest priority (`CallQueued` on the bus, as the IVR's hand-off does), with the
  contact published for the screen pop (`CampaignCallQueued`, just before).
* **Connect or abandon**: the ACD reports the agent ON_CALL for the call (`AgentStateChanged`):
  connected, the attempt's outcome is `human`. If the timer fires first, the ACD is told the
  caller is gone (`CallAbandoned`, which frees a ringing agent) and the call is redirected to
  `[outbound-abandon]`, which plays the identification message: an abandon, in every window. A
  callee who hangs up while waiting is counted as an abandon too (the conservative reading).
* **Retry**: each attempt's end is appended to the number's history and the contact goes back to
  the queue at `check(...).next_allowed_at` (retry delay, window, lock-out), or leaves it. An
  agent's `CallbackRequested` for a connected call (during it or in wrap-up) turns that attempt's
  outcome into `callback` at the customer's time.
* **Preview**: each free agent without an offer gets the next contact compliance allows as a
  `PreviewOffered` (the agent desktop); the CTI answers with `PreviewAccepted` (dialed, after
  compliance is asked again) or `PreviewSkipped` (back after `preview_skip_s`, the next one is
  offered). Only the agent's own open offer counts. An agent leaving READY withdraws it.
* **DNC**: every `dnc_refresh_s` the CRM's do-not-call snapshot is read again (`dnc`) and applied
  by the consumer, between two events, like everything else.
* **Agents**: the ACD's agent states become the pacer's (READY free, offered / on a call /
  outbound talking, wrap-up, anything else away), so inbound calls on blended agents take them
  from the pacer. An agent the pacer reserved for a line stays reserved until that line ends.
* Rule: the CRM is written through an `AttemptStore` whose failures are logged, never raised:
  a database error never drops a call. `CrmStore` journals attempts in the CRM outbox (local and
  durable, drained into `campaign_attempts` when the database is up), and every decision the
  same way into `dial_decisions`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.events import (
    AgentId,
    AgentState,
    AgentStateChanged,
    AttemptEnded,
    CallAbandoned,
    CallbackRequested,
    CallEnded,
    CallId,
    CallQueued,
    CampaignCallQueued,
    CampaignId,
    ChannelId,
    DialAttempted,
    DialDecided,
    Hangup,
    Originate,
    OriginateFailed,
    PreviewAccepted,
    PreviewOffered,
    PreviewSkipped,
    PreviewWithdrawn,
    QueueName,
    Redirect,
    RoutingRequest,
    UserEventReceived,
    to_json,
)
from crm import models as m
from crm.outbox import Outbox
from crm.phones import InvalidNumber as CrmInvalidNumber
from dialer import campaigns
from dialer.compliance import Attempt, CampaignRules, History, Outcome, check
from dialer.contact_queue import Checked, ContactQueue
from dialer.contacts import Contact, InvalidNumber, normalise
from dialer.pacing import AgentStatus, Dial, Mode, PacerConfig, PacerState, tick

logger = logging.getLogger(__name__)

Publish = Callable[[object], Awaitable[None]]
CAMPAIGN_PRIORITY = 1000  # seconds of head start: a live answer goes before any waiting call
HISTORY_DAYS = 31  # the 30-day abandon window and the lock-out fit in it
SETTLE_S = 1.0
RECENT_CALLS = 1000  # connected calls remembered after they end, for the wrap-up's callback request  # a call that ended while ringing waits this long for its OriginateResponse
_AGENT_STATUS = {
    AgentState.READY: AgentStatus.FREE,
    AgentState.RESERVED: AgentStatus.TALKING,
    AgentState.ON_CALL: AgentStatus.TALKING,
    AgentState.OUTBOUND: AgentStatus.TALKING,
    AgentState.WRAP_UP: AgentStatus.WRAP_UP,
}
_FAILED_REASONS = {"busy": Outcome.BUSY, "no-answer": Outcome.NO_ANSWER}


class CommandExecutor(Protocol):
    """What the runner needs of `pbx.commands.PbxCommandPort`."""

    async def execute(self, command: Any) -> Any: ...


class AttemptStore(Protocol):
    """Where attempts and decisions go. Implementations log their failures; they never raise."""

    async def attempt(self, payload: dict[str, Any]) -> None: ...

    async def decided(self, decision: DialDecided, *, status: str | None) -> None: ...

    async def contact_done(self, contact_id: str, *, status: str, attempts: int, next_at: float | None) -> None: ...


def is_runner_input(msg: object) -> bool:
    return isinstance(msg, AgentStateChanged | UserEventReceived | OriginateFailed | CallEnded | CallQueued
                      | CallbackRequested | PreviewAccepted | PreviewSkipped)


@dataclass(frozen=True, slots=True)
class _Tick:
    pass


@dataclass(frozen=True, slots=True)
class _GraceExpired:
    line_id: str


@dataclass(frozen=True, slots=True)
class _Settle:
    line_id: str


@dataclass(frozen=True, slots=True)
class _Control:
    action: str  # pause | resume | stop


@dataclass(frozen=True, slots=True)
class _DncRefreshed:
    numbers: frozenset[str]


@dataclass(slots=True)
class _Offer:
    """Preview: the contact offered to an agent, until dialed, skipped or withdrawn."""

    contact: Contact
    accepted: bool = False


@dataclass(slots=True)
class _Line:
    line_id: str
    contact: Contact
    dial: Dial
    started_at: float
    state: str = "ringing"  # ringing | waiting | connected | over
    answered_at: float = 0.0
    queued: bool = False
    grace: asyncio.TimerHandle | None = None
    ended_at: float | None = None
    attempt: Attempt | None = None  # the history entry of a connected call (a callback replaces it)


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a runner starts from, read from the CRM by `load_plan`."""

    campaign_id: CampaignId
    mode: Mode
    queue: QueueName
    caller_id: str
    settings: campaigns.CampaignSettings
    rules: CampaignRules
    contacts: tuple[tuple[Contact, float | None], ...]  # pending contacts and when each is due
    history: Mapping[str, list[Attempt]] = field(default_factory=dict)  # number -> attempts (every campaign)
    live_answers: tuple[tuple[float, bool], ...] = ()  # the ledger's input: (at, abandoned)
    attempts: Mapping[str, int] = field(default_factory=dict)  # contact id -> attempts so far


class CampaignRunner:
    """Runs until cancelled: `task = asyncio.create_task(runner.run())`."""

    def __init__(
        self,
        plan: Plan,
        port: CommandExecutor,
        store: AttemptStore,
        publish: Publish,
        *,
        agents: Mapping[AgentId, AgentState] | None = None,
        pacer: PacerConfig | None = None,
        dnc: Callable[[], Awaitable[frozenset[str]]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not plan.settings.agents:
            raise campaigns.CampaignError("invalid-campaign", f"campaign {plan.campaign_id}: settings.agents is empty; the pacer needs the campaign's agents")
        self.plan = plan
        self._port = port
        self._store = store
        self._publish = publish
        self._clock = clock
        self._load_dnc = dnc
        self._agents = frozenset(AgentId(a) for a in plan.settings.agents)
        self.state = PacerState.create(pacer or PacerConfig(mode=plan.mode, abandon_limit=plan.settings.abandon_limit,
                                                            grace_s=plan.settings.grace_s))
        for at, abandoned in plan.live_answers:
            self.state.ledger.record(at, abandoned=abandoned)
        fresh = [c for c, due in plan.contacts if due is None]
        self.queue = ContactQueue(iter(fresh), plan.rules)
        for contact, due in plan.contacts:
            if due is not None:
                self.queue.push(contact, due)
        self._offers: dict[AgentId, _Offer] = {}
        self._history: dict[str, list[Attempt]] = {k: list(v) for k, v in plan.history.items()}
        self._attempts: Counter[str] = Counter(plan.attempts)
        self._acd_state: dict[AgentId, AgentState] = {}
        self.lines: dict[str, _Line] = {}
        self._recent: OrderedDict[str, _Line] = OrderedDict()
        now = clock()
        for agent_id, acd_state in (agents or {}).items():
            if agent_id in self._agents:
                self._agent_state(agent_id, acd_state, now)
        self.running = True
        self.stopped = False
        self.counts: Counter[str] = Counter()  # dials, answers, abandons, no-dials, outcomes
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._timers: set[asyncio.TimerHandle] = set()

    # ---- producers --------------------------------------------------------------------------

    def submit(self, msg: object) -> None:
        self._inbox.put_nowait(msg)

    async def publish_sink(self, msg: object) -> None:
        """A `publish` callable for the bus pump: the facts the runner wants, queued."""
        if is_runner_input(msg):
            self.submit(msg)

    def pause(self) -> None:
        self.submit(_Control("pause"))

    def resume(self) -> None:
        self.submit(_Control("resume"))

    def stop(self) -> None:
        """No new dials; calls in progress finish."""
        self.submit(_Control("stop"))

    async def run(self) -> None:
        ticker = asyncio.create_task(self._ticks(), name=f"dialer.{self.plan.campaign_id}.tick")
        refresher = None
        if self._load_dnc is not None:
            refresher = asyncio.create_task(self._refresh_dnc(self._load_dnc), name=f"dialer.{self.plan.campaign_id}.dnc")
        try:
            while True:
                msg = await self._inbox.get()
                try:
                    await self._handle(msg, self._clock())
                except Exception:  # one bad event must not stop the campaign's calls
                    logger.exception("campaign %s: handling %s failed", self.plan.campaign_id, type(msg).__name__)
        finally:
            ticker.cancel()
            if refresher is not None:
                refresher.cancel()
            for handle in self._timers:
                handle.cancel()

    async def _ticks(self) -> None:
        while True:
            self.submit(_Tick())
            await asyncio.sleep(self.plan.settings.tick_s)

    async def _refresh_dnc(self, load: Callable[[], Awaitable[frozenset[str]]]) -> None:
        """The CRM's do-not-call list, re-read every `dnc_refresh_s`; the consumer applies it."""
        while True:
            await asyncio.sleep(self.plan.settings.dnc_refresh_s)
            try:
                numbers = await load()
            except Exception as exc:  # the database may be down: dial on with the list we have
                logger.warning("campaign %s: do-not-call list not refreshed: %s", self.plan.campaign_id, exc)
                continue
            self.submit(_DncRefreshed(numbers))

    def _later(self, delay_s: float, msg: object) -> asyncio.TimerHandle:
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            self.submit(msg)

        handle = asyncio.get_running_loop().call_later(delay_s, fire)
        self._timers.add(handle)
        return handle

    # ---- the consumer -----------------------------------------------------------------------

    async def _handle(self, msg: object, now: float) -> None:
        match msg:
            case _Tick():
                if self.running and not self.stopped:
                    await self._tick(now)
            case _Control(action="pause"):
                self.running = False
            case _Control(action="resume"):
                self.running = True
            case _Control(action="stop"):
                self.stopped = True
                for agent_id in list(self._offers):
                    await self._withdraw(agent_id, now)
            case _DncRefreshed():
                added = len(msg.numbers - self.queue.rules.global_dnc)
                self.queue.set_global_dnc(msg.numbers)
                logger.info("campaign %s: do-not-call list refreshed, %d numbers (%d new)", self.plan.campaign_id,
                            len(msg.numbers), added)
            case PreviewAccepted() if msg.campaign_id == self.plan.campaign_id:
                offer = self._offer_of(msg.agent_id, msg.contact_id)
                if offer is not None:
                    offer.accepted = True
                    self.state.preview_accepted(msg.agent_id, msg.contact_id)
            case PreviewSkipped() if msg.campaign_id == self.plan.campaign_id:
                if self._offer_of(msg.agent_id, msg.contact_id) is not None:
                    await self._skipped(msg.agent_id, now)
            case AgentStateChanged() if msg.agent_id in self._agents:
                if msg.agent_id in self._offers and msg.new is not AgentState.READY:
                    await self._withdraw(msg.agent_id, now)  # an inbound call or a break comes first
                self._agent_state(msg.agent_id, msg.new, now)
                line = self.lines.get(msg.call_id or "")
                if line is not None and msg.new is AgentState.ON_CALL and line.state == "waiting":
                    await self._connected(line, msg.agent_id, now)
            case UserEventReceived(name="AmdResult") if msg.call_id in self.lines:
                await self._amd(self.lines[msg.call_id], dict(msg.fields).get("Status", ""), now)
            case UserEventReceived(name="AcdWaiting") if msg.call_id in self.lines:
                await self._queue_live(self.lines[msg.call_id], now)
            case OriginateFailed() if msg.request_id in self.lines:
                line = self.lines[msg.request_id]
                if line.state == "ringing":
                    self.state.line_resolved(line.line_id, now, live=False)
                    await self._ended(line, _FAILED_REASONS.get(msg.reason, Outcome.FAILED), now)
            case CallEnded() if msg.call_id in self.lines:
                await self._call_ended(self.lines[msg.call_id], now)
            case CallbackRequested() if msg.call_id in self.lines or msg.call_id in self._recent:
                line = self.lines.get(msg.call_id or "") or self._recent[msg.call_id or ""]
                await self._callback(line, msg.not_before, now)
            case CallQueued() if msg.call_id not in self.lines:
                self.state.inbound_arrived(now)  # blended agents: inbound comes first
            case _GraceExpired() if msg.line_id in self.lines:
                line = self.lines[msg.line_id]
                if line.state == "waiting":
                    await self._abandon(line, now, redirect=True)
            case _Settle() if msg.line_id in self.lines:
                line = self.lines[msg.line_id]
                if line.state == "ringing":  # ended without an OriginateResponse: unreachable
                    self.state.line_resolved(line.line_id, now, live=False)
                    await self._ended(line, Outcome.FAILED, now)

    def _agent_state(self, agent_id: AgentId, acd_state: AgentState, now: float) -> None:
        self._acd_state[agent_id] = acd_state
        if self._reserved_line(agent_id) is not None or agent_id in self._offers:
            return  # the pacer holds it for a line still ringing, or it reads a preview
        self.state.agent_status(agent_id, _AGENT_STATUS.get(acd_state, AgentStatus.AWAY), now)

    def _reserved_line(self, agent_id: AgentId) -> _Line | None:
        return next((ln for ln in self.lines.values() if ln.dial.agent_id == agent_id and ln.state in ("ringing", "waiting")), None)

    def _release(self, line: _Line, now: float) -> None:
        agent_id = line.dial.agent_id
        if agent_id is not None and self._reserved_line(agent_id) is None:
            acd_state = self._acd_state.get(agent_id, AgentState.NOT_READY)
            self.state.agent_status(agent_id, _AGENT_STATUS.get(acd_state, AgentStatus.AWAY), now)

    # ---- dialing ----------------------------------------------------------------------------

    def _history_of(self, now: float) -> Callable[[Contact], History]:
        rates = self.state.ledger.rates(now)
        return lambda c: History(tuple(self._history.get(c.number, ())), rates)

    async def _tick(self, now: float) -> None:
        history_of = self._history_of(now)
        if self.plan.mode is Mode.PREVIEW:
            await self._offer_previews(now, history_of)
        for dial in tick(self.state, now):
            if dial.contact_id is not None and dial.agent_id is not None:  # preview: the agent accepted
                offer = self._offers.pop(dial.agent_id, None)
                if offer is None:
                    continue
                contact = offer.contact
                # Asked again: the window may have closed, or the number joined a DNC list, since the offer.
                decision = check(contact, self.queue.rules, history_of(contact), now, agent_reserved=True)
                checked = [Checked(contact, decision, now, True)]
                chosen = [contact] if decision.allowed else []
                if not decision.allowed:
                    await self._refused_preview(dial.agent_id, contact, decision.next_allowed_at, now)
            else:
                chosen, checked = self.queue.take(1, now, history_of, agent_reserved=dial.agent_id is not None)
            for c in checked:
                await self._decided(c.to_event(self.plan.campaign_id))
            for contact in chosen:
                await self._dial(contact, dial, now)

    # ---- preview ----------------------------------------------------------------------------

    async def _offer_previews(self, now: float, history_of: Callable[[Contact], History]) -> None:
        """Each free agent of the campaign without an offer gets the next contact compliance allows."""
        for agent_id in sorted(self._agents):
            agent = self.state.agents.get(agent_id)
            if agent is None or agent.status is not AgentStatus.FREE or agent_id in self._offers:
                continue
            chosen, checked = self.queue.take(1, now, history_of, agent_reserved=True)
            for c in checked:
                await self._decided(c.to_event(self.plan.campaign_id))
            if not chosen:
                return  # nothing is due: the other agents would get nothing either
            contact = chosen[0]
            self._offers[agent_id] = _Offer(contact)
            self.state.agent_status(agent_id, AgentStatus.PREVIEWING, now)
            logger.info("campaign %s contact %s: offered to agent %s", self.plan.campaign_id, contact.contact_id, agent_id)
            await self._emit(PreviewOffered(
                campaign_id=self.plan.campaign_id, contact_id=contact.contact_id, agent_id=agent_id, name=contact.name,
                number=mask_number(contact.number), script=render_script(self.plan.settings.script, contact),
                customer_id=contact.customer_id, at=now,
            ))

    def _offer_of(self, agent_id: AgentId, contact_id: str) -> _Offer | None:
        """The agent's own open offer of this contact; anything else is refused (the CTI checks
        too: this guards against a stale or forged fact on the bus)."""
        offer = self._offers.get(agent_id)
        if offer is None or offer.contact.contact_id != contact_id or offer.accepted:
            logger.warning("campaign %s: agent %s answered contact %s, which is not their open offer; ignored",
                           self.plan.campaign_id, agent_id, contact_id)
            return None
        return offer

    async def _skipped(self, agent_id: AgentId, now: float) -> None:
        contact = self._offers.pop(agent_id).contact
        due = now + self.plan.settings.preview_skip_s
        self.queue.push(contact, due)
        self._agent_state(agent_id, self._acd_state.get(agent_id, AgentState.NOT_READY), now)  # free: the next offer
        logger.info("campaign %s contact %s: skipped by agent %s", self.plan.campaign_id, contact.contact_id, agent_id)
        await self._store.contact_done(contact.contact_id, status="pending", attempts=self._attempts[contact.contact_id],
                                       next_at=due)

    async def _withdraw(self, agent_id: AgentId, now: float) -> None:
        contact = self._offers.pop(agent_id).contact
        self.queue.push(contact, now)  # the next free agent gets it
        self._agent_state(agent_id, self._acd_state.get(agent_id, AgentState.NOT_READY), now)
        await self._emit(PreviewWithdrawn(campaign_id=self.plan.campaign_id, contact_id=contact.contact_id,
                                          agent_id=agent_id, at=now))

    async def _refused_preview(self, agent_id: AgentId, contact: Contact, next_at: float | None, now: float) -> None:
        """Compliance refused the accepted contact: back in the queue (or out), the agent free again."""
        if next_at is not None:
            self.queue.push(contact, next_at)
        self._agent_state(agent_id, self._acd_state.get(agent_id, AgentState.NOT_READY), now)
        await self._emit(PreviewWithdrawn(campaign_id=self.plan.campaign_id, contact_id=contact.contact_id,
                                          agent_id=agent_id, at=now))

    async def _decided(self, decision: DialDecided) -> None:
        if decision.allowed:
            status = None
        elif decision.next_allowed_at is not None:
            status = "pending"
        else:
            status = "dnc" if any(r in DNC_REASONS for r in decision.reasons) else "failed"
        if not decision.allowed:
            self.counts["no-dials"] += 1
            logger.info("campaign %s contact %s: no-dial (%s)", decision.campaign_id, decision.contact_id, ", ".join(decision.reasons))
        else:
            logger.debug("campaign %s contact %s: dial", decision.campaign_id, decision.contact_id)
        await self._emit(decision)
        await self._store.decided(decision, status=status)

    async def _dial(self, contact: Contact, dial: Dial, now: float) -> None:
        cid = self.plan.campaign_id
        settings = self.plan.settings
        line_id = f"{cid}-{uuid.uuid4().hex[:16]}"
        digits = contact.number.lstrip("+")
        line = _Line(line_id, contact, dial, now)
        self.lines[line_id] = line
        self.state.dial_placed(line_id, dial, now)
        self._attempts[contact.contact_id] += 1
        self.counts["dials"] += 1
        await self._store.attempt(self._payload(line))
        await self._emit(DialAttempted(campaign_id=cid, contact_id=contact.contact_id, number=contact.number,
                                       call_id=CallId(line_id), at=now))
        command = Originate(
            destination=f"PJSIP/{digits}@{settings.trunk}", context="outbound", exten=digits,
            caller_id=self.plan.caller_id, timeout_s=settings.ring_timeout_s,
            variables=(("CAMPAIGN_ID", cid), ("CONTACT_ID", contact.contact_id), ("LINE_ID", line_id),
                       ("RESERVED_AGENT", dial.agent_id or "")),
            request_id=line_id,
        )
        logger.info("campaign %s line %s: dialing contact %s%s", cid, line_id, contact.contact_id,
                    f" for agent {dial.agent_id}" if dial.agent_id else "")
        try:
            await self._port.execute(command)
        except Exception as exc:  # the PBX refused or the link is down: the attempt failed
            logger.warning("campaign %s line %s: originate failed: %s", cid, line_id, exc)
            self.state.line_resolved(line_id, now, live=False)
            await self._ended(line, Outcome.FAILED, now)

    # ---- what happened on the line ----------------------------------------------------------

    async def _amd(self, line: _Line, status: str, now: float) -> None:
        if line.state != "ringing":
            return
        live = status in ("HUMAN", "NOTSURE")
        self.state.line_resolved(line.line_id, now, live=live)
        if live:
            line.state, line.answered_at = "waiting", now
            self.counts["answers"] += 1
            line.grace = self._later(self.plan.settings.grace_s, _GraceExpired(line.line_id))
            return
        if status == "MACHINE" and self.plan.settings.machine == "hangup":
            await self._command(Hangup(channel_id=ChannelId(line.line_id)), line)
        # HANGUP: the callee put the phone down before anyone spoke; retried like no answer.
        await self._ended(line, Outcome.MACHINE if status == "MACHINE" else Outcome.NO_ANSWER, now)

    async def _queue_live(self, line: _Line, now: float) -> None:
        if line.state != "waiting" or line.queued:
            return
        line.queued = True
        c = line.contact
        settings = self.plan.settings
        request = RoutingRequest(queue=self.plan.queue, skills=settings.skills, priority=CAMPAIGN_PRIORITY,
                                 rule=f"campaign:{self.plan.campaign_id}", max_wait_s=None)
        await self._emit(CampaignCallQueued(
            campaign_id=self.plan.campaign_id, contact_id=c.contact_id, call_id=CallId(line.line_id), number=c.number,
            name=c.name, customer_id=c.customer_id, script=render_script(settings.script, c),
            fields=tuple(sorted(c.fields.items())), at=now,
        ))
        await self._emit(CallQueued(call_id=CallId(line.line_id), channel_id=ChannelId(line.line_id), request=request,
                             ani=c.number, dnis=self.plan.caller_id, customer_id=c.customer_id, at=now))

    async def _connected(self, line: _Line, agent_id: AgentId, now: float) -> None:
        if line.grace is not None:
            line.grace.cancel()
            self._timers.discard(line.grace)
        line.state = "connected"
        self.state.live_answer(line.answered_at, abandoned=False)
        logger.info("campaign %s line %s: connected to agent %s after %.1f s", self.plan.campaign_id, line.line_id,
                    agent_id, now - line.answered_at)
        await self._ended(line, Outcome.HUMAN, now)

    async def _abandon(self, line: _Line, now: float, *, redirect: bool) -> None:
        self.counts["abandons"] += 1
        self.state.live_answer(line.answered_at, abandoned=True)
        logger.warning("campaign %s line %s: abandoned, no agent within %.1f s", self.plan.campaign_id, line.line_id,
                       self.plan.settings.grace_s)
        if line.queued:
            await self._emit(CallAbandoned(call_id=CallId(line.line_id), queue=self.plan.queue, waited_s=now - line.answered_at, at=now))
        if redirect:
            await self._command(Redirect(channel_id=ChannelId(line.line_id), context="outbound-abandon", exten="s"), line)
        await self._ended(line, Outcome.ABANDONED, now)

    async def _call_ended(self, line: _Line, now: float) -> None:
        if line.state == "ringing":
            # OriginateResponse may still be on its way with the reason (busy, no answer).
            self._later(SETTLE_S, _Settle(line.line_id))
            return
        if line.state == "waiting":
            if line.grace is not None:
                line.grace.cancel()
                self._timers.discard(line.grace)
            await self._abandon(line, now, redirect=False)
        elif line.state == "connected":
            line.ended_at = now
            outcome = line.attempt.outcome if line.attempt is not None else Outcome.HUMAN  # or a callback by now
            await self._store.attempt(self._payload(line, outcome=outcome, ended_at=now))
            self._recent[line.line_id] = line  # the agent may still ask for a callback in wrap-up
            while len(self._recent) > RECENT_CALLS:
                self._recent.popitem(last=False)
        self.lines.pop(line.line_id, None)

    async def _callback(self, line: _Line, not_before: float | None, now: float) -> None:
        """The agent asked for the customer to be called back: the connected attempt's outcome
        becomes `callback` (its own cap and the customer's time apply, not the live answer's)."""
        history = self._history.get(line.contact.number, [])
        if line.attempt is None or line.attempt not in history:
            return
        when = max(not_before or now, now)
        at = history.index(line.attempt)
        line.attempt = history[at] = Attempt(self.plan.campaign_id, line.attempt.at, Outcome.CALLBACK, callback_at=when)
        self.counts[Outcome.HUMAN.value] -= 1
        self.counts[Outcome.CALLBACK.value] += 1
        c = line.contact
        logger.info("campaign %s contact %s: callback requested for %.0f", self.plan.campaign_id, c.contact_id, when)
        await self._store.attempt(self._payload(line, outcome=Outcome.CALLBACK, ended_at=line.ended_at))
        await self._emit(AttemptEnded(campaign_id=self.plan.campaign_id, contact_id=c.contact_id,
                                      outcome=Outcome.CALLBACK.value, call_id=CallId(line.line_id), at=now))
        await self._requeue(c, now)

    async def _command(self, command: object, line: _Line) -> None:
        try:
            await self._port.execute(command)
        except Exception as exc:  # the call may have ended meanwhile; the outcome stands
            logger.warning("campaign %s line %s: %s failed: %s", self.plan.campaign_id, line.line_id, type(command).__name__, exc)

    async def _ended(self, line: _Line, outcome: Outcome, now: float) -> None:
        """The attempt's outcome is known: history, the contact's next try, the CRM. A connected
        call stays in `lines` until it ends, to record when; any other line is done with."""
        c = line.contact
        keep = outcome is Outcome.HUMAN
        if not keep:
            line.state = "over"
            self.lines.pop(line.line_id, None)
        self._release(line, now)
        self.counts[outcome.value] += 1
        line.attempt = Attempt(self.plan.campaign_id, now, outcome)
        self._history.setdefault(c.number, []).append(line.attempt)
        await self._store.attempt(self._payload(line, outcome=outcome, ended_at=None if keep else now))
        await self._emit(AttemptEnded(campaign_id=self.plan.campaign_id, contact_id=c.contact_id, outcome=outcome.value,
                                      call_id=CallId(line.line_id), at=now))
        await self._requeue(c, now)

    async def _requeue(self, c: Contact, now: float) -> None:
        """Back in the queue for when compliance would next allow it, or out of the campaign."""
        history = self._history[c.number]
        decision = check(c, self.queue.rules, History(tuple(history), ()), now, agent_reserved=True)
        if decision.next_allowed_at is not None:
            self.queue.push(c, decision.next_allowed_at)
            status = "pending"
        else:
            reached = any(a.outcome is Outcome.HUMAN and a.campaign_id == self.plan.campaign_id for a in history)
            status = "done" if reached else "failed"
        await self._store.contact_done(c.contact_id, status=status, attempts=self._attempts[c.contact_id],
                                       next_at=decision.next_allowed_at)

    def _payload(self, line: _Line, *, outcome: Outcome | None = None, ended_at: float | None = None) -> dict[str, Any]:
        return {
            "campaign_id": self.plan.campaign_id, "contact_id": line.contact.contact_id, "number": line.contact.number,
            "call_id": line.line_id, "started_at": line.started_at, "ended_at": ended_at,
            "outcome": outcome.value if outcome else "",
        }

    async def _emit(self, msg: object) -> None:
        await self._publish(msg)

    # ---- live progress ----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Dials, answers, abandons per window, lines and the agents' occupancy, now."""
        now = self._clock()
        agents = Counter(a.status.value for a in self.state.agents.values())
        present = sum(n for s, n in agents.items() if s != AgentStatus.AWAY.value)
        busy = agents.get(AgentStatus.TALKING.value, 0) + agents.get(AgentStatus.WRAP_UP.value, 0)
        return {
            "campaign_id": self.plan.campaign_id,
            "state": "stopped" if self.stopped else "running" if self.running else "paused",
            "dials": self.counts["dials"], "answers": self.counts["answers"], "abandons": self.counts["abandons"],
            "no_dials": self.counts["no-dials"],
            "outcomes": {o.value: self.counts[o.value] for o in Outcome if self.counts[o.value]},
            "lines": dict(Counter(ln.state for ln in self.lines.values())),
            "abandon_windows": [
                {"window": r.name, "answers": r.answers, "abandons": r.abandons, "rate": round(r.rate, 4)}
                for r in self.state.ledger.rates(now)
            ],
            "agents": dict(sorted(agents.items())),
            "occupancy": round(busy / present, 3) if present else 0.0,
            "exhausted": self.queue.is_exhausted() and not self.lines,
        }


DNC_REASONS = frozenset({"global-dnc", "campaign-dnc", "opted-out"})


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def mask_number(number: str) -> str:
    """All but the last 4 digits hidden: what a preview shows before the agent decides."""
    return "*" * max(len(number) - 4, 0) + number[-4:]


def render_script(script: str, contact: Contact) -> str:
    """The campaign's script with `{name}`, `{number}` and the list's columns filled in; anything
    else is left as written (a script can never fail a live answer)."""
    values = {**contact.fields, "name": contact.name, "number": contact.number}
    return _PLACEHOLDER.sub(lambda mt: values.get(mt.group(1), mt.group(0)), script)


# ---- the CRM side -----------------------------------------------------------------------------


class CrmStore:
    """Attempts and decisions through the CRM outbox (durable; upserted into campaign_attempts and
    dial_decisions), contacts' status and the last compliance decision in campaign_contacts.
    Failures are logged."""

    def __init__(self, outbox: Outbox, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._outbox = outbox
        self._sessions = sessions
        self.failures = 0

    async def attempt(self, payload: dict[str, Any]) -> None:
        try:
            await self._outbox.put("campaign-attempt", f"{payload['contact_id']}@{payload['started_at']}", payload)
        except Exception:
            self.failures += 1
            logger.exception("campaign %s contact %s: attempt not journaled", payload["campaign_id"], payload["contact_id"])

    async def decided(self, decision: DialDecided, *, status: str | None) -> None:
        try:  # the log of every dial and no-dial (dial_decisions), durable before the database
            await self._outbox.put("dial-decision", f"{decision.contact_id}@{decision.at}", to_json(decision))
        except Exception:
            self.failures += 1
            logger.exception("campaign %s contact %s: decision not journaled", decision.campaign_id, decision.contact_id)
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status
            values["next_attempt_at"] = _utc(decision.next_allowed_at)
        await self._update(decision.contact_id, values, last_decision={
            "allowed": decision.allowed, "reasons": list(decision.reasons), "at": decision.at,
            "next_allowed_at": decision.next_allowed_at, "agent_reserved": decision.agent_reserved,
        })

    async def contact_done(self, contact_id: str, *, status: str, attempts: int, next_at: float | None) -> None:
        await self._update(contact_id, {"status": status, "attempts": attempts, "next_attempt_at": _utc(next_at)})

    async def _update(self, contact_id: str, values: dict[str, Any], **data: Any) -> None:
        try:
            async with self._sessions() as session:
                if data:
                    row = await session.get(m.CampaignContact, contact_id)
                    if row is None:
                        return
                    row.data = {**(row.data or {}), **data}
                if values:
                    await session.execute(update(m.CampaignContact).where(m.CampaignContact.id == contact_id).values(**values))
                await session.commit()
        except Exception as exc:  # the call goes on; the outbox still holds the attempt
            self.failures += 1
            logger.warning("contact %s: CRM update failed: %s", contact_id, exc)


def _utc(ts: float | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC)


async def dnc_snapshot(session: AsyncSession, *, now: dt.datetime) -> frozenset[str]:
    """The CRM's do-not-call numbers in E.164: the DNC list without expired entries and the
    numbers of customers flagged do-not-call (the CRM keeps Chinese numbers in national form)."""
    listed = select(m.DncEntry.number).where((m.DncEntry.expires_at.is_(None)) | (m.DncEntry.expires_at > now))
    flagged = (select(m.CustomerPhone.number).join(m.Customer, m.Customer.id == m.CustomerPhone.customer_id)
               .where(m.Customer.do_not_call.is_(True)))
    out: set[str] = set()
    for number in (await session.execute(listed.union(flagged))).scalars():
        try:
            out.add(normalise(number, "CN")[0])
        except (InvalidNumber, CrmInvalidNumber):
            logger.warning("do-not-call number %r cannot be read as E.164; ignored", number)
    return frozenset(out)


async def load_plan(session: AsyncSession, campaign_id: str, *, now: dt.datetime) -> Plan:
    """What a runner for `campaign_id` starts from: settings, rules with the DNC snapshot, the
    pending contacts, their numbers' history and the campaign's live answers (the ledger)."""
    campaign = await campaigns.get_campaign(session, campaign_id)
    settings = campaigns.parse_settings(campaign.settings)
    cid = CampaignId(campaign.id)
    rules = settings.rules(cid, await dnc_snapshot(session, now=now))
    contacts = await campaigns.pending_contacts(session, campaign_id)
    since = now - dt.timedelta(days=HISTORY_DAYS)
    history = await campaigns.attempts_by_number(session, [c.number for c, _ in contacts], since=since)
    attempts = dict((await session.execute(
        select(m.CampaignContact.id, m.CampaignContact.attempts).where(m.CampaignContact.campaign_id == campaign_id))).all())
    return Plan(
        campaign_id=cid, mode=Mode(campaign.mode), queue=QueueName(campaign.queue or ""), caller_id=campaign.caller_id,
        settings=settings, rules=rules, contacts=tuple(contacts), history=history,
        live_answers=tuple(await campaigns.live_answers(session, campaign_id, since=since)), attempts=attempts,
    )



class CampaignSupervisor:
    """The running campaigns of one control plane: starts a runner per campaign from the CRM,
    forwards the bus's facts to each (`submit`), and carries out start / pause / resume / stop
    (the API's and the CLI's status changes). `agents()` gives the ACD's agent states now."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        port: CommandExecutor,
        store: AttemptStore,
        publish: Publish,
        *,
        agents: Callable[[], Mapping[AgentId, AgentState]] = dict,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self._port = port
        self._store = store
        self._publish = publish
        self._agents = agents
        self._clock = clock
        self.runners: dict[str, CampaignRunner] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def submit(self, msg: object) -> None:
        if is_runner_input(msg):
            for runner in self.runners.values():
                runner.submit(msg)

    async def apply(self, campaign_id: str, action: str) -> None:
        """Carry out a status change the CRM has already recorded."""
        runner = self.runners.get(campaign_id)
        if action in ("start", "resume") and (runner is None or runner.stopped):
            await self._start(campaign_id)
        elif runner is not None and action == "pause":
            runner.pause()
        elif runner is not None and action == "resume":
            runner.resume()
        elif runner is not None and action == "stop":
            runner.stop()

    async def sync(self) -> None:
        """Bring the runners in line with the statuses in the CRM (at start-up, then every few
        seconds: `callcenter campaign start|pause|resume|stop` only writes the CRM)."""
        async with self._sessions() as session:
            statuses = dict((await session.execute(select(m.Campaign.id, m.Campaign.status))).all())
        for campaign_id, status in statuses.items():
            runner = self.runners.get(campaign_id)
            if status == "running" and (runner is None or runner.stopped):
                await self._start(campaign_id)
            elif runner is not None and status == "running" and not runner.running:
                runner.resume()
            elif runner is not None and status == "paused" and runner.running:
                runner.pause()
            elif runner is not None and status == "done" and not runner.stopped:
                runner.stop()

    async def _start(self, campaign_id: str) -> None:
        try:
            async with self._sessions() as session:
                plan = await load_plan(session, campaign_id, now=dt.datetime.fromtimestamp(self._clock(), dt.UTC))
            runner = CampaignRunner(plan, self._port, self._store, self._publish, agents=self._agents(),
                                    dnc=self._dnc_snapshot, clock=self._clock)
        except Exception:  # the database, or a campaign edited into an invalid state: the others go on
            logger.exception("campaign %s: runner not started", campaign_id)
            return
        old = self._tasks.pop(campaign_id, None)
        if old is not None:
            old.cancel()
        self.runners[campaign_id] = runner
        self._tasks[campaign_id] = asyncio.create_task(runner.run(), name=f"dialer.{campaign_id}")
        logger.info("campaign %s: runner started with %d contacts", campaign_id, len(plan.contacts))

    async def _dnc_snapshot(self) -> frozenset[str]:
        async with self._sessions() as session:
            return await dnc_snapshot(session, now=dt.datetime.fromtimestamp(self._clock(), dt.UTC))

    def snapshot(self, campaign_id: str) -> dict[str, Any] | None:
        runner = self.runners.get(campaign_id)
        return None if runner is None else runner.snapshot()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
