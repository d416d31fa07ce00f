"""pass1_batch_processor settings from the environment, read once per process (service.py caches
them); a request may override some of them for itself (config.py validates those overrides)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from shared.config import env_float, env_int
from shared.envfield import ENV, env_field

# Lines per chunk: a chunk is one staged object (two with dead letters) and two checkpoint
# transactions, no BigQuery job. 5,000 lines (~16 MB of lines, ~5 MB of staged rows) keeps the
# processor's memory growth near 50-60 MiB (docs/performance.md) and a replay after a crash short.
DEFAULT_CHUNK_SIZE = 5000
MAX_CHUNK_SIZE = 100_000
# Bytes of line data per chunk: output lines echo the request (a whole transcript), so lines alone
# do not bound memory.
DEFAULT_CHUNK_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MEMORY_THRESHOLD_PERCENT = 80.0
# 0: the memory limit is the container's cgroup limit (Cloud Run functions set it) or the machine's.
# A positive value states the instance's memory where neither tells it (a VM, a shared test host).
DEFAULT_MEMORY_LIMIT_MB = 0
# Below the 540 s function timeout, leaving room to finish a chunk and answer.
DEFAULT_TIME_BUDGET_SECONDS = 480.0
# A file's lease must outlive the longest gap between two checkpoint commits (one chunk); a crashed
# holder's files are taken over once it lapses.
DEFAULT_LEASE_SECONDS = 120.0


@dataclass(frozen=True)
class ProcessorSettings:
    """The processor's own settings (the deployment's are shared.config.Settings)."""

    chunk_size: int = env_field(DEFAULT_CHUNK_SIZE, "PROCESSOR_CHUNK_SIZE",
                                "lines per chunk (default of the request's `chunk_size`, at most 100,000)")
    chunk_max_bytes: int = env_field(DEFAULT_CHUNK_MAX_BYTES, "PROCESSOR_CHUNK_MAX_BYTES",
                                     "bytes of lines per chunk (lines echo the transcript)")
    memory_threshold_percent: float = env_field(
        DEFAULT_MEMORY_THRESHOLD_PERCENT, "PROCESSOR_MEMORY_THRESHOLD_PERCENT",
        "RSS share of the instance's memory that halves chunks (default of `memory_threshold_percent`)")
    memory_limit_mb: int = env_field(DEFAULT_MEMORY_LIMIT_MB, "PROCESSOR_MEMORY_LIMIT_MB",
                                     "the instance's memory; 0: the container's cgroup limit, else the machine's")
    time_budget_seconds: float = env_field(
        DEFAULT_TIME_BUDGET_SECONDS, "PROCESSOR_TIME_BUDGET_SECONDS",
        "then answer `partial` (default of `time_budget_seconds`); keep it below the function timeout")
    lease_seconds: float = env_field(DEFAULT_LEASE_SECONDS, "PROCESSOR_LEASE_SECONDS",
                                     "a file's lease, after which a crashed holder's files are taken over")

    @classmethod
    def from_env(cls) -> "ProcessorSettings":
        """Each field from its variable (env_field), the default when unset; a malformed value is a
        500 naming the variable."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            read = env_int if isinstance(f.default, int) else env_float
            values[f.name] = read(f.metadata[ENV], f.default)  # type: ignore[arg-type]  # every field has a default
        return cls(**values)
