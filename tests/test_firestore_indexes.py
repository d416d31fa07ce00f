"""The index file (infra/firestore/indexes.json) and the deploy's "does the project have it" check."""

import json

import pytest

from infra.firestore.indexes import Index, IndexField, load, parse_fields, present

SWEEP = Index("batch_jobs", "COLLECTION", (IndexField("state", "ASCENDING"), IndexField("updated_at", "ASCENDING")))


def test_the_repository_file_holds_the_sweep_index():
    assert SWEEP in load()


def test_file_form_round_trips_and_feeds_gcloud():
    index = Index("events", "COLLECTION_GROUP", (IndexField("tags", "CONTAINS"), IndexField("at", "DESCENDING")))
    assert Index.from_json(json.loads(json.dumps(index.to_json()))) == index
    assert index.gcloud_field_configs() == ["--field-config=field-path=tags,array-config=contains",
                                            "--field-config=field-path=at,order=descending"]
    assert index.gcloud_query_scope() == "collection-group"
    assert parse_fields(index.field_specs()) == index.fields


def test_an_index_listed_by_the_admin_api_is_recognised():
    """The API names the collection group in `name` and appends __name__ to the fields."""
    listed = [
        {"name": "projects/p/databases/(default)/collectionGroups/other/indexes/A", "queryScope": "COLLECTION",
         "fields": [{"fieldPath": "state", "order": "ASCENDING"}, {"fieldPath": "updated_at", "order": "ASCENDING"},
                    {"fieldPath": "__name__", "order": "ASCENDING"}], "state": "READY"},
        {"name": "projects/p/databases/(default)/collectionGroups/batch_jobs/indexes/B", "queryScope": "COLLECTION",
         "fields": [{"fieldPath": "state", "order": "ASCENDING"}, {"fieldPath": "updated_at", "order": "DESCENDING"},
                    {"fieldPath": "__name__", "order": "DESCENDING"}], "state": "READY"},
    ]
    assert not present(SWEEP, listed)  # other collection, other direction
    building = {"name": "projects/p/databases/(default)/collectionGroups/batch_jobs/indexes/C",
                "queryScope": "COLLECTION", "state": "CREATING",
                "fields": [{"fieldPath": "state", "order": "ASCENDING"}, {"fieldPath": "updated_at", "order": "ASCENDING"},
                           {"fieldPath": "__name__", "order": "ASCENDING"}]}
    assert present(SWEEP, listed + [building])  # still building counts: a second create is a duplicate


@pytest.mark.parametrize("bad", [
    {"collectionGroup": "c", "fields": [{"fieldPath": "a", "order": "ASCENDING"}]},  # one field: not composite
    {"collectionGroup": "c", "fields": [{"fieldPath": "a", "order": "UP"}, {"fieldPath": "b", "order": "ASCENDING"}]},
    {"collectionGroup": "c", "queryScope": "DATABASE",
     "fields": [{"fieldPath": "a", "order": "ASCENDING"}, {"fieldPath": "b", "order": "ASCENDING"}]},
])
def test_a_malformed_index_is_refused(bad):
    with pytest.raises(ValueError):
        Index.from_json(bad)
