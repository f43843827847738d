"""Retention deletes exactly what expired, with its transcript, and logs each deletion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callcenter.events import CampaignId
from recorder.config import ByScope, RecorderConfig
from recorder.index import RecordingIndex
from recorder.pipeline import RecordingPipeline
from recorder.retention import DAY_S, apply_retention, select_expired
from recorder.transcribe import Segment
from tests.recorder.conftest import STARTED_AT, make_job, read_mono, write_leg

DAYS = ByScope(default=90, queues={"complaints": 730}, campaigns={CampaignId("winback"): 30})
NOW = STARTED_AT + 100 * DAY_S


@pytest.fixture
def stored(tmp_path: Path, korean: Path) -> tuple[RecordingPipeline, dict[str, Path]]:
    """Five real recordings, 100 days old or younger, in different queues and campaigns."""
    pipeline = RecordingPipeline(
        recordings_dir=tmp_path / "recordings", index=RecordingIndex(tmp_path / "index.sqlite3"),
        config=RecorderConfig(), fmt="wav", clock=lambda: NOW,
    )
    speech, rate = read_mono(korean / "porcupine_bixby_ko.wav")
    cases = {
        # id: (queue, campaign, age in days)
        "old-billing": ("billing", None, 100),  # default 90 days: expired
        "young-billing": ("billing", None, 89),
        "old-complaint": ("complaints", None, 100),  # 730 days: kept
        "winback-31": ("sales", "winback", 31),  # campaign 30 days beats the queue: expired
        "exactly-90": (None, None, 90),  # expires at the second its period ends
    }
    paths = {}
    for rid, (queue, campaign, age) in cases.items():
        customer = write_leg(tmp_path / f"{rid}-customer.wav", speech, rate)
        agent = write_leg(tmp_path / f"{rid}-agent.wav", np.zeros_like(speech), rate)
        job = make_job(tmp_path, customer, agent, recording_id=rid, queue=queue,
                       campaign_id=CampaignId(campaign) if campaign else None,
                       started_at=NOW - age * DAY_S)
        result = pipeline.run(job)
        audio = tmp_path / "recordings" / result.processed.path
        audio.with_suffix(".transcript.json").write_text("{}")
        pipeline.index.add_transcript(rid, [Segment("customer", 0.0, 1.0, f"bixby {rid}")], [])
        paths[rid] = audio
    return pipeline, paths


def test_selection_uses_campaign_then_queue_then_default(stored: tuple[RecordingPipeline, dict[str, Path]]) -> None:
    pipeline, _ = stored
    expired = select_expired(pipeline.index.entries(), DAYS, NOW)
    assert sorted((e.entry.recording_id, e.reason) for e in expired) == [
        ("exactly-90", "expired: 90 days (default)"),
        ("old-billing", "expired: 90 days (default)"),
        ("winback-31", "expired: 30 days (campaign winback)"),
    ]


def test_retention_deletes_exactly_what_expired_and_logs_it(
    tmp_path: Path, stored: tuple[RecordingPipeline, dict[str, Path]]
) -> None:
    pipeline, paths = stored

    dry = apply_retention(pipeline.index, tmp_path / "recordings", DAYS, now=NOW, dry_run=True)
    assert sorted(d.recording_id for d in dry) == ["exactly-90", "old-billing", "winback-31"]
    assert all(p.exists() for p in paths.values())
    assert pipeline.index.retention_log() == []

    deleted = apply_retention(pipeline.index, tmp_path / "recordings", DAYS, now=NOW)

    gone = {"exactly-90", "old-billing", "winback-31"}
    assert {d.recording_id for d in deleted} == gone
    for rid, audio in paths.items():
        files = [audio, audio.with_suffix(".json"), audio.with_suffix(".transcript.json")]
        assert [f.exists() for f in files] == [rid not in gone] * 3, rid
    assert {e.recording_id for e in pipeline.index.entries()} == {"young-billing", "old-complaint"}
    assert [h.recording_id for h in pipeline.index.search("bixby")] == ["young-billing", "old-complaint"]
    log = pipeline.index.retention_log()
    assert sorted((e.recording_id, e.path, e.reason, e.at) for e in log) == sorted(
        (d.recording_id, d.path, d.reason, NOW) for d in deleted
    )
    # A second run finds nothing more to do.
    assert apply_retention(pipeline.index, tmp_path / "recordings", DAYS, now=NOW) == []
