"""Request entries -> input objects of at most N requests and B bytes each, each with its key index
beside it (shared/layout.py), streamed to Cloud Storage (a resumable upload per object; only one
chunk of each in memory), under deterministic names.

The writer gives every request its row id (`request.labels.row_id`) as it places it: the id names the
attempt, shard and line, so it is only known here. The key index maps the id back to the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from shared.identifiers import GcsPath
from shared.layout import ROW_ID_LABEL, input_object, key_index_of, row_id, shard_of

# Upload chunk: a multiple of 256 KiB (resumable uploads require it); the writer's memory bound.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
# The key index is about 200 bytes a request (40 MB for a full 200,000-request shard): smaller chunks.
KEY_INDEX_CHUNK_BYTES = 2 * 1024 * 1024


class RequestEntry(NamedTuple):
    """One request to send: its composite key (and what the key holds) and the Gemini request
    (GenerateContentRequest JSON) without the row id, which the writer adds."""

    key: str
    phone_token: str
    interaction_id: str
    request: dict


@dataclass
class Shard:
    """One written input object."""

    index: int
    uri: str
    requests: int = 0
    bytes: int = 0


def request_line(entry: RequestEntry, rid: str) -> bytes:
    """The input line of a request placed at row id `rid`: {"key", "request"} with labels.row_id."""
    request = entry.request
    labels = {**(request.get("labels") or {}), ROW_ID_LABEL: rid}
    return orjson.dumps({"key": entry.key, "request": {**request, "labels": labels}}) + b"\n"


def key_index_line(entry: RequestEntry, rid: str) -> bytes:
    """The key index line of a request (the format is fixed: shared/layout.py)."""
    return orjson.dumps({"row_id": rid, "key": entry.key, "phone_number_token": entry.phone_token,
                         "interaction_id": entry.interaction_id}) + b"\n"


class ShardWriter:
    """Writes entries into input-00000.jsonl, input-00001.jsonl... under `prefix` (and the key
    indexes input-00000.keys.jsonl...), starting a new shard before one would pass `max_requests`
    lines or `max_bytes` bytes of input."""

    def __init__(self, bucket: Any, prefix: GcsPath, attempt: int, max_requests: int, max_bytes: int):
        self._bucket = bucket
        self._prefix = prefix
        self._attempt = attempt
        self._max_requests = max_requests
        self._max_bytes = max_bytes
        self._stream: Any = None  # the open uploads of the current shard and of its key index
        self._keys: Any = None
        self.shards: list[Shard] = []

    def write(self, entry: RequestEntry) -> bool:
        """Place one request; False when its line alone exceeds max_bytes (it is not written)."""
        current: Any = self.shards[-1] if self._stream is not None else None  # None: fresh
        fresh = current is None or current.requests >= self._max_requests
        # Row ids have a fixed width: the line is as long wherever it lands.
        rid = row_id(self._attempt, len(self.shards) if fresh else current.index, 1 if fresh else current.requests + 1)
        line = request_line(entry, rid)
        if len(line) > self._max_bytes:
            return False
        if not fresh and current.bytes + len(line) > self._max_bytes:
            fresh, rid = True, row_id(self._attempt, len(self.shards), 1)
            line = request_line(entry, rid)
        if fresh:
            current = self._next()
        self._stream.write(line)
        self._keys.write(key_index_line(entry, rid))
        current.requests += 1
        current.bytes += len(line)
        return True

    def _next(self) -> Shard:
        self._finish()
        path = input_object(self._prefix, len(self.shards))
        self._stream = self._bucket.blob(path.name).open("wb", chunk_size=UPLOAD_CHUNK_BYTES,
                                                         content_type="application/jsonl")
        self._keys = self._bucket.blob(key_index_of(path).name).open("wb", chunk_size=KEY_INDEX_CHUNK_BYTES,
                                                                     content_type="application/jsonl")
        shard = Shard(len(self.shards), path.uri)
        self.shards.append(shard)
        return shard

    def _finish(self) -> None:
        # The key index first: once the input object exists, a job may be made from it, and a job's
        # output must never be without its index.
        if self._keys is not None:
            self._keys.close()
            self._keys = None
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def close(self) -> list[Shard]:
        """Finish the last shard and remove input objects (and key indexes) left by an earlier try
        that wrote more shards (the source changed in between): the attempt's folder then holds
        exactly our shards."""
        self._finish()
        for blob in self._bucket.client.list_blobs(self._bucket.name, prefix=self._prefix.name + "/input-"):
            index = shard_of(blob.name)
            if index is not None and index >= len(self.shards):
                blob.delete()
        return self.shards

    def abort(self) -> None:
        """Drop the shard being written (its objects never appear); earlier shards stay and are
        overwritten by the next try."""
        self._stream = self._keys = None


class PlannedShardWriter:
    """Writes the requests of one planned shard (batch_submit.plan) as input-{index}.jsonl and its key
    index. The plan sized the shard from upper bounds, so it fits; a line that alone exceeds
    max_bytes is refused (False), as in ShardWriter. The objects are opened at the first request: a
    shard whose rows were all skipped leaves no object (and gets no job). key_metadata (the shard's
    call dates, shared/layout.key_index_dates) is the key index's custom metadata."""

    def __init__(self, bucket: Any, prefix: GcsPath, attempt: int, index: int, max_requests: int, max_bytes: int,
                 key_metadata: dict[str, str] | None = None):
        self._bucket = bucket
        self._key_metadata = key_metadata or {}  # the key index's custom metadata (its call dates)
        self._path = input_object(prefix, index)
        self._attempt = attempt
        self._max_requests = max_requests
        self._max_bytes = max_bytes
        self._stream: Any = None  # the open uploads of the shard and of its key index
        self._keys: Any = None
        self.shard = Shard(index, self._path.uri)

    def write(self, entry: RequestEntry) -> bool:
        shard = self.shard
        rid = row_id(self._attempt, shard.index, shard.requests + 1)
        line = request_line(entry, rid)
        if len(line) > self._max_bytes:
            return False
        if shard.requests >= self._max_requests or shard.bytes + len(line) > self._max_bytes:
            from shared.errors import InternalError

            # The plan's estimate is an upper bound; reaching this means the estimate is wrong.
            raise InternalError("a planned shard outgrew a job's limits",
                                details={"reason": "plan_estimate_exceeded", "shard": shard.index})
        if self._stream is None:
            self._stream = self._bucket.blob(self._path.name).open("wb", chunk_size=UPLOAD_CHUNK_BYTES,
                                                                   content_type="application/jsonl")
            keys = self._bucket.blob(key_index_of(self._path).name)
            if self._key_metadata:
                keys.metadata = dict(self._key_metadata)  # sent with the upload: the object never lacks it
            self._keys = keys.open("wb", chunk_size=KEY_INDEX_CHUNK_BYTES, content_type="application/jsonl")
        self._stream.write(line)
        self._keys.write(key_index_line(entry, rid))
        shard.requests += 1
        shard.bytes += len(line)
        return True

    def close(self) -> Shard:
        """Finish the objects: the key index first (a job's output is never without its index)."""
        if self._keys is not None:
            self._keys.close()
        if self._stream is not None:
            self._stream.close()
        self._stream = self._keys = None
        return self.shard

    def abort(self) -> None:
        """Drop the objects being written (they never appear; the next try writes them again)."""
        self._stream = self._keys = None
