"""Helpers of the reliability suite: a TCP fault proxy, prediction lines, a run with a known
expected outcome, calls that survive a crashed function, and the exactly-once check."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import orjson
import requests

from shared.keys import encode_key

# A function whose worker was SIGKILLed closes the connection: requests raises one of these.
CRASHED = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of an emulator. cut() closes the listener and every open
    connection (the service is unreachable: connection refused, like a stopped process) while the
    emulator keeps its data; restore() listens again on the same port."""

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        for sock in ([listener] if listener else []) + conns:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:
                    _close(client), _close(upstream)
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    _close(src), _close(dst)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


# --- prediction lines ------------------------------------------------------------------------------

def analysis(i: int) -> dict:
    return {"summary": f"Call {i} about billing.", "sentiment": "neutral", "customer_intent": "billing_dispute",
            "resolution_status": "resolved", "topics": ["billing"], "agent_performance_score": 3,
            "compliance_flags": [], "follow_up_required": False}


def request_of(text: str) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def success_line(token: str, interaction: str, i: int, *, text: str | None = None, key: str | None = None) -> dict:
    body = text if text is not None else orjson.dumps(analysis(i)).decode()
    return {"status": "", "processed_time": "2025-01-01T00:00:00.000+00:00",
            "request": request_of(f"Transcript: Customer: secret words {token} {i}."),
            "response": {"candidates": [{"content": {"role": "model", "parts": [{"text": body}]},
                                         "finishReason": "STOP"}],
                         "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
                         "modelVersion": "gemini-2.5-flash"},
            "key": key if key is not None else encode_key(token, interaction)}


def failed_line(token: str, interaction: str) -> dict:
    return {"status": 'Too Many Requests: {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}',
            "processed_time": "2025-01-01T00:00:00.000+00:00",
            "request": request_of(f"Transcript: Customer: failed {token}."), "key": encode_key(token, interaction)}


def jsonl(lines) -> bytes:
    out = [orjson.dumps(line) if isinstance(line, dict) else line for line in lines]
    return b"\n".join(out) + b"\n"


# --- a run with a known outcome --------------------------------------------------------------------

@dataclass
class Expected:
    """What a finished run must hold: the output keys (each once), the dead-letter lines, counts."""

    keys: set[str] = field(default_factory=set)
    dead: set[tuple[str, int]] = field(default_factory=set)   # (source_uri, line_number)
    duplicates: int = 0
    lines: int = 0


def build_files(out_dir: str, tag: str, files: int = 2, per_file: int = 5) -> tuple[dict[str, bytes], Expected]:
    """Prediction files for one output dir: per file `per_file` good lines, one failed row and one
    invalid model text; the second file repeats a key of the first (a duplicate)."""
    exp, contents, n = Expected(), {}, 0
    for f in range(files):
        uri = f"{out_dir}/predictions_{f + 1:05d}.jsonl"
        lines = []
        for _ in range(per_file):
            token, interaction = f"PHONE-{tag}-{n:04d}", f"INT-{tag}-{n}"
            lines.append(success_line(token, interaction, n))
            exp.keys.add(encode_key(token, interaction))
            n += 1
        lines.append(failed_line(f"PHONE-{tag}-F{f}", f"INT-{tag}-F{f}"))
        exp.dead.add((uri, len(lines)))
        lines.append(success_line(f"PHONE-{tag}-J{f}", f"INT-{tag}-J{f}", 0, text="I cannot answer that."))
        exp.dead.add((uri, len(lines)))
        if f == 1:
            lines.append(success_line(f"PHONE-{tag}-0000", f"INT-{tag}-0", 0))
            exp.duplicates += 1
        contents[uri] = jsonl(lines)
        exp.lines += len(lines)
    return contents, exp


# --- calls -----------------------------------------------------------------------------------------

def post(url: str, body=None, *, data: bytes | None = None, headers=None, timeout: float = 120):
    """(status, JSON body), or ("crashed", None) when the function's process died under the call."""
    try:
        if data is None:
            resp = requests.post(url, json=body, headers=headers, timeout=timeout)
        else:
            resp = requests.post(url, data=data, headers=headers, timeout=timeout)
    except CRASHED:
        return "crashed", None
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.text[:300]
    return resp.status_code, resp.json()


def drive(url: str, body: dict, *, attempts: int = 60, pause: float = 0.3, allow=(409, 503)) -> tuple[dict, list]:
    """Call until the answer is 200 "success": a crashed call or an allowed status is called again
    (a dead holder's lease lapses, a service comes back). Returns (final answer, statuses seen)."""
    seen = []
    for _ in range(attempts):
        status, answer = post(url, body)
        seen.append(status)
        if status == 200 and answer["status"] == "success":
            return answer, seen
        assert status == "crashed" or status == 200 or status in allow, (status, answer)
        if status != 200:
            time.sleep(pause)
    raise AssertionError(f"not done after {attempts} calls: {seen[-10:]}")


def exactly_once(bigquery_client, layout, run_id: str, exp: Expected, answer: dict, report=None) -> None:
    """The output table holds each expected key once and nothing else; each dead line once; the
    answer's counts add up. Lost and doubled rows go to the report before the assertions."""
    from google.cloud import bigquery

    def query(table: str, columns: str):
        sql = f"SELECT {columns} FROM `{layout.project}.{layout.dataset}.{table}` WHERE run_id = @run"
        config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("run", "STRING", run_id)])
        return [tuple(row.values()) for row in bigquery_client.query(sql, job_config=config).result()]

    keys = [k for (k,) in query(layout.output_table, "composite_key")]
    dead = [(u, n) for u, n in query(layout.dead_letter_table, "source_uri, line_number")]
    lost = len(exp.keys - set(keys)) + len(exp.dead - set(dead))
    doubled = (len(keys) - len(set(keys))) + (len(dead) - len(set(dead)))
    if report is not None:
        report.rows_checked(len(exp.keys) + len(exp.dead), lost, doubled)
    assert sorted(keys) == sorted(exp.keys)
    assert sorted(dead) == sorted(exp.dead)
    assert answer["processed_records"] == exp.lines
    assert answer["inserted_rows"] == len(exp.keys)
    assert answer["failed_records"] == len(exp.dead)
    assert answer["duplicate_records"] == exp.duplicates
    assert answer["processed_records"] == answer["inserted_rows"] + answer["failed_records"] + answer["duplicate_records"]
