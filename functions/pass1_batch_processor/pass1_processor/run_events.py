"""The processor's explicit run events (shared/events.py): a file started, its progress during and
after a call, a file finished, a file resumed after a crash. Called from service.py at three places;
state changes are recorded by JobStore itself. Events are best effort: one that cannot be written
never fails the work it describes."""

from __future__ import annotations

import time

from pass1_processor.checkpoint import CheckpointStore
from shared import events as run_events

BUSY = "busy"  # filework.BUSY: the file is leased by another call, nothing changed here
# Progress from inside a long call, at most this often per call (the event log throttles again per
# run, across parallel calls): checked locally first, so most chunks cost no extra transaction.
CHUNK_PROGRESS_SECONDS = 3.0


def _jobs(config):
    """The run's JobStore (None for an ad hoc scope: it has no event log)."""
    if not config.run_id:
        return None
    from shared.jobstate import JobStore

    return JobStore(collection=config.jobs_collection)


def note_started(config, uri: str, log=None) -> None:
    run_events.emit(_jobs(config), config.run_id, config.batch_type, [run_events.file_started(uri)], log)


def note_files(config, results: dict[str, str], checkpoints: dict, log=None) -> None:
    """Progress (and file.finished) for each file this call worked on."""
    events = []
    for uri, result in results.items():
        cp = checkpoints.get(uri)
        if cp is None or result == BUSY:
            continue
        counts = cp.counts.to_dict() if cp.counts is not None else {}
        events.extend(run_events.file_progress(uri, counts, cp.done))
    run_events.emit(_jobs(config) if events else None, config.run_id, config.batch_type, events, log)


class ReportingCheckpoints(CheckpointStore):
    """The call's CheckpointStore, also reporting a resumed file (its claim finds a chunk that a
    crashed holder left pending) and throttled progress after chunk commits."""

    def __init__(self, config, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._config, self._last_progress = config, 0.0

    def _emit(self, events) -> None:
        run_events.emit(_jobs(self._config), self._config.run_id, self._config.batch_type, events)

    def claim(self, uri, facts):
        checkpoint = super().claim(uri, facts)
        if checkpoint is not None and checkpoint.pending is not None:
            self._emit([run_events.Event(run_events.FILE_RESUMED,
                                         {"file": uri, "from_line": checkpoint.pending.first_line},
                                         once=f"{run_events.FILE_RESUMED}:{uri}:{checkpoint.pending.start}")])
        return checkpoint

    def commit(self, uri, end, next_line, delta, done):
        checkpoint = super().commit(uri, end, next_line, delta, done)
        if not done and time.monotonic() - self._last_progress >= CHUNK_PROGRESS_SECONDS:
            self._last_progress = time.monotonic()
            counts = checkpoint.counts.to_dict() if checkpoint.counts is not None else {}
            self._emit(run_events.file_progress(uri, counts, False))
        return checkpoint


def checkpoint_store(config, *args, **kwargs) -> CheckpointStore:
    """CheckpointStore(*args, **kwargs), reporting run events when the scope is a run."""
    return ReportingCheckpoints(config, *args, **kwargs) if config.run_id else CheckpointStore(*args, **kwargs)
