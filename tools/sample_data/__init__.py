"""The sample data generator: realistic call transcripts and interaction lookup rows, seeded.

    from tools.sample_data import SampleConfig, generate
    python -m tools.sample_data --help

generator.py draws the rows (scenarios.py, text.py and vocab.py write the transcripts), writers.py
sends them to JSON lines or BigQuery, cli.py is the command line (__main__.py runs it).
"""

from tools.sample_data.generator import Interaction, SampleConfig, generate

__all__ = ["Interaction", "SampleConfig", "generate"]
