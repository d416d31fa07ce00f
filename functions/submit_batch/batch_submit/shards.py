"""Request lines -> input objects of at most N requests and B bytes each, streamed to Cloud Storage
(a resumable upload per object; only one chunk in memory), under deterministic names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.identifiers import GcsPath

from batch_submit.naming import input_object, shard_of

# Upload chunk: a multiple of 256 KiB (resumable uploads require it); the writer's memory bound.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024


@dataclass
class Shard:
    """One written input object."""

    index: int
    uri: str
    requests: int = 0
    bytes: int = 0


class ShardWriter:
    """Writes lines into input-00000.jsonl, input-00001.jsonl... under `prefix`, starting a new
    object before one would pass `max_requests` lines or `max_bytes` bytes."""

    def __init__(self, bucket: Any, prefix: GcsPath, max_requests: int, max_bytes: int):
        self._bucket = bucket
        self._prefix = prefix
        self._max_requests = max_requests
        self._max_bytes = max_bytes
        self._stream = None
        self.shards: list[Shard] = []

    def write(self, line: bytes) -> bool:
        """Append one line (ending in a newline); False when the line alone exceeds max_bytes."""
        if len(line) > self._max_bytes:
            return False
        current = self.shards[-1] if self._stream is not None else None
        if current is None or current.requests >= self._max_requests or current.bytes + len(line) > self._max_bytes:
            current = self._next()
        self._stream.write(line)
        current.requests += 1
        current.bytes += len(line)
        return True

    def _next(self) -> Shard:
        self._finish()
        path = input_object(self._prefix, len(self.shards))
        blob = self._bucket.blob(path.name)
        self._stream = blob.open("wb", chunk_size=UPLOAD_CHUNK_BYTES, content_type="application/jsonl")
        shard = Shard(len(self.shards), path.uri)
        self.shards.append(shard)
        return shard

    def _finish(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def close(self) -> list[Shard]:
        """Finish the last object and remove input objects left by an earlier try that wrote more
        shards (the source changed in between): the attempt's folder then holds exactly our shards."""
        self._finish()
        for blob in self._bucket.client.list_blobs(self._bucket.name, prefix=self._prefix.name + "/input-"):
            index = shard_of(blob.name)
            if index is not None and index >= len(self.shards):
                blob.delete()
        return self.shards

    def abort(self) -> None:
        """Drop the object being written (it never appears); earlier objects stay and are overwritten
        by the next try."""
        self._stream = None
