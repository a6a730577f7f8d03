"""The run-time loop of one entry, wired together.

Data flows one way::

    state machine -> EntityListener -> SampleBuffer -> Sender -> ClarifyClient
                                            |
                                         Journal (disk)

The listener converts and appends and never does I/O; the journal writes what
the buffer logged, off the event loop; the sender takes frames and never reads
states; the client knows nothing about Home Assistant. This module starts and
stops them, applies changed options, and offers one view of their state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import datetime
import logging
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from .api import ClarifyClient
from .backfill import Backfill
from .buffer import Readings, SampleBuffer
from .entry import ClarifyConfigEntry, ClarifyOptions
from .issues import (
    ISSUE_ENTITY_MISSING,
    ISSUE_JOURNAL_DAMAGED,
    ISSUE_JOURNAL_UNWRITABLE,
    ISSUE_READINGS_DROPPED,
    ISSUE_SERIES_REJECTED,
    EntryIssues,
)
from .journal import Journal, JournalDamage, Restored
from .listener import EntityListener
from .metadata import SignalMetadataQueue
from .rates import RateWatch
from .selection import Selection
from .sender import Sender
from .status import ExporterStatus, SetAsideSeries

_LOGGER = logging.getLogger(__name__)


class ClarifyExporter:
    """Streams the states of the mapped entities into one Clarify integration."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ClarifyConfigEntry,
        client: ClarifyClient,
        journal: Journal,
        restored: Restored,
        *,
        options: ClarifyOptions,
    ) -> None:
        """Wire the parts to the restored state; nothing runs yet."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.journal = journal
        self.buffer: SampleBuffer = restored.buffer
        self.status = ExporterStatus(
            set_aside={
                key: SetAsideSeries(series.count, series.reason, series.entity)
                for key, series in restored.set_aside.items()
            }
        )
        self.issues = EntryIssues(hass, entry.entry_id)
        self.metadata = SignalMetadataQueue(restored.signal_hashes)
        self.rates = RateWatch()
        self._options = options
        self.sender = Sender(
            hass,
            entry,
            client,
            buffer=self.buffer,
            journal=journal,
            metadata=self.metadata,
            status=self.status,
            issues=self.issues,
            on_update=self._async_notify,
            entity_of=self._entity_of,
        )
        self.listener = EntityListener(
            hass,
            self.buffer,
            self.metadata,
            self.status,
            keys=dict(restored.input_keys),
            on_backlog=self.sender.async_request_send,
            on_selection=self._async_selection,
            # Short tasks, part of the entry's work: waiting for Home Assistant
            # to be idle waits for them too. Not started at once, so that the
            # registry changes of one turn of the loop are resolved once.
            create_task=lambda coro, name: entry.async_create_task(
                hass, coro, name, eager_start=False
            ),
        )
        self.sender.prepare_metadata = self.listener.async_prepare_metadata
        self.backfill = Backfill(self, restored.backfill)
        self._missing: set[str] = set()
        self._damage = restored.damage
        self._unsub_interval: CALLBACK_TYPE | None = None
        self._unsub_stop: CALLBACK_TYPE | None = None
        self._status_listeners: list[CALLBACK_TYPE] = []
        self._dropped_reported = self.buffer.dropped
        self._stopped = False

    # ------------------------------------------------------------ lifecycle

    async def async_start(self) -> None:
        """Start listening, journalling and sending.

        Returns once the entities the options select are followed.
        """
        if self.hass.is_stopping:
            # Set up while Home Assistant stops (a reload that came late): the
            # stop event is gone, so nothing would end what starts here; the
            # journal, opened already, is closed again.
            self._stopped = True
            self.hass.async_create_task(
                self.journal.async_close(), "Clarify journal close", eager_start=True
            )
            return
        if self._damage is not None:
            self._async_report_damage(self._damage)
        self.journal.on_failure = self._async_journal_failure
        self.sender.on_delivered = self._async_count
        self.journal.async_start(
            lambda coro, name: self.entry.async_create_background_task(
                self.hass, coro, name
            )
        )
        self._unsub_stop = self.hass.bus.async_listen_once(
            EVENT_HOMEASSISTANT_STOP, self._async_on_hass_stop
        )
        await self.listener.async_track(self._options)
        if self._stopped:
            # Home Assistant stopped while the selection was worked out.
            return
        self.backfill.async_start()
        self._async_schedule_interval()
        # Readings restored from the journal go out without waiting an interval.
        if len(self.buffer):
            self.sender.async_request_send()

    async def async_stop(self) -> None:
        """Stop listening, make one last bounded attempt to send, write the rest."""
        if self._stopped:
            return
        self._stopped = True
        for unsub in (self._unsub_interval, self._unsub_stop):
            if unsub is not None:
                unsub()
        self._unsub_interval = self._unsub_stop = None
        try:
            # What a backfill merged stays; its position is in the journal.
            await self.backfill.async_stop()
            # State changes already handed to the event loop get their turn
            # before the last send, and those that come during it after.
            await asyncio.sleep(0)
            await self.sender.async_stop()
            await asyncio.sleep(0)
        finally:
            self.listener.async_untrack()
            # Whatever is still unsent (in flight included) waits on disk.
            await self.journal.async_close()

    async def _async_on_hass_stop(self, event: Event) -> None:
        # Home Assistant removed this one-time listener when it fired.
        self._unsub_stop = None
        await self.async_stop()

    @callback
    def _async_schedule_interval(self) -> None:
        if self._unsub_interval is not None:
            self._unsub_interval()
        self._unsub_interval = async_track_time_interval(
            self.hass,
            self._async_interval,
            self._options.flush_interval,
            name="Clarify send interval",
        )

    @callback
    def _async_interval(self, now: datetime) -> None:
        self.sender.async_request_send()
        # The buffer grows between sends: let the status entities show it.
        self._async_notify()

    async def async_apply_options(self, options: ClarifyOptions) -> None:
        """Apply changed options at once; buffered readings stay where they are."""
        previous, self._options = self._options, options
        if options.flush_interval != previous.flush_interval:
            self._async_schedule_interval()
        self.buffer.capacity = options.buffer_capacity
        # The user has acted on what these repairs reported.
        self.issues.async_clear_raised(ISSUE_READINGS_DROPPED)
        self._dropped_reported = self.buffer.dropped
        self._async_notify()
        await self.listener.async_track(options)

    @callback
    def async_send_now(self) -> None:
        """Send what is buffered now, unless backing off; do not wait."""
        self.sender.async_request_send()

    async def async_flush(self) -> None:
        """Send what is buffered now and wait for the outcome (the flush action).

        Raises:
            FlushError: what stood in the way.

        """
        await self.sender.async_flush()

    async def async_resend_set_aside(self, keys: Collection[str] | None) -> int:
        """Send readings Clarify refused again; return how many went back.

        With `keys`, only those input keys' readings. Readings of an entity
        whose input key changed since go to its new key.
        """
        chosen = [key for key in self.status.set_aside if keys is None or key in keys]
        # The key each entity's state (or first signal) feeds now.
        current = {
            plan.entity: plan.signals[0].input_key
            for plan in self.listener.plans()
            if plan.signals
        }
        rekey = {
            key: current.get(self.status.set_aside[key].entity or "", key)
            for key in chosen
        }
        taken = await self.journal.async_take_set_aside(rekey)
        for key in chosen:
            self.status.set_aside.pop(key, None)
            self.issues.async_clear(f"{ISSUE_SERIES_REJECTED}_{key}")
        count = 0
        for readings in taken:
            count += self.buffer.merge(
                readings.key, readings.times, readings.values, journal=False
            )
        if count:
            _LOGGER.info("Sending %d readings Clarify refused earlier again", count)
            self.sender.async_request_send()
        self._async_notify()
        return count

    # ------------------------------------------------------------ reporting

    def _entity_of(self, key: str) -> tuple[str | None, str]:
        """The entity that feeds an input key: its registry id and a name to show.

        The name is the entity ID, or the key itself when no entity feeds it.
        """
        if (plan := self.listener.entity_of(key)) is not None:
            return plan.entity, plan.entity_id
        return None, key

    @callback
    def _async_selection(self, selection: Selection) -> None:
        """Remember new input keys; report picked entities that are gone."""
        if selection.new_keys:
            self.journal.async_input_keys(self.listener.keys)
        missing = {mapping.entity: mapping for mapping in selection.missing}
        for entity in self._missing - missing.keys():
            self.issues.async_clear(f"{ISSUE_ENTITY_MISSING}_{entity}")
        for entity, mapping in missing.items():
            self.issues.async_raise(
                f"{ISSUE_ENTITY_MISSING}_{entity}",
                ISSUE_ENTITY_MISSING,
                {"title": self.entry.title, "input_key": mapping.input_key},
                fixable=True,
                data={"entry_id": self.entry.entry_id, "entity": entity},
            )
        self._missing = set(missing)

    @callback
    def _async_report_damage(self, damage: JournalDamage) -> None:
        _LOGGER.warning(
            "The Clarify journal was damaged (%s); %d readings were saved from it"
            " and the damaged file is kept as %s",
            damage.reason,
            damage.salvaged,
            damage.kept_as,
        )
        self.issues.async_raise(
            ISSUE_JOURNAL_DAMAGED,
            ISSUE_JOURNAL_DAMAGED,
            {
                "title": self.entry.title,
                "reason": damage.reason,
                "salvaged": str(damage.salvaged),
                "kept_as": damage.kept_as,
            },
        )

    @callback
    def _async_journal_failure(self, error: str | None) -> None:
        if error is None:
            self.issues.async_clear(ISSUE_JOURNAL_UNWRITABLE)
            return
        self.issues.async_raise(
            ISSUE_JOURNAL_UNWRITABLE,
            ISSUE_JOURNAL_UNWRITABLE,
            {"title": self.entry.title, "path": str(self.journal.path), "error": error},
        )

    @callback
    def _async_count(self, appended: list[Readings]) -> None:
        self.rates.add(_minute(), appended)

    @callback
    def _async_check_dropped(self) -> None:
        """Report readings the full buffer dropped: once per episode, in a repair."""
        dropped = self.buffer.dropped
        if dropped <= self._dropped_reported:
            return
        self._dropped_reported = dropped
        if not self.issues.async_raise(
            ISSUE_READINGS_DROPPED,
            ISSUE_READINGS_DROPPED,
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
        status = self.status
        return {
            "tracked_entities": self.listener.tracked,
            "buffered_readings": len(self.buffer),
            "buffered_by_key": self.buffer.counts_by_key(),
            "buffer_capacity": self.buffer.capacity,
            "dropped_readings": self.buffer.dropped,
            "dropped_by_key": dict(self.buffer.dropped_by_key),
            "set_aside": {
                key: {"readings": series.count, "reason": series.reason}
                for key, series in sorted(status.set_aside.items())
            },
            "metadata_waiting": self.metadata.waiting(),
            # Clarify asks for at most one reading a minute on average.
            "above_one_reading_a_minute": self.rates.above_one_a_minute(_minute()),
            "suspected_keys": self.sender.suspects,
            "max_request_bytes": self.sender.max_frame_bytes,
            "status": {
                "connected": status.connected,
                "last_success": status.last_success,
                "last_error": status.last_error,
                "sent_readings": status.sent_readings,
                "skipped_readings": status.skipped_readings,
                "set_aside_readings": status.set_aside_readings,
                "requests": status.requests,
                "failed_requests": status.failed_requests,
                "auth_failed": status.auth_failed,
            },
        }


def _minute() -> int:
    """The current minute, counted from the epoch."""
    return int(dt_util.utcnow().timestamp() // 60)
