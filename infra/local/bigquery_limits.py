"""BigQuery's load-job limit that the processor's batches rely on, as the local stack enforces it
(infra/local/bigquery_front.py): a load job's configuration names at most 10,000 source URIs
(BigQuery's quotas: "Maximum number of source URIs in job configuration"; a larger job is refused
with 400 invalid). local-bigquery accepts any number. filemerge.MAX_BATCH_FILES stays below it.
Pure functions of the job resource: no I/O, no third-party imports (the front runs in the
emulator's venv)."""

from __future__ import annotations

import json

from infra.local.bigquery_locations import Refusal

MAX_SOURCE_URIS = 10_000


def invalid(message: str) -> Refusal:
    """BigQuery's error body for a 400 invalid."""
    error = {"code": 400, "message": message, "status": "INVALID_ARGUMENT",
             "errors": [{"message": message, "domain": "global", "reason": "invalid"}]}
    return Refusal(400, json.dumps({"error": error}).encode())


def check_load(kind: str, resource: dict) -> Refusal | None:
    """A refusal when a load job (jobs.insert) names more source URIs than BigQuery takes."""
    if kind != "job":
        return None  # a query, or an upload (its data is in the request, it has no source URIs)
    load = (resource.get("configuration") or {}).get("load") or {}
    uris = load.get("sourceUris") or []
    if len(uris) > MAX_SOURCE_URIS:
        return invalid(f"Too many source URIs in the load job configuration: {len(uris)}; "
                       f"at most {MAX_SOURCE_URIS} are allowed")
    return None
