"""HTTP entry point of poll_status (docs/api.md).

Tells a caller where a run stands, from Vertex AI and Firestore, and moves its state on; without a
run_id it sweeps every active run (Cloud Scheduler). `follow=true` streams the run's events (SSE,
status_poll/stream.py); every other call answers JSON. The work is in the status_poll package.
"""

from shared.http import json_endpoint


@json_endpoint(methods=("GET", "POST"), name="poll_status")
def _json_call(body, ctx):
    from status_poll.service import poll_request

    return poll_request(body, ctx)


def poll_status(request):
    if request.method.upper() == "GET" and request.args.get("follow", "").strip().lower() in ("true", "1", "yes"):
        from status_poll.service import event_store
        from status_poll.stream import stream_entry

        return stream_entry(request, event_store)
    return _json_call(request)
