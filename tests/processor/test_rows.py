"""Value conversion to column types and row building: nothing is silently dropped."""

import orjson
import pytest
from google.cloud.bigquery import SchemaField

from infra.local.provision import SCHEMA_DIR, load_schema
from pass1_processor.extract import DeadLetter, Record
from pass1_processor.rows import RowContext, RowPlan
from pass1_processor.schema import FAIL, TableInfo, converter_for
from shared.errors import ValidationError
from shared.identifiers import TableRef


def info(name: str, schema) -> TableInfo:
    return TableInfo(TableRef.of("local-project", "ds", name), tuple(schema), frozenset(f.name for f in schema),
                     frozenset(f.name for f in schema if f.field_type == "JSON"))


@pytest.fixture(scope="module")
def plan() -> RowPlan:
    return RowPlan.build(info("out", load_schema(SCHEMA_DIR / "pass1_analysis.json")),
                         info("dead", load_schema(SCHEMA_DIR / "pass1_dead_letter.json")),
                         info("lookup", load_schema(SCHEMA_DIR / "interaction_lookup.json")))


CTX = RowContext("run-1", "pass1", "projects/p/locations/l/batchPredictionJobs/1", "gs://b/f.jsonl",
                 "2025-01-01T00:00:00+00:00")


def record(payload: dict, **kw) -> Record:
    base = dict(line_number=7, composite_key="KEY", phone_token="tok", interaction_id="INT", payload=payload,
                repaired=False, model_version="m", finish_reason="STOP", prompt_tokens=1, candidates_tokens=2,
                total_tokens=3)
    return Record(**{**base, **kw})


def output_row(plan: RowPlan, rec: Record, ctx: RowContext, looked_up=None) -> tuple[dict, int]:
    """The row the processor stages for rec, as a dict (without the staging-only count), and its
    count of unconverted values: the record prepared (RowPlan.prepare) and assembled (staged_row)
    as process_chunk does. The lookup columns are the MERGE's (statements.py)."""
    prepared = plan.prepare(rec)
    assert isinstance(prepared, Record), prepared
    row = orjson.loads(plan.staged_row(rec, plan.context_fragment(ctx)))
    assert row.pop("_unconverted", 0) == rec.unconverted
    return row, rec.unconverted


@pytest.mark.parametrize("field_type, mode, value, expected", [
    ("STRING", "NULLABLE", "x", "x"),
    ("STRING", "NULLABLE", 5, "5"),
    ("STRING", "NULLABLE", True, "true"),
    ("STRING", "NULLABLE", {"a": 1}, FAIL),
    ("INT64", "NULLABLE", "4", 4),
    ("INT64", "NULLABLE", 4.0, 4),
    ("INT64", "NULLABLE", 4.5, FAIL),
    ("INT64", "NULLABLE", True, FAIL),
    ("INT64", "NULLABLE", 2 ** 70, FAIL),
    ("INT64", "NULLABLE", "four", FAIL),
    ("FLOAT64", "NULLABLE", "0.5", 0.5),
    ("FLOAT64", "NULLABLE", "nan", FAIL),
    ("BOOL", "NULLABLE", "Yes", True),
    ("BOOL", "NULLABLE", 0, False),
    ("BOOL", "NULLABLE", "maybe", FAIL),
    ("TIMESTAMP", "NULLABLE", "2025-01-02T03:04:05Z", "2025-01-02T03:04:05Z"),
    ("TIMESTAMP", "NULLABLE", "yesterday", FAIL),
    ("DATE", "NULLABLE", "2025-01-02", "2025-01-02"),
    ("JSON", "NULLABLE", {"a": [1]}, {"a": [1]}),
    ("STRING", "REPEATED", ["a", 1], ["a", "1"]),
    ("STRING", "REPEATED", "solo", ["solo"]),
    ("STRING", "REPEATED", None, []),
    ("STRING", "REPEATED", ["a", None], FAIL),
    ("STRING", "REPEATED", [{"x": 1}], FAIL),
    ("INT64", "NULLABLE", None, None),
])
def test_converters(field_type, mode, value, expected):
    assert converter_for(SchemaField("c", field_type, mode=mode))(value) == expected


def test_record_fields_convert_recursively():
    field = SchemaField("r", "RECORD", fields=[SchemaField("n", "INT64"), SchemaField("s", "STRING")])
    convert = converter_for(field)
    assert convert({"n": "2", "s": "x"}) == {"n": 2, "s": "x"}
    assert convert({"n": "two"}) is FAIL
    assert convert({"unknown": 1}) is FAIL


def test_staged_row_has_system_and_answer_columns_and_leaves_the_lookup_to_the_merge(plan):
    row, unconverted = output_row(plan, record({"summary": "s", "agent_performance_score": "4", "topics": ["t"]}),
                                  CTX)
    assert unconverted == 0
    assert not {"lookup_status", *plan.lookup_columns} & set(row)
    assert row["agent_performance_score"] == 4 and row["topics"] == ["t"] and row["extra"] is None
    assert (row["composite_key"], row["run_id"], row["batch_type"], row["line_number"]) == ("KEY", "run-1", "pass1", 7)
    assert (row["phone_number_token"], row["interaction_id"], row["source_uri"]) == ("tok", "INT", "gs://b/f.jsonl")
    assert (row["prompt_tokens"], row["candidates_tokens"], row["total_tokens"]) == (1, 2, 3)
    assert set(row) <= {f.name for f in plan.output.schema}


def test_unknown_and_unconvertible_values_go_to_extra_and_are_counted(plan):
    payload = {"summary": "s", "agent_performance_score": "excellent", "mood": "calm",
               "run_id": "hijack", "agent_id": "from-model"}
    row, unconverted = output_row(plan, record(payload), CTX, None)
    assert row["extra"] == {"agent_performance_score": "excellent", "mood": "calm", "run_id": "hijack",
                            "agent_id": "from-model"}
    assert unconverted == 1  # only the value that had a column but did not fit it
    assert row["run_id"] == "run-1" and "agent_id" not in row  # the model cannot set system or lookup columns
    assert "agent_performance_score" not in row


def test_dead_row_only_uses_dead_letter_columns(plan):
    dead = DeadLetter(3, "bad_key", "key is not base64", "K", "raw line", b'{"key":"K"}')
    row = plan.dead_row(dead, CTX)
    assert row == {"composite_key": "K", "reason": "bad_key", "detail": "key is not base64",
                   "source_uri": "gs://b/f.jsonl", "line_number": 3, "raw": "raw line", "run_id": "run-1",
                   "batch_type": "pass1", "batch_job": CTX.batch_job, "processed_at": CTX.processed_at}


def test_an_output_table_without_extra_is_refused():
    schema = [f for f in load_schema(SCHEMA_DIR / "pass1_analysis.json") if f.name != "extra"]
    with pytest.raises(ValidationError) as err:
        RowPlan.build(info("out", schema), info("dead", load_schema(SCHEMA_DIR / "pass1_dead_letter.json")),
                      info("lookup", load_schema(SCHEMA_DIR / "interaction_lookup.json")))
    assert err.value.field == "output_table"


def test_prepare_serializes_the_record_and_releases_its_payload(plan):
    rec = record({"summary": "s", "topics": ["a", "b"], "follow_up_required": True, "mood": "calm"})
    prepared = plan.prepare(rec)
    assert prepared is rec and rec.payload is None and rec.unconverted == 0
    row = orjson.loads(plan.staged_row(rec, plan.context_fragment(CTX)))
    assert row == {"composite_key": "KEY", "phone_number_token": "tok", "interaction_id": "INT",
                   "model_version": "m", "finish_reason": "STOP", "prompt_tokens": 1, "candidates_tokens": 2,
                   "total_tokens": 3, "repaired": False, "line_number": 7, "summary": "s", "topics": ["a", "b"],
                   "follow_up_required": True, "extra": {"mood": "calm"},
                   "run_id": "run-1", "batch_type": "pass1", "batch_job": CTX.batch_job,
                   "source_uri": "gs://b/f.jsonl", "processed_at": CTX.processed_at}


def test_a_staged_row_carries_its_count_of_unconverted_values(plan):
    rec = record({"summary": "s", "follow_up_required": {"not": "a bool"}})
    plan.prepare(rec)
    row = orjson.loads(plan.staged_row(rec, plan.context_fragment(CTX)))
    assert row["_unconverted"] == 1 and row["extra"] == {"follow_up_required": {"not": "a bool"}}


def test_a_table_without_system_columns_gets_none_of_them():
    keep = {"composite_key", "run_id", "batch_type", "extra", "processed_at", "summary"}
    schema = [f for f in load_schema(SCHEMA_DIR / "pass1_analysis.json") if f.name in keep]
    small = RowPlan.build(info("out", schema), info("dead", load_schema(SCHEMA_DIR / "pass1_dead_letter.json")),
                          info("lookup", load_schema(SCHEMA_DIR / "interaction_lookup.json")))
    row, _ = output_row(small, record({"summary": "s"}), CTX, {})  # the lookup asks for no column
    assert row == {"composite_key": "KEY", "run_id": "run-1", "batch_type": "pass1", "extra": None,
                   "processed_at": CTX.processed_at, "summary": "s"}


def test_an_integer_beyond_64_bits_dead_letters_the_line(plan):
    # json_repair (the last-resort repair) gives Python ints of any size; no JSON writer takes them.
    out = plan.prepare(record({"summary": "s", "agent_performance_score": 10 ** 30}))
    assert isinstance(out, DeadLetter)
    assert (out.line_number, out.reason, out.composite_key) == (7, "number_out_of_range", "KEY")
    assert "64-bit" in out.detail and str(10 ** 30) in out.raw


@pytest.mark.parametrize("topics, landed, extra", [
    (["a", "b"], ["a", "b"], None),
    ([], [], None),
    ("solo", ["solo"], None),                       # a lone value is a list of one
    (["a", None], None, {"topics": ["a", None]}),   # BigQuery arrays hold no NULL
    (["a", 3], ["a", "3"], None),                   # converted item by item
    (None, [], None),
])
def test_string_lists_take_the_quick_way_only_when_every_item_is_text(plan, topics, landed, extra):
    row, unconverted = output_row(plan, record({"topics": topics}), CTX, None)
    assert row.get("topics") == landed and row["extra"] == extra and unconverted == (extra is not None)
