from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter import events as ev


def test_every_message_is_frozen_slotted_and_keyword_only() -> None:
    for name, cls in ev.message_types().items():
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen, name
        assert "__slots__" in cls.__dict__, name
        assert all(f.kw_only for f in dataclasses.fields(cls)), name


def test_call_arrived_json_form() -> None:
    msg = ev.CallArrived(
        call_id=ev.CallId("1700000000.1"),
        channel_id=ev.ChannelId("1700000000.1"),
        channel="PJSIP/trunk-00000001",
        ani="13800138000",
        dnis="10086",
        at=1700000000.5,
    )
    data = ev.to_json(msg)
    assert data == {
        "type": "call.arrived",
        "v": 1,
        "call_id": "1700000000.1",
        "channel_id": "1700000000.1",
        "channel": "PJSIP/trunk-00000001",
        "ani": "13800138000",
        "dnis": "10086",
        "direction": "inbound",
        "caller_name": "",
        "at": 1700000000.5,
    }
    assert ev.from_json(json.loads(json.dumps(data))) == msg


def test_nested_routing_request_round_trips() -> None:
    req = ev.RoutingRequest(
        queue=ev.QueueName("billing"),
        skills=(ev.SkillRequirement(skill="billing", min_level=3),),
        priority_class="vip",
        priority=90,
        relaxation=(ev.RelaxationStep(after_s=30, skills=(ev.SkillRequirement(skill="billing"),)),),
        overflow_queue=ev.QueueName("general"),
    )
    msg = ev.CallQueued(call_id=ev.CallId("c1"), request=req, at=1.0)
    back = ev.from_json(json.loads(json.dumps(ev.to_json(msg))))
    assert back == msg
    assert isinstance(back.request.skills, tuple)
    assert isinstance(back.request.relaxation[0].after_s, float)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"type": "no.such"}, "message: unknown type 'no.such'"),
        ({"type": "agent.ready", "v": 1}, "agent.ready: missing field 'agent_id'"),
        (
            {"type": "agent.ready", "v": 2, "agent_id": "a", "at": 1},
            "agent.ready: version 2 is not supported (expected 1)",
        ),
        ({"type": "agent.ready", "agent_id": 5, "at": 1}, "agent.ready.agent_id: expected str, got 5"),
        ({"type": "agent.ready", "agent_id": "a", "at": 1, "x": 1}, "agent.ready: unknown field 'x'"),
        (
            {"type": "channel.state-changed", "call_id": "c", "channel_id": "c", "state": "weird", "at": 1},
            "channel.state-changed.state: 'weird' is not a valid ChannelState",
        ),
        ([], "message: expected an object, got list"),
    ],
)
def test_decode_errors_name_the_field(data: object, error: str) -> None:
    with pytest.raises(ev.MessageDecodeError) as exc:
        ev.from_json(data)  # type: ignore[arg-type]
    assert str(exc.value) == error


text = st.text(max_size=20)


@given(call=text, ani=text, dnis=text, at=st.floats(allow_nan=False, allow_infinity=False))
def test_round_trip_any_values(call: str, ani: str, dnis: str, at: float) -> None:
    msg = ev.CallArrived(call_id=ev.CallId(call), channel_id=ev.ChannelId(call), channel="X", ani=ani, dnis=dnis, at=at)
    assert ev.from_json(json.loads(json.dumps(ev.to_json(msg)))) == msg


def test_message_names_are_unique_and_dotted() -> None:
    names = list(ev.message_types())
    assert len(names) == len(set(names))
    assert all("." in n for n in names)
