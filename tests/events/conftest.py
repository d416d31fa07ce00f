"""Fixtures of the run-event tests: an SSE reader (httpx-sse, a PyPI client: no hand parsing), a
Pub/Sub subscription of its own on the emulator, workflow runs."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from infra.local.layout import REPO_ROOT
from infra.local.workflows import load_workflow, run_workflow

PASS1 = REPO_ROOT / "infra" / "workflows" / "pass1.yaml"


@pytest.fixture
def seed_rows(stack, layout):
    """seed_rows(n): n sample transcripts in the stack's tables."""
    from tools.sample_data import cli as sample_data_cli

    def seed(n: int, seed: int = 5):
        args = sample_data_cli.parse_args(["--rows", str(n), "--seed", str(seed), "--bq-dataset", layout.dataset,
                                           "--replace"])
        return sample_data_cli.run(args)

    return seed


def workflow_args(layout, run_id: str, **extra) -> dict:
    return {"run_id": run_id, "source": {"table": layout.transcripts_table}, "poll_initial_seconds": 0.2,
            "poll_max_seconds": 1, "deadline_seconds": 300, "max_retry_attempts": 0, "process_concurrency": 2,
            **extra}


@pytest.fixture
def start_workflow(stack, layout):
    """start_workflow(run_id) runs pass1.yaml in a thread; returns a function that joins it and
    gives the workflow's result."""
    threads = []

    def start(run_id: str, **extra):
        box: dict = {}

        def body():
            try:
                box["result"] = run_workflow(load_workflow(PASS1), workflow_args(layout, run_id, **extra),
                                             env=dict(stack))
            except BaseException as exc:  # surfaced by join()
                box["error"] = exc

        thread = threading.Thread(target=body, daemon=True)
        thread.start()
        threads.append(thread)

        def join(timeout: float = 300):
            thread.join(timeout)
            if "error" in box:
                raise box["error"]
            return box["result"]

        return join

    yield start
    for thread in threads:
        thread.join(300)


@pytest.fixture
def sse(stack):
    """sse(run_id, after=None, max_seconds=..., stop_after=None) -> [(id, event, data dict)] read
    with httpx-sse until the server closes (or after stop_after messages)."""
    import httpx
    import orjson
    from httpx_sse import connect_sse

    def read(run_id: str, *, after: int | None = None, max_seconds: float = 30, stop_after: int | None = None,
             **params):
        headers = {"Last-Event-ID": str(after)} if after is not None else {}
        query = {"run_id": run_id, "batch_type": "pass1", "follow": "true", "max_seconds": max_seconds, **params}
        seen = []
        with httpx.Client(timeout=httpx.Timeout(60, read=30)) as client:
            with connect_sse(client, "GET", stack["POLL_STATUS_URL"], params=query, headers=headers) as source:
                assert source.response.status_code == 200
                assert source.response.headers["content-type"].startswith("text/event-stream")
                for message in source.iter_sse():
                    if not message.data:  # a comment (keep-alive): httpx-sse yields it as an empty event
                        continue
                    seen.append((message.id, message.event, orjson.loads(message.data)))
                    if stop_after is not None and len(seen) >= stop_after:
                        break
        return seen

    return read


@pytest.fixture
def wait_for_run(stack, http):
    """wait_for_run(run_id): until poll_status knows the run (its events API answers 200)."""

    def wait(run_id: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, answer = http.get(stack["POLL_STATUS_URL"], {"run_id": run_id, "events": "true"})
            if status == 200:
                return answer
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} never appeared")

    return wait


@pytest.fixture
def subscription(stack):
    """A fresh subscription to RUN_EVENTS_TOPIC; pull(run_id) -> [(attributes, data)] of that run,
    read until the emulator has nothing more for a moment."""
    import orjson
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    project = stack["GOOGLE_CLOUD_PROJECT"]
    name = subscriber.subscription_path(project, f"test-{uuid.uuid4().hex[:8]}")
    subscriber.create_subscription(name=name, topic=f"projects/{project}/topics/{stack['RUN_EVENTS_TOPIC']}")
    received: list = []

    class Sub:
        def pull(self, run_id: str, quiet_seconds: float = 1.5) -> list[tuple[dict, dict]]:
            idle_since = time.monotonic()
            while time.monotonic() - idle_since < quiet_seconds:
                answer = subscriber.pull(subscription=name, max_messages=100, timeout=1)  # an empty pull waits that long
                if answer.received_messages:
                    subscriber.acknowledge(subscription=name, ack_ids=[m.ack_id for m in answer.received_messages])
                    received.extend((dict(m.message.attributes), orjson.loads(m.message.data))
                                    for m in answer.received_messages)
                    idle_since = time.monotonic()
                else:
                    time.sleep(0.2)
            return [(a, d) for a, d in received if a.get("run_id") == run_id]

    yield Sub()
    subscriber.delete_subscription(subscription=name)
    subscriber.close()
