import pytest
from google.api_core import exceptions as gexc

from shared.errors import (Conflict, InternalError, NotFound, UpstreamUnavailable, ValidationError, is_transient,
                           to_pipeline_error)


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
