"""The figures of a run: the JSON summary (stable keys, for scripts comparing runs) and the table."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone

MB = 1_000_000
# The targets set for the processor's throughput and memory; the table says which are met. No test asserts them.
TARGET_RATIO_FLOOR = 0.40
TARGET_RATIO_NAIVE = 5.0
TARGET_GROWTH_MIB = 100.0
TARGET_IMPORT_SECONDS = 1.5


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> dict:
    import psutil

    return {"cores": os.cpu_count(), "memory_mib": round(psutil.virtual_memory().total / 2**20),
            "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "load_average_1m": round(os.getloadavg()[0], 2)}


def _rate(lines: int, size: int, seconds: float) -> dict:
    return {"lines_per_s": lines / seconds if seconds > 0 else None,
            "mb_per_s": size / MB / seconds if seconds > 0 else None}


def stage_figures(result: dict) -> dict:
    """Stage -> lines/s, MB/s, seconds, memory, for one size."""
    lines, size = result["file"]["lines"], result["file"]["bytes"]
    out = {}
    for stage in ("floor", "naive", "cpu"):
        r = result[stage]
        out[stage] = {**_rate(lines, size, r["seconds"]), "seconds": r["seconds"],
                      "rss_peak_mib": r["rss_peak_mib"], "rss_growth_mib": r["rss_growth_mib"]}
    if "e2e" in result:
        http = result["e2e"]["http"]
        out["e2e"] = {**_rate(lines, size, http["seconds"]), "seconds": http["seconds"],
                      "rss_peak_mib": http["rss_peak_mib"], "rss_growth_mib": http["rss_growth_mib"]}
    return out


def summarize(results: dict, cold: dict, options: dict) -> dict:
    """The JSON of a run. Headline figures come from the largest size (reference_size_mb)."""
    figures = {size: stage_figures(result) for size, result in results.items()}
    reference = max(results, key=float)
    top = figures[reference]

    def rate(stage):
        return top.get(stage, {}).get("lines_per_s")

    cpu = rate("cpu")
    return {
        "floor_lines_per_s": rate("floor"),
        "naive_lines_per_s": rate("naive"),
        "cpu_lines_per_s": cpu,
        "e2e_lines_per_s": rate("e2e"),
        "ratio_floor": cpu / rate("floor") if cpu and rate("floor") else None,
        "ratio_naive": cpu / rate("naive") if cpu and rate("naive") else None,
        # The floor's own lead over the naive path: the most cpu/naive can be for a processor that
        # does at least the floor's work on one core.
        "ratio_floor_naive": rate("floor") / rate("naive") if rate("floor") and rate("naive") else None,
        "rss_growth_mib": {size: f["cpu"]["rss_growth_mib"] for size, f in figures.items()},
        "e2e_rss_growth_mib": {size: f["e2e"]["rss_growth_mib"] for size, f in figures.items() if "e2e" in f},
        "import_seconds": {name: c["seconds"] for name, c in cold.items()},
        "import_details": cold,
        "machine": machine(),
        "reference_size_mb": reference,
        "figures": figures,
        "runs": results,
        "options": {k: str(v) for k, v in options.items()},
        "taken_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _num(value, digits=0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(summary: dict) -> str:
    """The human view: one line per size and stage, then ratios, cold start and the e2e split."""
    lines = [f"{'size MB':>8} {'stage':<6} {'lines/s':>10} {'MB/s':>8} {'seconds':>9} {'peak RSS MiB':>13} "
             f"{'growth MiB':>11}"]
    for size, stages in summary["figures"].items():
        for stage, f in stages.items():
            lines.append(f"{size:>8} {stage:<6} {_num(f['lines_per_s']):>10} {_num(f['mb_per_s'], 1):>8} "
                         f"{_num(f['seconds'], 2):>9} {_num(f['rss_peak_mib'], 1):>13} "
                         f"{_num(f['rss_growth_mib'], 1):>11}")
    lines.append("")
    ref = summary["reference_size_mb"]
    lines.append(f"at {ref} MB: cpu/floor {_num(summary['ratio_floor'], 2)} (target >= {TARGET_RATIO_FLOOR}), "
                 f"cpu/naive {_num(summary['ratio_naive'], 2)} (target >= {TARGET_RATIO_NAIVE}); "
                 f"floor/naive {_num(summary.get('ratio_floor_naive'), 2)} (the bound of cpu/naive on one core)")
    growth = ", ".join(f"{s} MB: {_num(g, 1)}" for s, g in summary["rss_growth_mib"].items())
    lines.append(f"cpu stage RSS growth MiB by size: {growth} (target <= {TARGET_GROWTH_MIB} at 1 GB)")
    if summary["e2e_rss_growth_mib"]:
        growth = ", ".join(f"{s} MB: {_num(g, 1)}" for s, g in summary["e2e_rss_growth_mib"].items())
        lines.append(f"processor process RSS growth MiB during e2e calls: {growth}")
    for name, c in summary["import_details"].items():
        lines.append(f"cold import {name:<22} {c['seconds']:.3f} s (main {c['main_seconds']:.3f} s; with client "
                     f"libraries {c['first_call_seconds']:.3f} s) target <= {TARGET_IMPORT_SECONDS}")
    for size, run in summary["runs"].items():
        e2e = run.get("e2e")
        if not e2e:
            continue
        http = e2e["http"]
        lines.append(f"e2e {size} MB: upload {e2e['upload_seconds']:.2f} s, "
                     f"lookup seed {e2e['seed_lookup_seconds']:.2f} s "
                     f"(not counted); processor {http['seconds']:.2f} s wall over {http['calls']} call(s) "
                     f"({http['processor_seconds']:.2f} s by its own clock); {http['inserted_rows']} rows answered, "
                     f"{e2e['rows_in_bigquery']} in BigQuery")
        if "split" in e2e:
            busy = ", ".join(f"{k} {v:.2f}" for k, v in sorted(e2e["split"]["busy_seconds"].items()))
            lines.append(f"  split (in-process rerun, {e2e['split']['seconds']:.2f} s wall; busy s): {busy}")
    m = summary["machine"]
    lines.append(f"machine: {m['cores']} cores, {m['memory_mib']} MiB, Python {m['python']}, "
                 f"load average {m['load_average_1m']}")
    return "\n".join(lines)
