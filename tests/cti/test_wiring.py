"""The composition root's own pieces: answering a real phone, the command router, the mapping of
the rooms' words, the session secret, and the `serve` command line."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from callcenter import events as ev
from callcenter.app import CommandRouter, NotifyAnswerer, session_secret
from callcenter.cli import build_parser
from callcenter.errors import DomainError
from callcenter.settings import Settings


class Client:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send_action(self, name: str, **headers: Any) -> None:
        self.sent.append((name, headers))


async def test_answering_a_real_phone_is_a_sip_notify_talk() -> None:
    client = Client()
    answerer = NotifyAnswerer(client)
    await answerer.answer(ev.AnswerCall(agent_id=ev.AgentId("1001"), call_id=ev.CallId("c"), interface="PJSIP/1001"))
    assert client.sent == [("PJSIPNotify", {"Endpoint": "1001", "Variable": "Event=talk"})]
    with pytest.raises(DomainError) as err:
        await answerer.answer(ev.AnswerCall(agent_id=ev.AgentId("1001"), call_id=ev.CallId("c"), interface="SIP/1001"))
    assert err.value.message == "agent 1001: cannot answer interface 'SIP/1001'"


async def test_the_router_reports_offers_it_carried_out_and_answers_through_the_answerer() -> None:
    executed: list[object] = []
    published: list[object] = []
    answered: list[ev.AnswerCall] = []

    class Port:
        async def execute(self, command: object) -> list[object]:
            executed.append(command)
            return []

    class Answerer:
        async def answer(self, command: ev.AnswerCall) -> None:
            answered.append(command)

    async def publish(msg: object) -> None:
        published.append(msg)

    router = CommandRouter(Port(), publish, Answerer())
    offer = ev.OfferCall(call_id=ev.CallId("c1"), agent_id=ev.AgentId("1002"), interface="PJSIP/1002",
                         queue=ev.QueueName("billing"), decision_id=ev.DecisionId("c1/1"))
    await router.execute(offer)
    await router.execute(ev.Hangup(channel_id=ev.ChannelId("x")))
    answer = ev.AnswerCall(agent_id=ev.AgentId("1002"), call_id=ev.CallId("c1"), interface="PJSIP/1002")
    await router.execute(answer)
    assert executed == [offer, ev.Hangup(channel_id=ev.ChannelId("x"))]
    assert answered == [answer]
    (offered,) = published
    assert isinstance(offered, ev.CallOffered)
    assert (offered.call_id, offered.agent_id, offered.queue, offered.decision_id) == ("c1", "1002", "billing", "c1/1")


def test_the_session_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = session_secret(settings)
    assert len(first) >= 32 and session_secret(settings) == first
    assert stat.S_IMODE((tmp_path / "session.key").stat().st_mode) == 0o600
    settings.http.session_secret = "configured-secret-value"
    assert session_secret(settings) == "configured-secret-value"


def test_serve_and_demo_take_the_config_file_after_the_command() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve", "--config", "prod.yaml"]).config == "prod.yaml"
    assert parser.parse_args(["--config", "prod.yaml", "serve"]).config == "prod.yaml"
    demo = parser.parse_args(["demo", "--agents", "3", "--rate", "10", "--speed", "2", "--duration", "5"])
    assert (demo.agents, demo.rate, demo.speed, demo.duration, demo.config) == (3, 10.0, 2.0, 5.0, None)


def test_demo_refuses_bad_options_naming_them(capsys: pytest.CaptureFixture[str]) -> None:
    from callcenter.cli import main

    assert main(["demo", "--speed", "0"]) == 2
    assert capsys.readouterr().out == "callcenter demo: --speed has value 0.0; see callcenter demo --help\n"
    assert main(["demo", "--vip-share", "1.5"]) == 2
    assert "--vip-share has value 1.5" in capsys.readouterr().out
