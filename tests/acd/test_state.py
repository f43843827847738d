from __future__ import annotations

from pathlib import Path

import pytest

from acd.state import AGENT_TRANSITIONS, Trigger, state_diagram, transition
from callcenter.errors import IllegalTransition
from callcenter.events import AgentId, AgentState

S = AgentState
T = Trigger


def test_every_state_has_a_row_and_every_target_is_a_state() -> None:
    assert set(AGENT_TRANSITIONS) == set(AgentState)
    assert all(isinstance(new, AgentState) for row in AGENT_TRANSITIONS.values() for new in row.values())


@pytest.mark.parametrize(
    ("state", "trigger", "new"),
    [
        (S.LOGGED_OUT, T.LOGIN, S.NOT_READY),
        (S.NOT_READY, T.READY, S.READY),
        (S.READY, T.OFFER, S.RESERVED),
        (S.RESERVED, T.ANSWER, S.ON_CALL),
        (S.RESERVED, T.NO_ANSWER, S.NOT_READY),
        (S.RESERVED, T.CALLER_GONE, S.READY),
        (S.ON_CALL, T.CALL_ENDED, S.WRAP_UP),
        (S.ON_CALL, T.NOT_READY, S.ON_CALL),
        (S.WRAP_UP, T.WRAP_UP_DONE, S.READY),
        (S.WRAP_UP, T.PAUSE_AFTER_CALL, S.NOT_READY),
        (S.READY, T.OUTBOUND, S.OUTBOUND),
        (S.OUTBOUND, T.CALL_ENDED, S.WRAP_UP),
    ],
)
def test_legal_transitions(state: AgentState, trigger: Trigger, new: AgentState) -> None:
    assert transition(AgentId("1001"), state, trigger, "Event") is new


@pytest.mark.parametrize(
    ("state", "trigger", "event", "message"),
    [
        (S.LOGGED_OUT, T.READY, "AgentReady", "agent 1001: can't handle AgentReady in state LOGGED_OUT"),
        (S.ON_CALL, T.LOGOUT, "AgentLoggedOut", "agent 1001: can't handle AgentLoggedOut in state ON_CALL"),
        (S.READY, T.ANSWER, "CallAnswered", "agent 1001: can't handle CallAnswered in state READY"),
        (S.RESERVED, T.OFFER, "OfferCall", "agent 1001: can't handle OfferCall in state RESERVED"),
    ],
)
def test_illegal_transitions_name_agent_event_and_state(state: AgentState, trigger: Trigger, event: str, message: str) -> None:
    with pytest.raises(IllegalTransition) as exc:
        transition(AgentId("1001"), state, trigger, event)
    assert str(exc.value) == message


def test_the_diagram_is_drawn_from_the_table() -> None:
    lines = state_diagram().splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    READY --> RESERVED: offer" in lines
    assert len(lines) - 1 == sum(len(row) for row in AGENT_TRANSITIONS.values())


def test_docs_show_the_table_as_it_is(repo_dir: Path) -> None:
    assert state_diagram() in (repo_dir / "docs" / "acd.md").read_text(encoding="utf-8")
