"""Stream the states of chosen Home Assistant entities into Clarify."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType
from homeassistant.loader import async_get_integration

from .api import ClarifyClient
from .const import DOMAIN
from .entry import (
    ClarifyConfigEntry,
    ClarifyData,
    ClarifyOptions,
    credentials_from_entry,
)
from .exporter import ClarifyExporter
from .issues import async_remove_entry_issues
from .journal import Journal, JournalUnavailableError, async_remove_journal
from .services import async_setup_services

PLATFORMS = [Platform.BINARY_SENSOR, Platform.SENSOR]
# Clarify gives up on a request queued over 10 s or running over 15 s in all.
REQUEST_TIMEOUT = 30.0

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ClarifyConfigEntry) -> bool:
    """Start streaming the entry's entities into Clarify."""
    integration = await async_get_integration(hass, DOMAIN)
    client = ClarifyClient(
        async_get_clientsession(hass),
        credentials_from_entry(entry),
        user_agent=f"clarify-home-assistant/{integration.version}",
        timeout=REQUEST_TIMEOUT,
    )
    # Parsed once: with thousands of entities that is a good part of setup.
    options = ClarifyOptions.from_entry(entry)
    try:
        journal, restored = await Journal.async_open(
            hass, entry.entry_id, options.buffer_capacity
        )
    except JournalUnavailableError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="journal_unavailable",
            translation_placeholders={"path": err.path, "error": err.error},
        ) from err
    exporter = ClarifyExporter(hass, entry, client, journal, restored, options=options)
    entry.runtime_data = ClarifyData(client=client, exporter=exporter)
    try:
        await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    except BaseException:
        await journal.async_close()
        raise
    await exporter.async_start()
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ClarifyConfigEntry) -> bool:
    """Stop streaming, after one last attempt to send what is buffered."""
    await entry.runtime_data.exporter.async_stop()
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: ClarifyConfigEntry) -> None:
    """Forget the entry's unsent readings and its repairs along with the entry."""
    await async_remove_journal(hass, entry.entry_id)
    async_remove_entry_issues(hass, entry.entry_id)


async def _async_update_listener(
    hass: HomeAssistant, entry: ClarifyConfigEntry
) -> None:
    """Apply changed options live; reload only when the credentials changed."""
    if credentials_from_entry(entry) != entry.runtime_data.client.credentials:
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return
    await entry.runtime_data.exporter.async_apply_options(
        ClarifyOptions.from_entry(entry)
    )
