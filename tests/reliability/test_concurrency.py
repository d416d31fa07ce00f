"""Concurrency: two processors called at once for the same run, two submits at once, a Scheduler sweep
while a workflow polls. Nothing is done twice and nothing is lost."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import orjson

from shared.keys import encode_key
from tests.reliability.support import Expected, drive, exactly_once, post


def _at_once(n: int, call):
    """Run call() n times from threads released together; results in order."""
    barrier = threading.Barrier(n)

    def go():
        barrier.wait()
        return call()

    with ThreadPoolExecutor(n) as pool:
        return [f.result() for f in [pool.submit(go) for _ in range(n)]]


def test_two_processors_at_once_for_the_same_run(new_run, functions, bigquery_client, layout, report):
    """They share the files through leases (or one gets 409); the run ends exact."""
    run_id, body, exp = new_run(files=3)
    url = functions["PASS1_BATCH_PROCESSOR_URL"]
    report.fault_injected("concurrent_processors")
    results = _at_once(2, lambda: post(url, body))
    statuses = sorted(status for status, _ in results)
    assert all(s in (200, 409) for s in statuses) and 200 in statuses, results
    for status, answer in results:
        if status == 409:
            assert answer["error"]["code"] == "CONFLICT"
    answer, _ = drive(url, body)
    exactly_once(bigquery_client, layout, run_id, exp, answer, report)
    report.fault_survived("concurrent_processors")


def _source(put, layout, uid, n: int) -> tuple[str, set[str]]:
    records = [{"phone_number_token": f"PHONE-{uid}-{i}", "interaction_id": f"INT-{uid}-{i}",
                "transcript": f"Agent: Hello. Customer: my bill {uid} {i} is wrong, I want a refund."}
               for i in range(n)]
    uri = put(f"gs://{layout.input_bucket}/sources/{uid}.jsonl", b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    return uri, {encode_key(r["phone_number_token"], r["interaction_id"]) for r in records}


def _job_names(job_client, layout, run_id):
    from shared.vertex import run_labels

    labels = run_labels(run_id, "pass1")
    parent = f"projects/{layout.project}/locations/{layout.location}"
    return sorted(j.name for j in job_client.list_batch_prediction_jobs(parent=parent)
                  if all(j.labels.get(k) == v for k, v in labels.items()))


def test_two_submits_at_once(functions, put, layout, uid, vertex_emulator, job_client, report):
    """One submits, the other waits for it and answers skipped with the same job: one set of jobs."""
    vertex_emulator.configure(pace_seconds=0)
    uri, _ = _source(put, layout, uid, 3)
    body = {"run_id": uid, "batch_type": "pass1", "source": {"uri": uri}}
    report.fault_injected("concurrent_submits")
    results = _at_once(2, lambda: post(functions["SUBMIT_BATCH_URL"], body))
    assert [s for s, _ in results] == [200, 200], results
    assert sorted(a["status"] for _, a in results) == ["skipped", "submitted"]
    names = [sorted(j["name"] for j in a["jobs"]) for _, a in results]
    assert names[0] == names[1] and len(names[0]) == 1
    assert _job_names(job_client, layout, uid) == names[0]
    report.fault_survived("concurrent_submits")


def test_sweep_during_polling_then_processing(functions, put, layout, uid, vertex_emulator, job_client,
                                              bigquery_client, report):
    """A workflow polls its run while Scheduler sweeps run side by side: every answer is a 200, the
    run reaches PENDING_PROCESSING once with its one job, and processing it gives each row once."""
    vertex_emulator.configure(pace_seconds=0.3)
    uri, keys = _source(put, layout, uid, 3)
    status, submitted = post(functions["SUBMIT_BATCH_URL"], {"run_id": uid, "batch_type": "pass1",
                                                             "source": {"uri": uri}})
    assert status == 200 and submitted["status"] == "submitted", submitted
    report.fault_injected("sweep_during_poll")
    poll_url, stop, sweeps = functions["POLL_STATUS_URL"], threading.Event(), []

    def sweeping():
        while not stop.is_set():
            sweeps.append(post(poll_url, {})[0])
            time.sleep(0.05)

    sweeper = threading.Thread(target=sweeping)
    sweeper.start()
    try:
        polled = None
        for _ in range(200):
            status, polled = post(poll_url, {"run_id": uid, "batch_type": "pass1"})
            assert status == 200, polled
            if polled["status"] != "SUBMITTED" and polled["status"] != "RUNNING":
                break
            time.sleep(0.1)
    finally:
        stop.set()
        sweeper.join(30)
    assert polled["status"] == "PENDING_PROCESSING", polled
    assert sweeps and set(sweeps) == {200}, sweeps
    assert _job_names(job_client, layout, uid) == [j["name"] for j in polled["jobs"]]
    body = {"run_id": uid, "batch_type": "pass1", "workflow_id": f"wf-{uid}", "output_info": polled["output_info"]}
    answer, _ = drive(functions["PASS1_BATCH_PROCESSOR_URL"], body)
    exactly_once(bigquery_client, layout, uid, Expected(keys=keys, lines=len(keys)), answer, report)
    report.fault_survived("sweep_during_poll")
