"""Stage 5, submit_batch at scale on the local stack: records per second from the source query to
JSONL in Storage, and the calls a 100k, 1M and 10M-transcript run needs at the default time budget.

N transcripts from tools/sample_data/ (800-3,500 characters, as the demo's) are loaded into a table
of their own (bench_<id>_transcripts: the transcripts schema and options, partitioned by call_date),
and one submit call of the function's own code (batch_submit.service.submit_new, run in this process
against the emulators) plans, writes every shard and creates every job, with an unlimited budget.
Timers around its steps give:
- plan_seconds: the plan query (CREATE TABLE AS SELECT into the scratch dataset) and the bucket sums;
- write_seconds: every shard read back from the plan table, built and streamed to Storage;
- job_seconds: the Vertex emulator's job creations (and their records in Firestore).
records_per_s = records / (plan_seconds + write_seconds): source query to JSONL in Storage.

The larger runs are EXTRAPOLATED from this measured run, never measured: shards of the measured plan's
bytes per record (within 200,000 requests and 1 GB each), each taking its records at the measured
write rate plus the measured job time; the plan grows linearly with the records at the measured plan
rate (a call waits for the plan job until its budget ends, the next call waits for the same job);
then the calls are laid out as batch_submit.sharded.Budget does (a call's first shard starts while at
most half the budget is gone, a later one when the longest shard of the call would still end within
the budget). Real BigQuery plans and reads are not
the emulator's: the figures are of this machine and this stack.
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from collections import defaultdict

DEFAULT_RECORDS = 20_000
TARGETS = (100_000, 1_000_000, 10_000_000)
FUNCTION_TIMEOUT_SECONDS = 540.0
# Shards of the measured run: small enough for several shards (several plan reads and jobs).
BENCH_MAX_REQUESTS_PER_JOB = 5_000
DAY = "2026-01-15"


class Timers:
    """Seconds spent in wrapped functions (module attributes replaced for the run, then restored)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._undo = []

    def wrap(self, owner, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        setattr(owner, attribute, timed)
        self._undo.append((owner, attribute, original))

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)
        self._undo.clear()


def load_transcripts(layout, table: str, records: int) -> float:
    """The bench's own transcripts table, filled with `records` sample transcripts; seconds taken."""
    from infra.local import provision
    from tools.sample_data import SampleConfig, generate
    from tools.sample_data.writers import BigQueryLoader, load_schema

    client = provision.bigquery_client(layout)
    ref = f"{layout.project}.{layout.dataset}.{table}"
    client.create_table(provision.new_table(ref, provision.SCHEMA_DIR / "transcripts.json"), exists_ok=True)
    start = time.perf_counter()
    loader = BigQueryLoader(ref, load_schema("transcripts"), client)
    for interaction in generate(records, SampleConfig(seed=13, days=1)):
        loader.write({**interaction.transcript, "call_date": DAY})
    loader.close()
    return time.perf_counter() - start


def _import_submit() -> None:
    """batch_submit is deployed beside its main.py: put its folder on the path, as the function's."""
    import sys

    from infra.local.layout import REPO_ROOT

    folder = str(REPO_ROOT / "functions" / "submit_batch")
    if folder not in sys.path:
        sys.path.insert(0, folder)


def measure(layout, records: int) -> dict:
    """One submit of `records` transcripts; the measured figures."""
    _import_submit()
    from batch_submit import plan as planner
    from batch_submit import service, sharded
    from batch_submit.config import SubmitConfig
    from batch_submit.jobs import JobCreator
    from batch_submit.request import parse_submit
    from infra.local import provision
    from shared.config import Settings
    from shared.logs import Logger

    run = uuid.uuid4().hex[:8]
    table = f"bench_{run}_transcripts"
    load_seconds = load_transcripts(layout, table, records)
    settings = Settings.from_env()
    config = dataclasses.replace(SubmitConfig.from_env(), time_budget_seconds=1e9)
    body = {"run_id": f"bench-submit-{run}", "batch_type": "pass1", "max_requests_per_job": BENCH_MAX_REQUESTS_PER_JOB,
            "source": {"table": f"{layout.dataset}.{table}", "date_from": DAY, "date_to": DAY}}
    req = parse_submit(body, settings, config)
    deps = service._deps(settings, config, req, Logger(stream=_Discard()))
    timers = Timers()
    timers.wrap(planner, "start_plan", "plan")
    timers.wrap(planner, "wait_plan", "plan")
    timers.wrap(planner, "bucket_sums", "plan")
    timers.wrap(sharded, "_write_shard", "write")
    timers.wrap(JobCreator, "job_for", "jobs")
    start = time.perf_counter()
    try:
        answer = service.submit_new(deps, req, owner=f"bench-{run}")
    finally:
        timers.restore()
        provision.bigquery_client(layout).delete_table(f"{layout.project}.{layout.dataset}.{table}", not_found_ok=True)
    wall = time.perf_counter() - start
    record = deps.store.require(req.run_id, req.batch_type)
    shards = record["submission"]["shards"]
    written = record["submission"]["written"]
    plan_s, write_s, job_s = timers.seconds["plan"], timers.seconds["write"], timers.seconds["jobs"]
    return {
        "records": records, "requests": answer["requests"], "skipped_records": answer["skipped_records"],
        "shards": len(shards), "load_seconds": round(load_seconds, 3), "call_seconds": round(wall, 3),
        "plan_seconds": round(plan_s, 3), "write_seconds": round(write_s, 3), "job_seconds": round(job_s, 3),
        "records_per_s": records / (plan_s + write_s),
        "write_records_per_s": records / write_s, "plan_records_per_s": records / plan_s,
        "job_seconds_per_shard": job_s / max(1, len(answer["jobs"])),
        "estimated_bytes_per_record": sum(s["bytes"] for s in shards) / max(1, sum(s["rows"] for s in shards)),
        "written_bytes_per_request": sum(w["bytes"] for w in written) / max(1, answer["requests"]),
    }


def extrapolate(measured: dict, records: int, budget: float, max_requests: int = 200_000,
                max_bytes: int = 1_000_000_000) -> dict:
    """The calls a run of `records` needs (see the module docstring: extrapolated, not measured)."""
    per_shard = min(max_requests, int(max_bytes // measured["estimated_bytes_per_record"]))
    shards = math.ceil(records / per_shard)
    shard_seconds = [min(per_shard, records - i * per_shard) / measured["write_records_per_s"]
                     + measured["job_seconds_per_shard"] for i in range(shards)]
    plan_seconds = records / measured["plan_records_per_s"]
    calls, longest_call, done = 0, 0.0, 0
    plan_left = plan_seconds
    while done < shards:
        calls += 1
        # A call waits for the plan job until its budget ends (the next call waits for the same job).
        elapsed = min(plan_left, budget)
        plan_left -= elapsed
        longest = 0.0
        started = 0
        while (plan_left <= 0 and done < shards
               and (elapsed <= budget / 2 if started == 0 else elapsed + longest <= budget)):
            elapsed += shard_seconds[done]
            longest = max(longest, shard_seconds[done])
            done += 1
            started += 1
        longest_call = max(longest_call, elapsed)
    return {"records": records, "shards": shards, "requests_per_shard": per_shard, "calls": calls,
            "plan_seconds": round(plan_seconds, 1), "shard_seconds": round(max(shard_seconds), 1),
            "longest_call_seconds": round(longest_call, 1),
            "within_timeout": longest_call <= FUNCTION_TIMEOUT_SECONDS, "extrapolated": True}


def run(layout, records: int = DEFAULT_RECORDS) -> dict:
    """The stage's figures: the measured run and the extrapolated targets."""
    _import_submit()
    from batch_submit.config import DEFAULT_SUBMIT_TIME_BUDGET_SECONDS

    measured = measure(layout, records)
    targets = {str(n): extrapolate(measured, n, DEFAULT_SUBMIT_TIME_BUDGET_SECONDS) for n in TARGETS}
    return {"measured": measured, "budget_seconds": DEFAULT_SUBMIT_TIME_BUDGET_SECONDS,
            "function_timeout_seconds": FUNCTION_TIMEOUT_SECONDS, "targets": targets}


def table(figures: dict) -> str:
    """The human view of the stage."""
    m = figures["measured"]
    lines = [f"submit_batch: {m['records']:,} records measured in {m['shards']} shards: "
             f"{m['records_per_s']:,.0f} records/s source query -> JSONL in Storage "
             f"(plan {m['plan_seconds']:.1f} s, write {m['write_seconds']:.1f} s, jobs {m['job_seconds']:.1f} s)",
             f"{'records':>12} {'shards':>7} {'calls':>6} {'longest call s':>15} {'within 540 s':>13}  (extrapolated)"]
    for target in figures["targets"].values():
        lines.append(f"{target['records']:>12,} {target['shards']:>7} {target['calls']:>6} "
                     f"{target['longest_call_seconds']:>15,.1f} {str(target['within_timeout']):>13}")
    return "\n".join(lines)


class _Discard:
    """A log stream that drops the lines (the bench prints its own figures)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass
