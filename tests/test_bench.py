"""Smoke test of the benchmark (bench/): a 1 MB run of every stage, the local stack included, and
the JSON it writes. No timing is asserted: only that every figure is there and consistent."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import orjson
import pytest

from infra.local.layout import REPO_ROOT
from shared.keys import decode_key

REQUIRED = ("floor_lines_per_s", "naive_lines_per_s", "cpu_lines_per_s", "e2e_lines_per_s", "ratio_floor",
            "ratio_naive", "rss_growth_mib", "import_seconds", "machine")
FUNCTIONS = {"submit_batch", "poll_status", "pass1_batch_processor"}


@pytest.fixture(scope="module")
def bench_run(stack, tmp_path_factory):
    """One `python -m bench` at 1 MB against the test stack; (summary JSON, stdout)."""
    work = tmp_path_factory.mktemp("bench")
    out = work / "latest.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--sizes", "1", "--out", str(out), "--data-dir",
                           str(work / "data"), "--import-repeats", "1", "--rounds", "2", "--submit-records", "300"],
                          cwd=REPO_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout, work / "data"


def test_summary_has_every_required_key_with_sane_values(bench_run):
    summary, _, _ = bench_run
    assert set(REQUIRED) <= set(summary)
    for key in ("floor_lines_per_s", "naive_lines_per_s", "cpu_lines_per_s", "e2e_lines_per_s"):
        assert isinstance(summary[key], float) and summary[key] > 0, key
    assert summary["ratio_floor"] == pytest.approx(summary["cpu_lines_per_s"] / summary["floor_lines_per_s"])
    assert summary["ratio_naive"] == pytest.approx(summary["cpu_lines_per_s"] / summary["naive_lines_per_s"])
    assert summary["ratio_floor_naive"] == pytest.approx(summary["floor_lines_per_s"] / summary["naive_lines_per_s"])
    for stage in ("floor", "naive", "cpu"):  # two interleaved rounds, the faster kept
        run = summary["runs"]["1"][stage]
        assert run["rounds"] == 2 and run["seconds"] == min(run["round_seconds"]), run
    assert list(summary["rss_growth_mib"]) == ["1"]
    assert 0 <= summary["rss_growth_mib"]["1"] < 1024
    assert set(summary["import_seconds"]) == FUNCTIONS
    assert all(0 < seconds < 60 for seconds in summary["import_seconds"].values())
    machine = summary["machine"]
    assert machine["cores"] == os.cpu_count()
    assert machine["memory_mib"] > 0
    assert machine["python"] == platform.python_version()


def test_every_stage_read_every_line_and_the_processor_counts_agree(bench_run):
    summary, _, _ = bench_run
    run = summary["runs"]["1"]
    lines = run["file"]["lines"]
    assert 1_000_000 <= run["file"]["bytes"] < 1_000_000 + 8192  # stops at the first line past 1 MB
    assert run["floor"]["counts"]["lines"] == lines
    assert run["naive"]["counts"]["lines"] == lines
    cpu, http = run["cpu"]["counts"], run["e2e"]["http"]
    assert cpu["lines"] == lines
    # The CPU stage stages every record (dedupe and enrichment are the MERGE's, in BigQuery).
    assert cpu["failed"] + cpu["pending"] == lines
    assert cpu["failed"] > 0 and cpu["row_bytes"] > 0 and cpu["staged_objects"] > 0
    # The same file through the real stack: the staged records inserted or found duplicate, the
    # same dead letters, and the rows are in BigQuery.
    assert http["status"] == "success" and http["pending_records"] == 0
    assert (http["processed_records"], http["failed_records"]) == (lines, cpu["failed"])
    assert http["inserted_rows"] + http["duplicate_records"] == cpu["pending"]
    assert http["duplicate_records"] > 0 and http["repaired_records"] > 0
    assert run["e2e"]["rows_in_bigquery"] == http["inserted_rows"]
    assert run["e2e"]["split"]["inserted_rows"] == http["inserted_rows"]
    assert {"download", "extract", "stage_objects", "file_merge", "bq_load", "checkpoint"} <= set(
        run["e2e"]["split"]["busy_seconds"])


def test_the_submit_stage_measures_a_run_and_extrapolates_the_large_ones(bench_run):
    summary, stdout, _ = bench_run
    figures = summary["submit"]
    measured = figures["measured"]
    assert measured["records"] == 300 and measured["requests"] + measured["skipped_records"] == 300
    assert summary["submit_records_per_s"] == measured["records_per_s"] > 0
    assert set(figures["targets"]) == {"100000", "1000000", "10000000"}
    ten_million = figures["targets"]["10000000"]
    assert ten_million["extrapolated"] is True and 50 <= ten_million["shards"] <= 60
    assert ten_million["calls"] >= 1 and isinstance(ten_million["within_timeout"], bool)
    assert "submit_batch:" in stdout and "(extrapolated)" in stdout


def test_table_is_printed(bench_run):
    _, stdout, _ = bench_run
    for stage in ("floor", "naive", "cpu", "e2e"):
        assert f"       1 {stage}" in stdout
    assert "cpu/floor" in stdout and "cold import pass1_batch_processor" in stdout


def test_generated_lines_are_real_prediction_lines_of_2_to_4_kb(bench_run):
    _, _, data = bench_run
    (path,) = data.glob("predictions-*.jsonl")
    kinds = {"response": 0, "failed": 0, "broken": 0}
    for raw in path.read_bytes().splitlines():
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            kinds["broken"] += 1
            continue
        assert 2000 <= len(raw) <= 4200
        decode_key(line["key"])
        assert line["request"]["contents"][0]["role"] == "user"
        if "response" in line:
            kinds["response"] += 1
            assert line["response"]["candidates"][0]["finishReason"]
        else:
            kinds["failed"] += 1
            assert line["status"]
    assert kinds["response"] > 0.9 * sum(kinds.values()) and kinds["failed"] > 0
