from __future__ import annotations

import dataclasses
import enum
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


def _sample(cls: type) -> object:
    """An instance of `cls` with every required field filled from its type hints."""
    plain = {str: "x", float: 1.5, int: 2, bool: True}
    kwargs = {}
    hints = ev._hints(cls)
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            tp = hints[f.name]
            tp = getattr(tp, "__supertype__", tp)
            if isinstance(tp, type) and issubclass(tp, enum.Enum):
                kwargs[f.name] = next(iter(tp))
            elif tp in plain:
                kwargs[f.name] = plain[tp]
            else:
                kwargs[f.name] = None  # nested values: the constructor does not check types
    return cls(**kwargs)


@pytest.mark.parametrize("cls", [*ev.message_types().values(), ev.SkillRequirement, ev.DecisionCandidate, ev.QueueSnapshot])
def test_fast_construction_builds_what_the_dataclass_would(cls: type) -> None:
    import copy
    import pickle

    msg = _sample(cls)
    assert type(msg) is cls and cls.__new__ is not object.__new__  # built by the fast constructor
    names = [f.name for f in dataclasses.fields(cls)]
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            assert getattr(msg, f.name) == f.default, f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert getattr(msg, f.name) == f.default_factory(), f.name
    assert copy.copy(msg) == msg and copy.deepcopy(msg) == msg
    assert pickle.loads(pickle.dumps(msg)) == msg
    assert dataclasses.replace(msg) == msg
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(msg, names[0], getattr(msg, names[0]))
    if all(f.kw_only for f in dataclasses.fields(cls)):
        with pytest.raises(TypeError):
            cls(*[getattr(msg, n) for n in names])  # keyword-only, as the dataclass says


def test_fast_construction_keeps_defaults_factories_and_errors() -> None:
    a = ev.AgentStateChanged(agent_id=ev.AgentId("a1"), old=ev.AgentState.READY, new=ev.AgentState.RESERVED, at=1.0)
    assert (a.reason, a.call_id) == ("", None)
    assert a == ev.AgentStateChanged(agent_id=ev.AgentId("a1"), old=ev.AgentState.READY, new=ev.AgentState.RESERVED, reason="", at=1.0)
    assert hash(a) == hash(dataclasses.replace(a))
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'at'"):
        ev.AgentStateChanged(agent_id=ev.AgentId("a1"), old=ev.AgentState.READY, new=ev.AgentState.RESERVED)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        ev.StartTimer(timer_id=ev.TimerId("t"), delay_s=1.0, nope=1)  # type: ignore[call-arg]
    # A default factory gives each instance its own value, as the dataclass does.
    factory_fields = [
        (cls, f) for cls in vars(ev).values() if isinstance(cls, type) and dataclasses.is_dataclass(cls)
        for f in dataclasses.fields(cls) if f.default_factory is not dataclasses.MISSING
    ]
    assert factory_fields
    for cls, f in factory_fields:
        one, two = _sample(cls), _sample(cls)
        assert getattr(one, f.name) == f.default_factory() and getattr(one, f.name) is not getattr(two, f.name)


def test_fast_construction_leaves_classes_it_cannot_copy_alone() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        n: int

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError("negative")

    assert ev.fast_construction(Checked) is Checked and Checked.__new__ is object.__new__
    with pytest.raises(ValueError, match="negative"):
        Checked(-1)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Positional:
        a: int
        b: str = "b"

    ev.fast_construction(Positional)
    assert Positional(1) == Positional(a=1, b="b") and Positional.__new__ is not object.__new__
