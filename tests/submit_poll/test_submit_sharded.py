"""A table source at scale: planned by BigQuery into shards, written shard by shard within a time
budget, resumed call after call until every shard has its job.

The calls run in this process against the stack's emulators (the same code as the deployed function)
so that the budget's clock can be injected: it advances 100 s per shard written (and at nothing
else), and a 250 s budget then covers two shards per call, whatever the machine's speed.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import date

import pytest

from tests.submit_poll.helpers import BATCH_TYPE, assert_error, read_jsonl, transcript_records

DAY = date(2024, 3, 5)
GOOD = 2000
PER_JOB = 190


SHARD_SECONDS = 100.0
CLOCK = {"now": 0.0}


def _call(body: dict, owner: str, *, budget: float = 250.0):
    """One submit call in this process, on the injected clock."""
    from batch_submit import service
    from batch_submit.config import SubmitConfig
    from batch_submit.request import parse_submit
    from shared.config import Settings
    from shared.logs import Logger

    settings = Settings.from_env()
    config = dataclasses.replace(SubmitConfig.from_env(), time_budget_seconds=budget)
    req = parse_submit(body, settings, config)
    deps = dataclasses.replace(service._deps(settings, config, req, Logger(run_id=req.run_id)),
                               monotonic=lambda: CLOCK["now"])
    return service.submit_new(deps, req, owner=owner)


@pytest.fixture
def big_source(load_transcripts):
    """2,000 good transcripts of DAY, 12 that are skipped (empty, blank phone token, duplicate key)
    and 30 of another day, outside the run's dates."""
    good = transcript_records(GOOD, call_date=DAY)
    bad = ([{**r, "transcript": ""} for r in transcript_records(6, 5000, DAY)]
           + [{**r, "phone_number_token": "  "} for r in transcript_records(3, 6000, DAY)]
           + [dict(r) for r in good[:3]])  # the same keys again
    other_day = transcript_records(30, 7000, date(2024, 3, 9))
    load_transcripts(good + bad + other_day)
    return good


@pytest.fixture(autouse=True)
def written(monkeypatch):
    """The shard indexes written, in order, over every call (a spy on the planned shard writer,
    which also advances the injected clock by SHARD_SECONDS per shard)."""
    from batch_submit import sharded
    from batch_submit.shards import PlannedShardWriter

    seen: list[int] = []

    class Spy(PlannedShardWriter):
        def close(self):
            seen.append(self.shard.index)
            CLOCK["now"] += SHARD_SECONDS
            return super().close()

    monkeypatch.setattr(sharded, "PlannedShardWriter", Spy)
    return seen


def _body(run_id: str, **extra) -> dict:
    return {"run_id": run_id, "batch_type": BATCH_TYPE, "max_requests_per_job": PER_JOB,
            "source": {"table": "transcripts", "date_from": DAY.isoformat(), "date_to": DAY.isoformat()}, **extra}


def _keys(storage_client, uri: str) -> list[str]:
    return [json.loads(base64.urlsafe_b64decode(line["key"]))["interaction_id"] for line in read_jsonl(storage_client, uri)]


def test_a_large_run_is_submitted_over_several_calls_each_shard_and_job_once(
        stack, big_source, written, storage_client, vertex_jobs, run_record):
    answers = []
    for n in range(6):
        answers.append(_call(_body("big-1"), owner=f"call-{n}"))
        if answers[-1]["status"] != "partial":
            break
    statuses = [a["status"] for a in answers]
    assert statuses[-1] == "submitted" and set(statuses[:-1]) == {"partial"}, statuses
    assert all(a["resume"] is True and a["run_state"] == "PENDING_SUBMISSION" for a in answers[:-1])
    shards = answers[0]["shards"]
    assert shards >= 10 and len(answers) <= 6
    assert [a["shards_written"] for a in answers[:-1]] == [min(2 * (n + 1), shards) for n in range(len(answers) - 1)]
    assert written == list(range(shards))  # every shard written once, in order
    final = answers[-1]
    assert final["skipped_reasons"] == {"empty_transcript": 6, "missing_phone_token": 3, "duplicate_key": 3}
    assert final["requests"] == GOOD == sum(j["requests"] for j in final["jobs"])
    jobs = vertex_jobs("big-1")
    assert len(jobs) == len(final["jobs"]) == shards  # every job created once
    assert sorted(j["labels"]["shard"] for j in jobs) == [f"{i:05d}" for i in range(shards)]
    assert all(j["requests"] <= PER_JOB for j in final["jobs"])
    sent = [key for job in final["jobs"] for key in _keys(storage_client, job["input_uri"])]
    assert len(sent) == GOOD and sorted(sent) == sorted(r["interaction_id"] for r in big_source)
    record = run_record("big-1")
    assert record["state"] == "SUBMITTED" and record["lease"] is None and len(record["jobs"]) == shards


def test_a_resumed_call_must_repeat_the_source_and_parameters(stack, big_source):
    first = _call(_body("big-2"), owner="call-0")
    assert first["status"] == "partial"
    other = {**_body("big-2"), "source": {"table": "transcripts", "days_back": 3}}
    with pytest.raises(Exception) as changed:
        _call(other, owner="call-1")
    assert changed.value.details["reason"] == "source_changed"
    with pytest.raises(Exception) as params:
        _call(_body("big-2", max_transcript_chars=500), owner="call-2")
    assert params.value.details["reason"] == "submission_parameters_changed"
    assert params.value.details["fields"] == ["max_transcript_chars"]
    again = _call(_body("big-2"), owner="call-3")  # the first call's request goes on
    assert again["status"] == "partial" and again["shards_written"] == 4


@pytest.mark.parametrize("extra,reason", [({"max_requests_per_run": 1000}, "source_too_large"),
                                          ({"max_requests_per_job": 5}, "too_many_shards")])
def test_a_run_over_its_limits_is_refused_before_anything_is_written(stack, big_source, submit, storage_client,
                                                                     vertex_jobs, extra, reason):
    status, answer = submit(_body("big-3", **extra))
    details = assert_error(status, answer, 400, "VALIDATION_ERROR")
    assert details["reason"] == reason
    assert list(storage_client.list_blobs(stack["INPUT_BUCKET"], prefix="runs/")) == []
    assert vertex_jobs("big-3") == []


def test_a_plan_still_running_when_the_budget_ends_is_waited_for_by_the_next_call(stack, big_source, monkeypatch,
                                                                                    run_record):
    """BigQuery slower than the call's budget (injected: the first wait gives up): the call answers
    partial while planning, and the next call waits for the same plan job instead of starting one."""
    from batch_submit import plan as planner

    started, real_wait = [], planner.wait_plan
    real_start = planner.start_plan
    monkeypatch.setattr(planner, "start_plan", lambda *a, **k: started.append(a[-1]) or real_start(*a, **k))
    monkeypatch.setattr(planner, "wait_plan", lambda job, timeout: False)
    first = _call(_body("big-4"), owner="call-0")
    assert first["status"] == "partial" and first["planning"] is True and first["shards"] == 0
    job_id = run_record("big-4")["submission"]["plan_job"]
    assert started == [job_id]
    monkeypatch.setattr(planner, "wait_plan", real_wait)
    second = _call(_body("big-4"), owner="call-1")
    assert second["status"] == "partial" and second["planning"] is False and second["shards_written"] == 2
    assert started == [job_id] and run_record("big-4")["submission"]["plan_job"] == job_id
