"""One background thread per job: QUEUED -> PENDING -> RUNNING -> a final state, at the configured pace.

Cancel and reset wake the thread through one event; every wait is on that event, so nothing sleeps
past a cancel. A job forgotten by a reset stops without writing anything more.
"""

import logging
import random
import threading

from . import gcs_io, responses
from .errors import job_error
from .resource import FINAL_STATES, INTERNAL, timestamp

LOG = logging.getLogger("vertex_emulator.runner")


class Dropped(Exception):
    """The job was forgotten (reset) while its thread ran."""


class JobRunner(threading.Thread):
    """Runs one job to a final state; `cancel()` and `drop()` may be called from any thread."""

    def __init__(self, store, name, project, clock, client_factory=gcs_io.storage_client):
        super().__init__(name=f"job-{name.rsplit('/', 1)[-1]}", daemon=True)
        self._store, self._name, self._project = store, name, project
        self._clock, self._client_factory = clock, client_factory
        self._wake = threading.Event()
        self._dropped = False

    def cancel(self):
        """Ask the job to stop; it ends CANCELLED with the rows written so far."""
        self._wake.set()

    def drop(self):
        """Stop without touching the job or its output again (the job was forgotten)."""
        self._dropped = True
        self._wake.set()

    def _interrupted(self):
        if self._dropped:
            raise Dropped()
        return self._wake.is_set()

    def _pause(self, seconds):
        """Wait `seconds` unless woken; True when the job must stop."""
        if seconds:
            self._wake.wait(seconds)
        return self._interrupted()

    def _update(self, **fields):
        """Set resource fields (and updateTime); a job being cancelled keeps its CANCELLING state."""
        def change(job):
            if job["state"] in FINAL_STATES or (job["state"] == "JOB_STATE_CANCELLING"
                                                and fields.get("state") != "JOB_STATE_CANCELLED"):
                fields.pop("state", None)
            job.update(fields)
            job["updateTime"] = timestamp(self._clock())
        if self._dropped or self._store.update(self._name, change) is None:
            raise Dropped()

    def run(self):
        try:
            self._run()
        except Dropped:
            LOG.info("%s dropped", self._name)
        except Exception as exc:  # a broken job must end FAILED, never hang in RUNNING
            LOG.exception("%s failed", self._name)
            try:
                self._end("JOB_STATE_FAILED", error=job_error(500, f"Batch prediction job failed: {exc}"))
            except Dropped:
                pass

    def _end(self, state, **fields):
        self._update(state=state, endTime=timestamp(self._clock()), **fields)
        LOG.info("%s -> %s", self._name, state)

    def _run(self):
        job = self._store.get(self._name)
        if job is None:
            return
        config, state = job[INTERNAL]["config"], job["state"]
        if state == "JOB_STATE_CANCELLING":
            return self._end("JOB_STATE_CANCELLED")
        if state == "JOB_STATE_QUEUED":
            if self._pause(config["pace_seconds"]):
                return self._end("JOB_STATE_CANCELLED")
            self._update(state="JOB_STATE_PENDING")
        if self._pause(config["pace_seconds"]):
            return self._end("JOB_STATE_CANCELLED")
        job = self._start(job)
        if job[INTERNAL].get("failure"):
            if self._pause(config["pace_seconds"]):
                return self._end("JOB_STATE_CANCELLED")
            return self._end("JOB_STATE_FAILED", error=job[INTERNAL]["failure"])
        self._process(job, config)

    def _start(self, job):
        """Enter RUNNING; the output folder is named once, so a resumed job keeps writing there."""
        output = job.get("outputInfo", {}).get("gcsOutputDirectory")
        if not output:
            started = self._clock()
            prefix = job["outputConfig"]["gcsDestination"]["outputUriPrefix"].rstrip("/")
            output = f"{prefix}/prediction-model-{timestamp(started)}"
            self._update(state="JOB_STATE_RUNNING", startTime=timestamp(started),
                         outputInfo={"gcsOutputDirectory": output})
        else:
            self._update(state="JOB_STATE_RUNNING")
        return self._store.get(self._name) or job

    def _process(self, job, config):
        client = self._client_factory(self._project)
        writer = gcs_io.ShardWriter(client, job["outputInfo"]["gcsOutputDirectory"], config["rows_per_file"])
        try:
            rows = gcs_io.iter_rows(client, job["inputConfig"]["gcsSource"]["uris"])
            counts = self._write_rows(rows, writer, job["model"], config)
            writer.close()
        except gcs_io.InputError as exc:
            writer.abandon()
            return self._end("JOB_STATE_FAILED", error=job_error(400, str(exc)))
        except Dropped:
            writer.abandon()
            raise
        self._finish(rows, counts, config)

    def _write_rows(self, rows, writer, model, config):
        """Process rows window by window, each window shuffled; return [successful, failed]."""
        counts, window, stall = [0, 0], [], config["stall_after_rows"]
        for row in rows:
            window.append(responses.output_line(row, model, config, self._clock()))
            stop = self._pause(config["row_delay_seconds"])
            done = counts[0] + counts[1] + len(window)
            if stop or len(window) >= config["shuffle_window"] or done == stall:
                self._flush(window, writer, counts, config)
                window = []
            if not stop and done == stall:
                writer.close()  # what is written so far becomes visible while the job waits
                self._wake.wait()
                stop = self._interrupted()
            if stop:
                break
        self._flush(window, writer, counts, config)
        return counts

    def _flush(self, lines, writer, counts, config):
        if not lines:
            return
        shuffled = list(lines)
        random.Random(f"{config['seed']}|shuffle|{counts[0] + counts[1]}").shuffle(shuffled)
        if len(shuffled) > 1 and shuffled == lines:
            shuffled = shuffled[1:] + shuffled[:1]  # out of order, always, as the real service
        for line in shuffled:
            if self._dropped:
                raise Dropped()
            writer.write(line)
            counts[0 if line.get("response") is not None else 1] += 1
        self._update(completionStats={"successfulCount": counts[0], "failedCount": counts[1],
                                      "incompleteCount": 0})

    def _finish(self, rows, counts, config):
        stats = {"successfulCount": counts[0], "failedCount": counts[1], "incompleteCount": 0}
        if self._interrupted():
            stats["incompleteCount"] = sum(1 for _ in rows)  # what was never processed
            return self._end("JOB_STATE_CANCELLED", completionStats=stats)
        if counts == [0, 0]:
            return self._end("JOB_STATE_FAILED", completionStats=stats,
                             error=job_error(400, "The input contains no instances."))
        if self._pause(config["pace_seconds"]):
            return self._end("JOB_STATE_CANCELLED", completionStats=stats)
        state = "JOB_STATE_SUCCEEDED" if counts[1] == 0 else config["failed_rows_state"]
        self._end(state, completionStats=stats)
