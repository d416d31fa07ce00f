"""status_poll/decide.py, table-driven: what the current attempt's jobs mean for the run, over every
Vertex AI job state, and the merged job entries, progress and totals a poll answers. No stack."""

from __future__ import annotations

import pytest

from shared.jobstate import JobState
from shared.vertex import (
    ALL_JOB_STATES,
    CANCELLED,
    CANCELLING,
    EXPIRED,
    FAILED,
    PARTIALLY_SUCCEEDED,
    PAUSED,
    PENDING,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    UNSPECIFIED,
    UPDATING,
)
from status_poll import decide

CANCELLED_ERROR = {"code": "VERTEX_JOB_CANCELLED", "message": "every Vertex AI job was cancelled"}


def job(state: str | None, name: str = "jobs/1", **fields) -> dict:
    return {"name": name, "state": state, **fields}


def failure(jobs: list[dict], message: str = "every Vertex AI job failed") -> dict:
    return {"code": "VERTEX_JOB_FAILED", "message": message,
            "details": {"jobs": [{"job": j["name"], "state": j["state"], "error": j.get("error")} for j in jobs]}}


# One job of the attempt in each Vertex state: (job state, the run's next state from SUBMITTED,
# from RUNNING). None in an error column: no error; "failed"/"cancelled": the error of that kind.
ONE_JOB = [
    (UNSPECIFIED, JobState.SUBMITTED, JobState.RUNNING, None),
    (QUEUED, JobState.SUBMITTED, JobState.RUNNING, None),
    (PENDING, JobState.SUBMITTED, JobState.RUNNING, None),
    (RUNNING, JobState.RUNNING, JobState.RUNNING, None),
    (UPDATING, JobState.RUNNING, JobState.RUNNING, None),
    (PAUSED, JobState.RUNNING, JobState.RUNNING, None),
    (CANCELLING, JobState.RUNNING, JobState.RUNNING, None),
    (SUCCEEDED, JobState.PENDING_PROCESSING, JobState.PENDING_PROCESSING, None),
    (PARTIALLY_SUCCEEDED, JobState.PENDING_PROCESSING, JobState.PENDING_PROCESSING, None),
    (FAILED, JobState.FAILED, JobState.FAILED, "failed"),
    (EXPIRED, JobState.FAILED, JobState.FAILED, "failed"),
    (CANCELLED, JobState.CANCELLED, JobState.CANCELLED, "cancelled"),
]


def test_the_table_covers_every_vertex_job_state():
    assert {row[0] for row in ONE_JOB} == ALL_JOB_STATES


@pytest.mark.parametrize("state, from_submitted, from_running, error", ONE_JOB, ids=[r[0] for r in ONE_JOB])
def test_next_state_of_one_job_in_each_state(state, from_submitted, from_running, error):
    jobs = [job(state)]
    expected_error = {None: None, "failed": failure(jobs), "cancelled": CANCELLED_ERROR}[error]
    assert decide.next_state(JobState.SUBMITTED, jobs) == (from_submitted, expected_error)
    assert decide.next_state(JobState.RUNNING, jobs) == (from_running, expected_error)


# Several jobs (shards) of one attempt: (states, the run's next state from SUBMITTED, error kind).
SEVERAL_JOBS = [
    ("all queued", [QUEUED, PENDING], JobState.SUBMITTED, None),
    ("one started", [QUEUED, RUNNING], JobState.RUNNING, None),
    ("one ended while another waits", [SUCCEEDED, QUEUED], JobState.RUNNING, None),
    ("one failed while another waits", [FAILED, PENDING], JobState.RUNNING, None),
    ("all final, one succeeded", [SUCCEEDED, FAILED, CANCELLED], JobState.PENDING_PROCESSING, None),
    ("all final, one partially succeeded", [EXPIRED, PARTIALLY_SUCCEEDED], JobState.PENDING_PROCESSING, None),
    ("all succeeded", [SUCCEEDED, SUCCEEDED], JobState.PENDING_PROCESSING, None),
    ("all cancelled", [CANCELLED, CANCELLED], JobState.CANCELLED, "cancelled"),
    ("failed and cancelled", [FAILED, CANCELLED], JobState.FAILED, "failed"),
    ("failed and expired", [FAILED, EXPIRED], JobState.FAILED, "failed"),
]


@pytest.mark.parametrize("states, expected, error", [r[1:] for r in SEVERAL_JOBS], ids=[r[0] for r in SEVERAL_JOBS])
def test_next_state_of_several_jobs(states, expected, error):
    jobs = [job(state, name=f"jobs/{i}") for i, state in enumerate(states)]
    expected_error = {None: None, "failed": failure(jobs), "cancelled": CANCELLED_ERROR}[error]
    assert decide.next_state(JobState.SUBMITTED, jobs) == (expected, expected_error)


@pytest.mark.parametrize("current", [JobState.PENDING_SUBMISSION, JobState.SUBMITTED, JobState.RUNNING])
def test_no_jobs_leave_the_run_as_it_is(current):
    assert decide.next_state(current, []) == (current, None)


def test_a_failure_carries_the_first_job_error_message_cut_to_1000_characters():
    jobs = [job(FAILED, "jobs/a"), job(FAILED, "jobs/b", error={"code": 3, "message": "x" * 1500}),
            job(EXPIRED, "jobs/c", error={"code": 4, "message": "later"})]
    state, error = decide.next_state(JobState.RUNNING, jobs)
    assert state == JobState.FAILED
    assert error == failure(jobs, "x" * 1000)


def test_attempt_jobs_are_those_of_the_record_attempt():
    record = {"attempt": 2, "jobs": [job(FAILED, "a", attempt=1), job(QUEUED, "b", attempt=2),
                                     job(QUEUED, "c", attempt=2)]}
    assert [j["name"] for j in decide.attempt_jobs(record)] == ["b", "c"]
    assert decide.attempt_jobs({"attempt": 1}) == [] and decide.attempt_jobs({"attempt": 1, "jobs": None}) == []


def test_a_job_vertex_no_longer_knows_counts_as_failed():
    assert decide.not_found({"name": "jobs/9", "state": RUNNING, "requests": 3}) == {
        "name": "jobs/9", "state": FAILED, "error": {"code": 5, "message": "Vertex AI job not found"}}


def test_merge_takes_only_the_refreshed_fields_and_adds_progress():
    record_jobs = [job(QUEUED, "a", requests=4, attempt=1, input_uri="gs://in/a"), job(QUEUED, "b", requests=2)]
    fresh = {"a": {"state": SUCCEEDED, "output_dir": "gs://out/a", "completion_stats": {"successful": 3, "failed": 1},
                   "requests": 999, "labels": {"x": "y"}}}
    merged = decide.merge_jobs(record_jobs, fresh)
    assert merged[0] == {"name": "a", "state": SUCCEEDED, "requests": 4, "attempt": 1, "input_uri": "gs://in/a",
                         "output_dir": "gs://out/a", "completion_stats": {"successful": 3, "failed": 1},
                         "progress": {"requests": 4, "processed": 4, "fraction": 1.0}}
    assert merged[1] == record_jobs[1]  # not refreshed: unchanged, no progress added


# (state, requests, completion_stats, expected progress)
PROGRESS = [
    ("running, part done", RUNNING, 4, {"successful": 1, "failed": 1}, {"requests": 4, "processed": 2, "fraction": 0.5}),
    ("queued, no stats", QUEUED, 3, None, {"requests": 3, "processed": 0, "fraction": 0.0}),
    ("succeeded without stats", SUCCEEDED, 5, None, {"requests": 5, "processed": 5, "fraction": 1.0}),
    ("succeeded with incomplete rows", SUCCEEDED, 5, {"successful": 2, "incomplete": 2},
     {"requests": 5, "processed": 3, "fraction": 0.6}),
    ("partially succeeded", PARTIALLY_SUCCEEDED, 3, {"successful": 1, "failed": 2},
     {"requests": 3, "processed": 3, "fraction": 1.0}),
    ("failed counts what it did", FAILED, 3, {"successful": 1}, {"requests": 3, "processed": 1, "fraction": 0.3333}),
    ("more processed than asked is capped", RUNNING, 2, {"successful": 3}, {"requests": 2, "processed": 3, "fraction": 1.0}),
    ("no requests recorded", RUNNING, 0, {"successful": 1}, {"requests": 0, "processed": 1, "fraction": None}),
]


@pytest.mark.parametrize("state, requests, stats, expected", [r[1:] for r in PROGRESS], ids=[r[0] for r in PROGRESS])
def test_job_progress(state, requests, stats, expected):
    assert decide.job_progress(job(state, requests=requests, completion_stats=stats)) == expected


def test_totals_add_up_the_jobs():
    jobs = [job(SUCCEEDED, "a", requests=4, completion_stats={"successful": 3, "failed": 1}),
            job(RUNNING, "b", requests=6, completion_stats={"successful": 1, "incomplete": "2"},
                progress={"requests": 6, "processed": 5, "fraction": 0.8333}),
            job(QUEUED, "c", requests=0)]
    stats, progress = decide.totals(jobs)
    assert stats == {"successful": 4, "failed": 1, "incomplete": 2}
    # A job's recorded progress is used as it is; one without is computed.
    assert progress == {"requests": 10, "processed": 9, "fraction": 0.9, "jobs_total": 3, "jobs_final": 1}
    assert decide.totals([]) == ({"successful": 0, "failed": 0, "incomplete": 0},
                                 {"requests": 0, "processed": 0, "fraction": None, "jobs_total": 0, "jobs_final": 0})


def test_output_dirs_add_those_of_succeeded_jobs_once_in_order():
    jobs = [job(SUCCEEDED, "a", output_dir="gs://o/a"), job(FAILED, "b", output_dir="gs://o/b"),
            job(PARTIALLY_SUCCEEDED, "c", output_dir="gs://o/c"), job(SUCCEEDED, "d"),
            job(SUCCEEDED, "e", output_dir="gs://o/known")]
    assert decide.output_dirs(jobs, ["gs://o/known"]) == ["gs://o/known", "gs://o/a", "gs://o/c"]
    assert decide.output_dirs([], []) == []


@pytest.mark.parametrize("states, expected", [
    ([], None),
    ([None], None),
    ([SUCCEEDED, RUNNING], RUNNING),
    ([SUCCEEDED, QUEUED, RUNNING], QUEUED),
    ([SUCCEEDED, PARTIALLY_SUCCEEDED], PARTIALLY_SUCCEEDED),
    ([SUCCEEDED, FAILED], FAILED),
], ids=["no jobs", "no state", "running", "queued", "partial", "a failure is not hidden"])
def test_llm_status_is_the_least_advanced_job_state(states, expected):
    assert decide.llm_status([job(s) for s in states]) == expected
