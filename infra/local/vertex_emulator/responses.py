"""Output lines of a batch prediction job, in the real Gemini batch format, with row faults.

A line is {"status", "processed_time", "request", "response"} (the published sample's order), the
request echoed as the service rewrites it (echo.py), then the input line's extra top-level fields
(`key`, `id`...), which the service is seen to return but does not document (`drop_extra_fields`
leaves them out). Objects inside `response` come with sorted keys, as in the sample. A failed row
has no `response`, its error in `status`. A request the service refuses (no contents, bad labels)
fails its row with 400.
"""

import base64
import hashlib
import json
import math

from . import model
from .echo import echoed, sorted_keys
from .errors import row_status
from .faults import pick, row_faults, unit
from .resource import label_problem

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
# A candidate without parts that was not stopped by a filter (SAFETY and RECITATION have faults of their own).
NO_PARTS_REASONS = ("STOP", "OTHER")
# promptFeedback.blockReason (aiplatform v1 PromptFeedback.BlockedReason).
BLOCK_REASONS = ("SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "OTHER")
HARM_CATEGORIES = ("HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_HARASSMENT",
                   "HARM_CATEGORY_SEXUALLY_EXPLICIT")
RESERVED = ("status", "processed_time", "request", "response")


def tokens(text):
    """A rough token count: about four characters per token, as for English text."""
    return math.ceil(len(text) / 4)


def _split(text, seed, row_id):
    count = 2 + int(unit(seed, "split_count", row_id) * 3)
    cuts = sorted({max(1, int(len(text) * (i + unit(seed, "split_at", row_id, i)) / count))
                   for i in range(count - 1)})
    bounds = [0, *[c for c in cuts if c < len(text)], len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


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


def _prompt_tokens(request):
    return max(1, tokens(json.dumps(request.get("systemInstruction") or {}) + "".join(model.request_texts(request))))


def _usage(request, answer_text, has_parts):
    prompt = _prompt_tokens(request)
    usage = {"promptTokenCount": prompt, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]}
    answer = tokens(answer_text) if has_parts else 0
    if answer:  # proto JSON leaves out zero counts, as the real service does
        usage["candidatesTokenCount"] = answer
        usage["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": answer}]
    usage["totalTokenCount"] = prompt + answer
    usage["trafficType"] = "ON_DEMAND"
    return usage


def _ratings(seed, row_id, blocked):
    """safetyRatings with one category flagged (and `blocked` on it when the filter acted)."""
    flagged = pick(HARM_CATEGORIES, seed, "harm", row_id)
    ratings = []
    for category in HARM_CATEGORIES:
        high = category == flagged
        rating = {"category": category, "probability": "HIGH" if high else "NEGLIGIBLE",
                  "probabilityScore": 0.92 if high else 0.03,
                  "severity": "HARM_SEVERITY_HIGH" if high else "HARM_SEVERITY_NEGLIGIBLE",
                  "severityScore": 0.81 if high else 0.02}
        if high and blocked:
            rating["blocked"] = True
        ratings.append(rating)
    return ratings


def _envelope(requested_model, seed, row_id, created, **members):
    digest = hashlib.sha256(f"{seed}|{row_id}".encode()).digest()
    response = {"createTime": created, "modelVersion": model.model_version(requested_model),
                "responseId": base64.urlsafe_b64encode(digest[:16]).decode().rstrip("="), **members}
    return sorted_keys(response)


def blocked_response(request, requested_model, seed, row_id, created):
    """A prompt the filters refused: promptFeedback.blockReason, no candidates, prompt tokens only."""
    reason = pick(BLOCK_REASONS, seed, "block_reason", row_id)
    feedback = {"blockReason": reason, "blockReasonMessage": f"The prompt was blocked ({reason.lower()})."}
    if reason == "SAFETY":
        feedback["safetyRatings"] = _ratings(seed, row_id, blocked=True)
    prompt = _prompt_tokens(request)
    usage = {"promptTokenCount": prompt, "totalTokenCount": prompt, "trafficType": "ON_DEMAND"}
    return _envelope(requested_model, seed, row_id, created, promptFeedback=feedback, usageMetadata=usage)


def filtered_candidate(kind, seed, row_id):
    """A candidate a filter stopped: SAFETY (no content at all, the rating that blocked it) or
    RECITATION (an empty model turn and the citation it matched)."""
    if kind == "safety":
        return {"finishReason": "SAFETY", "safetyRatings": _ratings(seed, row_id, blocked=True)}
    return {"citationMetadata": {"citations": [{"endIndex": 120, "startIndex": 0,
                                                "uri": "https://example.com/published-transcript"}]},
            "content": {"role": "model"}, "finishReason": "RECITATION"}


def success_response(request, requested_model, faults, seed, row_id, created):
    """The `response` object of a line the model answered."""
    if "blocked" in faults:
        return blocked_response(request, requested_model, seed, row_id, created)
    for kind in ("safety", "recitation"):
        if kind in faults:
            usage = _usage(request, "", False)
            return _envelope(requested_model, seed, row_id, created,
                             candidates=[filtered_candidate(kind, seed, row_id)], usageMetadata=usage)
    transcript = model.extract_transcript(request)
    parts, text, finish = model_text(model.analyse(transcript), faults, seed, row_id)
    content = {"parts": parts, "role": "model"} if parts is not None else {"role": "model"}
    candidate = {"avgLogprobs": -round(0.05 + unit(seed, "logprobs", row_id) * 0.5, 6),
                 "content": content, "finishReason": finish}
    return _envelope(requested_model, seed, row_id, created, candidates=[candidate],
                     usageMetadata=_usage(request, text, parts is not None))


def _times(now):
    processed = now.isoformat(timespec="milliseconds").replace("+00:00", "") + "+00:00"
    created = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return processed, created


def refusal(request):
    """Why the service refuses this request (its row fails with 400), or None."""
    if not isinstance(request, dict) or not request.get("contents"):
        return "Request contains an invalid argument: contents is required."
    if "labels" in request:
        return label_problem(request["labels"])
    return None


def output_line(row, requested_model, config, now):
    """One output line (a dict) for an input row (see gcs_io.InputRow), processed at `now` (UTC)."""
    processed, created = _times(now)
    faults = row_faults(config, row.row_id)
    extras = {} if "drop_extra_fields" in faults else {
        key: value for key, value in row.fields.items() if key not in RESERVED}
    request = row.fields.get("request")
    line = {"status": "", "processed_time": processed, "request": echoed(request)}
    problem = refusal(request)
    if problem:
        return {**line, "status": row_status(400, problem), **extras}
    if "row_error" in faults:
        code = pick(config["row_error_codes"], config["seed"], "row_error_code", row.row_id)
        return {**line, "status": row_status(code), **extras}
    line["response"] = success_response(request, requested_model, faults, config["seed"], row.row_id, created)
    return {**line, **extras}
