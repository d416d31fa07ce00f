"""Emulator settings: defaults, the environment, validation and merging.

Every fault rate is a probability per output row unless said otherwise. Rules (`api_faults`,
`job_failure_rules`) look like {"method": "create", "code": 429, "count": 3} or {..., "rate": 0.2},
optionally narrowed with "model" (a substring of the requested model) and "location". A count rule
fails the next N matching calls; its remaining count is visible in GET /emulator/config.
"""

import copy
import json

from .errors import HTTP_TO_STATUS

ROW_FAULTS = (
    "fenced",          # JSON wrapped in ```json fences
    "prose",           # prose before and after the JSON
    "trailing_comma",  # a comma before the closing brace
    "single_quotes",   # single instead of double quotes
    "truncated",       # JSON cut short, finishReason MAX_TOKENS
    "no_parts",        # a candidate whose content has no parts (finishReason STOP or OTHER)
    "split_parts",     # the text split over several parts
    "row_error",       # a failed row: no response, an error in `status`
    "blocked",         # the prompt blocked: promptFeedback.blockReason, no candidates
    "safety",          # the answer stopped by the safety filter: finishReason SAFETY, no content
    "recitation",      # the answer stopped for recitation: finishReason RECITATION, no parts
    "drop_extra_fields",  # the input line's extra top-level fields (key, id...) do not come back
)
RATE_KEYS = ROW_FAULTS + ("job_failure",)
API_METHODS = ("create", "get", "list", "cancel", "*")
FINAL_ROW_STATES = ("JOB_STATE_PARTIALLY_SUCCEEDED", "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED")

DEFAULTS = {
    "seed": 0,
    "pace_seconds": 0.0,        # pause between job states; 0 for tests, 1-3 s for a demo
    "row_delay_seconds": 0.0,   # pause per row, to watch a job progress
    "rows_per_file": 0,         # 0: one predictions.jsonl; N: predictions_00001.jsonl... of N rows
    "shuffle_window": 1000,     # rows are shuffled within windows of this size (bounded memory)
    "stall_after_rows": 0,      # test hook: after N rows, flush output and wait for a cancel
    **{key: 0.0 for key in RATE_KEYS},
    "row_error_codes": [429, 500, 400],
    "job_failure_rules": [],
    "api_faults": [],
    # The state of a job with some failed rows. Real Gemini batch jobs often end SUCCEEDED with
    # failed lines in the output, so callers must read completionStats either way.
    "failed_rows_state": "JOB_STATE_PARTIALLY_SUCCEEDED",
}


class ConfigError(ValueError):
    """A configuration value was rejected."""


def _number(key, value, low=0.0, high=None, integer=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    if integer and int(value) != value:
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ConfigError(f"{key} must be within [{low}, {high if high is not None else 'inf'}]")
    return int(value) if integer else float(value)


def _rule(key, rule, api):
    if not isinstance(rule, dict):
        raise ConfigError(f"{key}: each rule must be an object, got {rule!r}")
    allowed = {"count", "rate", "code", "model", "location", "message"} | ({"method"} if api else set())
    unknown = set(rule) - allowed
    if unknown:
        raise ConfigError(f"{key}: unknown rule fields {sorted(unknown)}")
    out = dict(rule)
    if api:
        if out.get("method", "*") not in API_METHODS:
            raise ConfigError(f"{key}: method must be one of {API_METHODS}")
        out["method"] = out.get("method", "*")
    out["code"] = int(_number(f"{key}.code", out.get("code", 429 if api else 500), 400, 599, True))
    if out["code"] not in HTTP_TO_STATUS:
        raise ConfigError(f"{key}: code must be one of {sorted(HTTP_TO_STATUS)}")
    if ("count" in out) == ("rate" in out):
        raise ConfigError(f"{key}: give exactly one of count or rate")
    if "count" in out:
        out["count"] = _number(f"{key}.count", out["count"], 0, None, True)
    else:
        out["rate"] = _number(f"{key}.rate", out["rate"], 0.0, 1.0)
    for text_key in ("model", "location", "message"):
        if text_key in out and not isinstance(out[text_key], str):
            raise ConfigError(f"{key}.{text_key} must be a string")
    return out


def _validate(key, value):
    if key not in DEFAULTS:
        raise ConfigError(f"unknown setting {key!r}; known: {sorted(DEFAULTS)}")
    if key in RATE_KEYS:
        return _number(key, value, 0.0, 1.0)
    if key in ("seed", "rows_per_file", "stall_after_rows"):
        return _number(key, value, 0, None, True)
    if key == "shuffle_window":
        return _number(key, value, 1, None, True)
    if key in ("pace_seconds", "row_delay_seconds"):
        return _number(key, value, 0.0, 3600.0)
    if key == "row_error_codes":
        if not isinstance(value, list) or not value:
            raise ConfigError("row_error_codes must be a non-empty list")
        return [_number(key, code, 400, 599, True) for code in value]
    if key in ("api_faults", "job_failure_rules"):
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list of rules")
        return [_rule(key, rule, api=key == "api_faults") for rule in value]
    if value not in FINAL_ROW_STATES:
        raise ConfigError(f"{key} must be one of {FINAL_ROW_STATES}")
    return value


def merge(base, update):
    """Return `base` with the validated top-level keys of `update` replacing its own."""
    if not isinstance(update, dict):
        raise ConfigError("the configuration must be a JSON object")
    merged = copy.deepcopy(base)
    for key, value in update.items():
        merged[key] = _validate(key, value)
    return merged


def from_environment(environ):
    """Defaults, overlaid with VERTEX_EMULATOR_CONFIG (JSON) and VERTEX_EMULATOR_SEED."""
    config = merge(DEFAULTS, {})
    raw = environ.get("VERTEX_EMULATOR_CONFIG", "").strip()
    if raw:
        try:
            config = merge(config, json.loads(raw))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"VERTEX_EMULATOR_CONFIG is not JSON: {exc}") from exc
    seed = environ.get("VERTEX_EMULATOR_SEED", "").strip()
    if seed:
        config = merge(config, {"seed": int(seed)})
    return config
