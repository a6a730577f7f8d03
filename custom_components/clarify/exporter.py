"""The run-time loop: listen to the chosen entities, buffer, send to Clarify.

Data flows one way. The state-change listener converts and appends to the
buffer and never does I/O; the sender takes frames from the buffer and never
reads states; the client knows nothing about Home Assistant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
import logging
from pathlib import Path
import random
from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.event import (
    async_call_later,
    async_track_state_change_event,
    async_track_time_interval,
)
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .api import (
    ClarifyAuthError,
    ClarifyClient,
    ClarifyError,
    ClarifyRequestError,
    ClarifyRetryableError,
)
from .buffer import Frame, SampleBuffer
from .const import DOMAIN
from .entry import ClarifyOptions, EntityMapping
from .signals import Conversion, conversion_for, metadata_hash, signal_metadata

if TYPE_CHECKING:
    from .entry import ClarifyConfigEntry

_LOGGER = logging.getLogger(__name__)

# Clarify allows one request per second per method: the next request leaves
# this long after the previous one finished, so the limit holds by construction.
REQUEST_SPACING: Final = 1.0
# A send starts before the interval is up once this many readings are waiting,
# so a busy installation sends in steady slices rather than one huge burst.
EAGER_SEND_READINGS: Final = 50_000
# Retryable failures back off exponentially, with jitter so that many
# installations do not return to Clarify in lockstep after an outage.
BACKOFF_INITIAL: Final = 1.0
BACKOFF_MAX: Final = 300.0
# On unload and Home Assistant stop, one last attempt is bounded by this.
FINAL_SEND_TIMEOUT: Final = 10.0
STORAGE_VERSION: Final = 1
# While Clarify is unreachable the unsent readings are saved this many seconds
# after a failure (and after each send interval), so a crash loses little.
SAVE_DELAY: Final = 10.0

type ExporterStore = Store[dict[str, Any]]


def exporter_store(hass: HomeAssistant, entry_id: str) -> ExporterStore:
    """Where an entry's unsent readings and signal state wait across restarts."""
    return Store(hass, STORAGE_VERSION, f"clarify.{entry_id}", private=True)


async def async_remove_entry_data(hass: HomeAssistant, entry_id: str) -> None:
    """Forget what an entry left behind: its saved readings and its repairs."""
    await exporter_store(hass, entry_id).async_remove()
    # Every issue an entry raises has an id that starts with the entry's id.
    for domain, issue_id in list(ir.async_get(hass).issues):
        if domain == DOMAIN and issue_id.startswith(f"{entry_id}_"):
            ir.async_delete_issue(hass, DOMAIN, issue_id)


@dataclass(slots=True)
class SavedState:
    """What one run leaves to the next."""

    buffer: SampleBuffer = field(default_factory=SampleBuffer)
    # The hash of the metadata Clarify last confirmed, per input key.
    signal_hashes: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The state as the store saves it."""
        return {"buffer": self.buffer.to_dict(), "signal_hashes": self.signal_hashes}


async def async_load_state(store: ExporterStore, capacity: int) -> SavedState:
    """What the previous run saved, or a fresh start.

    A file that cannot be read is kept under another name for inspection and
    the entry starts empty: setup never fails because of it.
    """
    try:
        data = await store.async_load()
        if data is None:
            return SavedState(SampleBuffer(capacity))
        # A million readings take a few tenths of a second to restore.
        return await store.hass.async_add_executor_job(_saved_state, data, capacity)
    except (HomeAssistantError, ValueError, TypeError) as err:
        _LOGGER.error(
            "The saved Clarify readings in %s could not be read (%s); the file is"
            " kept as %s.corrupt and sending starts afresh",
            store.path,
            err,
            store.path,
        )
        await store.hass.async_add_executor_job(_set_aside, store.path)
        return SavedState(SampleBuffer(capacity))


def _saved_state(data: object, capacity: int) -> SavedState:
    """Validate what the store read (it may come from any earlier version)."""
    if not isinstance(data, dict) or not isinstance(data.get("buffer"), dict):
        raise TypeError("not a saved Clarify state")
    hashes = data.get("signal_hashes", {})
    if not isinstance(hashes, dict) or not all(
        isinstance(value, str) for value in hashes.values()
    ):
        raise TypeError("signal_hashes is not a map of strings")
    return SavedState(SampleBuffer.from_dict(data["buffer"], capacity), hashes)


def _set_aside(path: str) -> None:
    # Without a file (only the storage layer's cache was bad) nothing is kept.
    with contextlib.suppress(FileNotFoundError):
        Path(path).replace(f"{path}.corrupt")


@dataclass(slots=True)
class ExporterStatus:
    """What the exporter has done so far, for status entities and diagnostics."""

    connected: bool | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    sent_readings: int = 0
    skipped_readings: int = 0
    requests: int = 0
    failed_requests: int = 0
    rejected_readings: dict[str, int] = field(default_factory=dict)
    rejected_reasons: dict[str, str] = field(default_factory=dict)
    auth_failed: bool = False


@dataclass(slots=True)
class _Target:
    """One tracked entity: its conversion and the buffer series it feeds."""

    convert: Callable[[State], float | None]
    append: Callable[[int, float], None]


class ClarifyExporter:
    """Streams the states of the mapped entities into one Clarify integration."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ClarifyConfigEntry,
        client: ClarifyClient,
        store: ExporterStore,
        saved: SavedState,
    ) -> None:
        """Bind the exporter to its entry, client and saved state; nothing runs yet."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.buffer = saved.buffer
        self._saved = saved
        self._store = store
        # Groups of input keys sent apart after Clarify refused a request
        # without naming the series at fault; the first group goes next.
        self._suspects: list[tuple[str, ...]] = []
        # Metadata Clarify has not confirmed yet, per input key.
        self._pending_metadata: dict[str, dict[str, Any]] = {}
        self.status = ExporterStatus()
        self._options = ClarifyOptions.from_entry(entry)
        self._targets: dict[str, _Target] = {}
        self._unsub_state: CALLBACK_TYPE | None = None
        self._unsub_interval: CALLBACK_TYPE | None = None
        self._unsub_later: CALLBACK_TYPE | None = None
        self._send_task: asyncio.Task[None] | None = None
        self._backoff = 0.0
        self._appended_since_send = 0
        self._stopped = False
        self._listeners: list[CALLBACK_TYPE] = []
        self._status_listeners: list[CALLBACK_TYPE] = []
        # Repair issues raised by this run, and the drops already reported.
        self._issues: set[str] = set()
        self._dropped_reported = saved.buffer.dropped

    # ------------------------------------------------------------------ lifecycle

    @callback
    def async_start(self) -> None:
        """Start listening and sending."""
        self._async_track(self._options)
        self._unsub_interval = async_track_time_interval(
            self.hass,
            self._async_interval,
            self._options.flush_interval,
            name="Clarify send interval",
        )
        self._listeners.append(
            self.hass.bus.async_listen_once(
                EVENT_HOMEASSISTANT_STOP, self._async_on_hass_stop
            )
        )
        self._listeners.append(
            self.hass.bus.async_listen(
                er.EVENT_ENTITY_REGISTRY_UPDATED, self._async_registry_updated
            )
        )

    async def async_stop(self) -> None:
        """Stop listening, make one last bounded attempt to send, save the rest."""
        if self._stopped:
            return
        self._stopped = True
        self._async_untrack()
        for unsub in (self._unsub_interval, self._unsub_later, *self._listeners):
            if unsub is not None:
                unsub()
        self._unsub_interval = self._unsub_later = None
        self._listeners.clear()
        try:
            await self._async_final_send()
        finally:
            # Whatever is still unsent (in flight included) waits on disk.
            await self._store.async_save(self._saved.as_dict())

    async def _async_final_send(self) -> None:
        if self._send_task is not None:
            # A send in progress is the last attempt: let it finish, bounded.
            task, self._send_task = self._send_task, None
            await asyncio.wait({task}, timeout=FINAL_SEND_TIMEOUT)
            if not task.done():
                task.cancel()
            return
        if self.status.auth_failed:
            return
        try:
            async with asyncio.timeout(FINAL_SEND_TIMEOUT):
                await self._async_send_frames(final=True)
        except TimeoutError:
            _LOGGER.debug("The last send to Clarify did not finish in time")

    async def _async_on_hass_stop(self, event: Event) -> None:
        await self.async_stop()

    @callback
    def async_apply_options(self, options: ClarifyOptions) -> None:
        """Apply changed options at once; buffered readings stay where they are."""
        if options.flush_interval != self._options.flush_interval:
            if self._unsub_interval is not None:
                self._unsub_interval()
            self._unsub_interval = async_track_time_interval(
                self.hass,
                self._async_interval,
                options.flush_interval,
                name="Clarify send interval",
            )
        self.buffer.capacity = options.buffer_capacity
        self._options = options
        self._async_track(options)
        # The user has acted on what the repairs reported.
        for issue_id in self._issues:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        self._issues.clear()
        self._dropped_reported = self.buffer.dropped
        self._async_notify()

    # ------------------------------------------------------------------ listening

    @callback
    def _async_track(self, options: ClarifyOptions) -> None:
        """Decide each entity's conversion once and listen to all of them."""
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

    def _target(self, entity_id: str, mapping: EntityMapping) -> _Target:
        append = self.buffer.series(mapping.input_key).append
        if (state := self.hass.states.get(entity_id)) is not None:
            conversion = conversion_for(
                entity_id, attribute=mapping.attribute, state=state
            )
            self._async_queue_metadata(entity_id, mapping, conversion, state)
            return _Target(conversion.convert, append)

        def decide(first: State) -> float | None:
            # The entity has no state yet (Home Assistant is starting): how to
            # read it (an enum sensor, a binary sensor's device class) is
            # decided on its first state, once.
            conversion = conversion_for(
                entity_id, attribute=mapping.attribute, state=first
            )
            target.convert = conversion.convert
            self._async_queue_metadata(entity_id, mapping, conversion, first)
            return conversion.convert(first)

        target = _Target(decide, append)
        return target

    @callback
    def _async_queue_metadata(
        self,
        entity_id: str,
        mapping: EntityMapping,
        conversion: Conversion,
        state: State,
    ) -> None:
        """Queue the signal's metadata for saving when Clarify does not have it."""
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
        metadata = signal_metadata(
            entity_id,
            mapping.input_key,
            conversion,
            state,
            area=area,
            device=device_name,
        )
        if self._saved.signal_hashes.get(mapping.input_key) != metadata_hash(metadata):
            self._pending_metadata[mapping.input_key] = metadata
        else:
            self._pending_metadata.pop(mapping.input_key, None)

    @callback
    def _async_untrack(self) -> None:
        if self._unsub_state is not None:
            self._unsub_state()
            self._unsub_state = None
        self._targets = {}

    @callback
    def _async_state_changed(self, event: Event[EventStateChangedData]) -> None:
        """Convert and buffer one reading: the hot path, so no I/O and no logging."""
        if (state := event.data["new_state"]) is None:
            return
        target = self._targets[event.data["entity_id"]]
        if (value := target.convert(state)) is None:
            self.status.skipped_readings += 1
            return
        # The reading's own time, in whole microseconds (what Clarify stores).
        target.append(round(state.last_updated_timestamp * 1_000_000), value)
        self._appended_since_send += 1
        if self._appended_since_send >= EAGER_SEND_READINGS:
            self._async_request_send()

    @callback
    def _async_registry_updated(
        self, event: Event[er.EventEntityRegistryUpdatedData]
    ) -> None:
        """Follow renames (mappings are keyed on the registry id) and new names."""
        if event.data["action"] != "update":
            return
        registry_entry = er.async_get(self.hass).async_get(event.data["entity_id"])
        if registry_entry is None:
            return
        for mapping in self._options.mappings:
            if mapping.entity != registry_entry.id:
                continue
            if "old_entity_id" in event.data:
                self._async_track(self._options)
            elif state := self.hass.states.get(registry_entry.entity_id):
                # A new name, area or device: only the signal's metadata changes.
                conversion = conversion_for(
                    registry_entry.entity_id, attribute=mapping.attribute, state=state
                )
                self._async_queue_metadata(
                    registry_entry.entity_id, mapping, conversion, state
                )
            return

    # ------------------------------------------------------------------ sending

    @callback
    def _async_interval(self, now: datetime) -> None:
        if self.status.connected is False or self.status.auth_failed:
            self._store.async_delay_save(self._saved.as_dict, SAVE_DELAY)
        self._async_request_send()
        # The buffer grows between sends: let the status entities show it.
        self._async_notify()

    @callback
    def async_send_now(self) -> None:
        """Send what is buffered now (the flush action), unless backing off."""
        self._async_request_send()

    @callback
    def _async_request_send(self) -> None:
        """Start sending unless a send is running or a retry is already scheduled."""
        if (
            self._stopped
            or self._send_task is not None
            or self._unsub_later is not None
            or self.status.auth_failed
        ):
            return
        self._appended_since_send = 0
        # Not eager: the task must be recorded before its first step can end it.
        self._send_task = self.entry.async_create_background_task(
            self.hass, self._async_send_frames(), "Clarify send", eager_start=False
        )

    @callback
    def _async_send_later(self, delay: float) -> None:
        # A send that was under way when the exporter stopped ends here.
        if self._stopped:
            return
        self._unsub_later = async_call_later(self.hass, delay, self._async_send_due)

    @callback
    def _async_send_due(self, now: datetime) -> None:
        self._unsub_later = None
        self._async_request_send()

    async def _async_send_frames(self, *, final: bool = False) -> None:
        """Send frames, one request at a time, until the buffer is empty or one fails.

        Between requests the next one waits REQUEST_SPACING, so after a backlog
        the following frames go out through a timer rather than a tight loop.
        """
        try:
            if self._pending_metadata and not final:
                await self._async_save_metadata()
            while (frame := self._take_frame()) is not None:
                if not await self._async_send_frame(frame) or not len(self.buffer):
                    return
                if final:
                    await asyncio.sleep(REQUEST_SPACING)
                    continue
                self._async_send_later(REQUEST_SPACING)
                return
        finally:
            if not final:
                self._send_task = None
                self._async_notify()

    def _take_frame(self) -> Frame | None:
        """The next frame: of the first group under suspicion, if there is one."""
        while self._suspects:
            if (frame := self.buffer.take_frame(keys=self._suspects[0])) is not None:
                return frame
            self._suspects.pop(0)
        return self.buffer.take_frame()

    async def _async_save_metadata(self) -> None:
        """Give Clarify the names, units and enum labels of the signals.

        Signals Clarify refuses are left with the metadata they have; readings
        never wait for metadata.
        """
        pending, self._pending_metadata = self._pending_metadata, {}
        try:
            await self.client.save_signals(pending)
        except ClarifyRequestError as err:
            _LOGGER.warning(
                "Clarify refused the metadata of %s: %s",
                ", ".join(sorted(err.invalid_keys or pending)),
                err,
            )
            if err.invalid_keys:
                retry = {k: v for k, v in pending.items() if k not in err.invalid_keys}
                self._pending_metadata = retry | self._pending_metadata
            return
        except ClarifyError:
            # Sending readings tells whether Clarify is reachable; metadata
            # simply tries again with the next send.
            self._pending_metadata = pending | self._pending_metadata
            return
        for key, metadata in pending.items():
            self._saved.signal_hashes[key] = metadata_hash(metadata)

    async def _async_send_frame(self, frame: Frame) -> bool:
        """Send one frame and settle it; whether sending may go on."""
        self.status.requests += 1
        try:
            await self.client.insert_encoded(frame.data_json)
        except ClarifyAuthError as err:
            self.buffer.release(frame)
            self._async_failed(err)
            self.status.auth_failed = True
            _LOGGER.warning(
                "Clarify rejected the credentials; readings are kept until you"
                " re-authenticate"
            )
            self.entry.async_start_reauth(self.hass)
            return False
        except ClarifyRequestError as err:
            if err.invalid_keys:
                self._async_rejected(self.buffer.reject(frame, err.invalid_keys), err)
            elif len(frame.keys) == 1:
                # Sent alone and still refused: this series is the bad one.
                self._async_rejected(self.buffer.reject(frame, frame.keys), err)
            else:
                # Clarify did not say which series it refuses: send the halves
                # apart (a request a second, as always) until the bad ones are
                # alone, so that one bad series never holds up the others.
                self.buffer.release(frame)
                group = self._suspects.pop(0) if self._suspects else frame.keys
                rest = tuple(key for key in group if key not in frame.keys)
                half = len(frame.keys) // 2
                self._suspects[:0] = [
                    keys
                    for keys in (frame.keys[:half], frame.keys[half:], rest)
                    if keys
                ]
            return True
        except ClarifyError as err:
            # Retryable, or an answer this client does not understand: keep
            # everything and try again after a backoff.
            self.buffer.release(frame)
            self._async_failed(err)
            self._async_backoff(err)
            return False
        self.buffer.confirm(frame)
        if self._suspects and set(frame.keys) >= set(self._suspects[0]):
            self._suspects.pop(0)
        self._async_succeeded(frame)
        return True

    @callback
    def _async_succeeded(self, frame: Frame) -> None:
        if self.status.connected is False:
            _LOGGER.info("Clarify is reachable again; sending the buffered readings")
        self.status.connected = True
        self.status.last_success = dt_util.utcnow()
        self.status.last_error = None
        self.status.sent_readings += frame.sample_count
        self._backoff = 0.0

    @callback
    def _async_rejected(self, rejected: dict[str, int], err: ClarifyError) -> None:
        """Set refused series aside, and tell the user which entity and why."""
        _LOGGER.warning(
            "Clarify refused the readings of %s: %s", ", ".join(sorted(rejected)), err
        )
        entities = {
            mapping.input_key: mapping.entity for mapping in self._options.mappings
        }
        registry = er.async_get(self.hass)
        for key, count in rejected.items():
            total = self.status.rejected_readings[key] = (
                self.status.rejected_readings.get(key, 0) + count
            )
            self.status.rejected_reasons[key] = str(err)
            entity = entities.get(key)
            self._async_report(
                f"series_rejected_{key}",
                "series_rejected",
                {
                    "entity": (entity and er.async_resolve_entity_id(registry, entity))
                    or key,
                    "input_key": key,
                    "count": str(total),
                    "reason": str(err),
                },
            )

    @callback
    def _async_check_dropped(self) -> None:
        """Report readings the full buffer dropped: once per episode, in a repair."""
        dropped = self.buffer.dropped
        if dropped <= self._dropped_reported:
            return
        self._dropped_reported = dropped
        if not self._async_report(
            "readings_dropped",
            "readings_dropped",
            {
                "title": self.entry.title,
                "capacity": str(self.buffer.capacity),
                "dropped": str(dropped),
            },
        ):
            _LOGGER.warning(
                "The Clarify buffer is full (%d readings); the oldest are dropped",
                self.buffer.capacity,
            )

    @callback
    def _async_report(
        self, name: str, translation_key: str, placeholders: dict[str, str]
    ) -> bool:
        """Raise or update a repair of this entry; whether it was raised before.

        Every issue id starts with the entry's id, which is how removing the
        entry finds them (async_remove_entry_data).
        """
        issue_id = f"{self.entry.entry_id}_{name}"
        known = issue_id in self._issues
        self._issues.add(issue_id)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=translation_key,
            translation_placeholders=placeholders,
        )
        return known

    @callback
    def _async_failed(self, err: ClarifyError) -> None:
        self.status.failed_requests += 1
        self.status.last_error = str(err)
        # While Clarify is away, what arrives is saved soon, not only at stop.
        self._store.async_delay_save(self._saved.as_dict, SAVE_DELAY)
        if self.status.connected is not False and isinstance(
            err, ClarifyRetryableError
        ):
            _LOGGER.info(
                "Clarify is unreachable (%s); readings are kept and sent when it is back",
                err,
            )
            self.status.connected = False

    @callback
    def _async_backoff(self, err: ClarifyError) -> None:
        self._backoff = min(BACKOFF_MAX, max(BACKOFF_INITIAL, self._backoff * 2))
        delay = self._backoff * random.uniform(0.5, 1.0)  # noqa: S311  # jitter
        if isinstance(err, ClarifyRetryableError) and err.retry_after is not None:
            delay = max(delay, err.retry_after)
        self._async_send_later(delay)

    # ------------------------------------------------------------------ views

    @callback
    def async_add_status_listener(self, update: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `update` after every send attempt; returns the remover."""
        self._status_listeners.append(update)
        return lambda: self._status_listeners.remove(update)

    @callback
    def _async_notify(self) -> None:
        self._async_check_dropped()
        for update in list(self._status_listeners):
            update()

    def diagnostics(self) -> dict[str, Any]:
        """The exporter's state for diagnostics (no secrets in it)."""
        return {
            "tracked_entities": sorted(self._targets),
            "buffered_readings": len(self.buffer),
            "buffered_by_key": self.buffer.counts_by_key(),
            "buffer_capacity": self.buffer.capacity,
            "dropped_readings": self.buffer.dropped,
            "dropped_by_key": dict(self.buffer.dropped_by_key),
            "metadata_waiting": sorted(self._pending_metadata),
            "status": {
                "connected": self.status.connected,
                "last_success": self.status.last_success,
                "last_error": self.status.last_error,
                "sent_readings": self.status.sent_readings,
                "skipped_readings": self.status.skipped_readings,
                "requests": self.status.requests,
                "failed_requests": self.status.failed_requests,
                "rejected_readings": dict(self.status.rejected_readings),
                "rejected_reasons": dict(self.status.rejected_reasons),
                "auth_failed": self.status.auth_failed,
            },
        }
