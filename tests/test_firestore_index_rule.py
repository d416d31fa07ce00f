"""Which composite index a query needs (infra/local/firestore_index_rule.py), on the exact protobuf
the official client builds; and every query the code makes is served by infra/firestore/indexes.json."""

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import And, FieldFilter, Or
from google.cloud.firestore_v1.types import StructuredQuery

from infra.firestore.indexes import Index, IndexField, load
from infra.local.firestore_index_rule import QueryTooComplex, from_structured_query, missing_index
from shared.jobstate import LLM_ACTIVE_STATES, JobStore

ASC, DESC = "ASCENDING", "DESCENDING"


@pytest.fixture(scope="module")
def db(monkeypatch_module):
    # Building queries needs no server: the client is never asked to send one.
    return firestore.Client(project="p", credentials=AnonymousCredentials())


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
        yield mp


def query_of(q):
    return from_structured_query(StructuredQuery.pb(q._to_protobuf()))


def index(*fields, group="c", scope="COLLECTION"):
    return Index(group, scope, tuple(IndexField(p, m) for p, m in fields))


def needs(q, indexes=()):
    return missing_index(query_of(q), tuple(indexes))


def test_the_sweep_query_needs_state_then_updated_at_and_the_repository_file_has_it(db):
    sweep = JobStore(db, collection="batch_jobs").states_query(LLM_ACTIVE_STATES, 25)
    assert needs(sweep) == index(("state", ASC), ("updated_at", ASC), group="batch_jobs")
    assert needs(sweep, load()) is None


@pytest.mark.parametrize("build", [
    lambda c: c.limit(10),                                             # whole collection
    lambda c: c.where(filter=FieldFilter("a", "==", 1)),
    lambda c: c.where(filter=FieldFilter("a", "in", [1, 2])),
    lambda c: c.where(filter=FieldFilter("a", "==", 1)).where(filter=FieldFilter("b", "==", 2)),  # merged
    lambda c: c.where(filter=FieldFilter("a", ">", 1)),
    lambda c: c.where(filter=FieldFilter("a", ">", 1)).order_by("a", direction="DESCENDING"),
    lambda c: c.order_by("a"),
    lambda c: c.where(filter=FieldFilter("tags", "array_contains", "x")),
    lambda c: c.where(filter=FieldFilter("a", "==", 1)).order_by("__name__"),
    lambda c: c.where(filter=Or([FieldFilter("a", "==", 1), FieldFilter("b", "==", 2)])),
])
def test_single_field_indexes_serve(db, build):
    assert needs(build(db.collection("c"))) is None


@pytest.mark.parametrize("build, expected", [
    (lambda c: c.where(filter=FieldFilter("a", "==", 1)).order_by("b"), [("a", ASC), ("b", ASC)]),
    (lambda c: c.where(filter=FieldFilter("a", "in", [1, 2])).order_by("b", direction="DESCENDING"),
     [("a", ASC), ("b", DESC)]),
    (lambda c: c.where(filter=FieldFilter("a", "==", 1)).where(filter=FieldFilter("b", "<", 3)),
     [("a", ASC), ("b", ASC)]),
    (lambda c: c.order_by("a").order_by("b", direction="DESCENDING"), [("a", ASC), ("b", DESC)]),
    # Inequality fields not ordered are appended by name in the last order's direction.
    (lambda c: c.where(filter=FieldFilter("z", ">", 1)).where(filter=FieldFilter("m", "<", 3)),
     [("m", ASC), ("z", ASC)]),
    (lambda c: c.where(filter=FieldFilter("z", ">", 1)).order_by("q", direction="DESCENDING"),
     [("q", DESC), ("z", DESC)]),
    (lambda c: c.where(filter=FieldFilter("tags", "array_contains", "x")).where(filter=FieldFilter("a", "==", 1)),
     [("a", ASC), ("tags", "CONTAINS")]),
    (lambda c: c.where(filter=FieldFilter("a", "not-in", [1])).where(filter=FieldFilter("b", "==", 1)),
     [("b", ASC), ("a", ASC)]),
])
def test_composite_index_needed(db, build, expected):
    assert needs(build(db.collection("c"))) == index(*expected)


def test_an_index_serves_only_its_own_directions_collection_and_scope(db):
    q = db.collection("c").where(filter=FieldFilter("a", "==", 1)).order_by("b", direction="DESCENDING")
    assert needs(q, [index(("a", DESC), ("b", DESC))]) is None  # an equality field's direction is free
    assert needs(q, [index(("a", ASC), ("b", ASC))]) is not None
    assert needs(q, [index(("a", ASC), ("b", DESC), group="other")]) is not None
    assert needs(q, [index(("a", ASC), ("b", DESC), scope="COLLECTION_GROUP")]) is not None
    assert needs(q, [index(("b", DESC), ("a", ASC))]) is not None  # order field must come last


def test_indexes_ending_in_the_same_order_are_merged_for_the_equalities(db):
    q = (db.collection("c").where(filter=FieldFilter("a", "==", 1)).where(filter=FieldFilter("b", "==", 2))
         .order_by("t"))
    assert needs(q, [index(("a", ASC), ("t", ASC)), index(("b", ASC), ("t", ASC))]) is None
    assert needs(q, [index(("a", ASC), ("t", ASC))]) == index(("a", ASC), ("b", ASC), ("t", ASC))
    assert needs(q, [index(("a", ASC), ("b", ASC), ("t", ASC))]) is None


def test_each_disjunction_of_an_or_query_needs_its_index(db):
    q = (db.collection("c").where(filter=Or([FieldFilter("a", "==", 1), FieldFilter("b", "==", 2)]))
         .order_by("t"))
    only_a = [index(("a", ASC), ("t", ASC))]
    assert needs(q, only_a) == index(("b", ASC), ("t", ASC))
    assert needs(q, only_a + [index(("b", ASC), ("t", ASC))]) is None


def test_a_collection_group_query_needs_a_group_scope_index(db):
    q = db.collection_group("c").where(filter=FieldFilter("a", "==", 1)).where(filter=FieldFilter("b", "==", 2))
    assert needs(q) == index(("a", ASC), ("b", ASC), scope="COLLECTION_GROUP")
    assert needs(q, [index(("a", ASC), ("b", ASC))]) is not None  # collection scope does not serve it


def test_more_than_thirty_disjunctions_are_refused(db):
    ors = [Or([FieldFilter(f"f{i}", "==", 1), FieldFilter(f"g{i}", "==", 1)]) for i in range(5)]  # 2**5 = 32
    with pytest.raises(QueryTooComplex):
        query_of(db.collection("c").where(filter=And(ors)))
