"""Output lines of a batch prediction job, in the real Gemini batch format, with row faults."""

import base64
import hashlib
import json
import math

from . import model
from .errors import row_status
from .faults import pick, row_faults, unit

PROSE_BEFORE = (
    "Here is the analysis of the call:",
    "Sure! Below is the JSON you asked for.",
    "Analysis complete. The structured result follows.",
)
PROSE_AFTER = (
    "Let me know if you need anything else.",
    "I hope this helps with your review.",
    "Note: the sentiment is based on the customer's final statements.",
)
NO_PARTS_REASONS = ("STOP", "SAFETY", "RECITATION", "OTHER")
RESERVED = ("status", "processed_time", "request", "response")


def tokens(text):
    """A rough token count: about four characters per token, as for English text."""
    return math.ceil(len(text) / 4)


def _split(text, seed, row_id):
    count = 2 + int(unit(seed, "split_count", row_id) * 3)
    cuts = sorted({max(1, int(len(text) * (i + unit(seed, "split_at", row_id, i)) / count))
                   for i in range(count - 1)})
    bounds = [0, *[c for c in cuts if c < len(text)], len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def model_text(analysis, faults, seed, row_id):
    """The text the model answers, with the text faults applied: (parts or None, finishReason)."""
    text = json.dumps(analysis, ensure_ascii=False)
    if "trailing_comma" in faults:
        text = text[:-1] + ",}"
    if "single_quotes" in faults:
        text = text.replace('"', "'")
    if "fenced" in faults:
        text = f"```json\n{text}\n```"
    if "prose" in faults:
        text = f"{pick(PROSE_BEFORE, seed, 'before', row_id)}\n\n{text}\n\n{pick(PROSE_AFTER, seed, 'after', row_id)}"
    finish = "STOP"
    if "truncated" in faults:
        text = text[: int(len(text) * (0.3 + 0.5 * unit(seed, "truncate_at", row_id)))]
        finish = "MAX_TOKENS"
    if "no_parts" in faults:
        return None, text, pick(NO_PARTS_REASONS, seed, "no_parts_reason", row_id)
    if "split_parts" in faults:
        return [{"text": piece} for piece in _split(text, seed, row_id)], text, finish
    return [{"text": text}], text, finish


def _usage(request, answer_text, has_parts):
    prompt = tokens(json.dumps(request.get("systemInstruction") or {}) + "".join(model.request_texts(request)))
    usage = {"promptTokenCount": max(1, prompt),
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": max(1, prompt)}]}
    answer = tokens(answer_text) if has_parts else 0
    if answer:  # proto JSON leaves out zero counts, as the real service does
        usage["candidatesTokenCount"] = answer
        usage["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": answer}]
    usage["totalTokenCount"] = max(1, prompt) + answer
    usage["trafficType"] = "ON_DEMAND"
    return usage


def success_response(request, requested_model, faults, seed, row_id, created):
    """The `response` object of a successful line."""
    transcript = model.extract_transcript(request)
    parts, text, finish = model_text(model.analyse(transcript), faults, seed, row_id)
    content = {"role": "model"}
    if parts is not None:
        content["parts"] = parts
    digest = hashlib.sha256(f"{seed}|{row_id}".encode()).digest()
    candidate = {"avgLogprobs": -round(0.05 + unit(seed, "logprobs", row_id) * 0.5, 6),
                 "content": content, "finishReason": finish}
    return {
        "candidates": [candidate],
        "createTime": created,
        "modelVersion": model.model_version(requested_model),
        "responseId": base64.urlsafe_b64encode(digest[:16]).decode().rstrip("="),
        "usageMetadata": _usage(request, text, parts is not None),
    }


def _times(now):
    processed = now.isoformat(timespec="milliseconds").replace("+00:00", "") + "+00:00"
    created = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return processed, created


def output_line(row, requested_model, config, now):
    """One output line (a dict) for an input row (see gcs_io.InputRow), processed at `now` (UTC)."""
    processed, created = _times(now)
    extras = {key: value for key, value in row.fields.items() if key not in RESERVED}
    request = row.fields.get("request")
    if not isinstance(request, dict) or not request.get("contents"):
        return {"status": row_status(400), "processed_time": processed, "request": request, **extras}
    faults = row_faults(config, row.row_id)
    if "row_error" in faults:
        code = pick(config["row_error_codes"], config["seed"], "row_error_code", row.row_id)
        return {"status": row_status(code), "processed_time": processed, "request": request, **extras}
    response = success_response(request, requested_model, faults, config["seed"], row.row_id, created)
    return {"status": "", "processed_time": processed, "request": request, "response": response, **extras}
