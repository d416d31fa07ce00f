"""Stage 4, end to end on the local stack: Storage emulator -> processor over HTTP -> BigQuery emulator.

Each run gets its own tables (bench_<id>_lookup/_out/_dead, from infra/schemas) and its own output
directory, so the stack's own tables and other users' data are never touched; the tables are dropped
afterwards. Figures and what they cover:
- upload_seconds, seed_lookup_seconds: preparation, not the processor;
- http: wall time of the processor calls (one, or more when a call's time budget ends it 'partial'),
  the processor's own processing_time_seconds, and its process's RSS sampled every 50 ms from
  outside (psutil on the stack's pid). rss_growth_mib (cold): peak minus the RSS just before the
  first call the bench makes; that call imports the client libraries (about 46 MiB), which an
  instance pays once per cold start. With a warm-up (call_http's `warmup`: a small ad hoc scope
  processed first, bench/scale.py), rss_growth_warm_mib is the peak after the warm-up minus the RSS
  right after it: the growth that can depend on the data. rss_timeline_mib: the RSS each second;
- split: the same service code (pass1_processor.service.process_request) run a second time on a
  second copy of the file, in this process, with timers wrapped around its service calls. Busy
  seconds per stage; they overlap where process_chunk runs calls side by side (the staged objects
  and the retry file) and nest (file_merge holds bq_load, bq_statement and bq_tally), so they can add
  up to more than the wall time.
"""

from __future__ import annotations

import io
import os
import threading
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import orjson

from bench import synth
from bench.cpu import import_processor

HTTP_TIMEOUT_SECONDS = 1800
MAX_CALLS = 50
SAMPLE_SECONDS = 0.05
MIB = 1024 * 1024


class StackSession:
    """The stack named by STACK_DIR/STACK_PORT_BASE: started when it is not up (and then stopped by
    close()), its environment applied to this process so that shared/ clients reach the emulators."""

    def __init__(self):
        from infra.local.layout import StackLayout
        from infra.local.stack import Stack

        self.stack = Stack(StackLayout.from_env())
        self.layout = self.stack.layout
        self.started = not all(self.stack.status().values())
        if self.started:
            self.stack.up()
        os.environ.update(self.layout.env_vars())

    def close(self) -> None:
        if self.started:
            self.stack.down(quiet=True)

    def processor_pid(self) -> int | None:
        pid_file = self.layout.dir / "pids" / "pass1_batch_processor.pid"
        return int(pid_file.read_text()) if pid_file.exists() else None


class BenchTables:
    """Per-run lookup, output and dead-letter tables."""

    def __init__(self, layout, run: str):
        from infra.local import provision

        self.layout, self.client = layout, provision.bigquery_client(layout)
        self.names = {kind: f"bench_{run}_{kind}" for kind in ("lookup", "out", "dead")}
        files = {"lookup": "interaction_lookup.json", "out": "pass1_analysis.json", "dead": "pass1_dead_letter.json"}
        from google.cloud import bigquery

        for kind in self.names:
            if kind == "lookup":  # with its options (partitioned on started_at), as the stack's lookup
                self.client.create_table(provision.new_table(self.ref(kind), provision.SCHEMA_DIR / files[kind]))
                continue
            schema = provision.load_schema(provision.SCHEMA_DIR / files[kind])
            self.client.create_table(bigquery.Table(self.ref(kind), schema=schema))

    def ref(self, kind: str) -> str:
        return f"{self.layout.project}.{self.layout.dataset}.{self.names[kind]}"

    def seed_lookup(self, lines: int, config: synth.SynthConfig) -> int:
        """Lookup rows of every matched line, in one load job; returns how many."""
        from google.cloud import bigquery

        data = io.BytesIO()
        count = 0
        for i in range(lines):
            if synth.is_matched(i, config):
                data.write(orjson.dumps(synth.lookup_row(i)) + b"\n")
                count += 1
        data.seek(0)
        job_config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON", write_disposition="WRITE_APPEND")
        self.client.load_table_from_file(data, self.ref("lookup"), job_config=job_config).result()
        return count

    def count(self, kind: str, where: str = "") -> int:
        sql = f"SELECT COUNT(*) AS n FROM `{self.ref(kind)}` {where}"
        return next(iter(self.client.query(sql).result()))["n"]

    def drop(self) -> None:
        for kind in self.names:
            self.client.delete_table(self.ref(kind), not_found_ok=True)


def upload(layout, path: Path, directory: str) -> tuple[str, float]:
    """The file as <directory>/predictions.jsonl in the output bucket; (gs:// dir, seconds)."""
    from infra.local import provision

    started = time.perf_counter()
    blob = provision.storage_client(layout).bucket(layout.output_bucket).blob(f"{directory}/predictions.jsonl")
    blob.chunk_size = 8 * MIB
    blob.upload_from_filename(str(path), content_type="application/jsonl")
    return f"gs://{layout.output_bucket}/{directory}", time.perf_counter() - started


class RssSampler:
    """Peak RSS of another process and its children (functions-framework serves from a gunicorn
    worker process), sampled in a thread. mark() starts a second base and peak (after a warm-up);
    the samples are kept for a timeline."""

    def __init__(self, pid: int | None):
        import psutil

        self.process = psutil.Process(pid) if pid else None
        self.base = self._rss()
        self.peak = self.base
        self.warm_base: int | None = None
        self.warm_peak = 0
        self.started = time.monotonic()
        self.samples: list[tuple[float, int]] = [(0.0, self.base)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _rss(self) -> int:
        import psutil

        if self.process is None:
            return 0
        total = 0
        try:
            for proc in (self.process, *self.process.children(recursive=True)):
                total += proc.memory_info().rss
        except psutil.Error:  # a process went away mid-sample
            pass
        return total

    def _sample(self) -> None:
        rss = self._rss()
        self.samples.append((time.monotonic() - self.started, rss))
        self.peak = max(self.peak, rss)
        if self.warm_base is not None:
            self.warm_peak = max(self.warm_peak, rss)

    def mark(self) -> None:
        """The warm base: the RSS now (the warm-up done); the warm peak is taken from here on."""
        self.warm_base = self.warm_peak = self._rss()
        self.samples.append((time.monotonic() - self.started, self.warm_base))

    def timeline_mib(self, step: float = 1.0) -> list[float]:
        """The highest RSS of each `step` seconds, in MiB."""
        out: list[float] = []
        for t, rss in self.samples:
            index = int(t // step)
            while len(out) <= index:
                out.append(out[-1] if out else 0.0)
            out[index] = max(out[index], round(rss / MIB, 1))
        return out

    def _loop(self):
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def request_body(output_dir: str, tables: BenchTables) -> dict:
    return {"output_info": {"gcsOutputDirectory": output_dir}, "workflow_id": "bench",
            "output_table": tables.names["out"], "lookup_table": tables.names["lookup"],
            "dead_letter_table": tables.names["dead"]}


def _call_until_done(url: str, body: dict) -> list[dict]:
    import requests

    answers: list[dict] = []
    for _ in range(MAX_CALLS):
        resp = requests.post(url, json=body, timeout=HTTP_TIMEOUT_SECONDS)
        if resp.status_code != 200:
            raise RuntimeError(f"processor answered {resp.status_code}: {resp.text[:500]}")
        answers.append(resp.json())
        if answers[-1]["status"] != "partial":
            break
    return answers


def call_http(url: str, body: dict, pid: int | None, warmup: dict | None = None, meter=None) -> dict:
    """Call the processor until it answers 'success'; wall time, its own time and its RSS. With
    `warmup` (a request body), that request is made first, untimed, and the warm base taken after it.
    `meter` (bench/stackcpu.StackCpu): started and stopped around the measured calls."""
    with RssSampler(pid) as rss:
        warmup_seconds = None
        if warmup is not None:
            started = time.perf_counter()
            _call_until_done(url, warmup)
            warmup_seconds = time.perf_counter() - started
            rss.mark()
        measured_since = datetime.now(timezone.utc)  # the measured calls' BigQuery jobs start after this
        time.sleep(0.01)
        if meter is not None:
            meter.start()
        started = time.perf_counter()
        answers = _call_until_done(url, body)
        wall = time.perf_counter() - started
        if meter is not None:
            meter.stop()
    last = answers[-1]
    out = {"seconds": wall, "calls": len(answers),
           "processor_seconds": sum(a.get("processing_time_seconds") or 0 for a in answers),
           "status": last["status"], "processed_records": last["processed_records"],
           "inserted_rows": last["inserted_rows"], "failed_records": last["failed_records"],
           "duplicate_records": last["duplicate_records"], "repaired_records": last["repaired_records"],
           "unmatched_records": last["unmatched_records"], "pending_records": last.get("pending_records", 0),
           "row_run_id": last.get("row_run_id"), "bigquery_jobs": _sum_jobs(answers),
           "processor_memory": last.get("memory"),
           "rss_base_mib": rss.base / MIB, "rss_peak_mib": rss.peak / MIB,
           "rss_growth_mib": max(0, rss.peak - rss.base) / MIB,
           "rss_timeline_mib": rss.timeline_mib(), "measured_since": measured_since}
    if rss.warm_base is not None:
        out.update({"warmup_seconds": warmup_seconds, "rss_warm_base_mib": rss.warm_base / MIB,
                    "rss_warm_peak_mib": rss.warm_peak / MIB,
                    "rss_growth_warm_mib": max(0, rss.warm_peak - rss.warm_base) / MIB})
    return out


class Timers:
    """Busy seconds per stage name, from wrapped calls (thread-safe enough: list appends)."""

    def __init__(self):
        self.spans: dict[str, list[float]] = defaultdict(list)

    def wrap(self, name: str, fn):
        spans = self.spans[name]

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spans.append(time.perf_counter() - started)

        return timed

    def totals(self) -> dict[str, float]:
        return {name: round(sum(spans), 4) for name, spans in self.spans.items()}


@contextmanager
def instrumented(timers: Timers):
    """Timers around the processor's service calls, at the names its modules call them by."""
    import_processor()
    from pass1_processor import bqjobs, checkpoint, chunk, filework, rows, service

    saved = []

    def patch(module, name, stage):
        original = getattr(module, name)
        saved.append((module, name, original))
        setattr(module, name, timers.wrap(stage, original))

    def timed_fetcher(blob, generation):
        return timers.wrap("download", original_fetcher(blob, generation))

    original_fetcher = filework.blob_fetcher
    saved.append((filework, "blob_fetcher", original_fetcher))
    filework.blob_fetcher = timed_fetcher
    patch(filework, "extract_line", "extract")
    patch(rows.RowPlan, "prepare", "rows")  # each record serialized as it is extracted
    patch(chunk, "put_object", "stage_objects")
    patch(chunk, "write_retry_requests", "write_retry_file")
    patch(filework, "process_chunk", "chunk_after_extract")  # staged rows, dead letters, retry file
    patch(filework, "merge_files", "file_merge")  # per batch of staged files: load, MERGE, tally
    patch(bqjobs.Jobs, "load_uris", "bq_load")
    patch(bqjobs.Jobs, "query", "bq_statement")  # MERGE; on a run's first call the snapshot CTAS
    patch(bqjobs.Jobs, "read", "bq_tally")
    patch(service, "_ready", "run_setup")  # staging table, lookup snapshot
    for method in ("claim", "write_intent", "commit", "release", "read_all"):
        patch(checkpoint.CheckpointStore, method, "checkpoint")
    patch(service, "discover", "discover")
    patch(service, "table_info", "table_schemas")
    try:
        yield
    finally:
        for module, name, original in reversed(saved):
            setattr(module, name, original)


def split_in_process(body: dict) -> dict:
    """process_request in this process with timers; its answer's counts and the busy seconds."""
    import_processor()
    from pass1_processor.service import process_request
    from shared.http import RequestContext
    from shared.logs import Logger

    timers = Timers()
    answers, started = [], time.perf_counter()
    with instrumented(timers), open(os.devnull, "w") as sink:
        for _ in range(MAX_CALLS):
            ctx = RequestContext(f"bench-{uuid.uuid4().hex[:8]}", "POST", time.monotonic(), {}, Logger(sink))
            answers.append(process_request(dict(body), ctx))
            if answers[-1]["status"] != "partial":
                break
    wall = time.perf_counter() - started
    busy = timers.totals()
    # These run one after the other on the calling thread; the rest of the wall time is the loop,
    # clients, the scope document and the answer.
    sequential = ("download", "extract", "chunk_after_extract", "file_merge", "checkpoint", "discover",
                  "table_schemas", "run_setup")
    busy["other"] = round(wall - sum(busy.get(name, 0.0) for name in sequential), 4)
    return {"seconds": wall, "calls": len(answers), "inserted_rows": answers[-1]["inserted_rows"], "busy_seconds": busy,
            "bigquery_jobs": _sum_jobs(answers)}


def _sum_jobs(answers: list[dict]) -> dict:
    """BigQuery jobs of all the calls, by kind, as the processor counted them."""
    out: dict = {}
    for answer in answers:
        for kind, n in (answer.get("bigquery_jobs") or {}).items():
            out[kind] = out.get(kind, 0) + n
    return out


def run(path: Path, stats: synth.SynthStats, config: synth.SynthConfig, session: StackSession,
        split: bool = True) -> dict:
    """Stage 4 for one file; see the module docstring for what each figure covers."""
    layout = session.layout
    run_id = uuid.uuid4().hex[:10]
    tables = BenchTables(layout, run_id)
    try:
        started = time.perf_counter()
        lookup_rows = tables.seed_lookup(stats.lines, config)
        seed_seconds = time.perf_counter() - started
        output_dir, upload_seconds = upload(layout, path, f"bench/{run_id}/http/prediction-model-bench")
        body = request_body(output_dir, tables)
        http = call_http(layout.env_vars()["PASS1_BATCH_PROCESSOR_URL"], body, session.processor_pid())
        landed = tables.count("out", f"WHERE run_id = '{http['row_run_id']}'") if http["row_run_id"] else None
        result = {"lines": stats.lines, "upload_seconds": upload_seconds, "seed_lookup_seconds": seed_seconds,
                  "lookup_rows": lookup_rows, "http": http, "rows_in_bigquery": landed}
        if split:
            split_dir, _ = upload(layout, path, f"bench/{run_id}/split/prediction-model-bench")
            result["split"] = split_in_process(request_body(split_dir, tables))
        return result
    finally:
        tables.drop()
        _delete_objects(layout, f"bench/{run_id}/")


def _delete_objects(layout, prefix: str) -> None:
    from infra.local import provision

    client = provision.storage_client(layout)
    for blob in client.list_blobs(layout.output_bucket, prefix=prefix):
        blob.delete()
