"""Crash points for the reliability tests: SIGKILL this process at a named point of the work.

Off unless FAULT_CRASH_DIR is set in the function's environment (never in a deployment: infra/deploy.py
does not set it). A test arms a point by writing a file named after it into that directory, holding n:
the n-th time any process of the function reaches the point, the file is removed (so the point fires
once) and the process kills itself with SIGKILL, as a platform timeout or an out-of-memory kill would.
Nothing a request carries can arm a point.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

_ENV = "FAULT_CRASH_DIR"
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """SIGKILL the current process when `name` is armed and this is its n-th hit."""
    directory = os.environ.get(_ENV)
    if not directory:
        return
    armed = Path(directory) / name
    with _lock:
        try:
            remaining = int(armed.read_text().strip() or "1")
        except (FileNotFoundError, ValueError):
            return
        if remaining > 1:
            armed.write_text(str(remaining - 1))
            return
        armed.unlink(missing_ok=True)
        os.kill(os.getpid(), signal.SIGKILL)
