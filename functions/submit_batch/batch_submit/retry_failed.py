"""mode "retry_failed": submit again, as attempt n+1, the requests of attempt n that got no answer.

What is retried, job by job of attempt n (the contract with the processor, shared/layout.py):
- a job that succeeded: the rows the processor set aside, named by their composite keys in
  `<gcsOutputDirectory>/retry/keys-*.jsonl` ({"key"} per line);
- a job that failed as a whole (FAILED, EXPIRED): every request of its input (it has no output).
The requests themselves always come from the job's own input shard, copied line by line (the same
prompt version as the first attempt), never from the output: Vertex AI echoes a request rewritten
(nulls added, keys reordered), so the echo is not the request that was sent. Memory: one job's set
of failed keys at a time (about 150 bytes a key); the shard itself is streamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import orjson

from batch_submit.prepare import INVALID_RECORD, PrepareStats
from batch_submit.shards import RequestEntry
from batch_submit.sources import GCS_CHUNK_BYTES
from shared.identifiers import parse_gcs_uri
from shared.jobstate import attempt_jobs
from shared.keys import BadKey, decode_key
from shared.layout import is_retry_keys_object, retry_keys_prefix
from shared.vertex import FAILED_JOB_STATES, SUCCEEDED_JOB_STATES

# A key set aside for a retry that its job's input does not hold (never expected: counted, not sent).
KEY_NOT_IN_INPUT = "retry_key_not_in_input"


@dataclass(frozen=True)
class RetrySource:
    """One job's share of a retry: its input shard, and the files naming the keys to take from it
    (None: the whole shard, for a job that failed as a whole)."""

    input_uri: str
    key_files: tuple[str, ...] | None

    @property
    def files(self) -> int:
        """Objects this source reads besides the shard (what the answer counts as retry files)."""
        return 1 if self.key_files is None else len(self.key_files)


def retry_sources(record: dict, storage) -> list[RetrySource]:
    """What attempt n leaves to retry, by shard; empty when nothing is."""
    sources = []
    for job in sorted(attempt_jobs(record), key=lambda j: j.get("shard", 0)):
        if not job.get("input_uri"):
            continue
        if job.get("state") in SUCCEEDED_JOB_STATES and job.get("output_dir"):
            folder = retry_keys_prefix(parse_gcs_uri(job["output_dir"], "output_dir"))
            names = sorted(blob.name for blob in storage.list_blobs(folder.bucket, prefix=folder.name)
                           if is_retry_keys_object(blob.name))
            if names:
                sources.append(RetrySource(job["input_uri"], tuple(f"gs://{folder.bucket}/{n}" for n in names)))
        elif job.get("state") in FAILED_JOB_STATES:
            sources.append(RetrySource(job["input_uri"], None))
    return sources


def retry_entries(sources: list[RetrySource], storage, stats: PrepareStats) -> Iterator[RequestEntry]:
    """The original requests to send again, shard after shard, in shard order; each key once."""
    for source in sources:
        wanted = None if source.key_files is None else _failed_keys(source.key_files, storage, stats)
        for entry in _input_entries(source.input_uri, storage, stats):
            if wanted is None:
                yield entry
            elif entry.key in wanted:
                wanted.discard(entry.key)
                yield entry
        if wanted:
            stats.skipped[KEY_NOT_IN_INPUT] += len(wanted)


def _failed_keys(uris: tuple[str, ...], storage, stats: PrepareStats) -> set[str]:
    keys: set[str] = set()
    for raw in _lines(uris, storage):
        try:
            value = orjson.loads(raw)
            key: Any = value.get("key") if isinstance(value, dict) else None  # a str once decode_key accepted it
            decode_key(key)
        except (orjson.JSONDecodeError, BadKey):
            stats.skipped[INVALID_RECORD] += 1
            continue
        keys.add(key)
    return keys


def _input_entries(uri: str, storage, stats: PrepareStats) -> Iterator[RequestEntry]:
    for raw in _lines((uri,), storage):
        entry = _entry(raw)
        if entry is None:
            stats.skipped[INVALID_RECORD] += 1
            continue
        yield entry


def _entry(raw: bytes) -> RequestEntry | None:
    """An input line {"key", "request"} as an entry (the writer gives it the row id of its new place)."""
    try:
        value = orjson.loads(raw)
        if not isinstance(value, dict) or not isinstance(value.get("request"), dict):
            return None
        key = decode_key(value.get("key"))
    except (orjson.JSONDecodeError, BadKey):
        return None
    return RequestEntry(value["key"], key.phone_token, key.interaction_id, value["request"])


def _lines(uris, storage) -> Iterator[bytes]:
    for uri in uris:
        path = parse_gcs_uri(uri, "retry_input")
        with storage.bucket(path.bucket).blob(path.name).open("rb", chunk_size=GCS_CHUNK_BYTES) as stream:
            for raw in stream:
                if raw.strip():
                    yield raw
