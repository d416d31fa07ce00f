"""Leases: who works on a document (a run, a prediction file) until when.

A lease is a map stored on the document: {"owner", "acquired_at", "expires_at"} (aware UTC
datetimes). Taking one and checking one always happen inside the Firestore transaction that reads
the document, so two holders never both see a lease as theirs. A lease that has expired belongs to
nobody: its holder crashed or ran out of time, and the next caller takes the work over.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def lease_for(owner: str, now: datetime, seconds: float) -> dict:
    """A fresh lease held by `owner` for `seconds` from `now`."""
    return {"owner": owner, "acquired_at": now, "expires_at": now + timedelta(seconds=seconds)}


def held_by_another(lease: dict | None, owner: str, now: datetime) -> bool:
    """True while a live lease belongs to somebody else (an expired or absent one does not count)."""
    lease = lease or {}
    return (lease.get("owner") not in (None, owner) and bool(lease.get("expires_at"))
            and lease["expires_at"] > now)


def holds(lease: dict | None, owner: str) -> bool:
    """True when `owner` holds the lease (live or lapsed but not yet taken over: nobody else wrote)."""
    return (lease or {}).get("owner") == owner
