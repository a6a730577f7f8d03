"""Stream the states of chosen Home Assistant entities into Clarify."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .api import ClarifyClient
from .entry import ClarifyConfigEntry, ClarifyData, credentials_from_entry


async def async_setup_entry(hass: HomeAssistant, entry: ClarifyConfigEntry) -> bool:
    """Set up Clarify from a config entry."""
    client = ClarifyClient(async_get_clientsession(hass), credentials_from_entry(entry))
    entry.runtime_data = ClarifyData(client=client)
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ClarifyConfigEntry) -> bool:
    """Unload a config entry."""
    return True


async def _async_update_listener(
    hass: HomeAssistant, entry: ClarifyConfigEntry
) -> None:
    """Reload the entry when reauth or reconfigure changed its credentials."""
    if credentials_from_entry(entry) != entry.runtime_data.client.credentials:
        hass.config_entries.async_schedule_reload(entry.entry_id)
