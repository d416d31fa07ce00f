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
    """The BigQuery client, with the dataset's location (BQ_LOCATION) as its default: every job it
    creates, and every job it fetches by id (after a 409, or a poll), carries that location, which
    BigQuery needs for a dataset in a single region."""
    from google.cloud import bigquery

    from shared.config import Settings

    location = os.environ.get("BQ_LOCATION") or Settings.bq_location
    host = os.environ.get("BIGQUERY_EMULATOR_HOST")
    if host:
        return bigquery.Client(project=_project(), credentials=_anonymous(), location=location,
                               client_options={"api_endpoint": host})
    return bigquery.Client(project=_project(), location=location)


@functools.lru_cache(maxsize=None)
def vertex_jobs_client(location: str):
    """Batch prediction jobs over REST for one region (Vertex endpoints are regional): the emulator
    without credentials when VERTEX_AI_ENDPOINT is set, else Google with the default credentials."""
    from shared import vertex_rest

    endpoint = os.environ.get("VERTEX_AI_ENDPOINT")
    if endpoint:
        return vertex_rest.BatchJobsRest(endpoint, _vertex_session(emulated=True))
    return vertex_rest.BatchJobsRest(vertex_rest.regional_endpoint(location), _vertex_session(emulated=False))


@functools.lru_cache(maxsize=None)
def _vertex_session(emulated: bool):
    # One session for every region: it pools connections per host and refreshes one token.
    from shared import vertex_rest

    return vertex_rest.plain_session() if emulated else vertex_rest.authorized_session()
