"""What reaches Asterisk from people (campaign ids, contact ids from a CSV, transfer targets) is
checked where it enters, so nothing can smuggle a variable, an argument or a line into an action."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.errors import LocalProtocolError
from crm.db import make_sessionmaker
from dialer import campaigns
from dialer.contacts import parse_contacts
from tests.crm.conftest import engine, pg_template  # noqa: F401 - fixtures
from tests.cti.conftest import Harness
from tests.cti.test_api import offered_call, ready_agent
from tests.pbx.test_ami_client import FakeAsterisk, asterisk, client_for  # noqa: F401 - the fixture

NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)


def test_contact_ids_that_asterisk_could_misread_are_rejected() -> None:
    result = parse_contacts('id,phone\nok-1.a_b,+12125550100\n"x,RESERVED_AGENT=1001",+12125550101\n'
                            "${SHELL(id)},+12125550102\n", default_country="US")
    assert [c.contact_id for c in result.contacts] == ["ok-1.a_b"]
    assert [str(r) for r in result.rejections] == [
        "row 3, column id: 'x,RESERVED_AGENT=1001' is not 1 to 64 letters, digits, '_', '-' or '.'",
        "row 4, column id: '${SHELL(id)}' is not 1 to 64 letters, digits, '_', '-' or '.'",
    ]


@pytest.mark.parametrize("campaign_id", ["a,b", "${X}", "../x", "a b", "x" * 65, ""])
async def test_campaign_ids_are_plain_names(engine: AsyncEngine, campaign_id: str) -> None:  # noqa: F811
    async with make_sessionmaker(engine)() as s:
        with pytest.raises(campaigns.CampaignError) as refused:
            await campaigns.create_campaign(s, campaign_id, name="X", queue="q", now=NOW)
    assert str(refused.value) == (f"campaign id {campaign_id!r}: expected 1 to 64 letters, digits, '_', '-' or '.'")


async def test_the_ami_client_refuses_cr_lf_and_keeps_its_connection(asterisk: FakeAsterisk) -> None:  # noqa: F811
    client = client_for(asterisk)
    async with asyncio.timeout(5):
        await client.connect()
        with pytest.raises(LocalProtocolError) as refused:
            await client.send_action("BlindTransfer", Channel="PJSIP/1001-1", Context="agents",
                                     Exten="123\r\nAction: Originate")
        assert (await client.send_action("Ping")).get("Ping") == "Pong"
        await client.close()
    assert str(refused.value) == "AMI header 'Exten' has a CR or LF in its value '123\\r\\nAction: Originate'"
    assert "BlindTransfer" not in asterisk.names()  # nothing of it reached the wire


async def test_a_codec_refusal_reaches_the_desktop_as_pbx_error(cti: Harness) -> None:
    agent = await ready_agent(cti, "agent1001")
    assert agent.socket is not None
    await offered_call(cti, "c1", "13800000001")
    await agent.socket.next("cti.screen-pop")
    await cti.agent_leg("c1", "1001")
    cti.port.fail_with = LocalProtocolError("AMI header 'Channel' has a CR or LF in its value 'x\\r\\n'")  # type: ignore[assignment]
    reply = await agent.socket.request("hold", call_id="c1")
    assert (reply["error_id"], reply["message"]) == (
        "pbx-error", "the PBX refused 'hold': AMI header 'Channel' has a CR or LF in its value 'x\\r\\n'")
    cti.port.fail_with = None
    refused = await agent.http.post("/api/v1/actions/transfer", json={
        "call_id": "c1", "kind": "blind", "to": "number", "target": "123\r\nAction: Originate"})
    assert refused.status_code == 422
    assert refused.json()["message"] == "transfer: target: String should match pattern '^[A-Za-z0-9_.+-]{1,64}$'"
