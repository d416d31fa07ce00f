"""One stage in this (fresh) process: `python -m bench.worker STAGE FILE CONFIG_JSON` prints one JSON
object: seconds (the fastest pass; files under 20 MB are passed 3 times), the stage's counts, and
memory (RSS after imports and setup, peak RSS over the passes, growth).

A fresh process per stage keeps one stage's allocations (and the allocator's retained pages) out of
the next stage's figures.
"""

from __future__ import annotations

import gc
import importlib
import json
import resource
import sys
import time
from pathlib import Path

STAGES = {"floor": "bench.floor", "naive": "bench.naive", "cpu": "bench.cpu"}
# Small files pass in a fraction of a second, where one scheduler hiccup on a shared machine is a
# large error: they are passed several times and the fastest pass is kept.
REPEAT_BELOW_BYTES = 20_000_000
REPEATS = 3
MIB = 1024 * 1024


def rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def peak_rss_bytes() -> int:
    """This process's high-water mark of resident memory. VmHWM (Linux) belongs to the process's own
    address space; ru_maxrss is kept across exec, so it would report the parent's size at fork."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(stage: str, path: Path, config: dict) -> dict:
    """Set the stage up, take the base RSS, time the pass, take the peak."""
    from bench import memlookup, synth

    memlookup.configure(synth.SynthConfig(**config))
    module = importlib.import_module(STAGES[stage])
    started = time.perf_counter()
    work = module.setup(path)
    setup_seconds = time.perf_counter() - started
    gc.collect()
    base = rss_bytes()
    passes = REPEATS if path.stat().st_size < REPEAT_BELOW_BYTES else 1
    timings = []
    for _ in range(passes):
        started = time.perf_counter()
        counts = work()
        timings.append(time.perf_counter() - started)
    peak = peak_rss_bytes()
    return {"stage": stage, "seconds": min(timings), "passes": passes, "setup_seconds": setup_seconds, "counts": counts,
            "rss_base_mib": base / MIB, "rss_peak_mib": peak / MIB, "rss_growth_mib": max(0, peak - base) / MIB}


def main(argv: list[str]) -> int:
    stage, path, config = argv[0], Path(argv[1]), json.loads(argv[2])
    print(json.dumps(measure(stage, path, config)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
