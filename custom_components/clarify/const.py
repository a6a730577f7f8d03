"""Constants of the Clarify integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "clarify"
# Clarify's web app, where integrations and their credentials are made.
CONSOLE_URL: Final = "https://app.clarify.io"

# Config entry data: the credentials. The options hold what the user chose to send.
CONF_AUTH_TYPE: Final = "auth_type"
CONF_INTEGRATION_ID: Final = "integration_id"
CONF_CLIENT_ID: Final = "client_id"
CONF_SECRET: Final = "secret"  # noqa: S105  # the key, not a secret
CONF_API_URL: Final = "api_url"

# Config flow form fields that are not stored as they are.
CONF_CREDENTIALS_FILE: Final = "credentials_file"

# Config entry options.
CONF_ENTITIES: Final = "entities"
# Targets (areas, floors, labels, devices), domains, entities left out of them,
# and whether target matches are limited to entities whose states are numbers.
CONF_TARGETS: Final = "targets"
CONF_DOMAINS: Final = "domains"
CONF_EXCLUDE: Final = "exclude"
CONF_NUMERIC_ONLY: Final = "numeric_only"
# Steady values: send unchanged states that entities report (those with a state
# class), and re-send every entity's last value after this many minutes (0: off).
CONF_REPORT_UNCHANGED: Final = "report_unchanged"
CONF_HEARTBEAT: Final = "heartbeat"
CONF_FLUSH_INTERVAL: Final = "flush_interval"
CONF_BUFFER_CAPACITY: Final = "buffer_capacity"
# One mapping of CONF_ENTITIES: the entity (registry id, or entity ID for an
# entity without a registry entry), its input key and the optional attribute.
CONF_ENTITY: Final = "entity"
CONF_INPUT_KEY: Final = "input_key"
CONF_ATTRIBUTE: Final = "attribute"
# Further signals of one entity: attribute -> input key.
CONF_ATTRIBUTES: Final = "attributes"
# At most one reading per this many seconds of one entity (0: no limit).
CONF_MIN_INTERVAL: Final = "min_interval"

DEFAULT_FLUSH_INTERVAL: Final = 60
# A day of 1,000 entities at one reading a minute; about 20 bytes a reading.
DEFAULT_BUFFER_CAPACITY: Final = 1_440_000
MIN_BUFFER_CAPACITY: Final = 10_000
MAX_BUFFER_CAPACITY: Final = 50_000_000
MIN_FLUSH_INTERVAL: Final = 10
MAX_FLUSH_INTERVAL: Final = 3600
MAX_HEARTBEAT: Final = 1440
MAX_MIN_INTERVAL: Final = 86_400
