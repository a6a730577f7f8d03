"""Keep Home Assistant's Marketplace from fetching its catalog from the internet.

Home Assistant 2026.11 sets up the Marketplace at every start (it is one of
bootstrap's default integrations, with no setting in configuration.yaml) and
gives it a config entry of its own (source "system") unless it has one: once
Home Assistant has started, it fetches its catalog and its lists of removed
and critical repositories from the internet, and again every six hours. A
test never sends a request beyond 127.0.0.1.

A disabled entry counts as one ("turning the Marketplace off is the user's
call"), and a disabled entry is never set up. So a fresh configuration gets
`.storage/core.config_entries` before its first start, holding the very entry
the Marketplace would make, disabled by the user: built with Home Assistant's
own ConfigEntry and storage constants, so that it is what this release
expects. Run it in the server environment (scripts/run-in server);
`python -m tools.realserver confirm-http` does so with the other stores.

The module is imported by name, as in http_store.py: the oldest supported
release, which the type checker runs against, has no Marketplace.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from .store_file import write_if_absent

# The store's file name, relative to the configuration directory.
STORE_PATH = Path(".storage") / "core.config_entries"
MARKETPLACE: Final = "marketplace"


def disabled_marketplace_store() -> dict[str, Any]:
    """The document of `.storage/core.config_entries`: a disabled Marketplace."""
    config_entries: Any = importlib.import_module("homeassistant.config_entries")
    flow: Any = importlib.import_module(
        f"homeassistant.components.{MARKETPLACE}.config_flow"
    ).MarketplaceConfigFlow
    # What its flow creates from the system source, but disabled.
    entry = config_entries.ConfigEntry(
        data={},
        disabled_by=config_entries.ConfigEntryDisabler.USER,
        discovery_keys=MappingProxyType({}),
        domain=MARKETPLACE,
        minor_version=flow.MINOR_VERSION,
        options={},
        source=config_entries.SOURCE_SYSTEM,
        subentries_data=None,
        title="",
        unique_id=None,
        version=flow.VERSION,
    )
    return {
        "version": config_entries.STORAGE_VERSION,
        "minor_version": config_entries.STORAGE_VERSION_MINOR,
        "key": config_entries.STORAGE_KEY,
        "data": {"entries": [entry.as_dict()]},
    }


def write_store(config_dir: Path) -> Path | None:
    """Write the store into a configuration directory that has none yet.

    Returns its path, or None if there is one already: the entries of a
    configuration Home Assistant has started on are left as they are.
    """
    # Not private: Home Assistant writes this store readable by all.
    return write_if_absent(
        config_dir / STORE_PATH, disabled_marketplace_store(), mode=0o644
    )
