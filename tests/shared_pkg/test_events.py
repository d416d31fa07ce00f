"""Run events without services: derived events, scrub, the runs CLI's view."""

import pytest

from shared import events as E
from tools.runs.view import RunView, event_line


def test_a_change_that_changes_nothing_derives_nothing_and_state_changes_are_named():
    record = {"state": "RUNNING", "jobs": [{"name": "j1", "state": "JOB_STATE_RUNNING"}], "attempt": 1}
    assert E.derive(record, {"jobs": [{"name": "j1", "state": "JOB_STATE_RUNNING"}], "polled_at": 1}) == []
    types = [e.type for e in E.derive(record, {"state": "FAILED", "jobs": [{"name": "j1", "state": "JOB_STATE_FAILED"}],
                                               "last_error": {"code": "X", "message": "m"}})]
    assert types == ["job.state_changed", "run.state_changed", "run.failed"]
    assert [e.type for e in E.derive({"state": "COMPLETED", "attempt": 1}, {"state": "SUBMITTED", "attempt": 2})] == [
        "run.state_changed", "retry.submitted"]
    assert [e.type for e in E.derive({"state": "FAILED"}, {"state": "PROCESSING"})] == ["run.state_changed",
                                                                                     "run.resumed"]


def test_scrub_refuses_personal_data_at_any_depth_and_cuts_long_text():
    for bad in ({"transcript": "x"}, {"a": {"phone_number_token": "p"}}, {"a": [{"key": "k"}]}):
        with pytest.raises(E.UnsafeEvent):
            E.scrub(bad)
    assert len(E.scrub({"message": "x" * 5000})["message"]) < 600


def test_the_view_folds_events_into_stage_rows_rate_and_eta():
    view = RunView("r")
    for event in [
        {"type": "run.created", "sequence": 1, "state": "PENDING_SUBMISSION", "timestamp": "2026-01-01T00:00:00Z"},
        {"type": "job.created", "sequence": 2, "job": "j", "requests": 1000, "attempt": 1,
         "timestamp": "2026-01-01T00:00:01Z"},
        {"type": "file.started", "sequence": 3, "file": "gs://b/p-1.jsonl", "timestamp": "2026-01-01T00:01:00Z"},
        {"type": "progress", "sequence": 4, "file": "gs://b/p-1.jsonl", "timestamp": "2026-01-01T00:01:10Z",
         "run": {"processed": 500, "inserted": 480, "failed": 20}},
    ]:
        view.apply(event)
        assert event_line(event).startswith("00:0")
    assert view.rate == 50.0 and view.eta_seconds == 10.0 and view.total_requests == 1000
    view.apply({"type": "run.state_changed", "sequence": 5, "from": "PROCESSING", "to": "FAILED"})
    view.apply({"type": "done", "state": "FAILED"})
    assert view.exit_code() == 1 and view.eta_seconds is None


def test_notification_messages_are_checked_against_pub_sub_limits():
    from datetime import datetime, timezone

    from shared import notify

    data, attributes = notify.message({"id": "pass1__r__3", "event": "run.failed", "run_id": "r", "batch_type": "pass1",
                                       "sequence": 3, "summary": {"state": "FAILED"},
                                       "created_at": datetime(2026, 1, 1, tzinfo=timezone.utc)})
    notify.check_message(data, attributes)
    assert attributes == {"run_id": "r", "batch_type": "pass1", "event": "run.failed", "id": "pass1__r__3",
                          "sequence": "3"}
    for bad in ({**attributes, "v": "x" * 1025}, {**attributes, "googfoo": "1"}, {**attributes, "k" * 257: "1"},
                {f"a{i}": "1" for i in range(101)}):
        with pytest.raises(notify.MessageRefused):
            notify.check_message(data, bad)
    with pytest.raises(notify.MessageRefused):
        notify.check_message(b"x" * 10_000_001, {})
