"""The reliability report: figures the reliability suite (tests/reliability) collects while it runs,
written to reliability/report.json and shown as a table in docs/reliability.md (between the markers below).

    python -m reliability.report            # print the table of reliability/report.json
    python -m reliability.report --docs     # refresh docs/reliability.md's table from reliability/report.json

The suite writes the report itself at the end of a complete run of `make reliability` (which sets
RELIABILITY_WRITE_REPORT=1); `make test`, a plain pytest run and a partial run (-k, one file) leave
the committed figures alone.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT_PATH = ROOT / "reliability" / "report.json"
DOC_PATH = ROOT / "docs" / "reliability.md"
BEGIN = "<!-- reliability-report:begin -->"
END = "<!-- reliability-report:end -->"
COMMAND = "make reliability   # or: .venv/bin/python -m pytest tests/reliability"


class Collector:
    """Counts what the suite did: each fault injected and whether the pipeline survived it, each
    bad input tried and whether it was handled, and the rows a run was expected to hold against
    those lost or doubled. Thread-safe (tests drive calls from threads)."""

    def __init__(self, seed: int):
        self.seed = seed
        self._lock = threading.Lock()
        self.faults: dict[str, dict[str, int]] = defaultdict(lambda: {"injected": 0, "survived": 0})
        self.bad_inputs: dict[str, dict[str, int]] = defaultdict(lambda: {"tried": 0, "handled": 0})
        self.rows = {"expected": 0, "lost": 0, "doubled": 0}
        self.checks: dict[str, dict[str, int]] = defaultdict(lambda: {"run": 0, "passed": 0})

    def _count(self, table: dict, category: str, field: str) -> None:
        with self._lock:
            table[category][field] += 1

    def fault_injected(self, category: str) -> None:
        self._count(self.faults, category, "injected")

    def fault_survived(self, category: str) -> None:
        self._count(self.faults, category, "survived")

    def bad_input_tried(self, category: str) -> None:
        self._count(self.bad_inputs, category, "tried")

    def bad_input_handled(self, category: str) -> None:
        self._count(self.bad_inputs, category, "handled")

    def check_run(self, category: str) -> None:
        """A security property checked (deploy privacy, roles, log scan)."""
        self._count(self.checks, category, "run")

    def check_passed(self, category: str) -> None:
        self._count(self.checks, category, "passed")

    def rows_checked(self, expected: int, lost: int, doubled: int) -> None:
        with self._lock:
            self.rows["expected"] += expected
            self.rows["lost"] += lost
            self.rows["doubled"] += doubled

    def report(self, tests: dict[str, int]) -> dict:
        """The report as a JSON-ready dict (sorted, no timestamps: a rerun gives the same file)."""
        faults = {k: dict(v) for k, v in sorted(self.faults.items())}
        bad = {k: dict(v) for k, v in sorted(self.bad_inputs.items())}
        checks = {k: dict(v) for k, v in sorted(self.checks.items())}
        return {
            "faults_injected": sum(v["injected"] for v in faults.values()),
            "faults_survived": sum(v["survived"] for v in faults.values()),
            "bad_inputs_tried": sum(v["tried"] for v in bad.values()),
            "bad_inputs_handled": sum(v["handled"] for v in bad.values()),
            "security_checks": sum(v["run"] for v in checks.values()),
            "security_checks_passed": sum(v["passed"] for v in checks.values()),
            "rows_expected": self.rows["expected"],
            "rows_lost": self.rows["lost"],
            "rows_doubled": self.rows["doubled"],
            "seed": self.seed,
            "command": COMMAND,
            "tests": tests,
            "faults": faults,
            "bad_inputs": bad,
            "checks": checks,
        }


def write_report(report: dict, path: Path = REPORT_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


def render_table(report: dict) -> str:
    """The table of a report, as docs/reliability.md shows it."""
    rows = [
        ("faults injected / survived", f"{report['faults_injected']} / {report['faults_survived']}"),
        ("bad inputs tried / handled", f"{report['bad_inputs_tried']} / {report['bad_inputs_handled']}"),
        ("security checks run / passed", f"{report['security_checks']} / {report['security_checks_passed']}"),
        ("rows expected (output rows and dead letters)", str(report["rows_expected"])),
        ("rows lost", str(report["rows_lost"])),
        ("rows doubled", str(report["rows_doubled"])),
    ]
    rows += [(f"fault: {name}", f"{v['injected']} / {v['survived']}") for name, v in report["faults"].items()]
    rows += [(f"bad input: {name}", f"{v['tried']} / {v['handled']}") for name, v in report["bad_inputs"].items()]
    rows += [(f"security: {name}", f"{v['run']} / {v['passed']}") for name, v in report["checks"].items()]
    lines = ["| figure | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)]
    lines.append("")
    lines.append(f"Reproduce: `{report['command'].split('#')[0].strip()}` (seed {report['seed']}); "
                 f"the figures are in `reliability/report.json`.")
    return "\n".join(lines)


def refresh_readme(report: dict, path: Path = DOC_PATH) -> bool:
    """Replace only the block between the markers of docs/reliability.md (the name is older than
    that page); True when the page changed. A page without the markers is left alone."""
    text = path.read_text()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return False
    updated = text[:start + len(BEGIN)] + "\n" + render_table(report) + "\n" + text[end:]
    if updated == text:
        return False
    path.write_text(updated)
    return True


def main(argv: list[str]) -> int:
    report = json.loads(REPORT_PATH.read_text())
    if argv[:1] in (["--docs"], ["--readme"]):  # --readme: the older name of --docs
        print(f"{DOC_PATH.name} updated" if refresh_readme(report) else f"{DOC_PATH.name} already current")
    else:
        print(render_table(report))
    return 0 if report["rows_lost"] == 0 and report["rows_doubled"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
