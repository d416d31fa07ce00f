"""Where a run's objects live in Cloud Storage and how their names map onto each other: the contract
between submit_batch (which writes them) and the processor (which reads them back).

    input      gs://$INPUT_BUCKET/runs/{batch_type}/{run_id}/attempt-{n}/input-{shard:05d}.jsonl
    key index  gs://$INPUT_BUCKET/runs/{batch_type}/{run_id}/attempt-{n}/input-{shard:05d}.keys.jsonl
    output     {output base}/{batch_type}/{run_id}/attempt-{n}/shard-{shard:05d}/
               (output base: gs://$OUTPUT_BUCKET/runs, or the submit request's output_prefix;
               Vertex AI writes into a folder of its own below it: prediction-model-<time>/)
    prediction <gcsOutputDirectory>/prediction*.jsonl: what Vertex AI writes (predictions.jsonl or
               predictions_00001.jsonl...); nothing else in the directory is a prediction file
    retry      <gcsOutputDirectory>/retry/keys-*.jsonl: the keys of the rows to submit again

Every request line carries a row id in `request.labels.row_id` (ROW_ID_LABEL), `a{n}-s{shard}-r{line}`:
a label value (lowercase letters, digits, `-`; at most 63 characters), unique within the run's attempt.
The key index beside each input shard has one line per request, in shard order:
{"row_id", "key", "phone_number_token", "interaction_id"}. That the top-level `key` of an input line
comes back in its output line is seen, not documented; the echoed request (and its labels) is
documented, so an output line without a key is mapped back through its shard's key index.
A key index written from a table source carries, as custom metadata, the call dates of its shard's
source rows (KEY_INDEX_DATES: the earliest and latest call_date, ISO, and how many rows had none);
the processor's lookup snapshot reads only the lookup partitions of those days. A key index without
them (older, or from a JSONL source or a retry attempt) has no known dates.

A retried submit writes the same names, so it overwrites instead of adding.
"""

from __future__ import annotations

import posixpath
import re

from shared.identifiers import GcsPath

ROW_ID_LABEL = "row_id"
# Vertex AI's output files: the basename starts and ends so (the processor's retry/ files do not).
PREDICTION_PREFIX = "prediction"
PREDICTION_SUFFIX = ".jsonl"
RETRY_FOLDER = "retry"
RETRY_KEYS_PREFIX = "keys-"
RETRY_KEYS_SUFFIX = ".jsonl"
_INPUT_SUFFIX = ".jsonl"
_KEY_INDEX_SUFFIX = ".keys.jsonl"
_SHARD_OBJECT = re.compile(r"/input-(\d{5})(?:\.keys)?\.jsonl$")
_INPUT_NAME = re.compile(r"(?:^|/)input-\d{5}\.jsonl$")
# {batch_type}/{run_id}/attempt-{n}/shard-{shard} inside an output directory's name (batch types and
# run ids are validated: no '/').
_OUTPUT_SHARD = re.compile(r"(?:^|/)([a-z][a-z0-9_]{0,30})/([A-Za-z0-9][A-Za-z0-9_.-]{0,62})"
                           r"/attempt-([1-9]\d{0,3})/shard-(\d{5})(?:/|$)")
_ROW_ID = re.compile(r"^a([1-9]\d{0,3})-s(\d{5})-r(\d{6,})$")


# The key index's custom metadata: its shard's call dates (see above).
DATE_MIN_KEY, DATE_MAX_KEY, DATE_NULLS_KEY = "call_date_min", "call_date_max", "call_date_nulls"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def key_index_dates(date_min: str | None, date_max: str | None, nulls: int | None) -> dict[str, str]:
    """The custom metadata of a key index whose shard's rows have these call dates ({} when unknown)."""
    if nulls is None:
        return {}
    out = {DATE_NULLS_KEY: str(int(nulls))}
    if date_min is not None and date_max is not None:
        out.update({DATE_MIN_KEY: date_min, DATE_MAX_KEY: date_max})
    return out


def dates_of_key_index(metadata: dict | None) -> tuple[str, str] | None:
    """(earliest, latest) call date of a key index's rows, from its custom metadata; None unless both
    are there, well formed, in order, and no row lacked a call date."""
    metadata = metadata or {}
    lo, hi, nulls = metadata.get(DATE_MIN_KEY), metadata.get(DATE_MAX_KEY), metadata.get(DATE_NULLS_KEY)
    if nulls != "0" or not isinstance(lo, str) or not isinstance(hi, str):
        return None
    if not (_ISO_DATE.match(lo) and _ISO_DATE.match(hi)) or lo > hi:
        return None
    return lo, hi


def attempt_prefix(bucket: str, batch_type: str, run_id: str, attempt: int) -> GcsPath:
    """The folder of one attempt's input files."""
    return GcsPath(bucket, f"runs/{batch_type}/{run_id}/attempt-{attempt}")


def input_object(prefix: GcsPath, shard: int) -> GcsPath:
    """One input shard of an attempt (a Vertex job's whole input)."""
    return prefix.join(f"input-{shard:05d}{_INPUT_SUFFIX}")


def key_index_of(input_path: GcsPath) -> GcsPath:
    """The key index beside an input shard: input-00003.jsonl -> input-00003.keys.jsonl."""
    if not _INPUT_NAME.search(input_path.name):
        raise ValueError(f"not an input shard: {input_path.uri}")
    return GcsPath(input_path.bucket, input_path.name[:-len(_INPUT_SUFFIX)] + _KEY_INDEX_SUFFIX)


def shard_of(object_name: str) -> int | None:
    """The shard number of an input shard or of its key index, or None for another object."""
    match = _SHARD_OBJECT.search("/" + object_name)
    return int(match.group(1)) if match else None


def default_output_base(output_bucket: str) -> GcsPath:
    return GcsPath(output_bucket, "runs")


def output_prefix(base: GcsPath, batch_type: str, run_id: str, attempt: int, shard: int) -> str:
    """The gs:// output prefix of one job, with the trailing slash Vertex expects of a folder."""
    return base.join(batch_type, run_id, f"attempt-{attempt}", f"shard-{shard:05d}").uri + "/"


def input_for_output(output_path: GcsPath, input_bucket: str) -> GcsPath | None:
    """The input shard whose job wrote under `output_path` (an output prefix, the job's
    gcsOutputDirectory, or a prediction file in it); None when the path is not laid out as above."""
    matches = list(_OUTPUT_SHARD.finditer(output_path.name))
    if not matches or not input_bucket:
        return None
    batch_type, run_id, attempt, shard = matches[-1].groups()
    return input_object(attempt_prefix(input_bucket, batch_type, run_id, int(attempt)), int(shard))


def is_prediction_file(name: str) -> bool:
    """True for an object name whose basename is prediction*.jsonl (Vertex AI's output files)."""
    base = posixpath.basename(name)
    return base.startswith(PREDICTION_PREFIX) and base.endswith(PREDICTION_SUFFIX)


def retry_keys_prefix(output_dir: GcsPath) -> GcsPath:
    """The prefix every retry-keys object of a job's output directory starts with (for a listing)."""
    return output_dir.join(RETRY_FOLDER, RETRY_KEYS_PREFIX)


def retry_keys_object(output_dir: GcsPath, tag: str) -> GcsPath:
    """One retry-keys object of a job's output directory: <dir>/retry/keys-<tag>.jsonl."""
    return output_dir.join(RETRY_FOLDER, f"{RETRY_KEYS_PREFIX}{tag}{RETRY_KEYS_SUFFIX}")


def is_retry_keys_object(name: str) -> bool:
    """True for an object name under a retry-keys prefix that is one of its .jsonl files."""
    return name.endswith(RETRY_KEYS_SUFFIX)


def row_id(attempt: int, shard: int, line: int) -> str:
    """The label value naming one request: attempt, shard and 1-based line in the shard. Fixed width
    (up to 999,999 lines), so a line's length does not depend on where it lands."""
    return f"a{attempt}-s{shard:05d}-r{line:06d}"


def row_position(value: str, attempt: int, shard: int) -> int | None:
    """The 1-based line a row id of this attempt and shard names, or None for any other value."""
    match = _ROW_ID.match(value) if isinstance(value, str) else None
    if not match or int(match.group(1)) != attempt or int(match.group(2)) != shard:
        return None
    return int(match.group(3))


def attempt_and_shard(input_path: GcsPath) -> tuple[int, int] | None:
    """(attempt, shard) of an input shard laid out as above, or None."""
    match = re.search(r"/attempt-([1-9]\d{0,3})/input-(\d{5})(?:\.keys)?\.jsonl$", "/" + input_path.name)
    return (int(match.group(1)), int(match.group(2))) if match else None
