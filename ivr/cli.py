"""`callcenter flows validate`, `callcenter prompts build`, `callcenter asr transcribe`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from callcenter.cli import get_settings
from ivr.prompts import DEFAULT_SOUNDS_DIR, SoundLibrary, build_prompts
from ivr.validate import load_flows


def register(sub: Any) -> None:
    flows = sub.add_parser("flows", help="IVR flows").add_subparsers(dest="flows_command", metavar="COMMAND")
    validate = flows.add_parser(
        "validate", help="check IVR flow files; errors as FILE:LINE:COLUMN: message, exit 1 on any"
    )
    validate.add_argument("paths", nargs="*", metavar="PATH", help="flow files or directories (default: paths.flows_dir)")
    validate.add_argument(
        "--sounds-dir", action="append", metavar="DIR", help=f"Asterisk sounds directory (default {DEFAULT_SOUNDS_DIR})"
    )
    validate.set_defaults(func=cmd_flows_validate)

    prompts = sub.add_parser("prompts", help="IVR prompts").add_subparsers(dest="prompts_command", metavar="COMMAND")
    build = prompts.add_parser("build", help="synthesize the flows' text prompts (espeak-ng, 8 kHz WAV) into prompts_dir")
    build.add_argument("paths", nargs="*", metavar="PATH", help="flow files or directories (default: paths.flows_dir)")
    build.add_argument("--out", metavar="DIR", help="output directory (default: <data_dir>/prompts)")
    build.add_argument("--force", action="store_true", help="rebuild every prompt, changed or not")
    build.set_defaults(func=cmd_prompts_build)

    asr = sub.add_parser("asr", help="speech recognition").add_subparsers(dest="asr_command", metavar="COMMAND")
    transcribe = asr.add_parser("transcribe", help="transcribe WAV files; one JSON line per file, in input order")
    transcribe.add_argument("wavs", nargs="+", metavar="WAV")
    transcribe.add_argument("--engine", choices=("vosk", "whisper"), help="default: speech.engine")
    transcribe.add_argument("--grammar", metavar="W1,W2,...", help="restrict recognition to these phrases")
    transcribe.add_argument(
        "--sequence", action="store_true", help="the answer is any sequence of the grammar's phrases (spoken digits)"
    )
    transcribe.add_argument("--language", metavar="LANG", help="language of the audio (default: the model's)")
    transcribe.add_argument("--json", action="store_true", help="JSON lines (the only output format)")
    transcribe.set_defaults(func=cmd_asr_transcribe)


def _flow_paths(args: argparse.Namespace) -> list[Path]:
    return [Path(p) for p in args.paths] or [Path(get_settings(args).paths.flows_dir)]


def cmd_flows_validate(args: argparse.Namespace) -> int:
    sounds = SoundLibrary(tuple(Path(d) for d in args.sounds_dir) if args.sounds_dir else (DEFAULT_SOUNDS_DIR,))
    paths = _flow_paths(args)
    missing = [p for p in paths if not p.exists()]
    if missing:
        for p in missing:
            print(f"{p}:1:1: no such file or directory", file=sys.stdout)
        return 1
    result = load_flows(paths, sounds)
    for error in result.errors:
        print(error)
    if result.errors:
        return 1
    for flow in result.flows.values():
        print(f"{flow.file}: flow {flow.name!r} version {flow.version} OK ({len(flow.nodes)} nodes)", file=sys.stderr)
    return 0


def cmd_prompts_build(args: argparse.Namespace) -> int:
    settings = get_settings(args)
    result = load_flows(_flow_paths(args), SoundLibrary())
    for error in result.errors:
        print(error, file=sys.stderr)
    out = Path(args.out) if args.out else settings.prompts_dir
    report = build_prompts(result.flows.values(), out, force=args.force)
    for problem in report.errors:
        print(f"callcenter prompts build: {problem}", file=sys.stderr)
    print(f"{len(report.built)} built, {len(report.unchanged)} unchanged, in {out}")
    return 1 if result.errors or report.errors else 0


def cmd_asr_transcribe(args: argparse.Namespace) -> int:
    from ivr.speech import SpeechUnavailable, load_recognizer, transcribe_file

    settings = get_settings(args)
    try:
        recognizer = load_recognizer(settings.speech, engine=args.engine)
    except SpeechUnavailable as exc:
        print(f"callcenter asr transcribe: {exc}", file=sys.stderr)
        return 2
    grammar = tuple(w.strip() for w in args.grammar.split(",") if w.strip()) if args.grammar else None
    status = 0
    for wav in args.wavs:
        line: dict[str, Any] = {"file": wav}
        try:
            result = transcribe_file(
                recognizer, Path(wav), grammar=grammar, sequence=args.sequence, language=args.language
            )
        except (OSError, ValueError) as exc:
            line["error"] = str(exc)
            status = 1
        else:
            line.update(result.to_json())
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return status
