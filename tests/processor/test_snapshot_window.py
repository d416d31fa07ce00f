"""The lookup snapshot's window (pass1_processor/snapshot.lookup_window): the days of the lookup's
partition column a run's snapshot reads, from the call dates on its key indexes, or None (the whole
lookup) when either is unknown."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from pass1_processor.snapshot import LookupWindow, lookup_window
from shared.layout import dates_of_key_index

STARTED_AT = ("started_at", "TIMESTAMP")


def _index(lo: str, hi: str, nulls: int = 0) -> dict:
    return {"call_date_min": lo, "call_date_max": hi, "call_date_nulls": str(nulls)}


def test_the_window_spans_every_key_index_with_a_day_before_and_two_after():
    dates = [dates_of_key_index(_index("2024-03-05", "2024-03-07")), dates_of_key_index(_index("2024-03-02", "2024-03-05"))]
    window = lookup_window(STARTED_AT, dates)
    assert window == LookupWindow("started_at", "TIMESTAMP", date(2024, 3, 1), date(2024, 3, 9))
    assert window.to_record() == {"column": "started_at", "from": "2024-03-01", "to": "2024-03-09"}
    assert [(p.name, p.type_, p.value) for p in window.params()] == [
        ("window_from", "TIMESTAMP", datetime(2024, 3, 1, tzinfo=timezone.utc)),
        ("window_to", "TIMESTAMP", datetime(2024, 3, 9, tzinfo=timezone.utc))]


@pytest.mark.parametrize("column_type, start, end", [
    ("DATE", date(2024, 3, 4), date(2024, 3, 7)),
    ("DATETIME", datetime(2024, 3, 4), datetime(2024, 3, 7)),
])
def test_the_bounds_take_the_partition_columns_type(column_type, start, end):
    window = lookup_window(("day", column_type), [("2024-03-05", "2024-03-05")])
    assert [(p.type_, p.value) for p in window.params()] == [(column_type, start), (column_type, end)]


@pytest.mark.parametrize("partition, metadata", [
    (None, [_index("2024-03-05", "2024-03-07")]),                              # the lookup is not partitioned
    (("bucket", "INT64"), [_index("2024-03-05", "2024-03-07")]),                 # not by time
    (STARTED_AT, [_index("2024-03-05", "2024-03-07"), {}]),                     # one key index without dates
    (STARTED_AT, [_index("2024-03-05", "2024-03-07"), _index("2024-03-01", "2024-03-02", nulls=1)]),  # NULL call dates
    (STARTED_AT, [{"call_date_nulls": "4"}]),                                   # only NULL call dates
    (STARTED_AT, []),
])
def test_no_window_when_the_partition_column_or_a_key_indexs_dates_are_unknown(partition, metadata):
    assert lookup_window(partition, [dates_of_key_index(m) for m in metadata]) is None
