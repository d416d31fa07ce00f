"""Stage 3, the processor's CPU stage: its real code from a byte stream to staged NDJSON objects.

The path is the one FileWorker._extract and _write take (pass1_processor/filework.py), chunk after chunk:
reader.iter_lines over ranged reads -> filework._fill (extract.extract_line per line: orjson, repair
when needed, key decode) -> chunk.process_chunk (staged rows, dead letters, retry requests). The
clients are passed in (WriteTarget.storage): ranged reads come from a local file (os.pread), and the
staged objects and retry files go to a Storage client that keeps only their sizes. What BigQuery
does with the staged rows (load, MERGE with the lookup snapshot: dedupe and enrichment) is SQL, not
the function's CPU: stage 4 has it, and so the checkpoint writes (Firestore).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from infra.local.layout import REPO_ROOT

PROCESSOR_DIR = REPO_ROOT / "functions" / "pass1_batch_processor"
SCHEMAS = REPO_ROOT / "infra" / "schemas"
PROJECT, DATASET = "bench-project", "bench"
FILE_URI = "gs://bench-bucket/bench/prediction-model-bench/predictions.jsonl"


def import_processor() -> None:
    """Make pass1_processor importable as it is when deployed (beside main.py)."""
    if str(PROCESSOR_DIR) not in sys.path:
        sys.path.insert(0, str(PROCESSOR_DIR))


class _Sink:
    """Counts what a writer would have sent."""

    def __init__(self):
        self.bytes = 0
        self.calls = 0


class FakeStorage:
    """bucket().blob(name).upload_from_string(): keeps only the sizes, staged objects and retry
    files apart (by name)."""

    def __init__(self, rows_sink: _Sink, retry_sink: _Sink):
        self.rows_sink, self.retry_sink = rows_sink, retry_sink
        self.name = ""

    def bucket(self, name):
        return self

    def blob(self, name):
        blob = FakeStorage(self.rows_sink, self.retry_sink)
        blob.name = name
        return blob

    def upload_from_string(self, data, content_type=None, **_options):
        sink = self.retry_sink if "/retry/" in self.name else self.rows_sink
        sink.bytes += len(data)
        sink.calls += 1


def table_info(name: str, file: str):
    """A TableInfo from a schema file under infra/schemas (what schema.table_info reads from BigQuery)."""
    from google.cloud.bigquery import SchemaField

    from pass1_processor.schema import TableInfo
    from shared.identifiers import TableRef

    fields = tuple(SchemaField.from_api_repr(f) for f in json.loads((SCHEMAS / file).read_text()))
    return TableInfo(TableRef.of(PROJECT, DATASET, name), fields, frozenset(f.name for f in fields),
                     frozenset(f.name for f in fields if f.field_type == "JSON"), "2026-01-01T00:00:00+00:00")


def prepare(rows_sink: _Sink, retry_sink: _Sink):
    """Import the processor, point its service seams at memory; returns (WriteTarget, PredictionFile maker)."""
    import_processor()
    from pass1_processor.chunk import WriteTarget
    from pass1_processor.rows import RowPlan
    from shared.identifiers import TableRef

    output, dead = table_info("pass1_analysis", "pass1_analysis.json"), table_info("pass1_dead_letter",
                                                                                   "pass1_dead_letter.json")
    plan = RowPlan.build(output, dead, table_info("interaction_lookup", "interaction_lookup.json"))
    return WriteTarget(plan, TableRef.of(PROJECT, DATASET, "interaction_lookup"), "load", "bench-scope",
                       "bench-run", "pass1", (output.created, dead.created),
                       storage=FakeStorage(rows_sink, retry_sink))


def prediction_file(size: int):
    from pass1_processor.config import OutputDir
    from pass1_processor.discovery import PredictionFile
    from shared.identifiers import parse_gcs_uri

    path = parse_gcs_uri(FILE_URI, "bench", frozenset({"bench-bucket"}))
    directory = parse_gcs_uri(FILE_URI.rsplit("/", 1)[0], "bench", frozenset({"bench-bucket"}))
    return PredictionFile(path, size, 1, OutputDir(directory, "projects/p/locations/l/batchPredictionJobs/1"))


def setup(path: Path):
    """Imports and table plans done; returns the pass to time."""
    rows_sink, retry_sink = _Sink(), _Sink()
    target = prepare(rows_sink, retry_sink)
    return functools.partial(_run, path, target, rows_sink, retry_sink)


def run(path: Path) -> dict:
    """One pass over the file as the processor makes it; counts as process_chunk returns them."""
    return setup(path)()


def _run(path: Path, target, rows_sink: _Sink, retry_sink: _Sink) -> dict:
    rows_sink.__init__()
    retry_sink.__init__()
    from pass1_processor.chunk import Chunk, process_chunk
    from pass1_processor.counts import Counts
    from pass1_processor.filework import _fill
    from pass1_processor.memory import MemoryWatch
    from pass1_processor.reader import iter_lines
    from pass1_processor.settings import DEFAULT_CHUNK_MAX_BYTES, DEFAULT_CHUNK_SIZE, DEFAULT_MEMORY_THRESHOLD_PERCENT

    size = path.stat().st_size
    file = prediction_file(size)
    memory = MemoryWatch(DEFAULT_MEMORY_THRESHOLD_PERCENT, DEFAULT_CHUNK_SIZE)
    totals, chunks = Counts(), 0
    fd = os.open(path, os.O_RDONLY)
    try:
        lines = iter_lines(lambda start, end: os.pread(fd, end - start, start), size, 0, 1)
        offset, next_line = 0, 1
        while offset < size:
            chunk = Chunk(file, offset, offset, next_line, next_line - 1)
            _fill(chunk, lines, memory.next_chunk_lines(), DEFAULT_CHUNK_MAX_BYTES, None, target.plan.prepare)
            totals.add(process_chunk(target, chunk, datetime.now(timezone.utc).isoformat()))
            offset, next_line, chunks = chunk.end, chunk.last_line + 1, chunks + 1
    finally:
        os.close(fd)
    return {"lines": totals.processed, **{k: v for k, v in totals.to_dict().items() if k != "processed"},
            "chunks": chunks, "row_bytes": rows_sink.bytes, "staged_objects": rows_sink.calls,
            "retry_bytes": retry_sink.bytes}
