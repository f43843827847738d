"""Retention: delete recordings and their transcripts when their period is over, and say so.

Theory of operation
-------------------
``select_expired(entries, days, now)`` is pure. A recording's period comes from its campaign's
setting, else its queue's, else the default (``ByScope.lookup``); it has expired when
``started_at + days * 86400 <= now``. Each selection carries the rule that applied, e.g.
``"expired: 30 days (campaign winback)"``, which is what the audit log keeps.

``apply_retention`` is the adapter: for each expired recording it deletes the audio, the metadata
sidecar and the transcript file, then, in one transaction, removes the catalog and search rows and
appends to ``retention_log``. Files first: a crash in between leaves a catalog row whose files are
gone, and the next run finishes the job (missing files are not an error). A file that cannot be
deleted (permissions, I/O) leaves its recording in the catalog, logged, for the next run.
With ``dry_run`` nothing is touched and the same selections come back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from callcenter.events import CallId, RecordingDeleted, RecordingId
from recorder.config import ByScope
from recorder.index import CatalogEntry, RecordingIndex
from recorder.postprocess import metadata_path
from recorder.transcribe import transcript_path

logger = logging.getLogger(__name__)

DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class Expired:
    entry: CatalogEntry
    reason: str


def select_expired(entries: Iterable[CatalogEntry], days: ByScope, now: float) -> list[Expired]:
    out = []
    for entry in entries:
        keep_days, rule = days.lookup(queue=entry.queue, campaign_id=entry.campaign_id)
        if entry.started_at + keep_days * DAY_S <= now:
            out.append(Expired(entry, f"expired: {keep_days} day{'' if keep_days == 1 else 's'} ({rule})"))
    return out


def apply_retention(
    index: RecordingIndex, recordings_dir: Path, days: ByScope, *, now: float, dry_run: bool = False
) -> list[RecordingDeleted]:
    deleted = []
    for item in select_expired(index.entries(), days, now):
        entry = item.entry
        if dry_run:
            logger.info("recording %s: would delete %s, %s", entry.recording_id, entry.path, item.reason)
        else:
            audio = recordings_dir / entry.path
            try:
                for path in (audio, metadata_path(audio), transcript_path(audio)):
                    path.unlink(missing_ok=True)
            except OSError as exc:
                logger.error("recording %s: cannot delete %s (%s); kept for the next run", entry.recording_id,
                             exc.filename, exc.strerror)
                continue
            index.remove(entry, at=now, reason=item.reason)
            logger.info("recording %s: deleted %s, %s", entry.recording_id, entry.path, item.reason)
        deleted.append(
            RecordingDeleted(
                call_id=CallId(entry.call_id), recording_id=RecordingId(entry.recording_id),
                path=entry.path, reason=item.reason, at=now,
            )
        )
    return deleted
