"""Stage 2, the naive path as the original design describes it (its sequence diagram):

the whole file downloaded as one string, split into lines, json.loads of each line (a regex when it
does not parse), json_repair on every model text (`safe_repair_json`), the repaired texts parsed,
keys decoded, the lookup answered from memory (as in stage 3), every row built into one list and
serialized as insert_rows_json would send it. Rows are kept until the end, as the original design does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import json_repair

from bench.memlookup import lookup_values
from shared.keys import BadKey, decode_key

KEY_RE = re.compile(r'"key"\s*:\s*"([^"]+)"')
TEXT_RE = re.compile(r'"text"\s*:\s*"((?:[^"\\]|\\.)*)"')


def setup(path: Path):
    """Nothing to prepare beyond the imports; returns the pass to time."""
    return lambda: run(path)


def run(path: Path) -> dict:
    """Counts of one pass: lines, rows built, bytes of serialized rows."""
    content = path.read_bytes().decode("utf-8")  # blob.download_as_text()
    extracted: dict[str, str] = {}
    lines = 0
    for raw_line in content.split("\n"):
        if not raw_line.strip():
            continue
        lines += 1
        key, text = _extract(raw_line)
        if key and text:
            extracted[key] = json_repair.repair_json(text)  # safe_repair_json(text)
    parsed = {}
    for key, response_str in extracted.items():  # parse_responses
        try:
            payload = json.loads(response_str)
        except json.JSONDecodeError:
            continue
        if isinstance(payload, dict):
            parsed[key] = payload
    rows = _rows(parsed)
    serialized = sum(len(json.dumps(row)) for row in rows)
    return {"lines": lines, "rows": len(rows), "row_bytes": serialized}


def _extract(raw_line: str) -> tuple[str | None, str | None]:
    try:
        obj = json.loads(raw_line)
    except json.JSONDecodeError:  # extract_via_regex
        key, text = KEY_RE.search(raw_line), TEXT_RE.search(raw_line)
        return (key.group(1) if key else None), (text.group(1) if text else None)
    try:  # extract_via_json
        parts = obj["response"]["candidates"][0]["content"]["parts"]
        return obj.get("key"), "".join(p.get("text", "") for p in parts)
    except (KeyError, IndexError, TypeError):
        return obj.get("key"), None


def _rows(parsed: dict[str, dict]) -> list[dict]:
    rows = []
    for key, payload in parsed.items():  # build_analyzed_transcript_rows
        try:
            ck = decode_key(key)
        except BadKey:
            continue
        row = {"composite_key": key, "phone_number_token": ck.phone_token, "interaction_id": ck.interaction_id}
        row.update({name: _for_bq(value) for name, value in payload.items()})
        row.update(lookup_values(ck.phone_token, ck.interaction_id) or {})
        rows.append(row)
    return rows


def _for_bq(value):
    """convert_value_for_bq: nested objects as JSON text, the rest as it is."""
    return json.dumps(value) if isinstance(value, dict) else value
