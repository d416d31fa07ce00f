"""Google API errors: HTTP codes, canonical status names and the JSON error body clients parse."""

import http
import json

# HTTP status -> canonical google.rpc status name, as Google's REST front end pairs them.
HTTP_TO_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# google.rpc.Code numbers, used in a job's `error.code` (a Status message, not an HTTP code).
RPC_CODES = {
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}

DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    404: "The requested resource was not found.",
    429: "Quota exceeded for aiplatform.googleapis.com/batch_prediction_jobs. Please retry later.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "The request timed out.",
}


class ApiError(Exception):
    """An error answered to an API call, in Google's JSON error shape."""

    def __init__(self, code, message=None, status=None):
        self.code = int(code)
        self.status = status or HTTP_TO_STATUS.get(self.code, "UNKNOWN")
        self.message = message or DEFAULT_MESSAGES.get(self.code, http.HTTPStatus(self.code).phrase)
        super().__init__(f"{self.code} {self.status}: {self.message}")

    def body(self):
        """The JSON body: {"error": {"code", "message", "status"}}."""
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def row_status(code, message=None):
    """The `status` string of a failed prediction line, e.g. 'Bad Request: {"error": {...}}'."""
    err = ApiError(code, message)
    return f"{http.HTTPStatus(err.code).phrase}: {json.dumps(err.body())}"


def job_error(http_code, message=None):
    """A job's `error` field (google.rpc.Status JSON) for a whole-job failure."""
    err = ApiError(http_code, message)
    return {"code": RPC_CODES.get(err.status, RPC_CODES["UNKNOWN"]), "message": err.message}
