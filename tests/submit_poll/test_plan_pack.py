"""The shard plan's packing (batch_submit.plan.pack): contiguous buckets into shards, each with the
call dates of its buckets' rows (what its key index will carry)."""

from __future__ import annotations

import pytest

from batch_submit.plan import BUCKETS, BucketSum, ShardRange, pack


def test_buckets_pack_into_shards_with_the_span_of_their_dates():
    sums = [BucketSum(0, 2, 20, "2024-03-02", "2024-03-05", 0), BucketSum(3, 2, 20, "2024-03-01", "2024-03-03", 1),
            BucketSum(7, 3, 30, "2024-03-04", "2024-03-04", 0), BucketSum(9, 1, 10, None, None, 1)]
    assert pack(sums, max_requests=4, max_bytes=1000) == [
        ShardRange(0, 0, 3, 4, 40, "2024-03-01", "2024-03-05", 1),
        ShardRange(1, 4, BUCKETS - 1, 4, 40, "2024-03-04", "2024-03-04", 1)]


def test_a_shard_whose_rows_all_lack_a_call_date_has_no_dates():
    assert pack([BucketSum(5, 2, 20, None, None, 2)], max_requests=4, max_bytes=1000) == [
        ShardRange(0, 0, BUCKETS - 1, 2, 20, None, None, 2)]


@pytest.mark.parametrize("stored, dates", [
    ({"index": 1, "lo": 4, "hi": 9, "rows": 3, "bytes": 30}, (None, None, None)),  # recorded before the dates
    ({"index": 1, "lo": 4, "hi": 9, "rows": 3, "bytes": 30, "date_min": "2024-03-01", "date_max": "2024-03-02",
      "date_nulls": 0}, ("2024-03-01", "2024-03-02", 0)),
])
def test_a_recorded_shard_reads_back_with_or_without_dates(stored, dates):
    shard = ShardRange.from_dict(stored)
    assert (shard.date_min, shard.date_max, shard.date_nulls) == dates
    assert ShardRange.from_dict(shard.to_dict()) == shard
