"""The four Vertex AI batch prediction REST calls submit_batch and poll_status make, over requests.

google-cloud-aiplatform's JobServiceClient costs about 1 s of cold start to import; these four calls
need only an HTTP session (google.auth's AuthorizedSession in production, a plain session for the
local emulator). Answers are the API's JSON (camelCase, int64 as strings, RFC 3339 times):
shared.vertex turns them into the project's dicts. A non-2xx answer raises the
google.api_core.exceptions class the gapic REST transport raised for it, so retry predicates and
error classification are unchanged; connection errors and timeouts propagate as requests' own
exceptions, which shared.errors counts as transient.

    POST {endpoint}/v1/{parent}/batchPredictionJobs            create
    GET  {endpoint}/v1/{name}                                   get
    GET  {endpoint}/v1/{parent}/batchPredictionJobs?filter=     list (paged with nextPageToken)
    POST {endpoint}/v1/{name}:cancel                            cancel
"""

from __future__ import annotations

from typing import Any

API_VERSION = "v1"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def regional_endpoint(location: str) -> str:
    """Vertex AI's endpoint for one region (batch prediction has no global endpoint)."""
    return f"https://{location}-aiplatform.googleapis.com"


def plain_session():
    """A requests session without credentials: the local emulator wants none."""
    import requests

    return requests.Session()


def authorized_session():
    """A session carrying the application default credentials (the function's service account)."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=[SCOPE])
    return AuthorizedSession(credentials)


def api_error(response) -> Exception:
    """The google.api_core exception for a non-2xx answer, as the gapic REST transport builds it
    (from the HTTP status). One refinement: a 400 whose status is FAILED_PRECONDITION (cancelling a
    job that already ended) becomes FailedPrecondition, a subclass of BadRequest, so that callers
    can tell it from a malformed request while `except BadRequest` still catches it."""
    from google.api_core import exceptions

    error = exceptions.from_http_response(response)
    if response.status_code == 400 and _status_name(response) == "FAILED_PRECONDITION":
        error = exceptions.FailedPrecondition(error.message, errors=error.errors, details=error.details,
                                              response=response)
    return error


def _status_name(response) -> str | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    if isinstance(payload, list):  # Google sometimes wraps the error object in a list
        payload = next((item for item in payload if isinstance(item, dict)), {})
    error = payload.get("error") if isinstance(payload, dict) else None
    return error.get("status") if isinstance(error, dict) else None


class BatchJobsRest:
    """Batch prediction job calls against one endpoint. `session` is a requests.Session (or an
    AuthorizedSession); every call takes the timeout of its single HTTP request."""

    def __init__(self, endpoint: str, session):
        # An endpoint without a scheme is a Google host, as api_endpoint is for the gapic client.
        self.endpoint = (endpoint if "://" in endpoint else f"https://{endpoint}").rstrip("/")
        self._session = session

    def _request(self, method: str, path: str, *, timeout: float, params: dict | None = None,
                 body: dict | None = None) -> dict[str, Any]:
        response = self._session.request(method, f"{self.endpoint}/{API_VERSION}/{path}", params=params,
                                         json=body, timeout=timeout)
        if not 200 <= response.status_code < 300:
            raise api_error(response)
        return response.json() if response.content else {}

    def create(self, parent: str, job: dict, *, timeout: float) -> dict[str, Any]:
        """Create a job under `parent` (projects/P/locations/L); returns the created job's JSON."""
        return self._request("POST", f"{parent}/batchPredictionJobs", body=job, timeout=timeout)

    def get(self, name: str, *, timeout: float) -> dict[str, Any]:
        """The job's JSON (google.api_core.exceptions.NotFound when there is no such job)."""
        return self._request("GET", name, timeout=timeout)

    def list(self, parent: str, *, filter: str, page_size: int, timeout: float) -> list[dict[str, Any]]:
        """Every job under `parent` matching the AIP-160 `filter`, all pages (each page one request)."""
        params = {"filter": filter, "pageSize": page_size}
        jobs: list[dict[str, Any]] = []
        tokens: set[str] = set()
        while True:
            page = self._request("GET", f"{parent}/batchPredictionJobs", params=params, timeout=timeout)
            jobs.extend(page.get("batchPredictionJobs") or [])
            token = page.get("nextPageToken")
            if not token:
                return jobs
            if token in tokens:  # a server that ignores pageToken would otherwise page forever
                raise RuntimeError(f"list of {parent} returned page token {token!r} twice")
            tokens.add(token)
            params = {**params, "pageToken": token}

    def cancel(self, name: str, *, timeout: float) -> None:
        """Ask for the job to be cancelled (FailedPrecondition when it already ended)."""
        self._request("POST", f"{name}:cancel", body={}, timeout=timeout)
