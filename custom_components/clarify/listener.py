"""From state changes to buffered readings: the only code on Home Assistant's hot path.

The listener follows the mapped entities. For each state change it converts the
state (how was decided once per entity), appends the reading to the buffer and
counts. No I/O, no logging, no allocation beyond the reading itself. It also
offers each signal's metadata to the metadata queue when an entity appears or
changes in the registries; sending is someone else's job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.event import async_track_state_change_event

from .buffer import SampleBuffer
from .entry import ClarifyOptions, EntityMapping
from .metadata import SignalMetadataQueue
from .signals import Conversion, conversion_for, reading_time_us, signal_metadata
from .status import ExporterStatus

# A send starts before the interval is up once this many readings arrived, so a
# busy installation sends in steady slices rather than one huge burst.
EAGER_SEND_READINGS: Final = 50_000


@dataclass(slots=True)
class _Target:
    """One tracked entity: its conversion and the buffer series it feeds."""

    convert: Callable[[State], float | None]
    append: Callable[[int, float], None]


class EntityListener:
    """Feeds the buffer with the readings of the mapped entities."""

    def __init__(
        self,
        hass: HomeAssistant,
        buffer: SampleBuffer,
        metadata: SignalMetadataQueue,
        status: ExporterStatus,
        on_backlog: CALLBACK_TYPE,
    ) -> None:
        """Bind to the buffer it feeds; nothing is tracked until `async_track`."""
        self.hass = hass
        self.buffer = buffer
        self.metadata = metadata
        self.status = status
        self._on_backlog = on_backlog
        self._options: ClarifyOptions | None = None
        self._targets: dict[str, _Target] = {}
        self._unsub_state: CALLBACK_TYPE | None = None
        self._unsub_registry: CALLBACK_TYPE | None = None
        self._appended = 0

    @property
    def tracked(self) -> list[str]:
        """The entity IDs tracked now, sorted."""
        return sorted(self._targets)

    @callback
    def async_track(self, options: ClarifyOptions) -> None:
        """Decide each entity's conversion once and listen to all of them."""
        self._options = options
        registry = er.async_get(self.hass)
        targets: dict[str, _Target] = {}
        for mapping in options.mappings:
            entity_id = er.async_resolve_entity_id(registry, mapping.entity)
            if entity_id is None:
                # The entity was deleted; its mapping waits in the options.
                continue
            targets[entity_id] = self._target(entity_id, mapping)
        # Subscribe anew before letting go of the old subscription: a state
        # change already fired but not yet dispatched reaches the new one. The
        # other order would drop it with Home Assistant's last listener.
        previous = self._unsub_state
        self._targets = targets
        self._unsub_state = (
            async_track_state_change_event(
                self.hass, list(targets), self._async_state_changed
            )
            if targets
            else None
        )
        if previous is not None:
            previous()
        if self._unsub_registry is None:
            self._unsub_registry = self.hass.bus.async_listen(
                er.EVENT_ENTITY_REGISTRY_UPDATED, self._async_registry_updated
            )

    @callback
    def async_untrack(self) -> None:
        """Stop listening to anything."""
        for unsub in (self._unsub_state, self._unsub_registry):
            if unsub is not None:
                unsub()
        self._unsub_state = self._unsub_registry = None
        self._targets = {}

    def _target(self, entity_id: str, mapping: EntityMapping) -> _Target:
        append = self.buffer.series(mapping.input_key).append
        if (state := self.hass.states.get(entity_id)) is not None:
            conversion = conversion_for(
                entity_id, attribute=mapping.attribute, state=state
            )
            self._offer_metadata(entity_id, mapping, conversion, state)
            return _Target(conversion.convert, append)

        def decide(first: State) -> float | None:
            # The entity has no state yet (Home Assistant is starting): how to
            # read it (an enum sensor, a binary sensor's device class) is
            # decided on its first state, once.
            conversion = conversion_for(
                entity_id, attribute=mapping.attribute, state=first
            )
            target.convert = conversion.convert
            self._offer_metadata(entity_id, mapping, conversion, first)
            return conversion.convert(first)

        target = _Target(decide, append)
        return target

    @callback
    def _async_state_changed(self, event: Event[EventStateChangedData]) -> None:
        """Convert and buffer one reading: the hot path, so no I/O and no logging."""
        if (state := event.data["new_state"]) is None:
            return
        target = self._targets[event.data["entity_id"]]
        if (value := target.convert(state)) is None:
            self.status.skipped_readings += 1
            return
        target.append(reading_time_us(state), value)
        self._appended += 1
        if self._appended >= EAGER_SEND_READINGS:
            self._appended = 0
            self._on_backlog()

    @callback
    def _async_registry_updated(
        self, event: Event[er.EventEntityRegistryUpdatedData]
    ) -> None:
        """Follow renames (mappings are keyed on the registry id) and new names."""
        if event.data["action"] != "update" or self._options is None:
            return
        registry_entry = er.async_get(self.hass).async_get(event.data["entity_id"])
        if registry_entry is None:
            return
        for mapping in self._options.mappings:
            if mapping.entity != registry_entry.id:
                continue
            if "old_entity_id" in event.data:
                self.async_track(self._options)
            elif state := self.hass.states.get(registry_entry.entity_id):
                # A new name, area or device: only the signal's metadata changes.
                conversion = conversion_for(
                    registry_entry.entity_id, attribute=mapping.attribute, state=state
                )
                self._offer_metadata(
                    registry_entry.entity_id, mapping, conversion, state
                )
            return

    def _offer_metadata(
        self,
        entity_id: str,
        mapping: EntityMapping,
        conversion: Conversion,
        state: State,
    ) -> None:
        """Offer the signal's metadata; the queue keeps it if Clarify lacks it."""
        area = device_name = None
        if registry_entry := er.async_get(self.hass).async_get(entity_id):
            device = (
                dr.async_get(self.hass).async_get(registry_entry.device_id)
                if registry_entry.device_id
                else None
            )
            if device is not None:
                device_name = device.name_by_user or device.name
            area_id = registry_entry.area_id or (device.area_id if device else None)
            if area_id and (
                area_entry := ar.async_get(self.hass).async_get_area(area_id)
            ):
                area = area_entry.name
        self.metadata.offer(
            mapping.input_key,
            signal_metadata(
                entity_id,
                mapping.input_key,
                conversion,
                state,
                area=area,
                device=device_name,
            ),
        )
