"""`python -m tools.sample_data`: the generator's command line (cli.py)."""

import sys

from tools.sample_data.cli import main

sys.exit(main())
