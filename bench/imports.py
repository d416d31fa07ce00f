"""Cold start: how long each function takes to import, in a fresh process each time.

What a new instance pays before its first answer: `main` (the entry point, which imports the HTTP
envelope) and the package the first call imports (main.py defers it): `seconds`. The Google client
libraries the first call then imports (shared/clients.py imports them on first use) are timed on top:
`first_call_seconds`. functions_framework itself is not counted: the platform loads it whatever the
function. The median of a few fresh processes is reported, as one start on a shared machine is noisy.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from infra.local.layout import REPO_ROOT

FUNCTIONS = {"submit_batch": "batch_submit.service", "poll_status": "status_poll.service",
             "pass1_batch_processor": "pass1_processor.service"}
# What shared.vertex imports for its first call in the cloud: the REST client with its authorized
# session (shared.vertex_rest), and the retry policy every call runs under.
VERTEX = ("shared.vertex_rest", "google.auth.transport.requests", "google.api_core.retry")
CLIENT_LIBRARIES = {
    "submit_batch": ("google.cloud.storage", "google.cloud.firestore", "google.cloud.bigquery", *VERTEX),
    "poll_status": ("google.cloud.storage", "google.cloud.firestore", *VERTEX),
    "pass1_batch_processor": ("google.cloud.storage", "google.cloud.firestore", "google.cloud.bigquery"),
}
PROBE = """
import sys, time, json
started = time.perf_counter()
import main
entry = time.perf_counter()
__import__(sys.argv[1])
done = time.perf_counter()
for library in sys.argv[2:]:
    __import__(library)
clients = time.perf_counter()
print(json.dumps({"main": entry - started, "total": done - started, "first_call": clients - started}))
"""


def import_seconds(name: str, package: str) -> dict:
    """One fresh interpreter, laid out as the deployed function (its folder, then the repo for shared/)."""
    folder = REPO_ROOT / "functions" / name
    env = {"PYTHONPATH": f"{folder}:{REPO_ROOT}", "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "0"}
    out = subprocess.run([sys.executable, "-c", PROBE, package, *CLIENT_LIBRARIES[name]], cwd=folder, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def measure(repeats: int = 3) -> dict[str, dict]:
    """Function name -> median seconds of main alone, main + package, and + client libraries."""
    results = {}
    for name, package in FUNCTIONS.items():
        import_seconds(name, package)  # the first run writes .pyc files; a deployed function has them
        runs = [import_seconds(name, package) for _ in range(repeats)]
        results[name] = {"seconds": statistics.median(r["total"] for r in runs),
                         "main_seconds": statistics.median(r["main"] for r in runs),
                         "first_call_seconds": statistics.median(r["first_call"] for r in runs)}
    return results
