"""The lookup table answered from memory, for the CPU stages: every generated line's lookup row is
computed from its phone token (bench/synth.py), so nothing is held and nothing is queried."""

from __future__ import annotations

from typing import Iterable

from bench import synth

_CONFIG = synth.SynthConfig(size=0)


def configure(config: synth.SynthConfig) -> None:
    """Which file's lookup rows to answer (its seed and unmatched share decide them)."""
    global _CONFIG
    _CONFIG = config


def lookup_values(token: str, interaction_id: str) -> dict | None:
    """The lookup row of (token, interaction), or None when the file has none for it."""
    i = synth.index_of(token)
    if i is None or interaction_id != synth.interaction_of(i) or not synth.is_matched(i, _CONFIG):
        return None
    return synth.lookup_values(i)


def fetch_lookup(table, tokens: Iterable[str], columns: Iterable[str], client=None) -> dict:
    """Stand-in for pass1_processor.lookup.fetch_lookup, same signature and answer shape."""
    wanted = [c for c in columns if c not in ("phone_number_token", "interaction_id")]
    found = {}
    for token in set(tokens):
        i = synth.index_of(token)
        if i is None or not synth.is_matched(i, _CONFIG):
            continue
        values = synth.lookup_values(i)
        found[(token, synth.interaction_of(i))] = {c: values.get(c) for c in wanted}
    return found
