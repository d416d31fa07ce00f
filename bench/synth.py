"""Synthetic Vertex AI batch prediction output (prediction*.jsonl) of a given size, in the real format.

Every line body is made by the Vertex emulator's own writer (infra/local/vertex_emulator/responses.py:
its model answers a transcript from tools/sample_data/, its faults damage the answer), so the lines
look exactly like what the processor reads. Making each of millions of lines that way is slow (about
0.7 ms a line), so a pool of distinct bodies is made once per fault kind and every output line is a
pool body with its own composite key. Parsing cost does not depend on the repetition; the keys, and
so dedupe and lookup, are distinct per line.

Shares (probabilities per line, drawn from a seeded generator):
- malformed_share: the model's answer is damaged, one of MALFORMED_KINDS (fences, prose, trailing
  comma, single quotes, truncation): the repair path;
- failed_share: a failed row (no response, an error in `status`): a dead letter with a retry request;
- duplicate_share: the line repeats the key of an earlier line: counted as a duplicate;
- broken_share: the line itself is cut short (not JSON): the regex fallback.

Lines: the echoed request holds the user turn (prompt + transcript) and the generation settings, so
lines are 2-4 KB. With full_echo the request is exactly what submit_batch sends (system instruction
and response schema too): 4.5-6 KB lines.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from infra.local.layout import REPO_ROOT
from shared.keys import encode_key

MODEL = "publishers/google/models/gemini-2.5-flash"
MALFORMED_KINDS = ("fenced", "prose", "trailing_comma", "single_quotes", "truncated")
KINDS = ("clean", *MALFORMED_KINDS, "failed")
POOL_SIZE = {"clean": 512, "failed": 32, **{k: 64 for k in MALFORMED_KINDS}}
KEY_MARK = "@@BENCH_KEY@@"
# The transcript lengths (characters) that put a compact line between 2 and 4 KB.
COMPACT_CHARS = (900, 2600)
FULL_CHARS = (400, 1800)
# A fixed processing time: the same seed and size give the same bytes.
FIXED_NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=timezone.utc)
WRITE_BLOCK = 1 << 20
# Changes whenever the generator makes different bytes or stats for the same config.
FORMAT_VERSION = 2
MB = 1_000_000


@dataclass(frozen=True)
class SynthConfig:
    """What to generate; size in bytes (the file stops at the first line past it)."""

    size: int
    seed: int = 1
    malformed_share: float = 0.05
    failed_share: float = 0.02
    duplicate_share: float = 0.01
    broken_share: float = 0.001
    unmatched_share: float = 0.03
    full_echo: bool = False

    def tag(self) -> str:
        """A short name that changes whenever the content would."""
        text = json.dumps({**asdict(self), "format": FORMAT_VERSION}, sort_keys=True)
        return f"{self.size // MB}mb-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


@dataclass
class SynthStats:
    """What the file holds, by kind (what the stages should find)."""

    lines: int = 0
    bytes: int = 0
    clean: int = 0
    malformed: int = 0
    failed: int = 0
    duplicates: int = 0
    broken: int = 0
    unmatched: int = 0


def token_of(i: int) -> str:
    """The phone token of line i (distinct per line)."""
    return f"tok_{i:024x}"


def interaction_of(i: int) -> str:
    return f"INT-BENCH-{i:09d}"


def index_of(token: str) -> int | None:
    """Line index back from a phone token (the in-memory lookup answers from it)."""
    try:
        return int(token[4:], 16) if token.startswith("tok_") else None
    except ValueError:
        return None


def is_matched(i: int, config: SynthConfig) -> bool:
    """Whether line i's interaction has a lookup row: a multiplicative hash of (seed, i), so any
    process can tell without state, and cheap (the in-memory lookup asks for every line)."""
    return ((i + config.seed * 7919) * 2654435761 % 2**32) / 2**32 >= config.unmatched_share


LOOKUP_VALUES = ({"agent_id": "AGT-1026", "queue_name": "tech_support", "channel": "voice",
                  "customer_segment": "residential_plus"},
                 {"agent_id": "AGT-1101", "queue_name": "billing", "channel": "callback",
                  "customer_segment": "small_business"},
                 {"agent_id": "AGT-1043", "queue_name": "retention", "channel": "voice",
                  "customer_segment": "residential"})


# lookup_values(i) depends on i only through i % 3, 28, 12 and 900: it repeats with this period.
LOOKUP_PERIOD = 6300


def lookup_values(i: int) -> dict:
    """The lookup columns of line i besides its token and interaction id."""
    return {**LOOKUP_VALUES[i % len(LOOKUP_VALUES)], "started_at": f"2026-01-{1 + i % 28:02d}T{8 + i % 12:02d}:00:00Z",
            "duration_seconds": 60 + i % 900}


def lookup_row(i: int) -> dict:
    """The lookup table row of line i (infra/schemas/interaction_lookup.json columns)."""
    return {"phone_number_token": token_of(i), "interaction_id": interaction_of(i), **lookup_values(i)}


def _emulator_modules():
    sys.path.insert(0, str(REPO_ROOT / "functions" / "submit_batch"))
    from batch_submit.prompts import load_prompt
    from infra.local.vertex_emulator import config as emulator_config
    from infra.local.vertex_emulator import responses
    from infra.local.vertex_emulator.gcs_io import InputRow

    return load_prompt("pass1", "v1"), emulator_config, responses, InputRow


def _request(prompt, transcript: str, full_echo: bool) -> dict:
    request = prompt.request_for(transcript)
    if not full_echo:
        request.pop("systemInstruction", None)
        request["generationConfig"] = {k: v for k, v in request["generationConfig"].items()
                                       if k != "responseSchema"}
    return request


def build_pool(config: SynthConfig) -> dict[str, list[tuple[str, str]]]:
    """Kind -> list of (before key, after key) halves of serialized lines made by the emulator."""
    from tools.sample_data import SampleConfig, generate

    prompt, emulator_config, responses, InputRow = _emulator_modules()
    low, high = FULL_CHARS if config.full_echo else COMPACT_CHARS
    transcripts = generate(sum(POOL_SIZE.values()), SampleConfig(seed=config.seed, min_chars=low, max_chars=high))
    pool: dict[str, list[tuple[str, str]]] = {}
    for kind in KINDS:
        fault = "row_error" if kind == "failed" else kind
        settings = emulator_config.merge(emulator_config.DEFAULTS, {"seed": config.seed}
                                         if kind == "clean" else {"seed": config.seed, fault: 1.0})
        pool[kind] = []
        for j in range(POOL_SIZE[kind]):
            item = next(transcripts)
            request = _request(prompt, item.transcript["transcript"], config.full_echo)
            row = InputRow(f"{kind}:{j}", {"key": KEY_MARK, "request": request})
            text = json.dumps(responses.output_line(row, MODEL, settings, FIXED_NOW), ensure_ascii=False)
            before, after = text.split(f'"{KEY_MARK}"')
            pool[kind].append((before + '"', '"' + after))
    return pool


def _kind(rng: random.Random, config: SynthConfig) -> str:
    draw = rng.random()
    if draw < config.failed_share:
        return "failed"
    if draw < config.failed_share + config.malformed_share:
        return MALFORMED_KINDS[rng.randrange(len(MALFORMED_KINDS))]
    return "clean"


def iter_lines(config: SynthConfig, stats: SynthStats) -> Iterator[bytes]:
    """Lines (with their newline) until config.size bytes are reached."""
    pool = build_pool(config)
    rng = random.Random(config.seed)
    i = 0
    while stats.bytes < config.size:
        kind = _kind(rng, config)
        before, after = pool[kind][i % len(pool[kind])]
        key_index = i
        if i > 0 and rng.random() < config.duplicate_share:
            key_index = rng.randrange(max(0, i - 5000), i)  # an earlier line's key, often in the same chunk
            stats.duplicates += 1
        line = (before + encode_key(token_of(key_index), interaction_of(key_index)) + after).encode()
        if rng.random() < config.broken_share:
            line = line[: len(line) * 2 // 3]  # cut inside the response: the line is no JSON
            stats.broken += 1
        elif kind == "failed":
            stats.failed += 1
        elif kind == "clean":
            stats.clean += 1
        else:
            stats.malformed += 1
        stats.unmatched += not is_matched(key_index, config)
        stats.lines += 1
        stats.bytes += len(line) + 1
        i += 1
        yield line + b"\n"


def write_file(config: SynthConfig, path: Path) -> SynthStats:
    """Write the file (atomically: a crash leaves no half file to be reused) and its stats beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stats = SynthStats()
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as out:
        block: list[bytes] = []
        size = 0
        for line in iter_lines(config, stats):
            block.append(line)
            size += len(line)
            if size >= WRITE_BLOCK:
                out.write(b"".join(block))
                block, size = [], 0
        out.write(b"".join(block))
    stats_path(path).write_text(json.dumps(asdict(stats)))
    partial.replace(path)
    return stats


def stats_path(path: Path) -> Path:
    return path.with_suffix(".stats.json")


def ensure_file(config: SynthConfig, directory: Path) -> tuple[Path, SynthStats]:
    """The file for config under directory, generated unless an identical one is there already."""
    path = directory / f"predictions-{config.tag()}.jsonl"
    if path.exists() and stats_path(path).exists():
        return path, SynthStats(**json.loads(stats_path(path).read_text()))
    return path, write_file(config, path)
