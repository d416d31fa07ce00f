"""The run's last check before COMPLETED: no composite key may stay in the output table twice.

Every chunk reads the run's keys back before it writes, so a key written once is not written again by
a later chunk. Two calls working different files at the same moment can still both pass that read
for a key present in both files, and both write it. Our own submit never puts a key in two requests
of an attempt, but a hand-made output directory or a Vertex slip can. So, once every file is done:
- the run's keys that landed more than once are read back (one query; it finds nothing in a normal
  run);
- for each, the earliest origin (source_uri, line_number) stays, the order dedupe.existing_keys uses,
  and the other rows are the extras;
- the extras are recorded on the run document first (a union, in a transaction) and then deleted
  with one DML statement. A crash in between is repaired by the next call: the record still counts
  them, the delete is repeated harmlessly;
- the run's totals move the recorded extras from inserted to duplicates (and out of repaired and
  unmatched), so that processed = inserted + failed + duplicates still holds.
Streaming inserts cannot be deleted while BigQuery holds them in its streaming buffer (about 30
minutes): with that write method the extras are recorded and logged, and left in place.
"""

from __future__ import annotations

from dataclasses import dataclass

from pass1_processor.bq import array_param, query_rows, scalar_param
from pass1_processor.counts import Counts
from shared.errors import InternalError
from shared.identifiers import TableRef

RECORD_FIELD = "reconciled_extras"
# Extras kept on the run document (about 250 bytes each against Firestore's 1 MiB per document).
# More than this is not a race between two calls but a broken output directory: the run fails
# with the keys to look at instead of deleting rows wholesale.
MAX_EXTRAS = 2000


@dataclass(frozen=True)
class Extra:
    """A row of a key that landed again, from a later origin than the row that stays."""

    composite_key: str
    source_uri: str
    line_number: int
    repaired: bool
    unmatched: bool

    @property
    def ident(self) -> str:
        return f"{self.composite_key}|{self.source_uri}|{self.line_number}"

    def to_dict(self) -> dict:
        return {"id": self.ident, "repaired": self.repaired, "unmatched": self.unmatched}


def find_extras(table: TableRef, run_id: str, columns: frozenset[str], client=None) -> list[Extra]:
    """Rows of the run whose key has an earlier row: all but the first origin of each key."""
    flags = ", ".join(f"`{c}`" if c in columns else f"NULL AS `{c}`" for c in ("repaired", "lookup_status"))
    sql = (f"SELECT composite_key, source_uri, line_number, {flags} FROM {table.sql} "
           f"WHERE run_id = @run AND composite_key IN (SELECT composite_key FROM {table.sql} "
           "WHERE run_id = @run GROUP BY composite_key HAVING COUNT(*) > 1)")
    by_key: dict[str, list] = {}
    for row in query_rows(sql, [scalar_param("run", "STRING", run_id)], client):
        by_key.setdefault(row["composite_key"], []).append(row)
    extras = []
    for key, rows in sorted(by_key.items()):
        rows.sort(key=lambda r: (r["source_uri"] or "", r["line_number"] or 0))
        kept = (rows[0]["source_uri"], rows[0]["line_number"])
        for row in rows[1:]:
            if (row["source_uri"], row["line_number"]) == kept:
                continue  # the very same row twice: a delete by origin would take both copies
            extras.append(Extra(key, row["source_uri"] or "", int(row["line_number"] or 0),
                                bool(row["repaired"]), row["lookup_status"] == "unmatched"))
    return extras


def delete_extras(table: TableRef, run_id: str, extras: list[dict], client=None) -> None:
    """Delete the recorded extras (idempotent: rows already gone are simply not matched)."""
    sql = (f"DELETE FROM {table.sql} WHERE run_id = @run AND CONCAT(composite_key, '|', "
           "IFNULL(source_uri, ''), '|', CAST(line_number AS STRING)) IN UNNEST(@ids)")
    query_rows(sql, [scalar_param("run", "STRING", run_id), array_param("ids", [e["id"] for e in extras])], client)


def merged(recorded: list[dict] | None, found: list[Extra]) -> list[dict]:
    """The union of the extras already on the run and those found now, by identity."""
    by_id = {e["id"]: e for e in recorded or []}
    for extra in found:
        by_id.setdefault(extra.ident, extra.to_dict())
    if len(by_id) > MAX_EXTRAS:
        # No key in the details: they travel into answers and logs (a key holds a phone token).
        origins = sorted(i.split("|", 1)[1] for i in by_id)[:5]
        raise InternalError(f"{len(by_id)} output rows repeat a composite key of the run; too many to "
                            "reconcile automatically", details={"examples": origins})
    return [by_id[k] for k in sorted(by_id)]


def adjusted(totals: Counts, extras: list[dict]) -> Counts:
    """The run's totals with the extras counted as duplicates instead of inserted rows."""
    out = Counts.from_dict(totals.to_dict())
    out.inserted -= len(extras)
    out.duplicates += len(extras)
    out.repaired -= sum(1 for e in extras if e["repaired"])
    out.unmatched -= sum(1 for e in extras if e["unmatched"])
    return out
