"""Output lines without a top-level key, end to end: the Vertex emulator leaves the key out
(drop_extra_fields, as the real service may: that it comes back is not documented) and the
processor keys every line through request.labels.row_id and the shard's key index."""

from __future__ import annotations

from tests.processor.http_checks import COUNT_FIELDS, assert_balanced, inputs, jsonl_objects, landed

N = 30
FAULTS = {"seed": 5, "row_error": 0.2, "truncated": 0.2, "fenced": 0.2, "trailing_comma": 0.1, "no_parts": 0.1}
# Columns that say where and when a row was written, not what it holds.
WHERE = ("run_id", "source_uri", "processed_at", "batch_job", "raw")


def _what(table: list[dict], out_dir: str) -> list[dict]:
    """The rows written from one output directory, without where and when, in line order."""
    return sorted(({k: v for k, v in r.items() if k not in WHERE} for r in table
                   if r["source_uri"].startswith(out_dir + "/")), key=lambda r: r["line_number"])


def _process(proc, out_dir: str) -> dict:
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}})
    assert status == 200 and answer["status"] == "success", answer
    assert_balanced(answer)
    return answer


def _retry_keys(list_objects, read_object, out_dir: str) -> list[str]:
    return sorted(r["key"] for uri in list_objects(out_dir + "/retry/") for r in jsonl_objects(read_object(uri)))


def test_keyless_output_lands_exactly_as_with_its_key(proc, vertex_job, rows, read_object, list_objects,
                                                      storage_client, layout, uid):
    sent = inputs(N)
    keyed_dir, _ = vertex_job(sent, key_index=True, subdir="keyed", **FAULTS)
    keyless_dir, _ = vertex_job(sent, key_index=True, subdir="keyless", drop_extra_fields=1.0, **FAULTS)
    [keyless_file] = list_objects(keyless_dir + "/")
    raw = jsonl_objects(read_object(keyless_file))
    assert len(raw) == N and not any("key" in line for line in raw)

    keyless = _process(proc, keyless_dir)
    # A line with its key never needs the index: without it, the keyed output lands all the same.
    storage_client.bucket(layout.input_bucket).blob(f"runs/pass1/{uid}/attempt-1/input-00000.keys.jsonl").delete()
    keyed = _process(proc, keyed_dir)

    assert {f: keyless[f] for f in COUNT_FIELDS} == {f: keyed[f] for f in COUNT_FIELDS}
    assert keyed["failed_records"] >= sum(1 for line in raw if line["status"]) > 0 and keyed["inserted_rows"] > 0
    out, dead = landed(rows)
    assert _what(out, keyless_dir) == _what(out, keyed_dir)
    assert len(_what(out, keyed_dir)) == keyed["inserted_rows"]
    assert _what(dead, keyless_dir) == _what(dead, keyed_dir)
    assert all(d["composite_key"] for d in dead)
    assert _retry_keys(list_objects, read_object, keyless_dir) == _retry_keys(list_objects, read_object, keyed_dir)
    assert len(_retry_keys(list_objects, read_object, keyed_dir)) == keyed["retry_requests"] > 0


def test_keyless_lines_without_their_key_index_are_dead_lettered_missing_key(proc, vertex_job, rows, storage_client,
                                                                           layout, uid):
    out_dir, _ = vertex_job(inputs(6), key_index=True, seed=5, drop_extra_fields=1.0)
    index = f"runs/pass1/{uid}/attempt-1/input-00000.keys.jsonl"
    storage_client.bucket(layout.input_bucket).blob(index).delete()
    answer = _process(proc, out_dir)
    assert (answer["processed_records"], answer["inserted_rows"], answer["failed_records"]) == (6, 0, 6)
    out, dead = landed(rows)
    assert out == [] and {d["reason"] for d in dead} == {"missing_key"}
    assert all(f"no key index at gs://{layout.input_bucket}/{index}" in d["detail"] for d in dead)
    assert sorted(d["line_number"] for d in dead) == list(range(1, 7)) and all(d["raw"] for d in dead)
