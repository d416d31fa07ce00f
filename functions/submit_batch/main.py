"""HTTP entry point of submit_batch (docs/api.md).

Prepares the model requests of a run and creates its Vertex AI batch prediction job(s), once per
(run_id, batch_type); the work is in the batch_submit package beside this file.
"""

from shared.http import json_endpoint


@json_endpoint(methods=("POST",), name="submit_batch")
def submit_batch(body, ctx):
    from batch_submit.service import submit_request

    return submit_request(body, ctx)
