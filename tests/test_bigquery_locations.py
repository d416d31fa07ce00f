"""BigQuery's location rules (infra/local/bigquery_locations.py), the ASGI front that applies them
(infra/local/bigquery_front.py, driven here with a stand-in app), and the stack that runs it: a job
fetched by id without its location is not found, with it is."""

from __future__ import annotations

import asyncio
import io
import json
import uuid

import pytest
import requests
from google.api_core import exceptions as gexc

from infra.local import bigquery_locations as rules
from infra.local.bigquery_front import LocationFront

P = "/bigquery/v2/projects/p"
REGION = "europe-west4"


@pytest.mark.parametrize("method, path", [
    ("GET", f"{P}/jobs/j1"), ("GET", f"{P}/queries/j1"), ("POST", f"{P}/jobs/j1/cancel"),
    ("DELETE", f"{P}/jobs/j1/delete"),
])
def test_a_job_in_a_region_is_found_only_with_its_location(method, path):
    missing = rules.check_fetch(method, path, {}, REGION)
    assert missing.status == 404
    assert json.loads(missing.body)["error"]["message"] == "Not found: Job p:j1"
    other = rules.check_fetch(method, path, {"location": ["US"]}, REGION)
    assert json.loads(other.body)["error"]["errors"][0]["reason"] == "notFound"
    assert rules.check_fetch(method, path, {"location": [REGION]}, REGION) is None
    assert rules.check_fetch(method, path, {"location": ["EUROPE-WEST4"]}, REGION) is None  # case-insensitive


def test_a_multi_region_job_is_found_without_location_but_not_with_another():
    assert rules.check_fetch("GET", f"{P}/jobs/j1", {}, "US") is None
    assert rules.check_fetch("GET", f"{P}/jobs/j1", {"location": ["eu"]}, "EU") is None
    assert rules.check_fetch("GET", f"{P}/jobs/j1", {"location": [REGION]}, "US").status == 404


@pytest.mark.parametrize("method, path", [
    ("GET", f"{P}/jobs"), ("GET", f"{P}/datasets/d/tables/t/data"), ("POST", f"{P}/datasets/d/tables/t/insertAll"),
    ("POST", f"{P}/jobs"), ("GET", f"{P}/jobs/j1/extra"),
])
def test_other_calls_need_no_location(method, path):
    assert rules.check_fetch(method, path, {}, REGION) is None


def test_a_job_created_in_another_location_finds_no_dataset():
    load = {"jobReference": {"jobId": "j", "location": "US"},
            "configuration": {"load": {"destinationTable": {"projectId": "p", "datasetId": "d", "tableId": "t"}}}}
    refusal = rules.check_creation("job", "p", load, REGION)
    assert json.loads(refusal.body)["error"]["message"] == "Not found: Dataset p:d was not found in location US"
    assert rules.check_creation("job", "p", {**load, "jobReference": {"jobId": "j"}}, REGION) is None  # inferred
    assert rules.check_creation("job", "p", {**load, "jobReference": {"location": REGION}}, REGION) is None
    assert rules.check_creation("query", "p", {"query": "SELECT 1", "location": "US"}, REGION).status == 404
    assert rules.check_creation("query", "p", {"query": "SELECT 1"}, REGION) is None


def test_the_job_resource_of_an_upload_is_read_from_either_upload_form():
    resource = {"jobReference": {"jobId": "j", "location": "US"}}
    boundary = "===============123=="
    multipart = (f"--{boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n{json.dumps(resource)}"
                 f"\r\n--{boundary}\r\ncontent-type: */*\r\n\r\n{{\"a\": 1}}\n\r\n--{boundary}--").encode()
    assert rules.upload_metadata(f'multipart/related; boundary="{boundary}"', multipart) == resource
    assert rules.upload_metadata("application/json; charset=UTF-8", json.dumps(resource).encode()) == resource
    assert rules.upload_metadata("multipart/related", multipart) is None


def test_job_answers_name_the_stacks_location_and_rows_are_left_alone():
    rewrite = rules.answer_rewriter(REGION)
    job = (b'{"id":"p:US.j1","selfLink":"/bigquery/v2/projects/p/jobs/j1?location=US",'
           b'"jobReference":{"projectId":"p","jobId":"j1","location":"US"}}')
    assert json.loads(rewrite(job)) == {"id": f"p:{REGION}.j1",
                                        "selfLink": f"/bigquery/v2/projects/p/jobs/j1?location={REGION}",
                                        "jobReference": {"projectId": "p", "jobId": "j1", "location": REGION}}
    query = b'{"jobReference": {"jobId": "j", "location": "US"}, "location": "US", "rows": [{"f": [{"v": "\\"location\\": \\"US\\" p:US.x"}]}]}'
    out = json.loads(rewrite(query))
    assert out["location"] == REGION and out["jobReference"]["location"] == REGION
    assert out["rows"][0]["f"][0]["v"] == '"location": "US" p:US.x'
    assert rules.answer_rewriter("US")(job) == job


# -- the ASGI front around a stand-in app ---------------------------------------------------------

class StandIn:
    """An ASGI app that records what reached it and answers a local-bigquery style job."""

    def __init__(self, chunks=(b'{"jobReference":{"jobId":"j1","location":"US"}}',)):
        self.seen, self.chunks = [], chunks

    async def __call__(self, scope, receive, send):
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.seen.append((scope["method"], scope["path"], body))
        total = sum(map(len, self.chunks))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(total).encode())]})
        for i, chunk in enumerate(self.chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": i < len(self.chunks) - 1})


def call(app, method, path, query=b"", body=b"", headers=()):
    sent = []
    messages = [{"type": "http.request", "body": body[:3], "more_body": True},
                {"type": "http.request", "body": body[3:], "more_body": False}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": query, "headers": list(headers)}
    asyncio.run(LocationFront(app, REGION)(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert dict(start["headers"]).get(b"content-length") in (None, str(len(out)).encode())
    return start["status"], out


def test_the_front_refuses_before_the_app_and_passes_the_rest_untouched():
    app = StandIn()
    assert call(app, "GET", f"{P}/jobs/j1")[0] == 404 and app.seen == []
    status, body = call(app, "GET", f"{P}/jobs/j1", query=f"location={REGION}".encode())
    assert status == 200 and json.loads(body)["jobReference"]["location"] == REGION
    created = json.dumps({"jobReference": {"jobId": "j2", "location": "US"}}).encode()
    assert call(app, "POST", f"{P}/jobs", body=created)[0] == 404
    inferred = json.dumps({"jobReference": {"jobId": "j3"}, "configuration": {}}).encode()
    assert call(app, "POST", f"{P}/jobs", body=inferred)[0] == 200
    assert app.seen[-1] == ("POST", f"{P}/jobs", inferred)  # the body the front read reaches the app whole
    rows = StandIn(chunks=(b'{"rows": [', b'{"f": [{"v": "US"}]}', b"]}"))
    status, body = call(rows, "GET", f"{P}/datasets/d/tables/t/data", body=b"")
    assert status == 200 and body == b'{"rows": [{"f": [{"v": "US"}]}]}'


# -- the stack ------------------------------------------------------------------------------------

def test_the_stack_dataset_is_in_a_single_region(stack, bigquery_client, layout):
    assert stack["BQ_LOCATION"] == layout.bq_location and not rules.is_multi_region(layout.bq_location)
    assert bigquery_client.get_dataset(f"{layout.project}.{layout.dataset}").location == layout.bq_location


def test_a_job_fetched_by_id_without_its_location_is_not_found(stack, bigquery_client, layout):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    job = bigquery_client.query("SELECT 1 AS x", job_id=f"loc_probe_{uuid.uuid4().hex}")
    assert [dict(r) for r in job.result()] == [{"x": 1}] and job.location == layout.bq_location
    assert bigquery_client.get_job(job.job_id).state == "DONE"  # the client's default location
    url = f"{stack['BIGQUERY_EMULATOR_HOST']}/bigquery/v2/projects/{layout.project}/jobs/{job.job_id}"
    assert requests.get(url, params={"location": layout.bq_location}, timeout=30).status_code == 200
    assert requests.get(url, timeout=30).status_code == 404
    assert requests.get(url, params={"location": "US"}, timeout=30).status_code == 404
    no_location = bigquery.Client(project=layout.project, credentials=AnonymousCredentials(),
                                  client_options={"api_endpoint": stack["BIGQUERY_EMULATOR_HOST"]})
    with pytest.raises(gexc.NotFound, match=f"Not found: Job {layout.project}:{job.job_id}"):
        no_location.get_job(job.job_id)
    # A load whose job id is taken (a retry after a lost answer): 409, then the job is fetched.
    config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON", autodetect=True)
    table, load_id = f"{layout.project}.{layout.dataset}.loc_probe", f"loc_probe_load_{uuid.uuid4().hex}"
    bigquery_client.load_table_from_file(io.BytesIO(b'{"a": 1}\n'), table, job_id=load_id,
                                         job_config=config).result()
    with pytest.raises(gexc.Conflict):
        bigquery_client.load_table_from_file(io.BytesIO(b'{"a": 1}\n'), table, job_id=load_id, job_config=config)
    assert bigquery_client.get_job(load_id).state == "DONE"
    with pytest.raises(gexc.NotFound):
        no_location.get_job(load_id)


def test_a_client_configured_for_another_location_is_refused(stack, layout):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    us = bigquery.Client(project=layout.project, credentials=AnonymousCredentials(), location="US",
                         client_options={"api_endpoint": stack["BIGQUERY_EMULATOR_HOST"]})
    with pytest.raises(gexc.NotFound, match="was not found in location US"):
        us.query_and_wait(f"SELECT COUNT(*) FROM `{layout.project}.{layout.dataset}.{layout.output_table}`")
