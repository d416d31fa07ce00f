import sys

from tools.runs.cli import main

sys.exit(main(sys.argv[1:]))
