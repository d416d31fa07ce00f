"""The call's merge lane (pass1_processor/mergelane.py): a batch starts once min_lines lines wait
(the call's last batch takes what is left), staged files merged by group commit (those that waited
while a merge ran go together), at most max_files a batch; a failure stops later batches and hands
the waiting files back."""

from __future__ import annotations

import threading

import pytest

from pass1_processor.counts import Counts
from pass1_processor.discovery import PredictionFile
from pass1_processor.filemerge import StagedFile
from pass1_processor.mergelane import MergeLane
from shared.identifiers import GcsPath

WAIT_SECONDS = 10  # a bound for a broken lane, never reached by a working one


def _staged(name: str) -> StagedFile:
    file = PredictionFile(GcsPath("b", name), 10, 1, None)  # type: ignore[arg-type]  # no directory needed
    return StagedFile(file, 10, 2, Counts(processed=1, pending=1))


class Recorder:
    """A merge that records its batches; the first one waits until `release` is set."""

    def __init__(self):
        self.batches: list[list[str]] = []
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, batch: list[StagedFile]) -> dict[str, str]:
        self.started.set()
        if not self.batches:
            assert self.release.wait(WAIT_SECONDS)
        self.batches.append([s.file.uri.rsplit("/", 1)[1] for s in batch])
        return {s.file.uri: "done" for s in batch}


def test_files_staged_during_a_merge_go_together_in_the_next_batch():
    merge = Recorder()
    lane = MergeLane(merge, min_lines=1)
    lane.add(_staged("a"))
    assert merge.started.wait(WAIT_SECONDS)
    for name in ("b", "c", "d"):
        lane.add(_staged(name))
    merge.release.set()
    results = lane.finish()
    lane.close()
    assert merge.batches == [["a"], ["b", "c", "d"]]
    assert results == {f"gs://b/{n}": "done" for n in "abcd"}


def test_a_batch_starts_once_min_lines_wait_and_finish_takes_the_rest():
    batches, merged = [], threading.Event()

    def merge(batch):
        batches.append([s.file.uri[-1] for s in batch])
        merged.set()
        return {}

    lane = MergeLane(merge, min_lines=3)
    lane.add(_staged("a"))
    lane.add(_staged("b"))
    assert batches == []  # 2 lines wait: no batch was started
    lane.add(_staged("c"))  # 3 lines: the batch starts
    assert merged.wait(WAIT_SECONDS)
    lane.add(_staged("d"))
    lane.finish()
    lane.close()
    assert batches == [["a", "b", "c"], ["d"]]


def test_a_call_of_few_lines_makes_one_batch_at_finish():
    batches = []
    lane = MergeLane(lambda batch: batches.append(len(batch)) or {})  # the default: 50,000 lines
    for name in "abc":
        lane.add(_staged(name))
    assert batches == []
    lane.finish()
    lane.close()
    assert batches == [3]


def test_a_file_that_waited_max_wait_goes_to_a_batch_on_the_next_poke():
    clock, batches, merged = [0.0], [], threading.Event()

    def merge(batch):
        batches.append([s.file.uri[-1] for s in batch])
        merged.set()
        return {}

    lane = MergeLane(merge, max_wait_seconds=40, clock=lambda: clock[0])  # 50,000 lines never wait here
    lane.add(_staged("a"))
    clock[0] = 39.0
    lane.poke()  # a long file is being staged meanwhile
    assert batches == []
    clock[0] = 40.0
    lane.poke()
    assert merged.wait(WAIT_SECONDS)
    lane.add(_staged("b"))  # waits anew
    lane.finish()
    lane.close()
    assert batches == [["a"], ["b"]]


def test_a_batch_holds_at_most_max_files():
    merge = Recorder()
    lane = MergeLane(merge, max_files=2, min_lines=1)
    lane.add(_staged("a"))
    assert merge.started.wait(WAIT_SECONDS)
    for name in ("b", "c", "d", "e", "f"):
        lane.add(_staged(name))
    merge.release.set()
    lane.finish()
    lane.close()
    assert merge.batches == [["a"], ["b", "c"], ["d", "e"], ["f"]]


def test_a_failed_merge_is_raised_and_stops_later_batches():
    gate = threading.Event()
    calls = []

    def merge(batch):
        calls.append(len(batch))
        assert gate.wait(WAIT_SECONDS)
        raise RuntimeError("BigQuery said no")

    lane = MergeLane(merge, min_lines=1)
    lane.add(_staged("a"))
    lane.add(_staged("b"))  # waits behind the first batch, which fails
    gate.set()
    with pytest.raises(RuntimeError, match="BigQuery said no"):
        lane.finish()
    with pytest.raises(RuntimeError):
        lane.raise_failure()
    waiting = lane.abandon()
    assert calls == [1] and [s.file.uri for s in waiting] == ["gs://b/b"]
