"""Output lines without a top-level key: keyed through request.labels.row_id and the shard's key
index (the pure parts: the compact table, and extract_line with a key index)."""

from __future__ import annotations

import orjson
import pytest

from pass1_processor.extract import DeadLetter, Record, extract_line
from pass1_processor.keyindex import KeyTable
from shared.keys import encode_key
from shared.layout import row_id
from tests.processor import lines as L


def _index_line(rid: str, token: str, interaction: str) -> bytes:
    return orjson.dumps({"row_id": rid, "key": encode_key(token, interaction), "phone_number_token": token,
                         "interaction_id": interaction})


class FakeIndex:
    """A KeyIndex over a KeyTable, counting loads (what the processor's real index does lazily)."""

    def __init__(self, table: KeyTable | None, problem: str = "no key index at gs://in/x.keys.jsonl"):
        self.table, self.problem, self.calls = table, problem, 0

    def key_for(self, row: str):
        self.calls += 1
        if self.table is None:
            return None, self.problem
        key = self.table.key_for(row)
        return (key, None) if key else (None, f"request.labels.row_id {row!r} is not in the key index")


def _table(n: int, attempt: int = 2, shard: int = 3) -> KeyTable:
    table = KeyTable(attempt, shard)
    for line in range(1, n + 1):
        table.add(line, _index_line(row_id(attempt, shard, line), f"tok{line}", f"INT-{line}"))
    return table


def test_the_table_finds_every_row_by_its_id_and_nothing_else():
    table = _table(50)
    assert len(table) == 50 and table.bad_lines == 0
    for line in (1, 17, 50):
        assert table.key_for(row_id(2, 3, line)) == encode_key(f"tok{line}", f"INT-{line}")
    assert table.key_for(row_id(2, 3, 51)) is None
    assert table.key_for(row_id(1, 3, 1)) is None and table.key_for(row_id(2, 4, 1)) is None
    assert table.key_for("not-a-row-id") is None


def test_odd_lines_keep_the_others_in_place():
    """A row id that does not name its own line is still found; a bad or blank line holds no key
    and moves no other row."""
    table = KeyTable(1, 0)
    table.add(1, _index_line(row_id(1, 0, 1), "a", "1"))
    table.add(2, b"{not json")
    table.add(4, _index_line("custom-row", "c", "3"))     # line 3 blank: left out
    table.add(5, _index_line(row_id(1, 0, 5), "d", "4"))
    table.add(6, orjson.dumps({"row_id": row_id(1, 0, 6)}))  # no key
    assert table.bad_lines == 2 and len(table) == 6
    assert table.key_for(row_id(1, 0, 1)) == encode_key("a", "1")
    assert table.key_for(row_id(1, 0, 2)) is None and table.key_for(row_id(1, 0, 3)) is None
    assert table.key_for("custom-row") == encode_key("c", "3")
    assert table.key_for(row_id(1, 0, 5)) == encode_key("d", "4")
    assert table.key_for(row_id(1, 0, 6)) is None


def _fields(out):
    return {name: getattr(out, name) for name in out.__slots__}


@pytest.mark.parametrize("line", [
    L.success("tok7", "INT-7", L.analysis(7), i=7),
    L.success("tok7", "INT-7", text="```json\n" + orjson.dumps(L.analysis(7)).decode() + "\n```", i=7),
    L.success("tok7", "INT-7", text=orjson.dumps(L.analysis(7)).decode()[:60], finish="MAX_TOKENS", i=7),
    L.failed("tok7", "INT-7", i=7),
])
def test_a_keyless_line_comes_out_as_with_its_key(line):
    keys = FakeIndex(_table(10))
    keyed = extract_line(orjson.dumps(line), 4)
    keyless = extract_line(orjson.dumps(L.keyless(line, row_id(2, 3, 7))), 4, keys)
    assert type(keyless) is type(keyed)
    expected = _fields(keyed)
    if isinstance(keyed, DeadLetter):  # the raw line is the line as it came
        expected["raw"] = keyless.raw
    assert _fields(keyless) == expected and keys.calls == 1


def test_a_keyless_line_that_does_not_parse_is_keyed_by_the_index_too():
    line = L.success("tok7", "INT-7", L.analysis(7), i=7)
    raw = orjson.dumps(L.keyless(line, row_id(2, 3, 7)))
    broken = raw.replace(b'"status":""', b'"status":"" ,,')  # no longer JSON
    out = extract_line(broken, 4, FakeIndex(_table(10)))
    assert isinstance(out, Record) and (out.phone_token, out.interaction_id) == ("tok7", "INT-7")


@pytest.mark.parametrize("row, index, detail", [
    (None, FakeIndex(_table(10)), "no key, id or custom_id in the line, and no request.labels.row_id"),
    (row_id(2, 3, 99), FakeIndex(_table(10)), "is not in the key index"),
    (row_id(2, 3, 7), FakeIndex(None), "no key index at gs://in/x.keys.jsonl"),
    (row_id(2, 3, 7), None, "no key index to look up row id"),
])
def test_a_line_keyed_neither_way_is_a_missing_key_dead_letter(row, index, detail):
    out = extract_line(orjson.dumps(L.keyless(L.success("t", "i", {"a": 1}), row)), 5, index)
    assert isinstance(out, DeadLetter)
    assert (out.reason, out.composite_key, out.line_number) == ("missing_key", None, 5)
    assert detail in out.detail and out.raw


def test_a_line_with_its_key_never_reads_the_index():
    keys = FakeIndex(_table(10))
    line = L.success("tok7", "INT-7", L.analysis(7), i=7)
    line["request"]["labels"] = {"row_id": row_id(2, 3, 7)}
    assert isinstance(extract_line(orjson.dumps(line), 1, keys), Record) and keys.calls == 0


def test_the_memory_benchmark_prints_its_figures(capsys):
    """`python -m bench.keyindex` (the figures quoted in keyindex.py), on a small index."""
    from bench import keyindex

    assert keyindex.main(["2000"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("key index: 2,000 rows")
    assert [line.split()[0] for line in printed[1:]] == ["KeyTable", "dict"]
    assert all(" B/row" in line and "peak" in line and "us/row" in line for line in printed[1:])
