"""Settings read from the environment, once, in one place.

Production and the local stack run the same code; only these variables differ (the local stack
writes them to .local/stack.env). Each function builds its own request config on top of Settings
(see the function's config module), validated at the door.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from shared.errors import InternalError


@dataclass(frozen=True)
class Settings:
    """Deployment-wide settings. Every field has an environment variable of the same name in
    upper case (docs/configuration.md)."""

    project: str
    location: str = "us-central1"
    input_bucket: str = ""
    output_bucket: str = ""
    allowed_buckets: frozenset[str] = frozenset()
    dataset: str = "call_analytics"
    # The dataset's location. BigQuery needs it on jobs.get when the dataset is in a single region
    # (a job there is not found without it), so every client creates and fetches jobs with it.
    bq_location: str = "US"
    transcripts_table: str = "transcripts"
    lookup_table: str = "interaction_lookup"
    output_table: str = "pass1_analysis"
    dead_letter_table: str = "pass1_dead_letter"
    jobs_collection: str = "batch_jobs"
    vertex_endpoint: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        project = env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCP_PROJECT")
        if not project:
            raise InternalError("GOOGLE_CLOUD_PROJECT is not set", details={"field": "GOOGLE_CLOUD_PROJECT"})
        input_bucket = env.get("INPUT_BUCKET", "")
        output_bucket = env.get("OUTPUT_BUCKET", "")
        allowed = {b.strip() for b in env.get("ALLOWED_BUCKETS", "").split(",") if b.strip()}
        allowed |= {b for b in (input_bucket, output_bucket) if b}
        return cls(
            project=project,
            location=env.get("VERTEX_AI_LOCATION", cls.location),
            input_bucket=input_bucket,
            output_bucket=output_bucket,
            allowed_buckets=frozenset(allowed),
            dataset=env.get("BQ_DATASET", cls.dataset),
            bq_location=env.get("BQ_LOCATION") or cls.bq_location,
            transcripts_table=env.get("TRANSCRIPTS_TABLE", cls.transcripts_table),
            lookup_table=env.get("LOOKUP_TABLE", cls.lookup_table),
            output_table=env.get("OUTPUT_TABLE", cls.output_table),
            dead_letter_table=env.get("DEAD_LETTER_TABLE", cls.dead_letter_table),
            jobs_collection=env.get("JOBS_COLLECTION", cls.jobs_collection),
            vertex_endpoint=env.get("VERTEX_AI_ENDPOINT") or None,
        )


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise InternalError(f"{name} must be an integer", details={"field": name}) from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    try:
        return float(value) if value else default
    except ValueError:
        raise InternalError(f"{name} must be a number", details={"field": name}) from None
