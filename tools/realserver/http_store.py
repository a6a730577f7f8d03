"""Give a fresh Home Assistant configuration a confirmed HTTP server setting.

Home Assistant 2026.11 keeps its HTTP settings in `.storage/http` as a
`stable` (confirmed) and a `pending` (on trial) slot. Settings that come from an
`http:` block in configuration.yaml are moved into the pending slot, and
unless a person confirms them in the UI within five minutes, Home Assistant
reverts them and restarts: a server started by a script would stop after five
minutes. Without an `http:` block it listens on every interface, which a
development server with a published password must not.

So the configuration gets no `http:` block, and this module writes the store
Home Assistant itself would hold after a person confirmed "127.0.0.1, port N":
built by Home Assistant's own schema and storage constants, so that it is what
this release expects. Run it in the server environment before the first start:

    python -m tools.realserver confirm-http CONFIG_DIR HOST PORT

It must run where Home Assistant 2026.11 is installed (`scripts/run-in server`);
the module is imported by name because the oldest supported release, which the
type checker runs against, has no such store.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

# The store's file name, relative to the configuration directory.
STORE_PATH = Path(".storage") / "http"


def confirmed_http_store(host: str, port: int) -> dict[str, Any]:
    """The document of `.storage/http` with `host`:`port` confirmed and nothing on trial."""
    config: Any = importlib.import_module("homeassistant.components.http.config")
    stable = dict(
        config.HTTP_STORAGE_SCHEMA({"server_host": [host], "server_port": port})
    )
    # The bookkeeping fields the store keeps next to the settings.
    stable[config.HTTP_CONFIG_CREATED_AT] = config.dt_util.utcnow().isoformat()
    stable[config.HTTP_CONFIG_ERROR] = None
    stable[config.HTTP_CONFIG_ERROR_MESSAGE] = None
    return {
        "version": config.STORAGE_VERSION,
        "minor_version": config.STORAGE_MINOR_VERSION,
        "key": config.STORAGE_KEY,
        "data": {
            config.KEY_STABLE: stable,
            config.KEY_PENDING: None,
            # Nothing in YAML to migrate: a later `http:` block is ignored
            # (with a repair) rather than put on trial.
            config.KEY_YAML_MIGRATION_DONE: True,
        },
    }


def write_store(config_dir: Path, host: str, port: int) -> Path:
    """Write the store into a configuration directory; return its path."""
    path = config_dir / STORE_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    document = json.dumps(confirmed_http_store(host, port), indent=2)
    # Private, like every store Home Assistant writes with private=True.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(document)
    return path


def trial_pending(config_dir: Path) -> bool:
    """Whether Home Assistant holds HTTP settings on trial (it would revert them).

    Reads only the JSON file, so it works outside the server environment.
    """
    path = config_dir / STORE_PATH
    if not path.exists():
        return False
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    pending = data.get("pending")
    return pending is not None and pending.get("error") is None
