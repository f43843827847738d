"""The contact queue's do-not-call update: pure, and applied to contacts already queued."""

from __future__ import annotations

from callcenter.events import ContactId
from dialer.compliance import History
from dialer.contact_queue import ContactQueue
from dialer.contacts import Contact
from tests.dialer.test_compliance import ANN, NOON_NY, ROOMY, RULES

BOB = Contact(ContactId("c2"), "+12125550101", "US", ("America/New_York",))


def history_of(contact: Contact) -> History:
    return History((), ROOMY)


def test_a_number_listed_after_it_was_queued_is_refused_at_its_turn_and_leaves_the_queue() -> None:
    queue = ContactQueue(iter([ANN, BOB]), RULES)
    queue.set_global_dnc(frozenset({ANN.number}))
    chosen, decisions = queue.take(1, NOON_NY, history_of, agent_reserved=True)
    assert chosen == [BOB]
    assert [(d.contact.contact_id, d.decision.allowed, [r.value for r in d.decision.reasons])
            for d in decisions] == [("c1", False, ["global-dnc"]), ("c2", True, [])]
    assert decisions[0].decision.next_allowed_at is None  # never: it leaves the campaign
    assert queue.rules.global_dnc == frozenset({ANN.number}) and RULES.global_dnc == frozenset()
    queue.set_global_dnc(frozenset())  # taken off the list: ANN is gone from this queue already
    assert queue.take(1, NOON_NY, history_of, agent_reserved=True) == ([], [])
    assert queue.is_exhausted()
