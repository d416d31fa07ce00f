"""Readable names of a run's Vertex AI jobs. Where its objects live (input shards, key indexes,
output prefixes) is the contract shared with the processor: shared/layout.py."""

from __future__ import annotations


def display_name(batch_type: str, run_id: str, attempt: int, shard: int) -> str:
    """A readable job name (display names take any characters, up to 128)."""
    return f"{batch_type}-{run_id}-a{attempt}-s{shard:05d}"
