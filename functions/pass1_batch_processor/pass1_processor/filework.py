"""One file, chunk after chunk, from its checkpoint to its end or to the end of the call's budget.

Per chunk: read lines (extracting each as it comes, so raw lines are never held), record the
chunk's range in the checkpoint (write-ahead), stage its rows (chunk.py), commit offset and counts
together. A checkpoint found with a pending range is replayed first, exactly that range. Once the
file is staged to its end it goes to the call's merge lane (mergelane.py), its lease kept: a
background thread merges staged files in batches (filemerge.py: one load, one MERGE, one tally per
batch) while this thread stages the next file, and then marks each file's checkpoint done.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from pass1_processor.checkpoint import Checkpoint, CheckpointStore, FileBusy, LeaseLost, Pending
from pass1_processor.chunk import Chunk, WriteTarget, process_chunk
from pass1_processor.counts import Counts
from pass1_processor.discovery import PredictionFile
from pass1_processor.extract import DeadLetter, Record, extract_line
from pass1_processor.filemerge import StagedFile, merge_files
from pass1_processor.keyindex import KeyIndex
from pass1_processor.memory import MemoryWatch
from pass1_processor.mergelane import MergeLane
from pass1_processor.pools import pool
from pass1_processor.reader import Line, blob_fetcher, iter_lines, read_ahead
from shared.errors import Conflict
from shared.faults import crash_point

DONE, STOPPED, BUSY, STAGED = "done", "stopped", "busy", "staged"
# Each call's file writes one chunk at a time on a writer thread.
WRITER_POOL, WRITER_WORKERS = "chunk-writer", 8


@dataclass
class Budget:
    """The call's time budget. At least one chunk runs per call (so that every call progresses);
    another starts only when a chunk's duration still fits: the last committed chunk's, or, while
    the call's first chunk is still being written, the time since that chunk started."""

    seconds: float
    elapsed: Callable[[], float]
    chunks: int = 0                  # chunks committed
    last_chunk_seconds: float = 0.0
    started: int = 0                 # chunks whose extraction began (the writer may hold the last one)
    first_started_at: float = 0.0    # elapsed() when the call's first chunk began

    def may_start_chunk(self) -> bool:
        if self.started == 0:
            return True
        now = self.elapsed()
        estimate = self.last_chunk_seconds if self.chunks else now - self.first_started_at
        return now + estimate <= self.seconds

    def chunk_started(self) -> None:
        if self.started == 0:
            self.first_started_at = self.elapsed()
        self.started += 1

    def chunk_done(self, seconds: float) -> None:
        self.last_chunk_seconds = seconds
        self.chunks += 1


@dataclass
class FileWorker:
    """Works files of one scope for one call."""

    store: CheckpointStore
    target: WriteTarget
    budget: Budget
    memory: MemoryWatch
    chunk_max_bytes: int
    storage: Any
    log: Any
    chunks_written: list = field(default_factory=list)
    input_bucket: str = ""  # where the key indexes are (keyindex.py)
    lane: MergeLane | None = None  # where staged files go; set by the caller (service._work)

    def work(self, file: PredictionFile) -> str:
        """DONE, STAGED (staged to its end, handed to the merge lane, lease kept), STOPPED (budget
        spent; lease released) or BUSY (another invocation has it)."""
        try:
            checkpoint = self.store.claim(file.uri, {"output_dir": file.output_dir.uri, "size": file.size,
                                                     "generation": file.generation,
                                                     "batch_job": file.output_dir.batch_job})
        except FileBusy:
            return BUSY
        if checkpoint is None:
            return DONE
        crash_point("claim")
        try:
            return self._work(file, checkpoint)
        except LeaseLost:
            self.log.warning("lease lost; another invocation continues the file", file=file.uri)
            return BUSY
        except BaseException:
            self.release_quietly(file)  # the pending range stays: the next call replays it
            raise

    def _work(self, file: PredictionFile, checkpoint: Checkpoint) -> str:
        if checkpoint.generation not in (None, file.generation) and checkpoint.offset > 0:
            raise Conflict("the prediction file changed after processing began",
                           details={"file": file.uri, "generation": file.generation})
        blob = self.storage.bucket(file.path.bucket).blob(file.path.name)
        fetch = read_ahead(blob_fetcher(blob, file.generation), file.size)
        try:
            return self._stage(file, checkpoint, iter_lines(fetch, file.size, checkpoint.offset, checkpoint.next_line))
        finally:
            fetch.close()  # a window still being read ahead (the budget stopped the file, or an error)

    def _stage(self, file: PredictionFile, checkpoint: Checkpoint, lines: Iterator[Line]) -> str:
        """The file's chunks from its checkpoint (a pending range first), then the merge lane."""
        offset, next_line, staged = checkpoint.offset, checkpoint.next_line, checkpoint.counts
        keys = KeyIndex(file.path, self.storage, self.input_bucket)  # read only if a line has no key
        if checkpoint.pending:  # a replay, exactly the pending range, before anything else
            chunk = self._extract(file, lines, offset, next_line, checkpoint.pending, keys)
            offset, next_line, staged = self._write(chunk, checkpoint.pending)
        # Chunk k is written (intent, staged objects, commit) on a writer thread while chunk k+1 is
        # read and extracted here. Writes stay in order, one chunk at a time, so the checkpoint
        # advances exactly as when both ran on one thread. At most two chunks are in memory.
        writing: Future | None = None
        try:
            first = True
            while offset < file.size or (offset == 0 == file.size and first):
                if not self.budget.may_start_chunk():
                    staged, writing = _written(writing, staged), None
                    self.store.release(file.uri)
                    return STOPPED
                chunk = self._extract(file, lines, offset, next_line, None, keys)
                staged, writing = _written(writing, staged), None
                writing = pool(WRITER_POOL, WRITER_WORKERS).submit(self._write, chunk, None)
                offset, next_line = chunk.end, chunk.last_line + 1
                first = False
                if self.lane is not None:
                    self.lane.poke()  # files staged before this one must not outwait their leases
            staged, writing = _written(writing, staged), None
        finally:
            if writing is not None:  # failing here: the chunk being written ends (or fails) first
                wait([writing])
        # Every chunk is staged: the file's rows go to BigQuery with its batch (load, MERGE, tally).
        if self.lane is None:
            raise RuntimeError("FileWorker.lane is not set: a staged file has nowhere to go")
        self.lane.add(StagedFile(file, offset, next_line, staged))
        return STAGED

    def merge_batch(self, batch: list[StagedFile]) -> dict[str, str]:
        """Merge a batch of staged files (filemerge.py), then mark each done; {uri: DONE, or BUSY
        when the file's lease lapsed meanwhile (its new holder merges it again, a no-op)}."""
        try:
            deltas = merge_files(self.target, batch)
        except BaseException:
            for staged in batch:
                self.release_quietly(staged.file)  # staged stays staged: the next call merges it
            raise
        results = {}
        for staged in batch:
            try:
                self.store.commit(staged.file.uri, staged.offset, staged.next_line, deltas[staged.file.uri], True)
            except LeaseLost:
                self.log.warning("lease lost before the file was marked done", file=staged.file.uri)
                results[staged.file.uri] = BUSY
                continue
            results[staged.file.uri] = DONE
            crash_point("file_done")
        return results

    def _extract(self, file: PredictionFile, lines: Iterator[Line], offset: int, next_line: int,
                 pending: Pending | None, keys: KeyIndex) -> Chunk:
        """read -> extract -> convert (_fill): the next chunk, or (a replay) the pending range."""
        chunk = Chunk(file, offset, offset, next_line, next_line - 1, replay=pending is not None,
                      started=time.monotonic())
        self.budget.chunk_started()
        limit = None if pending else self.memory.next_chunk_lines()
        _fill(chunk, lines, limit, self.chunk_max_bytes, pending.end if pending else None, self.target.plan.prepare,
              keys)
        return chunk

    def _write(self, chunk: Chunk, pending: Pending | None) -> tuple[int, int, Counts]:
        """intent (write-ahead, unless replaying `pending`) -> stage -> count (process_chunk) -> commit;
        (offset, next line, the file's staged counts)."""
        file = chunk.file
        if pending is None:
            self.store.write_intent(file.uri, Pending(chunk.start, chunk.end, chunk.first_line, chunk.last_line))
            crash_point("intent")
        counts = process_chunk(self.target, chunk, datetime.now(timezone.utc).isoformat())
        checkpoint = self.store.commit(file.uri, chunk.end, chunk.last_line + 1, counts, False)
        crash_point("commit")
        self.budget.chunk_done(time.monotonic() - chunk.started)
        self.log.info("chunk staged", file=file.uri, first_line=chunk.first_line, last_line=chunk.last_line,
                      replay=chunk.replay, processed=counts.processed, failed=counts.failed)
        return chunk.end, chunk.last_line + 1, checkpoint.counts

    def release_quietly(self, file: PredictionFile) -> None:
        try:
            self.store.release(file.uri)
        except Exception as exc:  # the lease lapses on its own; the original error matters more
            self.log.warning("could not release lease", file=file.uri, error_type=type(exc).__name__)


def _fill(chunk: Chunk, lines: Iterator[Line], max_lines: int | None, max_bytes: int, until: int | None,
          prepare: Callable[[Record], Record | DeadLetter], keys: KeyIndex | None = None) -> None:
    """Extract lines into the chunk: up to max_lines lines or max_bytes bytes, or (a replay) up to
    byte offset `until` exactly. Blank lines advance the range but are not records. Each record is
    prepared (serialized, RowPlan.prepare) right away, while its objects are hot in the cache."""
    if until is not None and until <= chunk.start:
        return
    count = size = 0
    max_lines = max_lines if max_lines is not None else sys.maxsize  # None only with `until` (a replay)
    end, last = chunk.end, chunk.last_line
    append = chunk.outcomes.append  # a local: this loop runs once per line of the file
    try:
        for number, data, end, too_long in lines:
            last = number
            if too_long:
                append(DeadLetter(number, "line_too_long", f"the line is longer than {len(data)} bytes", None,
                                  data[:8192].decode("utf-8", "replace")))
            elif data and not data.isspace():  # isspace stops at the first visible byte
                outcome = extract_line(data, number, keys)
                append(prepare(outcome) if type(outcome) is Record else outcome)
            count += 1
            size += len(data)
            if until is not None:
                if end >= until:
                    return
            elif count >= max_lines or size >= max_bytes:
                return
    finally:
        chunk.end, chunk.last_line = end, last


def _written(writing: Future | None, current: Counts) -> Counts:
    """The file's staged counts once the chunk being written is committed (its error raised);
    `current` when none is being written."""
    return current if writing is None else writing.result()[2]


