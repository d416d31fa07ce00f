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
    """Stand-in for pass1_processor.lookup.fetch_lookup, same signature and answer shape. Rows with the
    same values are one shared dict (the row builder copies them), so that this stand-in costs a
    dictionary lookup per token, as a table held in memory would, and not the making of each row."""
    wanted = tuple(c for c in columns if c not in ("phone_number_token", "interaction_id"))
    rows = _ROWS.setdefault(wanted, {})
    found = {}
    for token in set(tokens):
        i = synth.index_of(token)
        if i is None or not synth.is_matched(i, _CONFIG):
            continue
        pattern = i % synth.LOOKUP_PERIOD
        values = rows.get(pattern)
        if values is None:
            full = synth.lookup_values(pattern)
            values = rows[pattern] = {c: full.get(c) for c in wanted}
        found[(token, synth.interaction_of(i))] = values
    return found


# columns asked for -> line index modulo synth.LOOKUP_PERIOD -> that row's values
_ROWS: dict[tuple[str, ...], dict[int, dict]] = {}
