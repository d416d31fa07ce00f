"""Google API clients, built lazily once per process, pointed at emulators when the environment
says so (STORAGE_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST, BIGQUERY_EMULATOR_HOST, VERTEX_AI_ENDPOINT)
and at Google otherwise. Imports are inside the functions: each costs cold-start time and not every
function needs every client.
"""

from __future__ import annotations

import functools
import os


def _project() -> str | None:
    return os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT")


def _anonymous():
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


@functools.lru_cache(maxsize=None)
def storage_client():
    from google.cloud import storage

    host = os.environ.get("STORAGE_EMULATOR_HOST")
    if host:
        return storage.Client(project=_project(), credentials=_anonymous(),
                              client_options={"api_endpoint": host})
    return storage.Client(project=_project())


@functools.lru_cache(maxsize=None)
def firestore_client():
    # The library reads FIRESTORE_EMULATOR_HOST itself and then uses no credentials.
    from google.cloud import firestore

    return firestore.Client(project=_project(), database=os.environ.get("FIRESTORE_DATABASE", "(default)"))


@functools.lru_cache(maxsize=None)
def bigquery_client():
    from google.cloud import bigquery

    host = os.environ.get("BIGQUERY_EMULATOR_HOST")
    if host:
        return bigquery.Client(project=_project(), credentials=_anonymous(),
                               client_options={"api_endpoint": host})
    return bigquery.Client(project=_project())


@functools.lru_cache(maxsize=None)
def job_service_client(location: str):
    """aiplatform_v1 JobServiceClient over REST for one region (Vertex endpoints are regional)."""
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient

    endpoint = os.environ.get("VERTEX_AI_ENDPOINT")
    if endpoint:
        return JobServiceClient(transport="rest", credentials=_anonymous(),
                                client_options={"api_endpoint": endpoint})
    return JobServiceClient(transport="rest",
                            client_options={"api_endpoint": f"https://{location}-aiplatform.googleapis.com"})
