"""BigQuery's location rules for jobs, as the local stack enforces them (infra/local/bigquery_front.py).

A job lives in the location of the data it touches. BigQuery finds a job by (project, location, id):
jobs.get, jobs.getQueryResults, jobs.cancel and jobs.delete need the job's `location` parameter
unless the job is in the US or EU multi-region, and a job created with a location where the dataset
is not finds no dataset ("Not found: Dataset p:d was not found in location X"). A job created
without a location runs where its data is, and every answer names that location, so a client that
reads it back (google-cloud-bigquery does) fetches the job correctly.

local-bigquery ignores locations and answers "US" for every job. Here the stack's data is in one
location (the front's), so: a fetch without that location (single region) or with another one is
404 "Not found: Job ...", a creation in another location is 404 "Not found: Dataset ...", and every
job-carrying answer names the stack's location instead of "US". Pure functions of method, path,
query parameters and body: no I/O, no third-party imports (the front runs in the emulator's venv).
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

MULTI_REGIONS = frozenset({"us", "eu"})
_PROJECT = r"(?P<project>[^/]+)"
_JOB = r"(?P<job>[^/]+)"
# Calls that find an existing job by id: they need its location.
FETCHES = (
    ("GET", re.compile(rf"^/bigquery/v2/projects/{_PROJECT}/jobs/{_JOB}$")),
    ("GET", re.compile(rf"^/bigquery/v2/projects/{_PROJECT}/queries/{_JOB}$")),
    ("POST", re.compile(rf"^/bigquery/v2/projects/{_PROJECT}/jobs/{_JOB}/cancel$")),
    ("DELETE", re.compile(rf"^/bigquery/v2/projects/{_PROJECT}/jobs/{_JOB}/delete$")),
)
# Calls that create a job; the location is in the body (jobReference.location, or `location` of a
# jobs.query request; for an upload, in the job resource of its first part).
CREATIONS = (
    ("POST", re.compile(rf"^/bigquery/v2/projects/{_PROJECT}/jobs$"), "job"),
    ("POST", re.compile(rf"^/bigquery/v2/projects/{_PROJECT}/queries$"), "query"),
    ("POST", re.compile(rf"^/upload/bigquery/v2/projects/{_PROJECT}/jobs$"), "upload"),
)
# Answers that carry job resources (or a job reference): their location is rewritten.
JOB_ANSWERS = re.compile(r"^(/upload)?/bigquery/v2/projects/[^/]+/(jobs|queries)(/|$)")


class Refusal(NamedTuple):
    status: int
    body: bytes


def same_location(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def is_multi_region(location: str) -> bool:
    return location.casefold() in MULTI_REGIONS


def not_found(message: str) -> Refusal:
    """BigQuery's error body for a 404."""
    error = {"code": 404, "message": message, "status": "NOT_FOUND",
             "errors": [{"message": message, "domain": "global", "reason": "notFound"}]}
    return Refusal(404, json.dumps({"error": error}).encode())


def check_fetch(method: str, path: str, params: dict[str, list[str]], location: str) -> Refusal | None:
    """A refusal when this call fetches a job without the location it lives in."""
    for verb, pattern in FETCHES:
        match = pattern.match(path) if method == verb else None
        if match is None:
            continue
        given = (params.get("location") or [""])[0]
        if (not given and is_multi_region(location)) or (given and same_location(given, location)):
            return None
        where = f"{given}." if given else ""
        return not_found(f"Not found: Job {match['project']}:{where}{match['job']}")
    return None


def creation_kind(method: str, path: str) -> tuple[str, str] | None:
    """(kind, project) when this call creates a job: kind is job, query or upload."""
    for verb, pattern, kind in CREATIONS:
        match = pattern.match(path) if method == verb else None
        if match is not None:
            return kind, match["project"]
    return None


def requested_location(kind: str, resource: dict) -> str:
    """The location a creation asks for ('' when none: BigQuery then uses the data's)."""
    if kind == "query":
        return resource.get("location") or ""
    return (resource.get("jobReference") or {}).get("location") or ""


def check_creation(kind: str, project: str, resource: dict, location: str) -> Refusal | None:
    """A refusal when a job is created in a location where the stack's data is not."""
    asked = requested_location(kind, resource)
    if not asked or same_location(asked, location):
        return None
    dataset = _dataset(kind, resource)
    what = f"Dataset {project}:{dataset}" if dataset else f"Dataset of project {project}"
    return not_found(f"Not found: {what} was not found in location {asked}")


def _dataset(kind: str, resource: dict) -> str:
    if kind == "query":
        return (resource.get("defaultDataset") or {}).get("datasetId", "")
    config = resource.get("configuration") or {}
    for section, key in (("load", "destinationTable"), ("query", "destinationTable"),
                         ("query", "defaultDataset"), ("copy", "destinationTable"), ("extract", "sourceTable")):
        ref = (config.get(section) or {}).get(key) or {}
        if ref.get("datasetId"):
            return ref["datasetId"]
    return ""


def upload_metadata(content_type: str, body: bytes) -> dict | None:
    """The job resource of an upload: the whole body of a resumable upload's first request, the
    first part of a multipart one."""
    if content_type.startswith("application/json"):
        return parse_json(body)
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/") or match is None:
        return None
    delimiter = b"--" + match.group(1).encode()
    start = body.find(delimiter)
    head_end = body.find(b"\r\n\r\n", start)
    end = body.find(b"\r\n" + delimiter, head_end)
    if start < 0 or head_end < 0 or end < 0:
        return None
    return parse_json(body[head_end + 4:end])


def parse_json(data: bytes) -> dict | None:
    try:
        value = json.loads(data or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def answer_rewriter(location: str):
    """A function that makes a job-carrying answer of local-bigquery name `location` instead of the
    "US" it always says (jobReference.location, the top-level location of jobs.query, the job's id
    "project:US.job" and its selfLink). Byte replacement of JSON members: a row value is a JSON
    string, so its quotes are escaped and cannot match."""
    if same_location(location, "US"):
        return lambda body: body
    loc = location.encode()
    pairs = ((b'"location":"US"', b'"location":"' + loc + b'"'),
             (b'"location": "US"', b'"location": "' + loc + b'"'),
             (b'?location=US"', b"?location=" + loc + b'"'))
    job_id = re.compile(rb'("id": ?"[^"\\:]+:)US\.')

    def rewrite(body: bytes) -> bytes:
        if b'"US' not in body and b"=US" not in body:
            return body
        for old, new in pairs:
            body = body.replace(old, new)
        return job_id.sub(rb"\g<1>" + loc + b".", body)

    return rewrite
