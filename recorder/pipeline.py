"""What happens to a finished recording: the job spool, and the steps one job runs.

A ``ProcessRecording`` command is first written to the spool (``<recordings_dir>/spool/<id>.json``)
so a crash or a restart never forgets it; ``Spool.pending()`` gives back what is unfinished. The job
queue (recorder/jobs.py) then runs ``RecordingPipeline.run`` in a worker thread:

1. post-process (recorder/postprocess.py) - unless an earlier attempt already stored the recording
   and removed the legs, in which case the stored file is checked against its recorded SHA-256
   and reused;
2. catalog the recording (recorder/index.py);
3. remove the legs, now that the stored file has been read back and checksummed (``keep_legs``
   keeps them);
4. transcribe both channels, write ``<id>.transcript.json`` beside the audio, index the utterances,
   and flag the call when the keyword list of its campaign or queue (else the default list) matches.

When the job ends the spool entry is removed (done) or moved to ``spool/failed/`` with an
``.error`` file holding the reason (failed); the legs of a failed job are never touched.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from callcenter.events import ProcessRecording, RecordingFlagged, RecordingProcessed, from_json, to_json
from recorder.config import RecorderConfig
from recorder.index import RecordingIndex
from recorder.postprocess import (
    CODECS,
    RecorderError,
    metadata_path,
    process_recording,
    read_metadata,
    sha256_of,
    stored_path,
    write_json_atomically,
)
from recorder.transcribe import (
    SpokenWord,
    WordRecognizer,
    segments,
    spot_keywords,
    transcribe_recording,
    transcript_path,
)

logger = logging.getLogger(__name__)


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.failed_dir = directory / "failed"

    def _file(self, job: ProcessRecording) -> Path:
        return self.directory / f"{job.recording_id}.json"

    def put(self, job: ProcessRecording) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_json_atomically(self._file(job), to_json(job))

    def pending(self) -> list[ProcessRecording]:
        jobs = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                jobs.append(from_json(json.loads(path.read_text(encoding="utf-8"))))
            except (ValueError, OSError) as exc:
                logger.error("spool %s: not a recording job (%s); moved to %s", path, exc, self.failed_dir)
                self.failed_dir.mkdir(parents=True, exist_ok=True)
                os.replace(path, self.failed_dir / path.name)
        return jobs

    def done(self, job: ProcessRecording) -> None:
        self._file(job).unlink(missing_ok=True)

    def failed(self, job: ProcessRecording, error: str) -> None:
        self.failed_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomically(self.failed_dir / f"{job.recording_id}.json", to_json(job))
        (self.failed_dir / f"{job.recording_id}.error").write_text(error + "\n", encoding="utf-8")
        self._file(job).unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class PipelineResult:
    processed: RecordingProcessed
    words: int  # words transcribed; 0 when no recognizer ran
    flagged: RecordingFlagged | None


class RecordingPipeline:
    def __init__(
        self,
        *,
        recordings_dir: Path,
        index: RecordingIndex,
        config: RecorderConfig,
        fmt: str,
        recognizer: WordRecognizer | None = None,
        keep_legs: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if fmt not in CODECS:
            raise RecorderError(f"recording format {fmt!r} is not supported; expected one of {', '.join(CODECS)}")
        self.recordings_dir = recordings_dir
        self.index = index
        self.config = config
        self.fmt = fmt
        self.recognizer = recognizer
        self.keep_legs = keep_legs
        self.clock = clock

    def run(self, job: ProcessRecording) -> PipelineResult:
        processed = self._already_stored(job) or process_recording(
            job, recordings_dir=self.recordings_dir, fmt=self.fmt, now=self.clock()
        )
        self.index.add_recording(processed, job)
        if not self.keep_legs:
            for leg in job.legs:
                Path(leg.file).unlink(missing_ok=True)
        words, flagged = self._transcribe(job, processed) if self.recognizer is not None else (0, None)
        return PipelineResult(processed, words, flagged)

    def _already_stored(self, job: ProcessRecording) -> RecordingProcessed | None:
        if all(Path(leg.file).exists() for leg in job.legs):
            return None  # the legs are here: process them again (Rule 2 of postprocess: same result)
        audio = self.recordings_dir / stored_path(job.recording_id, job.started_at, CODECS[self.fmt].ext)
        if not metadata_path(audio).exists():
            return None  # process_recording reports the missing leg
        processed, _ = read_metadata(metadata_path(audio))
        if not audio.exists() or sha256_of(audio) != processed.sha256:
            raise RecorderError(
                f"recording {job.recording_id}: legs are gone and the stored {audio} does not match its checksum"
            )
        return processed

    def transcript_text(self, processed: RecordingProcessed) -> str:
        """The stored transcript as lines ``[12.3 customer] words...``; "" when there is none."""
        path = transcript_path(self.recordings_dir / processed.path)
        if not path.exists():
            return ""
        words = [SpokenWord(**w) for w in json.loads(path.read_text(encoding="utf-8"))["words"]]
        return "\n".join(f"[{s.start:.1f} {s.speaker}] {s.text}" for s in segments(words))

    def _transcribe(self, job: ProcessRecording, processed: RecordingProcessed) -> tuple[int, RecordingFlagged | None]:
        assert self.recognizer is not None  # Precondition: run() calls this only with a recognizer
        audio = self.recordings_dir / processed.path
        words = transcribe_recording(audio, self.recognizer)
        write_json_atomically(
            transcript_path(audio),
            {
                "recording_id": job.recording_id,
                "call_id": job.call_id,
                "words": [
                    {"speaker": w.speaker, "word": w.word, "start": w.start, "end": w.end, "conf": w.conf}
                    for w in words
                ],
            },
        )
        keywords, rule = self.config.keywords.lookup(queue=job.queue, campaign_id=job.campaign_id)
        hits = spot_keywords(words, keywords)
        found = tuple(sorted({h.keyword for h in hits}))
        self.index.add_transcript(job.recording_id, segments(words), found)
        logger.info("recording %s: transcribed %d words", job.recording_id, len(words))
        if not found:
            return len(words), None
        logger.info("recording %s: flagged for review by %s keywords %s", job.recording_id, rule, ", ".join(found))
        return len(words), RecordingFlagged(
            call_id=job.call_id, recording_id=job.recording_id, keywords=found, at=self.clock()
        )
