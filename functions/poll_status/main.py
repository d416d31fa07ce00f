"""HTTP entry point of poll_status (README: API reference).

Tells a caller where a run stands, from Vertex AI and Firestore, and moves its state on; without a
run_id it sweeps every active run (Cloud Scheduler). The work is in the status_poll package.
"""

from shared.http import json_endpoint


@json_endpoint(methods=("GET", "POST"), name="poll_status")
def poll_status(body, ctx):
    from status_poll.service import poll_request

    return poll_request(body, ctx)
