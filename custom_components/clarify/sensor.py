"""Sensors that show how the streaming into Clarify is going."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .entity import ClarifyStatusEntity
from .entry import ClarifyConfigEntry
from .exporter import ClarifyExporter

# Every update comes from the exporter; nothing here polls.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class ClarifySensorEntityDescription(SensorEntityDescription):
    """A status sensor and how to read its value off the exporter."""

    value_fn: Callable[[ClarifyExporter], int | datetime | None]


SENSORS: tuple[ClarifySensorEntityDescription, ...] = (
    ClarifySensorEntityDescription(
        key="buffered_readings",
        translation_key="buffered_readings",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda exporter: len(exporter.buffer),
    ),
    ClarifySensorEntityDescription(
        key="sent_readings",
        translation_key="sent_readings",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        # It changes with every send: worth recording only when asked for.
        entity_registry_enabled_default=False,
        value_fn=lambda exporter: exporter.status.sent_readings,
    ),
    ClarifySensorEntityDescription(
        key="dropped_readings",
        translation_key="dropped_readings",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda exporter: exporter.buffer.dropped,
    ),
    ClarifySensorEntityDescription(
        key="set_aside_readings",
        translation_key="set_aside_readings",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda exporter: exporter.status.set_aside_readings,
    ),
    ClarifySensorEntityDescription(
        key="last_sent",
        translation_key="last_sent",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda exporter: exporter.status.last_success,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ClarifyConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the status sensors of one Clarify entry."""
    async_add_entities(ClarifySensor(entry, description) for description in SENSORS)


class ClarifySensor(ClarifyStatusEntity, SensorEntity):
    """One status sensor."""

    entity_description: ClarifySensorEntityDescription

    @property
    def native_value(self) -> int | datetime | None:
        """The value, read off the exporter when Home Assistant writes the state."""
        return self.entity_description.value_fn(self.exporter)
