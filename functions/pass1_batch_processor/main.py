"""HTTP entry point of pass1_batch_processor (docs/api.md).

Streams a Vertex AI batch job's prediction*.jsonl output into BigQuery exactly once; the work is in
the pass1_processor package beside this file, imported on first call to keep cold start short.
"""

from shared.http import json_endpoint


@json_endpoint(methods=("POST",), name="pass1_batch_processor")
def pass1_batch_processor(body, ctx):
    from pass1_processor.service import process_request

    return process_request(body, ctx)
