"""Benchmarks of the pass1 processor against the parse floor and the naive path (`make bench`).

    python -m bench [--sizes 10,100] [--out bench/results/latest.json] [--no-e2e]

See bench/cli.py for the options and docs/performance.md for what each figure covers.
"""
