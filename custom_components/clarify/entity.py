"""The base of the integration's status entities."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import CONSOLE_URL, DOMAIN
from .entry import ClarifyConfigEntry
from .exporter import ClarifyExporter


class ClarifyStatusEntity(Entity):
    """Shows one aspect of an entry's exporter, updated after every send."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self, entry: ClarifyConfigEntry, description: EntityDescription
    ) -> None:
        """Describe the entity and the service device it belongs to."""
        self.entity_description = description
        self.exporter: ClarifyExporter = entry.runtime_data.exporter
        assert entry.unique_id is not None
        self._attr_unique_id = f"{entry.unique_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.unique_id)},
            entry_type=DeviceEntryType.SERVICE,
            manufacturer="Clarify",
            model="Integration",
            name=entry.title,
            configuration_url=CONSOLE_URL,
        )

    async def async_added_to_hass(self) -> None:
        """Follow the exporter's status."""
        self.async_on_remove(
            self.exporter.async_add_status_listener(self.async_write_ha_state)
        )
