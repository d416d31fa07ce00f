"""The prediction files of a set of output directories: prediction*.jsonl only, in a stable order.

Vertex names its shards predictions.jsonl or predictions_00001.jsonl...; the processor's own
retry/keys-*.jsonl files and anything else under the directory are ignored. Order: the
directories in the order given, then object names, so that every call walks files the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from pass1_processor.config import OutputDir
from shared.identifiers import GcsPath
from shared.layout import is_prediction_file
from shared.retry import call_with_retry


@dataclass(frozen=True)
class PredictionFile:
    """One prediction file: where it is, how big, which generation, from which job."""

    path: GcsPath
    size: int
    generation: int | None
    output_dir: OutputDir

    @property
    def uri(self) -> str:
        return self.path.uri


def discover(dirs: Iterable[OutputDir], client=None) -> list[PredictionFile]:
    """Every prediction file under the directories (each listed once even when dirs overlap)."""
    if client is None:
        from shared.clients import storage_client

        client = storage_client()
    found: dict[str, PredictionFile] = {}
    for output_dir in dirs:
        prefix = output_dir.path.name + "/"
        # retry=None: the client's own retry waits up to 120 s on an outage; shared.retry bounds it.
        # The lambda runs within this iteration, so the loop variables it reads are the current ones.
        blobs = call_with_retry(lambda: list(client.list_blobs(output_dir.path.bucket, prefix=prefix,  # noqa: B023
                                                               retry=None)))
        for blob in sorted(blobs, key=lambda b: b.name):
            if is_prediction_file(blob.name):
                path = GcsPath(output_dir.path.bucket, blob.name)
                found.setdefault(path.uri, PredictionFile(path, int(blob.size or 0), blob.generation, output_dir))
    return list(found.values())
