"""Dialplan applications and AGI commands, run on a small dialplan written for them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.app import DEFAULT_CONF_DIR, Emulator
from pbx.fastagi import AgiCommandError, AgiHangup, AgiSession, FastAgiServer
from tests.integration.conftest import AmiProbe

DIALPLAN = """\
[globals]
PORT=4573

[t]
exten => gosub,1,Gosub(sub,s,1(a,b))
 same => n,UserEvent(AfterGosub,Ret: ${GOSUB_RETVAL})
 same => n,ExecIf($[1 = 1]?UserEvent(ExecIfTrue,X: 1):UserEvent(ExecIfFalse))
 same => n,Set(CALLERID(num)=555)
 same => n,UserEvent(Cid,Num: ${CALLERID(num)},Len: ${LEN(${CALLERID(num)})},Sub: ${EXTEN:0:3})
 same => n,Goto(nowhere,s,1)

[sub]
exten => s,1,UserEvent(InSub,A: ${ARG1},B: ${ARG2})
 same => n,Return(done)

[menu]
exten => s,1,Answer()
 same => n,Background(beep)
 same => n,WaitExten(2)
exten => 3,1,UserEvent(Pressed3)
 same => n,Hangup(17)
exten => t,1,UserEvent(TimedOut)
 same => n,Hangup()

[agi]
exten => s,1,Answer()
 same => n,AGI(agi://127.0.0.1:${PORT}/t,one,two words)
 same => n,UserEvent(AgiDone,Status: ${AGISTATUS})
exten => moved,1,UserEvent(AgiMoved,Status: ${AGISTATUS})
 same => n,AGI(agi://127.0.0.1:${PORT}/hangup)
 same => n,UserEvent(NotReached)
"""


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "extensions.conf").write_text(DIALPLAN)
    for name in ("manager.conf", "pjsip.conf"):
        (conf / name).write_text((DEFAULT_CONF_DIR / name).read_text())
    return conf


async def test_gosub_execif_callerid_and_a_goto_to_nowhere(make_emulator, ami_probe, conf, caplog) -> None:
    emulator: Emulator = await make_emulator(conf_dir=conf, clock_scale=10.0)
    probe: AmiProbe = await ami_probe(emulator)
    caplog.set_level(logging.ERROR, logger="emulator.pbx")
    await probe.action("Originate", Channel="Local/gosub@t", Application="Echo", Async="true")
    sub = await probe.wait_event("UserEvent", UserEvent="InSub")
    assert (sub.get("A"), sub.get("B")) == ("a", "b")
    assert (await probe.wait_event("UserEvent", UserEvent="AfterGosub")).get("Ret") == "done"
    await probe.wait_event("UserEvent", UserEvent="ExecIfTrue")
    cid = await probe.wait_event("UserEvent", UserEvent="Cid")
    assert (cid.get("Num"), cid.get("Len"), cid.get("Sub")) == ("555", "3", "gos")
    assert probe.find("NewCallerid", Channel=cid.get("Channel"), CallerIDNum="555")
    await probe.wait_event("Hangup", Channel=cid.get("Channel"))
    assert not probe.find("UserEvent", UserEvent="ExecIfFalse")
    assert any("extensions.conf:10: Goto to nowhere,s,1: no such extension" in r.getMessage() for r in caplog.records)


async def test_background_and_waitexten_jump_on_digits_or_time_out(make_emulator, ami_probe, conf) -> None:
    emulator: Emulator = await make_emulator(conf_dir=conf, clock_scale=5.0)
    probe: AmiProbe = await ami_probe(emulator)
    await probe.action("Originate", Channel="Local/s@menu", Application="Echo", Async="true")
    background = await probe.wait_event("Newexten", Application="Background")
    channel = background.get("Channel") or ""
    assert await emulator.press(channel, "3")
    await probe.wait_event("UserEvent", UserEvent="Pressed3", Channel=channel)
    hangup = await probe.wait_event("Hangup", Channel=channel)
    assert (hangup.get("Cause"), hangup.get("Cause-txt")) == ("17", "User busy")
    await probe.action("Originate", Channel="Local/s@menu", Application="Echo", Async="true")
    timed_out = await probe.wait_event("UserEvent", UserEvent="TimedOut")
    assert timed_out.get("Channel") != channel


class Script:
    def __init__(self) -> None:
        self.results: dict[str, object] = {}
        self.hung_up = asyncio.Event()

    async def t(self, session: AgiSession) -> None:
        r = self.results
        r["args"] = session.env.args
        r["request"] = session.env.request
        interrupted = session.send("STREAM FILE", "vm-intro", "12")
        task = asyncio.ensure_future(interrupted)
        await asyncio.sleep(0.05)
        await self.emulator.press(session.env.channel, "1")
        r["stream"] = (await task).result
        r["wait"] = (await session.send("WAIT FOR DIGIT", "100")).result
        r["var"] = (await session.send("GET VARIABLE", "PORT")).data
        r["full"] = (await session.send("GET FULL VARIABLE", "${CONTEXT}-${EXTEN}")).data
        r["unset"] = (await session.send("GET VARIABLE", "NOPE")).result
        r["exec"] = (await session.send("EXEC", "UserEvent", "FromAgi")).result
        r["status"] = (await session.send("CHANNEL STATUS")).result
        for bad in ("FOO BAR", "GET DATA"):
            with pytest.raises(AgiCommandError) as exc:
                await session.send(bad)
            r[bad] = exc.value.reply.code
        await session.send("SET EXTENSION", "moved")
        await session.send("SET PRIORITY", "1")

    async def hangup(self, session: AgiSession) -> None:
        await session.send("HANGUP")
        try:
            await session.send("NOOP")
        except AgiHangup:
            self.hung_up.set()


@pytest.fixture
async def script() -> AsyncIterator[tuple[Script, FastAgiServer]]:
    s = Script()
    server = FastAgiServer({"t": s.t, "hangup": s.hangup}, port=0)
    await server.start()
    yield s, server
    await server.stop()


async def test_agi_commands(make_emulator, ami_probe, conf, script) -> None:
    s, server = script
    emulator: Emulator = await make_emulator(conf_dir=conf, clock_scale=5.0, globals={"PORT": str(server.port)})
    s.emulator = emulator
    probe: AmiProbe = await ami_probe(emulator)
    await probe.action("Originate", Channel="Local/s@agi", Application="Echo", Async="true")
    moved = await probe.wait_event("UserEvent", UserEvent="AgiMoved")
    assert moved.get("Status") == "SUCCESS"
    assert s.results == {
        "args": ("one", "two words"), "request": f"agi://127.0.0.1:{server.port}/t", "stream": "49",
        "wait": "0", "var": str(server.port), "full": "agi-s", "unset": "0", "exec": "0", "status": "6",
        "FOO BAR": 510, "GET DATA": 520,
    }
    assert probe.find("UserEvent", UserEvent="FromAgi")
    assert not probe.find("UserEvent", UserEvent="AgiDone")  # SET EXTENSION moved the channel
    # The second script hangs the channel up; the session then sees HANGUP.
    await probe.wait_event("Hangup", Channel=moved.get("Channel"))
    async with asyncio.timeout(5):
        await s.hung_up.wait()
    assert not probe.find("UserEvent", UserEvent="NotReached")
    assert probe.find("VarSet", Channel=moved.get("Channel"), Variable="AGISTATUS", Value="HANGUP")
