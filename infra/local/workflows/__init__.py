"""A local executor for the Cloud Workflows constructs our definitions use, and nothing more.

    from infra.local.workflows import load_workflow, run_workflow
    result = run_workflow(load_workflow("infra/workflows/pass1.yaml"), {"run_id": ...},
                          on_event=print)   # one dict per step, HTTP call, sleep, retry, log line

Supported: `main` with params; steps lists; assign; call http.get / http.post / sys.sleep / sys.log;
switch with condition/next/assign/steps/raise/return; next (step, end, continue, break); for
(value/index/in/range); parallel for with shared and concurrency_limit (real threads); try with retry
(http.default_retry, http.default_retry_non_idempotent, or predicate + max_retries + backoff) and
except; raise; return; nested steps; and expressions with the library functions in stdlib.FUNCTIONS.
Anything else is refused with WorkflowSyntaxError naming the construct and the step, at load time
wherever possible, and so is what Cloud Workflows would refuse to deploy (validate.py: loop and except
variables used outside their scope, parallel branches assigning variables not in `shared`, duplicate
step names, switch and concurrency limits; stdlib.py: literal arguments of a wrong type). `auth: {type: OIDC}`
sends `Authorization: Bearer local-oidc-token` (see calls.py).
"""

from .calls import LOCAL_OIDC_TOKEN
from .errors import WorkflowError, WorkflowFailed, WorkflowSyntaxError
from .executor import run_workflow
from .loader import load_workflow, parse_workflow
from .model import Workflow

__all__ = [
    "LOCAL_OIDC_TOKEN",
    "Workflow",
    "WorkflowError",
    "WorkflowFailed",
    "WorkflowSyntaxError",
    "load_workflow",
    "parse_workflow",
    "run_workflow",
]
