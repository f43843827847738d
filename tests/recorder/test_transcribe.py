"""Transcription on real Korean speech with the vosk model, keyword spotting and search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from callcenter.events import PausedSpan, RecordingFlagged
from recorder.config import ByScope, RecorderConfig
from recorder.index import RecordingIndex
from recorder.pipeline import RecordingPipeline
from recorder.transcribe import KeywordHit, Segment, SpokenWord, VoskRecognizer, segments, spot_keywords
from tests.recorder.conftest import make_job, read_mono, write_leg

CUSTOMER_END_S = 3.89  # leopard_test_ko.wav: "그는 이리저리 피하면서 길 한 옆으로 걸어갔다"
AGENT_START_S = 4.5  # porcupine_multiple_keywords_ko.wav (9.02 s): "... 컴퓨터 ... 아이스크림"
AGENT_END_S = AGENT_START_S + 9.03


@pytest.fixture
def two_leg_job(tmp_path: Path, korean: Path) -> Any:
    def build(spans: tuple[PausedSpan, ...] = ()) -> Any:
        customer = write_leg(tmp_path / "k-customer.wav", *read_mono(korean / "leopard_test_ko.wav"))
        agent = write_leg(tmp_path / "k-agent.wav", *read_mono(korean / "porcupine_multiple_keywords_ko.wav"))
        return make_job(tmp_path, customer, agent, recording_id="ko1", agent_offset_s=AGENT_START_S, spans=spans)

    return build


def pipeline_for(tmp_path: Path, vosk_model: Any) -> RecordingPipeline:
    config = RecorderConfig(keywords=ByScope(default=("환불",), queues={"billing": ("아이스크림", "걸어갔 다")}))
    return RecordingPipeline(
        recordings_dir=tmp_path / "recordings",
        index=RecordingIndex(tmp_path / "index.sqlite3"),
        config=config,
        fmt="ogg",
        recognizer=VoskRecognizer(vosk_model),
        clock=lambda: 1000.0,
    )


@pytest.mark.speech
def test_words_land_on_the_right_speaker_and_the_call_is_found(
    tmp_path: Path, vosk_model: Any, two_leg_job: Any
) -> None:
    pipeline = pipeline_for(tmp_path, vosk_model)
    job = two_leg_job()

    result = pipeline.run(job)

    transcript = json.loads((tmp_path / "recordings" / "2026/11/22/ko1.transcript.json").read_text())
    words = [SpokenWord(**w) for w in transcript["words"]]
    by_speaker = {s: [w for w in words if w.speaker == s] for s in ("customer", "agent")}
    said = {s: [w.word for w in ws] for s, ws in by_speaker.items()}
    assert "옆으로" in said["customer"] and "걸어갔" in said["customer"]
    assert "아이스크림" in said["agent"] and "컴퓨터" in said["agent"]
    assert not {"옆으로", "걸어갔"} & set(said["agent"])
    assert not {"아이스크림", "컴퓨터"} & set(said["customer"])
    # Timestamps are on the recording's clock: the agent's leg starts 4.5 s in.
    assert all(0.0 <= w.start < w.end <= CUSTOMER_END_S + 0.1 for w in by_speaker["customer"])
    assert all(AGENT_START_S - 0.05 <= w.start < w.end <= AGENT_END_S for w in by_speaker["agent"])
    # In the clip, 아이스크림 is the last keyword, spoken in its final three seconds.
    ice = next(w for w in by_speaker["agent"] if w.word == "아이스크림")
    assert AGENT_END_S - 3.5 < ice.start < AGENT_END_S
    assert result.words == len(words)

    assert result.flagged == RecordingFlagged(
        call_id=job.call_id, recording_id=job.recording_id, keywords=("걸어갔 다", "아이스크림"), at=1000.0
    )
    hits = pipeline.index.search("아이스크림")
    assert [(h.call_id, h.recording_id, h.speaker, h.path) for h in hits] == [
        ("ko1", "ko1", "agent", "2026/11/22/ko1.ogg")
    ]
    assert "아이스크림" in hits[0].text
    assert [h.speaker for h in pipeline.index.search("옆으로 걸어갔")] == ["customer"]
    assert [h.speaker for h in pipeline.index.search("아이스")] == ["agent"]  # the last word may be a prefix
    assert pipeline.index.search("환불") == []
    assert pipeline.index.get("ko1").flagged == ("걸어갔 다", "아이스크림")  # type: ignore[union-attr]


@pytest.mark.speech
def test_nothing_said_during_a_pause_reaches_the_transcript(
    tmp_path: Path, vosk_model: Any, two_leg_job: Any
) -> None:
    pipeline = pipeline_for(tmp_path, vosk_model)
    pipeline.run(two_leg_job(spans=(PausedSpan(start_s=0.0, end_s=4.0),)))
    transcript = json.loads((tmp_path / "recordings" / "2026/11/22/ko1.transcript.json").read_text())
    assert [w for w in transcript["words"] if w["speaker"] == "customer"] == []
    assert "아이스크림" in [w["word"] for w in transcript["words"] if w["speaker"] == "agent"]
    assert pipeline.index.search("옆으로") == []


def w(speaker: str, word: str, start: float) -> SpokenWord:
    return SpokenWord(speaker, word, start, start + 0.3, 1.0)


def test_keywords_match_whole_words_and_phrases_of_one_speaker() -> None:
    words = [
        w("customer", "I", 0.0), w("agent", "want", 0.5), w("customer", "want", 0.6), w("customer", "a", 1.0),
        w("customer", "Refund", 1.2), w("agent", "refunds", 2.0), w("customer", "cancel", 3.0),
        w("agent", "my", 3.2), w("customer", "contract", 3.6),
    ]
    hits = spot_keywords(words, ["refund", "want a refund", "cancel my contract", "  "])
    assert hits == [
        KeywordHit("want a refund", "customer", 0.6),
        KeywordHit("refund", "customer", 1.2),
    ]


def test_segments_split_on_pauses_per_speaker() -> None:
    words = [w("customer", "a", 0.0), w("agent", "x", 0.2), w("customer", "b", 0.5), w("customer", "c", 2.0)]
    assert segments(words) == [
        Segment("customer", 0.0, 0.8, "a b"),
        Segment("agent", 0.2, 0.5, "x"),
        Segment("customer", 2.0, 2.3, "c"),
    ]
