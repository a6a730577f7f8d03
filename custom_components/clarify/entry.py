"""The Clarify config entry: its typed runtime data and its stored credentials."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry

from .api import ClarifyClient, ClarifyCredentials
from .const import (
    CONF_API_URL,
    CONF_ATTRIBUTE,
    CONF_ATTRIBUTES,
    CONF_AUTH_TYPE,
    CONF_BUFFER_CAPACITY,
    CONF_CLIENT_ID,
    CONF_DOMAINS,
    CONF_ENTITIES,
    CONF_ENTITY,
    CONF_EXCLUDE,
    CONF_FLUSH_INTERVAL,
    CONF_HEARTBEAT,
    CONF_INPUT_KEY,
    CONF_INTEGRATION_ID,
    CONF_MIN_INTERVAL,
    CONF_NUMERIC_ONLY,
    CONF_REPORT_UNCHANGED,
    CONF_SECRET,
    CONF_TARGETS,
    DEFAULT_BUFFER_CAPACITY,
    DEFAULT_FLUSH_INTERVAL,
)

if TYPE_CHECKING:
    from .exporter import ClarifyExporter


@dataclass(slots=True)
class ClarifyData:
    """What a loaded entry holds while it runs."""

    client: ClarifyClient
    exporter: ClarifyExporter


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


@dataclass(frozen=True, slots=True)
class EntityMapping:
    """One chosen entity and the Clarify input keys its readings go to.

    `entity` is the entity's registry id, so that renaming the entity keeps
    feeding the same signals; an entity without a registry entry is named by
    its entity ID instead. `input_key` receives the state, or with `attribute`
    that attribute instead; `attributes` are further signals, each an
    attribute and its own input key.
    """

    entity: str
    input_key: str
    attribute: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    # At most one reading per this many seconds (0: every one), the last wins.
    min_interval: int = 0

    @classmethod
    def from_option(cls, option: Mapping[str, Any]) -> EntityMapping:
        """Read a mapping as the options flow stores it."""
        extra = option.get(CONF_ATTRIBUTES) or {}
        return cls(
            entity=option[CONF_ENTITY],
            input_key=option[CONF_INPUT_KEY],
            attribute=option.get(CONF_ATTRIBUTE) or None,
            attributes=tuple(sorted(extra.items())),
            min_interval=int(option.get(CONF_MIN_INTERVAL) or 0),
        )

    def as_option(self) -> dict[str, Any]:
        """The mapping as the options store it."""
        option: dict[str, Any] = {
            CONF_ENTITY: self.entity,
            CONF_INPUT_KEY: self.input_key,
        }
        if self.attribute:
            option[CONF_ATTRIBUTE] = self.attribute
        if self.attributes:
            option[CONF_ATTRIBUTES] = dict(self.attributes)
        if self.min_interval:
            option[CONF_MIN_INTERVAL] = self.min_interval
        return option

    def signals(self) -> list[tuple[str | None, str]]:
        """Each signal as (attribute or None for the state, input key)."""
        return [(self.attribute, self.input_key), *self.attributes]

    def input_keys(self) -> list[str]:
        """The input keys this entity feeds."""
        return [key for _, key in self.signals()]


@dataclass(frozen=True, slots=True)
class ClarifyOptions:
    """What the user chose to send, and how often."""

    mappings: tuple[EntityMapping, ...]
    flush_interval: timedelta
    buffer_capacity: int = DEFAULT_BUFFER_CAPACITY
    # Target kind (area_id, floor_id, label_id, device_id) -> ids.
    targets: Mapping[str, list[str]] = field(default_factory=dict)
    domains: tuple[str, ...] = ()
    # Registry ids (or entity IDs) a target must not bring in.
    exclude: tuple[str, ...] = ()
    numeric_only: bool = True
    # Send unchanged states reported by entities with a state class.
    report_unchanged: bool = True
    # Re-send unchanged values after this many minutes (0: off).
    heartbeat: int = 0

    @classmethod
    def from_entry(cls, entry: ConfigEntry[Any]) -> ClarifyOptions:
        """Read an entry's options, with defaults for what was never set."""
        options = entry.options
        return cls(
            mappings=tuple(
                EntityMapping.from_option(option)
                for option in options.get(CONF_ENTITIES, ())
            ),
            flush_interval=timedelta(
                seconds=options.get(CONF_FLUSH_INTERVAL, DEFAULT_FLUSH_INTERVAL)
            ),
            buffer_capacity=options.get(CONF_BUFFER_CAPACITY, DEFAULT_BUFFER_CAPACITY),
            targets={
                kind: list(ids)
                for kind, ids in (options.get(CONF_TARGETS) or {}).items()
                if ids
            },
            domains=tuple(options.get(CONF_DOMAINS, ())),
            exclude=tuple(options.get(CONF_EXCLUDE, ())),
            numeric_only=options.get(CONF_NUMERIC_ONLY, True),
            report_unchanged=options.get(CONF_REPORT_UNCHANGED, True),
            heartbeat=int(options.get(CONF_HEARTBEAT, 0)),
        )
