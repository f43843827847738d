"""`callcenter recordings ...`: process the spool, search transcripts, apply retention."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from callcenter.events import ProcessRecording, from_json, to_json
from callcenter.settings import Settings
from recorder.adapter import recognizer_from_settings
from recorder.config import load_recorder_config
from recorder.index import INDEX_FILE_NAME, RecordingIndex
from recorder.jobs import JobOutcome, JobQueue
from recorder.pipeline import PipelineResult, RecordingPipeline, Spool
from recorder.postprocess import CODECS, RecorderError
from recorder.retention import apply_retention

logger = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("recordings", help="process, search and expire call recordings")
    p.add_argument("--policy", metavar="FILE", help="recorder config (default: <data_dir>/recording.yaml if present)")
    rsub = p.add_subparsers(dest="recordings_command", metavar="ACTION")

    proc = rsub.add_parser("process", help="post-process and transcribe spooled (or given) recording jobs")
    proc.add_argument("jobs", nargs="*", metavar="JOB.json", help="cmd.process-recording JSON files to add first")
    proc.add_argument("--format", choices=sorted(CODECS), help="override recording.format")
    proc.add_argument("--keep-legs", action="store_true", help="keep the leg files after success")
    proc.add_argument("--no-transcribe", action="store_true", help="skip transcription")
    proc.add_argument("--attempts", type=int, default=3, help="attempts per job (default 3)")
    proc.set_defaults(func=_process)

    search = rsub.add_parser("search", help="find calls by what was said")
    search.add_argument("text")
    search.add_argument("--limit", type=int, default=50)
    search.add_argument("--json", action="store_true", help="one JSON object per line")
    search.set_defaults(func=_search)

    ret = rsub.add_parser("retention", help="delete recordings whose retention period is over")
    ret.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    ret.add_argument("--json", action="store_true", help="one JSON object per line")
    ret.set_defaults(func=_retention)


def _settings(args: argparse.Namespace) -> Settings:
    from callcenter.cli import get_settings

    return get_settings(args)


def open_index(settings: Settings) -> RecordingIndex:
    return RecordingIndex(settings.data_dir / INDEX_FILE_NAME)


def _process(args: argparse.Namespace) -> int:
    settings = _settings(args)
    settings.ensure_dirs()
    config = load_recorder_config(settings, args.policy)
    spool = Spool(settings.recordings_dir / "spool")
    for name in args.jobs:
        try:
            job = from_json(json.loads(Path(name).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            print(f"callcenter: {name}: not a recording job ({exc})", file=sys.stderr)
            return 1
        if not isinstance(job, ProcessRecording):
            print(f"callcenter: {name}: a {type(job).__name__}, not a cmd.process-recording", file=sys.stderr)
            return 1
        spool.put(job)
    pending = spool.pending()
    if not pending:
        print("no recording jobs are waiting", file=sys.stderr)
        return 0
    index = open_index(settings)
    try:
        pipeline = RecordingPipeline(
            recordings_dir=settings.recordings_dir,
            index=index,
            config=config,
            fmt=args.format or settings.recording.format,
            recognizer=None if args.no_transcribe else recognizer_from_settings(settings),
            keep_legs=args.keep_legs,
        )
        outcomes = asyncio.run(run_jobs(pipeline, spool, pending, max_attempts=args.attempts))
    finally:
        index.close()
    for o in outcomes:
        if o.ok and o.result is not None:
            r = o.result.processed
            flag = f", flagged: {', '.join(o.result.flagged.keywords)}" if o.result.flagged else ""
            print(f"{r.recording_id}: stored {r.path} ({r.size_bytes} bytes, {r.duration_s:.1f} s, "
                  f"sha256 {r.sha256}, {o.result.words} words{flag})")
        else:
            print(f"{o.job.recording_id}: failed after {o.attempts} attempt(s): {o.error}", file=sys.stderr)
    return 0 if all(o.ok for o in outcomes) else 1


async def run_jobs(
    pipeline: RecordingPipeline,
    spool: Spool,
    jobs: list[ProcessRecording],
    *,
    max_attempts: int = 3,
    backoff_s: float = 0.5,
) -> list[JobOutcome[ProcessRecording, PipelineResult]]:
    """Run jobs through a bounded, retrying queue; settle each in the spool; return the outcomes."""
    outcomes: list[JobOutcome[ProcessRecording, PipelineResult]] = []

    def settle(outcome: JobOutcome[ProcessRecording, PipelineResult]) -> None:
        if outcome.ok:
            spool.done(outcome.job)
        else:
            spool.failed(outcome.job, outcome.error)
        outcomes.append(outcome)

    async def handle(job: ProcessRecording) -> PipelineResult:
        return await asyncio.to_thread(pipeline.run, job)

    queue: JobQueue[ProcessRecording, PipelineResult] = JobQueue(
        handle, name="recordings", max_attempts=max_attempts, backoff_s=backoff_s,
        permanent=(RecorderError,), on_done=settle,
    )
    queue.start()
    try:
        for job in jobs:
            await queue.put(job)
        await queue.join()
    finally:
        await queue.close()
    return outcomes


def _search(args: argparse.Namespace) -> int:
    settings = _settings(args)
    index = open_index(settings)
    try:
        hits = index.search(args.text, limit=args.limit)
    finally:
        index.close()
    for h in hits:
        if args.json:
            print(json.dumps({
                "call_id": h.call_id, "recording_id": h.recording_id, "path": h.path, "speaker": h.speaker,
                "start_s": h.start_s, "end_s": h.end_s, "text": h.text,
            }, ensure_ascii=False))
        else:
            print(f"{h.call_id}\t{h.recording_id}\t{h.speaker}\t{h.start_s:7.2f}s\t{h.text}")
    if not hits:
        print(f"no recording matches {args.text!r}", file=sys.stderr)
    return 0


def _retention(args: argparse.Namespace) -> int:
    settings = _settings(args)
    config = load_recorder_config(settings, args.policy)
    index = open_index(settings)
    try:
        deleted = apply_retention(
            index, settings.recordings_dir, config.retention_days, now=time.time(), dry_run=args.dry_run
        )
    finally:
        index.close()
    verb = "would delete" if args.dry_run else "deleted"
    for d in deleted:
        print(json.dumps(to_json(d), ensure_ascii=False) if args.json else f"{verb} {d.recording_id} {d.path}: {d.reason}")
    if not args.json:
        print(f"{len(deleted)} recording(s) {verb}", file=sys.stderr)
    return 0
