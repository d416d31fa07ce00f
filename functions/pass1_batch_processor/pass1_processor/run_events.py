"""The processor's explicit run events (shared/events.py): a file started, its progress after a
call, a file finished. Called from service.py at two places; state changes are recorded by JobStore."""

from __future__ import annotations

from shared import events as run_events

BUSY = "busy"  # filework.BUSY: the file is leased by another call, nothing changed here


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
