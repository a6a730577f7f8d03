"""Command line of the harness: ``python -m tools.realserver confirm-http DIR HOST PORT``.

`confirm-http` prepares a configuration directory for Home Assistant's first
start: it stores HOST:PORT as confirmed HTTP settings (see http_store.py);
unless the directory has an onboarding store already, it marks onboarding's
core_config step done, so that onboarding sets up no integration that reaches
the internet (see onboarding_store.py); and unless it has config entries
already, it gives it a disabled Marketplace, which would fetch its catalog
from the internet (see entries_store.py). It runs in the server environment.
"""

from pathlib import Path
import sys

from . import entries_store, http_store, onboarding_store


def main(argv: list[str]) -> None:
    """Run one command."""
    if len(argv) != 4 or argv[0] != "confirm-http":
        sys.exit(__doc__)
    _, config_dir, host, port = argv
    http_store.write_store(Path(config_dir), host, int(port))
    onboarding_store.write_store(Path(config_dir))
    entries_store.write_store(Path(config_dir))


if __name__ == "__main__":
    main(sys.argv[1:])
