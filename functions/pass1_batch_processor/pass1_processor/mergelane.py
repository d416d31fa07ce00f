"""The call's merge lane: one background thread that does the call's BigQuery merges while the
call thread reads and stages the next files.

Staged files are merged by group commit: a file staged while a merge runs waits, and the next merge
takes every file that waited (at most MAX_BATCH_FILES). So a call that stages files faster than
BigQuery merges them runs few, larger merges (3 jobs per batch), and one that stages slowly
overlaps each file's merge with the next file's staging; either way the call's time is closer to
the larger of the two than to their sum. One thread, so one call never submits its merges side by
side, and batches keep the order in which files were staged.

A task's error is kept and raised by `raise_failure` (the call thread checks between files) and by
`finish`; after a failure no further batch starts (their files' leases are given back).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from pass1_processor.filemerge import MAX_BATCH_FILES, StagedFile

# Lines staged before a batch starts while the call is still staging (the call's last batch takes
# whatever is left). A batch costs three jobs whatever its size: about a second of latency each on
# BigQuery, and on the local emulator about half a CPU second each, on the cores staging needs. At
# 50,000 lines a 100k-line call makes two batches, the first overlapping the rest of its staging,
# and a call of a few small files makes one.
MIN_BATCH_LINES = 50_000


class MergeLane:
    """Background merges of one call: add() staged files; merge(batch) merges a batch and marks its
    files done ({uri: result})."""

    def __init__(self, merge: Callable[[list[StagedFile]], dict[str, str]], max_files: int = MAX_BATCH_FILES,
                 min_lines: int = MIN_BATCH_LINES, max_wait_seconds: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._merge = merge
        self._max_files = max_files
        self._min_lines = min_lines
        # A waiting file's lease is not renewed: a batch also starts once the oldest waiting file
        # has waited this long (the call may be staging a long file meanwhile, see poke()).
        self._max_wait = max_wait_seconds
        self._clock = clock
        self._added: list[float] = []  # when each waiting file was added
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="merge-lane")
        self._lock = threading.Lock()
        self._waiting: list[StagedFile] = []
        self._queued = False
        self._futures: list[Future] = []
        self._failure: BaseException | None = None
        self.results: dict[str, str] = {}

    def _submit(self, fn: Callable[[], object]) -> None:
        self._futures.append(self._pool.submit(self._guarded, fn))

    def add(self, staged: StagedFile) -> None:
        """A file staged to its end: merged by the next batch that starts."""
        with self._lock:
            self._waiting.append(staged)
            self._added.append(self._clock())
            if self._queued or not self._due():
                return
            self._queued = True
        self._submit(self._next_batch)

    def poke(self) -> None:
        """Start a batch if the waiting files are due (called between the chunks of a long file)."""
        with self._lock:
            if self._queued or not self._waiting or not self._due():
                return
            self._queued = True
        self._submit(self._next_batch)

    def _due(self) -> bool:
        """(Under the lock.) Enough lines wait, or the oldest waiting file has waited long enough."""
        if sum(s.counts.processed for s in self._waiting) >= self._min_lines:
            return True
        return self._max_wait is not None and self._clock() - self._added[0] >= self._max_wait

    def flush(self) -> None:
        """Start a batch of the files waiting, however few (the call has staged all it will)."""
        with self._lock:
            if self._queued or not self._waiting:
                return
            self._queued = True
        self._submit(self._next_batch)

    def raise_failure(self) -> None:
        """Raise the error of a lane task that failed, if one did."""
        if self._failure is not None:
            raise self._failure

    def finish(self) -> dict[str, str]:
        """Merge what waits, wait for the lane to run dry; {uri: result} of every merged file. Raises
        a task's error."""
        self.flush()
        index = 0
        while index < len(self._futures):  # a batch may queue the next one while we wait
            self._futures[index].exception()
            index += 1
        self.raise_failure()
        return dict(self.results)

    def abandon(self) -> list[StagedFile]:
        """Stop: no further batch starts; wait for the running one; the files still waiting (their
        leases are the caller's to give back)."""
        with self._lock:
            self._failure = self._failure or _Abandoned()
        for future in list(self._futures):
            future.exception()
        self._pool.shutdown(wait=True)
        with self._lock:
            waiting, self._waiting, self._added = self._waiting, [], []
        return waiting

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _guarded(self, fn: Callable[[], object]):
        if self._failure is not None:  # a task failed: later ones would build on its failure
            return None
        try:
            return fn()
        except BaseException as exc:
            with self._lock:
                self._failure = self._failure or exc
            raise

    def _next_batch(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting[:self._max_files], self._waiting[self._max_files:]
            self._added = self._added[len(batch):]
            self._queued = bool(self._waiting)
            requeue = self._queued
        if requeue:
            self._submit(self._next_batch)
        if batch:
            self.results.update(self._merge(batch))


class _Abandoned(Exception):
    """The call stopped the lane (it is failing); not raised to anyone."""
