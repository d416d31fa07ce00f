"""The whole way with output lines that come back without their top-level key (the emulator's
drop_extra_fields: that the key comes back is not documented): submit's key index and row ids are
what the processor keys them by, over several shards and through a retry batch."""

from __future__ import annotations

from tests.submit_poll.helpers import BATCH_TYPE, read_jsonl, transcript_records

RUN = {"run_id": "keyless-1", "batch_type": BATCH_TYPE}


def test_keyless_output_of_a_sharded_run_lands_every_row_once(stack, http, vertex_emulator, write_jsonl, submit,
                                                              wait_done, storage_client, rows, layout):
    vertex_emulator.configure(seed=6, drop_extra_fields=1.0, row_error=0.3)
    records = transcript_records(11)
    uri = write_jsonl("sources/keyless.jsonl", records)
    status, first = submit({**RUN, "source": {"uri": uri}, "max_requests_per_job": 4})
    assert status == 200 and [j["requests"] for j in first["jobs"]] == [4, 4, 3], first
    last = wait_done("keyless-1")[-1]
    assert last["status"] == "PENDING_PROCESSING"
    output = [line for entry in last["output_info"] for uri in entry["files"] for line in read_jsonl(storage_client, uri)]
    assert len(output) == 11
    assert all("key" not in line and line["request"]["labels"]["row_id"].startswith("a1-s") for line in output)

    status, one = http.post(stack["PASS1_BATCH_PROCESSOR_URL"], RUN)
    assert status == 200 and one["status"] == "success", one
    failed = [d for d in rows(layout.dead_letter_table) if d["reason"] == "model_error"]
    assert {d["reason"] for d in rows(layout.dead_letter_table)} == {"model_error"} and failed
    assert one["inserted_rows"] + len(failed) == 11

    vertex_emulator.configure(row_error=0.0)
    status, retry = submit({**RUN, "mode": "retry_failed"})
    assert status == 200 and (retry["attempt"], retry["requests"]) == (2, len(failed)), retry
    assert wait_done("keyless-1")[-1]["status"] == "PENDING_PROCESSING"
    status, two = http.post(stack["PASS1_BATCH_PROCESSOR_URL"], RUN)
    assert status == 200 and two["status"] == "success", two

    landed = rows(layout.output_table)
    assert sorted(r["interaction_id"] for r in landed) == sorted(r["interaction_id"] for r in records)
    assert {(r["phone_number_token"], r["interaction_id"]) for r in landed} == \
        {(r["phone_number_token"], r["interaction_id"]) for r in records}
    assert len({r["composite_key"] for r in landed}) == 11
