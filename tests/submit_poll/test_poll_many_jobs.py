"""A run of 50+ jobs (a 10M-transcript run has about 52): poll_status refreshes them with one list
call by the run's labels instead of a get per job, and jobs=false leaves the per-job list out."""

from __future__ import annotations

import time

from tests.submit_poll.helpers import BATCH_TYPE, transcript_records

JOBS = 55


def _poll_deps(vertex):
    from shared.clients import storage_client
    from shared.config import Settings
    from shared.jobstate import JobStore, utcnow
    from shared.logs import Logger
    from status_poll.refresh import PollDeps

    settings = Settings.from_env()
    return PollDeps(store=JobStore(collection=settings.jobs_collection), vertex=vertex, clock=utcnow,
                    log=Logger(), location=settings.location, storage=storage_client)


def test_fifty_five_jobs_are_refreshed_with_one_list_call(stack, vertex_emulator, write_jsonl, submit, poll,
                                                          vertex_jobs, run_record):
    from shared.vertex import FINAL_JOB_STATES, VertexJobs
    from status_poll.answer import status_answer
    from status_poll.refresh import refresh_run

    vertex_emulator.configure(pace_seconds=0)
    uri = write_jsonl("sources/many.jsonl", transcript_records(JOBS))
    status, answer = submit({"run_id": "many-1", "batch_type": BATCH_TYPE, "source": {"uri": uri},
                             "max_requests_per_job": 1})
    assert status == 200 and len(answer["jobs"]) == JOBS, answer
    deadline = time.monotonic() + 30
    while not all(j["state"] in FINAL_JOB_STATES for j in vertex_jobs("many-1")):
        assert time.monotonic() < deadline
        time.sleep(0.1)

    calls = {"get": 0, "list": 0}

    class Counting(VertexJobs):
        def get(self, name):
            calls["get"] += 1
            return super().get(name)

        def list_by_labels(self, location, labels):
            calls["list"] += 1
            return super().list_by_labels(location, labels)

    settings_project = stack["GOOGLE_CLOUD_PROJECT"]
    record = refresh_run(_poll_deps(Counting(settings_project)), run_record("many-1"))
    assert calls == {"get": 0, "list": 1}
    assert record["state"] == "PENDING_PROCESSING"
    brief = status_answer(record, record["updated_at"], with_jobs=False)
    assert "jobs" not in brief and brief["job_count"] == JOBS and len(brief["output_info"]) == JOBS

    status, polled = poll("many-1", jobs="false")
    assert status == 200 and "jobs" not in polled and polled["job_count"] == JOBS and polled["done"]
    status, full = poll("many-1")
    assert status == 200 and len(full["jobs"]) == JOBS
