"""The prediction files of a succeeded job, listed once when the run reaches PENDING_PROCESSING, so
that the answer's output_info can name them ("files") and a workflow can fan out one processor call
chain per file.

Vertex writes predictions.jsonl or predictions_00001.jsonl... directly in the job's output
directory; anything else there (the processor's retry/ folder, incremental files) is not a
prediction file. The rule (basename prediction*.jsonl) is shared/layout.py's, as in the processor.
"""

from __future__ import annotations

from typing import Any

from shared.identifiers import parse_gcs_uri
from shared.layout import is_prediction_file
from shared.retry import call_with_retry
from shared.vertex import SUCCEEDED_JOB_STATES


def prediction_files(storage: Any, output_dir: str) -> list[str]:
    """gs:// URIs of the prediction files directly under output_dir, by name."""
    path = parse_gcs_uri(output_dir, "output_dir")
    prefix = path.name.rstrip("/") + "/"
    # delimiter "/": only the directory's own objects, not those of its subfolders (retry/).
    names = call_with_retry(lambda: [blob.name for blob in storage.list_blobs(path.bucket, prefix=prefix,
                                                                              delimiter="/")])
    return [f"gs://{path.bucket}/{name}" for name in sorted(names) if is_prediction_file(name)]


def unlisted_outputs(storage: Any, jobs: list[dict]) -> dict[str, dict]:
    """{job name: {"output_files": [...]}} for each succeeded job with an output directory whose
    files were not listed yet."""
    return {job["name"]: {"output_files": prediction_files(storage, job["output_dir"])}
            for job in jobs
            if job.get("state") in SUCCEEDED_JOB_STATES and job.get("output_dir") and job.get("output_files") is None}
