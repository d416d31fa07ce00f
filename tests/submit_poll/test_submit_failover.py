"""Backoff and failover: 429s on the primary model are retried, then the job is created
on the fallback model, and the run says which model and region served. The primary's circuit stays
open for the next run."""

from __future__ import annotations

import pytest

from tests.submit_poll.helpers import BATCH_TYPE, transcript_records

PRIMARY = "gemini-2.0-flash-001"  # not a substring of the fallback's name (rules match substrings)
FALLBACK = "gemini-2.5-flash-lite"  # submit_batch's default VERTEX_FALLBACK_MODEL


def _create_faults_left(vertex_emulator) -> int:
    [rule] = vertex_emulator.config()["api_faults"]
    return rule["count"]


@pytest.fixture
def throttled_primary(stack, vertex_emulator, write_jsonl, submit):
    """Every create on the primary model in us-central1 answers 429; run failover-1 is submitted."""
    vertex_emulator.configure(api_faults=[{"method": "create", "code": 429, "count": 100, "model": PRIMARY,
                                           "location": stack["VERTEX_AI_LOCATION"]}])
    uri = write_jsonl("sources/failover.jsonl", transcript_records(2))
    status, answer = submit({"run_id": "failover-1", "batch_type": BATCH_TYPE, "source": {"uri": uri},
                             "model": PRIMARY})
    assert status == 200, answer
    return uri, answer


def test_repeated_429s_fail_over_to_the_fallback_model(stack, throttled_primary, vertex_emulator, vertex_jobs,
                                                      run_record):
    _, answer = throttled_primary
    assert answer["status"] == "submitted" and answer["failover"] is True
    [job] = answer["jobs"]
    assert (job["model"], job["location"], job["failover"]) == (FALLBACK, stack["VERTEX_AI_LOCATION"], True)
    # The primary got exactly the circuit threshold (3) of tries before the fallback served.
    assert _create_faults_left(vertex_emulator) == 97
    [on_vertex] = vertex_jobs("failover-1")
    assert on_vertex["name"] == job["name"] and on_vertex["model"] == FALLBACK
    [recorded] = run_record("failover-1")["jobs"]
    assert (recorded["model"], recorded["location"], recorded["failover"]) == (FALLBACK, "us-central1", True)


def test_open_circuit_sends_the_next_run_straight_to_the_fallback(throttled_primary, submit, vertex_emulator,
                                                                 firestore_client):
    uri, _ = throttled_primary
    status, answer = submit({"run_id": "failover-2", "batch_type": BATCH_TYPE, "source": {"uri": uri},
                             "model": PRIMARY})
    assert status == 200, answer
    assert answer["jobs"][0]["model"] == FALLBACK
    assert _create_faults_left(vertex_emulator) == 97  # the primary was not called again
    circuit = firestore_client.collection("vertex_circuits").document(f"{PRIMARY}__us-central1").get().to_dict()
    assert circuit["open_until"] > circuit["opened_at"]


def test_a_429_burst_shorter_than_the_threshold_is_retried_on_the_primary(stack, vertex_emulator, write_jsonl,
                                                                         submit):
    vertex_emulator.configure(api_faults=[{"method": "create", "code": 429, "count": 2, "model": PRIMARY}])
    uri = write_jsonl("sources/burst.jsonl", transcript_records(2))
    status, answer = submit({"run_id": "burst-1", "batch_type": BATCH_TYPE, "source": {"uri": uri},
                             "model": PRIMARY})
    assert status == 200, answer
    [job] = answer["jobs"]
    assert (job["model"], job["failover"], answer["failover"]) == (PRIMARY, False, False)
    assert _create_faults_left(vertex_emulator) == 0
