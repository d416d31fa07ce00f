"""The envelope through a real Flask request cycle (functions-framework's own app)."""

import json

import pytest

from shared.errors import Conflict
from shared.http import json_endpoint


@pytest.fixture
def client(tmp_path):
    import flask

    calls = []

    @json_endpoint(methods=("POST",))
    def handler(body, ctx):
        calls.append(body)
        if body.get("boom") == "conflict":
            raise Conflict("held by another", details={"run_id": "r1"})
        if body.get("boom") == "bug":
            raise KeyError("secret-phone-tok_123")
        return {"status": "success", "echo": body}

    app = flask.Flask("t")
    app.add_url_rule("/", "h", lambda: handler(flask.request), methods=["GET", "POST", "PUT"])
    return app.test_client()


def test_success_is_json_with_request_id(client):
    resp = client.post("/", json={"a": 1})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "success" and body["echo"] == {"a": 1} and body["request_id"]


@pytest.mark.parametrize("kwargs, status, code", [
    ({"data": b"{not json", "content_type": "application/json"}, 400, "VALIDATION_ERROR"),
    ({"data": b"[1,2]", "content_type": "application/json"}, 400, "VALIDATION_ERROR"),
    ({"json": {"boom": "conflict"}}, 409, "CONFLICT"),
    ({"json": {"boom": "bug"}}, 500, "INTERNAL"),
    ({"data": b"x" * (1024 * 1024 + 1), "content_type": "application/json"}, 413, "PAYLOAD_TOO_LARGE"),
])
def test_errors_are_json_with_stable_codes(client, kwargs, status, code):
    resp = client.post("/", **kwargs)
    assert resp.status_code == status
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.get_json()
    assert body["status"] == "error" and body["error"]["code"] == code
    assert set(body) >= {"error", "request_id", "timestamp", "processing_time_seconds"}
    assert "Traceback" not in resp.get_data(as_text=True)


def test_internal_error_does_not_leak_the_exception_text(client, capsys):
    resp = client.post("/", json={"boom": "bug"})
    assert "secret-phone" not in resp.get_data(as_text=True)
    assert resp.get_json()["error"]["details"] == {"type": "KeyError"}


def test_method_not_allowed(client):
    resp = client.put("/", json={})
    assert resp.status_code == 405 and resp.get_json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_trace_header_becomes_request_id(client):
    resp = client.post("/", json={}, headers={"X-Cloud-Trace-Context": "abc123/1;o=1"})
    assert resp.get_json()["request_id"] == "abc123"


def test_error_logs_are_structured_json(client, capsys):
    client.post("/", json={"boom": "conflict"})
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines() if l.startswith("{")]
    assert any(l["severity"] == "WARNING" and l["code"] == "CONFLICT" for l in lines)
