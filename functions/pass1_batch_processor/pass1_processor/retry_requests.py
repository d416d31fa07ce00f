"""Rows Vertex failed, set aside for a follow-up batch (submit_batch mode retry_failed).

Each chunk with failed rows writes their keys ({"key"} per line) to
<gcsOutputDirectory>/retry/keys-<file id>-<first line>.jsonl (shared/layout.py). Only the keys: the
request is taken again from the attempt's input shard, because the request an output line echoes
is rewritten by Vertex AI and is not the one that was sent. The name depends only on the file and
the chunk's first line, and a replayed chunk has the same range (checkpoint.Pending), so a replay
overwrites the object instead of adding a second copy.
"""

from __future__ import annotations

from typing import Sequence

from pass1_processor.checkpoint import file_doc_id
from pass1_processor.discovery import PredictionFile
from shared.faults import crash_point
from shared.layout import retry_keys_object
from shared.retry import call_with_retry


def retry_object_name(file: PredictionFile, first_line: int) -> str:
    """Object name of a chunk's retry keys, inside the file's output directory."""
    return retry_keys_object(file.output_dir.path, f"{file_doc_id(file.uri)[:16]}-{first_line:09d}").name


def write_retry_requests(file: PredictionFile, first_line: int, lines: Sequence[bytes], client=None) -> str | None:
    """Write the chunk's retry records; returns the gs:// URI, or None when there are none."""
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
