"""The model's text -> the JSON object it meant.

Order of attempts, cheapest first: a strict parse of the whole text; the JSON isolated from markdown
fences and prose, parsed strictly; trailing commas removed; single quotes re-quoted and a cut-short
object closed (quickfix.py, linear time); and only then json_repair, on a bounded input (its time grows
non-linearly with size; a 35 KB string took over 20 s).
The payload must be a JSON object. `repaired` is true only when the JSON itself had to be changed
(comma removed or json_repair); unwrapping fences and prose is not a repair.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import orjson

from pass1_processor.quickfix import close_truncated, requote

# About 80 ms of json_repair on this machine (2-3 us per character); a longer malformed text is
# dead-lettered as too large instead of stalling the chunk.
MAX_REPAIR_CHARS = 32_000
# json_repair's time also grows with the number of open brackets times the length (about 0.1 us per
# unit here): 30 KB of `[{"b": "x` took 5 s. Length x (1 + brackets) above this is dead-lettered too,
# which keeps one hostile line to about 0.2 s; real answers (2 KB, 20 brackets) are far below it.
MAX_REPAIR_COST = 2_000_000
FENCE = re.compile(r"```[A-Za-z]*[ \t]*\r?\n?(.*?)```", re.S)
# A comma before any closing brace or bracket: the commonest slip, fixed without json_repair (about 60x
# cheaper). Applied only to text that failed a strict parse, and kept only if the result parses.
TRAILING_COMMA = re.compile(r",(\s*[}\]])")


class Parsed(NamedTuple):
    """The outcome: a payload, or a dead-letter reason with a short detail. A named tuple: one is
    made per output line."""

    payload: dict | None
    repaired: bool = False
    reason: str | None = None
    detail: str | None = None


def parse_model_text(text: str) -> Parsed:
    """Parse the model's answer into a dict (see the module docstring for the order of attempts)."""
    stripped = text.strip()
    if not stripped:
        return Parsed(None, reason="empty_response", detail="the model text is empty")
    try:
        value = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        pass
    else:
        return Parsed(value) if type(value) is dict else _object(value, repaired=False)
    candidate = isolate_json(stripped)
    if candidate is None:
        return Parsed(None, reason="invalid_json", detail="no JSON object in the model text")
    if candidate != stripped:
        try:
            return _object(orjson.loads(candidate), repaired=False)
        except orjson.JSONDecodeError:
            pass
    fixed = TRAILING_COMMA.sub(r"\1", candidate)
    if fixed != candidate:
        try:
            return _object(orjson.loads(fixed), repaired=True)
        except orjson.JSONDecodeError:
            pass
    quick = _quick_fix(candidate)
    return quick if quick is not None else _repair(candidate)


def _quick_fix(candidate: str) -> Parsed | None:
    """Single quotes re-quoted and a cut-short object closed, in linear time (see quickfix.py); None
    when that does not give an object with fields, and json_repair has to decide."""
    if len(candidate) > MAX_REPAIR_CHARS:
        return None
    requoted = requote(candidate)
    text = requoted or candidate
    # The candidate itself and its trailing-comma fix were parsed already; only what requoting changed.
    tries = (requoted, TRAILING_COMMA.sub(r"\1", requoted)) if requoted else ()
    for attempt in (*tries, close_truncated(text)):
        if attempt is None:
            continue
        try:
            value = orjson.loads(attempt)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict) and value:
            return Parsed(value, repaired=True)
    return None


def isolate_json(text: str) -> str | None:
    """The part of text that should be the JSON object: inside a markdown fence when there is one,
    from the first '{' to the last '}' (or to the end, when the text was cut short). None when the
    text holds no '{' at all."""
    fence = FENCE.search(text)
    if fence:
        text = fence.group(1).strip()
    elif text.startswith("```"):  # an opening fence whose closing fence was cut off
        text = text.split("\n", 1)[1] if "\n" in text else text[3:]
    if text.startswith("["):  # an array is JSON too: parsed, it is refused as not an object
        return text
    start = text.find("{")
    if start < 0:
        return None
    end = text.rfind("}")
    return text[start:end + 1] if end > start else text[start:]


def _repair(candidate: str) -> Parsed:
    if len(candidate) > MAX_REPAIR_CHARS:
        return Parsed(None, reason="invalid_json",
                      detail=f"malformed JSON of {len(candidate)} characters is too large to repair")
    if len(candidate) * (1 + candidate.count("{") + candidate.count("[")) > MAX_REPAIR_COST:
        return Parsed(None, reason="invalid_json",
                      detail="malformed JSON with too many open brackets to repair")
    import json_repair  # only ever needed for a few lines

    try:
        value = json_repair.loads(candidate, skip_json_loads=True)
    except (RecursionError, ValueError, TypeError, IndexError) as exc:  # json_repair's known failures
        return Parsed(None, reason="invalid_json", detail=f"repair failed: {type(exc).__name__}")
    if candidate.startswith("{") and not (isinstance(value, dict) and value):
        return Parsed(None, reason="invalid_json", detail="repair found no object fields")
    return _object(value, repaired=True)


def _object(value: object, *, repaired: bool) -> Parsed:
    if isinstance(value, dict):
        return Parsed(value, repaired=repaired)
    return Parsed(None, reason="not_an_object", detail=f"the payload is a JSON {_kind(value)}, not an object")


def _kind(value: object) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
