"""Whether Clarify is reachable and accepts what is sent."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .entity import ClarifyStatusEntity
from .entry import ClarifyConfigEntry

PARALLEL_UPDATES = 0

CONNECTION = BinarySensorEntityDescription(
    key="connection",
    translation_key="connection",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ClarifyConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the connection sensor of one Clarify entry."""
    async_add_entities([ClarifyConnectionSensor(entry, CONNECTION)])


class ClarifyConnectionSensor(ClarifyStatusEntity, BinarySensorEntity):
    """On while the last request reached Clarify and its credentials worked."""

    @property
    def is_on(self) -> bool | None:
        """Unknown until the first request; then the outcome of the latest."""
        status = self.exporter.status
        if status.auth_failed:
            return False
        return status.connected

    @property
    def extra_state_attributes(self) -> dict[str, str | None]:
        """Why the last request failed, when it did (never a secret)."""
        return {"last_error": self.exporter.status.last_error}
