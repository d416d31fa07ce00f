"""Requests Vertex failed, set aside for a follow-up batch (submit_batch mode retry_failed).

Each chunk with failed rows writes its original input lines ({"key", "request"}) to
<gcsOutputDirectory>/retry/requests-<file id>-<first line>.jsonl. The name depends only on the file
and the chunk's first line, and a replayed chunk has the same range (checkpoint.Pending), so a replay
overwrites the object instead of adding a second copy.
"""

from __future__ import annotations

from typing import Sequence

from pass1_processor.checkpoint import file_doc_id
from pass1_processor.discovery import PredictionFile
from shared.faults import crash_point
from shared.retry import call_with_retry

RETRY_FOLDER = "retry"


def retry_object_name(file: PredictionFile, first_line: int) -> str:
    """Object name of a chunk's retry requests, inside the file's output directory."""
    return (f"{file.output_dir.path.name}/{RETRY_FOLDER}/"
            f"requests-{file_doc_id(file.uri)[:16]}-{first_line:09d}.jsonl")


def write_retry_requests(file: PredictionFile, first_line: int, lines: Sequence[bytes], client=None) -> str | None:
    """Write the chunk's failed requests; returns the gs:// URI, or None when there are none."""
    if not lines:
        return None
    if client is None:
        from shared.clients import storage_client

        client = storage_client()
    name = retry_object_name(file, first_line)
    blob = client.bucket(file.path.bucket).blob(name)
    data = b"\n".join(lines) + b"\n"
    call_with_retry(blob.upload_from_string, data, content_type="application/jsonl", retry=None)
    crash_point("retry_file")
    return f"gs://{file.path.bucket}/{name}"
