"""Settings read from the environment, once, in one place.

Production and the local stack run the same code; only these variables differ (the local stack
writes them to .local/stack.env, the deploy passes them as --set-env-vars, both from
Settings.to_env). Each function builds its own request config on top of Settings (see the
function's config module), validated at the door. The defaults here are the only ones: the stack
(infra/local/layout.py) and the deploy (infra/deploy.py) take theirs from this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from shared.errors import InternalError

# The run-events Pub/Sub topic the deploy and the local stack create; the functions publish to
# RUN_EVENTS_TOPIC (shared/notify.py), which they are given with this name.
RUN_EVENTS_TOPIC = "run-events"


def input_bucket_for(project: str) -> str:
    """The input bucket the deploy and the stack create: bucket names are global, the project id
    makes them unique."""
    return f"{project}-batch-input"


def output_bucket_for(project: str) -> str:
    """The output bucket the deploy and the stack create (see input_bucket_for)."""
    return f"{project}-batch-output"


@dataclass(frozen=True)
class Settings:
    """Deployment-wide settings. Each field is read from its environment variable (ENV_NAMES;
    docs/configuration.md); the defaults below are the deployment's."""

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
        # An unset or empty variable leaves the field's default.
        fields = {field: env.get(name) or getattr(cls, field) for field, name in ENV_NAMES.items()}
        allowed = {b.strip() for b in env.get("ALLOWED_BUCKETS", "").split(",") if b.strip()}
        return cls.of(project, allowed_buckets=frozenset(allowed), **fields)

    @classmethod
    def of(cls, project: str, **fields) -> "Settings":
        """Settings with the input and output buckets always among the allowed ones."""
        allowed = set(fields.pop("allowed_buckets", ()))
        allowed |= {b for b in (fields.get("input_bucket"), fields.get("output_bucket")) if b}
        return cls(project=project, allowed_buckets=frozenset(allowed), **fields)

    @classmethod
    def for_project(cls, project: str, **fields) -> "Settings":
        """A deployment's settings: its buckets named after the project, every other field its
        default unless given (what the deploy and the local stack set up)."""
        fields.setdefault("input_bucket", input_bucket_for(project))
        fields.setdefault("output_bucket", output_bucket_for(project))
        return cls.of(project, **fields)

    def to_env(self) -> dict[str, str]:
        """The environment from_env reads these settings back from (unset fields left out).
        ALLOWED_BUCKETS only when it names more than the input and output buckets (always allowed):
        its commas would otherwise split a deploy's --set-env-vars list for nothing."""
        env = {"GOOGLE_CLOUD_PROJECT": self.project}
        env.update({name: getattr(self, field) for field, name in ENV_NAMES.items() if getattr(self, field)})
        if self.allowed_buckets - {self.input_bucket, self.output_bucket}:
            env["ALLOWED_BUCKETS"] = ",".join(sorted(self.allowed_buckets))
        return env


# Field -> environment variable, for the fields that are plain strings (docs/configuration.md).
# GOOGLE_CLOUD_PROJECT (or GCP_PROJECT) and ALLOWED_BUCKETS (comma-separated) are read apart.
ENV_NAMES = {
    "location": "VERTEX_AI_LOCATION",
    "input_bucket": "INPUT_BUCKET",
    "output_bucket": "OUTPUT_BUCKET",
    "dataset": "BQ_DATASET",
    "bq_location": "BQ_LOCATION",
    "transcripts_table": "TRANSCRIPTS_TABLE",
    "lookup_table": "LOOKUP_TABLE",
    "output_table": "OUTPUT_TABLE",
    "dead_letter_table": "DEAD_LETTER_TABLE",
    "jobs_collection": "JOBS_COLLECTION",
    "vertex_endpoint": "VERTEX_AI_ENDPOINT",
}


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
