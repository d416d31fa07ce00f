"""When a call's staged files go to BigQuery (filework.FileWorker.batch_due): at the end of the
call, when the batch is full, or before its first file's lease is half spent."""

from __future__ import annotations

from pass1_processor.counts import Counts
from pass1_processor.discovery import PredictionFile
from pass1_processor.filemerge import MAX_BATCH_FILES, StagedFile
from pass1_processor.filework import FileWorker


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _worker(clock: Clock) -> FileWorker:
    return FileWorker(store=None, target=None, budget=None, memory=None, chunk_max_bytes=1, storage=None,  # type: ignore[arg-type]
                      log=None, lease_seconds=120.0, clock=clock)


def _stage(worker: FileWorker, n: int) -> None:
    for _ in range(n):
        file = PredictionFile.__new__(PredictionFile)
        worker.join_batch(StagedFile(file, 10, 2, Counts(processed=1, pending=1)))


def test_an_empty_batch_is_never_due():
    clock = Clock()
    worker = _worker(clock)
    clock.now += 10_000
    assert worker.batch_due() is False


def test_the_batch_waits_for_more_files_while_its_first_lease_is_young():
    clock = Clock()
    worker = _worker(clock)
    _stage(worker, 3)
    clock.now += 59.9
    assert worker.batch_due() is False
    clock.now += 0.1  # half the 120 s lease since the first file joined
    assert worker.batch_due() is True


def test_a_full_batch_is_due_at_once():
    clock = Clock()
    worker = _worker(clock)
    _stage(worker, MAX_BATCH_FILES - 1)
    assert worker.batch_due() is False
    _stage(worker, 1)
    assert worker.batch_due() is True
