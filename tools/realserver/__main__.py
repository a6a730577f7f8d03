"""Command line of the harness: ``python -m tools.realserver confirm-http DIR HOST PORT``.

`confirm-http` prepares a configuration directory for Home Assistant's first
start: it stores HOST:PORT as confirmed HTTP settings (see http_store.py) and,
unless the directory has an onboarding store already, marks onboarding's
core_config step done, so that onboarding sets up no integration that reaches
the internet (see onboarding_store.py). It runs in the server environment.
"""

from pathlib import Path
import sys

from . import http_store, onboarding_store


def main(argv: list[str]) -> None:
    """Run one command."""
    if len(argv) != 4 or argv[0] != "confirm-http":
        sys.exit(__doc__)
    _, config_dir, host, port = argv
    http_store.write_store(Path(config_dir), host, int(port))
    onboarding_store.write_store(Path(config_dir))


if __name__ == "__main__":
    main(sys.argv[1:])
