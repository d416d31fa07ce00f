"""CPU seconds the local stack's processes spend during a measured span (psutil, from outside).

The stack's services (the emulators, the functions) share this machine's cores with one another:
a call cannot end sooner than the CPU they all spent on it divided by the cores. bench/scale.py
reports that bound beside the end-to-end rate, so that a rate limited by the machine is told apart
from one limited by the function's own waits.
"""

from __future__ import annotations

import os
from pathlib import Path


def _processes(pids_dir: Path) -> dict:
    import psutil

    found = {}
    for pid_file in sorted(pids_dir.glob("*.pid")):
        try:
            root = psutil.Process(int(pid_file.read_text().strip()))
            found[pid_file.stem] = [root, *root.children(recursive=True)]
        except (ValueError, OSError, psutil.Error):
            continue  # a service that is not running spends nothing
    return found


def _seconds(processes: list) -> float:
    import psutil

    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


class StackCpu:
    """start() before the span, stop() after it; report() the CPU seconds per service."""

    def __init__(self, pids_dir: Path):
        self._pids_dir = pids_dir
        self._processes: dict = {}
        self._start: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def start(self) -> None:
        self._processes = _processes(self._pids_dir)  # after any restart: today's pids
        self._start = {name: _seconds(procs) for name, procs in self._processes.items()}

    def stop(self) -> None:
        self.spent = {name: _seconds(procs) - self._start[name] for name, procs in self._processes.items()}

    def report(self, lines: int, wall_seconds: float, cpu_lines_per_s: float) -> dict:
        """The CPU per service, its total, and what it bounds: the wall time the machine's cores
        allow (total / cores), the end-to-end rate at that bound, and its share of the CPU stage."""
        cores = os.cpu_count() or 1
        total = sum(self.spent.values())
        floor = total / cores
        ceiling = lines / floor if floor else None
        return {"stack_cpu_s": {k: round(v, 2) for k, v in sorted(self.spent.items(), key=lambda kv: -kv[1])},
                "stack_cpu_total_s": round(total, 2), "cores": cores, "cpu_floor_s": round(floor, 2),
                "wall_s": round(wall_seconds, 2),
                "e2e_ceiling_lines_per_s": round(ceiling, 1) if ceiling else None,
                "e2e_cpu_ratio_ceiling": round(ceiling / cpu_lines_per_s, 3) if ceiling else None}
