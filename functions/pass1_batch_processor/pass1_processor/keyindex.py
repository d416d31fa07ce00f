"""Row id -> composite key, for output lines that come back without a top-level key.

That the `key` of an input line comes back in its output line is seen in Google's samples but not
documented for Gemini batch from Cloud Storage; the echoed request is. So every request carries its
row id in `request.labels.row_id`, and submit wrote a key index beside the input shard
(shared/layout.py). A prediction file's index is found from its directory (.../attempt-N/shard-NNNNN/
-> .../attempt-N/input-NNNNN.keys.jsonl in the input bucket) and loaded lazily: only when the file's
first keyless line appears, once, then kept for the file's other chunks in this call.

Memory: the keys are held as one byte string with an end offset per row (a canonical row id names
its own line, so it needs no entry of its own). Measured by `python -m bench.keyindex` for a full
shard of 200,000 rows with the sample data's id shapes (a 116-character key): 24.7 MiB held (130
bytes a row), 44 MiB at the peak of loading (the reader's 8 MiB window and the byte string's last
growth on top), 0.4-0.5 s to load, about 1.3 us a lookup; a plain dict row id -> key would hold
48 MiB. It is held for one file at a time, only while that
file has keyless lines. Row ids that do not name their own line (submit never writes one) go to a
small dict.
"""

from __future__ import annotations

from array import array

import orjson

from pass1_processor.reader import Fetch, blob_fetcher, iter_lines
from shared.identifiers import GcsPath
from shared.layout import attempt_and_shard, input_for_output, key_index_of, row_id, row_position
from shared.retry import call_with_retry


class KeyTable:
    """The keys of one shard by row id, compact (see the module docstring)."""

    def __init__(self, attempt: int, shard: int):
        self.attempt, self.shard = attempt, shard
        self._prefix = row_id(attempt, shard, 0)[:-6]  # "a{n}-s{shard}-r": a canonical id is this + 6 digits
        self._keys = bytearray()
        self._ends = array("Q")
        self._others: dict[str, str] = {}
        self.bad_lines = 0

    def add(self, line_number: int, raw: bytes) -> None:
        """The line_number-th line of the index (1-based; lines are given in order, blank ones may
        be left out)."""
        while len(self._ends) < line_number - 1:  # a line not given holds no key
            self._ends.append(len(self._keys))
        try:
            entry = orjson.loads(raw)
            row, key = entry["row_id"], entry["key"]
            if type(row) is not str or type(key) is not str:
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.bad_lines += 1
            self._ends.append(len(self._keys))
            return
        if row == f"{self._prefix}{line_number:06d}":  # what submit writes: the id names its line
            self._keys += key.encode("utf-8")
        else:
            self._others[row] = key
        self._ends.append(len(self._keys))

    def key_for(self, row: str) -> str | None:
        position = row_position(row, self.attempt, self.shard) if row.startswith(self._prefix) else None
        if position is not None and position <= len(self._ends):
            start = self._ends[position - 2] if position > 1 else 0
            end = self._ends[position - 1]
            if end > start:
                return self._keys[start:end].decode("utf-8")
        return self._others.get(row)

    def __len__(self) -> int:
        return len(self._ends)


class KeyIndex:
    """The key index of one prediction file's shard, loaded on first use."""

    def __init__(self, file_path: GcsPath, storage, input_bucket: str):
        self._file_path = file_path
        self._storage = storage
        self._input_bucket = input_bucket
        self._table: KeyTable | None = None
        self._problem: str | None = None
        self._loaded = False

    def key_for(self, row: str) -> tuple[str | None, str | None]:
        """(the key of this row id, None) or (None, why it was not found)."""
        if not self._loaded:
            self._load()
        if self._table is None:
            return None, self._problem
        key = self._table.key_for(row)
        if key is None:
            index = f"a{self._table.attempt}-s{self._table.shard:05d}"
            return None, f"request.labels.row_id {row[:80]!r} is not in the key index of {index}"
        return key, None

    def _load(self) -> None:
        """Read the whole index (transient errors raise: the chunk fails and is retried, rather than
        dead-lettering lines whose keys are there)."""
        from google.api_core.exceptions import NotFound

        self._loaded = True
        shard_input = input_for_output(self._file_path, self._input_bucket)
        if shard_input is None:
            self._problem = "the file's directory is not laid out as .../attempt-N/shard-NNNNN/: no key index"
            return
        index = key_index_of(shard_input)
        blob = self._storage.bucket(index.bucket).blob(index.name)
        try:
            call_with_retry(blob.reload, retry=None)  # shared.retry bounds an outage
        except NotFound:
            self._problem = f"no key index at {index.uri}"
            return
        self._table = load_table(blob_fetcher(blob, blob.generation), int(blob.size or 0),
                                 *attempt_and_shard(shard_input))  # type: ignore[misc]  # laid out: checked above


def load_table(fetch: Fetch, size: int, attempt: int, shard: int) -> KeyTable:
    """A key index object read with ranged reads (one window at a time) into its table."""
    table = KeyTable(attempt, shard)
    for number, data, _, too_long in iter_lines(fetch, size, 0, 1):
        if too_long:
            table.bad_lines += 1
        elif data.strip():
            table.add(number, data)
    return table
