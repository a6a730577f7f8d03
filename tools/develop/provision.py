"""Make a fresh Home Assistant ready for the demo, through its own REST API.

Run by `scripts/develop` once Home Assistant answers: it finishes onboarding
with a known user, adds the Clarify integration against the local emulator and
chooses the demo entities, exactly as a person would in the UI. Each part is
skipped when it was done on an earlier run.

Usage: python -m tools.develop.provision HA_URL EMULATOR_API_URL CREDENTIALS_JSON
"""

from __future__ import annotations

import json
from pathlib import Path
import sys
from typing import Any, Final

from tools.realserver.client import HomeAssistantClient, wait_for

USERNAME: Final = "dev"
PASSWORD: Final = "clarify-demo"  # noqa: S105  # a local demo login, printed for the user
DEMO_ENTITIES: Final = (
    "sensor.outdoor_temperature",
    "binary_sensor.heater_running",
    "input_select.demo_mode",
    "input_boolean.demo_heater",
)
# The demo sends often so that data shows up on the emulator's page quickly.
DEMO_FLUSH_INTERVAL: Final = 10


def provision(ha_url: str, api_url: str, credentials: dict[str, str]) -> None:
    """Onboard, add Clarify with the demo entities, and say how to log in."""
    api = HomeAssistantClient(ha_url)
    wait_for(api.is_serving, timeout=180, what=f"Home Assistant on {ha_url}")
    if api.is_onboarded():
        api.log_in(USERNAME, PASSWORD)
        api.finish_onboarding()
    else:
        # scripts/develop marked onboarding's core_config step done before the
        # first start (confirm-http), so onboarding sets up none of the
        # integrations it would (a weather forecast, a radio browser, ...).
        api.onboard(USERNAME, PASSWORD, name="Developer")
    if not api.config_entries("clarify"):
        result = api.config_flow(
            "clarify",
            {"next_step_id": "basic_auth"},
            {
                "integration_id": credentials["integration_id"],
                "secret": credentials["password"],
                "api_url": api_url,
            },
        )
        if result.get("type") != "create_entry":
            raise RuntimeError(f"Adding Clarify failed: {result}")
        entry_id = result["result"]["entry_id"]
        # Options are for a loaded entry (and a loaded one offers the history).
        api.wait_for_entry_state(entry_id)
        result = api.options_flow(
            entry_id, {"next_step_id": "entities"}, {"entities": list(DEMO_ENTITIES)}
        )
        if result.get("step_id") == "history":
            # The recorder runs (history:), so the flow offers to send what it
            # holds of the entities just chosen: the demo starts from now.
            result = api.request(
                "POST",
                f"/api/config/config_entries/options/flow/{result['flow_id']}",
                json_body={"send_history": False},
            )
        _expect_saved(result, "choosing the demo entities")
        result = api.options_flow(
            entry_id,
            {"next_step_id": "settings"},
            {"flush_interval": DEMO_FLUSH_INTERVAL},
        )
        _expect_saved(result, "setting the send interval")
        print("Added the Clarify integration with the demo entities")  # noqa: T201
    print(f"Home Assistant: {ha_url}  (user {USERNAME}, password {PASSWORD})")  # noqa: T201


def _expect_saved(result: dict[str, Any], what: str) -> None:
    """Fail unless an options flow ended by saving the options."""
    if result.get("type") != "create_entry":
        raise RuntimeError(f"{what} failed: {result}")


def main() -> None:
    """Entry point of `python -m tools.develop.provision`."""
    ha_url, api_url, credentials_file = sys.argv[1:4]
    credentials = json.loads(Path(credentials_file).read_text(encoding="utf-8"))
    provision(ha_url, api_url, credentials)


if __name__ == "__main__":
    main()
