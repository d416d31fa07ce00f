"""Which composite index a Firestore query needs, and whether an index file provides it.

Real Firestore answers FAILED_PRECONDITION "The query requires an index" to a query no index serves;
the emulator runs every query. The local stack's Firestore front (firestore_front.py) asks this module
before it forwards a query, so a query the deploy has no index for fails locally as it would in
production. The rules, from the Firestore documentation (index overview, query limitations,
StructuredQuery.orderBy):

- Single-field indexes exist for every field (ascending, descending, array-contains), in collection
  scope only; a collection-group query needs an index in group scope even for what they would serve
  (for one field that is a single-field exemption, which this module does not model: not checked).
- Equality-like filters (`==`, `in`, IS_NULL, IS_NAN) on any number of fields are served by merging
  single-field indexes; so are filters and orders that all name one field.
- Anything else needs a composite index: an equality or array-contains filter with an order or an
  inequality on another field, orders on two fields, inequalities on two fields, array-contains
  with another filter.
- The query is ordered by its explicit orders, then by its inequality fields not ordered yet (by
  name, in the direction of the last order), then by the document id: the index must list the
  equality fields first (any direction: equality scans one value) and then those orders, in order
  and direction.
- Several composite indexes that end in the same orders can be merged for the equality part (a
  zig-zag join), so an index file may serve `a == 1 and b == 2 order by c` with (a, c) and (b, c).
- An OR query is served when each of its disjunctions is (an `in` is already an equality).

What this leaves out, on purpose: single-field exemptions (fieldOverrides), vector and `!=` subtleties
beyond "an inequality", and the planner's choice among indexes; the check can be stricter than
Firestore only where an index file relies on one of those.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from math import prod

from infra.firestore.indexes import DOCUMENT_ID, Index, IndexField

EQUALITY = frozenset({"EQUAL", "IN", "IS_NULL", "IS_NAN"})
ARRAY = frozenset({"ARRAY_CONTAINS", "ARRAY_CONTAINS_ANY"})
INEQUALITY = frozenset({"LESS_THAN", "LESS_THAN_OR_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL",
                        "NOT_EQUAL", "NOT_IN", "IS_NOT_NULL", "IS_NOT_NAN"})
# An OR of ANDs of ORs... expands multiplicatively; Firestore itself caps a query's disjunctions at 30.
MAX_DISJUNCTIONS = 30


@dataclass(frozen=True)
class Condition:
    path: str
    op: str  # an operator name of StructuredQuery.FieldFilter / UnaryFilter


@dataclass(frozen=True)
class Order:
    path: str
    direction: str  # ASCENDING or DESCENDING


@dataclass(frozen=True)
class Query:
    """A structured query, reduced to what decides its index: its collection, scope, filter as a
    list of disjunctions (each a conjunction of conditions) and explicit orders."""

    collection: str
    all_descendants: bool
    disjunctions: tuple[tuple[Condition, ...], ...]
    orders: tuple[Order, ...]


class QueryTooComplex(ValueError):
    """More disjunctions than Firestore accepts."""


@dataclass(frozen=True)
class Requirement:
    """What a conjunctive query needs of a composite index: equality-like fields and array-contains
    fields (first, any order), then ordered fields (in order and direction)."""

    collection: str
    scope: str
    equality: frozenset[str]
    arrays: frozenset[str]
    orders: tuple[IndexField, ...]

    def suggested(self) -> Index:
        """The one index that serves the query alone (what the error asks to create)."""
        head = ([IndexField(p, "ASCENDING") for p in sorted(self.equality)]
                + [IndexField(p, "CONTAINS") for p in sorted(self.arrays)])
        return Index(self.collection, self.scope, tuple(head) + self.orders)


def requirement(collection: str, all_descendants: bool, conditions: tuple[Condition, ...],
                orders: tuple[Order, ...]) -> Requirement | None:
    """The composite index one conjunctive query needs, or None when single-field indexes serve it."""
    conditions = tuple(c for c in conditions if c.path != DOCUMENT_ID)
    equality = frozenset(c.path for c in conditions if c.op in EQUALITY)
    arrays = frozenset(c.path for c in conditions if c.op in ARRAY)
    inequality = sorted({c.path for c in conditions if c.op in INEQUALITY})
    ordered = tuple(IndexField(o.path, o.direction) for o in _effective_orders(orders, inequality, equality))
    paths = equality | arrays | {f.path for f in ordered}
    if len(paths) <= 1:
        # One field: its single-field index (a collection-group query needs that index exempted into
        # group scope, a field override this module does not model).
        return None
    if not all_descendants and not ordered and not arrays:
        return None  # equalities only: single-field indexes merged
    return Requirement(collection, "COLLECTION_GROUP" if all_descendants else "COLLECTION",
                       equality, arrays, ordered)


def _effective_orders(orders: tuple[Order, ...], inequality: list[str], equality: frozenset[str]) -> list[Order]:
    """Explicit orders up to the document id, then inequality fields not ordered yet (by name, in
    the last explicit direction); an order on an equality field changes nothing and is dropped."""
    explicit = []
    for order in orders:
        if order.path == DOCUMENT_ID:
            break
        explicit.append(order)
    direction = explicit[-1].direction if explicit else "ASCENDING"
    named = {o.path for o in explicit}
    implicit = [Order(p, direction) for p in inequality if p not in named]
    return [o for o in explicit + implicit if o.path not in equality]


def served(needed: Requirement, indexes: tuple[Index, ...]) -> bool:
    """Whether the indexes serve the requirement. An index of the same group and scope counts when
    it ends with exactly the ordered fields and lists before them only fields the query filters by
    equality (ordered mode) or array-contains (CONTAINS); together such indexes must cover every
    filtered field (one index, or several merged)."""
    wanted = needed.equality | needed.arrays
    covered: set[str] = set()
    found = False
    tail_length = len(needed.orders)
    for index in indexes:
        if index.collection_group != needed.collection or index.query_scope != needed.scope:
            continue
        fields = index.fields
        if len(fields) < tail_length or fields[len(fields) - tail_length:] != needed.orders:
            continue
        head = fields[: len(fields) - tail_length]
        if all((f.path in needed.arrays) if f.mode == "CONTAINS" else (f.path in needed.equality) for f in head):
            covered |= {f.path for f in head}
            found = True
    return found and covered >= wanted


def missing_index(query: Query, indexes: tuple[Index, ...]) -> Index | None:
    """An index the query needs that the given indexes do not provide (the first disjunction that
    lacks one), or None when every disjunction is served."""
    for conditions in query.disjunctions:
        needed = requirement(query.collection, query.all_descendants, conditions, query.orders)
        if needed is not None and not served(needed, indexes):
            return needed.suggested()
    return None


# -- reading a google.firestore.v1.StructuredQuery (the raw protobuf message) ----------------------

def from_structured_query(message) -> Query:
    """The query of a StructuredQuery protobuf message (of RunQuery / RunAggregationQuery requests),
    as google.cloud.firestore_v1.types.StructuredQuery.pb() parses it."""
    # `from` is a Python keyword: proto-plus's message class names the field `from_` (the wire and
    # the JSON name stay `from`); a protobuf-generated class keeps `from`.
    sources = message.from_ if "from_" in message.DESCRIPTOR.fields_by_name else getattr(message, "from")
    collection = sources[0].collection_id if sources else ""
    all_descendants = bool(sources) and sources[0].all_descendants
    disjunctions = _disjunctions(message.where) if message.HasField("where") else ((),)
    orders = tuple(Order(o.field.field_path, _enum_name(o, "direction", default="ASCENDING"))
                   for o in message.order_by)
    return Query(collection, all_descendants, disjunctions, orders)


def _disjunctions(flt) -> tuple[tuple[Condition, ...], ...]:
    """The filter in disjunctive normal form: an OR of ANDs of conditions."""
    kind = flt.WhichOneof("filter_type")
    if kind == "field_filter":
        return ((Condition(flt.field_filter.field.field_path, _enum_name(flt.field_filter, "op")),),)
    if kind == "unary_filter":
        return ((Condition(flt.unary_filter.field.field_path, _enum_name(flt.unary_filter, "op")),),)
    if kind != "composite_filter":
        return ((),)
    parts = [_disjunctions(child) for child in flt.composite_filter.filters]
    is_or = _enum_name(flt.composite_filter, "op") == "OR"
    size = sum(map(len, parts)) if is_or else prod(map(len, parts))
    if size > MAX_DISJUNCTIONS:
        raise QueryTooComplex(f"the filter expands to {size} disjunctions (at most {MAX_DISJUNCTIONS})")
    if is_or:
        return tuple(conj for part in parts for conj in part)
    return tuple(tuple(c for conj in combo for c in conj) for combo in product(*parts))


def _enum_name(message, field: str, default: str = "") -> str:
    number = getattr(message, field)
    if not number:
        return default
    return message.DESCRIPTOR.fields_by_name[field].enum_type.values_by_number[number].name
