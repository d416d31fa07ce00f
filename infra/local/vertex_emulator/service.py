"""The emulator's operations: the four job API calls and the control calls, over a JobStore."""

import base64
import copy
import datetime
import hashlib
import logging
import os
import threading

from . import config as settings
from .errors import ApiError
from .faults import RuleBook
from .filters import compile_filter
from .resource import FINAL_STATES, INTERNAL, new_record, render, timestamp, validate_create
from .runner import JobRunner
from .store import JobStore

LOG = logging.getLogger("vertex_emulator.service")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
RESET_JOIN_SECONDS = 10  # a dropped job stops at its next row; this only bounds a stuck storage call


def utc_now():
    """The current time, timezone-aware UTC."""
    return datetime.datetime.now(datetime.timezone.utc)


class Emulator:
    """Jobs, settings and fault rules of one emulator process."""

    def __init__(self, project, state_dir, defaults, clock=utc_now, client_factory=None):
        os.makedirs(state_dir, exist_ok=True)
        self.project = project
        self._defaults = copy.deepcopy(defaults)
        self._config = copy.deepcopy(defaults)
        self._config_lock = threading.Lock()
        self._rules = RuleBook()
        self._store = JobStore(os.path.join(state_dir, "batch_prediction_jobs.json"))
        self._clock = clock
        self._runner_options = {"client_factory": client_factory} if client_factory else {}
        self._runners = {}

    # ---- life cycle -------------------------------------------------------------------------

    def resume(self):
        """Load saved jobs and restart those not final: they run again from their current state."""
        for job in self._store.load():
            if job["state"] not in FINAL_STATES:
                LOG.info("resuming %s from %s", job["name"], job["state"])
                # A running job starts its input again: its counts start again too, before anyone reads them.
                self._store.update(job["name"], lambda record: record.pop("completionStats", None))
                self._start_runner(job["name"])

    def _start_runner(self, name):
        runner = JobRunner(self._store, name, self.project, self._clock, **self._runner_options)
        self._runners[name] = runner
        runner.start()

    def reset(self):
        """Forget every job (their threads stop, writing nothing more) and restore the defaults."""
        runners, self._runners = self._runners, {}
        for runner in runners.values():
            runner.drop()
        for runner in runners.values():
            runner.join(RESET_JOIN_SECONDS)
        self._store.clear()
        with self._config_lock:
            self._config = copy.deepcopy(self._defaults)
        self._rules.reset()

    # ---- settings ---------------------------------------------------------------------------

    def config(self):
        """A copy of the current settings (count rules show what is left)."""
        with self._config_lock:
            return copy.deepcopy(self._config)

    def configure(self, update):
        """Merge settings; raise ApiError(400) on a bad one."""
        try:
            with self._config_lock:
                self._config = settings.merge(self._config, update)
        except settings.ConfigError as exc:
            raise ApiError(400, str(exc)) from exc
        self._rules.reset()
        return self.config()

    def health(self):
        """A small status document."""
        return {"status": "ok", "project": self.project, "jobs": len(self._store),
                "seed": self.config()["seed"]}

    # ---- API --------------------------------------------------------------------------------

    def _check_project(self, project):
        if project != self.project:
            raise ApiError(403, f"Permission denied on resource project {project} "
                                f"(this emulator serves project {self.project}).")

    def _fault(self, method, location, model=None):
        with self._config_lock:
            error = self._rules.api_error(self._config, method, location, model)
        if error:
            LOG.info("injected %s on %s (%s)", error.code, method, location)
            raise error

    def _job_id(self, sequence):
        # Real ids are 19-digit numbers; derive one from the sequence so runs are repeatable.
        digest = hashlib.sha256(f"{self.project}|job|{sequence}".encode()).digest()
        return str(10**18 + int.from_bytes(digest[:8], "big") % (9 * 10**18))

    def create(self, project, location, body, enum_as_int=False):
        """batchPredictionJobs.create: store the job, start its thread, answer at once."""
        self._check_project(project)
        self._fault("create", location, body.get("model") if isinstance(body, dict) else None)
        validate_create(body)
        sequence = self._store.next_sequence()
        name = f"projects/{project}/locations/{location}/batchPredictionJobs/{self._job_id(sequence)}"
        with self._config_lock:
            snapshot = copy.deepcopy(self._config)
            failure = self._rules.job_failure(self._config, sequence, location, body.get("model"))
        internal = {"sequence": sequence, "location": location, "config": snapshot, "failure": failure}
        record = new_record(name, body, self._clock(), internal)
        self._store.add(record)
        self._start_runner(name)
        LOG.info("created %s (%s)", name, record["displayName"])
        return render(record, enum_as_int)

    def _job(self, project, location, job_id):
        self._check_project(project)
        name = f"projects/{project}/locations/{location}/batchPredictionJobs/{job_id}"
        job = self._store.get(name)
        if job is None:
            raise ApiError(404, f"The BatchPredictionJob does not exist: {name}")
        return job

    def get(self, project, location, job_id, enum_as_int=False):
        """batchPredictionJobs.get."""
        self._check_project(project)
        known = self._store.get(f"projects/{project}/locations/{location}/batchPredictionJobs/{job_id}")
        self._fault("get", location, known and known.get("model"))
        return render(self._job(project, location, job_id), enum_as_int)

    def list(self, project, location, query, enum_as_int=False):
        """batchPredictionJobs.list: filter, newest first, paged with an opaque token."""
        self._check_project(project)
        self._fault("list", location)
        match = compile_filter(query.get("filter", ""))
        parent = f"projects/{project}/locations/{location}/"
        jobs = [job for job in self._store.all() if job["name"].startswith(parent) and match(job)]
        jobs.sort(key=lambda job: (job["createTime"], job[INTERNAL]["sequence"]), reverse=True)
        start = _page_offset(query.get("pageToken", ""))
        size = _page_size(query.get("pageSize"))
        page = jobs[start:start + size]
        answer = {"batchPredictionJobs": [render(job, enum_as_int) for job in page]}
        if start + size < len(jobs):
            answer["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return answer

    def cancel(self, project, location, job_id):
        """batchPredictionJobs.cancel: CANCELLING now, CANCELLED once the job's thread stops."""
        self._check_project(project)
        known = self._store.get(f"projects/{project}/locations/{location}/batchPredictionJobs/{job_id}")
        self._fault("cancel", location, known and known.get("model"))
        name = self._job(project, location, job_id)["name"]

        def change(job):
            if job["state"] in FINAL_STATES:
                raise ApiError(400, f"Cannot cancel {name}: it is already in state {job['state']}.",
                               "FAILED_PRECONDITION")
            if job["state"] != "JOB_STATE_CANCELLING":
                job["state"] = "JOB_STATE_CANCELLING"
                job["updateTime"] = timestamp(self._clock())
        self._store.update(name, change)
        runner = self._runners.get(name)
        if runner:
            runner.cancel()
        return {}


def _page_offset(token):
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError as exc:
        raise ApiError(400, "Invalid page token.") from exc



def _page_size(text):
    try:
        size = int(text or 0)
    except ValueError as exc:
        raise ApiError(400, f"Invalid page size {text!r}.") from exc
    return min(size, MAX_PAGE_SIZE) if size > 0 else DEFAULT_PAGE_SIZE
