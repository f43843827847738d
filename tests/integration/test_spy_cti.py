"""Listen / whisper / barge from the supervisor's socket, through the whole control plane to the
emulator: the CTI's `spy` action -> Originate of the supervisor's phone into [cc-spy] ->
ChanSpy on the agent's channel with the mode's options, until the agent's call ends."""

from __future__ import annotations

from cti.supervisor import SPY_OPTIONS
from tests.integration.conftest import AmiProbe
from tests.integration.test_cti_e2e import Stack, desk, prompts, stack  # noqa: F401 (fixtures)


async def test_a_supervisor_whispers_to_an_agent_from_the_socket(stack: Stack, ami_probe) -> None:  # noqa: F811
    # (every mode's options through the command port: tests/integration/test_spy.py)
    mode = "whisper"
    emulator = stack.emulator
    probe: AmiProbe = await ami_probe(emulator)
    emulator.set_endpoint("1001", answer=True, answer_after_s=0.5, talk_s=None)
    emulator.set_endpoint("9001", answer_after_s=0.3, talk_s=None)  # the supervisor picks up
    async with desk(stack, "agent1001") as agent, desk(stack, "supervisor") as supervisor:
        await agent.act("login")
        await agent.next("agent.state-changed", new="not-ready")
        await agent.act("ready")
        call = emulator.place_call({"ani": stack.vip["ani"], "dnis": "10086", "talk_s": 120.0})
        await agent.next("call.answered", call_id=call.linkedid, within_s=30)
        spied = (await probe.wait_event("BridgeEnter", Channel="PJSIP/1001-.*")).get("Channel") or ""

        await supervisor.act("spy", agent_id="1001", mode=mode, phone="PJSIP/9001")
        start = await probe.wait_event("ChanSpyStart", SpyeeChannel=spied)
        spyer = start.get("SpyerChannel") or ""
        assert spyer.startswith("PJSIP/9001-") and start.get("SpyerContext") == "cc-spy"
        assert probe.find("Newexten", Channel=spyer, Application="ChanSpy")[0].get("AppData") == (
            f"{spied},{SPY_OPTIONS[mode]}")
        assert emulator.channel(call.channel) is not None  # the call goes on while spied on

        await emulator.far_end_hangup(call.channel)
        await agent.next("call.ended", call_id=call.linkedid)
        await probe.wait_event("ChanSpyStop", SpyerChannel=spyer)
        await probe.wait_event("Hangup", Channel=spyer)
