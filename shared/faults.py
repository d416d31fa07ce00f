"""Crash and pause points for the reliability tests: SIGKILL this process, or hold it, at a named
point of the work.

Off unless FAULT_CRASH_DIR is set in the function's environment (never in a deployment: infra/deploy.py
does not set it). A test arms a point by writing a file named after it into that directory, holding n:
the n-th time any process of the function reaches the point, the file is removed (so the point fires
once) and the process kills itself with SIGKILL, as a platform timeout or an out-of-memory kill would.
Nothing a request carries can arm a point.

A pause point is armed by a file `pause-<name>`: every process or thread reaching the point writes a
marker `paused-<name>-<pid>-<thread>` and waits while the pause file exists (at most
PAUSE_MAX_SECONDS), so that a test can line two calls up at the same point and then release both.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

_ENV = "FAULT_CRASH_DIR"
_lock = threading.Lock()
# A paused call gives up waiting after this long: a test that forgets to release cannot hang a
# function for ever.
PAUSE_MAX_SECONDS = 60.0
PAUSE_POLL_SECONDS = 0.05


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


def pause_point(name: str) -> None:
    """Wait here while `pause-<name>` exists in FAULT_CRASH_DIR (see the module docstring)."""
    directory = os.environ.get(_ENV)
    if not directory or not (Path(directory) / f"pause-{name}").exists():
        return
    marker = Path(directory) / f"paused-{name}-{os.getpid()}-{threading.get_ident()}"
    marker.touch()
    try:
        deadline = time.monotonic() + PAUSE_MAX_SECONDS
        while (Path(directory) / f"pause-{name}").exists() and time.monotonic() < deadline:
            time.sleep(PAUSE_POLL_SECONDS)
    finally:
        marker.unlink(missing_ok=True)
