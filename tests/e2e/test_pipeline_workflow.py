"""The whole pipeline as our users run it: infra/workflows/pass1.yaml, executed by the local Workflows
executor against the three functions served on the local stack (submit_batch -> Vertex AI emulator ->
poll_status -> pass1_batch_processor -> BigQuery), with the model's faults switched on.

What is checked is what a data engineer would check after a run: every seeded transcript either landed
once in the output table or is in the dead-letter table with its reason, the run record is COMPLETED, and
the workflow's summary agrees with the tables.
"""

from __future__ import annotations

import pytest

from infra.local.layout import REPO_ROOT
from infra.local.workflows import load_workflow, run_workflow

PASS1 = REPO_ROOT / "infra" / "workflows" / "pass1.yaml"
SEED = 11


@pytest.fixture
def seeded(stack, layout):
    """150 sample transcripts (a few without lookup rows) in the stack's BigQuery tables."""
    from tools.sample_data import cli as sample_data_cli

    args = sample_data_cli.parse_args(["--rows", "150", "--seed", str(SEED), "--bq-dataset", layout.dataset,
                                       "--replace"])
    summary = sample_data_cli.run(args)
    assert summary.rows == 150
    return summary


@pytest.fixture
def model_faults(vertex_emulator):
    """A model that fails about one row in eight and answers badly formatted JSON now and then."""
    vertex_emulator.configure(pace_seconds=0, seed=SEED, row_error=0.12, fenced=0.1, prose=0.05,
                              trailing_comma=0.05, split_parts=0.1)


@pytest.fixture
def clean_model(vertex_emulator):
    vertex_emulator.configure(pace_seconds=0, seed=SEED)


def execute(stack, layout, run_id: str, **extra) -> tuple[dict, list[dict]]:
    """Run pass1.yaml for `run_id`; returns (the workflow's result, its log events)."""
    events: list[dict] = []
    args = {"run_id": run_id, "source": {"table": layout.transcripts_table},
            "poll_initial_seconds": 0.2, "poll_max_seconds": 1, "deadline_seconds": 300,
            "max_retry_attempts": 1, "process_concurrency": 2, **extra}
    result = run_workflow(load_workflow(PASS1), args, env=dict(stack),
                          on_event=lambda e: events.append(e) if e["type"] == "log" else None)
    return result, [e["json"] for e in events if isinstance(e.get("json"), dict)]


def ids(rows: list[dict]) -> list[str]:
    """Interaction ids of output or dead-letter rows (the latter hold only the composite key)."""
    from shared.keys import decode_key

    return [r.get("interaction_id") or decode_key(r["composite_key"]).interaction_id for r in rows]


def run_record(firestore_client, layout, run_id: str) -> dict:
    from shared.jobstate import document_id

    return firestore_client.collection(layout.jobs_collection).document(document_id(run_id, "pass1")).get().to_dict()


def test_a_run_with_model_failures_lands_every_row_once_after_a_retry_batch(
        stack, layout, seeded, model_faults, rows, firestore_client, bigquery_client):
    result, logs = execute(stack, layout, "e2e-retry")

    landed = rows(layout.output_table)
    dead = rows(layout.dead_letter_table)
    assert result["status"] == "succeeded"
    assert result["attempts"] == 2
    assert len(landed) == result["rows_landed"] and len(dead) == result["dead_lettered"]
    # Exactly once: one output row per composite key and per interaction.
    assert len({r["composite_key"] for r in landed}) == len(landed)
    assert sorted(set(ids(landed))) == sorted(ids(landed))
    # The first attempt's failed rows were resubmitted, and the retry batch landed them.
    first_failures = [d for d in dead if d["reason"] == "model_error"]
    assert result["retried_requests"] > 0
    assert result["retried_requests"] <= len(first_failures)
    retried_landed = set(ids(landed)) & set(ids(first_failures))
    assert retried_landed, "no row of the retry batch landed"
    # Nothing lost: every seeded transcript landed or is dead-lettered with a reason.
    seeded_ids = {r["interaction_id"] for r in rows(layout.transcripts_table)}
    assert seeded_ids == set(ids(landed)) | set(ids(dead))
    assert all(d["reason"] for d in dead)
    assert result["processed"] == result["rows_landed"] + result["dead_lettered"] + result["duplicates"]
    assert result["processed"] == 150 + result["retried_requests"]
    assert result["repaired"] == sum(1 for r in landed if r["repaired"]) > 0
    assert result["unmatched"] == sum(1 for r in landed if r["lookup_status"] == "unmatched")
    record = run_record(firestore_client, layout, "e2e-retry")
    assert (record["state"], record["attempt"]) == ("COMPLETED", 2)
    assert [e["event"] for e in logs if e["event"] in ("submitted", "retry_batch_refused")] == \
        ["submitted", "submitted"]


def test_a_run_whose_processing_spans_several_partial_calls_lands_exactly_once(
        stack, layout, seeded, clean_model, rows, firestore_client):
    # A zero time budget makes the processor stop after every chunk of 20 lines: 150 lines need
    # several calls, each resuming from the checkpoint the one before left.
    result, logs = execute(stack, layout, "e2e-partial",
                           process_options={"time_budget_seconds": 0, "chunk_size": 20})

    answers = [e for e in logs if e["event"] == "process_answer"]
    assert [a["status"] for a in answers].count("partial") >= 6
    assert answers[-1]["status"] == "success"
    landed = rows(layout.output_table)
    assert result["status"] == "succeeded" and result["attempts"] == 1
    assert (result["rows_landed"], result["processed"], result["dead_lettered"]) == (150, 150, 0)
    assert sorted(ids(landed)) == sorted({r["interaction_id"] for r in rows(layout.transcripts_table)})
    assert len({r["composite_key"] for r in landed}) == 150
    assert run_record(firestore_client, layout, "e2e-partial")["state"] == "COMPLETED"


def test_a_second_execution_of_a_completed_run_writes_nothing_new(
        stack, layout, seeded, clean_model, rows, job_client):
    first, _ = execute(stack, layout, "e2e-again")
    second, logs = execute(stack, layout, "e2e-again")

    assert first["rows_landed"] == 150
    assert [e["status"] for e in logs if e["event"] == "submitted"] == ["skipped"]
    assert second["status"] == "succeeded"
    assert len(rows(layout.output_table)) == 150
    jobs = list(job_client.list_batch_prediction_jobs(parent=f"projects/{layout.project}/locations/{layout.location}"))
    assert len(jobs) == 1
