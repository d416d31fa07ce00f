import pytest
from google.api_core import exceptions as gexc

from shared.errors import (
    Conflict,
    InternalError,
    NotFound,
    UpstreamPreconditionFailed,
    UpstreamUnavailable,
    ValidationError,
    is_transient,
    to_pipeline_error,
)


@pytest.mark.parametrize("exc, transient", [
    (gexc.TooManyRequests("quota"), True),
    (gexc.ServiceUnavailable("down"), True),
    (gexc.InternalServerError("oops"), True),
    (gexc.GatewayTimeout("slow"), True),
    (gexc.DeadlineExceeded("slow"), True),
    (ConnectionResetError(), True),
    (gexc.BadRequest("bad", errors=[{"reason": "backendError"}]), True),
    (gexc.BadRequest("bad", errors=[{"reason": "invalid"}]), False),
    (gexc.NotFound("gone"), False),
    (gexc.Forbidden("no"), False),
    (ValueError("bug"), False),
    (ValidationError("bad field"), False),
    (UpstreamUnavailable("down"), True),
    (gexc.FailedPrecondition("The query requires an index."), False),  # a missing index stays missing
])
def test_one_table_classifies(exc, transient):
    assert is_transient(exc) is transient


@pytest.mark.parametrize("exc, expected, status, code", [
    (gexc.ServiceUnavailable("down"), UpstreamUnavailable, 503, "UPSTREAM_UNAVAILABLE"),
    (gexc.NotFound("no table"), NotFound, 404, "NOT_FOUND"),
    (gexc.Conflict("exists"), Conflict, 409, "CONFLICT"),
    (KeyError("x"), InternalError, 500, "INTERNAL"),
    (gexc.RetryError("deadline", cause=gexc.ServiceUnavailable("down")), UpstreamUnavailable, 503,
     "UPSTREAM_UNAVAILABLE"),
    (ValidationError("v", field="f"), ValidationError, 400, "VALIDATION_ERROR"),
])
def test_mapping_to_answers(exc, expected, status, code):
    err = to_pipeline_error(exc)
    assert isinstance(err, expected) and err.http_status == status and err.code == code


def test_a_missing_firestore_index_is_terminal_and_says_so():
    """How google-cloud-firestore surfaces FAILED_PRECONDITION (api_core's grpc mapping), then ours."""
    import grpc

    class Rpc(grpc.RpcError, grpc.Call):
        def code(self):
            return grpc.StatusCode.FAILED_PRECONDITION

        def details(self):
            return "The query requires an index. You can create it here: https://console.firebase.google.com/x"

        def trailing_metadata(self):
            return None

    exc = gexc.from_grpc_error(Rpc())
    assert isinstance(exc, gexc.FailedPrecondition) and not is_transient(exc)
    err = to_pipeline_error(exc)
    assert isinstance(err, UpstreamPreconditionFailed)
    assert (err.http_status, err.code) == (500, "UPSTREAM_PRECONDITION_FAILED")
    assert err.message.startswith("The query requires an index.") and "console.firebase.google.com" in err.message
