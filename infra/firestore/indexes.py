"""The composite indexes the code's Firestore queries need, kept in infra/firestore/indexes.json.

Firestore builds single-field indexes by itself but never a composite one: a query that needs one
fails with FAILED_PRECONDITION "The query requires an index" until somebody creates it. The file is
in the format of `firebase deploy --only firestore:indexes` (firestore.indexes.json); the deploy
creates each index with `gcloud firestore indexes composite create`, guarded by

    python -m infra.firestore.indexes exists --project P --collection-group G --query-scope S \
        --fields path:ORDER,path:CONTAINS,...

which exits 0 when the project already has that index (in any state: one still building counts, a
second create would be refused as a duplicate).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

INDEX_FILE = Path(__file__).resolve().parent / "indexes.json"
# The document id: Firestore adds it as the last field of every index it lists, and orders every
# query by it last; it is never part of an index definition.
DOCUMENT_ID = "__name__"
MODES = ("ASCENDING", "DESCENDING", "CONTAINS")
SCOPES = ("COLLECTION", "COLLECTION_GROUP")


@dataclass(frozen=True)
class IndexField:
    path: str
    mode: str  # ASCENDING, DESCENDING (ordered) or CONTAINS (array-contains)

    def to_json(self) -> dict:
        if self.mode == "CONTAINS":
            return {"fieldPath": self.path, "arrayConfig": "CONTAINS"}
        return {"fieldPath": self.path, "order": self.mode}

    def spec(self) -> str:
        return f"{self.path}:{self.mode}"


@dataclass(frozen=True)
class Index:
    """One composite index: a collection group, a query scope and the ordered fields."""

    collection_group: str
    query_scope: str
    fields: tuple[IndexField, ...]

    @classmethod
    def from_json(cls, data: dict, collection_group: str | None = None) -> "Index":
        """An index from the file's form or from the Admin API's (which names the collection group
        in `name` and appends __name__)."""
        group = data.get("collectionGroup") or collection_group or _group_from_name(data.get("name", ""))
        fields = []
        for field in data.get("fields", []):
            mode = field.get("order") or field.get("arrayConfig")
            if mode not in MODES:
                raise ValueError(f"index field {field!r}: need order ASCENDING/DESCENDING or arrayConfig CONTAINS")
            fields.append(IndexField(field["fieldPath"], mode))
        while fields and fields[-1].path == DOCUMENT_ID:
            fields.pop()
        scope = data.get("queryScope", "COLLECTION")
        if not group or scope not in SCOPES or len(fields) < 2:
            raise ValueError(f"not a composite index: {data!r}")
        return cls(group, scope, tuple(fields))

    def to_json(self) -> dict:
        return {"collectionGroup": self.collection_group, "queryScope": self.query_scope,
                "fields": [f.to_json() for f in self.fields]}

    def field_specs(self) -> str:
        return ",".join(f.spec() for f in self.fields)

    def gcloud_field_configs(self) -> list[str]:
        """--field-config flags of `gcloud firestore indexes composite create`, in order."""
        flags = []
        for field in self.fields:
            config = "array-config=contains" if field.mode == "CONTAINS" else f"order={field.mode.lower()}"
            flags.append(f"--field-config=field-path={field.path},{config}")
        return flags

    def gcloud_query_scope(self) -> str:
        return self.query_scope.lower().replace("_", "-")


def _group_from_name(name: str) -> str:
    # projects/P/databases/D/collectionGroups/G/indexes/ID
    parts = name.split("/")
    return parts[parts.index("collectionGroups") + 1] if "collectionGroups" in parts else ""


def load(path: Path = INDEX_FILE) -> tuple[Index, ...]:
    """The composite indexes of an index file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return tuple(Index.from_json(item) for item in data.get("indexes", []))


def parse_fields(specs: str) -> tuple[IndexField, ...]:
    """`path:MODE,path:MODE` (the guard's --fields) as fields."""
    fields = []
    for spec in specs.split(","):
        path, _, mode = spec.rpartition(":")
        if not path or mode not in MODES:
            raise ValueError(f"bad field {spec!r}: want path:{'|'.join(MODES)}")
        fields.append(IndexField(path, mode))
    return tuple(fields)


def present(index: Index, listed: list[dict]) -> bool:
    """Whether the Admin API's list of indexes (gcloud ... list --format=json) holds this one."""
    for item in listed:
        try:
            if Index.from_json(item) == index:
                return True
        except (ValueError, KeyError):
            continue  # a single-field or vector index: not ours
    return False


def list_indexes(project: str, database: str) -> list[dict]:
    out = subprocess.run(["gcloud", "firestore", "indexes", "composite", "list", f"--project={project}",
                          f"--database={database}", "--format=json", "--quiet"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout or "[]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    exists = sub.add_parser("exists", help="exit 0 when the project has the index")
    exists.add_argument("--project", required=True)
    exists.add_argument("--database", default="(default)")
    exists.add_argument("--collection-group", required=True)
    exists.add_argument("--query-scope", default="COLLECTION", choices=SCOPES)
    exists.add_argument("--fields", required=True, help="path:MODE,... in index order")
    args = parser.parse_args(argv)
    index = Index(args.collection_group, args.query_scope, parse_fields(args.fields))
    return 0 if present(index, list_indexes(args.project, args.database)) else 1


if __name__ == "__main__":
    sys.exit(main())
