"""Command line: python -m infra.local.vertex_emulator --host H --port P --project ID --state-dir DIR.

Settings come from VERTEX_EMULATOR_CONFIG (JSON) and VERTEX_EMULATOR_SEED; the Storage emulator from
STORAGE_EMULATOR_HOST. Jobs persist in DIR; on start, jobs that were not final run again from their
saved state (a RUNNING job reprocesses its input into the same output folder, which gives the same
files, since output is deterministic).
"""

import argparse
import logging
import os
import signal
import sys
import threading

from . import config as settings
from .server import EmulatorServer
from .service import Emulator


def parse_args(argv):
    """The command line options."""
    parser = argparse.ArgumentParser(prog="python -m infra.local.vertex_emulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18005)
    parser.add_argument("--project", default=os.environ.get("GOOGLE_CLOUD_PROJECT", "local-project"))
    parser.add_argument("--state-dir", default=os.path.join(".local", "vertex"))
    parser.add_argument("--log-level", default=os.environ.get("VERTEX_EMULATOR_LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


def main(argv=None):
    """Serve until SIGINT or SIGTERM."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not os.environ.get("STORAGE_EMULATOR_HOST"):
        logging.warning("STORAGE_EMULATOR_HOST is not set: jobs would read and write real Cloud Storage")
    emulator = Emulator(args.project, args.state_dir, settings.from_environment(os.environ))
    emulator.resume()
    server = EmulatorServer((args.host, args.port), emulator)

    def stop(signum, _frame):
        logging.info("signal %s: stopping", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.info("Vertex AI batch emulator on http://%s:%s (project %s, state %s)",
                 args.host, args.port, args.project, args.state_dir)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
