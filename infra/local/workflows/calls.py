"""The `call:` targets: http.get, http.post, sys.sleep, sys.log, with Workflows' results and errors.

HTTP as Workflows does it: the result is `{"body", "code", "headers"}` with a JSON body parsed; any
answer outside 2xx raises an HttpError map `{"tags": ["HttpError"], "code", "message", "headers",
"body"}`; a connection that cannot be opened raises ConnectionFailedError, one that breaks raises
ConnectionError, a call past its timeout raises TimeoutError.

`auth: {type: OIDC}` locally: Workflows would mint an identity token for the target's URL. Here the call
carries `Authorization: Bearer local-oidc-token` instead (LOCAL_OIDC_TOKEN); the local functions do not
check it, and a test can see that the definition asked for authentication.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .errors import fail
from .operators import is_number, type_name
from .runtime import Frame

LOCAL_OIDC_TOKEN = "local-oidc-token"
# http.get / http.post `timeout`: "The request timeout, in seconds (default: 300.0) ... The maximum
# allowed timeout is 1800 seconds" (https://cloud.google.com/workflows/docs/reference/stdlib/http/get).
# A literal above the cap is refused at load (loader.py), a computed one when the call runs.
DEFAULT_HTTP_TIMEOUT_SECONDS = 300
MAX_HTTP_TIMEOUT_SECONDS = 1800


def _timeout(args: dict) -> float:
    timeout = args.get("timeout", DEFAULT_HTTP_TIMEOUT_SECONDS)
    if not is_number(timeout) or not 0 < timeout <= MAX_HTTP_TIMEOUT_SECONDS:
        raise fail("ValueError", f"timeout must be a number in (0, {MAX_HTTP_TIMEOUT_SECONDS}], got {timeout!r}")
    return float(timeout)


def _headers(args: dict) -> dict[str, str]:
    headers = args.get("headers") or {}
    if not isinstance(headers, dict):
        raise fail("TypeError", f"headers must be a map, not {type_name(headers)}")
    headers = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in headers.items()}
    if args.get("auth") is not None:
        headers["Authorization"] = f"Bearer {LOCAL_OIDC_TOKEN}"
    return headers


def _query(args: dict) -> dict | None:
    query = args.get("query")
    if query is None:
        return None
    if not isinstance(query, dict):
        raise fail("TypeError", f"query must be a map, not {type_name(query)}")

    def text(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    return {k: [text(v) for v in value] if isinstance(value, list) else text(value) for k, value in query.items()}


def _encode_body(args: dict, headers: dict[str, str]) -> bytes | None:
    """JSON unless the caller set a text/* Content-Type for a string body."""
    if "body" not in args or args["body"] is None:
        return None
    body = args["body"]
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if isinstance(body, str) and content_type and content_type.startswith("text/"):
        return body.encode("utf-8")
    if content_type is None:
        headers["Content-Type"] = "application/json"
    return json.dumps(body).encode("utf-8")


def _decode_body(response: Any) -> Any:
    content_type = response.headers.get("Content-Type", "")
    text = response.content.decode(response.encoding or "utf-8", errors="replace")
    if "json" in content_type and text:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _transport_error(exc: Exception, url: str) -> Exception:
    import requests
    import urllib3

    message = f"{type(exc).__name__} calling {url}: {exc}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return fail("ConnectionFailedError", message)
    if isinstance(exc, requests.exceptions.Timeout):
        return fail("TimeoutError", message)
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return fail("ConnectionFailedError", message)
    return fail("ConnectionError", message)


def http_call(method: str, args: dict, frame: Frame) -> dict:
    """One HTTP request; the result map, or a raised HttpError / transport error."""
    import requests

    url = args.get("url")
    if not isinstance(url, str):
        raise fail("TypeError", f"url must be a string, not {type_name(url)}")
    headers = _headers(args)
    data = _encode_body(args, headers)
    started = time.monotonic()
    try:
        response = requests.request(
            method, url, params=_query(args), data=data, headers=headers, timeout=_timeout(args)
        )
    except requests.exceptions.RequestException as exc:
        error = _transport_error(exc, url)
        frame.emit("http", method=method, url=url, error=error.value["tags"][0], seconds=time.monotonic() - started)
        raise error from None
    result = {"body": _decode_body(response), "code": response.status_code, "headers": dict(response.headers)}
    frame.emit("http", method=method, url=url, code=response.status_code, seconds=time.monotonic() - started)
    if not 200 <= response.status_code < 300:
        raise fail("HttpError", f"HTTP server responded with error code {response.status_code}", **result)
    return result


def sys_sleep(args: dict, frame: Frame) -> None:
    seconds = args["seconds"]
    if not is_number(seconds):
        raise fail("TypeError", f"sys.sleep seconds must be a number, not {type_name(seconds)}")
    if seconds < 0:
        raise fail("ValueError", f"sys.sleep seconds must be >= 0, got {seconds}")
    frame.emit("sleep", seconds=seconds, reason="sys.sleep")
    frame.runtime.sleep(seconds)


def sys_log(args: dict, frame: Frame) -> None:
    key = next(k for k in ("text", "json", "data") if k in args)
    severity = args.get("severity") or "DEFAULT"
    frame.emit("log", severity=severity, **{key: args[key]})


CALLS = {
    "http.get": lambda args, frame: http_call("GET", args, frame),
    "http.post": lambda args, frame: http_call("POST", args, frame),
    "sys.sleep": sys_sleep,
    "sys.log": sys_log,
}
