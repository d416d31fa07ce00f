"""Crash and rerun: the processor SIGKILLed at seeded points of a multi-file run (during staging,
between a load and its MERGE, during the MERGE, after it before the checkpoint, ...), then called again until done, must leave exactly the
expected rows, each key once, with processed = inserted + dead-lettered + duplicates. submit_batch
killed between creating a job and recording it must reattach to that job, not make a second one."""

from __future__ import annotations

import random
import threading
import time

import pytest

from tests.reliability.conftest import SEED
from tests.reliability.support import drive, post

# Crash points of the processor (shared/faults.py calls in pass1_processor) and the most hits each
# has in the run of `new_run()` (2 files of 7 and 8 lines, 2 chunks per file at chunk_size 4, both
# files with dead letters): the seeded draw picks which hit crashes. The write path: chunks staged as
# objects (staging.py), then the call's staged files together: one load, one MERGE and one tally
# (filemerge.py), each file's checkpoint done; the run's dead letters at completion (deadletters.py).
PROCESSOR_POINTS = {
    "started": 1,          # run moved to PROCESSING, nothing claimed
    "claim": 2,            # a file's lease taken
    "intent": 4,           # chunk range written ahead, nothing staged
    "object_staged": 4,    # during staging: one of a chunk's objects written, maybe not the others
    "retry_file": 2,       # failed requests set aside
    "chunk_staged": 4,     # all of a chunk's objects written, checkpoint not advanced
    "commit": 4,           # checkpoint advanced past a staged chunk
    "load_job_started": 3,  # during a load job (the run's keys, the batch's rows, the dead letters): not seen
    "staged_loaded": 1,    # between the batch's load and its MERGE
    "dml_job_started": 2,  # during a MERGE (the batch's rows, the run's dead letters): result not seen
    "merged": 1,           # after the MERGE, before the tally and the checkpoints
    "file_done": 2,        # a file's checkpoint done (the first: the other file merged, not done)
    "dead_staged": 1,      # the run's dead letters loaded into staging, not recorded
    "dead_loaded": 1,      # the run's dead letters merged, not recorded
    "before_complete": 1,  # every file done, run not COMPLETED
    "answer": 1,           # run COMPLETED, answer not sent
}
_rng = random.Random(SEED)
SCENARIOS = [(point, _rng.randint(1, most)) for point, most in PROCESSOR_POINTS.items()]


@pytest.mark.parametrize("point,hit", SCENARIOS, ids=[f"{p}-{h}" for p, h in SCENARIOS])
def test_processor_killed_at_point_then_rerun(point, hit, arm, new_run, functions, bigquery_client, layout, report):
    from tests.reliability.support import exactly_once

    run_id, body, exp = new_run()
    url = functions["PASS1_BATCH_PROCESSOR_URL"]
    armed = arm(point, hit)
    report.fault_injected("processor_crash")
    status, _ = post(url, body)
    assert status == "crashed" and not armed.exists(), f"the crash point {point}#{hit} did not fire"
    answer, _ = drive(url, body)
    exactly_once(bigquery_client, layout, run_id, exp, answer, report)
    report.fault_survived("processor_crash")


def test_processor_group_killed_at_seeded_delay_then_restarted(new_run, functions, stack_manager, fault_env,
                                                               bigquery_client, layout, report):
    """A kill from outside (the whole service, as a platform would) at a seeded moment of the run,
    then the service started again through the stack and the run finished. BigQuery is frozen
    (SIGSTOP) just before the kill so that the kill lands in a BigQuery call: a kill inside a
    Firestore transaction would leave its documents locked for 60 s (test_service_faults covers
    that case without the wait)."""
    import os
    import signal

    from tests.reliability.support import exactly_once

    run_id, body, exp = new_run(files=3)
    url = functions["PASS1_BATCH_PROCESSOR_URL"]
    delay = random.Random(SEED + 1).uniform(0.3, 1.0)
    bigquery = int((stack_manager.layout.dir / "pids" / "bigquery.pid").read_text())
    outcome = {}
    caller = threading.Thread(target=lambda: outcome.update(first=post(url, body)[0]))
    report.fault_injected("processor_kill_external")
    caller.start()
    time.sleep(delay)
    os.killpg(bigquery, signal.SIGSTOP)
    try:
        time.sleep(1.0)  # the processor finishes what it does in Firestore and waits on BigQuery
        stack_manager.kill("pass1_batch_processor")
    finally:
        os.killpg(bigquery, signal.SIGCONT)
    caller.join(60)
    assert outcome["first"] == "crashed"
    stack_manager.start("pass1_batch_processor", extra_env=fault_env["pass1_batch_processor"])
    answer, _ = drive(url, body)
    exactly_once(bigquery_client, layout, run_id, exp, answer, report)
    report.fault_survived("processor_kill_external")


@pytest.fixture
def transcripts(put, layout, uid):
    """A GCS source of n transcripts for submit_batch."""
    import orjson

    def make(n: int = 4) -> str:
        lines = [orjson.dumps({"phone_number_token": f"PHONE-{uid}-{i}", "interaction_id": f"INT-{uid}-{i}",
                               "transcript": f"Agent: Hello. Customer: my bill {uid} {i} is wrong."})
                 for i in range(n)]
        return put(f"gs://{layout.input_bucket}/sources/{uid}.jsonl", b"\n".join(lines) + b"\n")

    return make


def _jobs_of(job_client, layout, run_id: str) -> list:
    from shared.vertex import run_labels

    labels = run_labels(run_id, "pass1", 1)
    parent = f"projects/{layout.project}/locations/{layout.location}"
    found = job_client.list_batch_prediction_jobs(parent=parent)
    return [j for j in found if all(j.labels.get(k) == v for k, v in labels.items())]


@pytest.mark.parametrize("point,shards", [("submit_jobs_created", 1), ("submit_job_created", 2)])
def test_submit_killed_between_job_creation_and_record(point, shards, arm, functions, transcripts, uid,
                                                       job_client, layout, vertex_emulator, report):
    """Killed after creating the job(s) and before the run names them: the rerun (once the dead
    call's lease lapses) reattaches; the emulator holds exactly one job per shard."""
    vertex_emulator.configure(pace_seconds=0, stall_after_rows=0)
    url = functions["SUBMIT_BATCH_URL"]
    body = {"run_id": uid, "batch_type": "pass1", "source": {"uri": transcripts(4)},
            "max_requests_per_job": 4 // shards, "wait_seconds": 0}
    armed = arm(point, 1)
    report.fault_injected("submit_crash")
    status, _ = post(url, body)
    assert status == "crashed" and not armed.exists()
    answer = None
    for _ in range(40):
        status, answer = post(url, body)
        if status == 200:
            break
        assert status == 409 and answer["error"]["details"]["reason"] == "submission_in_progress", answer
        time.sleep(0.3)
    assert status == 200 and answer["status"] == "submitted", answer
    assert len(answer["jobs"]) == shards
    assert any(job["reattached"] for job in answer["jobs"])
    jobs = _jobs_of(job_client, layout, uid)
    assert sorted(j.name for j in jobs) == sorted(job["name"] for job in answer["jobs"])
    status, again = post(url, body)
    assert status == 200 and again["status"] == "skipped"
    assert len(_jobs_of(job_client, layout, uid)) == shards
    report.fault_survived("submit_crash")


@pytest.fixture
def table_transcripts(bigquery_client, layout, uid):
    """n transcripts of one day in the stack's BigQuery transcripts table; the run's table source."""
    from tools.sample_data.writers import BigQueryLoader, load_schema

    def make(n: int) -> dict:
        loader = BigQueryLoader(f"{layout.project}.{layout.dataset}.{layout.transcripts_table}",
                                load_schema("transcripts"), bigquery_client)
        for i in range(n):
            loader.write({"phone_number_token": f"PHONE-{uid}-{i}", "interaction_id": f"INT-{uid}-{i:04d}",
                          "transcript": f"Agent: Hello. Customer: my bill {i} is wrong.", "call_date": "2024-05-01",
                          "language": "en"})
        loader.close()
        return {"table": layout.transcripts_table, "date_from": "2024-05-01", "date_to": "2024-05-01"}

    return make


@pytest.mark.parametrize("point,hit", [("submit_shard_written", 2), ("submit_job_created", 3)])
def test_sharded_submit_killed_between_shards_then_called_again(point, hit, arm, functions, table_transcripts, uid,
                                                                job_client, layout, storage_client, vertex_emulator,
                                                                report):
    """A table source of 300 transcripts in shards of at most 60: killed after recording a shard
    (before its job) or after creating a job (before recording it), then called until submitted.
    Every transcript is in exactly one input line, every shard has exactly one job."""
    import base64
    import json

    vertex_emulator.configure(pace_seconds=0, stall_after_rows=0)
    url = functions["SUBMIT_BATCH_URL"]
    body = {"run_id": uid, "batch_type": "pass1", "source": table_transcripts(300), "max_requests_per_job": 60,
            "wait_seconds": 0}
    armed = arm(point, hit)
    report.fault_injected("submit_crash")
    status, _ = post(url, body)
    assert status == "crashed" and not armed.exists()
    for _ in range(60):
        status, answer = post(url, body)
        if status == 200 and answer["status"] == "submitted":
            break
        assert status == 409 and answer["error"]["details"]["reason"] == "submission_in_progress", answer
        time.sleep(0.3)
    assert status == 200 and answer["status"] == "submitted", answer
    shards = len(answer["jobs"])
    assert shards >= 5 and answer["requests"] == 300
    jobs = _jobs_of(job_client, layout, uid)
    assert sorted(j.name for j in jobs) == sorted(job["name"] for job in answer["jobs"])
    assert sorted(j.labels["shard"] for j in jobs) == [f"{i:05d}" for i in range(shards)]
    keys = []
    for job in answer["jobs"]:
        bucket, name = job["input_uri"][5:].split("/", 1)
        data = storage_client.bucket(bucket).blob(name).download_as_bytes()
        keys += [json.loads(base64.urlsafe_b64decode(json.loads(line)["key"]))["interaction_id"]
                 for line in data.splitlines()]
    assert sorted(keys) == [f"INT-{uid}-{i:04d}" for i in range(300)]
    report.fault_survived("submit_crash")
