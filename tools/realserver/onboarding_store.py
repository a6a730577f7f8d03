"""Keep Home Assistant's onboarding from setting up integrations that reach the internet.

Home Assistant 2026.11's onboarding has four steps: user, core_config,
analytics and integration. Finishing core_config (the wizard's location page,
POST /api/onboarding/core_config) starts config flows for google_translate,
met, radio_browser and shopping_list: met then asks api.met.no for a forecast
and radio_browser looks up its servers on the internet. A test never sends a
request beyond 127.0.0.1, and the demo has no use for either.

So a fresh configuration gets `.storage/onboarding` before its first start,
with core_config already done, as Home Assistant itself would store it: built
from the onboarding integration's own storage constants, so that it is what
this release expects. The other steps stay to do: the owner is still created
through the API (user), and analytics and integration only mark themselves
done. Once all four are done, the browser lands on the login page, not in the
wizard. Run it in the server environment before the first start (scripts/run-in
server); `python -m tools.realserver confirm-http` does so with the HTTP store.

The module is imported by name, as in http_store.py: the oldest supported
release, which the type checker runs against, has another onboarding.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from .store_file import write_if_absent

# The store's file name, relative to the configuration directory.
STORE_PATH = Path(".storage") / "onboarding"


def onboarding_store() -> dict[str, Any]:
    """The document of `.storage/onboarding` with only core_config done."""
    onboarding: Any = importlib.import_module("homeassistant.components.onboarding")
    return {
        "version": onboarding.STORAGE_VERSION,
        # The onboarding store has no minor version: Store's default.
        "minor_version": 1,
        "key": onboarding.STORAGE_KEY,
        "data": {"done": [onboarding.STEP_CORE_CONFIG]},
    }


def write_store(config_dir: Path) -> Path | None:
    """Write the store into a configuration directory that has none yet.

    Returns its path, or None if there is one already: a configuration that
    Home Assistant has started on keeps the steps it has done.
    """
    # Private, like every store Home Assistant writes with private=True.
    return write_if_absent(config_dir / STORE_PATH, onboarding_store(), mode=0o600)
