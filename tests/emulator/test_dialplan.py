"""The dialplan parser and the substitution/expression language, and the production dialplan."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emulator.apps import APPLICATIONS
from emulator.dialplan import DialplanError, evaluate, load_dialplan, parse_dialplan, split_args, substitute

CONF = Path(__file__).resolve().parents[2] / "asterisk_conf"


class Vars:
    def __init__(self, **values: str) -> None:
        self.values = values

    def variable(self, name: str) -> str:
        return self.values.get(name, "")

    def function(self, name: str, args: str) -> str:
        if name == "CALLERID" and args == "num":
            return self.values.get("ANI", "")
        raise DialplanError(f"unknown function {name}()")


def test_the_production_dialplan_passes_asterisklint() -> None:
    # asterisklint has no table for app_amd (a stock Asterisk module); register it and nothing else.
    script = (
        "import os, sys\n"
        "from asterisklint.app.base import AppBase\n"
        "from asterisklint.application import AppLoader\n"
        "from asterisklint.main import main\n"
        "class AMD(AppBase):\n    pass\n"
        "AppLoader().register(AMD())\n"
        "sys.exit(main(['dialplan-check', sys.argv[1]], os.environ))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(CONF / "extensions.conf")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == result.stderr == ""


def test_the_production_dialplan_loads_with_the_call_path_contexts() -> None:
    dialplan = load_dialplan(CONF / "extensions.conf", APPLICATIONS)
    assert {"hotline", "acd-wait", "acd-connect", "acd-fallback", "acd-hold", "outbound"} <= set(dialplan.contexts)
    first = dialplan.find("hotline", "10086", 1)
    assert first is not None and first.app == "NoOp"
    agi = dialplan.find("hotline", "10086", 4)
    assert agi is not None and (agi.app, agi.data) == ("AGI", "agi://${CC_AGI_HOST}:${CC_AGI_PORT}/ivr")
    assert dialplan.resolve_priority("acd-wait", "s", "loop") == 4
    assert dialplan.globals["ACD_FALLBACK_TIMEOUT"] == "120"
    assert dialplan.find("acd-wait", "fallback", 1) is not None
    spy = dialplan.find("cc-spy", "s", 2)  # what cti/supervisor.py's spy_command originates into
    assert spy is not None and (spy.app, spy.data) == ("ChanSpy", "${CC_SPY_CHANNEL},${CC_SPY_OPTIONS}")
    agent = dialplan.find("cc-agent", "1042", 1)
    assert agent is not None and (agent.app, agent.data) == ("Dial", "PJSIP/${EXTEN},30")


def test_an_unknown_application_is_an_error_naming_file_and_line() -> None:
    text = "[globals]\n\n[ctx]\nexten => s,1,NoOp()\n same => n,Frobnicate(1)\n"
    with pytest.raises(DialplanError) as exc:
        parse_dialplan(text, "extensions.conf", APPLICATIONS)
    assert str(exc.value) == "extensions.conf:5: unknown application 'Frobnicate'"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("exten => s,1,NoOp()\n", "x.conf:1: line outside any [context]"),
        ("[c]\n same => n,NoOp()\n", "x.conf:2: 'same =>' without a preceding 'exten =>'"),
        ("[c]\nexten => s,1,NoOp()\nexten => s,1,NoOp()\n", "x.conf:3: priority 1 of extension 's' defined twice"),
        ("[c]\nexten => s,x,NoOp()\n", "x.conf:2: bad priority 'x'"),
        ("[c\n", "x.conf:1: section header without ']'"),
        ("[c]\nfoo\n", "x.conf:2: expected 'exten =>', 'same =>' or 'include =>'"),
    ],
)
def test_malformed_dialplans_are_rejected_with_file_and_line(text: str, error: str) -> None:
    with pytest.raises(DialplanError) as exc:
        parse_dialplan(text, "x.conf", APPLICATIONS)
    assert str(exc.value) == error


def test_patterns_labels_and_includes() -> None:
    text = (
        "[a]\ninclude => b\nexten => 100,1,NoOp(exact)\nexten => _1XX,1,NoOp(pattern)\n"
        " same => n(there),NoOp()\n[b]\nexten => _[5-6]!,1,NoOp(b)\nexten => _NXXN.,1,NoOp(long)\n"
    )
    dp = parse_dialplan(text, "x.conf", APPLICATIONS)
    assert dp.find("a", "100", 1).data == "exact"  # type: ignore[union-attr]
    assert dp.find("a", "123", 1).data == "pattern"  # type: ignore[union-attr]
    assert dp.resolve_priority("a", "123", "there") == 2
    assert dp.find("a", "5", 1).data == "b"  # type: ignore[union-attr]
    assert dp.find("a", "23456", 1).data == "long"  # type: ignore[union-attr]
    assert dp.find("a", "2345", 1) is None  # `.` needs at least one more character
    assert dp.find("a", "1234", 1) is None
    with pytest.raises(DialplanError, match="no label 'nowhere'"):
        dp.resolve_priority("a", "123", "nowhere")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${X}", "hangup"),
        ("${CALLERID(num)} calls", "13800138000 calls"),
        ("${X:1:3}", "ang"),
        ("${X:-2}", "up"),
        ("$[${N} + 120]", "125"),
        ("$[${N} * 2 - 1]", "9"),
        ("$[10 / 4]", "2.5"),
        ("$[7 % 3]", "1"),
        ('$["${X}" = "hangup"]', "1"),
        ('$["${EMPTY}" != "1"]', "1"),
        ("$[${N} >= 5 & ${N} < 6]", "1"),
        ("$[${N} > 9 | 0]", "0"),
        ("$[!${N}]", "0"),
        ("$[(${N} + 1) * 2]", "12"),
        ("$[${LEN(${EMPTY})} = 0]", "1"),
        ("${IF($[${N} > 3]?big:small)}", "big"),
        ("${IF($[${N} > 30]?big:small)}", "small"),
        ("${ISNULL(${EMPTY})}${EXISTS(${X})}", "11"),
        ("no variables at all", "no variables at all"),
        ("${UNSET}", ""),
    ],
)
def test_substitution_and_expressions(text: str, expected: str) -> None:
    assert substitute(text, Vars(X="hangup", N="5", ANI="13800138000")) == expected


def test_expression_errors_name_the_expression() -> None:
    with pytest.raises(DialplanError) as exc:
        evaluate("1 +")
    assert str(exc.value) == "unexpected end of expression '1 +'"
    with pytest.raises(DialplanError) as exc:
        evaluate("a + 1")
    assert str(exc.value) == "non-numeric argument to '+' in expression 'a + 1'"
    with pytest.raises(DialplanError) as exc:
        evaluate("4 / 0")
    assert str(exc.value) == "division by zero in expression '4 / 0'"
    with pytest.raises(DialplanError) as exc:
        substitute("${NOPE(1)}", Vars())
    assert str(exc.value) == "unknown function NOPE()"
    with pytest.raises(DialplanError) as exc:
        substitute("${X", Vars())
    assert str(exc.value) == "unbalanced {} in '${X'"


def test_application_arguments_split_like_asterisk() -> None:
    assert split_args("PJSIP/1001,15") == ["PJSIP/1001", "15"]
    assert split_args('a,"b,c",d(e,f)') == ["a", '"b,c"', "d(e,f)"]
    assert split_args("") == [""]
