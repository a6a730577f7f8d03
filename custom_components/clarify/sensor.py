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
from homeassistant.const import PERCENTAGE, EntityCategory
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

    value_fn: Callable[[ClarifyExporter], float | int | datetime | None]
    # Also updated when the backfill moves on, not only after a send.
    follows_backfill: bool = False


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
    ClarifySensorEntityDescription(
        key="backfill_progress",
        translation_key="backfill_progress",
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        value_fn=lambda exporter: exporter.backfill.progress,
        follows_backfill=True,
    ),
    ClarifySensorEntityDescription(
        key="backfill_readings",
        translation_key="backfill_readings",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda exporter: exporter.backfill.queued,
        follows_backfill=True,
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

    async def async_added_to_hass(self) -> None:
        """Follow the exporter's status, and the backfill's if it shows that."""
        await super().async_added_to_hass()
        if self.entity_description.follows_backfill:
            self.async_on_remove(
                self.exporter.backfill.async_add_listener(self.async_write_ha_state)
            )

    @property
    def native_value(self) -> float | int | datetime | None:
        """The value, read off the exporter when Home Assistant writes the state."""
        return self.entity_description.value_fn(self.exporter)
