"""Per-file checkpoints in Firestore: byte offset, next line, counts, the pending chunk, a lease.

One document per prediction file, in a `processor_files` subcollection of the scope document (the
run's job record, or an ad hoc scope keyed by a hash of its output directories). Every change is one
transaction that also checks the caller still holds the file's lease, so:

- claim: a file is worked on by one invocation at a time; parallel calls take different files, and a
  crashed holder's files are taken over when its lease lapses;
- write-ahead: a chunk's byte range is recorded (`pending`) before anything is written for it, so
  that after a crash the next holder replays exactly that range (same load job ids);
- commit: the offset and the counts advance together, and `pending` is cleared, in one transaction.
  Counts are therefore exact across calls and crashes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from pass1_processor.counts import Counts
from shared.errors import Conflict
from shared.lease import held_by_another, holds, lease_for
from shared.retry import call_with_retry, transact

FILES_COLLECTION = "processor_files"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Pending:
    """A chunk whose rows may have been (partly) written but whose commit did not happen."""

    start: int
    end: int
    first_line: int
    last_line: int

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "first_line": self.first_line, "last_line": self.last_line}


@dataclass(frozen=True)
class Checkpoint:
    """Where a file stands."""

    uri: str
    offset: int = 0
    next_line: int = 1
    done: bool = False
    counts: Counts = None  # type: ignore[assignment]
    pending: Pending | None = None
    generation: int | None = None

    @classmethod
    def from_doc(cls, uri: str, data: dict | None) -> "Checkpoint":
        data = data or {}
        pending = data.get("pending")
        return cls(uri, int(data.get("offset") or 0), int(data.get("next_line") or 1), bool(data.get("done")),
                   Counts.from_dict(data.get("counts")), Pending(**pending) if pending else None,
                   data.get("generation"))


class FileBusy(Exception):
    """Another invocation holds this file's lease."""


class LeaseLost(Conflict):
    """Our lease lapsed and another invocation took the file over: stop working on it."""


def file_doc_id(uri: str) -> str:
    """Document id of a file's checkpoint (object names may hold '/', ids may not)."""
    return hashlib.sha256(uri.encode("utf-8")).hexdigest()[:40]


class CheckpointStore:
    """Checkpoints of one scope. `scope_ref` is the Firestore document they live under; `owner`
    identifies this invocation; `clock` returns an aware UTC datetime (injected in tests)."""

    def __init__(self, client, scope_ref, owner: str, lease_seconds: float,
                 clock: Callable[[], datetime] = utcnow):
        self._client = client
        self._files = scope_ref.collection(FILES_COLLECTION)
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._clock = clock

    def _ref(self, uri: str):
        return self._files.document(file_doc_id(uri))

    def _transact(self, ref, fn: Callable[[Any], Any]):
        return transact(self._client, fn, document=ref.path)

    def read_all(self, uris: Iterable[str]) -> dict[str, Checkpoint]:
        """Checkpoints of the files (a file never touched has the initial checkpoint)."""
        uris = list(uris)
        refs = [self._ref(uri) for uri in uris]
        by_id = {snap.id: snap.to_dict() for snap in call_with_retry(lambda: list(self._client.get_all(refs)))
                 if snap.exists}
        return {uri: Checkpoint.from_doc(uri, by_id.get(file_doc_id(uri))) for uri in uris}

    def claim(self, uri: str, facts: dict) -> Checkpoint | None:
        """Take the file's lease. None when the file is done; FileBusy when another invocation
        holds a live lease. `facts` (output dir, job, size) are stored on first claim."""
        ref = self._ref(uri)

        def txn(transaction):
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() if snap.exists else None
            if data and data.get("done"):
                return None
            now = self._clock()
            if held_by_another((data or {}).get("lease"), self._owner, now):
                raise FileBusy(uri)
            changes = {"lease": self._lease_value(now), "updated_at": now}
            if data is None:
                transaction.set(ref, {"uri": uri, **facts, "offset": 0, "next_line": 1, "done": False,
                                      "counts": Counts().to_dict(), "pending": None, "created_at": now, **changes})
            else:
                transaction.update(ref, changes)
            return Checkpoint.from_doc(uri, {**(data or {}), **changes})

        return self._transact(ref, txn)

    def write_intent(self, uri: str, pending: Pending) -> None:
        """Record the chunk about to be written (write-ahead)."""
        self._change(uri, lambda data, now: {"pending": pending.to_dict()})

    def commit(self, uri: str, end: int, next_line: int, delta: Counts, done: bool) -> Checkpoint:
        """Advance past a written chunk: offset, counts and pending change together."""
        def changes(data: dict, now: datetime) -> dict:
            counts = Counts.from_dict(data.get("counts")).add(delta)
            return {"offset": end, "next_line": next_line, "counts": counts.to_dict(), "pending": None,
                    "done": done, **({"done_at": now} if done else {})}

        return self._change(uri, changes)

    def release(self, uri: str) -> None:
        """Give the lease back if still ours (a takeover after expiry is not undone)."""
        ref = self._ref(uri)

        def txn(transaction):
            snap = ref.get(transaction=transaction)
            if snap.exists and holds(snap.to_dict().get("lease"), self._owner):
                transaction.update(ref, {"lease": None, "updated_at": self._clock()})

        self._transact(ref, txn)

    def _change(self, uri: str, compute: Callable[[dict, datetime], dict]) -> Checkpoint:
        ref = self._ref(uri)

        def txn(transaction):
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() if snap.exists else {}
            if not holds(data.get("lease"), self._owner):
                raise LeaseLost("another invocation took over this file (our lease lapsed)",
                               details={"file": uri})
            now = self._clock()
            changes = {**compute(data, now), "lease": self._lease_value(now), "updated_at": now}
            transaction.update(ref, changes)
            return Checkpoint.from_doc(uri, {**data, **changes})

        return self._transact(ref, txn)

    def _lease_value(self, now: datetime) -> dict:
        return lease_for(self._owner, now, self._lease_seconds)
