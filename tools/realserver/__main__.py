"""Command line of the harness: ``python -m tools.realserver confirm-http DIR HOST PORT``.

`confirm-http` stores HOST:PORT as Home Assistant's confirmed HTTP settings in a
configuration directory (see http_store.py); it runs in the server environment.
"""

from pathlib import Path
import sys

from .http_store import write_store


def main(argv: list[str]) -> None:
    """Run one command."""
    if len(argv) != 4 or argv[0] != "confirm-http":
        sys.exit(__doc__)
    _, config_dir, host, port = argv
    write_store(Path(config_dir), host, int(port))


if __name__ == "__main__":
    main(sys.argv[1:])
