"""The sample data generator: determinism, shapes, knob shares, streaming, and loads into the
local BigQuery and Storage emulators (tests that ask for a client fixture start the stack)."""

from __future__ import annotations

import json
import re
import tracemalloc
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime
from itertools import islice
from pathlib import Path

import pytest

from tools.sample_data import SampleConfig, generate
from tools.sample_data.cli import main as cli_main
from tools.sample_data.writers import BigQueryLoader, JsonlWriter, load_schema

SCHEMAS = Path(__file__).resolve().parents[1] / "infra" / "schemas"
TOKEN = re.compile(r"^tok_[0-9a-f]{24}$")
INTERACTION_ID = re.compile(r"^INT-\d{8}-\d{6,}$")
# What a value of each BigQuery type must be in a JSON row: a check per type.
TYPE_CHECKS = {
    "STRING": lambda v: isinstance(v, str),
    "DATE": lambda v: isinstance(v, str) and date.fromisoformat(v) is not None,
    "TIMESTAMP": lambda v: isinstance(v, str) and datetime.fromisoformat(v).utcoffset().total_seconds() == 0,
    "INT64": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


def _items(n=3000, **knobs):
    return list(generate(n, SampleConfig(seed=11, **knobs)))


def _check_schema(row: dict, schema_name: str) -> None:
    fields = json.loads((SCHEMAS / f"{schema_name}.json").read_text())
    assert set(row) == {f["name"] for f in fields}
    for f in fields:
        value = row[f["name"]]
        if value is None:
            assert f["mode"] != "REQUIRED", f["name"]
            continue
        assert TYPE_CHECKS[f["type"]](value), (f["name"], value)


def test_same_seed_and_size_give_the_same_rows():
    first = _items(500, orphan_lookup_share=0.05)
    assert first == _items(500, orphan_lookup_share=0.05)
    other = list(generate(500, SampleConfig(seed=12, orphan_lookup_share=0.05)))
    assert [i.transcript for i in other] != [i.transcript for i in first]


def test_rows_conform_to_the_schema_files():
    items = _items(2000, orphan_lookup_share=0.05, empty_share=0.01)
    for item in items:
        t = item.transcript
        _check_schema(t, "transcripts")
        assert TOKEN.match(t["phone_number_token"]) and INTERACTION_ID.match(t["interaction_id"])
        assert t["interaction_id"].startswith("INT-" + t["call_date"].replace("-", ""))
        for row in item.lookups:
            _check_schema(row, "interaction_lookup")
            assert TOKEN.match(row["phone_number_token"]) and INTERACTION_ID.match(row["interaction_id"])
        if item.matched:
            own = item.lookups[0]
            assert (own["interaction_id"], own["phone_number_token"]) == (t["interaction_id"],
                                                                          t["phone_number_token"])
            assert own["started_at"][:10] == t["call_date"]
    ids = [i.transcript["interaction_id"] for i in items] + [r["interaction_id"] for i in items
                                                              for r in i.lookups[i.matched:]]
    assert len(set(ids)) == len(ids), "interaction ids are unique across transcripts and orphan rows"


def test_transcripts_are_dialogues_within_the_length_bounds():
    for min_chars, max_chars in ((800, 3500), (300, 900), (4000, 9000)):
        items = _items(600, min_chars=min_chars, max_chars=max_chars)
        lengths = [len(i.transcript["transcript"]) for i in items]
        assert min(lengths) >= min_chars and max(lengths) <= max_chars, (min_chars, max_chars)
        assert max(lengths) - min(lengths) > (max_chars - min_chars) / 3, "lengths vary"
    for item in _items(200):
        lines = item.transcript["transcript"].split("\n")
        assert all(line.startswith(("Agent: ", "Customer: ")) for line in lines)
        assert {line.split(":")[0] for line in lines} == {"Agent", "Customer"}
        assert not re.search(r"[{}]|%\(", item.transcript["transcript"]), "every placeholder was filled"


def test_default_knob_shares_are_within_tolerance():
    items = _items(5000)
    unmatched = sum(not i.matched for i in items) / len(items)
    assert 0.02 <= unmatched <= 0.04
    assert all(len(i.lookups) == (1 if i.matched else 0) for i in items), "no orphans by default"
    calls = Counter(i.transcript["phone_number_token"] for i in items)
    repeat_share = sum(c > 1 for c in calls.values()) / len(calls)
    assert 0.12 <= repeat_share <= 0.18
    lookups_per_token = Counter(r["phone_number_token"] for i in items for r in i.lookups)
    assert sum(c > 1 for c in lookups_per_token.values()) > 0.1 * len(lookups_per_token)
    assert not any(i.kind != "normal" for i in items)


def test_configured_knob_shares_are_within_tolerance():
    items = _items(5000, unmatched_share=0.2, repeat_caller_share=0.4, orphan_lookup_share=0.1,
                   empty_share=0.05, oversized_share=0.02, oversized_chars=20_000)
    n = len(items)
    assert 0.17 <= sum(not i.matched for i in items) / n <= 0.23
    assert 0.08 <= sum(len(i.lookups) - i.matched for i in items) / n <= 0.12
    calls = Counter(i.transcript["phone_number_token"] for i in items)
    assert 0.35 <= sum(c > 1 for c in calls.values()) / len(calls) <= 0.45
    kinds = Counter(i.kind for i in items)
    assert 0.04 <= kinds["empty"] / n <= 0.06 and 0.01 <= kinds["oversized"] / n <= 0.03
    for item in items:
        text = item.transcript["transcript"]
        if item.kind == "empty":
            assert text == ""
        elif item.kind == "oversized":
            assert 19_000 < len(text) <= 20_000
        else:
            assert 800 <= len(text) <= 3500


def test_orphan_lookup_rows_have_no_transcript():
    items = _items(2000, orphan_lookup_share=0.1)
    transcript_ids = {i.transcript["interaction_id"] for i in items}
    orphans = [r for i in items for r in i.lookups[i.matched:]]
    assert orphans and not any(r["interaction_id"] in transcript_ids for r in orphans)
    tokens = {i.transcript["phone_number_token"] for i in items}
    shared = sum(r["phone_number_token"] in tokens for r in orphans) / len(orphans)
    assert 0.3 < shared < 0.7, "about half the orphans sit on a token that has transcripts"


def test_repeat_callers_are_the_same_customer_calling_later():
    items = _items(3000)
    by_token = defaultdict(list)
    for item in items:
        by_token[item.transcript["phone_number_token"]].append(item)
    repeats = [calls for calls in by_token.values() if len(calls) > 1]
    assert repeats
    for calls in repeats:
        assert [c.call_index for c in calls] == list(range(1, len(calls) + 1))
        dates = [c.transcript["call_date"] for c in calls]
        assert dates == sorted(dates) and len(set(dates)) == len(dates)
        segments = {r["customer_segment"] for c in calls for r in c.lookups}
        assert len(segments) <= 1


def test_a_keyword_model_reads_varied_analyses():
    """The Vertex emulator's model must find every intent, sentiment and resolution in the data."""
    from infra.local.vertex_emulator.model import analyse

    analyses = [analyse(i.transcript["transcript"]) for i in _items(1500)]
    for field, expected in (("customer_intent", {"billing_dispute", "cancellation", "technical_support",
                                                 "plan_upgrade", "general_inquiry"}),
                            ("sentiment", {"positive", "neutral", "negative"}),
                            ("resolution_status", {"resolved", "unresolved", "escalated"})):
        counts = Counter(a[field] for a in analyses)
        assert set(counts) == expected, field
        assert min(counts.values()) >= 0.04 * len(analyses), (field, counts)


def test_generation_streams_without_building_the_rows():
    rows = generate(10_000_000, SampleConfig(seed=1))
    assert iter(rows) is rows, "a generator, not a list"
    tracemalloc.start()
    try:
        first = list(islice(rows, 100))
        before, _ = tracemalloc.get_traced_memory()
        for _ in islice(rows, 5000):
            pass
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(first) == 100
    # 5,000 more rows of ~2 KB each would be ~10 MB if kept; the generator's state stays small.
    assert after - before < 1_000_000 and peak - before < 2_000_000


def test_prefix_of_a_long_run_is_stable():
    short = list(generate(200, SampleConfig(seed=5, repeat_caller_share=0.0)))
    long = list(islice(generate(10_000_000, SampleConfig(seed=5, repeat_caller_share=0.0)), 200))
    assert short == long


def test_bad_knobs_are_refused():
    for knobs in ({"unmatched_share": 1.5}, {"min_chars": 500, "max_chars": 100},
                  {"oversized_chars": 1000}, {"empty_share": 0.7, "oversized_share": 0.7}):
        with pytest.raises(ValueError):
            SampleConfig(**knobs)
    with pytest.raises(ValueError):
        next(generate(-1))


def test_jsonl_file_round_trips(tmp_path):
    items = _items(300)
    path = tmp_path / "sub" / "t.jsonl"
    with JsonlWriter(str(path)) as writer:
        for item in items:
            writer.write(item.transcript)
    lines = path.read_bytes().splitlines()
    assert [json.loads(line) for line in lines] == [i.transcript for i in items]
    assert writer.bytes == path.stat().st_size and writer.rows == 300


def test_cli_writes_jsonl_and_prints_a_summary(tmp_path, capsys):
    out, lookups = tmp_path / "t.jsonl", tmp_path / "l.jsonl"
    code = cli_main(["--rows", "400", "--seed", "3", "--jsonl", str(out), "--lookup-jsonl", str(lookups),
                     "--unmatched-share", "0.1", "--orphan-lookup-share", "0.05"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    expected = list(generate(400, SampleConfig(seed=3, unmatched_share=0.1, orphan_lookup_share=0.05)))
    assert summary["rows"] == 400
    assert summary["unmatched"] == sum(not i.matched for i in expected)
    assert summary["lookup_rows"] == sum(len(i.lookups) for i in expected) == len(lookups.read_text().splitlines())
    assert summary["repeat_callers"] == sum(i.call_index == 2 for i in expected)
    assert summary["outputs"][str(out)] == {"rows": 400, "bytes": out.stat().st_size}
    assert [json.loads(line) for line in out.read_text().splitlines()] == [i.transcript for i in expected]


def test_cli_refuses_bad_knobs(capsys):
    assert cli_main(["--rows", "10", "--unmatched-share", "2"]) == 2
    assert "unmatched_share" in capsys.readouterr().err


def test_jsonl_to_cloud_storage(stack, storage_client):
    items = _items(1500)
    uri = f"gs://{stack['INPUT_BUCKET']}/samples/transcripts.jsonl"
    chunk = 256 * 1024
    with JsonlWriter(uri, storage_client, chunk_bytes=chunk) as writer:
        for item in items:
            writer.write(item.transcript)
    assert writer.bytes > 8 * chunk, "a resumable upload of several chunks"
    blob = storage_client.bucket(stack["INPUT_BUCKET"]).blob("samples/transcripts.jsonl")
    with blob.open("rb") as f:
        rows = [json.loads(line) for line in f]
    assert rows == [i.transcript for i in items]


def test_load_into_bigquery_then_join(stack, bigquery_client):
    config = dict(unmatched_share=0.05, repeat_caller_share=0.2, orphan_lookup_share=0.03, empty_share=0.01)
    items = _items(2500, **config)
    dataset = f"{bigquery_client.project}.{stack['BQ_DATASET']}"
    t_table, l_table = f"{dataset}.{stack['TRANSCRIPTS_TABLE']}", f"{dataset}.{stack['LOOKUP_TABLE']}"
    transcripts = BigQueryLoader(t_table, load_schema("transcripts"), bigquery_client, batch_rows=1000)
    lookups = BigQueryLoader(l_table, load_schema("interaction_lookup"), bigquery_client, batch_rows=1000)
    for item in items:
        transcripts.write(item.transcript)
        for row in item.lookups:
            lookups.write(row)
    transcripts.close()
    lookups.close()
    assert len(transcripts.jobs) == 3

    def one(sql):
        return list(bigquery_client.query(sql).result())[0]

    n_lookups = sum(len(i.lookups) for i in items)
    assert one(f"SELECT COUNT(*) AS n FROM `{t_table}`").n == 2500
    assert one(f"SELECT COUNT(*) AS n FROM `{l_table}`").n == n_lookups
    joined = one(f"""
        SELECT COUNTIF(l.interaction_id IS NOT NULL) AS matched, COUNTIF(l.interaction_id IS NULL) AS unmatched,
               COUNT(DISTINCT t.phone_number_token) AS tokens
        FROM `{t_table}` t LEFT JOIN `{l_table}` l
          ON l.interaction_id = t.interaction_id AND l.phone_number_token = t.phone_number_token""")
    assert joined.matched == sum(i.matched for i in items)
    assert joined.unmatched == sum(not i.matched for i in items)
    assert joined.tokens == len({i.transcript["phone_number_token"] for i in items})
    repeat = one(f"""SELECT COUNT(*) AS n FROM (SELECT phone_number_token FROM `{t_table}`
                     GROUP BY phone_number_token HAVING COUNT(*) > 1)""")
    assert repeat.n == sum(i.call_index == 2 for i in items)
    sample = items[7].transcript
    row = one(f"""SELECT transcript, call_date, language FROM `{t_table}`
                  WHERE interaction_id = '{sample['interaction_id']}'""")
    assert (row.transcript, row.call_date.isoformat(), row.language) == (
        sample["transcript"], sample["call_date"], sample["language"])


def test_a_load_submitted_twice_loads_once(stack, bigquery_client):
    """A retry after a lost answer reuses the batch's job id: BigQuery answers 409 and the loader
    waits for the job that already ran instead of loading the rows again."""
    table = f"{bigquery_client.project}.{stack['BQ_DATASET']}.{stack['TRANSCRIPTS_TABLE']}"
    loader = BigQueryLoader(table, load_schema("transcripts"), bigquery_client)
    payload = b"".join(json.dumps(i.transcript).encode() + b"\n" for i in _items(50))
    job_id = f"sample_data_test_same_job_{uuid.uuid4().hex}"  # the emulator keeps job ids across tests
    loader._load_once(payload, job_id)
    loader._load_once(payload, job_id)
    count = list(bigquery_client.query(f"SELECT COUNT(*) AS n FROM `{table}`").result())[0].n
    assert count == 50


def test_cli_fills_the_stack(stack, bigquery_client, storage_client, capsys):
    uri = f"gs://{stack['INPUT_BUCKET']}/samples/cli.jsonl"
    args = ["--rows", "700", "--seed", "9", "--gcs-uri", uri, "--bq-dataset", stack["BQ_DATASET"],
            "--replace", "--batch-rows", "300"]
    for _ in range(2):  # --replace: the second run leaves the same rows, not twice as many
        assert cli_main(args) == 0
        summary = json.loads(capsys.readouterr().out)
    dataset = f"{bigquery_client.project}.{stack['BQ_DATASET']}"
    t_table, l_table = f"{dataset}.{stack['TRANSCRIPTS_TABLE']}", f"{dataset}.{stack['LOOKUP_TABLE']}"
    assert summary["outputs"][t_table] == {"rows": 700, "load_jobs": 3}
    assert summary["outputs"][uri]["rows"] == 700
    for table, expected in ((t_table, 700), (l_table, summary["lookup_rows"])):
        count = list(bigquery_client.query(f"SELECT COUNT(*) AS n FROM `{table}`").result())[0].n
        assert count == expected, table
    blob = storage_client.bucket(stack["INPUT_BUCKET"]).blob("samples/cli.jsonl")
    assert len(blob.download_as_bytes().splitlines()) == 700


def test_output_does_not_depend_on_the_process(tmp_path):
    """Same seed and size in two processes with different hash seeds: the same bytes."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"run{hash_seed}.jsonl"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)}
        subprocess.run([sys.executable, "-m", "tools.sample_data", "--rows", "300", "--seed", "4",
                        "--jsonl", str(out), "--lookup-jsonl", str(out) + ".lookup"],
                       check=True, cwd=root, env=env, capture_output=True)
        outputs.append((out.read_bytes(), Path(str(out) + ".lookup").read_bytes()))
    assert outputs[0] == outputs[1] and outputs[0][0]
