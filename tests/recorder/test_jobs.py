"""The job queue and the pipeline around it: retries, permanent failures, back-pressure, the spool."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callcenter.events import ProcessRecording
from callcenter.settings import Settings
from recorder.cli import run_jobs
from recorder.config import RecorderConfig
from recorder.index import RecordingIndex
from recorder.jobs import JobOutcome, JobQueue
from recorder.pipeline import PipelineResult, RecordingPipeline, Spool
from recorder.postprocess import RecorderError
from tests.recorder.conftest import make_job, read_mono, write_leg


def legs_exist(job: ProcessRecording) -> list[bool]:
    return [Path(leg.file).exists() for leg in job.legs]


def write_leg_bytes(job: ProcessRecording, data: bytes) -> Path:
    path = Path(job.legs[0].file)
    path.write_bytes(data)
    return path


def read_bytes(path: Path) -> bytes:
    return path.read_bytes()


class Flaky:
    def __init__(self, failures: int, exc: Exception) -> None:
        self.failures = failures
        self.exc = exc
        self.calls = 0

    async def __call__(self, job: str) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return job.upper()


async def run_queue(queue: JobQueue[str, str], jobs: list[str]) -> None:
    queue.start()
    try:
        for job in jobs:
            await queue.put(job)
        await asyncio.wait_for(queue.join(), 5)
    finally:
        await queue.close()


async def test_a_failing_job_is_retried_until_it_succeeds() -> None:
    done: list[JobOutcome[str, str]] = []
    handler = Flaky(2, OSError("disk full"))
    await run_queue(JobQueue(handler, max_attempts=3, backoff_s=0.01, on_done=done.append), ["a"])
    assert done == [JobOutcome("a", True, 3, result="A")]


async def test_a_job_gives_up_after_max_attempts_with_the_last_error() -> None:
    done: list[JobOutcome[str, str]] = []
    handler = Flaky(10, OSError("disk full"))
    await run_queue(JobQueue(handler, max_attempts=3, backoff_s=0.01, on_done=done.append), ["a"])
    assert done == [JobOutcome("a", False, 3, error="disk full")]
    assert handler.calls == 3


async def test_a_permanent_error_is_not_retried() -> None:
    done: list[JobOutcome[str, str]] = []
    handler = Flaky(10, RecorderError("corrupt"))
    await run_queue(
        JobQueue(handler, max_attempts=5, backoff_s=0.01, permanent=(RecorderError,), on_done=done.append), ["a"]
    )
    assert done == [JobOutcome("a", False, 1, error="corrupt")]


async def test_a_backing_off_job_does_not_hold_up_the_others() -> None:
    done: list[JobOutcome[str, str]] = []

    async def handler(job: str) -> str:
        if job == "slow" and not any(o.job == "fast" for o in done):
            raise OSError("not yet")
        return job

    await run_queue(JobQueue(handler, workers=1, backoff_s=0.2, on_done=done.append), ["slow", "fast"])
    assert [(o.job, o.ok, o.attempts) for o in done] == [("fast", True, 1), ("slow", True, 2)]


async def test_put_waits_while_the_queue_is_full() -> None:
    async def handler(job: str) -> str:
        return job

    queue: JobQueue[str, str] = JobQueue(handler, maxsize=1)  # not started: nothing drains it
    await queue.put("a")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.put("b"), 0.05)


@pytest.fixture
def pipeline(tmp_path: Path) -> RecordingPipeline:
    index = RecordingIndex(tmp_path / "index.sqlite3")
    return RecordingPipeline(
        recordings_dir=tmp_path / "recordings", index=index, config=RecorderConfig(), fmt="ogg", clock=lambda: 0.0
    )


@pytest.fixture
def job(tmp_path: Path, korean: Path) -> ProcessRecording:
    customer = write_leg(tmp_path / "r1-customer.wav", *read_mono(korean / "porcupine_bixby_ko.wav"))
    agent = write_leg(tmp_path / "r1-agent.wav", *read_mono(korean / "rhino_test_out_of_context_ko.wav"))
    return make_job(tmp_path, customer, agent, recording_id="r1")


async def test_a_storage_failure_is_retried_and_the_legs_survive_it(
    tmp_path: Path, pipeline: RecordingPipeline, job: ProcessRecording
) -> None:
    # A file sits where the year directory must go, so the first attempt really fails.
    blocker = tmp_path / "recordings" / "2026"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a directory")
    spool = Spool(tmp_path / "recordings" / "spool")
    spool.put(job)
    attempts: list[bool] = []

    original = pipeline.run

    def run_unblocking_after_first_failure(j: ProcessRecording) -> PipelineResult:
        attempts.append(all(Path(leg.file).exists() for leg in j.legs))
        if len(attempts) == 2:
            blocker.unlink()
        return original(j)

    pipeline.run = run_unblocking_after_first_failure  # type: ignore[method-assign]
    outcomes = await asyncio.wait_for(run_jobs(pipeline, spool, spool.pending(), backoff_s=0.01), 30)

    assert attempts == [True, True]  # the legs were still there for the retry
    assert [(o.ok, o.attempts) for o in outcomes] == [(True, 2)]
    assert (tmp_path / "recordings" / "2026" / "11" / "22" / "r1.ogg").is_file()
    assert spool.pending() == []
    assert legs_exist(job) == [False, False]  # removed only after success


async def test_a_job_that_keeps_failing_ends_in_failed_with_its_legs(
    tmp_path: Path, pipeline: RecordingPipeline, job: ProcessRecording
) -> None:
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "2026").write_text("not a directory")
    spool = Spool(tmp_path / "recordings" / "spool")
    spool.put(job)

    outcomes = await asyncio.wait_for(run_jobs(pipeline, spool, spool.pending(), backoff_s=0.01), 30)

    assert [(o.ok, o.attempts) for o in outcomes] == [(False, 3)]
    assert legs_exist(job) == [True, True]
    assert spool.pending() == []
    assert (spool.failed_dir / "r1.json").is_file()
    assert "2026" in (spool.failed_dir / "r1.error").read_text()


async def test_a_corrupt_leg_fails_once_and_is_kept(
    tmp_path: Path, pipeline: RecordingPipeline, job: ProcessRecording
) -> None:
    customer = write_leg_bytes(job, b"\x00" * 1000)
    spool = Spool(tmp_path / "recordings" / "spool")
    spool.put(job)

    outcomes = await asyncio.wait_for(run_jobs(pipeline, spool, spool.pending(), backoff_s=0.01), 30)

    message = (
        f"recording r1: customer leg {customer} is not readable audio (Format not recognised.); the file is kept"
    )
    assert [(o.ok, o.attempts, o.error) for o in outcomes] == [(False, 1, message)]
    assert read_bytes(customer) == b"\x00" * 1000
    assert (spool.failed_dir / "r1.error").read_text() == message + "\n"


def test_a_retry_after_the_legs_were_removed_reuses_the_stored_file(
    tmp_path: Path, pipeline: RecordingPipeline, job: ProcessRecording
) -> None:
    first = pipeline.run(job)
    assert not Path(job.legs[0].file).exists()
    again = pipeline.run(job)  # e.g. transcription failed the first time and the job is retried
    assert again.processed == first.processed
    stored = tmp_path / "recordings" / first.processed.path
    stored.write_bytes(stored.read_bytes()[:-10])
    with pytest.raises(RecorderError) as excinfo:
        pipeline.run(job)
    assert str(excinfo.value) == f"recording r1: legs are gone and the stored {stored} does not match its checksum"


def test_settings_default_format_is_a_known_codec() -> None:
    from recorder.postprocess import CODECS

    assert Settings().recording.format in CODECS
