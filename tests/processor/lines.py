"""Builders of prediction output lines in Vertex's Gemini batch format, for synthetic test files."""

from __future__ import annotations

import orjson

from shared.keys import encode_key

MODEL = "gemini-2.5-flash"


def analysis(i: int, **overrides) -> dict:
    """A plausible pass1 answer; i makes it unique."""
    return {"summary": f"Call {i} about billing.", "sentiment": "neutral", "customer_intent": "billing_dispute",
            "resolution_status": "resolved", "topics": ["billing"], "agent_performance_score": 3 + i % 3,
            "compliance_flags": [], "follow_up_required": i % 2 == 0, **overrides}


def request(i: int) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": f"Transcript: Customer: my bill {i} is wrong."}]}]}


def success(token: str, interaction: str, payload=None, *, text: str | None = None, parts: list | None = None,
            finish: str = "STOP", key: str | None = None, usage=(100, 20, 120), i: int = 0) -> dict:
    """A successful line; text (or explicit parts) overrides the JSON of payload."""
    if parts is None:
        body = text if text is not None else orjson.dumps(payload if payload is not None else analysis(i)).decode()
        parts = [{"text": body}]
    content = {"role": "model", "parts": parts} if parts != [] else {"role": "model"}
    return {
        "status": "", "processed_time": "2025-01-01T00:00:00.000+00:00", "request": request(i),
        "response": {"candidates": [{"content": content, "finishReason": finish}],
                     "usageMetadata": {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1],
                                       "totalTokenCount": usage[2]},
                     "modelVersion": MODEL},
        "key": key if key is not None else encode_key(token, interaction),
    }


def failed(token: str, interaction: str, code: int = 429, i: int = 0) -> dict:
    """A row Vertex failed: no response, the error in status."""
    return {"status": f'Too Many Requests: {{"error": {{"code": {code}, "status": "RESOURCE_EXHAUSTED"}}}}',
            "processed_time": "2025-01-01T00:00:00.000+00:00", "request": request(i),
            "key": encode_key(token, interaction)}


def with_row_ids(inputs: list[dict], attempt: int, shard: int) -> list[dict]:
    """Input lines as submit_batch writes them: each request labelled with the row id of its place."""
    from shared.layout import ROW_ID_LABEL, row_id

    return [{**line, "request": {**line["request"], "labels": {ROW_ID_LABEL: row_id(attempt, shard, n)}}}
            for n, line in enumerate(inputs, 1)]


def key_index_of(inputs: list[dict]) -> list[dict]:
    """The key index of labelled input lines, in the format submit_batch writes (shared/layout.py)."""
    from shared.keys import decode_key

    return [{"row_id": line["request"]["labels"]["row_id"], "key": line["key"],
             "phone_number_token": decode_key(line["key"]).phone_token,
             "interaction_id": decode_key(line["key"]).interaction_id} for line in inputs]


def keyless(line: dict, row: str | None) -> dict:
    """An output line without its top-level key, the echoed request labelled with `row` (if any)."""
    out = {k: v for k, v in line.items() if k != "key"}
    if row is not None:
        out["request"] = {**out["request"], "labels": {"row_id": row}}
    return out


def jsonl(lines) -> bytes:
    """Lines (dicts, or bytes/str taken as they are) as JSONL bytes."""
    out = []
    for line in lines:
        if isinstance(line, dict):
            out.append(orjson.dumps(line))
        elif isinstance(line, str):
            out.append(line.encode())
        else:
            out.append(line)
    return b"\n".join(out) + b"\n"


def many(n: int, start: int = 0, prefix: str = "tok") -> list[dict]:
    """n distinct successful lines."""
    return [success(f"{prefix}{i}", f"INT-{i}", analysis(i), i=i) for i in range(start, start + n)]


def duplicate_of(line: dict) -> dict:
    """The same output line again (same key): Vertex repeating a row, or a key sent twice."""
    return orjson.loads(orjson.dumps(line))
