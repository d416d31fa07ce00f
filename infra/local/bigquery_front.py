"""local-bigquery served behind BigQuery's location rules (infra/local/bigquery_locations.py).

    .venv-bigquery/bin/python -m infra.local.bigquery_front --location europe-west4 \
        --host 127.0.0.1 --port P --grpc-port G --project PROJ --data-dir DIR

The same server `local-bigquery serve` starts (its REST app under uvicorn, its Storage API gRPC
server), with an ASGI middleware in front of the REST app, in the same process: no extra hop on the
stack's hottest path. The middleware refuses a job fetched without its location (or with another)
and a job created in another location, both 404 as BigQuery answers, refuses a load job with more
source URIs than BigQuery takes (infra/local/bigquery_limits.py, 400), and makes job answers name the
stack's location. Every other request and answer passes untouched, streamed as the app streams it.
Runs in the emulator's own environment (Python 3.13): only the standard library and what
local-bigquery brings.
"""

from __future__ import annotations

import argparse
import gzip
import pathlib
import sys
from urllib.parse import parse_qs

from infra.local import bigquery_limits as limits
from infra.local import bigquery_locations as rules


class LocationFront:
    """ASGI middleware: BigQuery's location rules around an ASGI app that has none."""

    def __init__(self, app, location: str):
        self.app = app
        self.location = location
        self._rewrite = rules.answer_rewriter(location)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        refusal = rules.check_fetch(method, path, params, self.location)
        creation = rules.creation_kind(method, path)
        if refusal is None and creation is not None:
            body, receive = await _read_body(receive)
            refusal = self._check_creation(creation, scope, params, body)
        if refusal is not None:
            return await _answer(send, refusal)
        if rules.JOB_ANSWERS.match(path):
            send = _rewriting(send, self._rewrite)
        return await self.app(scope, receive, send)

    def _check_creation(self, creation, scope, params, body: bytes):
        kind, project = creation
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-encoding") == b"gzip":
            body = gzip.decompress(body)
        if kind == "upload":
            if (params.get("uploadType") or [""])[0] not in ("multipart", "resumable"):
                return None  # the app answers what it does not support
            resource = rules.upload_metadata(headers.get(b"content-type", b"").decode("latin-1"), body)
        else:
            resource = rules.parse_json(body)
        if resource is None:
            return None  # malformed: the app's own validation answers it
        return rules.check_creation(kind, project, resource, self.location) or limits.check_load(kind, resource)


async def _read_body(receive):
    """The whole request body, and a receive() that replays it to the app."""
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), _replay([message], receive)
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    return body, _replay([{"type": "http.request", "body": body, "more_body": False}], receive)


def _replay(messages: list, receive):
    async def replay():
        return messages.pop(0) if messages else await receive()

    return replay


def _rewriting(send, rewrite):
    """A send() that holds a job answer until its last body part and sends it rewritten (these
    answers are JSON the app renders whole; content-length is set again)."""
    start, parts = None, []

    async def wrapped(message):
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body":
            return await send(message)
        parts.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = rewrite(b"".join(parts))
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return wrapped


async def _answer(send, refusal: rules.Refusal) -> None:
    await send({"type": "http.response.start", "status": refusal.status,
                "headers": [(b"content-type", b"application/json; charset=UTF-8"),
                            (b"content-length", str(len(refusal.body)).encode())]})
    await send({"type": "http.response.body", "body": refusal.body})


def main(argv: list[str] | None = None) -> int:
    """`local-bigquery serve` (its cli.main, same flags) with the location front around the app."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--location", required=True, help="where the stack's datasets are (US, EU or a region)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--data-dir", type=pathlib.Path, required=True)
    parser.add_argument("--storage-url", help="the Storage emulator load jobs read gs:// sources from")
    parser.add_argument("--threads", type=int, default=1,
                        help="DuckDB threads of the emulator (stack.py: BIGQUERY_EMULATOR_THREADS, default 1)")
    args = parser.parse_args(argv)

    import uvicorn
    from local_bigquery.settings import settings

    settings.bigquery_host, settings.bigquery_port, settings.grpc_port = args.host, args.port, args.grpc_port
    settings.default_project_id, settings.data_dir = args.project, args.data_dir
    from local_bigquery import app
    from local_bigquery.grpc import server

    if args.storage_url:
        from infra.local import bigquery_gcs

        bigquery_gcs.install(args.storage_url)
    # One DuckDB thread by default: the emulator shares the machine's cores with the functions and the
    # other emulators. With DuckDB's default (a thread per core) on 2 cores, the 100k-line scale run's
    # BigQuery work took 11-13 CPU seconds instead of 6-8, and the call 14-15 s instead of 10-12
    # (bench/scale.py's stack_cpu), its parallel threads contending with the function they serve.
    from local_bigquery.engine import database

    database.connection().execute(f"SET threads = {max(1, args.threads)}")
    grpc_server, _ = server.start(args.host, args.grpc_port)
    try:
        uvicorn.run(LocationFront(app, args.location), host=args.host, port=args.port)
    finally:
        grpc_server.stop(None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
