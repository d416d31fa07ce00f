"""shared/faults.py: off without FAULT_CRASH_DIR, fires once on the armed hit, kills with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from infra.local.layout import REPO_ROOT

SNIPPET = "from shared.faults import crash_point\nfor _ in range(3):\n    crash_point('p')\n    print('hit', flush=True)\n"


def _run(env_extra: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FAULT_CRASH_DIR"}
    return subprocess.run([sys.executable, "-c", SNIPPET], cwd=REPO_ROOT, env={**env, **env_extra},
                          capture_output=True, text=True, timeout=60)


def test_off_without_the_environment(tmp_path):
    (tmp_path / "p").write_text("1")
    out = _run({})
    assert out.returncode == 0 and out.stdout.count("hit") == 3
    assert (tmp_path / "p").exists()


def test_armed_point_kills_on_its_nth_hit_once(tmp_path):
    (tmp_path / "p").write_text("2")
    out = _run({"FAULT_CRASH_DIR": str(tmp_path)})
    assert out.returncode == -signal.SIGKILL and out.stdout.count("hit") == 1
    assert not (tmp_path / "p").exists()  # disarmed: the restarted process runs through
    again = _run({"FAULT_CRASH_DIR": str(tmp_path)})
    assert again.returncode == 0 and again.stdout.count("hit") == 3
