"""One prediction output line -> a Record (becomes an output row) or a DeadLetter (with its reason).

The strict path (orjson) handles almost every line; a line that does not parse goes through a regex
fallback that still recovers the key and the model text where it can. Nothing here raises for bad
data: every line ends as exactly one Record or DeadLetter.

The key is read from a top-level `key` (or `id`, `custom_id`), which Vertex AI is seen to return but
does not document; a line without one is keyed through its echoed `request.labels.row_id` and the
file's key index (keyindex.py), and is dead-lettered `missing_key` when neither gives a key.

Dead-letter reasons: missing_key, bad_key, model_error (Vertex failed the row; its key is set aside
for a retry), prompt_blocked (promptFeedback.blockReason, no candidates), finish_safety (a content
filter stopped the answer: finishReason SAFETY, BLOCKLIST, PROHIBITED_CONTENT, SPII...),
finish_recitation (finishReason RECITATION), truncated (MAX_TOKENS and the text cannot be repaired into
an object), empty_response (no text parts), invalid_json, not_an_object, unparseable_line; later
stages add line_too_long (reader), number_out_of_range (rows) and insert_rejected (streaming).

Only model_error rows are set aside for the retry batch: an error status (quota, internal,
unavailable) says nothing about the request, and the next attempt may answer it. A blocked prompt or a
filtered answer would be stopped again, and a truncated one cut again at the same token limit: those
need a changed prompt (a new prompt version, a new run), not a second attempt of the same request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from pass1_processor.repair import parse_model_text
from shared.keys import BadKey, decode_key, find_key
from shared.layout import ROW_ID_LABEL

if TYPE_CHECKING:
    from pass1_processor.keyindex import KeyIndex

# The dead letter keeps this much of a line: enough to diagnose, bounded for BigQuery and memory.
RAW_LIMIT = 8192
DETAIL_LIMIT = 1000

RESPONSE_MEMBER = b'"response":'
KEY_RE = re.compile(rb'"(?:key|id|custom_id)"\s*:\s*"([^"\\]{1,4096})"')
ROW_ID_RE = re.compile(rb'"row_id"\s*:\s*"([a-z0-9_-]{1,63})"')
TEXT_RE = re.compile(rb'"text"\s*:\s*"((?:[^"\\]|\\.)*)"', re.S)
RESPONSE_RE = re.compile(rb'"response"\s*:\s*\{')
STATUS_RE = re.compile(rb'"status"\s*:\s*"((?:[^"\\]|\\.)+)"')
FINISH_RE = re.compile(rb'"finishReason"\s*:\s*"([A-Z_]{1,40})"')
VERSION_RE = re.compile(rb'"modelVersion"\s*:\s*"([^"\\]{1,200})"')
BLOCK_RE = re.compile(rb'"blockReason"\s*:\s*"([A-Z_]{1,40})"')
COUNT_RES = tuple(re.compile(rb'"%s"\s*:\s*(\d{1,12})' % name.encode())
                  for name in ("promptTokenCount", "candidatesTokenCount", "totalTokenCount"))


PROMPT_BLOCKED = "prompt_blocked"
FINISH_SAFETY = "finish_safety"
FINISH_RECITATION = "finish_recitation"
TRUNCATED = "truncated"
# finishReason values of an answer a filter stopped (aiplatform v1 Candidate.FinishReason): whatever
# text came back is not the model's whole answer, and the same request would be stopped again.
FILTERED_FINISH = {"SAFETY": FINISH_SAFETY, "BLOCKLIST": FINISH_SAFETY, "PROHIBITED_CONTENT": FINISH_SAFETY,
                   "SPII": FINISH_SAFETY, "IMAGE_SAFETY": FINISH_SAFETY, "MODEL_ARMOR": FINISH_SAFETY,
                   "RECITATION": FINISH_RECITATION}
CUT_SHORT = "MAX_TOKENS"


@dataclass(slots=True)
class Record:
    """A line whose model answer parsed into an object: it becomes an output row."""

    line_number: int
    composite_key: str
    phone_token: str
    interaction_id: str
    payload: dict | None  # the parsed answer; None once RowPlan.prepare has serialized it
    repaired: bool
    model_version: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    candidates_tokens: int | None
    total_tokens: int | None
    # Set by RowPlan.prepare: the record's own columns serialized (a JSON object without its closing
    # brace), and how many answer values did not fit their column. The payload is released then.
    fragment: bytes | None = None
    unconverted: int = 0


@dataclass(slots=True)
class DeadLetter:
    """A line that cannot become an output row, and why. retry_request is the retry record of a row
    Vertex failed: {"key"} serialized, the key of the request submit_batch sends again (it copies the
    request from the attempt's own input; the echoed request in the line is rewritten by Vertex AI
    and is never reused)."""

    line_number: int
    reason: str
    detail: str | None
    composite_key: str | None
    raw: str
    retry_request: bytes | None = None
    prompt_tokens: int | None = None
    candidates_tokens: int | None = None
    total_tokens: int | None = None


def extract_line(raw: bytes, line_number: int, keys: KeyIndex | None = None) -> Record | DeadLetter:
    """Classify one non-blank output line; `keys` (the file's key index) keys a line without a key."""
    tail = _response_tail(raw)
    if tail is not None:
        return _from_object(tail, raw, line_number, None)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _from_regex(raw, line_number, keys)
    if not isinstance(obj, dict):
        return _dead(line_number, "unparseable_line", "the line is not a JSON object", None, raw)
    return _from_object(obj, raw, line_number, keys)


def _response_tail(raw: bytes) -> dict | None:
    """The line's top-level members from `"response":` on, parsed on their own; None when that is not
    the line's answer with its key, and the whole line is parsed instead.

    Most of a successful line is the echoed request (the transcript), which a successful row does not
    need: parsing only the tail skips it. `{` + the bytes from the last `"response":` parses as one
    object only when that member sits at the top level (deeper, the rest of the line closes more
    brackets than it opens; inside a string a quote is escaped). The tail must hold the answer and a
    top-level "key", the field find_key prefers: a key placed before the request, a failed row (no
    response: its key is set aside for a retry) or a line that is not JSON go the whole-line way."""
    at = raw.rfind(RESPONSE_MEMBER)
    if at <= 0:
        return None
    try:
        tail = orjson.loads(b"{" + raw[at:])
    except orjson.JSONDecodeError:
        return None
    return tail if type(tail.get("response")) is dict and tail.get("key") else None


def _from_object(obj: dict, raw: bytes, line_number: int, keys: KeyIndex | None) -> Record | DeadLetter:
    key: Any = find_key(obj)  # any JSON value; a str once decode_key accepted it
    if key is None:
        key, problem = _indexed_key(_row_id(obj), keys)
        if key is None:
            return _dead(line_number, "missing_key", problem, None, raw)
    try:
        ck = decode_key(key)
    except BadKey as exc:
        return _dead(line_number, "bad_key", str(exc), _bounded_key(key), raw)
    response = obj.get("response")
    if not isinstance(response, dict):
        return _dead(line_number, "model_error", _status_text(obj.get("status")), key, raw, retry_record(key))
    usage = _usage(response)
    candidates = response.get("candidates")
    first = candidates[0] if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict) else {}
    finish = first.get("finishReason")
    if not first:
        feedback = response.get("promptFeedback")
        block = feedback.get("blockReason") if isinstance(feedback, dict) else None
        if block:
            return _dead(line_number, PROMPT_BLOCKED, _blocked_detail(block, feedback), key, raw, None,  # type: ignore[arg-type]
                         *usage)
    if finish in FILTERED_FINISH:
        return _dead(line_number, FILTERED_FINISH[finish], _filtered_detail(finish, first), key, raw, None, *usage)
    text = _text(first)
    if text is None:
        return _dead(line_number, TRUNCATED if finish == CUT_SHORT else "empty_response",
                     f"no text parts (finishReason {finish})", key, raw, None, *usage)
    parsed = parse_model_text(text)
    if parsed.payload is None:
        return _dead(line_number, *_unparsed(parsed, finish), key, raw, None, *usage)
    return Record(line_number, key, ck.phone_token, ck.interaction_id, parsed.payload, parsed.repaired,
                  _str_or_none(response.get("modelVersion")), _str_or_none(finish), *usage)


def _unparsed(parsed, finish: object) -> tuple[str, str | None]:
    """(reason, detail) of a text that gave no object: `truncated` when the answer was cut short."""
    if finish == CUT_SHORT:
        return TRUNCATED, f"cut at the output token limit (finishReason MAX_TOKENS), not repairable: {parsed.detail}"
    return parsed.reason, parsed.detail


def _blocked_detail(block: object, feedback: dict) -> str:
    message = feedback.get("blockReasonMessage")
    detail = f"the prompt was blocked: blockReason {block}" + (f" ({message})" if isinstance(message, str) else "")
    return detail + _blocked_categories(feedback.get("safetyRatings"))


def _filtered_detail(finish: str, candidate: dict) -> str:
    what = "for recitation" if finish == "RECITATION" else "by a content filter"
    return f"the answer was stopped {what}: finishReason {finish}" + _blocked_categories(candidate.get("safetyRatings"))


def _blocked_categories(ratings: object) -> str:
    blocked = [r.get("category") for r in ratings if isinstance(r, dict) and r.get("blocked")] \
        if isinstance(ratings, list) else []
    return f"; blocked: {', '.join(str(c) for c in blocked)}" if blocked else ""


def _row_id(obj: dict) -> str | None:
    """The row id the echoed request carries in its labels, if any."""
    request = obj.get("request")
    labels = request.get("labels") if isinstance(request, dict) else None
    row = labels.get(ROW_ID_LABEL) if isinstance(labels, dict) else None
    return row if isinstance(row, str) and row else None


def _indexed_key(row: str | None, keys: KeyIndex | None) -> tuple[str | None, str]:
    """(the key of a keyless line through the key index, "") or (None, why there is none)."""
    if row is None:
        return None, "no key, id or custom_id in the line, and no request.labels.row_id"
    if keys is None:
        return None, f"no key in the line, and no key index to look up row id {row[:80]!r}"
    key, problem = keys.key_for(row)
    return (key, "") if key is not None else (None, f"no key in the line; {problem}")


def _text(candidate: dict) -> str | None:
    """All text parts of a candidate, joined; None when it has none. Thought parts (thinking models
    with includeThoughts) are not the answer."""
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return None
    if len(parts) == 1:  # the usual answer: one text part
        part = parts[0]
        if type(part) is dict and type(text := part.get("text")) is str and not part.get("thought"):
            return text
    texts = [p["text"] for p in parts
             if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")]
    return "".join(texts) if texts else None


def _usage(response: dict) -> tuple[int | None, int | None, int | None]:
    usage = response.get("usageMetadata")
    if not isinstance(usage, dict):
        return None, None, None
    return (_int_or_none(usage.get("promptTokenCount")), _int_or_none(usage.get("candidatesTokenCount")),
            _int_or_none(usage.get("totalTokenCount")))


def _from_regex(raw: bytes, line_number: int, keys: KeyIndex | None) -> Record | DeadLetter:
    """A line that is not JSON (cut short, a stray byte): recover what the regexes can."""
    key = next((m.group(1).decode("utf-8", "replace") for m in KEY_RE.finditer(raw) if _decodes(m.group(1))), None)
    response = RESPONSE_RE.search(raw)
    if key is None:
        row = ROW_ID_RE.search(raw[:response.start()] if response else raw)
        key, problem = _indexed_key(row.group(1).decode() if row else None, keys)
        if key is None or not _decodes(key.encode("utf-8")):
            return _dead(line_number, "unparseable_line", f"the line does not parse; {problem or 'bad indexed key'}",
                         None, raw)
    if response is None:
        status = STATUS_RE.search(raw)
        if status:
            return _dead(line_number, "model_error", _unescape(status.group(1)), key, raw, retry_record(key))
        return _dead(line_number, "unparseable_line", "the line does not parse and has no response", key, raw)
    tail = raw[response.end():]  # the echoed request has text parts too: only the response's count
    texts = [_unescape(m.group(1)) for m in TEXT_RE.finditer(tail)]
    usage: Any = tuple(_regex_int(pattern, tail) for pattern in COUNT_RES)  # prompt, candidates, total
    finish, version, block = FINISH_RE.search(tail), VERSION_RE.search(tail), BLOCK_RE.search(tail)
    finish_text = finish.group(1).decode() if finish else None
    if block and not texts:
        return _dead(line_number, PROMPT_BLOCKED, f"the prompt was blocked: blockReason {block.group(1).decode()}",
                     key, raw, None, *usage)
    if finish_text in FILTERED_FINISH:
        return _dead(line_number, FILTERED_FINISH[finish_text], _filtered_detail(finish_text, {}), key, raw, None,
                     *usage)
    if not texts or any(t is None for t in texts):
        return _dead(line_number, "unparseable_line", "the line does not parse; no model text recovered",
                     key, raw, None, *usage)
    parsed = parse_model_text("".join(texts))  # type: ignore[arg-type]  # no None left (checked above)
    if parsed.payload is None:
        return _dead(line_number, *_unparsed(parsed, finish_text), key, raw, None, *usage)
    ck = decode_key(key)
    # The line itself needed recovery: flag the row as repaired.
    return Record(line_number, key, ck.phone_token, ck.interaction_id, parsed.payload, True,
                  version.group(1).decode() if version else None, finish_text, *usage)


def retry_record(key: str) -> bytes:
    """The line that sets a failed row aside for a retry batch: {"key": ...}."""
    # A copy of orjson's output: its own bytes object keeps the whole output buffer while held.
    return bytes(memoryview(orjson.dumps({"key": key})))


def _decodes(key: bytes) -> bool:
    try:
        decode_key(key.decode("utf-8"))
        return True
    except (BadKey, UnicodeDecodeError):
        return False


def _unescape(escaped: bytes) -> str | None:
    try:
        value = orjson.loads(b'"' + escaped + b'"')
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, str) else None


def _regex_int(pattern: re.Pattern, data: bytes) -> int | None:
    match = pattern.search(data)
    return int(match.group(1)) if match else None


def _dead(line_number: int, reason: str, detail: str | None, key: object, raw: bytes,
          retry: bytes | None = None, prompt: int | None = None, candidates: int | None = None,
          total: int | None = None) -> DeadLetter:
    text = raw[:RAW_LIMIT].decode("utf-8", "replace")
    return DeadLetter(line_number, reason, detail[:DETAIL_LIMIT] if detail else None, _bounded_key(key), text,
                      retry, prompt, candidates, total)


def _bounded_key(key: object) -> str | None:
    if key is None:
        return None
    text = key if isinstance(key, str) else orjson.dumps(key).decode()
    return text[:1024]


def _status_text(status: object) -> str:
    if isinstance(status, str) and status:
        return status
    if status:
        return orjson.dumps(status).decode()
    return "the row has no response and no status"


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(value: object) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():  # proto JSON writes int64 as a string
        return int(value)
    return None
