"""Leases (shared/lease.py): who holds a run or a file, until when. Pure: no stack."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.lease import held_by_another, holds, lease_for

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_a_lease_names_its_owner_and_ends_after_its_seconds():
    assert lease_for("a", NOW, 90) == {"owner": "a", "acquired_at": NOW, "expires_at": NOW + timedelta(seconds=90)}


@pytest.mark.parametrize("lease, held", [
    (None, False),                                  # nobody ever held it
    ({}, False),
    ({"owner": None, "expires_at": None}, False),   # given back
    (lease_for("a", NOW, 60), False),               # ours
    (lease_for("b", NOW, 60), True),                # another's, live
    (lease_for("b", NOW - timedelta(seconds=61), 60), False),  # another's, lapsed: taken over
    (lease_for("b", NOW - timedelta(seconds=60), 60), False),  # expiring this instant counts as lapsed
    ({"owner": "b"}, False),                        # no expiry recorded: not a live lease
])
def test_only_a_live_lease_of_another_owner_keeps_us_out(lease, held):
    assert held_by_another(lease, "a", NOW) is held


@pytest.mark.parametrize("lease, ours", [
    (None, False), ({}, False), (lease_for("a", NOW, 1), True), (lease_for("b", NOW, 1), False),
    (lease_for("a", NOW - timedelta(hours=1), 1), True),  # lapsed but nobody took it: still ours to use
])
def test_holds_is_about_the_owner_only(lease, ours):
    assert holds(lease, "a") is ours
