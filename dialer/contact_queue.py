"""The campaign's contacts in the order they may be dialed, with compliance asked before each dial.

Theory of operation
-------------------
* Contacts wait in a heap keyed by the earliest instant they may be dialed (`due`), then by the
  order they were added. Fresh contacts come from an iterator, so a list of a million rows need
  not be materialised; a contact that has been tried once lives in the heap with its retry time.
* `take(n, now, ...)` pops due contacts and runs `compliance.check` on each. Every decision, dial
  or no-dial, is returned (and logged at DEBUG) so the caller can keep it: the adapter writes
  them to the CRM, the simulation counts them. A refused contact goes back at `next_allowed_at`,
  or leaves the campaign when that is None. A refusal for the abandon limit is campaign-wide, so
  the scan stops there and the contact stays at the head.
* The do-not-call list changes while a campaign runs: `set_global_dnc` swaps the rules' global
  list (the adapter re-reads the CRM's); contacts already queued are checked against the new
  list when their turn comes.
* Pure: no clock, no I/O.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from callcenter.events import CampaignId, DialDecided
from dialer.compliance import CampaignRules, Decision, History, Reason, check
from dialer.contacts import Contact

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Checked:
    contact: Contact
    decision: Decision
    at: float
    agent_reserved: bool

    def to_event(self, campaign_id: CampaignId) -> DialDecided:
        """The record the adapter keeps (CRM, CTI) for this dial or no-dial."""
        d = self.decision
        return DialDecided(
            campaign_id=campaign_id,
            contact_id=self.contact.contact_id,
            number=self.contact.number,
            allowed=d.allowed,
            reasons=tuple(r.value for r in d.reasons),
            next_allowed_at=None if d.allowed else d.next_allowed_at,
            agent_reserved=self.agent_reserved,
            at=self.at,
        )


class ContactQueue:
    def __init__(self, fresh: Iterator[Contact], rules: CampaignRules) -> None:
        self._fresh = fresh
        self._rules = rules
        self._heap: list[tuple[float, int, Contact]] = []
        self._seq = 0
        self._fresh_done = False

    @property
    def rules(self) -> CampaignRules:
        return self._rules

    def set_global_dnc(self, numbers: frozenset[str]) -> None:
        """The global do-not-call list (E.164) from now on."""
        self._rules = dataclasses.replace(self._rules, global_dnc=numbers)

    def push(self, contact: Contact, due: float) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, contact))

    def _next_due(self, now: float) -> Contact | None:
        if self._heap and self._heap[0][0] <= now:
            return heapq.heappop(self._heap)[2]
        if not self._fresh_done:
            contact = next(self._fresh, None)
            if contact is not None:
                return contact
            self._fresh_done = True
        return None

    def is_exhausted(self) -> bool:
        """No contact is left to dial, now or later."""
        return self._fresh_done and not self._heap

    def take(
        self,
        n: int,
        now: float,
        history_of: Callable[[Contact], History],
        *,
        agent_reserved: bool,
        max_scan: int = 50,
    ) -> tuple[list[Contact], list[Checked]]:
        """Up to `n` contacts allowed now, and every decision made on the way. At most
        `max_scan` contacts are examined, so a closed calling window does not walk the list."""
        chosen: list[Contact] = []
        decisions: list[Checked] = []
        while len(chosen) < n and len(decisions) < max_scan:
            contact = self._next_due(now)
            if contact is None:
                break
            decision = check(contact, self._rules, history_of(contact), now, agent_reserved=agent_reserved)
            decisions.append(Checked(contact, decision, now, agent_reserved))
            logger.debug(
                "campaign %s contact %s: %s", self._rules.campaign_id, contact.contact_id, decision.describe()
            )
            if decision.allowed:
                chosen.append(contact)
            elif decision.next_allowed_at is not None:
                self.push(contact, decision.next_allowed_at)
                if Reason.ABANDON_LIMIT in decision.reasons:
                    break
        return chosen, decisions
