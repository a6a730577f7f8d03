"""From state changes to buffered readings: the only code on Home Assistant's hot path.

The listener follows the entities the entry sends (see `selection`): for each
state change it converts the state (how was decided once per entity), appends
a reading per signal to the buffer and counts. No I/O, no logging, no
allocation beyond the reading itself. When an entity, its device, area, floor
or labels change, or its unit, name or options do, it notes that the signal's
metadata must be looked at again; the metadata itself is built later, in
slices, when the sender asks (`async_prepare_metadata`), never here.

Which entities are followed is worked out again (in slices, see
`selection.resolve_in_slices`) whenever the options or a registry change; a
burst of registry changes, as when an integration adds its devices, is worked
out once. While a resolve runs, the state changes of entities not followed yet
are kept; those of the entities it names are then taken in order, so a change
made meanwhile is not lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
import logging
from typing import Any, Final

from homeassistant.const import (
    ATTR_FRIENDLY_NAME,
    ATTR_UNIT_OF_MEASUREMENT,
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    EventStateReportedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    floor_registry as fr,
    label_registry as lr,
)
from homeassistant.helpers.event import (
    async_track_state_added_domain,
    async_track_state_change_event,
    async_track_state_report_event,
    async_track_time_interval,
)
from homeassistant.util import dt as dt_util

from .buffer import SampleBuffer, datetime_to_us
from .entry import ClarifyOptions
from .metadata import SignalMetadataQueue
from .selection import EntityPlan, Selection, resolve_in_slices
from .signals import (
    SignalContext,
    conversion_for,
    gap_detection,
    reading_time_us,
    reported_time_us,
    sends_numbers,
    signal_metadata,
)
from .status import ExporterStatus

_LOGGER = logging.getLogger(__name__)

# A send starts before the interval is up once this many readings arrived, so a
# busy installation sends in steady slices rather than one huge burst.
EAGER_SEND_READINGS: Final = 50_000
# Signals whose metadata is built in one go before the loop gets a turn.
METADATA_SLICE: Final = 100
# State attributes that are part of a signal's metadata.
_METADATA_ATTRIBUTES: Final = (ATTR_FRIENDLY_NAME, ATTR_UNIT_OF_MEASUREMENT, "options")
_ATTR_STATE_CLASS: Final = "state_class"
# Entities decided (see `EntityListener._decide`) before the loop gets a turn.
DECIDE_SLICE: Final = 250
# How often steady entities are looked at for the heartbeat.
HEARTBEAT_CHECK: Final = timedelta(seconds=30)
# Entities looked at for the heartbeat before the loop gets a turn.
HEARTBEAT_SLICE: Final = 1000

type Converter = Callable[[State], float | None]


@dataclass(slots=True)
class _Signal:
    """One signal of a tracked entity: how to read it and where it goes."""

    input_key: str
    append: Callable[[int, float], None]
    convert: Converter


@dataclass(slots=True)
class _Tracked:
    """A tracked entity: its plan, and its signals once a state decided them.

    Deciding (see `EntityListener._decide`) waits for the first state the
    listener needs: the entity's first change, its metadata's turn, a
    heartbeat. So following thousands of entities costs one small object each
    at setup, and the event loop never spends a long turn on it.
    """

    plan: EntityPlan
    signals: list[_Signal] = field(default_factory=list)
    decided: bool = False
    # Its unchanged states are sent too (it has a state class).
    reports: bool = False


class EntityListener:
    """Feeds the buffer with the readings of the entities the entry sends."""

    def __init__(
        self,
        hass: HomeAssistant,
        buffer: SampleBuffer,
        metadata: SignalMetadataQueue,
        status: ExporterStatus,
        *,
        keys: dict[str, str],
        on_backlog: CALLBACK_TYPE,
        on_selection: Callable[[Selection], None],
        create_task: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]],
    ) -> None:
        """Bind to the buffer it feeds; nothing is tracked until `async_track`.

        `keys` holds the input keys given to entities matched by a target
        (by registry id); it is updated here, and `on_selection` hears of
        every new selection (to remember new keys and report missing ones).
        """
        self.hass = hass
        self.buffer = buffer
        self.metadata = metadata
        self.status = status
        self.keys = keys
        self._on_backlog = on_backlog
        self._on_selection = on_selection
        self._create_task = create_task
        self._options: ClarifyOptions | None = None
        self._tracked: dict[str, _Tracked] = {}
        self._unsub_state: CALLBACK_TYPE | None = None
        self._unsub_reports: CALLBACK_TYPE | None = None
        self._unsub_heartbeat: CALLBACK_TYPE | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._decide_task: asyncio.Task[None] | None = None
        self._resolve_task: asyncio.Task[None] | None = None
        # While a resolve runs: the state changes and reports of entities not
        # tracked, for those it will name.
        self._heard: list[Event[Any]] = []
        self._unsub_hearing: list[CALLBACK_TYPE] = []
        # The selection must be worked out again (the options or a registry
        # changed since the resolve under way began).
        self._stale = False
        # Per entity ID: when the heartbeat last re-sent its value (timestamp).
        self._heartbeat_sent: dict[str, float] = {}
        self._unsub_domains: CALLBACK_TYPE | None = None
        self._unsub_registries: list[CALLBACK_TYPE] = []
        # Entity IDs whose signals' metadata must be looked at again.
        self._metadata_due: set[str] = set()
        self._appended = 0

    @property
    def tracked(self) -> list[str]:
        """The entity IDs tracked now, sorted."""
        return sorted(self._tracked)

    def plans(self) -> list[EntityPlan]:
        """What each tracked entity sends, by entity ID."""
        return [self._tracked[entity_id].plan for entity_id in sorted(self._tracked)]

    # ------------------------------------------------------------ tracking

    async def async_track(self, options: ClarifyOptions) -> None:
        """Follow the entities the options select, and what they will select.

        Returns once the entities the options select now are followed.
        """
        previous = self._options
        changed_domains = previous is None or options.domains != previous.domains
        self._options = options
        if previous is not None and (
            options.heartbeat != previous.heartbeat
            or options.report_unchanged != previous.report_unchanged
        ):
            # The gap detection in every signal's metadata follows the heartbeat.
            self._metadata_due.update(self._tracked)
            self._tracked = {}
        self._async_schedule_heartbeat(options.heartbeat)
        self._async_follow_registries()
        if changed_domains:
            if self._unsub_domains is not None:
                self._unsub_domains()
            self._unsub_domains = (
                async_track_state_added_domain(
                    self.hass, list(options.domains), self._async_new_entity
                )
                if options.domains
                else None
            )
        self._async_resolve()
        await self.async_settled()
        if (task := self._resolve_task) is not None and not task.cancelled():
            # A failure to work out the selection is the caller's to report.
            task.result()

    async def async_settled(self) -> None:
        """Wait until what was asked of the selection so far is tracked.

        Whoever resumes first after a resolve may start the next one (a
        registry change): a later waiter waits for that one too.
        """
        while (task := self._resolve_task) is not None and not task.done():
            await asyncio.wait({task})

    @callback
    def _async_resolve(self) -> None:
        """Work the selection out again, and track exactly what it names.

        Starts the resolve, or has the one under way run again once it ends.
        """
        self._stale = True
        if self._resolve_task is None or self._resolve_task.done():
            self._async_start_hearing()
            self._resolve_task = self._create_task(
                self._async_resolve_while_stale(), "Clarify selection"
            )

    async def _async_resolve_while_stale(self) -> None:
        try:
            while self._stale:
                self._stale = False
                assert self._options is not None
                steps = resolve_in_slices(self.hass, self._options, self.keys)
                while True:
                    try:
                        next(steps)
                    except StopIteration as done:
                        selection: Selection = done.value
                        break
                    await asyncio.sleep(0)
                self._async_apply(selection, self._heard)
                # Another resolve may yet name the others.
                tracked = self._tracked
                self._heard = [
                    event
                    for event in self._heard
                    if event.data["entity_id"] not in tracked
                ]
        finally:
            self._async_stop_hearing()

    @callback
    def _async_start_hearing(self) -> None:
        """Keep the state changes of entities not tracked, until the resolve ends."""
        if self._unsub_hearing:
            return
        bus = self.hass.bus
        self._unsub_hearing = [
            bus.async_listen(EVENT_STATE_CHANGED, self._async_hear, self._untracked),
            bus.async_listen(EVENT_STATE_REPORTED, self._async_hear, self._untracked),
        ]

    @callback
    def _async_hear(self, event: Event[Any]) -> None:
        self._heard.append(event)

    @callback
    def _async_stop_hearing(self) -> None:
        for unsub in self._unsub_hearing:
            unsub()
        self._unsub_hearing = []
        self._heard = []

    @callback
    def _untracked(self, data: Mapping[str, Any]) -> bool:
        return data["entity_id"] not in self._tracked

    @callback
    def _async_apply(self, selection: Selection, heard: list[Event[Any]]) -> None:
        """Track what `selection` names, and take what its new entities did.

        `heard`: the state changes and reports of entities not tracked, since
        the resolve began.
        """
        self.keys.update(selection.new_keys)
        tracked: dict[str, _Tracked] = {}
        for entity_id, plan in selection.plans.items():
            current = self._tracked.get(entity_id)
            if current is not None and current.plan == plan:
                tracked[entity_id] = current
                continue
            tracked[entity_id] = _Tracked(plan)
            self._metadata_due.add(entity_id)
        if tracked.keys() != self._tracked.keys() or any(
            tracked[entity_id] is not self._tracked.get(entity_id)
            for entity_id in tracked
        ):
            new = tracked.keys() - self._tracked.keys()
            self._async_subscribe(tracked)
            for event in heard:
                if event.data["entity_id"] in new:
                    if event.event_type == EVENT_STATE_CHANGED:
                        self._async_state_changed(event)
                    else:
                        self._async_state_reported(event)
            if self._decide_task is None or self._decide_task.done():
                self._decide_task = self._create_task(
                    self._async_decide_all(), "Clarify entities"
                )
            # A key given up before its signal was described must not become
            # an empty signal in Clarify.
            self.metadata.retain(
                {
                    signal.input_key
                    for plan in selection.plans.values()
                    for signal in plan.signals
                }
            )
        self._on_selection(selection)

    def _append_readings(self, tracked: _Tracked, state: State, time_us: int) -> None:
        for signal in tracked.signals:
            if (value := signal.convert(state)) is not None:
                signal.append(time_us, value)

    def _decide(self, tracked: _Tracked, state: State) -> None:
        """Settle how an entity's states are read, on its first known state.

        An enum sensor or a binary sensor's device class can only be told
        from a state. An entity a target matched that turns out not to send
        numbers is left out when the entry sends numbers only.
        """
        tracked.decided = True
        assert self._options is not None
        plan = tracked.plan
        entity_id = plan.entity_id
        tracked.reports = self._options.report_unchanged and bool(
            state.attributes.get(_ATTR_STATE_CLASS)
        )
        if (
            not plan.picked
            and self._options.numeric_only
            and not sends_numbers(entity_id, state)
        ):
            tracked.signals = []
            return
        buffer = self.buffer
        for signal in plan.signals:
            buffer.set_min_interval(signal.input_key, plan.min_interval)
        tracked.signals = [
            _Signal(
                signal.input_key,
                buffer.series(signal.input_key).append,
                conversion_for(
                    entity_id, attribute=signal.attribute, state=state
                ).convert,
            )
            for signal in plan.signals
        ]

    async def _async_decide_all(self) -> None:
        """Decide the entities not decided yet, a slice per turn of the loop.

        Soon after setup every entity with a state is ready, so that its first
        change costs what any other does; setup itself stays short.
        """
        pending = list(self._tracked.values())
        for start in range(0, len(pending), DECIDE_SLICE):
            if start:
                await asyncio.sleep(0)
            for tracked in pending[start : start + DECIDE_SLICE]:
                if not tracked.decided:
                    self._decided(tracked)

    def _decided(self, tracked: _Tracked) -> State | None:
        """The entity's state, its signals decided by it; None without a state."""
        if (state := self.hass.states.get(tracked.plan.entity_id)) is None:
            return None
        if not tracked.decided:
            self._decide(tracked, state)
        return state

    @callback
    def _async_subscribe(self, tracked: dict[str, _Tracked]) -> None:
        # Subscribe anew before letting go of the old subscription: a state
        # change already fired but not yet dispatched reaches the new one. The
        # other order would drop it with Home Assistant's last listener.
        previous = (self._unsub_state, self._unsub_reports)
        self._tracked = tracked
        assert self._options is not None
        self._unsub_state = (
            async_track_state_change_event(
                self.hass, list(tracked), self._async_state_changed
            )
            if tracked
            else None
        )
        self._unsub_reports = (
            async_track_state_report_event(
                self.hass, list(tracked), self._async_state_reported
            )
            if tracked and self._options.report_unchanged
            else None
        )
        for unsub in previous:
            if unsub is not None:
                unsub()

    @callback
    def async_untrack(self) -> None:
        """Stop listening to anything."""
        for unsub in (
            self._unsub_state,
            self._unsub_reports,
            self._unsub_domains,
            self._unsub_heartbeat,
            *self._unsub_registries,
        ):
            if unsub is not None:
                unsub()
        self._unsub_state = self._unsub_reports = self._unsub_domains = None
        self._unsub_heartbeat = None
        for task in (self._heartbeat_task, self._decide_task, self._resolve_task):
            if task is not None:
                task.cancel()
        self._async_stop_hearing()
        self._heartbeat_task = self._decide_task = self._resolve_task = None
        self._unsub_registries = []
        self._tracked = {}

    def _async_follow_registries(self) -> None:
        if self._unsub_registries:
            return
        bus = self.hass.bus
        self._unsub_registries = [
            bus.async_listen(
                er.EVENT_ENTITY_REGISTRY_UPDATED, self._async_entity_updated
            ),
            bus.async_listen(
                dr.EVENT_DEVICE_REGISTRY_UPDATED, self._async_device_updated
            ),
            bus.async_listen(
                ar.EVENT_AREA_REGISTRY_UPDATED, self._async_places_updated
            ),
            bus.async_listen(
                fr.EVENT_FLOOR_REGISTRY_UPDATED, self._async_places_updated
            ),
            bus.async_listen(
                lr.EVENT_LABEL_REGISTRY_UPDATED, self._async_places_updated
            ),
        ]

    # ------------------------------------------------------------ the hot path

    @callback
    def _async_state_changed(self, event: Event[EventStateChangedData]) -> None:
        """Convert and buffer one reading per signal: no I/O and no logging."""
        data = event.data
        if (state := data["new_state"]) is None:
            return
        tracked = self._tracked[data["entity_id"]]
        if not tracked.decided:
            self._decide(tracked, state)
            self._metadata_due.add(state.entity_id)
        elif (old := data["old_state"]) is not None and (
            state.attributes is not old.attributes
        ):
            # Home Assistant keeps the attributes object while they stay the
            # same, so the common case costs one comparison.
            new_attributes, old_attributes = state.attributes, old.attributes
            for name in _METADATA_ATTRIBUTES:
                if new_attributes.get(name) != old_attributes.get(name):
                    self._metadata_due.add(state.entity_id)
                    break
        time_us = -1
        for signal in tracked.signals:
            if (value := signal.convert(state)) is None:
                self.status.skipped_readings += 1
                continue
            if time_us < 0:
                time_us = reading_time_us(state)
            signal.append(time_us, value)
            self._appended += 1
        if self._appended >= EAGER_SEND_READINGS:
            self._appended = 0
            self._on_backlog()

    @callback
    def _async_state_reported(self, event: Event[EventStateReportedData]) -> None:
        """An unchanged state written again: a reading, for entities that report."""
        data = event.data
        tracked = self._tracked.get(data["entity_id"])
        if tracked is None or (state := data["new_state"]) is None:
            return
        if not tracked.decided:
            self._decide(tracked, state)
            self._metadata_due.add(state.entity_id)
        if tracked.reports:
            self._append_readings(tracked, state, reported_time_us(state))

    # ------------------------------------------------------------ heartbeat

    @callback
    def _async_schedule_heartbeat(self, minutes: int) -> None:
        if self._unsub_heartbeat is not None:
            self._unsub_heartbeat()
            self._unsub_heartbeat = None
        if minutes > 0:
            self._unsub_heartbeat = async_track_time_interval(
                self.hass,
                self._async_heartbeat_due,
                HEARTBEAT_CHECK,
                name="Clarify heartbeat",
            )

    @callback
    def _async_heartbeat_due(self, now: Any) -> None:
        if self._heartbeat_task is None or self._heartbeat_task.done():
            self._heartbeat_task = self._create_task(
                self._async_heartbeat(), "Clarify heartbeat"
            )

    async def _async_heartbeat(self) -> None:
        """Send again the value of every entity that has been steady too long.

        Only available entities: an entity that is unavailable or unknown
        sends nothing, so Clarify shows the gap for what it is.
        """
        assert self._options is not None
        now = dt_util.utcnow()
        now_us = datetime_to_us(now)
        now_ts = now.timestamp()
        limit = self._options.heartbeat * 60
        for index, (entity_id, tracked) in enumerate(list(self._tracked.items())):
            if index and not index % HEARTBEAT_SLICE:
                await asyncio.sleep(0)
            state = self.hass.states.get(entity_id)
            if state is None or state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
                continue
            if not tracked.decided:
                self._decide(tracked, state)
            if not tracked.signals:
                continue
            last = max(
                state.last_reported_timestamp
                if tracked.reports
                else state.last_updated_timestamp,
                self._heartbeat_sent.get(entity_id, 0.0),
            )
            if now_ts - last < limit:
                continue
            self._heartbeat_sent[entity_id] = now_ts
            self._append_readings(tracked, state, now_us)

    # ------------------------------------------------------------ registries

    @callback
    def _async_new_entity(self, event: Event[EventStateChangedData]) -> None:
        """An entity of a chosen domain appeared."""
        if event.data["entity_id"] not in self._tracked:
            self._async_resolve()

    @callback
    def _async_entity_updated(
        self, event: Event[er.EventEntityRegistryUpdatedData]
    ) -> None:
        """Entities come and go, get renamed, labelled, moved or disabled."""
        self._async_resolve()
        entity_id = event.data["entity_id"]
        if entity_id in self._tracked:
            self._metadata_due.add(entity_id)

    @callback
    def _async_device_updated(
        self, event: Event[dr.EventDeviceRegistryUpdatedData]
    ) -> None:
        self._async_resolve()
        device_id = event.data["device_id"]
        registry = er.async_get(self.hass)
        self._metadata_due.update(
            entry.entity_id
            for entry in er.async_entries_for_device(registry, device_id, True)
            if entry.entity_id in self._tracked
        )

    @callback
    def _async_places_updated(self, event: Event[Any]) -> None:
        """An area, floor or label changed: names of many signals may change."""
        self._async_resolve()
        self._metadata_due.update(self._tracked)

    # ------------------------------------------------------------ metadata

    async def async_prepare_metadata(self) -> None:
        """Offer the metadata of the signals that changed, a slice at a time."""
        while self._metadata_due:
            for _ in range(min(METADATA_SLICE, len(self._metadata_due))):
                entity_id = self._metadata_due.pop()
                if (tracked := self._tracked.get(entity_id)) is not None:
                    self._offer_metadata(tracked)
            if self._metadata_due:
                await asyncio.sleep(0)

    def _offer_metadata(self, tracked: _Tracked) -> None:
        entity_id = tracked.plan.entity_id
        if (state := self._decided(tracked)) is None or not tracked.signals:
            # Without a state (or a signal) there is nothing to describe yet;
            # the first state brings it back here.
            return
        context = self._context(entity_id)
        for signal in tracked.plan.signals:
            conversion = conversion_for(
                entity_id, attribute=signal.attribute, state=state
            )
            self.metadata.offer(
                signal.input_key,
                signal_metadata(
                    entity_id, signal.input_key, conversion, state, context=context
                ),
            )

    def _context(self, entity_id: str) -> SignalContext:
        """What the registries say about an entity, with this entry's gap detection."""
        return entity_context(self.hass, entity_id, gap_detection=self._gap_detection())

    def _gap_detection(self) -> str | None:
        return gap_detection(self._options.heartbeat) if self._options else None

    def entity_of(self, input_key: str) -> EntityPlan | None:
        """The tracked entity that feeds an input key, if any."""
        for tracked in self._tracked.values():
            if any(signal.input_key == input_key for signal in tracked.plan.signals):
                return tracked.plan
        return None


def selection_counts(selection: Selection) -> Mapping[str, int]:
    """How many entities a selection sends, and leaves out as not numeric."""
    return {
        "picked": sum(plan.picked for plan in selection.plans.values()),
        "matched": sum(not plan.picked for plan in selection.plans.values()),
        "not_numeric": selection.not_numeric,
    }


def entity_context(
    hass: HomeAssistant, entity_id: str, *, gap_detection: str | None = None
) -> SignalContext:
    """What the registries say about an entity, by name, for its signals' metadata."""
    instance = hass.config.location_name
    entry = er.async_get(hass).async_get(entity_id)
    if entry is None:
        return SignalContext(instance=instance, gap_detection=gap_detection)
    device = dr.async_get(hass).async_get(entry.device_id) if entry.device_id else None
    area_id = entry.area_id or (device.area_id if device else None)
    area = ar.async_get(hass).async_get_area(area_id) if area_id else None
    floor = (
        fr.async_get(hass).async_get_floor(area.floor_id)
        if area is not None and area.floor_id
        else None
    )
    labels = lr.async_get(hass)
    label_ids = [*entry.labels, *(device.labels if device else ())]
    return SignalContext(
        name=entry.name,
        area=area.name if area else None,
        floor=floor.name if floor else None,
        device=(device.name_by_user or device.name) if device else None,
        manufacturer=device.manufacturer if device else None,
        model=device.model if device else None,
        integration=entry.platform,
        labels=tuple(
            label.name
            for label_id in label_ids
            if (label := labels.async_get_label(label_id)) is not None
        ),
        instance=instance,
        gap_detection=gap_detection,
    )
