"""Stage 1, the parse floor: the least any processor must do with each line.

Read the file in the reader's window size, cut each line out of it as the reader does, orjson-parse
each line and the model text inside it, and decode the composite key (shared/keys.py). Nothing is
kept: no rows, no repair, no lookup. Its throughput is the physical reference the processor's CPU stage
is compared with.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from shared.keys import BadKey, decode_key

WINDOW = 8 * 1024 * 1024  # the processor reader's window (pass1_processor/reader.py)


def setup(path: Path):
    """Nothing to prepare beyond the imports; returns the pass to time."""
    return lambda: run(path)


def run(path: Path) -> dict:
    """Counts of one pass: lines, texts that parsed, keys that decoded."""
    lines = texts = keys = 0
    carry = b""
    with open(path, "rb") as source:
        while True:
            block = source.read(WINDOW)
            if not block:
                break
            data = carry + block
            find, start = data.find, 0
            while (newline := find(b"\n", start)) >= 0:  # as the reader cuts lines (cache-friendly)
                lines += 1
                t, k = _line(data[start:newline])
                texts += t
                keys += k
                start = newline + 1
            carry = data[start:]
    if carry:
        lines += 1
        t, k = _line(carry)
        texts += t
        keys += k
    return {"lines": lines, "texts_parsed": texts, "keys_decoded": keys}


def _line(raw: bytes) -> tuple[int, int]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return 0, 0
    parsed = decoded = 0
    try:
        text = obj["response"]["candidates"][0]["content"]["parts"][0]["text"]
        orjson.loads(text)
        parsed = 1
    except (KeyError, IndexError, TypeError, orjson.JSONDecodeError):
        pass
    try:
        decode_key(obj.get("key"))
        decoded = 1
    except BadKey:
        pass
    return parsed, decoded
