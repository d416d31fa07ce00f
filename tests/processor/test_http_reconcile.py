"""The run's last check before COMPLETED (pass1_processor/reconcile.py): a composite key that two
calls wrote at the same moment, from two files, is kept once. The race is made real: both calls are
held at the pause point before their MERGE (shared/faults.py), then released together. Two
insert-only MERGEs may both insert the key (BigQuery runs them side by side), or one may see the
other's row (the local emulator commits them one after the other): either way it lands once and
the run counts it once."""

from __future__ import annotations

import threading
import time

import pytest

from pass1_processor.counts import Counts
from pass1_processor.reconcile import MAX_EXTRAS, Extra, adjusted, merged
from shared.errors import InternalError
from tests.processor.http_checks import landed
from tests.processor.lines import analysis, jsonl, many, success

PAUSE_WAIT_SECONDS = 60


def _wait_for_markers(directory, n: int) -> None:
    deadline = time.monotonic() + PAUSE_WAIT_SECONDS
    while len(list(directory.glob("paused-merge-*"))) < n:
        assert time.monotonic() < deadline, "the calls never reached the pause point"
        time.sleep(0.05)


def test_a_key_two_racing_calls_both_wrote_lands_once(proc, put, out_dir, make_run, uid, rows, restart_processor,
                                                       tmp_path):
    faults = tmp_path / "faults"
    faults.mkdir()
    restart_processor(FAULT_CRASH_DIR=str(faults))
    files = [f"{out_dir}/predictions_{i:05d}.jsonl" for i in (1, 2)]
    shared = success("tok-shared", "INT-S", analysis(99), i=99)
    put(files[0], jsonl(many(3) + [shared]))            # the shared key at line 4 of the first file
    put(files[1], jsonl([shared] + many(3, start=3)))   # and at line 1 of the second
    make_run(uid, [out_dir])
    base = {"run_id": uid, "batch_type": "pass1"}
    (faults / "pause-merge").touch()
    answers = {}
    threads = [threading.Thread(target=lambda f=f: answers.setdefault(f, proc({**base, "files": [f]})))
               for f in files]
    for t in threads:
        t.start()
    _wait_for_markers(faults, 2)  # both calls have loaded their file; neither has merged
    (faults / "pause-merge").unlink()
    for t in threads:
        t.join(120)
    inserted = 0
    for f in files:
        status, answer = answers[f]
        assert status == 200 and answer["inserted_rows"] in (3, 4), answer
        inserted += answer["inserted_rows"]

    record = make_run.store.get(uid, "pass1")
    assert record["state"] == "COMPLETED"
    processing = record["processing"]
    assert (processing["processed"], processing["inserted"], processing["duplicates"]) == (8, 7, 1)
    assert processing["reconciled_extras"] == inserted - 7  # both MERGEs inserted it: reconciled
    out, _ = landed(rows)
    assert len(out) == len({r["composite_key"] for r in out}) == 7
    kept = [(r["source_uri"], r["line_number"]) for r in out if r["phone_number_token"] == "tok-shared"]
    assert kept in ([(files[0], 4)], [(files[1], 1)])
    status, whole = proc(base)
    assert status == 200 and whole["already_completed"] is True
    assert (whole["processed_records"], whole["inserted_rows"], whole["duplicate_records"]) == (8, 7, 1)


def _extra(i: int, repaired=False, unmatched=False) -> Extra:
    return Extra(f"K{i}", "gs://b/p.jsonl", i, repaired, unmatched)


def test_extras_found_again_after_a_crash_are_counted_once():
    recorded = merged(None, [_extra(1, repaired=True), _extra(2, unmatched=True)])
    again = merged(recorded, [_extra(2, unmatched=True), _extra(3)])  # 2 not deleted yet; 3 is new
    assert [e["id"] for e in again] == ["K1|gs://b/p.jsonl|1", "K2|gs://b/p.jsonl|2", "K3|gs://b/p.jsonl|3"]
    totals = adjusted(Counts(processed=10, inserted=10, repaired=4, unmatched=3), again)
    assert (totals.inserted, totals.duplicates, totals.repaired, totals.unmatched) == (7, 3, 3, 2)
    assert totals.balanced()


def test_too_many_extras_fail_without_naming_keys():
    with pytest.raises(InternalError) as err:
        merged(None, [_extra(i) for i in range(MAX_EXTRAS + 1)])
    assert all(not e.startswith("K") for e in err.value.details["examples"])
