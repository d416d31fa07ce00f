"""mode "retry_failed": submit again, as attempt n+1, the requests of attempt n that got no answer.

Where they are (the contract with the processor):
- `<gcsOutputDirectory>/retry/requests-*.jsonl` of each succeeded job of attempt n: failed rows the
  processor set aside, one original input line {"key", "request"} per line;
- the input file of each job of attempt n that failed as a whole (FAILED, EXPIRED): it has no output.
They are copied, line by line, to attempt-{n+1}/input-*.jsonl (the original requests, unchanged: the
same prompt version as the first attempt) and submitted like any attempt.
"""

from __future__ import annotations

from typing import Iterator

import orjson

from shared.identifiers import parse_gcs_uri
from shared.keys import BadKey, decode_key
from shared.vertex import FAILED_JOB_STATES, SUCCEEDED_JOB_STATES

from batch_submit.prepare import INVALID_RECORD, PrepareStats
from batch_submit.shards import RequestEntry
from batch_submit.sources import GCS_CHUNK_BYTES
from batch_submit.submission import attempt_jobs

RETRY_FOLDER = "retry"
RETRY_FILE_PREFIX = "requests-"


def retry_inputs(record: dict, storage) -> list[str]:
    """gs:// URIs of the files holding attempt n's unanswered requests, in a deterministic order."""
    uris = []
    for job in sorted(attempt_jobs(record), key=lambda j: j.get("shard", 0)):
        if job.get("state") in SUCCEEDED_JOB_STATES and job.get("output_dir"):
            folder = parse_gcs_uri(job["output_dir"], "output_dir").join(RETRY_FOLDER, RETRY_FILE_PREFIX)
            names = sorted(blob.name for blob in storage.list_blobs(folder.bucket, prefix=folder.name)
                           if blob.name.endswith(".jsonl"))
            uris.extend(f"gs://{folder.bucket}/{name}" for name in names)
        elif job.get("state") in FAILED_JOB_STATES and job.get("input_uri"):
            uris.append(job["input_uri"])
    return uris


def retry_lines(uris: list[str], storage, stats: PrepareStats) -> Iterator[RequestEntry]:
    """Each valid {"key", "request"} line of the files, as an entry; invalid lines counted."""
    for uri in uris:
        path = parse_gcs_uri(uri, "retry_input")
        with storage.bucket(path.bucket).blob(path.name).open("rb", chunk_size=GCS_CHUNK_BYTES) as stream:
            for raw in stream:
                if not raw.strip():
                    continue
                line = _normalised(raw)
                if line is None:
                    stats.skipped[INVALID_RECORD] += 1
                    continue
                yield line


def _normalised(raw: bytes) -> RequestEntry | None:
    try:
        value = orjson.loads(raw)
        if not isinstance(value, dict) or not isinstance(value.get("request"), dict):
            return None
        key = decode_key(value.get("key"))
    except (orjson.JSONDecodeError, BadKey):
        return None
    return RequestEntry(value["key"], key.phone_token, key.interaction_id, value["request"])
