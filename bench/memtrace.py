"""`python -m bench.memtrace`: where the processor's memory goes, in this process, on the local stack.

The run bench/scale.py makes (--lines in --files prediction files, a submitted run's layout, its own
tables), processed by the processor's code in this process (pass1_processor.service.process_request,
as bench/e2e.py's split does) after a warm-up call on a small ad hoc scope, so that the client
libraries and the first call's caches are in the base. Run it under the processor's allocator
setting (MALLOC_ARENA_MAX=2, as the stack and the deploy set it); the command sets it itself when it
is missing, by re-executing. Figures (to --out, JSON, and printed):
- rss: this process's RSS every 50 ms (psutil): base after the warm-up, peak, growth, a timeline of
  the highest RSS each second;
- with --trace (tracemalloc, --frames deep; it slows the run and its own bookkeeping is in the RSS):
  the Python allocations traced, their peak over the base, and the allocation sites that held the
  most at the snapshot taken nearest the traced peak (one snapshot at most every 2 s, when the
  traced size is a new high), and those still held after the run (what the run retains).
- with --spans: this process's RSS before and after each of the processor's steps (service._ready,
  snapshot.ensure_snapshot, staging.put_object, filework._fill, chunk.process_chunk, filemerge.merge_files,
  the BigQuery jobs), in order, to tell which step raised it.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

from infra.local.layout import REPO_ROOT

MIB = 1024 * 1024
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "memtrace.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    from bench.scale import DEFAULT_DATA

    parser = argparse.ArgumentParser(prog="python -m bench.memtrace", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--warmup-lines", type=int, default=200)
    parser.add_argument("--trace", action="store_true", help="tracemalloc on (slower)")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--spans", action="store_true", help="RSS before/after each processor step")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args(argv)


class Sampler:
    """This process's RSS (and the traced size, when tracing) every 50 ms; a snapshot near the
    traced peak."""

    def __init__(self, trace: bool):
        import psutil

        self.process, self.trace = psutil.Process(), trace
        self.base = self.peak = self.process.memory_info().rss
        self.started = time.monotonic()
        self.samples: list[tuple[float, int, int]] = []
        self.snapshot = None
        self.snapshot_traced = 0
        self._last_snapshot = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.wait(0.05):
            rss = self.process.memory_info().rss
            traced = tracemalloc.get_traced_memory()[0] if self.trace else 0
            now = time.monotonic() - self.started
            self.samples.append((now, rss, traced))
            self.peak = max(self.peak, rss)
            if self.trace and traced > self.snapshot_traced * 1.02 and now - self._last_snapshot >= 2:
                self.snapshot, self.snapshot_traced = tracemalloc.take_snapshot(), traced
                self._last_snapshot = time.monotonic() - self.started

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def timeline(self) -> list[dict]:
        out: dict[int, dict] = {}
        for t, rss, traced in self.samples:
            second = out.setdefault(int(t), {"s": int(t), "rss_mib": 0.0, "traced_mib": 0.0})
            second["rss_mib"] = max(second["rss_mib"], round(rss / MIB, 1))
            second["traced_mib"] = max(second["traced_mib"], round(traced / MIB, 1))
        return list(out.values())


def top(snapshot, base, limit: int, key: str = "traceback") -> list[dict]:
    """The allocation sites that grew most from `base` to `snapshot`."""
    filters = [tracemalloc.Filter(False, tracemalloc.__file__),
               tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    stats = snapshot.filter_traces(filters).compare_to(base.filter_traces(filters), key)
    out = []
    for stat in stats[:limit]:
        frames = [f"{Path(f.filename).name}:{f.lineno}" for f in stat.traceback]
        out.append({"size_diff_mib": round(stat.size_diff / MIB, 2), "size_mib": round(stat.size / MIB, 2),
                    "count": stat.count, "where": frames[-6:]})
    return out


class Spans:
    """RSS before and after the processor's steps, wrapped where their callers look them up."""

    def __init__(self):
        import psutil

        self.process, self.rows, self.saved = psutil.Process(), [], []
        self.started = time.monotonic()

    def wrap(self, module, name: str, label: str) -> None:
        original = getattr(module, name)
        self.saved.append((module, name, original))
        rss, rows, started = self.process.memory_info, self.rows, self.started

        def spanned(*args, **kwargs):
            before = rss().rss
            try:
                return original(*args, **kwargs)
            finally:
                after = rss().rss
                rows.append({"t": round(time.monotonic() - started, 2), "step": label,
                             "rss_before_mib": round(before / MIB, 1), "rss_after_mib": round(after / MIB, 1),
                             "delta_mib": round((after - before) / MIB, 1)})

        setattr(module, name, spanned)

    def __enter__(self):
        from pass1_processor import bqjobs, chunk, filework, service

        self.wrap(service, "_ready", "service._ready")
        self.wrap(service, "ensure_snapshot", "snapshot.ensure_snapshot")
        self.wrap(chunk, "put_object", "chunk.put_object")
        self.wrap(filework, "_fill", "filework._fill")
        self.wrap(filework, "process_chunk", "chunk.process_chunk")
        self.wrap(filework, "merge_files", "filemerge.merge_files")
        for method in ("load_uris", "query", "read"):
            self.wrap(bqjobs.Jobs, method, f"bqjobs.{method}")
        return self

    def __exit__(self, *exc):
        for module, name, original in reversed(self.saved):
            setattr(module, name, original)


def process(body: dict) -> list[dict]:
    from pass1_processor.service import process_request
    from shared.http import RequestContext
    from shared.logs import Logger

    answers = []
    with open(os.devnull, "w") as sink:
        for _ in range(50):
            ctx = RequestContext(f"memtrace-{uuid.uuid4().hex[:8]}", "POST", time.monotonic(), {}, Logger(sink))
            answers.append(process_request(dict(body), ctx))
            if answers[-1]["status"] != "partial":
                break
    return answers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from infra.deploy import PROCESSOR_MALLOC_ENV

    if any(os.environ.get(k) != v for k, v in PROCESSOR_MALLOC_ENV.items()):  # glibc reads it at start
        os.execve(sys.executable, [sys.executable, "-m", "bench.memtrace", *(sys.argv[1:] if argv is None else argv)],
                  {**os.environ, **PROCESSOR_MALLOC_ENV})
    from bench import e2e, report, scale
    from bench.cpu import import_processor

    report.say(f"generating {args.lines} lines in {args.files} files...")
    work = args.data_dir / f"scale-{args.lines}-{args.files}-{args.seed}"
    parts, _whole, (config, stats) = scale.write_files(args.lines, args.files, work, args.seed)
    session = e2e.StackSession()
    run_id = f"trace{uuid.uuid4().hex[:8]}"
    tables = e2e.BenchTables(session.layout, run_id)
    import_processor()
    try:
        report.say("seeding the lookup, uploading the run...")
        tables.seed_lookup(stats.lines, config)
        dirs = scale.upload_run(session.layout, run_id, parts)
        scale.make_run(session.layout, run_id, dirs)
        body = {"run_id": run_id, "batch_type": "pass1", "output_table": tables.names["out"],
                "lookup_table": tables.names["lookup"], "dead_letter_table": tables.names["dead"]}
        report.say("warm-up call (ad hoc scope)...")
        process(e2e.request_body(scale.upload_warmup(session.layout, run_id, parts[0], args.warmup_lines), tables))
        gc.collect()
        if args.trace:
            tracemalloc.start(args.frames)
        base_snapshot = tracemalloc.take_snapshot() if args.trace else None
        report.say("the run, in process" + (" (tracemalloc on)..." if args.trace else "..."))
        started = time.perf_counter()
        spans = Spans() if args.spans else None
        with Sampler(args.trace) as sampler:
            if spans is not None:
                with spans:
                    answers = process(body)
            else:
                answers = process(body)
        seconds = time.perf_counter() - started
        gc.collect()
        end_snapshot = tracemalloc.take_snapshot() if args.trace else None
        result: dict = {"lines": args.lines, "files": args.files, "seconds": round(seconds, 1),
                        "status": answers[-1]["status"], "calls": len(answers),
                        "malloc_env": PROCESSOR_MALLOC_ENV, "trace": args.trace,
                        "rss_base_mib": round(sampler.base / MIB, 1), "rss_peak_mib": round(sampler.peak / MIB, 1),
                        "rss_growth_mib": round((sampler.peak - sampler.base) / MIB, 1),
                        "rss_after_mib": round(sampler.process.memory_info().rss / MIB, 1)}
        if args.trace:
            result.update({"traced_peak_growth_mib": round(tracemalloc.get_traced_memory()[1] / MIB, 1),
                           "traced_at_snapshot_mib": round(sampler.snapshot_traced / MIB, 1),
                           "top_at_peak": top(sampler.snapshot, base_snapshot, args.top) if sampler.snapshot else [],
                           "top_at_peak_by_line": (top(sampler.snapshot, base_snapshot, args.top, "lineno")
                                                   if sampler.snapshot else []),
                           "retained_after_run": top(end_snapshot, base_snapshot, args.top, "lineno")})
            tracemalloc.stop()
        if spans is not None:
            result["spans"] = spans.rows
            result["spans_top"] = sorted(spans.rows, key=lambda r: -r["delta_mib"])[:args.top]
        result["timeline"] = sampler.timeline()
    finally:
        tables.drop()
        e2e._delete_objects(session.layout, f"bench/{run_id}/")
        session.close()
    print(json.dumps({k: v for k, v in result.items() if k not in ("timeline", "spans")}, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    report.say(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
