"""Deterministic names of a run's objects and jobs (the contract shared with the processor):

    input   gs://$INPUT_BUCKET/runs/{batch_type}/{run_id}/attempt-{n}/input-{shard:05d}.jsonl
    output  {output base}/{batch_type}/{run_id}/attempt-{n}/shard-{shard:05d}/
            (output base: gs://$OUTPUT_BUCKET/runs, or the request's output_prefix)

A retried submit writes the same names, so it overwrites instead of adding.
"""

from __future__ import annotations

import re

from shared.identifiers import GcsPath

INPUT_NAME = re.compile(r"/input-(\d{5})\.jsonl$")


def attempt_prefix(bucket: str, batch_type: str, run_id: str, attempt: int) -> GcsPath:
    """The folder of one attempt's input files."""
    return GcsPath(bucket, f"runs/{batch_type}/{run_id}/attempt-{attempt}")


def input_object(prefix: GcsPath, shard: int) -> GcsPath:
    return prefix.join(f"input-{shard:05d}.jsonl")


def shard_of(object_name: str) -> int | None:
    """The shard number of an input object name, or None for another object."""
    match = INPUT_NAME.search("/" + object_name)
    return int(match.group(1)) if match else None


def default_output_base(output_bucket: str) -> GcsPath:
    return GcsPath(output_bucket, "runs")


def output_prefix(base: GcsPath, batch_type: str, run_id: str, attempt: int, shard: int) -> str:
    """The gs:// output prefix of one job, with the trailing slash Vertex expects of a folder."""
    return base.join(batch_type, run_id, f"attempt-{attempt}", f"shard-{shard:05d}").uri + "/"


def display_name(batch_type: str, run_id: str, attempt: int, shard: int) -> str:
    """A readable job name (display names take any characters, up to 128)."""
    return f"{batch_type}-{run_id}-a{attempt}-s{shard:05d}"
