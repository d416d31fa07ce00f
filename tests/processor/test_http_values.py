"""Answer values that need care on their way into a row, through HTTP: a number no JSON writer can
put in a row is dead-lettered with its reason (the rest of the chunk lands), and a value that does not
fit its column is kept in `extra`."""

from __future__ import annotations

from tests.processor.http_checks import assert_landed
from tests.processor.lines import analysis, jsonl, success

HUGE = 123456789012345678901234567890


def test_an_integer_beyond_64_bits_is_dead_lettered_and_the_rest_lands(proc, put, out_dir, rows):
    # Unquoted keys: only json_repair reads this, and it gives a Python int of any size.
    text = '{summary: "s", sentiment: "neutral", agent_performance_score: %d}' % HUGE
    lines = [success("tok1", "INT-1", analysis(1), i=1), success("tok2", "INT-2", text=text, i=2),
             success("tok3", "INT-3", analysis(3, agent_performance_score="excellent"), i=3)]
    put(f"{out_dir}/predictions.jsonl", jsonl(lines))
    status, answer = proc({"output_info": {"gcsOutputDirectory": out_dir}})
    assert status == 200, answer
    assert (answer["processed_records"], answer["inserted_rows"], answer["failed_records"]) == (3, 2, 1)
    out, dead = assert_landed(rows, answer)
    assert [(r["phone_number_token"], r["line_number"]) for r in out] == [("tok1", 1), ("tok3", 3)]
    assert out[1]["agent_performance_score"] is None and out[1]["extra"] == {"agent_performance_score": "excellent"}
    assert [(d["line_number"], d["reason"]) for d in dead] == [(2, "number_out_of_range")]
    assert str(HUGE) in dead[0]["raw"] and "64-bit" in dead[0]["detail"]
