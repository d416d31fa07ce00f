"""The run's totals, in one vocabulary.

The processor stores them on the run record when the run completes (`processing`, in the counter
names of pass1_processor/counts.py), reconciled: a key two racing calls both wrote counts once, as a
duplicate (pass1_processor/reconcile.py). That record is the one source of a run's totals: the
processor's answer and poll_status's answer carry it as `run_totals`, in the names of the
processor's answer, and the workflow's summary reads it from there instead of adding up answers.
"""

from __future__ import annotations

from typing import Any, Mapping

# (counter on the run record, name in the answers)
COUNT_NAMES = (
    ("processed", "processed_records"),
    ("inserted", "inserted_rows"),
    ("repaired", "repaired_records"),
    ("failed", "failed_records"),
    ("unmatched", "unmatched_records"),
    ("duplicates", "duplicate_records"),
    ("pending", "pending_records"),
    ("unconverted", "unconverted_values"),
    ("retry_requests", "retry_requests"),
)
TOKEN_NAMES = (("prompt_tokens", "prompt"), ("candidates_tokens", "candidates"), ("total_tokens", "total"))


def answer_counts(counters: Mapping[str, Any]) -> dict:
    """Counters (a run record's `processing`, a Counts.to_dict()) in the answers' names; an absent
    counter is 0."""
    out: dict[str, Any] = {name: int(counters.get(key) or 0) for key, name in COUNT_NAMES}
    out["token_usage"] = {name: int(counters.get(key) or 0) for key, name in TOKEN_NAMES}
    return out


def run_totals(record: Mapping[str, Any] | None) -> dict | None:
    """The run record's totals as of its last completion, with `reconciled_extras` (the rows that
    repeated a key and were counted as duplicates instead); None before the run first completes."""
    processing = (record or {}).get("processing") or {}
    if not processing.get("completed_at"):
        return None
    return {**answer_counts(processing), "reconciled_extras": int(processing.get("reconciled_extras") or 0)}
