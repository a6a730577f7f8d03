"""Make a fresh Home Assistant ready for the demo, through its own REST API.

Run by `scripts/develop` once Home Assistant answers: it finishes onboarding
with a known user, adds the Clarify integration against the local emulator and
chooses the demo entities, exactly as a person would in the UI. Each part is
skipped when it was done on an earlier run.

Usage: python -m tools.develop.provision HA_URL EMULATOR_API_URL CREDENTIALS_JSON
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import sys
from typing import Any, Final

import aiohttp

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


class HomeAssistantApi:
    """Just enough of Home Assistant's REST API to onboard and configure."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        """Talk to the Home Assistant at `url`."""
        self.session = session
        self.url = url.rstrip("/")
        self.client_id = f"{self.url}/"
        self.token = ""

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the API and return its JSON answer."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.request(
            method, f"{self.url}{path}", headers=headers, **kwargs
        ) as response:
            if response.status >= 400:
                text = await response.text()
                raise RuntimeError(f"{method} {path}: {response.status} {text}")
            return await response.json()

    async def wait_until_up(self) -> None:
        """Wait (two minutes at most) for the HTTP server to answer."""
        async with asyncio.timeout(120):
            while True:
                try:
                    async with self.session.get(
                        f"{self.url}/manifest.json"
                    ) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)

    async def log_in(self) -> None:
        """Onboard with the demo user, or log in as it on later runs."""
        steps = await self.request("GET", "/api/onboarding")
        if not next(step["done"] for step in steps if step["step"] == "user"):
            answer = await self.request(
                "POST",
                "/api/onboarding/users",
                json={
                    "client_id": self.client_id,
                    "name": "Developer",
                    "username": USERNAME,
                    "password": PASSWORD,
                    "language": "en",
                },
            )
            code = answer["auth_code"]
        else:
            flow = await self.request(
                "POST",
                "/auth/login_flow",
                json={
                    "client_id": self.client_id,
                    "handler": ["homeassistant", None],
                    "redirect_uri": self.client_id,
                },
            )
            answer = await self.request(
                "POST",
                f"/auth/login_flow/{flow['flow_id']}",
                json={
                    "client_id": self.client_id,
                    "username": USERNAME,
                    "password": PASSWORD,
                },
            )
            code = answer["result"]
        tokens = await self.request(
            "POST",
            "/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": self.client_id,
            },
        )
        self.token = tokens["access_token"]
        await self.finish_onboarding()

    async def finish_onboarding(self) -> None:
        """Finish the remaining onboarding steps, as the wizard would."""
        steps = {
            step["step"]: step["done"]
            for step in await self.request("GET", "/api/onboarding")
        }
        if not steps.get("core_config", True):
            await self.request("POST", "/api/onboarding/core_config")
        if not steps.get("analytics", True):
            await self.request("POST", "/api/onboarding/analytics")
        if not steps.get("integration", True):
            await self.request(
                "POST",
                "/api/onboarding/integration",
                json={"client_id": self.client_id, "redirect_uri": self.client_id},
            )

    async def flow(self, path: str, start: dict[str, Any], *steps: Any) -> Any:
        """Run a config or options flow through its steps."""
        result = await self.request("POST", path, json=start)
        for step in steps:
            result = await self.request(
                "POST", f"{path}/{result['flow_id']}", json=step
            )
        return result


async def provision(ha_url: str, api_url: str, credentials: dict[str, str]) -> None:
    """Onboard, add Clarify with the demo entities, and say how to log in."""
    async with aiohttp.ClientSession() as session:
        api = HomeAssistantApi(session, ha_url)
        await api.wait_until_up()
        await api.log_in()
        entries = await api.request(
            "GET", "/api/config/config_entries/entry", params={"domain": "clarify"}
        )
        if not entries:
            result = await api.flow(
                "/api/config/config_entries/flow",
                {"handler": "clarify", "show_advanced_options": False},
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
            options = "/api/config/config_entries/options/flow"
            await api.flow(
                options,
                {"handler": entry_id},
                {"next_step_id": "entities"},
                {"entities": list(DEMO_ENTITIES)},
            )
            await api.flow(
                options,
                {"handler": entry_id},
                {"next_step_id": "settings"},
                {"flush_interval": DEMO_FLUSH_INTERVAL},
            )
            print("Added the Clarify integration with the demo entities")  # noqa: T201
    print(f"Home Assistant: {ha_url}  (user {USERNAME}, password {PASSWORD})")  # noqa: T201


def main() -> None:
    """Entry point of `python -m tools.develop.provision`."""
    ha_url, api_url, credentials_file = sys.argv[1:4]
    credentials = json.loads(Path(credentials_file).read_text(encoding="utf-8"))
    asyncio.run(provision(ha_url, api_url, credentials))


if __name__ == "__main__":
    main()
