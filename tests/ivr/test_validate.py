"""Flow validation: every kind of error, at its exact FILE:LINE:COLUMN; the CLI contract; hot reload."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from callcenter.cli import main
from callcenter.events import CallId, ChannelId
from ivr.interpreter import DigitsEntered, Exit, GetDigits, start, step
from ivr.prompts import SoundLibrary
from ivr.registry import FlowRegistry
from ivr.validate import load_flows

BAD_GRAPH = """\
flow: bad
languages: [en, zh]
start: menu
prompts:
  menu: {en: "Press 1 or 2.", zh: 请按1或2。}
  bye: {en: {sound: no-such-sound}, zh: 再见}
  half: {en: Only English}
nodes:
  menu:
    type: menu
    prompt: menu
    options:
      - {key: 1, say: {en: [sales]}, next: sales}
      - {key: "1", say: {en: [Sales]}, next: support}
      - {key: 2, next: nowhere}
  sales: {type: route, prompt: missing_prompt}
  support: {type: play, prompt: half, next: loop_a}
  loop_a: {type: set, variables: {x: "1"}, next: loop_b}
  loop_b: {type: play, prompt: menu, next: loop_a}
  orphan: {type: hangup, prompt: bye}
  digits: {type: collect, prompt: menu, variable: v, min_digits: 5, max_digits: 4, pattern: "[0-9", next: orphan}
"""

BAD_SCHEMA = """\
flow: s
start: a
nodes:
  a:
    type: menu
    prompt: p
    options: []
    timeout_s: fast
  b: {type: dance, next: a}
  c: {type: play, next: a}
  d: {type: collect, prompt: p, variable: v, max_digits: 4, next: a, colour: red}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(*paths: Path) -> list[str]:
    return [str(e) for e in load_flows(list(paths), SoundLibrary()).errors]


def test_graph_errors_each_at_its_place(tmp_path: Path) -> None:
    f = write(tmp_path, "bad.yaml", BAD_GRAPH)
    assert errors_of(f) == [
        f"{f}:6:21: prompt 'bye' (en): sound file 'no-such-sound' not found in /usr/share/asterisk/sounds/en",
        f"{f}:7:3: prompt 'half' has no 'zh' version",
        f"{f}:14:15: menu 'menu': key '1' is used by options 0 and 1",
        f"{f}:14:31: menu 'menu': phrase 'Sales' (en) is used by options 0 and 1",
        f"{f}:15:24: node 'menu' refers to missing node 'nowhere'",
        f"{f}:16:32: node 'sales' uses undefined prompt 'missing_prompt'",
        f"{f}:17:3: node 'support' leads only into a loop with no exit",
        f"{f}:18:3: node 'loop_a' is in a loop with no exit",
        f"{f}:19:3: node 'loop_b' is in a loop with no exit",
        f"{f}:20:3: node 'orphan' is unreachable from start node 'menu'",
        f"{f}:21:3: node 'digits' is unreachable from start node 'menu'",
        f"{f}:21:66: node 'digits': min_digits 5 is more than max_digits 4",
        f"{f}:21:93: node 'digits': invalid pattern: unterminated character set at position 0",
    ]


def test_schema_errors_and_unknown_node_types(tmp_path: Path) -> None:
    f = write(tmp_path, "schema.yaml", BAD_SCHEMA)
    assert errors_of(f) == [
        f"{f}:7:14: nodes.a.options: [] should be non-empty",
        f"{f}:8:16: nodes.a.timeout_s: 'fast' is not of type 'number'",
        f"{f}:9:13: node 'b' has unknown type 'dance'; expected one of: play, menu, collect, ask, confirm, lookup, "
        "condition, set, callback, voicemail, route, transfer, hangup, subflow, return",
        f"{f}:10:6: nodes.c: a play node needs `prompt` or `say`",
        f"{f}:11:6: nodes.d: Additional properties are not allowed ('colour' was unexpected)",
    ]


def test_yaml_syntax_duplicate_keys_and_missing_parts(tmp_path: Path) -> None:
    a = write(tmp_path, "a/syntax.yaml", "flow: y\nstart: a\nnodes:\n  a: {type: hangup\n")
    b = write(tmp_path, "b/dup.yaml", "flow: dup\nstart: a\nnodes:\n  a: {type: hangup}\n  a: {type: route}\n")
    c = write(tmp_path, "c/nostart.yaml", "flow: n\nstart: zz\nnodes:\n  a: {type: hangup}\n")
    d = write(tmp_path, "d/neither.yaml", "start: a\nnodes:\n  a: {type: hangup}\n")
    assert errors_of(a) == [f"{a}:5:1: not valid YAML: expected ',' or '}}', but got '<stream end>'"]
    assert errors_of(b) == [f"{b}:5:3: duplicate key 'a'"]
    assert errors_of(c) == [f"{c}:2:8: start node 'zz' does not exist"]
    assert errors_of(d) == [f"{d}:1:1: a flow file needs exactly one of `flow: NAME` or `subflow: NAME`"]


def test_subflow_errors(tmp_path: Path) -> None:
    caller = write(
        tmp_path,
        "caller.yaml",
        "flow: c\nstart: a\nnodes:\n  a: {type: subflow, flow: nope, next: b}\n  b: {type: return}\n",
    )
    loop = write(
        tmp_path,
        "loop.yaml",
        "subflow: again\nstart: a\nnodes:\n  a: {type: subflow, flow: again, next: b}\n  b: {type: return}\n",
    )
    assert errors_of(caller, loop) == [
        f"{caller}:4:28: node 'a' calls unknown sub-flow 'nope'",
        f"{caller}:5:13: node 'b': `return` is only allowed in a sub-flow",
        f"{loop}:4:28: sub-flow 'again' calls itself through node 'a'",
    ]


def test_yes_and_no_stay_strings(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        "yn.yaml",
        "flow: yn\nstart: c\nprompts: {p: {en: \"Sure?\"}}\nnodes:\n"
        "  c: {type: confirm, prompt: p, yes: y, no: n}\n  y: {type: route}\n  n: {type: hangup}\n",
    )
    assert errors_of(f) == []


def test_the_shipped_flows_are_valid(repo_dir: Path) -> None:
    assert errors_of(repo_dir / "flows") == []


def test_cli_prints_errors_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str], repo_dir: Path) -> None:
    f = write(tmp_path, "schema.yaml", BAD_SCHEMA)
    assert main(["flows", "validate", str(f)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5 and all(line.startswith(f"{f}:") for line in out)
    assert main(["flows", "validate", str(repo_dir / "flows")]) == 0
    assert capsys.readouterr().out == ""
    assert main(["flows", "validate", str(tmp_path / "missing.yaml")]) == 1
    assert capsys.readouterr().out == f"{tmp_path / 'missing.yaml'}:1:1: no such file or directory\n"


V1 = """\
flow: hot
dnis: ["100"]
start: menu
prompts: {m: {en: "Version one. Press 1."}}
nodes:
  menu: {type: menu, prompt: m, options: [{key: 1, next: out}]}
  out: {type: route, queue: one}
"""


def test_hot_reload_keeps_calls_on_their_version_and_refuses_bad_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "hot.yaml", V1)
    registry = FlowRegistry([tmp_path])
    assert registry.reload() == []
    v1 = registry.for_dnis("100")
    assert v1 is not None and registry.for_dnis("999") is None
    in_flight, _ = start(v1, call_id=CallId("c1"), channel_id=ChannelId("h1"), ani="1", dnis="100", at=0.0)

    path.write_text(V1.replace("queue: one", "queue: two").replace("Version one", "Version two"), encoding="utf-8")
    assert registry.reload_if_changed()
    v2 = registry.for_dnis("100")
    assert v2 is not None and v2.version != v1.version
    assert not registry.reload_if_changed()

    _, commands = step(in_flight, DigitsEntered(digits="1", at=1.0))
    assert commands[-1] == Exit(outcome="route", routing={"language": "en", "queue": "one"})
    _, commands = start(v2, call_id=CallId("c2"), channel_id=ChannelId("h2"), ani="1", dnis="100", at=2.0)
    assert isinstance(commands[-1], GetDigits) and commands[-1].prompts[0].source.value == "Version two. Press 1."

    path.write_text(V1.replace("next: out}", "next: gone}"), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="ivr.registry"):
        errors = registry.reload()
    assert [str(e) for e in errors] == [
        f"{path}:6:58: node 'menu' refers to missing node 'gone'",
        f"{path}:7:3: node 'out' is unreachable from start node 'menu'",
    ]
    assert registry.for_dnis("100") is v2
    assert f"flow hot: keeping version {v2.version}; {path} is invalid" in caplog.messages
    assert any(r.getMessage() == f"flow error: {errors[0]}" for r in caplog.records if r.levelno == logging.ERROR)

    path.unlink()
    assert registry.reload_if_changed()
    assert registry.for_dnis("100") is None


async def test_watch_reloads_a_changed_file(tmp_path: Path) -> None:
    path = write(tmp_path, "hot.yaml", V1)
    registry = FlowRegistry([tmp_path])
    registry.reload()
    first = registry.get("hot")
    assert first is not None
    watcher = asyncio.create_task(registry.watch(interval_s=0.01))
    try:
        await asyncio.to_thread(path.write_text, V1.replace("queue: one", "queue: three"), "utf-8")
        async with asyncio.timeout(5):
            # The registry has no change notification (it polls, which is what is tested here).
            while (current := registry.get("hot")) is first:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert current is not None and current.nodes["out"]["queue"] == "three"
    finally:
        watcher.cancel()
