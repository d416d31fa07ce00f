"""Cost model of the write path's BigQuery work, from the SQL as written (statements.py) and stated
table sizes, at on-demand pricing. Every assumption is in ASSUMPTIONS and printed with the figures.

What is billed (on-demand): bytes processed by query jobs (the snapshot CTAS, each file's MERGE and
tally, the end-of-run reconcile read); load jobs are free. A query is billed for the columns it
references of every table it reads, after partition pruning and clustering pruning, at least 10 MB
per table referenced.

Per run of L transcripts in F files (n = L / F lines a file):
- snapshot CTAS (once per run): the lookup's columns the output needs (all 8 of the lookup table
  here: token, interaction id and the 6 enrichment columns) over the lookup partitions of the run's
  window, plus the keys table (token only). The lookup is partitioned by day on started_at over
  lookup_days days, lookup_rows spread evenly (none without a started_at: the __NULL__ partition is
  empty); a run's transcripts span ceil(L / transcripts_per_day) call dates (a run of one day's
  calls, as the output grows by a day's), and the window adds window_slack_days (a day before, two
  after: pass1_processor/snapshot.py). Within the window, random tokens touch every clustered block:
  no clustering pruning. `snapshot_unpruned` (and est_bq_usd_unpruned, usd_per_million_unpruned) is
  the same run reading the whole lookup: a lookup not partitioned, or key indexes without call dates
  (a JSONL source, a retry attempt);
- MERGE per file: the staging table's rows of the file (staging is clustered on source_uri, so a
  file's MERGE reads its own blocks), all columns; the snapshot (matched rows of the run, all its
  columns: a join reads the whole table); the output table's ON-clause columns (run_id,
  processed_at, composite_key) in the partitions from `since` (2 days: the run's day and the one
  before), pruned by clustering on run_id to this run's rows written so far;
- tally per file: the output's run_id, processed_at, source_uri, composite_key, line_number,
  lookup_status, repaired of this run's rows (same pruning) and the file's staging keys;
- reconcile at completion: one read of the run's composite_key, source_uri, line_number (same pruning).
"""

from __future__ import annotations

import math

ASSUMPTIONS = {
    "usd_per_tib": 6.25,                      # on-demand analysis, US/EU multi-region list price
    "min_bytes_per_table": 10 * 1024 ** 2,    # 10 MB minimum per table referenced per query
    "lookup_rows": 50_000_000,
    "lookup_row_bytes": 200,                  # all 8 columns; the snapshot needs all of them
    "lookup_needed_share": 1.0,               # share of the lookup row's bytes the output needs
    "lookup_days": 365,                       # the lookup, partitioned by day on started_at, holds a year
    "transcripts_per_day": 1_000_000,         # a run's call dates: ceil(lines / this) days ...
    "window_slack_days": 3,                   # ... plus a day before and two after (time zones)
    "output_rows_per_day": 1_000_000,         # output grows by 1M rows a day ...
    "output_days": 365,                       # ... for a year (partitioned by day on processed_at)
    "partitions_read": 2,                     # since = the run's first day minus one
    "output_on_bytes": 12 + 8 + 116,          # run_id, processed_at, composite_key (~116 characters)
    "output_tally_bytes": 12 + 8 + 110 + 116 + 8 + 10 + 1,  # + source_uri, line_number, status, repaired
    "staged_row_bytes": 1_000,                # a staged row (answer columns, key, context), all columns
    "staging_key_bytes": 116 + 8 + 8,         # composite_key, line_number, _unconverted
    "snapshot_row_bytes": 200,
    "keys_row_bytes": 40,
    "matched_share": 0.97,
}


def estimate(lines: int, files: int, a: dict = ASSUMPTIONS) -> dict:
    """Bytes billed per statement kind and est_bq_usd for one run (bytes_total and est_bq_usd: the
    pruned snapshot; *_unpruned: the same run with the whole lookup read)."""
    floor = a["min_bytes_per_table"]
    per_file = lines / files
    snapshot_rows = lines * a["matched_share"]
    lookup_bytes = a["lookup_rows"] * a["lookup_row_bytes"] * a["lookup_needed_share"]
    window_days = min(a["lookup_days"], math.ceil(lines / a["transcripts_per_day"]) + a["window_slack_days"])
    keys = max(floor, lines * a["keys_row_bytes"])
    snapshot = max(floor, lookup_bytes * window_days / a["lookup_days"]) + keys
    snapshot_unpruned = max(floor, lookup_bytes) + keys
    # Clustering on run_id prunes the output to this run's rows; the average MERGE sees half of them.
    run_rows_seen = lines / 2
    merge = files * (max(floor, per_file * a["staged_row_bytes"])
                     + max(floor, snapshot_rows * a["snapshot_row_bytes"])
                     + max(floor, run_rows_seen * a["output_on_bytes"]))
    tally = files * (max(floor, run_rows_seen * a["output_tally_bytes"])
                     + max(floor, per_file * a["staging_key_bytes"]))
    reconcile = max(floor, lines * a["output_tally_bytes"])
    total = snapshot + merge + tally + reconcile
    usd = total / 1024 ** 4 * a["usd_per_tib"]
    usd_unpruned = (total - snapshot + snapshot_unpruned) / 1024 ** 4 * a["usd_per_tib"]
    return {"lines": lines, "files": files, "lookup_window_days": window_days,
            "bytes": {"snapshot": int(snapshot), "merge": int(merge), "tally": int(tally),
                      "reconcile": int(reconcile), "snapshot_unpruned": int(snapshot_unpruned)},
            "bytes_total": int(total), "est_bq_usd": round(usd, 4),
            "usd_per_million": round(usd / lines * 1_000_000, 4),
            "est_bq_usd_unpruned": round(usd_unpruned, 4),
            "usd_per_million_unpruned": round(usd_unpruned / lines * 1_000_000, 4)}


def model(sizes=((100_000, 8), (1_000_000, 5), (10_000_000, 50))) -> dict:
    """The model at each (transcripts, files) size, with its assumptions."""
    return {"assumptions": dict(ASSUMPTIONS), "sizes": {str(lines): estimate(lines, files) for lines, files in sizes}}
