"""The `filter` of batchPredictionJobs.list: the AIP-160 subset Vertex documents for jobs.

Supported: `labels.KEY=VALUE`, `labels.KEY:*` (has the label), `state=JOB_STATE_...`,
`display_name=...` (or displayName), `model=...`, and `create_time`/`update_time` compared with
=, !=, <, <=, >, >= to an RFC 3339 time; terms joined with AND, OR (OR binds tighter, as AIP-160
says) and negated with NOT or a leading '-'. Values may be quoted. Anything else is a 400, so a
typo in production code fails here instead of silently matching nothing.
"""

import datetime
import re

from .errors import ApiError

TERM = re.compile(r'^(?P<field>[A-Za-z_][\w.]*)\s*(?P<op><=|>=|!=|=|<|>|:)\s*(?P<value>"[^"]*"|\S+)$')
TIME_FIELDS = {"create_time": "createTime", "createTime": "createTime",
               "update_time": "updateTime", "updateTime": "updateTime"}
TEXT_FIELDS = {"state": "state", "display_name": "displayName", "displayName": "displayName", "model": "model"}


def _time(value):
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, f"Invalid timestamp in filter: {value!r}") from exc


def _compare(left, op, right):
    return {"=": left == right, ":": left == right, "!=": left != right, "<": left < right,
            "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _term(text):
    negate = text.startswith("-") or text.upper().startswith("NOT ")
    text = text[1:] if text.startswith("-") else text[4:] if negate else text
    match = TERM.match(text.strip())
    if not match:
        raise ApiError(400, f"Unsupported filter term: {text!r}")
    field, op, value = match["field"], match["op"], match["value"].strip('"')
    if field.startswith("labels."):
        key = field[len("labels."):]
        if op not in ("=", ":", "!="):
            raise ApiError(400, f"Labels compare only with =, != or ':' in {text!r}")

        def test(job):
            labels = job.get("labels") or {}
            if op == ":" and value == "*":
                return key in labels
            return _compare(labels.get(key), op, value)
    elif field in TIME_FIELDS:
        attribute, moment = TIME_FIELDS[field], _time(value)

        def test(job):
            return bool(job.get(attribute)) and _compare(_time(job[attribute]), op, moment)
    elif field in TEXT_FIELDS and op in ("=", "!=", ":"):
        attribute = TEXT_FIELDS[field]

        def test(job):
            return _compare(job.get(attribute), op, value)
    else:
        raise ApiError(400, f"Unsupported filter field or operator in {text!r}")
    return (lambda job: not test(job)) if negate else test


def compile_filter(text):
    """A predicate over stored job records for a list filter ('' matches every job)."""
    text = (text or "").strip()
    if not text:
        return lambda job: True
    clauses = [[_term(term) for term in re.split(r"\s+OR\s+", clause) if term.strip()]
               for clause in re.split(r"\s+AND\s+", text)]
    if any(not clause for clause in clauses):
        raise ApiError(400, f"Invalid filter: {text!r}")
    return lambda job: all(any(term(job) for term in clause) for clause in clauses)
