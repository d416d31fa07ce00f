"""HTTP front end: Google's REST paths for batch prediction jobs and the /emulator control paths."""

import json
import logging
import re
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import ApiError

LOG = logging.getLogger("vertex_emulator.http")
JOBS_PATH = re.compile(
    r"^/v1(?:beta1)?/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/batchPredictionJobs"
    r"(?:/(?P<job>[^/:]+))?(?P<cancel>:cancel)?$"
)
MAX_BODY_BYTES = 10 * 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    """Routes one request to the Emulator held by the server."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the client's requests session expects
    server_version = "vertex-batch-emulator"

    def log_message(self, fmt, *args):
        LOG.debug("%s %s", self.address_string(), fmt % args)

    def _send(self, code, payload):
        body = json.dumps(payload).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ApiError(400, "Request body too large.")
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ApiError(400, f"Invalid JSON payload received. {exc}") from exc

    def _dispatch(self):
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        # The REST transport asks for enums as numbers with `$alt=json;enum-encoding=int`.
        enum_as_int = "enum-encoding=int" in query.get("$alt", "")
        body = self._body() if self.command in ("POST", "PUT", "PATCH") else None
        emulator = self.server.emulator
        if path.startswith("/emulator/"):
            return self._control(emulator, path, body)
        route = JOBS_PATH.match(path)
        if not route:
            raise ApiError(404, f"No route for {self.command} {path}.")
        project, location, job = route["project"], route["location"], route["job"]
        if self.command == "POST" and job is None and not route["cancel"]:
            return 200, emulator.create(project, location, body, enum_as_int)
        if self.command == "GET" and job is None:
            return 200, emulator.list(project, location, query, enum_as_int)
        if self.command == "GET" and not route["cancel"]:
            return 200, emulator.get(project, location, job, enum_as_int)
        if self.command == "POST" and route["cancel"]:
            return 200, emulator.cancel(project, location, job)
        raise ApiError(405 if job else 404, f"{self.command} is not supported on {path}.", "UNIMPLEMENTED")

    def _control(self, emulator, path, body):
        if path == "/emulator/health" and self.command == "GET":
            return 200, emulator.health()
        if path == "/emulator/config" and self.command == "GET":
            return 200, emulator.config()
        if path == "/emulator/config" and self.command == "POST":
            return 200, emulator.configure(body)
        if path == "/emulator/reset" and self.command == "POST":
            emulator.reset()
            return 200, emulator.health()
        raise ApiError(404, f"No control route for {self.command} {path}.")

    def _handle(self):
        try:
            code, payload = self._dispatch()
        except ApiError as exc:
            code, payload = exc.code, exc.body()
        except Exception as exc:  # answer JSON even for our own bugs, so the client shows the message
            LOG.error("%s %s failed:\n%s", self.command, self.path, traceback.format_exc())
            code, payload = 500, ApiError(500, f"Emulator error: {exc}").body()
        LOG.info("%s %s -> %s", self.command, self.path.split("?", 1)[0], code)
        self._send(code, payload)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _handle


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the Emulator its handlers use."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, emulator):
        super().__init__(address, Handler)
        self.emulator = emulator
