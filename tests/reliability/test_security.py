"""Security: identifiers never reach SQL unvalidated, only configured buckets are read, phone tokens and
transcripts never reach the logs, and the deployed functions are private with least-privilege roles.
(Request size limits and the refusals themselves are in test_bad_input.py.)"""

from __future__ import annotations

import base64
import re

import pytest

from tests.reliability.support import post

# Every role each service account may hold, anywhere (project, bucket, table): the deploy dry run
# must grant exactly these and nothing broader.
ALLOWED_ROLES = {
    # dataEditor only on the <dataset>_scratch dataset (its plan tables; tests/test_deploy.py checks where).
    "sa-submit-batch": {"roles/aiplatform.user", "roles/datastore.user", "roles/bigquery.jobUser",
                        "roles/storage.objectAdmin", "roles/storage.objectViewer", "roles/bigquery.dataViewer",
                        "roles/bigquery.dataEditor"},
    # objectViewer on the output bucket: poll_status lists each succeeded job's prediction files.
    "sa-poll-status": {"roles/aiplatform.user", "roles/datastore.user", "roles/storage.objectViewer",
                       "roles/pubsub.publisher"},
    "sa-pass1-processor": {"roles/datastore.user", "roles/bigquery.jobUser", "roles/storage.objectAdmin",
                           "roles/pubsub.publisher",  # run notifications, on the run-events topic only
                           # objectViewer on the input bucket: the key indexes of keyless output lines.
                           "roles/storage.objectViewer",
                           # dataEditor on the dataset: it creates its run-scoped staging tables.
                           "roles/bigquery.dataViewer", "roles/bigquery.dataEditor"},
    "sa-pass1-workflow": {"roles/logging.logWriter", "roles/run.invoker"},
    "sa-pass1-scheduler": {"roles/workflows.invoker", "roles/run.invoker"},
    # Builds the functions: build logs, the image in Artifact Registry, the uploaded source.
    "sa-function-build": {"roles/logging.logWriter", "roles/artifactregistry.writer", "roles/storage.objectViewer"},
}


def test_injection_attempts_leave_every_table_as_it_was(functions, bigquery_client, layout, report):
    before = sorted(t.table_id for t in bigquery_client.list_tables(f"{layout.project}.{layout.dataset}"))
    attempts = [
        (functions["PASS1_BATCH_PROCESSOR_URL"], {"output_info": f"gs://{layout.output_bucket}/x/y",
                                                  "output_table": f"{layout.output_table}`; DROP TABLE "
                                                                  f"`{layout.dataset}.{layout.lookup_table}"}),
        (functions["PASS1_BATCH_PROCESSOR_URL"], {"output_info": f"gs://{layout.output_bucket}/x/y",
                                                  "dataset": f"{layout.dataset}` WHERE 1=1; --"}),
        (functions["SUBMIT_BATCH_URL"], {"run_id": "r1", "source": {
            "table": f"{layout.dataset}.{layout.transcripts_table}; DROP TABLE {layout.dataset}.{layout.output_table}"}}),
    ]
    for url, body in attempts:
        report.bad_input_tried("sql_identifier")
        status, answer = post(url, body)
        assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR"), answer
        report.bad_input_handled("sql_identifier")
    after = sorted(t.table_id for t in bigquery_client.list_tables(f"{layout.project}.{layout.dataset}"))
    assert after == before and layout.lookup_table in after and layout.output_table in after


def test_run_document_naming_a_foreign_bucket_is_not_read(functions, firestore_client, layout, uid, report):
    """Even a run document (not the request) that names another bucket is refused: 409, nothing read."""
    from shared.jobstate import JobState, JobStore

    store = JobStore(firestore_client, collection=layout.jobs_collection)
    store.create_or_get(uid, "pass1")
    store.ref(uid, "pass1").update({"state": JobState.PENDING_PROCESSING,
                                    "output_dirs": ["gs://someone-elses-bucket/runs/x"]})
    report.bad_input_tried("foreign_bucket_in_run")
    status, answer = post(functions["PASS1_BATCH_PROCESSOR_URL"], {"run_id": uid, "batch_type": "pass1"})
    assert (status, answer["error"]["code"]) == (409, "CONFLICT"), answer
    assert answer["error"]["details"]["output_dir"] == "gs://someone-elses-bucket/runs/x"
    report.bad_input_handled("foreign_bucket_in_run")


@pytest.fixture(scope="module")
def deploy_plan():
    from infra.deploy import Config, plan

    return plan(Config(project="acme-calls-prod", region="europe-west4"))


def test_deployed_functions_are_private(deploy_plan, report):
    deploys = [s.cmd for s in deploy_plan if s.cmd[:3] == ["gcloud", "functions", "deploy"]]
    assert len(deploys) == 3
    for cmd in deploys:
        report.check_run("deploy_private")
        assert "--no-allow-unauthenticated" in cmd and "--allow-unauthenticated" not in cmd, cmd
        assert any(t.startswith("--service-account=") for t in cmd), cmd
        report.check_passed("deploy_private")
    text = "\n".join(" ".join(s.cmd) + " " + (s.raw or "") for s in deploy_plan)
    assert "allUsers" not in text and "allAuthenticatedUsers" not in text
    assert "FAULT_CRASH_DIR" not in text  # the crash points stay off in a deployment


def test_service_accounts_hold_only_the_roles_they_need(deploy_plan, report):
    granted: dict[str, set[str]] = {}
    for step in deploy_plan:
        member = next((t.split("=", 1)[1] for t in step.cmd if t.startswith("--member=")), None)
        match = re.search(r"serviceAccount:(sa-[a-z0-9-]+)@", member or "")
        if not match:
            continue
        role = next((t.split("=", 1)[1] for t in step.cmd if t.startswith("--role=")), "roles/run.invoker")
        granted.setdefault(match.group(1), set()).add(role)
    report.check_run("deploy_roles")
    assert set(granted) == set(ALLOWED_ROLES)
    for account, roles in granted.items():
        assert roles <= ALLOWED_ROLES[account], (account, roles - ALLOWED_ROLES[account])
    report.check_passed("deploy_roles")


# Written by the tests of this package (tests/reliability/support.py and the modules): phone tokens
# PHONE-r<10 hex>..., transcripts with these phrases, and their composite keys.
TOKEN = re.compile(rb"PHONE-r[0-9a-f]{10}")
TRANSCRIPT_PHRASES = (b"secret words", b"my bill r", b"I want a refund")
KEY_PREFIX = base64.urlsafe_b64encode(b'{"phone_token":"PHONE-r')[:28]  # whole 3-byte groups only


def pulled_messages(layout) -> list[bytes]:
    """Every message waiting on the stack's run-events subscription (data and attributes)."""
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    name = subscriber.subscription_path(layout.project, layout.run_events_subscription)
    out: list[bytes] = []
    try:
        while True:
            answer = subscriber.pull(subscription=name, max_messages=1000, timeout=2)  # an empty pull waits that long
            if not answer.received_messages:
                return out
            subscriber.acknowledge(subscription=name, ack_ids=[m.ack_id for m in answer.received_messages])
            out += [m.message.data + repr(dict(m.message.attributes)).encode() for m in answer.received_messages]
    finally:
        subscriber.close()


def test_logs_hold_no_phone_tokens_or_transcripts(layout, report, stack):
    """Runs last in the session (conftest): scans the log files of the three functions, which by
    then hold every call the suite made, crashes and errors included, with every run event the
    suite's runs recorded and every notification published to Pub/Sub."""
    logs = [layout.dir / "logs" / f"{name}.log" for name in ("submit_batch", "poll_status", "pass1_batch_processor")]
    data = b"".join(path.read_bytes() for path in logs if path.exists())
    assert b'"run_id":"r' in data  # the suite's calls were logged: the scan reads real entries
    # The run events every test left (conftest: _keep_run_events) and every Pub/Sub message the
    # session published (the stack's own subscription has them all).
    events = (layout.dir / "logs" / "run-events.jsonl").read_bytes()
    assert b'"sequence"' in events and b'"type":"run.state_changed"' in events
    messages = pulled_messages(layout)
    assert any(b'"event":"run.completed"' in m for m in messages)
    data += events + b"\n".join(messages)
    report.check_run("log_scan")
    leaks = [m.group(0) for m in TOKEN.finditer(data)][:5]
    leaks += [p for p in TRANSCRIPT_PHRASES if p in data]
    leaks += [KEY_PREFIX] if KEY_PREFIX in data else []
    assert leaks == [], leaks
    report.check_passed("log_scan")
