"""The processor's process-wide thread pools, one per kind of background work, made on first use
(a cold start makes none). A few concurrent requests per instance share each pool; a pool's threads
start only as work is submitted to it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_POOLS: dict[str, ThreadPoolExecutor] = {}
_LOCK = threading.Lock()


def pool(name: str, max_workers: int) -> ThreadPoolExecutor:
    """The process's pool `name` (its threads are named so), made with max_workers the first time."""
    with _LOCK:
        found = _POOLS.get(name)
        if found is None:
            found = _POOLS[name] = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)
        return found
