"""Lines of a Cloud Storage object, read with ranged requests from any byte offset.

Only one window of the file is in memory at a time (never the whole file), and every line comes with
the byte offset just after it: a checkpoint stores that offset and the next call starts there. The
Storage emulator honours `Range: bytes=a-b`, as Cloud Storage does.
"""

from __future__ import annotations

from concurrent.futures import Future, wait
from typing import Callable, Iterator, NamedTuple

from pass1_processor.pools import pool
from shared.retry import call_with_retry

# One ranged GET per window. 8 MiB amortises the request cost (about 30 ms against the real
# service) while keeping the read buffer small next to the chunk itself.
WINDOW_BYTES = 8 * 1024 * 1024
# A line longer than this is not a prediction line we can use; it is dead-lettered (first bytes
# kept) and skipped instead of growing the buffer without bound.
MAX_LINE_BYTES = 32 * 1024 * 1024

# One read ahead per file being read.
READ_AHEAD_POOL, READ_AHEAD_WORKERS = "read-ahead", 8

CR = ord("\r")  # a line ending in CRLF loses its CR too
Fetch = Callable[[int, int], bytes]  # (start, end exclusive) -> bytes


class Line(NamedTuple):
    """A physical line: its 1-based number, its bytes without the newline, the byte offset after
    it, and whether it was cut at MAX_LINE_BYTES. A named tuple: one is made per line."""

    number: int
    data: bytes
    end: int
    too_long: bool = False


def blob_fetcher(blob, generation: int | None) -> Fetch:
    """Ranged reads of one object generation, each retried on transient errors."""

    def fetch(start: int, end: int) -> bytes:
        # raw_download: the bytes as stored (no decompressive transcoding that would shift offsets);
        # checksum=None: a range has no whole-object checksum to verify.
        return call_with_retry(blob.download_as_bytes, start=start, end=end - 1, raw_download=True,
                               checksum=None, if_generation_match=generation, retry=None)  # shared.retry bounds it

    return fetch


class ReadAhead:
    """`fetch`, with the next window requested while the caller works on this one.

    Each read (start, end) also starts the read of (end, end + (end - start)) on a background
    thread, so the next window is on its way (or here) when iter_lines asks for it: the network wait
    overlaps the extraction of the window before. One window ahead at most (one more window in
    memory), and one read of the object at a time: a read for another range than the one ahead
    waits for that one to end (its bytes are dropped) and is made directly. An error of the read
    ahead is raised when its range is asked for, as a direct read's. close() waits for a read still
    ahead, so that none outlives the caller's work.
    """

    def __init__(self, fetch: Fetch, size: int):
        self._fetch, self._size = fetch, size
        self._ahead: tuple[int, int, Future] | None = None

    def __call__(self, start: int, end: int) -> bytes:
        hit, self._ahead = self._ahead, None
        if hit is not None and hit[:2] == (start, end):
            block = hit[2].result()
        else:
            if hit is not None:
                wait([hit[2]])
            block = self._fetch(start, end)
        following = min(self._size, end + (end - start))
        if end < following:
            ahead = pool(READ_AHEAD_POOL, READ_AHEAD_WORKERS).submit(self._fetch, end, following)
            self._ahead = (end, following, ahead)
        return block

    def close(self) -> None:
        hit, self._ahead = self._ahead, None
        if hit is not None:
            wait([hit[2]])


def read_ahead(fetch: Fetch, size: int) -> ReadAhead:
    """`fetch` reading one window ahead (ReadAhead)."""
    return ReadAhead(fetch, size)


def iter_lines(fetch: Fetch, size: int, offset: int, line_number: int, *,
               window: int = WINDOW_BYTES, max_line: int = MAX_LINE_BYTES) -> Iterator[Line]:
    """Every line from byte `offset` (the start of line `line_number`) to `size`. A last line
    without a newline is a line too."""
    carry = b""
    position = offset          # file offset of the first byte after what was fetched
    skipping = False           # inside an over-long line: drop bytes until its newline
    long_start: Line | None = None
    while position < size:
        block = fetch(position, min(size, position + window))
        if not block:
            break
        start_of_block = position - len(carry)
        position += len(block)
        data = carry + block if carry else block
        del block
        # Each line is cut out of the window just before it is parsed (find, then slice): splitting
        # the whole window first writes 8 MiB of copies that are out of the CPU cache again by the
        # time their turn comes.
        find, start = data.find, 0
        while (newline := find(b"\n", start)) >= 0:
            cursor = start_of_block + newline + 1
            if skipping:
                skipping = False
                yield Line(long_start.number, long_start.data, cursor, True)  # type: ignore[union-attr]
            else:
                end = newline - 1 if newline > start and data[newline - 1] == CR else newline
                yield Line(line_number, data[start:end], cursor)
            line_number += 1
            start = newline + 1
        carry = data[start:]
        del data
        if len(carry) > max_line:
            if not skipping:
                skipping, long_start = True, Line(line_number, carry[:max_line], 0, True)
            carry = b""
    if skipping:
        yield Line(long_start.number, long_start.data, size, True)  # type: ignore[union-attr]
    elif carry:
        yield Line(line_number, carry[:-1] if carry.endswith(b"\r") else carry, size)
