"""The Clarify config entry: its typed runtime data and its stored credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import ConfigEntry

from .api import ClarifyClient, ClarifyCredentials
from .const import (
    CONF_API_URL,
    CONF_AUTH_TYPE,
    CONF_CLIENT_ID,
    CONF_INTEGRATION_ID,
    CONF_SECRET,
)


@dataclass(slots=True)
class ClarifyData:
    """What a loaded entry holds while it runs."""

    client: ClarifyClient


type ClarifyConfigEntry = ConfigEntry[ClarifyData]


def credentials_from_entry(entry: ConfigEntry[Any]) -> ClarifyCredentials:
    """The credentials an entry stores (validated when the flow stored them)."""
    data = entry.data
    return ClarifyCredentials(
        kind=data[CONF_AUTH_TYPE],
        integration_id=data[CONF_INTEGRATION_ID],
        client_id=data.get(CONF_CLIENT_ID),
        secret=data[CONF_SECRET],
        api_url=data[CONF_API_URL],
    )


def entry_data_from_credentials(credentials: ClarifyCredentials) -> dict[str, Any]:
    """The entry data that stores the credentials."""
    return {
        CONF_AUTH_TYPE: credentials.kind,
        CONF_INTEGRATION_ID: credentials.integration_id,
        CONF_CLIENT_ID: credentials.client_id,
        CONF_SECRET: credentials.secret,
        CONF_API_URL: credentials.api_url,
    }
