"""Memory watch: the process's resident memory against the instance's limit.

Above the threshold garbage is collected and the allocator's free memory handed back to the system
(glibc's malloc_trim), and if that is not enough the chunk size is halved (down to MIN_CHUNK_LINES);
it never grows back within a call, so a call that once ran short stays cautious. The limit is the
container's cgroup limit when there is one (Cloud Run sets it), else the machine's memory.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIN_CHUNK_LINES = 10
CGROUP_LIMIT_FILES = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
MIB = 1024 * 1024


def memory_limit_bytes(configured_mb: int = 0) -> int:
    """The memory this process may use: the configured limit when given, else the cgroup limit if
    set and smaller than total RAM, else total RAM."""
    import psutil

    if configured_mb > 0:
        return configured_mb * MIB
    total = psutil.virtual_memory().total
    for path in CGROUP_LIMIT_FILES:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            return int(text)
    return total


_malloc_trim: Any = None  # glibc's malloc_trim, looked up once; False where there is none


def release_free_memory() -> None:
    """Hand the allocator's free memory back to the system (glibc: malloc_trim(0)); nothing elsewhere.

    glibc keeps memory a chunk freed (a chunk's rows, its upload body) in its arenas, and the RSS the
    memory limit counts stays at that peak. Only above the threshold: trimming before every chunk
    took 12 MiB off the processor's peak growth at 100k lines in bench/scale.py but cost the CPU
    stage 5-10 % (the trimmed pages are faulted in again by the next chunk; docs/performance.md)."""
    global _malloc_trim
    if _malloc_trim is None:
        import ctypes
        import ctypes.util

        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


@dataclass
class MemoryWatch:
    """Decides each chunk's size from the memory in use."""

    threshold_percent: float
    chunk_lines: int
    limit_bytes: int = field(default_factory=memory_limit_bytes)
    peak_rss: int = 0
    shrinks: int = 0

    def __post_init__(self):
        import psutil

        self._process = psutil.Process()
        self.sample()

    def sample(self) -> float:
        """Percent of the limit in use now (and the peak so far)."""
        rss = self._process.memory_info().rss
        self.peak_rss = max(self.peak_rss, rss)
        return 100.0 * rss / self.limit_bytes

    def next_chunk_lines(self) -> int:
        """Lines for the next chunk: shrunk and garbage-collected when above the threshold."""
        if self.sample() > self.threshold_percent:
            gc.collect()
            release_free_memory()
            if self.sample() > self.threshold_percent and self.chunk_lines > MIN_CHUNK_LINES:
                self.chunk_lines = max(MIN_CHUNK_LINES, self.chunk_lines // 2)
                self.shrinks += 1
        return self.chunk_lines

    def report(self) -> dict:
        return {"peak_rss_mb": round(self.peak_rss / MIB, 1), "limit_mb": round(self.limit_bytes / MIB),
                "chunk_shrinks": self.shrinks, "final_chunk_size": self.chunk_lines}
