"""The retry vocabulary (shared/retry.py): module-level policies, copies with another budget, one
mapping of retries running out to 503. Pure: no stack (the transaction wrapper runs against the
emulator in test_jobstate.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.api_core import exceptions as gexc

from shared import retry
from shared.errors import SERVICE_NAMES, UpstreamUnavailable, retries_exhausted, to_pipeline_error


def test_the_default_policy_is_one_value_and_a_deadline_is_a_copy_of_it():
    assert retry.api_retry() is retry.DEFAULT_RETRY
    short = retry.api_retry(3.0)
    assert short is not retry.DEFAULT_RETRY and short.timeout == 3.0
    assert short._predicate is retry.DEFAULT_RETRY._predicate  # same errors retried, same delays
    assert (short._initial, short._maximum) == (retry.DEFAULT_RETRY._initial, retry.DEFAULT_RETRY._maximum)
    assert retry.DEFAULT_RETRY.timeout != 3.0  # the module-level policy is not changed by a copy


def test_the_environment_shrinks_the_policy_once_at_import():
    """How the tests and the reliability suite start functions: RETRY_* in their environment."""
    code = "from shared.retry import DEFAULT_RETRY as r; print(r.timeout, r._initial, r._maximum)"
    env = {"RETRY_DEADLINE_SECONDS": "2", "RETRY_INITIAL_DELAY_SECONDS": "0.01", "RETRY_MAXIMUM_DELAY_SECONDS": "0.1",
           "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=Path(retry.__file__).resolve().parents[1]).stdout.split()
    assert [float(v) for v in out] == [2.0, 0.01, 0.1]


def test_transient_errors_are_retried_and_others_are_not():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise gexc.ServiceUnavailable("down")
        return "ok"

    assert retry.call_with_retry(flaky, deadline=5.0) == "ok" and len(calls) == 3
    with pytest.raises(gexc.NotFound):
        retry.call_with_retry(lambda: (_ for _ in ()).throw(gexc.NotFound("gone")))


def test_retries_running_out_are_a_503_naming_the_last_error():
    def down():
        raise gexc.TooManyRequests("slow down")

    with pytest.raises(UpstreamUnavailable) as caught:
        retry.call_with_retry(down, deadline=0.2)
    assert caught.value.http_status == 503 and caught.value.details == {"type": "TooManyRequests"}
    assert caught.value.message == "still failing after retries: TooManyRequests"


@pytest.mark.parametrize("cause, service, message, details", [
    (gexc.ServiceUnavailable("x"), None, "still failing after retries: ServiceUnavailable",
     {"type": "ServiceUnavailable"}),
    (gexc.ServiceUnavailable("x"), "vertex", f"{SERVICE_NAMES['vertex']} still failing after retries: ServiceUnavailable",
     {"type": "ServiceUnavailable", "service": "vertex"}),
    (None, None, "still failing after retries: timeout", {"type": None}),
])
def test_one_mapping_from_retry_error_to_503(cause, service, message, details):
    err = retries_exhausted(gexc.RetryError("deadline", cause=cause), service)
    assert (err.message, err.details, err.http_status) == (message, details, 503)
    if service is None:  # what an unhandled RetryError answers is the same mapping
        assert to_pipeline_error(gexc.RetryError("deadline", cause=cause)).details == details


def test_run_with_takes_any_policy_and_names_the_service():
    policy = retry.DEFAULT_RETRY.with_timeout(0.2).with_predicate(lambda exc: isinstance(exc, KeyError))
    with pytest.raises(UpstreamUnavailable) as caught:
        retry.run_with(policy, lambda: {}["missing"], service="vertex")
    assert caught.value.details == {"type": "KeyError", "service": "vertex"}


def test_one_process_transactions_on_one_document_do_not_contend(firestore_client):
    """Threads of one instance changing the same document (a run record from the call thread and
    the snapshot's thread) run one at a time (shared.retry.document_lock) and all land."""
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    from shared.retry import transact

    ref = firestore_client.collection("retry-test").document(uuid.uuid4().hex)
    ref.set({"n": 0})

    def increment(_):
        def txn(transaction):
            n = ref.get(transaction=transaction).to_dict()["n"]
            transaction.update(ref, {"n": n + 1})

        transact(firestore_client, txn, document=ref.path)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(increment, range(30)))
    assert ref.get().to_dict() == {"n": 30}


def test_a_document_has_one_lock_whatever_asks():
    from shared.retry import document_lock

    assert document_lock("runs/a") is document_lock("runs/a")
