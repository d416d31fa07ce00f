"""Output layout and size: several shards (other files ignored, a stable order), a file far larger
than the chunk size, and chunks shrinking under memory pressure."""

from __future__ import annotations

import math
from collections import Counter

from tests.processor.http_checks import assert_landed, inputs
from tests.processor.lines import failed, jsonl, many


def test_every_shard_once_in_name_order_and_nothing_else(proc, vertex_job, put, rows):
    """A job writing shards of 3 rows: every prediction*.jsonl is processed, in name order, on
    every call; other files in the directory and a sibling directory sharing its prefix are not."""
    n = 11
    out_dir, _ = vertex_job(inputs(n), rows_per_file=3)
    decoys = jsonl(many(4, prefix="decoy"))
    put(f"{out_dir}/notes.txt", decoys)
    put(f"{out_dir}/prediction.json", decoys)
    put(f"{out_dir}/retry/keys-0000.jsonl", decoys)
    put(f"{out_dir}-other/predictions.jsonl", decoys)
    body = {"output_info": {"gcsOutputDirectory": out_dir}, "chunk_size": 2}
    status, answer = proc(body)
    assert status == 200 and answer["status"] == "success", answer
    shards = [f"{out_dir}/predictions_{i:05d}.jsonl" for i in range(1, math.ceil(n / 3) + 1)]
    assert answer["files"] == shards
    assert answer["processed_records"] == answer["inserted_rows"] == n
    out, _ = assert_landed(rows, answer)
    assert sorted(r["phone_number_token"] for r in out) == sorted(f"tok{i}" for i in range(n))
    assert Counter(r["source_uri"] for r in out) == {uri: 3 for uri in shards[:-1]} | {shards[-1]: n % 3}
    # The order is the same on the next call (a completed scope; nothing new is written).
    status, again = proc(body)
    assert status == 200 and again["files"] == shards and again["inserted_rows"] == n
    assert len(rows("pass1_analysis")) == n


def test_file_far_larger_than_chunk_size(proc, put, out_dir, rows):
    """9 chunks of 9 lines in one call: every line lands once, the counts add up across chunks,
    blank lines are not records."""
    lines = many(80)
    for i in range(9, 80, 10):  # every tenth line is a row Vertex failed
        lines[i] = failed(f"tok{i}", f"INT-{i}", i=i)
    lines.insert(40, "")  # a blank line in the middle
    put(f"{out_dir}/predictions.jsonl", jsonl(lines))
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}, "chunk_size": 9})
    assert status == 200 and answer["status"] == "success", answer
    assert answer["chunks"] == math.ceil(81 / 9)
    assert (answer["processed_records"], answer["inserted_rows"], answer["failed_records"],
            answer["retry_requests"]) == (80, 72, 8, 8)
    out, dead = assert_landed(rows, answer)
    numbered = [(number, line) for number, line in enumerate(lines, start=1) if line != ""]
    assert [r["line_number"] for r in out] == [n for n, line in numbered if "response" in line]
    assert [d["line_number"] for d in dead] == [n for n, line in numbered if "response" not in line]
    assert {d["reason"] for d in dead} == {"model_error"}


def test_chunks_shrink_under_memory_pressure(proc, put, out_dir, rows, restart_processor):
    """Above the memory threshold the chunk size halves (down to 10 lines) and work goes on; the
    rows are exactly the same."""
    restart_processor(PROCESSOR_MEMORY_LIMIT_MB="64")  # the process alone uses more than half of it
    put(f"{out_dir}/predictions.jsonl", jsonl(many(50)))
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}, "chunk_size": 40,
                           "memory_threshold_percent": 50})
    assert status == 200 and answer["status"] == "success", answer
    memory = answer["memory"]
    assert memory["limit_mb"] == 64 and memory["chunk_shrinks"] == 2 and memory["final_chunk_size"] == 10
    assert answer["chunks"] == 1 + 1 + math.ceil((50 - 20 - 10) / 10)  # 20, 10, then 10 at a time
    assert answer["inserted_rows"] == 50
    assert_landed(rows, answer)
