"""submit_batch settings from the environment, read once per process.

Limits can only be lowered from their defaults (Vertex's own limits); a request may lower them again
for itself (max_requests_per_job, max_bytes_per_job, max_transcript_chars).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from shared.config import env_float, env_int

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
    """Environment variables: VERTEX_MODEL, VERTEX_FALLBACK_MODEL, VERTEX_FALLBACK_LOCATION,
    MAX_REQUESTS_PER_JOB, MAX_BYTES_PER_JOB, MAX_TRANSCRIPT_CHARS, MAX_ATTEMPTS,
    CIRCUIT_FAILURE_THRESHOLD, CIRCUIT_OPEN_SECONDS, CIRCUITS_COLLECTION, SUBMIT_LEASE_SECONDS,
    SUBMIT_WAIT_SECONDS, MAX_REQUESTS_PER_RUN, SUBMIT_TIME_BUDGET_SECONDS, PROMPT_VERSION_<BATCH_TYPE>."""

    model: str = "gemini-2.5-flash"
    # Failover target. Set it equal to the primary to disable failover.
    fallback_model: str = "gemini-2.5-flash-lite"
    fallback_location: str | None = None  # None: the primary location
    max_requests_per_job: int = VERTEX_MAX_REQUESTS_PER_JOB
    max_bytes_per_job: int = VERTEX_MAX_BYTES_PER_JOB
    max_transcript_chars: int = DEFAULT_MAX_TRANSCRIPT_CHARS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    circuit_threshold: int = DEFAULT_CIRCUIT_THRESHOLD
    circuit_open_seconds: float = DEFAULT_CIRCUIT_OPEN_SECONDS
    circuits_collection: str = "vertex_circuits"
    lease_seconds: float = DEFAULT_SUBMIT_LEASE_SECONDS
    wait_seconds: float = DEFAULT_SUBMIT_WAIT_SECONDS
    max_requests_per_run: int = DEFAULT_MAX_REQUESTS_PER_RUN
    time_budget_seconds: float = DEFAULT_SUBMIT_TIME_BUDGET_SECONDS

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
