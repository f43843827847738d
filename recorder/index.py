"""The recordings catalog and transcript search index: one SQLite file with an FTS5 table.

NOTE(recorder): this stands in for the CRM's recording-metadata table until that lands; the CRM
then receives ``RecordingProcessed`` / ``RecordingFlagged`` / ``RecordingDeleted`` and this file
keeps only the full-text index, which SQLite's FTS5 does well and the CRM need not duplicate.

Tables (``<data_dir>/recordings-index.sqlite3``):

* ``recordings`` - one row per stored recording: ids, stored path, checksum, start time, queue,
  campaign, agent, and the keywords that flagged it (JSON list, empty when none or not transcribed);
* ``segments`` - FTS5: one row per utterance (speaker, start, end, text), ``unicode61`` tokens,
  which splits on spaces and punctuation and keeps Hangul, Latin and digits as word characters;
* ``retention_log`` - every deletion retention made: when, what, and the rule that expired it;
* ``access_log`` - every playback or download through the CTI server (and every refused attempt):
  when, which recording, who (agent id, login, role), from which address, what (action, byte
  range, HTTP status). It is not touched by retention: the audit outlives the audio.

Search takes the user's text as one phrase whose last word may be a prefix: ``"파란"`` finds
``파란색``, ``"card num"`` finds ``card number``. Text is never parsed as FTS5 syntax, so quotes or
operators in it cannot fail the query.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callcenter.events import ProcessRecording, RecordingProcessed
from recorder.transcribe import Segment

INDEX_FILE_NAME = "recordings-index.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS recordings (
    recording_id TEXT PRIMARY KEY,
    call_id      TEXT NOT NULL,
    path         TEXT NOT NULL,
    format       TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size_bytes   INTEGER NOT NULL,
    duration_s   REAL NOT NULL,
    started_at   REAL NOT NULL,
    queue        TEXT,
    campaign_id  TEXT,
    agent_id     TEXT,
    flagged      TEXT NOT NULL DEFAULT '[]',
    transcribed  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS recordings_call ON recordings(call_id);
CREATE VIRTUAL TABLE IF NOT EXISTS segments USING fts5(
    text, recording_id UNINDEXED, speaker UNINDEXED, start_s UNINDEXED, end_s UNINDEXED,
    tokenize = 'unicode61'
);
CREATE TABLE IF NOT EXISTS access_log (
    at           REAL NOT NULL,
    recording_id TEXT NOT NULL,
    call_id      TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    username     TEXT NOT NULL,
    role         TEXT NOT NULL,
    address      TEXT NOT NULL,
    action       TEXT NOT NULL,
    byte_range   TEXT NOT NULL,
    status       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS access_log_recording ON access_log(recording_id);
CREATE TABLE IF NOT EXISTS retention_log (
    at           REAL NOT NULL,
    recording_id TEXT NOT NULL,
    call_id      TEXT NOT NULL,
    path         TEXT NOT NULL,
    reason       TEXT NOT NULL
);
"""

_ENTRY_SELECT = (
    "SELECT recording_id, call_id, path, started_at, queue, campaign_id, flagged, agent_id, format, sha256,"
    " size_bytes, duration_s FROM recordings"
)
_ACCESS_COLUMNS = "at, recording_id, call_id, agent_id, username, role, address, action, byte_range, status"


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    recording_id: str
    call_id: str
    path: str
    started_at: float
    queue: str | None
    campaign_id: str | None
    flagged: tuple[str, ...]
    agent_id: str | None  # the agent who answered the call (the one agent, with supervisors, who may play it)
    format: str
    sha256: str
    size_bytes: int
    duration_s: float


@dataclass(frozen=True, slots=True)
class SearchHit:
    call_id: str
    recording_id: str
    path: str
    speaker: str
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessLogEntry:
    at: float
    recording_id: str
    call_id: str
    agent_id: str  # who asked
    username: str
    role: str
    address: str  # the client's IP address as the CTI server saw it
    action: str  # "play" | "download" | "refused"
    byte_range: str  # the Range header served ("bytes=0-1023"), "" for the whole file
    status: int  # the HTTP status answered


@dataclass(frozen=True, slots=True)
class RetentionLogEntry:
    at: float
    recording_id: str
    call_id: str
    path: str
    reason: str


class RecordingIndex:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def add_recording(self, rec: RecordingProcessed, job: ProcessRecording) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO recordings (recording_id, call_id, path, format, sha256, size_bytes, duration_s,"
                " started_at, queue, campaign_id, agent_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(recording_id) DO UPDATE SET path=excluded.path, format=excluded.format,"
                " sha256=excluded.sha256, size_bytes=excluded.size_bytes, duration_s=excluded.duration_s",
                (
                    rec.recording_id, rec.call_id, rec.path, rec.format, rec.sha256, rec.size_bytes,
                    rec.duration_s, rec.started_at, job.queue, job.campaign_id, job.agent_id,
                ),
            )

    def add_transcript(self, recording_id: str, segments: Iterable[Segment], flagged: Iterable[str]) -> None:
        """Replace the recording's transcript (re-transcription leaves no stale rows)."""
        with self._db:
            self._db.execute("DELETE FROM segments WHERE recording_id = ?", (recording_id,))
            self._db.executemany(
                "INSERT INTO segments (text, recording_id, speaker, start_s, end_s) VALUES (?,?,?,?,?)",
                [(s.text, recording_id, s.speaker, s.start, s.end) for s in segments],
            )
            self._db.execute(
                "UPDATE recordings SET flagged = ?, transcribed = 1 WHERE recording_id = ?",
                (json.dumps(sorted(set(flagged)), ensure_ascii=False), recording_id),
            )

    def search(self, text: str, *, limit: int = 50, agent_id: str | None = None) -> list[SearchHit]:
        """Utterances matching `text`, newest recording first; with `agent_id`, only that agent's
        recordings (filtered in the query, so the limit counts only what the caller may see)."""
        words = text.split()
        if not words:
            return []
        phrase = '"' + " ".join(words).replace('"', '""') + '" *'
        rows = self._db.execute(
            "SELECT r.call_id, s.recording_id, r.path, s.speaker, s.start_s, s.end_s, s.text"
            " FROM segments s JOIN recordings r ON r.recording_id = s.recording_id"
            " WHERE segments MATCH ? AND (? IS NULL OR r.agent_id = ?) ORDER BY r.started_at DESC, s.start_s LIMIT ?",
            (phrase, agent_id, agent_id, limit),
        ).fetchall()
        return [SearchHit(*row) for row in rows]

    def entries(
        self, *, agent_id: str | None = None, call_id: str | None = None, newest_first: bool = False,
        limit: int = -1,
    ) -> list[CatalogEntry]:
        """Catalog rows, oldest first (or newest first), optionally one agent's or one call's."""
        where, args = [], []
        for column, value in (("agent_id", agent_id), ("call_id", call_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        order = "DESC" if newest_first else "ASC"
        rows = self._db.execute(f"{_ENTRY_SELECT}{clause} ORDER BY started_at {order} LIMIT ?", (*args, limit))
        return [_entry(row) for row in rows.fetchall()]

    def get(self, recording_id: str) -> CatalogEntry | None:
        row = self._db.execute(f"{_ENTRY_SELECT} WHERE recording_id = ?", (recording_id,)).fetchone()
        return _entry(row) if row else None

    def remove(self, entry: CatalogEntry, *, at: float, reason: str) -> None:
        """Drop the recording's rows and log the deletion, in one transaction."""
        with self._db:
            self._db.execute("DELETE FROM segments WHERE recording_id = ?", (entry.recording_id,))
            self._db.execute("DELETE FROM recordings WHERE recording_id = ?", (entry.recording_id,))
            self._db.execute(
                "INSERT INTO retention_log (at, recording_id, call_id, path, reason) VALUES (?,?,?,?,?)",
                (at, entry.recording_id, entry.call_id, entry.path, reason),
            )

    def log_access(self, entry: AccessLogEntry) -> None:
        with self._db:
            self._db.execute(
                f"INSERT INTO access_log ({_ACCESS_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",  # noqa: S608 - our names
                (entry.at, entry.recording_id, entry.call_id, entry.agent_id, entry.username, entry.role,
                 entry.address, entry.action, entry.byte_range, entry.status),
            )

    def access_log(self, *, recording_id: str | None = None, limit: int = 100) -> list[AccessLogEntry]:
        """The newest accesses first, optionally to one recording."""
        clause, args = (" WHERE recording_id = ?", (recording_id,)) if recording_id is not None else ("", ())
        rows = self._db.execute(
            f"SELECT {_ACCESS_COLUMNS} FROM access_log{clause} ORDER BY rowid DESC LIMIT ?",  # noqa: S608 - our names
            (*args, limit),
        ).fetchall()
        return [AccessLogEntry(**dict(zip(_ACCESS_COLUMNS.split(", "), row, strict=True))) for row in rows]

    def retention_log(self) -> list[RetentionLogEntry]:
        rows = self._db.execute("SELECT at, recording_id, call_id, path, reason FROM retention_log ORDER BY rowid")
        return [RetentionLogEntry(*row) for row in rows.fetchall()]


def _entry(row: tuple[Any, ...]) -> CatalogEntry:
    recording_id, call_id, path, started_at, queue, campaign_id, flagged, agent_id, fmt, sha256, size, duration = row
    return CatalogEntry(recording_id, call_id, path, started_at, queue, campaign_id, tuple(json.loads(flagged)),
                        agent_id, fmt, sha256, size, duration)
