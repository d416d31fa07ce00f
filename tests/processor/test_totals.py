"""The run totals' one vocabulary (shared/totals.py): every counter the processor keeps has its name
in the answers, and a run record has totals only once it completed."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from pass1_processor.counts import Counts
from shared.totals import COUNT_NAMES, TOKEN_NAMES, answer_counts, run_totals


def test_every_counter_has_an_answer_name():
    assert {key for key, _ in COUNT_NAMES + TOKEN_NAMES} == {f.name for f in dataclasses.fields(Counts)}


def test_answer_counts_in_the_answers_names():
    counts = Counts(processed=8, inserted=7, duplicates=1, unmatched=2, retry_requests=1, prompt_tokens=80,
                    candidates_tokens=20, total_tokens=100)
    assert answer_counts(counts.to_dict()) == {
        "processed_records": 8, "inserted_rows": 7, "repaired_records": 0, "failed_records": 0,
        "unmatched_records": 2, "duplicate_records": 1, "pending_records": 0, "unconverted_values": 0,
        "retry_requests": 1, "token_usage": {"prompt": 80, "candidates": 20, "total": 100}}


@pytest.mark.parametrize("record, expected", [
    (None, None),
    ({"state": "PROCESSING"}, None),
    ({"processing": {"processed": 3}}, None),  # never completed: no totals yet
    ({"processing": {"processed": 8, "inserted": 7, "duplicates": 1, "reconciled_extras": 1,
                     "completed_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}},
     {"processed_records": 8, "inserted_rows": 7, "duplicate_records": 1, "reconciled_extras": 1}),
])
def test_run_totals_once_the_run_completed(record, expected):
    totals = run_totals(record)
    if expected is None:
        assert totals is None
    else:
        assert {k: totals[k] for k in expected} == expected and totals["failed_records"] == 0
