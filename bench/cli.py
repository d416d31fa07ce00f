"""`python -m bench`: generate the files, run every stage on each, print the table, write the JSON.

Sizes come from --sizes or BENCH_SIZES (MB, comma separated; default 10,100; 1000 is opt-in); the
JSON goes to --out or BENCH_OUT (default bench/results/latest.json). Stage 4 uses the stack named by
STACK_DIR / STACK_PORT_BASE, starting it when it is not up and stopping it again afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bench import imports, report, synth
from infra.local.layout import REPO_ROOT

DEFAULT_SIZES = "10,100"
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "latest.json"
DEFAULT_DATA = REPO_ROOT / ".local" / "bench-data"
CPU_STAGES = ("floor", "naive", "cpu")
# This machine's timings drift 20-30 % from one minute to the next (a shared VM): the CPU stages run
# in rounds, floor/naive/cpu interleaved, and each keeps its fastest round, so that a slow minute
# does not fall on one stage only and skew the ratios.
DEFAULT_ROUNDS = 3
ONE_ROUND_FROM_MB = 500


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", DEFAULT_SIZES),
                        help="input sizes in MB, comma separated (BENCH_SIZES; default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("BENCH_OUT", DEFAULT_OUT)),
                        help="where the JSON goes (BENCH_OUT)")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("BENCH_DATA_DIR", DEFAULT_DATA)),
                        help="where generated files are kept and reused (BENCH_DATA_DIR)")
    parser.add_argument("--no-e2e", action="store_true", help="skip stage 4 (no stack needed)")
    parser.add_argument("--no-submit", action="store_true", help="skip stage 5 (submit_batch at scale)")
    parser.add_argument("--submit-records", type=int,
                        default=int(os.environ.get("BENCH_SUBMIT_RECORDS", "20000")),
                        help="transcripts of stage 5's measured submit (BENCH_SUBMIT_RECORDS; default %(default)s)")
    parser.add_argument("--no-split", action="store_true", help="stage 4 without the instrumented second run")
    parser.add_argument("--no-imports", action="store_true", help="skip the cold-start import timing")
    parser.add_argument("--import-repeats", type=int, default=3, help="fresh processes per function (median)")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", DEFAULT_ROUNDS)),
                        help="rounds of the CPU stages, interleaved, fastest kept (BENCH_ROUNDS; default "
                             "%(default)s; files of 500 MB and more get one)"),
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--malformed", type=float, default=0.05, help="share of malformed model answers")
    parser.add_argument("--failed", type=float, default=0.02, help="share of failed rows")
    parser.add_argument("--duplicates", type=float, default=0.01, help="share of duplicate keys")
    parser.add_argument("--broken", type=float, default=0.001, help="share of lines cut short (not JSON)")
    parser.add_argument("--full-echo", action="store_true",
                        help="echo the whole request (system instruction, schema): 4.5-6 KB lines")
    return parser.parse_args(argv)


def sizes_mb(text: str) -> list[float]:
    sizes = [float(s) for s in text.split(",") if s.strip()]
    if not sizes or any(s <= 0 for s in sizes):
        raise SystemExit(f"--sizes must list positive sizes in MB, got {text!r}")
    return sizes


def size_label(mb: float) -> str:
    return str(int(mb)) if mb == int(mb) else str(mb)


def run_worker(stage: str, path: Path, config: synth.SynthConfig) -> dict:
    """A stage in a fresh interpreter (bench/worker.py)."""
    config_json = json.dumps({k: getattr(config, k) for k in config.__dataclass_fields__})
    # Every stage runs with the allocator setting the processor is deployed with, so that the memory
    # figures compare like with like (infra/deploy.py: PROCESSOR_MALLOC_ENV).
    from infra.deploy import PROCESSOR_MALLOC_ENV

    out = subprocess.run([sys.executable, "-m", "bench.worker", stage, str(path), config_json],
                         cwd=REPO_ROOT, capture_output=True, text=True, env={**os.environ, **PROCESSOR_MALLOC_ENV})
    if out.returncode != 0:
        raise RuntimeError(f"stage {stage} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fastest(best: dict | None, new: dict) -> dict:
    """The faster of two runs of a stage, with the larger memory figures of the two (memory does not
    depend on the minute; the larger is the honest one), and how many rounds ran."""
    if best is None:
        return {**new, "rounds": 1}
    keep = dict(new if new["seconds"] < best["seconds"] else best)
    for key in ("rss_peak_mib", "rss_growth_mib"):
        keep[key] = max(best[key], new[key])
    keep["rounds"] = best["rounds"] + 1
    keep["round_seconds"] = [*best.get("round_seconds", [best["seconds"]]), new["seconds"]]
    return keep


def bench_size(mb: float, args, session) -> dict:
    """Every stage on one generated file."""
    config = synth.SynthConfig(size=int(mb * synth.MB), seed=args.seed, malformed_share=args.malformed,
                               failed_share=args.failed, duplicate_share=args.duplicates,
                               broken_share=args.broken, full_echo=args.full_echo)
    report.say(f"[{size_label(mb)} MB] generating (or reusing) the file...")
    path, stats = synth.ensure_file(config, args.data_dir)
    result = {"file": {"lines": stats.lines, "bytes": stats.bytes, "stats": stats.__dict__}}
    rounds = 1 if mb >= ONE_ROUND_FROM_MB else max(1, args.rounds)
    for round_number in range(1, rounds + 1):
        for stage in CPU_STAGES:
            report.say(f"[{size_label(mb)} MB] stage {stage} (round {round_number}/{rounds})...")
            result[stage] = fastest(result.get(stage), run_worker(stage, path, config))
    if session is not None:
        report.say(f"[{size_label(mb)} MB] stage e2e (local stack)...")
        from bench import e2e

        result["e2e"] = e2e.run(path, stats, config, session, split=not args.no_split)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sizes = sizes_mb(args.sizes)
    session = None
    if not args.no_e2e:
        from bench.e2e import StackSession

        report.say("local stack: using the one in $STACK_DIR, or starting it...")
        session = StackSession()
    try:
        results = {size_label(mb): bench_size(mb, args, session) for mb in sizes}
        submit_figures = None
        if session is not None and not args.no_submit:
            from bench import submit as submit_stage

            report.say(f"stage submit: {args.submit_records:,} transcripts through submit_batch (local stack)...")
            submit_figures = submit_stage.run(session.layout, args.submit_records)
    finally:
        if session is not None:
            session.close()
    cold = {} if args.no_imports else imports.measure(max(1, args.import_repeats))
    summary = report.summarize(results, cold, vars(args))
    if submit_figures is not None:
        from bench import submit as submit_stage

        summary["submit_records_per_s"] = submit_figures["measured"]["records_per_s"]
        summary["submit"] = submit_figures
    print(report.table(summary))
    if submit_figures is not None:
        print(submit_stage.table(submit_figures))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    report.say(f"figures written to {args.out}")
    return 0
