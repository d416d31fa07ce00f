"""When the reliability suite writes reliability/report.json and the README table: only after a
complete run of the package and only when asked (RELIABILITY_WRITE_REPORT=1, set by `make
reliability`), so that `make test` and a plain pytest run never rewrite committed files. No stack:
the session hook is called with a stand-in collector and the writers recorded, not run."""

from __future__ import annotations

from pathlib import Path

import pytest

import reliability.report
from tests.reliability import conftest as suite

MODULES = {p.name for p in (Path(suite.__file__).parent).glob("test_*.py")}


class Collector:
    def report(self, tests):
        return {"tests": tests}


@pytest.fixture
def written(monkeypatch):
    """What the hook wrote: a list of (writer, report)."""
    calls = []
    monkeypatch.setattr(reliability.report, "write_report", lambda data: calls.append(("report.json", data)))
    monkeypatch.setattr(reliability.report, "refresh_readme", lambda data: calls.append(("README.md", data)))
    monkeypatch.setattr(suite, "_COLLECTOR", Collector())
    monkeypatch.setattr(suite, "_RAN", set(MODULES))
    monkeypatch.setattr(suite, "_DESELECTED", [])
    monkeypatch.setattr(suite, "_OUTCOMES", {"passed": 3, "failed": 0})
    return calls


@pytest.mark.parametrize("value", [None, "", "0", "yes"], ids=["unset", "empty", "0", "not 1"])
def test_a_complete_run_writes_nothing_unless_asked(written, monkeypatch, value):
    if value is None:
        monkeypatch.delenv(suite.WRITE_REPORT_ENV, raising=False)
    else:
        monkeypatch.setenv(suite.WRITE_REPORT_ENV, value)
    suite.pytest_sessionfinish(None, 0)
    assert written == []


def test_make_reliability_writes_the_report_and_the_readme_table(written, monkeypatch):
    monkeypatch.setenv(suite.WRITE_REPORT_ENV, "1")
    suite.pytest_sessionfinish(None, 0)
    data = {"tests": {"passed": 3, "failed": 0}}
    assert written == [("report.json", data), ("README.md", data)]


def test_a_partial_run_writes_nothing_even_when_asked(written, monkeypatch):
    monkeypatch.setenv(suite.WRITE_REPORT_ENV, "1")
    monkeypatch.setattr(suite, "_RAN", set(MODULES) - {"test_crash.py"})
    suite.pytest_sessionfinish(None, 0)
    monkeypatch.setattr(suite, "_RAN", set(MODULES))
    monkeypatch.setattr(suite, "_DESELECTED", ["tests/reliability/test_crash.py::test_x"])
    suite.pytest_sessionfinish(None, 0)
    assert written == []


def test_the_make_target_sets_the_variable():
    makefile = (Path(reliability.report.ROOT) / "Makefile").read_text()
    target = makefile.split("\nreliability:", 1)[1].split("\n\n", 1)[0]
    assert f"{suite.WRITE_REPORT_ENV}=1 " in target
