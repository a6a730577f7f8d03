"""Actions of the Clarify integration, for automations and scripts."""

from __future__ import annotations

from typing import Final

import voluptuous as vol

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util.json import JsonValueType

from .const import DOMAIN
from .entry import ClarifyConfigEntry
from .sender import FlushError

SERVICE_FLUSH: Final = "flush"
SERVICE_RESEND_REJECTED: Final = "resend_rejected"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_INPUT_KEYS: Final = "input_keys"

FLUSH_SCHEMA: Final = vol.Schema({vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})
RESEND_REJECTED_SCHEMA: Final = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_INPUT_KEYS): vol.All(cv.ensure_list, [cv.string]),
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions; they live as long as Home Assistant runs."""
    hass.services.async_register(DOMAIN, SERVICE_FLUSH, _async_flush, FLUSH_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        SERVICE_RESEND_REJECTED,
        _async_resend_rejected,
        RESEND_REJECTED_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


async def _async_flush(call: ServiceCall) -> None:
    """Send the buffered readings now, and say so when that was not possible."""
    problems: list[tuple[ClarifyConfigEntry, FlushError]] = []
    for entry in _entries(call):
        try:
            await entry.runtime_data.exporter.async_flush()
        except FlushError as err:
            problems.append((entry, err))
    if problems:
        failed, problem = problems[0]
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=problem.kind,
            translation_placeholders={
                "title": failed.title,
                "reason": problem.reason,
                "retry_in": str(problem.retry_in),
            },
        )


async def _async_resend_rejected(call: ServiceCall) -> ServiceResponse:
    """Send readings Clarify refused again, after the cause was fixed."""
    keys: list[str] | None = call.data.get(ATTR_INPUT_KEYS)
    resent: dict[str, JsonValueType] = {
        entry.entry_id: await entry.runtime_data.exporter.async_resend_set_aside(keys)
        for entry in _entries(call)
    }
    return {"resent": resent}


def _entries(call: ServiceCall) -> list[ClarifyConfigEntry]:
    """The loaded entries an action call is for: the one named, or all of them."""
    hass = call.hass
    if (entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID)) is None:
        entries: list[ClarifyConfigEntry] = hass.config_entries.async_loaded_entries(
            DOMAIN
        )
        if not entries:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="no_loaded_entries"
            )
        return entries
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={ATTR_CONFIG_ENTRY_ID: entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    return [entry]
