"""Helpers shared by the tests that run the integration against the emulator."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from homeassistant.core import HomeAssistant

from custom_components.clarify.const import (
    CONF_API_URL,
    CONF_ATTRIBUTE,
    CONF_AUTH_TYPE,
    CONF_CLIENT_ID,
    CONF_ENTITIES,
    CONF_ENTITY,
    CONF_FLUSH_INTERVAL,
    CONF_INPUT_KEY,
    CONF_INTEGRATION_ID,
    CONF_SECRET,
    DOMAIN,
)
from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials


class SimulatedTime:
    """Moves the frozen clock and fires Home Assistant's timers that fell due."""

    def __init__(self, hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
        self.hass = hass
        self.freezer = freezer

    def set_state(
        self, entity_id: str, state: str, attributes: dict[str, Any] | None = None
    ) -> datetime:
        """Set a state now; return its time as Clarify stores it."""
        self.hass.states.async_set(entity_id, state, attributes)
        new_state = self.hass.states.get(entity_id)
        assert new_state is not None
        return new_state.last_updated

    async def advance(self, seconds: float) -> None:
        self.freezer.tick(timedelta(seconds=seconds))
        async_fire_time_changed(self.hass)
        await self.hass.async_block_till_done(wait_background_tasks=True)

    async def run(self, seconds: float, step: float = 1.0) -> None:
        """Advance in steps, as the real clock would."""
        elapsed = 0.0
        while elapsed < seconds:
            await self.advance(step)
            elapsed += step


def stored_points(
    emulator: ClarifyEmulator, integration: IntegrationCredentials
) -> dict[str, dict[datetime, float]]:
    """The points Clarify stored, per signal that has any."""
    return {
        key: points
        for key, points in emulator.points(integration.integration_id).items()
        if points
    }


def mapping(
    entity: str, key: str | None = None, attribute: str | None = None
) -> dict[str, Any]:
    option: dict[str, Any] = {CONF_ENTITY: entity, CONF_INPUT_KEY: key or entity}
    if attribute:
        option[CONF_ATTRIBUTE] = attribute
    return option


def make_entry(
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    mappings: list[dict[str, Any]],
    *,
    entry_id: str | None = None,
    title: str = "Clarify",
    **options: Any,
) -> MockConfigEntry:
    """An entry sending `mappings` to the integration with OAuth credentials."""
    return MockConfigEntry(
        entry_id=entry_id,
        domain=DOMAIN,
        title=title,
        unique_id=integration.integration_id,
        data={
            CONF_AUTH_TYPE: "client_credentials",
            CONF_INTEGRATION_ID: integration.integration_id,
            CONF_CLIENT_ID: integration.client_id,
            CONF_SECRET: integration.client_secret,
            CONF_API_URL: emulator.api_url,
        },
        options={CONF_ENTITIES: mappings, CONF_FLUSH_INTERVAL: 60} | options,
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
