"""Settings read from the environment, once, in one place.

Production and the local stack run the same code; only these variables differ (the local stack
writes them to .local/stack.env, the deploy passes them as --set-env-vars, both from
Settings.to_env). Each function builds its own request config on top of Settings (see the
function's config module), validated at the door. The defaults here are the only ones: the stack
(infra/local/layout.py) and the deploy (infra/deploy.py) take theirs from this module.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, fields
from typing import ClassVar, Mapping

from shared.envfield import ENV, env_field
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
    """Deployment-wide settings. Each field is read from the environment variable its env_field
    names (ENV_NAMES; the table in docs/configuration.md is rendered from them); the defaults below
    are the deployment's."""

    project: str = env_field(MISSING, "GOOGLE_CLOUD_PROJECT", "project of every client and table (or `GCP_PROJECT`)",
                             shown="required")
    location: str = env_field("us-central1", "VERTEX_AI_LOCATION", "Vertex AI region of the jobs")
    input_bucket: str = env_field("", "INPUT_BUCKET", "requests are written here", shown="empty")
    output_bucket: str = env_field("", "OUTPUT_BUCKET", "`gs://$OUTPUT_BUCKET/runs` is the default output base",
                                   shown="empty")
    allowed_buckets: frozenset[str] = env_field(
        frozenset(), "ALLOWED_BUCKETS",
        "comma list; with the two buckets above, the only buckets a request may name (no list at all: any)",
        shown="empty")
    dataset: str = env_field("call_analytics", "BQ_DATASET", "default dataset")
    # The dataset's location. BigQuery needs it on jobs.get when the dataset is in a single region
    # (a job there is not found without it), so every client creates and fetches jobs with it.
    bq_location: str = env_field(
        "US", "BQ_LOCATION",
        "the dataset's location (`US`, `EU` or a region): every BigQuery job is created and fetched there; with a "
        "single region a job fetched without it is \"not found\". Deploy sets it from `--bq-location`; the local "
        "stack uses `europe-west4`")
    transcripts_table: str = env_field(
        "transcripts", "TRANSCRIPTS_TABLE",
        "read into settings but not used by the functions (a submit names its table); used by `tools.sample_data`")
    lookup_table: str = env_field("interaction_lookup", "LOOKUP_TABLE", "the processor's lookup table")
    output_table: str = env_field("pass1_analysis", "OUTPUT_TABLE", "the processor's output table")
    dead_letter_table: str = env_field("pass1_dead_letter", "DEAD_LETTER_TABLE", "the processor's dead-letter table")
    jobs_collection: str = env_field("batch_jobs", "JOBS_COLLECTION",
                                     "run records; ad hoc processor scopes in `<JOBS_COLLECTION>_processor_scopes`")
    vertex_endpoint: str | None = env_field(None, "VERTEX_AI_ENDPOINT",
                                            "emulator URL locally (called without credentials)",
                                            shown="unset: `https://{location}-aiplatform.googleapis.com`")
    # Variables read outside the fields, by shared/clients.py, shared/http.py and shared/retry.py, for
    # the configuration table: (variable, default, meaning).
    ENV_EXTRA: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("FIRESTORE_DATABASE", "(default)", "Firestore database id"),
        ("MAX_REQUEST_BYTES", "1048576", "largest request body"),
        ("RETRY_INITIAL_DELAY_SECONDS", "1", "retries of one API call: first wait"),
        ("RETRY_MAXIMUM_DELAY_SECONDS", "32", "retries of one API call: the cap of the doubling wait"),
        ("RETRY_DEADLINE_SECONDS", "120", "retries of one API call: total time; read once at start into "
         "`shared/retry.py`'s `DEFAULT_RETRY`, which callers copy with `.with_timeout()`"),
        ("STORAGE_EMULATOR_HOST", "unset", "the Storage emulator locally; never set in the cloud"),
        ("FIRESTORE_EMULATOR_HOST", "unset", "the Firestore emulator locally; never set in the cloud"),
        ("BIGQUERY_EMULATOR_HOST", "unset", "the BigQuery emulator locally; never set in the cloud"),
    )

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


# Field -> environment variable, for the fields that are plain strings (from their env_field).
# GOOGLE_CLOUD_PROJECT (or GCP_PROJECT) and ALLOWED_BUCKETS (comma-separated) are read apart.
ENV_NAMES = {f.name: f.metadata[ENV] for f in fields(Settings) if f.name not in ("project", "allowed_buckets")}


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
