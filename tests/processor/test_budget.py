"""The call's time budget (filework.Budget): the first chunk always starts; another starts only when
a chunk's duration still fits, the last committed chunk's, or, while the first chunk is still being
written, the time since it started. `chunks` counts committed chunks only."""

from __future__ import annotations

from pass1_processor.filework import Budget


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_first_chunk_always_starts():
    clock = Clock()
    clock.now = 479.0
    assert Budget(480, clock).may_start_chunk()


def test_while_the_first_chunk_is_written_its_time_so_far_is_the_estimate():
    clock = Clock()
    budget = Budget(480, clock)
    clock.now = 400.0
    budget.chunk_started()
    clock.now = 430.0  # extracted in 30 s, now being written: 430 + 30 fits
    assert budget.may_start_chunk()
    clock.now = 450.0  # 450 + 50 does not
    assert not budget.may_start_chunk()
    assert budget.chunks == 0  # nothing committed yet


def test_after_a_commit_the_last_chunk_duration_is_the_estimate():
    clock = Clock()
    budget = Budget(480, clock)
    budget.chunk_started()
    budget.chunk_done(150.0)
    clock.now = 330.0
    assert budget.may_start_chunk()  # 330 + 150 = 480
    clock.now = 331.0
    assert not budget.may_start_chunk()
    assert (budget.started, budget.chunks) == (1, 1)
