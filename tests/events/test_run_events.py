"""A run's events on the local stack, read as a user reads them: the SSE stream of poll_status with
an SSE client library, the events API, and the Pub/Sub messages pulled from the emulator."""

from __future__ import annotations

import time

import pytest

from shared.jobstate import FINAL_STATES

BATCH_TYPE = "pass1"
SECRETS = ("phone_number_token", "transcript", "composite_key")


def state_changes(messages) -> list[tuple[str, str]]:
    return [(d["from"], d["to"]) for _, e, d in messages if e == "run.state_changed"]


def test_a_followed_workflow_run_streams_every_event_once_in_order_and_ends_with_done(
        stack, layout, http, seed_rows, vertex_emulator, start_workflow, wait_for_run, sse, subscription,
        firestore_client):
    seed_rows(40)
    vertex_emulator.configure(pace_seconds=0.3, seed=3)
    join = start_workflow("ev-good")
    wait_for_run("ev-good")
    # A reader that drops its connection after 3 messages, then reconnects with Last-Event-ID; the
    # server closes each later connection after 2 s (max_seconds) and the client reconnects again.
    reads = [sse("ev-good", stop_after=3)]
    while not reads[-1] or reads[-1][-1][1] != "done":
        last_id = next((int(i) for i, e, _ in reversed([m for r in reads for m in r]) if i), 0)
        reads.append(sse("ev-good", after=last_id, max_seconds=2))
        assert len(reads) < 200, "the stream never said done"
    result = join()
    assert result["status"] == "succeeded"

    messages = [m for r in reads for m in r]
    events = [m for m in messages if m[1] != "done"]
    sequences = [int(i) for i, _, _ in events]
    assert sequences == list(range(1, len(sequences) + 1)), "every sequence once, no gap, strictly increasing"
    assert [d["sequence"] for _, _, d in events] == sequences
    assert messages[-1][1] == "done" and [e for _, e, _ in messages].count("done") == 1
    assert messages[-1][2]["state"] == "COMPLETED"
    assert len(reads) >= 3, "the test meant to reconnect at least twice"
    # The state changes in order, as the record's history has them.
    record = firestore_client.collection(layout.jobs_collection).document("pass1__ev-good").get().to_dict()
    assert state_changes(events) == [(h["from"], h["to"]) for h in record["history"] if h["from"]]
    assert state_changes(events)[-1] == ("PROCESSING", "COMPLETED")
    types = [e for _, e, _ in events]
    for expected in ("run.created", "job.created", "job.state_changed", "file.started", "progress", "file.finished",
                     "run.completed"):
        assert expected in types, expected
    for _, _, data in events:
        assert data["run_id"] == "ev-good" and data["batch_type"] == BATCH_TYPE and data["timestamp"]
        assert not any(s in str(data) for s in SECRETS)

    # tail=N: the last N events, then done at once (the run is final).
    tail = sse("ev-good", tail=2)
    assert [int(i) for i, e, _ in tail if e != "done"] == sequences[-2:] and tail[-1][1] == "done"

    # One run.completed on Pub/Sub; calling the processor and the sweep again adds nothing.
    messages_before = subscription.pull("ev-good")
    assert [a["event"] for a, _ in messages_before] == ["run.completed"]
    attributes, data = messages_before[0]
    assert attributes["batch_type"] == BATCH_TYPE and attributes["id"] == f"pass1__ev-good__{data['sequence']}"
    assert data["summary"]["totals"]["processed"] == 40
    status, answer = http.post(stack["PASS1_BATCH_PROCESSOR_URL"], {"run_id": "ev-good"})
    assert status == 200 and answer.get("already_completed")
    status, _ = http.post(stack["POLL_STATUS_URL"], {})
    assert status == 200
    status, page = http.get(stack["POLL_STATUS_URL"], {"run_id": "ev-good", "events": "true", "after": 0,
                                                       "limit": 1000})
    assert status == 200 and [e["sequence"] for e in page["events"]] == sequences
    assert page["next_after"] == sequences[-1]
    assert subscription.pull("ev-good") == messages_before


def test_a_run_whose_vertex_job_fails_publishes_one_run_failed(stack, http, seed_rows, vertex_emulator,
                                                               subscription, sse):
    seed_rows(5)
    vertex_emulator.configure(pace_seconds=0, job_failure=1.0)
    status, answer = http.post(stack["SUBMIT_BATCH_URL"], {"run_id": "ev-fail", "source": {"table": "transcripts"}})
    assert status == 200, answer
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, answer = http.get(stack["POLL_STATUS_URL"], {"run_id": "ev-fail"})
        if answer["status"] in FINAL_STATES:
            break
        time.sleep(0.2)
    assert answer["status"] == "FAILED"
    for _ in range(2):  # repeated polls and sweeps change nothing and publish nothing new
        assert http.get(stack["POLL_STATUS_URL"], {"run_id": "ev-fail"})[0] == 200
        assert http.post(stack["POLL_STATUS_URL"], {})[0] == 200
    messages = subscription.pull("ev-fail")
    assert [a["event"] for a, _ in messages] == ["run.failed"]
    assert messages[0][1]["summary"]["state"] == "FAILED"
    stream = sse("ev-fail")
    assert stream[-1][1] == "done" and stream[-1][2]["state"] == "FAILED"
    assert [e for _, e, _ in stream].count("run.failed") == 1


def test_a_run_with_many_bad_answers_publishes_one_dead_letter_rate_alert(
        stack, http, seed_rows, vertex_emulator, start_workflow, subscription):
    seed_rows(40)
    vertex_emulator.configure(pace_seconds=0, seed=7, blocked=0.3, safety=0.2)
    result = start_workflow("ev-dead")()
    assert result["status"] == "succeeded" and result["dead_lettered"] >= 10
    http.post(stack["PASS1_BATCH_PROCESSOR_URL"], {"run_id": "ev-dead"})
    http.post(stack["POLL_STATUS_URL"], {})
    events = [a["event"] for a, _ in subscription.pull("ev-dead")]
    assert sorted(events) == ["run.completed", "run.dead_letter_rate"]
    _, alert = next(m for m in subscription.pull("ev-dead") if m[0]["event"] == "run.dead_letter_rate")
    assert alert["summary"]["rate"] > alert["summary"]["threshold"] == 0.05


@pytest.mark.stateless
def test_bad_event_requests_are_refused_in_the_error_shape_never_a_stream(stack, http):
    import requests

    url = stack["POLL_STATUS_URL"]
    for params, status_code, code in (
            ({"run_id": "nobody", "follow": "true"}, 404, "NOT_FOUND"),
            ({"run_id": "nobody", "events": "true"}, 404, "NOT_FOUND"),
            ({"run_id": "x", "follow": "true", "after": "-1"}, 400, "VALIDATION_ERROR"),
            ({"run_id": "x", "follow": "true", "tail": "many"}, 400, "VALIDATION_ERROR"),
            ({"run_id": "x", "events": "true", "limit": "0"}, 400, "VALIDATION_ERROR"),
            ({"run_id": "x", "events": "maybe"}, 400, "VALIDATION_ERROR"),
            ({"follow": "true"}, 400, "VALIDATION_ERROR")):
        resp = requests.get(url, params=params, timeout=30)
        assert resp.status_code == status_code, (params, resp.text)
        assert resp.headers["Content-Type"].startswith("application/json")
        assert resp.json()["error"]["code"] == code


def test_the_runs_cli_watches_lists_and_shows_and_exits_non_zero_for_a_failed_run(stack, http):
    import io

    from rich.console import Console

    from shared import events as run_events
    from shared.jobstate import JobState as S
    from shared.jobstate import JobStore
    from tools.runs.cli import main

    store = JobStore(collection=stack["JOBS_COLLECTION"])
    for run_id, final in (("cli-ok", S.COMPLETED), ("cli-bad", S.FAILED)):
        store.create_or_get(run_id, BATCH_TYPE)
        store.transition(run_id, BATCH_TYPE, S.SUBMITTED, updates={"attempt": 1, "jobs": [
            {"name": f"projects/p/locations/l/batchPredictionJobs/{run_id}", "state": "JOB_STATE_RUNNING",
             "shard": 0, "requests": 10}]})
        if final == S.COMPLETED:
            store.transition(run_id, BATCH_TYPE, S.PENDING_PROCESSING)
            store.transition(run_id, BATCH_TYPE, S.PROCESSING)
            store.add_events(run_id, BATCH_TYPE, run_events.file_progress(
                "gs://b/prediction-1.jsonl", {"processed": 10, "inserted": 10}, True))
            store.transition(run_id, BATCH_TYPE, S.COMPLETED, updates={"processing": {"processed": 10, "inserted": 10}})
        else:
            store.transition(run_id, BATCH_TYPE, S.FAILED, updates={"last_error": {"code": "INTERNAL", "message": "x"}})

    def run(*argv) -> tuple[int, str]:
        out = io.StringIO()
        code = main(["--url", stack["POLL_STATUS_URL"], *argv], console=Console(file=out, width=200))
        return code, out.getvalue()

    code, text = run("watch", "cli-ok", "--plain")
    assert code == 0 and "file.finished" in text and text.strip().endswith("(9 events)"), text
    code, text = run("watch", "cli-bad")
    assert code == 1 and "FAILED" in text
    code, text = run("list")
    assert code == 0 and "cli-ok" in text and "cli-bad" in text
    code, text = run("show", "cli-ok", "--events", "3")
    assert code == 0 and "COMPLETED" in text and "last 3 of 9 events" in text
    assert run("watch", "nobody")[0] == 4


def test_a_silent_run_raises_one_stalled_alert_per_silence(stack, http, subscription):
    from datetime import timedelta

    from shared import events as run_events
    from shared.jobstate import JobState as S
    from shared.jobstate import JobStore, utcnow

    store = JobStore(collection=stack["JOBS_COLLECTION"])
    store.create_or_get("ev-quiet", BATCH_TYPE)
    for state in (S.SUBMITTED, S.PENDING_PROCESSING, S.PROCESSING):
        store.transition("ev-quiet", BATCH_TYPE, state, updates={"attempt": 1})

    def go_quiet():  # as if the processor died two hours ago (ALERT_STALLED_MINUTES is 60)
        store.ref("ev-quiet", BATCH_TYPE).update({"last_event_at": utcnow() - timedelta(hours=2)})

    go_quiet()
    for _ in range(2):
        status, answer = http.post(stack["POLL_STATUS_URL"], {})
        assert status == 200, answer
    assert [a["event"] for a, _ in subscription.pull("ev-quiet")] == ["run.stalled"]
    # News, then silence again: a new occurrence.
    store.add_events("ev-quiet", BATCH_TYPE, run_events.file_progress("gs://b/attempt-1/p.jsonl", {"processed": 1}, False))
    go_quiet()
    assert http.post(stack["POLL_STATUS_URL"], {})[0] == 200
    messages = subscription.pull("ev-quiet")
    assert [a["event"] for a, _ in messages] == ["run.stalled", "run.stalled"]
    assert messages[0][1]["summary"]["state"] == "PROCESSING" and messages[0][1]["summary"]["minutes"] >= 119
