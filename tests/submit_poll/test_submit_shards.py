"""A source larger than one job may take becomes several Vertex jobs under one run: at most
max_requests_per_job requests and max_bytes_per_job bytes each."""

from __future__ import annotations

import base64
import json
import re

import pytest

from tests.submit_poll.helpers import BATCH_TYPE, read_jsonl, transcript_records


def _interactions(storage_client, uri: str) -> list[str]:
    return [json.loads(base64.urlsafe_b64decode(line["key"]))["interaction_id"] for line in read_jsonl(storage_client, uri)]


@pytest.fixture
def sharded_run(write_jsonl, submit):
    """7 records submitted as run shards-1 with at most 3 requests per job."""
    records = transcript_records(7)
    uri = write_jsonl("sources/shards.jsonl", records)
    status, answer = submit({"run_id": "shards-1", "batch_type": BATCH_TYPE, "source": {"uri": uri},
                             "max_requests_per_job": 3})
    assert status == 200, answer
    return records, answer, uri


def test_large_source_becomes_one_job_per_shard(stack, storage_client, sharded_run, vertex_jobs, run_record):
    records, answer, _ = sharded_run
    assert answer["requests"] == 7
    jobs = answer["jobs"]
    assert [(j["shard"], j["requests"]) for j in jobs] == [(0, 3), (1, 3), (2, 1)]
    base = f"gs://{stack['INPUT_BUCKET']}/runs/pass1/shards-1/attempt-1"
    assert [j["input_uri"] for j in jobs] == [f"{base}/input-0000{i}.jsonl" for i in range(3)]
    assert len({j["output_prefix"] for j in jobs}) == 3
    sent = [key for job in jobs for key in _interactions(storage_client, job["input_uri"])]
    assert sorted(sent) == sorted(r["interaction_id"] for r in records)
    on_vertex = vertex_jobs("shards-1")
    assert sorted(j["name"] for j in on_vertex) == sorted(j["name"] for j in jobs)
    assert sorted(j["labels"]["shard"] for j in on_vertex) == ["00000", "00001", "00002"]
    assert {(j["input_uris"][0], j["output_prefix"]) for j in on_vertex} == {(j["input_uri"], j["output_prefix"]) for j in jobs}
    assert len(run_record("shards-1")["jobs"]) == 3


def test_second_submit_of_a_sharded_run_is_skipped_with_every_job(sharded_run, submit):
    _, first, uri = sharded_run
    status, again = submit({"run_id": "shards-1", "batch_type": BATCH_TYPE, "source": {"uri": uri},
                            "max_requests_per_job": 3})
    assert status == 200 and again["status"] == "skipped"
    assert [j["name"] for j in again["jobs"]] == [j["name"] for j in first["jobs"]]


def test_byte_limit_also_splits(stack, storage_client, write_jsonl, submit):
    records = transcript_records(4)
    uri = write_jsonl("sources/bytes.jsonl", records)
    first = submit({"run_id": "bytes-probe", "batch_type": BATCH_TYPE, "source": {"uri": uri}})[1]
    line_bytes = len(storage_client.bucket(stack["INPUT_BUCKET"]).blob(
        "runs/pass1/bytes-probe/attempt-1/input-00000.jsonl").download_as_bytes()) // 4
    status, answer = submit({"run_id": "bytes-1", "batch_type": BATCH_TYPE, "source": {"uri": uri},
                             "max_bytes_per_job": 2 * line_bytes + 10})
    assert status == 200 and first["requests"] == 4, answer
    assert [j["requests"] for j in answer["jobs"]] == [2, 2]


def _decoded(key: str) -> tuple[str, str]:
    payload = json.loads(base64.urlsafe_b64decode(key))
    return payload["phone_token"], payload["interaction_id"]


def test_every_shard_has_its_key_index_beside_it(storage_client, sharded_run):
    """input-NNNNN.keys.jsonl: one line per request, in shard order, {row_id, key, phone_number_token,
    interaction_id}; the row id is the request's labels.row_id, a label value unique in the attempt."""
    records, answer, _ = sharded_run
    phone_of = {r["interaction_id"]: r["phone_number_token"] for r in records}
    row_ids = []
    for job in answer["jobs"]:
        lines = read_jsonl(storage_client, job["input_uri"])
        index = read_jsonl(storage_client, job["input_uri"].removesuffix(".jsonl") + ".keys.jsonl")
        assert [list(entry) for entry in index] == [["row_id", "key", "phone_number_token", "interaction_id"]] * len(lines)
        assert [e["row_id"] for e in index] == [f"a1-s{job['shard']:05d}-r{n:06d}" for n in range(1, len(lines) + 1)]
        assert [{"row_id": e["row_id"]} for e in index] == [line["request"]["labels"] for line in lines]
        assert [e["key"] for e in index] == [line["key"] for line in lines]
        for entry in index:
            assert (entry["phone_number_token"], entry["interaction_id"]) == _decoded(entry["key"])
            assert phone_of[entry["interaction_id"]] == entry["phone_number_token"]
        row_ids += [e["row_id"] for e in index]
    assert len(set(row_ids)) == len(row_ids) == len(records)
    assert all(re.fullmatch(r"[a-z0-9_-]{1,63}", rid) for rid in row_ids)


def test_a_rewritten_attempt_keeps_no_stale_shard_or_key_index(stack, storage_client):
    """A submit retried after a crash rewrites the attempt's folder: a try that wrote more shards
    leaves neither their inputs nor their key indexes behind."""
    from batch_submit.shards import RequestEntry, ShardWriter
    from shared.keys import encode_key
    from shared.layout import attempt_prefix

    bucket = storage_client.bucket(stack["INPUT_BUCKET"])
    prefix = attempt_prefix(bucket.name, BATCH_TYPE, "rewrite-1", 1)
    entries = [RequestEntry(encode_key(f"t{i}", f"i{i}"), f"t{i}", f"i{i}", {"contents": []}) for i in range(5)]
    for count in (5, 2):
        writer = ShardWriter(bucket, prefix, 1, max_requests=2, max_bytes=10_000)
        for entry in entries[:count]:
            assert writer.write(entry)
        writer.close()
    names = sorted(b.name.rsplit("/", 1)[1] for b in storage_client.list_blobs(bucket.name, prefix=prefix.name + "/"))
    assert names == ["input-00000.jsonl", "input-00000.keys.jsonl"]
