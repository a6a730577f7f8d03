"""Diagnostics for a Clarify entry: settings and exporter state, secrets redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_CLIENT_ID, CONF_SECRET
from .entry import ClarifyConfigEntry

TO_REDACT = {CONF_SECRET, CONF_CLIENT_ID}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: ClarifyConfigEntry
) -> dict[str, Any]:
    """What support needs to see: never a secret."""
    exporter = entry.runtime_data.exporter
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "exporter": exporter.diagnostics()
        | {
            # Sizes come from the file system, which is not touched in the loop.
            "journal_bytes": await hass.async_add_executor_job(
                exporter.journal.size_on_disk
            )
        },
    }
