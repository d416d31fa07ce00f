"""Ranged line reads: exact byte offsets, resumption from any offset, bounded long lines."""

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
