"""The BatchPredictionJob resource: validation of a create body, stored record, proto JSON rendering."""

import re

from .errors import ApiError

STATES = (  # google.cloud.aiplatform.v1.JobState, in enum order (the index is the enum number)
    "JOB_STATE_UNSPECIFIED", "JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING",
    "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED",
    "JOB_STATE_PAUSED", "JOB_STATE_EXPIRED", "JOB_STATE_UPDATING", "JOB_STATE_PARTIALLY_SUCCEEDED",
)
FINAL_STATES = frozenset({"JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED", "JOB_STATE_FAILED",
                          "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"})
OUTPUT_ONLY = ("name", "state", "error", "outputInfo", "completionStats", "createTime", "startTime",
               "endTime", "updateTime", "partialFailures", "resourcesConsumed", "modelVersionId")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
INTERNAL = "_emulator"  # key of the stored record's private part; never rendered


def timestamp(now):
    """RFC 3339 UTC with microseconds, as Google's JSON renders a Timestamp."""
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _field(body, camel, snake):
    return body.get(camel, body.get(snake))


def label_problem(labels):
    """Why a labels map is refused (a job's, or a request's in a batch line), or None. The rules are
    the same for both: at most 64 labels; keys 1-63 characters starting with a lowercase letter;
    keys and values of lowercase letters, digits, '_' and '-', values at most 63 characters."""
    if not isinstance(labels, dict) or len(labels) > 64:
        return "labels must be a map of at most 64 entries."
    for key, value in labels.items():
        if not LABEL_KEY.match(str(key)) or not isinstance(value, str) or not LABEL_VALUE.match(value):
            return (f"Invalid label {key!r}={value!r}: keys and values take lowercase letters, "
                    "digits, '_' and '-', at most 63 characters; keys start with a letter.")
    return None


def _validate_labels(labels):
    problem = label_problem(labels)
    if problem:
        raise ApiError(400, problem)


def validate_create(body):
    """Check a create body as the service would; raise ApiError(400) with a useful message."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a BatchPredictionJob object.")
    if not body.get("displayName", body.get("display_name")):
        raise ApiError(400, "displayName is required.")
    model = body.get("model") or ""
    if "models/" not in model:
        raise ApiError(400, f"model must be a model resource name such as "
                            f"publishers/google/models/gemini-2.5-flash, got {model!r}.")
    source = _field(_field(body, "inputConfig", "input_config") or {}, "gcsSource", "gcs_source") or {}
    input_format = _field(body.get("inputConfig") or body.get("input_config") or {},
                          "instancesFormat", "instances_format")
    uris = source.get("uris") or []
    if input_format != "jsonl" or not uris or not all(isinstance(u, str) and u.startswith("gs://") for u in uris):
        raise ApiError(400, "inputConfig needs instancesFormat 'jsonl' and gcsSource.uris of gs:// objects "
                            "(the emulator supports only Cloud Storage JSONL input).")
    output = _field(body, "outputConfig", "output_config") or {}
    destination = _field(output, "gcsDestination", "gcs_destination") or {}
    prefix = _field(destination, "outputUriPrefix", "output_uri_prefix") or ""
    if _field(output, "predictionsFormat", "predictions_format") != "jsonl" or not prefix.startswith("gs://"):
        raise ApiError(400, "outputConfig needs predictionsFormat 'jsonl' and gcsDestination.outputUriPrefix "
                            "(a gs:// prefix).")
    _validate_labels(body.get("labels") or {})
    return uris, prefix


def new_record(name, body, now, internal):
    """The stored record of a new job: the resource fields plus a private part."""
    uris, prefix = validate_create(body)
    record = {key: value for key, value in body.items() if key not in OUTPUT_ONLY}
    record.update({
        "name": name,
        "displayName": body.get("displayName", body.get("display_name")),
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": list(uris)}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": prefix}},
        "labels": dict(body.get("labels") or {}),
        "state": "JOB_STATE_QUEUED",
        "createTime": timestamp(now),
        "updateTime": timestamp(now),
    })
    for snake in ("display_name", "input_config", "output_config"):
        record.pop(snake, None)
    record[INTERNAL] = internal
    return record


def render(record, enum_as_int):
    """The proto JSON of a job: int64 counts as strings; the state an int when the client asks so."""
    job = {key: value for key, value in record.items() if key != INTERNAL}
    if enum_as_int:
        job["state"] = STATES.index(job["state"])
    stats = job.get("completionStats")
    if stats:
        job["completionStats"] = {key: str(value) for key, value in stats.items()}
    return job
