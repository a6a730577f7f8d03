"""Constants of the Clarify integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "clarify"

# Config entry data: the credentials. The options hold what the user chose to send.
CONF_AUTH_TYPE: Final = "auth_type"
CONF_INTEGRATION_ID: Final = "integration_id"
CONF_CLIENT_ID: Final = "client_id"
CONF_SECRET: Final = "secret"  # noqa: S105  # the key, not a secret
CONF_API_URL: Final = "api_url"

# Config flow form fields that are not stored as they are.
CONF_CREDENTIALS_FILE: Final = "credentials_file"
