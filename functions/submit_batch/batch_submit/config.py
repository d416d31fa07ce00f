"""submit_batch settings from the environment, read once per process.

Limits can only be lowered from their defaults (Vertex's own limits); a request may lower them again
for itself (max_requests_per_job, max_bytes_per_job, max_transcript_chars).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

from shared.config import env_float, env_int
from shared.envfield import env_field

# Vertex AI batch prediction limits for Gemini: 200,000 requests per job, 1 GB per input file.
VERTEX_MAX_REQUESTS_PER_JOB = 200_000
VERTEX_MAX_BYTES_PER_JOB = 1_000_000_000
# An hour-long call is about 60,000 characters; longer text is more likely a concatenation error than
# a call, and would cost as much as dozens of ordinary ones.
DEFAULT_MAX_TRANSCRIPT_CHARS = 100_000
# retry_failed stops after this many attempts of a run in total (the first submission is attempt 1).
DEFAULT_MAX_ATTEMPTS = 3
# Consecutive transient failures of one (model, location) before its circuit opens, and how long it
# stays open before one call may try it again (the failover design: three failures, then the fallback).
DEFAULT_CIRCUIT_THRESHOLD = 3
DEFAULT_CIRCUIT_OPEN_SECONDS = 300.0
# A submitter's claim on a run; longer than the function's 540 s timeout, so a live submitter is
# never taken over, and a crashed one is after this long.
DEFAULT_SUBMIT_LEASE_SECONDS = 600.0
# A run of a table source may hold at most this many records (the plan's count, before skips); more
# is refused with 400 source_too_large before anything is written. 20M: twice the largest run sized.
DEFAULT_MAX_REQUESTS_PER_RUN = 20_000_000
# A run has at most this many shards (jobs): the run document keeps one entry per shard and job, and
# the workflow fans out over them. 10M transcripts make about 52.
MAX_SHARDS_PER_RUN = 250
# One submit call stops starting shards when the next would end past this budget (then answers
# "partial"); below the function's 540 s timeout, with room for the slowest shard's spread.
DEFAULT_SUBMIT_TIME_BUDGET_SECONDS = 420.0
# How long a concurrent duplicate submit waits for the submitter that holds the run before 409.
DEFAULT_SUBMIT_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class SubmitConfig:
    """Each field's variable and meaning are on the field (env_field: the README's table is rendered
    from them); PROMPT_VERSION_<BATCH_TYPE> is read per batch type (prompt_version)."""

    model: str = env_field("gemini-2.5-flash", "VERTEX_MODEL", "primary model")
    # Failover target. Set it equal to the primary to disable failover.
    fallback_model: str = env_field("gemini-2.5-flash-lite", "VERTEX_FALLBACK_MODEL",
                                    "used when the primary's circuit opens; equal to the primary disables failover")
    fallback_location: str | None = env_field(None, "VERTEX_FALLBACK_LOCATION", "region of the fallback",
                                              shown="the primary location")
    max_requests_per_job: int = env_field(VERTEX_MAX_REQUESTS_PER_JOB, "MAX_REQUESTS_PER_JOB",
                                          "requests per job; Vertex's limit, can only be lowered")
    max_bytes_per_job: int = env_field(VERTEX_MAX_BYTES_PER_JOB, "MAX_BYTES_PER_JOB",
                                       "bytes per job input file; Vertex's limit, can only be lowered")
    max_transcript_chars: int = env_field(DEFAULT_MAX_TRANSCRIPT_CHARS, "MAX_TRANSCRIPT_CHARS",
                                          "longer transcripts are skipped")
    max_attempts: int = env_field(DEFAULT_MAX_ATTEMPTS, "MAX_ATTEMPTS",
                                  "attempts of a run in total, first submission included")
    circuit_threshold: int = env_field(DEFAULT_CIRCUIT_THRESHOLD, "CIRCUIT_FAILURE_THRESHOLD",
                                       "consecutive transient failures that open a (model, location) circuit")
    circuit_open_seconds: float = env_field(DEFAULT_CIRCUIT_OPEN_SECONDS, "CIRCUIT_OPEN_SECONDS",
                                            "how long an open circuit stays open before one call tries again")
    circuits_collection: str = env_field("vertex_circuits", "CIRCUITS_COLLECTION",
                                         "Firestore collection of circuit state")
    lease_seconds: float = env_field(DEFAULT_SUBMIT_LEASE_SECONDS, "SUBMIT_LEASE_SECONDS",
                                     "a submitter's claim on a run (a crashed one is taken over after it)")
    wait_seconds: float = env_field(DEFAULT_SUBMIT_WAIT_SECONDS, "SUBMIT_WAIT_SECONDS", "default `wait_seconds`")
    max_requests_per_run: int = env_field(DEFAULT_MAX_REQUESTS_PER_RUN, "MAX_REQUESTS_PER_RUN",
                                          "default `max_requests_per_run` (table sources)")
    time_budget_seconds: float = env_field(
        DEFAULT_SUBMIT_TIME_BUDGET_SECONDS, "SUBMIT_TIME_BUDGET_SECONDS",
        "a call starts its first shard within half of it and a later one only while the longest shard so far "
        "still fits, then answers `partial`; keep it below the 540 s timeout")
    # Variables read outside the fields, for the README's table: (variable, default, meaning).
    ENV_EXTRA: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("PROMPT_VERSION_<BATCH_TYPE>", "v1", "e.g. `PROMPT_VERSION_PASS1`"),)

    @classmethod
    def from_env(cls) -> "SubmitConfig":
        return cls(
            model=os.environ.get("VERTEX_MODEL") or cls.model,
            fallback_model=os.environ.get("VERTEX_FALLBACK_MODEL") or cls.fallback_model,
            fallback_location=os.environ.get("VERTEX_FALLBACK_LOCATION") or None,
            max_requests_per_job=min(env_int("MAX_REQUESTS_PER_JOB", VERTEX_MAX_REQUESTS_PER_JOB),
                                     VERTEX_MAX_REQUESTS_PER_JOB),
            max_bytes_per_job=min(env_int("MAX_BYTES_PER_JOB", VERTEX_MAX_BYTES_PER_JOB), VERTEX_MAX_BYTES_PER_JOB),
            max_transcript_chars=env_int("MAX_TRANSCRIPT_CHARS", DEFAULT_MAX_TRANSCRIPT_CHARS),
            max_attempts=env_int("MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS),
            circuit_threshold=max(1, env_int("CIRCUIT_FAILURE_THRESHOLD", DEFAULT_CIRCUIT_THRESHOLD)),
            circuit_open_seconds=env_float("CIRCUIT_OPEN_SECONDS", DEFAULT_CIRCUIT_OPEN_SECONDS),
            circuits_collection=os.environ.get("CIRCUITS_COLLECTION") or cls.circuits_collection,
            lease_seconds=env_float("SUBMIT_LEASE_SECONDS", DEFAULT_SUBMIT_LEASE_SECONDS),
            wait_seconds=env_float("SUBMIT_WAIT_SECONDS", DEFAULT_SUBMIT_WAIT_SECONDS),
            max_requests_per_run=env_int("MAX_REQUESTS_PER_RUN", DEFAULT_MAX_REQUESTS_PER_RUN),
            time_budget_seconds=env_float("SUBMIT_TIME_BUDGET_SECONDS", DEFAULT_SUBMIT_TIME_BUDGET_SECONDS),
        )

    def prompt_version(self, batch_type: str) -> str:
        return os.environ.get(f"PROMPT_VERSION_{batch_type.upper()}") or "v1"
