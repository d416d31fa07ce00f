"""Ranged line reads: exact byte offsets, resumption from any offset, bounded long lines."""

import threading

import pytest

from pass1_processor.reader import iter_lines


def fetcher(data: bytes, calls: list):
    def fetch(start, end):
        calls.append((start, end))
        return data[start:end]

    return fetch


DATA = b'{"a":1}\n\n{"b":2}\r\n{"c":3}'  # a blank line, a CRLF, no final newline


@pytest.mark.parametrize("window", [1, 3, 8, 1024])
def test_lines_offsets_and_numbers_whatever_the_window(window):
    calls = []
    lines = list(iter_lines(fetcher(DATA, calls), len(DATA), 0, 1, window=window))
    assert [(l.number, l.data) for l in lines] == [(1, b'{"a":1}'), (2, b""), (3, b'{"b":2}'), (4, b'{"c":3}')]
    assert [l.end for l in lines] == [8, 9, 18, len(DATA)]
    assert all(end - start <= window for start, end in calls)


def test_resume_from_a_checkpointed_offset_reads_only_the_rest():
    calls = []
    lines = list(iter_lines(fetcher(DATA, calls), len(DATA), 9, 3, window=1024))
    assert [(l.number, l.data) for l in lines] == [(3, b'{"b":2}'), (4, b'{"c":3}')]
    assert calls == [(9, len(DATA))]


def test_an_over_long_line_is_cut_and_skipped_without_growing_the_buffer():
    data = b"short\n" + b"x" * 100 + b"\nafter\n"
    lines = list(iter_lines(fetcher(data, []), len(data), 0, 1, window=7, max_line=20))
    assert [(l.number, l.too_long, len(l.data)) for l in lines] == [(1, False, 5), (2, True, 20), (3, False, 5)]
    assert lines[1].end == 107 and lines[2].end == len(data)


def test_an_over_long_last_line_without_newline():
    data = b"ok\n" + b"y" * 50
    lines = list(iter_lines(fetcher(data, []), len(data), 0, 1, window=4, max_line=10))
    assert [(l.number, l.too_long, l.end) for l in lines] == [(1, False, 3), (2, True, len(data))]


def test_empty_file_has_no_lines():
    assert list(iter_lines(fetcher(b"", []), 0, 0, 1)) == []


def test_read_ahead_asks_for_the_next_window_before_it_is_needed():
    from pass1_processor.reader import read_ahead

    calls, asked = [], threading.Event()
    data = b"0123456789" * 3

    def fetch(start, end):
        calls.append((start, end))
        if len(calls) == 2:
            asked.set()
        return data[start:end]

    ahead = read_ahead(fetch, len(data))
    assert ahead(0, 10) == data[:10]
    assert asked.wait(10)  # (10, 20) was asked for before anyone wanted it
    assert ahead(10, 20) == data[10:20]  # ... and is what comes back, with no second read
    assert ahead(20, 30) == data[20:]
    assert calls == [(0, 10), (10, 20), (20, 30)]  # nothing read past the end


def test_read_ahead_reads_another_range_directly_and_raises_the_read_ahead_error():
    from pass1_processor.reader import read_ahead

    calls = []

    def fetch(start, end):
        calls.append((start, end))
        if start == 10:
            raise OSError("storage said no")
        return b"x" * (end - start)

    ahead = read_ahead(fetch, 100)
    ahead(50, 60)  # reads (60, 70) ahead
    assert ahead(0, 10) == b"x" * 10  # not the range ahead: read directly; (10, 20) is read ahead
    with pytest.raises(OSError, match="storage said no"):
        ahead(10, 20)
    assert {(0, 10), (10, 20), (50, 60)} <= set(calls)  # (60, 70) too, on its own thread


def test_lines_through_read_ahead_are_the_same():
    from pass1_processor.reader import read_ahead

    lines = list(iter_lines(read_ahead(fetcher(DATA, []), len(DATA)), len(DATA), 0, 1, window=3))
    assert [(l.number, l.data, l.end) for l in lines] == [(1, b'{"a":1}', 8), (2, b"", 9), (3, b'{"b":2}', 18),
                                                         (4, b'{"c":3}', len(DATA))]


def test_close_waits_for_the_read_ahead():
    from pass1_processor.reader import read_ahead

    release, finished = threading.Event(), []

    def fetch(start, end):
        if start > 0:
            assert release.wait(10)
            finished.append((start, end))
        return b"x" * (end - start)

    ahead = read_ahead(fetch, 30)
    ahead(0, 10)  # (10, 20) is read ahead and blocks until released
    threading.Timer(0.2, release.set).start()
    ahead.close()
    assert finished == [(10, 20)]  # close returned only once the read ahead had ended
