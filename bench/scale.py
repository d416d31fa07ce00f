"""`python -m bench.scale`: the write path at scale on the local stack; writes bench/results/scale.json.

A run of --lines synthetic transcripts (bench/synth.py lines) in --files prediction files, laid out
as a submitted run is (one Vertex job directory per shard, .../attempt-1/shard-NNNNN/, and the key
index submit writes beside each input shard), with its own lookup, output and dead-letter tables
(bench/e2e.py BenchTables) and a run document as poll_status leaves it. The processor is called over
HTTP until the run completes. Figures:
- bq_jobs: the run's jobs from the BigQuery emulator's job list (jobs created since the run began),
  by kind: load, query (SELECT, CTAS), dml (MERGE/INSERT/UPDATE/DELETE); bq_jobs_per_million_lines;
- lookup_scans_per_run: query jobs that read the lookup table;
- e2e_lines_per_s: lines / wall time of the processor calls; cpu_lines_per_s: the CPU stage
  (bench/cpu.py) over the same lines in one file; e2e_cpu_ratio;
- stack_cpu: the CPU seconds each of the stack's processes spent during the measured calls
  (bench/stackcpu.py), their total, and the bound it sets on this machine: cpu_floor_s (total /
  cores), e2e_ceiling_lines_per_s and e2e_cpu_ratio_ceiling (what e2e_cpu_ratio could reach if every
  process's work overlapped perfectly);
- rss_growth_mib (cold): the processor's RSS, sampled from outside, peak minus the RSS before the
  first call (bench/e2e.py), which includes the client libraries the first call imports (once per
  instance); rss_growth_warm_mib: peak minus the RSS after a warm-up call, an ad hoc scope of the
  first --warmup-lines lines (its own directory, untimed, its jobs not counted). The memory target
  applies to the warm figure. --restart-processor restarts the stack's processor first, so that the
  cold figure is one of a fresh process; rss_timeline_mib: the processor's RSS each second;
- cost: bench/cost.py at 100k, 1M and 10M transcripts, every assumption listed: with the lookup
  snapshot pruned to the run's days (est_bq_usd_per_million) and reading the whole lookup
  (est_bq_usd_per_million_unpruned).
Targets (of the set-based write path) are printed with the figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sys
import uuid
from datetime import datetime
from pathlib import Path

from infra.local.layout import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "scale.json"
DEFAULT_DATA = REPO_ROOT / ".local" / "bench-data"
# The call dates on the key indexes: the days of the synthetic lookup rows' started_at (bench/synth.py),
# so the snapshot's window (a day before, two after) holds every one of them.
CALL_DATES = ("2026-01-01", "2026-01-28")
KEY_RE = re.compile(rb'"key"\s*:\s*"([^"\\]{1,4096})"')
TARGETS = {"bq_jobs_max": "3 per file + 10", "lookup_scans_per_run": 1, "usd_per_million_max": 0.25,
           "e2e_cpu_ratio_min": 0.5, "rss_growth_mib_max": 100, "rss_target_applies_to": "rss_growth_warm_mib"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=int(os.environ.get("SCALE_LINES", "100000")))
    parser.add_argument("--files", type=int, default=int(os.environ.get("SCALE_FILES", "8")))
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("SCALE_OUT", DEFAULT_OUT)))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warmup-lines", type=int, default=int(os.environ.get("SCALE_WARMUP_LINES", "200")),
                        help="lines of the warm-up call (an ad hoc scope before the run; 0: none)")
    parser.add_argument("--restart-processor", action="store_true",
                        help="restart the stack's processor first (a fresh process: a true cold base)")
    return parser.parse_args(argv)


def write_files(lines: int, files: int, directory: Path, seed: int) -> tuple[list[Path], Path, object]:
    """The prediction files (lines split in order), and the same lines as one file for the CPU stage."""
    from bench import synth

    config = synth.SynthConfig(size=10 ** 15, seed=seed)
    stats = synth.SynthStats()
    directory.mkdir(parents=True, exist_ok=True)
    per_file = -(-lines // files)
    parts = [directory / f"part-{k:05d}.jsonl" for k in range(files)]
    whole = directory / "whole.jsonl"
    generated = synth.iter_lines(config, stats)
    with open(whole, "wb") as out_all:
        for part in parts:
            block = list(itertools.islice(generated, per_file))
            data = b"".join(block)
            part.write_bytes(data)
            out_all.write(data)
    return parts, whole, (config, stats)


def key_index(data: bytes, shard: int) -> bytes:
    """The key index submit writes for a shard (shared/layout.py): {"row_id", "key",
    "phone_number_token", "interaction_id"} per request line."""
    import orjson

    from shared.keys import decode_key
    from shared.layout import row_id

    out = []
    for number, line in enumerate(data.splitlines(), start=1):
        match = KEY_RE.search(line)
        if match:
            key = match.group(1).decode()
            decoded = decode_key(key)
            out.append(orjson.dumps({"row_id": row_id(1, shard, number), "key": key,
                                     "phone_number_token": decoded.phone_token,
                                     "interaction_id": decoded.interaction_id}))
    return b"\n".join(out) + b"\n"


def upload_run(layout, run_id: str, parts: list[Path]) -> list[str]:
    """Each part as one job's output directory, with its shard's key index (its call dates those of
    every synthetic line, CALL_DATES); the directories."""
    from infra.local import provision
    from shared.layout import key_index_dates

    client = provision.storage_client(layout)
    dirs = []
    for shard, part in enumerate(parts):
        data = part.read_bytes()
        directory = f"runs/pass1/{run_id}/attempt-1/shard-{shard:05d}/prediction-model-bench"
        blob = client.bucket(layout.output_bucket).blob(f"{directory}/predictions.jsonl")
        blob.chunk_size = 8 * 1024 * 1024
        blob.upload_from_string(data, content_type="application/jsonl")
        index = client.bucket(layout.input_bucket).blob(f"runs/pass1/{run_id}/attempt-1/input-{shard:05d}.keys.jsonl")
        index.metadata = key_index_dates(*CALL_DATES, 0)  # as submit's plan gives them: the snapshot's window
        index.upload_from_string(key_index(data, shard), content_type="application/jsonl")
        dirs.append(f"gs://{layout.output_bucket}/{directory}")
    return dirs


def delete_run_objects(layout, run_id: str) -> None:
    """The run's objects, so that runs do not pile up in the in-memory Storage emulator (~300 MB a
    run, which slowed the runs after it): its prediction files and key indexes, the warm-up's
    directory, and what the processor staged for their files."""
    from bench.cpu import import_processor
    from infra.local import provision

    import_processor()
    from pass1_processor.checkpoint import file_doc_id
    from pass1_processor.staging import STAGING_FOLDER

    client = provision.storage_client(layout)
    output = client.bucket(layout.output_bucket)
    files = [b.name for prefix in (f"runs/pass1/{run_id}/", f"bench/{run_id}/")
             for b in client.list_blobs(output, prefix=prefix)]
    ids = {file_doc_id(f"gs://{layout.output_bucket}/{name}") for name in files}
    staged = [b for b in client.list_blobs(output, prefix=f"{STAGING_FOLDER}/")
              if b.name.split("/")[2].split("-")[0] in ids]
    for blob in [*(output.blob(n) for n in files), *staged,
                 *client.list_blobs(layout.input_bucket, prefix=f"runs/pass1/{run_id}/")]:
        blob.delete()


def upload_warmup(layout, run_id: str, part: Path, lines: int) -> str:
    """The first `lines` lines of a part as an ad hoc output directory of their own; its gs:// uri."""
    from infra.local import provision

    with open(part, "rb") as f:
        data = b"".join(itertools.islice(f, lines))
    directory = f"bench/{run_id}/warmup/prediction-model-bench"
    client = provision.storage_client(layout)
    client.bucket(layout.output_bucket).blob(f"{directory}/predictions.jsonl") \
        .upload_from_string(data, content_type="application/jsonl")
    return f"gs://{layout.output_bucket}/{directory}"


def make_run(layout, run_id: str, dirs: list[str]) -> None:
    from shared.clients import firestore_client
    from shared.jobstate import JobState, JobStore

    store = JobStore(firestore_client(), collection=layout.jobs_collection)  # the stack's env (StackSession)
    store.create_or_get(run_id, "pass1")
    store.ref(run_id, "pass1").update({
        "state": JobState.PENDING_PROCESSING, "output_dirs": dirs,
        "jobs": [{"name": f"projects/p/locations/l/batchPredictionJobs/{run_id}-{i}", "output_dir": d,
                  "attempt": 1} for i, d in enumerate(dirs)]})


def jobs_since(client, since: datetime, lookup_table: str) -> tuple[dict, int, int]:
    """({load, query, dml}, lookup scans, bytes processed) of the jobs created since `since`."""
    kinds = {"load": 0, "query": 0, "dml": 0}
    scans = processed = 0
    for job in client.list_jobs(min_creation_time=since, all_users=True):
        if job.job_type == "load":
            kinds["load"] += 1
        elif job.job_type == "query":
            statement = (getattr(job, "statement_type", None) or "").upper()
            kinds["dml" if statement in ("MERGE", "INSERT", "UPDATE", "DELETE") else "query"] += 1
            scans += lookup_table in (job.query or "")
            processed += int(job.total_bytes_processed or 0)
    return kinds, scans, processed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from bench import cost, e2e, report
    from bench.cli import run_worker
    from bench.stackcpu import StackCpu

    report.say(f"generating {args.lines} lines in {args.files} files...")
    work = args.data_dir / f"scale-{args.lines}-{args.files}-{args.seed}"
    parts, whole, (config, stats) = write_files(args.lines, args.files, work, args.seed)
    report.say("stage cpu (the same lines, one file)...")
    cpu = run_worker("cpu", whole, config)
    session = e2e.StackSession()
    run_id = f"scale{uuid.uuid4().hex[:8]}"
    tables = e2e.BenchTables(session.layout, run_id)
    try:
        report.say("seeding the lookup, uploading the run...")
        tables.seed_lookup(stats.lines, config)
        dirs = upload_run(session.layout, run_id, parts)
        make_run(session.layout, run_id, dirs)
        body = {"run_id": run_id, "batch_type": "pass1", "output_table": tables.names["out"],
                "lookup_table": tables.names["lookup"], "dead_letter_table": tables.names["dead"]}
        warmup = None
        if args.warmup_lines > 0:
            warmup = e2e.request_body(upload_warmup(session.layout, run_id, parts[0], args.warmup_lines), tables)
        if args.restart_processor:
            report.say("restarting the processor (a fresh process for the cold base)...")
            session.stack.stop("pass1_batch_processor")
            session.stack.start("pass1_batch_processor")
        report.say("processor over HTTP until the run completes" + (" (after a warm-up call)..." if warmup else "..."))
        meter = StackCpu(session.layout.dir / "pids")
        http = e2e.call_http(session.layout.env_vars()["PASS1_BATCH_PROCESSOR_URL"], body, session.processor_pid(),
                             warmup=warmup, meter=meter)
        kinds, scans, processed = jobs_since(tables.client, http["measured_since"], tables.names["lookup"])
        landed = tables.count("out", f"WHERE run_id = '{run_id}'")
    finally:
        tables.drop()
        delete_run_objects(session.layout, run_id)
        session.close()
    total_jobs = sum(kinds.values())
    e2e_rate = stats.lines / http["seconds"]
    cpu_rate = cpu["counts"]["lines"] / cpu["seconds"]
    model = cost.model()
    result = {
        "lines": stats.lines, "files": args.files, "bytes": sum(p.stat().st_size for p in parts),
        "bq_jobs": kinds, "bq_jobs_total": total_jobs, "bq_jobs_limit": 3 * args.files + 10,
        "bq_jobs_per_million_lines": round(total_jobs / stats.lines * 1_000_000, 1),
        "bq_jobs_by_processor": http.get("bigquery_jobs"), "bytes_processed_emulator": processed,
        "lookup_scans_per_run": scans,
        "e2e_lines_per_s": round(e2e_rate, 1), "cpu_lines_per_s": round(cpu_rate, 1),
        "e2e_cpu_ratio": round(e2e_rate / cpu_rate, 3),
        "stack_cpu": meter.report(stats.lines, http["seconds"], cpu_rate),
        "rss_growth_mib": round(http["rss_growth_mib"], 1),
        "rss_growth_warm_mib": _round(http.get("rss_growth_warm_mib")),
        "rss_base_mib": round(http["rss_base_mib"], 1), "rss_warm_base_mib": _round(http.get("rss_warm_base_mib")),
        "rss_peak_mib": round(http["rss_peak_mib"], 1), "warmup_lines": args.warmup_lines if warmup else 0,
        "processor_restarted": args.restart_processor,
        "cpu_rss_growth_mib": round(cpu["rss_growth_mib"], 1),
        "http": {k: http[k] for k in ("seconds", "calls", "status", "processed_records", "inserted_rows",
                                      "failed_records", "duplicate_records", "unmatched_records")},
        "rows_in_bigquery": landed,
        "cost_model": model,
        "est_bq_usd": {size: m["est_bq_usd"] for size, m in model["sizes"].items()},
        "est_bq_usd_per_million": {size: m["usd_per_million"] for size, m in model["sizes"].items()},
        "est_bq_usd_per_million_unpruned": {size: m["usd_per_million_unpruned"] for size, m in model["sizes"].items()},
        "targets": TARGETS,
        "rss_timeline_mib": http["rss_timeline_mib"],
    }
    print(json.dumps({k: v for k, v in result.items() if k not in ("cost_model", "rss_timeline_mib")}, indent=2))
    report.say(f"processor RSS growth: cold {result['rss_growth_mib']} MiB (from before any call, client imports "
               f"included), warm {result['rss_growth_warm_mib']} MiB (from after the warm-up; the target, "
               f"<= {TARGETS['rss_growth_mib_max']} MiB, applies to this one)")
    print("cost model assumptions:")
    for name, value in model["assumptions"].items():
        print(f"  {name} = {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    report.say(f"figures written to {args.out}")
    return 0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


if __name__ == "__main__":
    sys.exit(main())
