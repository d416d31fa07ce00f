"""Talking to poll_status: its URL, an identity token for a deployed function, JSON calls and the
SSE stream (httpx + httpx-sse), reconnecting with Last-Event-ID."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import orjson

# A reconnect waits this long first and doubles up to the cap: a deployed stream ends every
# STREAM_MAX_SECONDS by design, an outage should not be hammered.
RECONNECT_FIRST_SECONDS, RECONNECT_MAX_SECONDS = 0.5, 10.0


class RunNotFound(RuntimeError):
    """poll_status answered 404 for the run."""


class CallFailed(RuntimeError):
    """poll_status answered an error other than 404 (the message is its error body)."""


def stack_env_url() -> str | None:
    """POLL_STATUS_URL from the environment, else from the local stack's stack.env."""
    if os.environ.get("POLL_STATUS_URL"):
        return os.environ["POLL_STATUS_URL"]
    from infra.local.layout import StackLayout, read_env_file

    env_file = StackLayout.from_env().env_file
    return read_env_file(env_file).get("POLL_STATUS_URL") if Path(env_file).exists() else None


def gcloud_identity_token() -> str:
    """An identity token of the gcloud account (a deployed function refuses calls without one)."""
    return subprocess.run(["gcloud", "auth", "print-identity-token"], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


@dataclass
class PollClient:
    url: str
    token: str | None = None
    batch_type: str = "pass1"
    timeout: float = 60.0

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {"Accept": "application/json", **(extra or {})}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def get(self, **params) -> dict:
        import httpx

        resp = httpx.get(self.url, params=params, headers=self._headers(), timeout=self.timeout)
        body = _json(resp)
        if resp.status_code == 404:
            raise RunNotFound((body.get("error") or {}).get("message", "not found"))
        if resp.status_code != 200:
            raise CallFailed(f"{resp.status_code} {(body.get('error') or {}).get('message', resp.text[:200])}")
        return body

    def status(self, run_id: str) -> dict:
        return self.get(run_id=run_id, batch_type=self.batch_type)

    def events(self, run_id: str, tail: int | None = None, after: int | None = None, limit: int = 100) -> dict:
        params = {"run_id": run_id, "batch_type": self.batch_type, "events": "true", "limit": limit}
        if tail is not None:
            params["tail"] = tail
        if after is not None:
            params["after"] = after
        return self.get(**params)

    def runs(self, limit: int = 20) -> dict:
        return self.get(list="true", limit=limit)

    def stream(self, run_id: str, after: int | None = None, max_seconds: float | None = None,
               max_reconnects: int | None = None, sleep=time.sleep) -> Iterator[dict]:
        """Every event of the run from after `after`, as dicts, reconnecting with Last-Event-ID when
        a connection ends before `event: done`; the last item is {"type": "done", ...}."""
        import httpx
        from httpx_sse import connect_sse

        last, delay, reconnects = after, RECONNECT_FIRST_SECONDS, 0
        params = {"run_id": run_id, "batch_type": self.batch_type, "follow": "true"}
        if max_seconds is not None:
            params["max_seconds"] = max_seconds
        while True:
            headers = self._headers({"Accept": "text/event-stream"})
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            try:
                with httpx.Client(timeout=httpx.Timeout(self.timeout, read=60)) as client:
                    with connect_sse(client, "GET", self.url, params=params, headers=headers) as source:
                        if source.response.status_code != 200:
                            source.response.read()
                            body = _json(source.response)
                            if source.response.status_code == 404:
                                raise RunNotFound((body.get("error") or {}).get("message", "not found"))
                            raise CallFailed(f"{source.response.status_code} {body.get('error')}")
                        for message in source.iter_sse():
                            if not message.data:  # a keep-alive comment
                                continue
                            data = orjson.loads(message.data)
                            if message.event == "done":
                                yield {**data, "type": "done"}
                                return
                            last = int(message.id)
                            delay = RECONNECT_FIRST_SECONDS
                            yield data
            except (httpx.TransportError, httpx.StreamError):
                pass  # dropped: reconnect below with Last-Event-ID
            reconnects += 1
            if max_reconnects is not None and reconnects > max_reconnects:
                raise CallFailed(f"the stream of run {run_id} ended {reconnects} times without done")
            sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)


def _json(resp) -> dict:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
