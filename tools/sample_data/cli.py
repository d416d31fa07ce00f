"""Command line of the sample data generator (run as `python -m tools.sample_data`).

    python -m tools.sample_data --rows 1000 --seed 7 --jsonl out/transcripts.jsonl
    python -m tools.sample_data --env-file .local/stack.env --rows 100000 \\
        --gcs-uri gs://local-project-batch-input/samples/transcripts.jsonl \\
        --bq-dataset call_analytics --replace

One pass over the generator feeds every destination asked for; a JSON summary goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools.sample_data.generator import Interaction, SampleConfig, generate
from tools.sample_data.writers import BigQueryLoader, JsonlWriter, load_schema


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.sample_data", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, required=True, help="number of transcripts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--env-file", help="KEY=VALUE lines to read first, e.g. .local/stack.env "
                                      "(variables already set win)")
    out = p.add_argument_group("destinations")
    out.add_argument("--jsonl", help="transcripts as JSON lines: a local path or gs://bucket/object")
    out.add_argument("--gcs-uri", help="transcripts as JSON lines to gs://bucket/object")
    out.add_argument("--lookup-jsonl", help="lookup rows as JSON lines: a local path or gs:// object")
    out.add_argument("--bq-dataset", help="load both tables into this BigQuery dataset")
    out.add_argument("--transcripts-table", help="default: $TRANSCRIPTS_TABLE or transcripts")
    out.add_argument("--lookup-table", help="default: $LOOKUP_TABLE or interaction_lookup")
    out.add_argument("--replace", action="store_true", help="truncate the BigQuery tables first")
    out.add_argument("--batch-rows", type=int, default=None, help="rows per BigQuery load job")
    knobs = p.add_argument_group("realism knobs (shares are probabilities)")
    d = SampleConfig()
    knobs.add_argument("--unmatched-share", type=float, default=d.unmatched_share,
                       help="transcripts without a lookup row")
    knobs.add_argument("--repeat-caller-share", type=float, default=d.repeat_caller_share,
                       help="phone tokens with several calls")
    knobs.add_argument("--orphan-lookup-share", type=float, default=d.orphan_lookup_share,
                       help="extra lookup rows for interactions without a transcript, per transcript")
    knobs.add_argument("--empty-share", type=float, default=d.empty_share)
    knobs.add_argument("--oversized-share", type=float, default=d.oversized_share)
    knobs.add_argument("--oversized-chars", type=int, default=d.oversized_chars)
    knobs.add_argument("--min-chars", type=int, default=d.min_chars)
    knobs.add_argument("--max-chars", type=int, default=d.max_chars)
    return p.parse_args(argv)


def config_from(args: argparse.Namespace) -> SampleConfig:
    return SampleConfig(
        seed=args.seed, min_chars=args.min_chars, max_chars=args.max_chars,
        unmatched_share=args.unmatched_share, repeat_caller_share=args.repeat_caller_share,
        orphan_lookup_share=args.orphan_lookup_share, empty_share=args.empty_share,
        oversized_share=args.oversized_share, oversized_chars=args.oversized_chars,
    )


def read_env_file(path: str) -> None:
    """Apply KEY=VALUE lines (comments and blanks skipped) without overriding the environment."""
    from infra.local.layout import read_env_file as parse

    for key, value in parse(Path(path)).items():
        os.environ.setdefault(key, value)


@dataclass
class Summary:
    """What a run produced; counted on the fly, never by keeping rows."""

    rows: int = 0
    lookup_rows: int = 0
    unmatched: int = 0
    phone_tokens: int = 0
    repeat_callers: int = 0
    orphan_lookup_rows: int = 0
    empty: int = 0
    oversized: int = 0
    transcript_chars: int = 0
    outputs: dict = field(default_factory=dict)

    def add(self, item: Interaction) -> None:
        self.rows += 1
        self.lookup_rows += len(item.lookups)
        self.unmatched += not item.matched
        self.orphan_lookup_rows += len(item.lookups) - item.matched
        self.phone_tokens += item.call_index == 1
        self.repeat_callers += item.call_index == 2
        self.empty += item.kind == "empty"
        self.oversized += item.kind == "oversized"
        self.transcript_chars += len(item.transcript["transcript"])


def _sinks(args: argparse.Namespace):
    """(transcript sinks, lookup sinks) for the destinations asked for."""
    transcripts, lookups = [], []
    for destination in filter(None, (args.jsonl, args.gcs_uri)):
        transcripts.append(JsonlWriter(destination))
    if args.lookup_jsonl:
        lookups.append(JsonlWriter(args.lookup_jsonl))
    if args.bq_dataset:
        from shared.clients import bigquery_client
        from shared.identifiers import check_dataset, check_table

        client = bigquery_client()
        prefix = f"{client.project}.{check_dataset(args.bq_dataset)}"
        transcripts_table = args.transcripts_table or os.environ.get("TRANSCRIPTS_TABLE", "transcripts")
        lookup_table = args.lookup_table or os.environ.get("LOOKUP_TABLE", "interaction_lookup")
        batch = {"batch_rows": args.batch_rows} if args.batch_rows else {}
        transcripts.append(BigQueryLoader(f"{prefix}.{check_table(transcripts_table)}",
                                          load_schema("transcripts"), client, args.replace, **batch))
        lookups.append(BigQueryLoader(f"{prefix}.{check_table(lookup_table)}",
                                      load_schema("interaction_lookup"), client, args.replace, **batch))
    return transcripts, lookups


def run(args: argparse.Namespace) -> Summary:
    """Generate once, write everywhere asked, and count."""
    config = config_from(args)
    transcripts, lookups = _sinks(args)
    summary = Summary()
    for item in generate(args.rows, config):
        summary.add(item)
        for sink in transcripts:
            sink.write(item.transcript)
        for row in item.lookups:
            for sink in lookups:
                sink.write(row)
    for sink in transcripts + lookups:
        sink.close()
        if isinstance(sink, JsonlWriter):
            summary.outputs[sink.destination] = {"rows": sink.rows, "bytes": sink.bytes}
        else:
            summary.outputs[sink.table_id] = {"rows": sink.rows, "load_jobs": len(sink.jobs)}
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.env_file:
        read_env_file(args.env_file)
    started = time.perf_counter()
    from shared.errors import ValidationError

    try:
        summary = run(args)
    except (ValueError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    report = {**summary.__dict__, "seconds": round(seconds, 3),
              "rows_per_second": round(summary.rows / seconds) if seconds else None}
    print(json.dumps(report, indent=1))
    return 0
