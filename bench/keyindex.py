"""`python -m bench.keyindex [ROWS]`: memory and time of a shard's key index held by the processor
(pass1_processor/keyindex.py), for output lines that come back without their key.

It builds a key index of ROWS lines (default 200,000, a full shard) in the format submit writes, with
the sample data's id shapes (28-character phone tokens, 19-character interaction ids), loads it the
way the processor does (load_table: ranged reads of 8 MiB windows into a KeyTable) and prints what
tracemalloc saw: the peak while loading and what stays held, per shard and per row; then the same
for a plain dict row id -> key, the obvious alternative (its peak includes the object split into
lines); and the time to load and to look every row up once.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc

import orjson

from shared.keys import encode_key
from shared.layout import row_id

MIB = 1024 * 1024
ATTEMPT, SHARD = 1, 0


def index_lines(rows: int) -> list[bytes]:
    out = []
    for line in range(1, rows + 1):
        token, interaction = f"tok_{line * 7919:024x}", f"INT-20250131-{line:06d}"
        out.append(orjson.dumps({"row_id": row_id(ATTEMPT, SHARD, line), "key": encode_key(token, interaction),
                                 "phone_number_token": token, "interaction_id": interaction}))
    return out


def _measured(build):
    """(what build made, bytes held, peak bytes, seconds); timed without tracemalloc, which slows it."""
    gc.collect()
    started = time.perf_counter()
    build()
    seconds = time.perf_counter() - started
    gc.collect()
    tracemalloc.start()
    held = build()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return held, current, peak, seconds


def table_of(data: bytes):
    """Loaded as the processor loads it: ranged reads of the object, one window at a time."""
    from pass1_processor.keyindex import load_table

    return load_table(lambda start, end: data[start:end], len(data), ATTEMPT, SHARD)


def dict_of(data: bytes) -> dict:
    held = {}
    for raw in data.splitlines():
        entry = orjson.loads(raw)
        held[entry["row_id"]] = entry["key"]
    return held


def main(argv: list[str]) -> int:
    sys.path.insert(0, "functions/pass1_batch_processor")
    rows = int(argv[0]) if argv else 200_000
    data = b"\n".join(index_lines(rows)) + b"\n"  # the object: outside what is measured
    print(f"key index: {rows:,} rows, {len(data) / MIB:.1f} MiB on Cloud Storage")
    for name, build, lookup in (("KeyTable (processor)", table_of, lambda t, r: t.key_for(r)),
                                ("dict row_id -> key", dict_of, lambda d, r: d.get(r))):
        held, current, peak, seconds = _measured(lambda: build(data))  # noqa: B023 (called at once)
        ids = [row_id(ATTEMPT, SHARD, line) for line in range(1, rows + 1)]
        started = time.perf_counter()
        assert all(lookup(held, rid) for rid in ids)
        per_lookup = (time.perf_counter() - started) / rows
        print(f"{name:22s} held {current / MIB:6.1f} MiB ({current / rows:5.0f} B/row), "
              f"peak {peak / MIB:6.1f} MiB, load {seconds:.2f} s, lookup {per_lookup * 1e6:.2f} us/row")
        del held
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
