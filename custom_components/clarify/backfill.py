"""Backfill: send what Home Assistant's recorder kept, the way live readings go.

A backfill reads the recorder's state history of chosen entities over a window
and, if asked, their long-term statistics, and puts the readings into the
buffer with `SampleBuffer.merge`: the same conversions and input keys as live
readings, the same journal, the same request rate and size limits.

- Reading is done with the recorder's public API only (`history.
  get_significant_states`, `history.state_changes_during_period` with an
  ascending limit, `statistics.statistics_during_period`, `statistics.
  statistic_during_period` and `statistics.get_metadata`), in the recorder's
  executor, one entity and one chunk (up to a day of states) at a time; the
  states are turned into compact arrays there, so a year of history never
  holds more than a chunk in memory.
- It never reads ahead while the buffer holds `backlog_limit` readings or
  more: its task ends, and the sender's next status update starts it again.
  Nothing waits on a timer, and live readings keep their room in the buffer.
- It does not resend what went live: the journal remembers per input key the
  time of the first reading delivered (`Journal.live_since`), and a backfill
  stops before it unless asked to overwrite. A key with none yet gets the
  time the backfill reaches it, before anything older is sent. A backfill
  that sent everything up to that time moves it back to its own start, so
  backfilling the same time again sends nothing.
- Its position is in the journal after every chunk: an unload stops it, and
  the next start resumes it.
- Long-term statistics become signals of their own: hourly ``<key>:mean``,
  ``<key>:min``, ``<key>:max`` (``<key>:sum`` and ``<key>:state`` for meters),
  and the five-minute ones as ``<key>:mean_5m`` etc. where the recorder still
  has them, with ``sourceType: aggregation`` metadata saying what they are.
"""

from __future__ import annotations

from array import array
import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import logging
import math
import time
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from homeassistant.components.recorder import history, statistics
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, State, callback
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.start import async_at_started
from homeassistant.util import dt as dt_util

from .buffer import datetime_to_us
from .entry import ClarifyOptions
from .listener import entity_context
from .selection import EntityPlan
from .signals import (
    SignalContext,
    conversion_for,
    default_input_key,
    is_valid_input_key,
    reading_time_us,
    sends_numbers,
    signal_metadata,
)

if TYPE_CHECKING:
    from .exporter import ClarifyExporter

_LOGGER = logging.getLogger(__name__)

BACKLOG_MAX: Final = 200_000
"""The most readings in the buffer before a backfill waits (about 3 MiB)."""

SLICE_MAX: Final = 20_000
"""The most readings merged into the buffer at once."""

# States per chunk: a chunk's span halves above the target and doubles below
# a quarter of it, between the bounds; a reading a minute makes it a day.
CHUNK_TARGET: Final = 10_000
CHUNK_FIRST: Final = timedelta(hours=6)
CHUNK_MIN: Final = timedelta(minutes=5)
CHUNK_MAX: Final = timedelta(days=1)
HOURLY_CHUNK: Final = timedelta(days=30)
FIVE_MINUTE_CHUNK: Final = timedelta(days=1)
POSITION_VERSION: Final = 1

type StatisticType = Literal["mean", "min", "max", "sum", "state"]
type Period = Literal["hour", "5minute"]
MEAN_TYPES: Final[tuple[StatisticType, ...]] = ("mean", "min", "max")
SUM_TYPES: Final[tuple[StatisticType, ...]] = ("sum", "state")
_PHASES: Final = ("states", "hour", "5minute")
_SUFFIXES: Final[tuple[tuple[Period, str], ...]] = (("hour", ""), ("5minute", "_5m"))
_PERIOD_NAMES: Final = {"hour": "Hourly", "5minute": "5-minute"}
_PERIOD_DURATIONS: Final = {"hour": "PT1H", "5minute": "PT5M"}
_TYPE_NAMES: Final[dict[StatisticType, str]] = {
    "mean": "mean",
    "min": "minimum",
    "max": "maximum",
    "sum": "sum",
    "state": "meter reading",
}
_TYPE_DESCRIPTIONS: Final[dict[StatisticType, str]] = {
    "mean": "the time-weighted mean of the state over the period",
    "min": "the lowest state in the period",
    "max": "the highest state in the period",
    "sum": (
        "the total the meter has counted since Home Assistant's statistics of it"
        " began, at the end of the period"
    ),
    "state": "the meter's reading at the end of the period",
}
ANNOTATION_STATISTIC: Final = "home-assistant/statistic"
ANNOTATION_PERIOD: Final = "home-assistant/period"
_ONE_US: Final = timedelta(microseconds=1)
_US: Final = 1_000_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _clock() -> float:
    """Seconds for durations (looked up at each call, as tests move time)."""
    return time.monotonic()


class BackfillRefusedError(Exception):
    """A backfill that cannot start; the translation key says why."""

    def __init__(self, translation_key: str, placeholders: dict[str, str]) -> None:
        """Name the reason and what to show with it."""
        super().__init__(translation_key)
        self.translation_key = translation_key
        self.placeholders = placeholders


@dataclass(frozen=True, slots=True)
class Window:
    """A checked backfill window and what the recorder holds."""

    start: datetime
    end: datetime
    # The oldest recorded state of the chosen entities (None: none).
    states_from: datetime | None


def shown_time(moment: datetime) -> str:
    """A time as the user reads it: local, to the minute."""
    return dt_util.as_local(moment).strftime("%Y-%m-%d %H:%M")


def recorder_loaded(hass: HomeAssistant) -> bool:
    """Whether Home Assistant's recorder runs."""
    return "recorder" in hass.config.components


async def async_check_window(
    hass: HomeAssistant,
    entity_ids: list[str],
    *,
    start: datetime | None,
    end: datetime | None,
    duration: timedelta | None,
    statistics_wanted: bool,
) -> Window:
    """Work out the window of a backfill; refuse one the recorder does not cover.

    Without a start (or duration) the window starts at the oldest state the
    recorder holds of the entities; the end defaults to now and never lies in
    the future. Before the oldest state only long-term statistics can cover
    it, and the window is refused unless some are asked for and exist there.

    Raises:
        BackfillRefusedError: the recorder does not run, or does not cover
            the window.

    """
    if not recorder_loaded(hass):
        raise BackfillRefusedError("backfill_no_recorder", {})
    instance = get_instance(hass)
    if not await instance.async_db_ready:
        raise BackfillRefusedError("backfill_no_recorder", {})
    now = dt_util.utcnow()
    end = now if end is None else min(dt_util.as_utc(end), now)
    if start is not None and duration is not None:
        raise BackfillRefusedError("backfill_start_and_duration", {})
    states_from = await instance.async_add_executor_job(_oldest_state, hass, entity_ids)
    placeholders = {
        "end": shown_time(end),
        "states_from": shown_time(states_from) if states_from else "-",
        "keep_days": str(instance.keep_days),
    }
    if duration is not None:
        start = end - duration
    elif start is None:
        if states_from is None:
            raise BackfillRefusedError(
                "backfill_no_history", placeholders | {"start": "-"}
            )
        start = states_from
    start = dt_util.as_utc(start)
    placeholders["start"] = shown_time(start)
    if start >= end:
        raise BackfillRefusedError("backfill_empty_window", placeholders)
    if states_from is None or start < states_from:
        if not statistics_wanted:
            raise BackfillRefusedError(
                "backfill_not_covered"
                if states_from is not None
                else "backfill_no_history",
                placeholders,
            )
        uncovered_end = min(end, states_from) if states_from else end
        if not await instance.async_add_executor_job(
            _has_statistics, hass, entity_ids, start, uncovered_end
        ):
            raise BackfillRefusedError("backfill_no_statistics", placeholders)
    return Window(start, end, states_from)


def _oldest_state(hass: HomeAssistant, entity_ids: list[str]) -> datetime | None:
    """The time of the oldest state the recorder holds of any of the entities.

    Ascending with a limit of one: the oldest row, on every release.
    """
    oldest: datetime | None = None
    for entity_id in entity_ids:
        found = history.state_changes_during_period(
            hass,
            _EPOCH,
            None,
            entity_id,
            no_attributes=True,
            descending=False,
            limit=1,
            include_start_time_state=False,
        ).get(entity_id)
        if found and (oldest is None or found[0].last_updated < oldest):
            oldest = found[0].last_updated
    return oldest


def _has_statistics(
    hass: HomeAssistant, entity_ids: list[str], start: datetime, end: datetime
) -> bool:
    """Whether any of the entities has long-term statistics in the window."""
    for entity_id in entity_ids:
        found = statistics.statistic_during_period(
            hass, start, end, entity_id, {"max", "change"}, None
        )
        if any(value is not None for value in found.values()):
            return True
    return False


@dataclass(slots=True)
class _Signal:
    key: str
    convert: Callable[[State], float | None]


@dataclass(slots=True)
class _Entity:
    """The entity a backfill works on: what to read and where it goes."""

    entity_id: str
    signals: list[_Signal]
    # Per input key: readings from this time on were delivered live.
    until: dict[str, int]
    # Per phase: (start, end) in microseconds; empty when start >= end.
    phases: list[tuple[int, int]]
    # Per statistics period: statistic type -> input key.
    statistic_keys: dict[str, dict[StatisticType, str]] = field(default_factory=dict)
    step: timedelta = CHUNK_FIRST


@dataclass(slots=True)
class _Job:
    """A backfill under way, and its position."""

    entity_ids: list[str]
    start_us: int
    end_us: int
    states_from_us: int | None
    statistics: bool
    overwrite: bool
    index: int = 0
    phase: int = 0
    cursor: int | None = None
    queued: int = 0
    current: _Entity | None = None
    # Readings read and not yet in the buffer, and the end of their chunk.
    pending: list[tuple[str, array[int], array[float]]] = field(default_factory=list)
    chunk_end: int | None = None
    started: float = field(default_factory=_clock)

    def position(self) -> dict[str, Any]:
        return {
            "version": POSITION_VERSION,
            "entities": self.entity_ids,
            "start": self.start_us,
            "end": self.end_us,
            "states_from": self.states_from_us,
            "statistics": self.statistics,
            "overwrite": self.overwrite,
            "index": self.index,
            "phase": self.phase,
            "cursor": self.cursor,
            "queued": self.queued,
        }

    @classmethod
    def from_position(cls, saved: dict[str, Any]) -> _Job | None:
        """The job a saved position describes, or None if it makes no sense."""
        try:
            job = cls(
                entity_ids=[str(entity) for entity in saved["entities"]],
                start_us=int(saved["start"]),
                end_us=int(saved["end"]),
                states_from_us=(
                    None
                    if saved.get("states_from") is None
                    else int(saved["states_from"])
                ),
                statistics=bool(saved["statistics"]),
                overwrite=bool(saved["overwrite"]),
                index=int(saved["index"]),
                phase=int(saved["phase"]),
                cursor=None if saved.get("cursor") is None else int(saved["cursor"]),
                queued=int(saved.get("queued", 0)),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if saved.get("version") != POSITION_VERSION or not (
            0 <= job.phase < len(_PHASES)
        ):
            return None
        return job


class Backfill:
    """The backfills of one entry: at most one at a time."""

    def __init__(self, exporter: ClarifyExporter, saved: dict[str, Any] | None) -> None:
        """Bind to the exporter; a saved position resumes at `async_start`."""
        self.exporter = exporter
        self.hass = exporter.hass
        self._saved = saved
        self._job: _Job | None = None
        self._task: asyncio.Task[None] | None = None
        self._starting = False
        self._waiting = False
        self._stopped = False
        self._unsub_status: CALLBACK_TYPE | None = None
        self._unsub_started: CALLBACK_TYPE | None = None
        self._listeners: list[CALLBACK_TYPE] = []
        # What the status sensors show: of the running or the last backfill.
        self.queued = 0
        self.progress: float | None = None

    @property
    def running(self) -> bool:
        """Whether a backfill is under way (or being started)."""
        return self._job is not None or self._starting

    @property
    def backlog_limit(self) -> int:
        """Readings in the buffer above which no more are read."""
        return max(1, min(BACKLOG_MAX, self.exporter.buffer.capacity // 2))

    # ------------------------------------------------------------ lifecycle

    @callback
    def async_start(self) -> None:
        """Resume a backfill that an unload or a restart interrupted."""
        saved, self._saved = self._saved, None
        if saved is None:
            return
        job = _Job.from_position(saved)
        if job is None:
            _LOGGER.warning("The position of an interrupted backfill is unreadable")
            self.exporter.journal.async_backfill_position(None)
            return
        self._job = job
        self.queued = job.queued
        self._unsub_started = async_at_started(self.hass, self._async_resume)

    async def _async_resume(self, _hass: HomeAssistant) -> None:
        self._unsub_started = None
        job = self._job
        if job is None or self._stopped:
            return
        if (
            not recorder_loaded(self.hass)
            or not await get_instance(self.hass).async_db_ready
        ):
            _LOGGER.warning(
                "The backfill of %s cannot resume: the recorder does not run",
                self.exporter.entry.title,
            )
            self._async_end(job, completed=False)
            return
        _LOGGER.info(
            "Resuming the backfill of %s at entity %d of %d",
            self.exporter.entry.title,
            job.index + 1,
            len(job.entity_ids),
        )
        self._async_begin(job)

    async def async_stop(self) -> None:
        """Stop now; the journal keeps the position for the next start."""
        self._stopped = True
        for unsub in (self._unsub_status, self._unsub_started):
            if unsub is not None:
                unsub()
        self._unsub_status = self._unsub_started = None
        if (task := self._task) is not None:
            task.cancel()
            await asyncio.wait({task})
            self._task = None

    # ------------------------------------------------------------ requests

    async def async_request(
        self,
        entity_ids: list[str],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        duration: timedelta | None = None,
        statistics_wanted: bool = False,
        overwrite: bool = False,
    ) -> Window:
        """Check the window and start a backfill of tracked entities.

        Raises:
            BackfillRefusedError: one runs already, or the window is not
                covered.

        """
        self._refuse_if_running()
        self._starting = True
        try:
            window = await async_check_window(
                self.hass,
                entity_ids,
                start=start,
                end=end,
                duration=duration,
                statistics_wanted=statistics_wanted,
            )
        finally:
            self._starting = False
        self.async_start_window(
            entity_ids,
            window,
            statistics_wanted=statistics_wanted,
            overwrite=overwrite,
        )
        return window

    def _refuse_if_running(self) -> None:
        if self.running or self._stopped:
            raise BackfillRefusedError(
                "backfill_running",
                {
                    "title": self.exporter.entry.title,
                    "progress": f"{self.progress or 0:.0f}",
                },
            )

    @callback
    def async_start_window(
        self,
        entity_ids: list[str],
        window: Window,
        *,
        statistics_wanted: bool,
        overwrite: bool,
    ) -> None:
        """Start a backfill over a window `async_check_window` accepted.

        Each entity is looked up among the tracked ones when the backfill
        reaches it (never before this call returns), so entities that an
        options change being saved adds are found.

        Raises:
            BackfillRefusedError: one runs already.

        """
        self._refuse_if_running()
        job = _Job(
            entity_ids=list(entity_ids),
            start_us=datetime_to_us(window.start),
            end_us=datetime_to_us(window.end),
            states_from_us=(
                datetime_to_us(window.states_from) if window.states_from else None
            ),
            statistics=statistics_wanted,
            overwrite=overwrite,
        )
        _LOGGER.info(
            "Backfilling %d entities of %s from %s to %s%s",
            len(entity_ids),
            self.exporter.entry.title,
            window.start.isoformat(),
            window.end.isoformat(),
            " with long-term statistics" if statistics_wanted else "",
        )
        self._job = job
        self.queued = 0
        self.exporter.journal.async_backfill_position(job.position())
        self._async_begin(job)

    @callback
    def _async_begin(self, job: _Job) -> None:
        self.progress = self._progress(job)
        if self._unsub_status is None:
            self._unsub_status = self.exporter.async_add_status_listener(
                self._async_status_changed
            )
        self._async_kick()
        self._async_notify()

    @callback
    def _async_kick(self) -> None:
        if self._task is None and self._job is not None and not self._stopped:
            self._waiting = False
            # Not eager: the task must be recorded before its first step.
            self._task = self.exporter.entry.async_create_background_task(
                self.hass, self._async_work(), "Clarify backfill", eager_start=False
            )

    @callback
    def _async_status_changed(self) -> None:
        """After a send: read on if the buffer has room again."""
        job = self._job
        if self._waiting and job is not None and self._has_room(job):
            self._async_kick()

    def _has_room(self, job: _Job) -> bool:
        buffered = len(self.exporter.buffer)
        if not buffered:
            return True
        needed = len(job.pending[0][1]) if job.pending else 1
        return buffered + needed <= self.backlog_limit

    # ------------------------------------------------------------ the work

    async def _async_work(self) -> None:
        job = self._job
        try:
            assert job is not None
            await self._async_advance(job)
        except Exception:
            _LOGGER.exception(
                "The backfill of %s failed; readings queued so far are sent",
                self.exporter.entry.title,
            )
            if job is not None:
                self._async_end(job, completed=False)
        finally:
            self._task = None

    async def _async_advance(self, job: _Job) -> None:
        """Merge what was read, read on, until done or the buffer is full."""
        while not self._stopped:
            if job.chunk_end is None and not await self._async_read_next(job):
                self._async_end(job, completed=True)
                return
            if not await self._async_merge_pending(job):
                self._waiting = True
                self.exporter.sender.async_request_send()
                return

    async def _async_merge_pending(self, job: _Job) -> bool:
        """Merge the chunk's readings while there is room; return whether all went."""
        buffer = self.exporter.buffer
        while job.pending:
            if self._stopped:
                # Unloading: the position stays before this chunk.
                return False
            if not self._has_room(job):
                self._async_notify()
                return False
            key, times, values = job.pending.pop(0)
            job.queued += buffer.merge(key, times, values)
            self.queued = job.queued
            # A merge costs time in proportion to the key's backlog: let the
            # event loop breathe between slices.
            await asyncio.sleep(0)
        # The chunk is in the buffer: from here on the journal resumes after it.
        job.cursor, job.chunk_end = job.chunk_end, None
        self._save_position(job)
        self.exporter.sender.async_request_send()
        self._async_notify()
        return True

    def _save_position(self, job: _Job) -> None:
        self.progress = self._progress(job)
        self.exporter.journal.async_backfill_position(job.position())

    async def _async_read_next(self, job: _Job) -> bool:
        """Read the next chunk into `job.pending`; return False when done."""
        plans: dict[str, EntityPlan] | None = None
        while job.index < len(job.entity_ids):
            if job.current is None:
                if plans is None:
                    # An options change saved with this backfill may still be
                    # working out the entities it adds.
                    await self.exporter.listener.async_settled()
                    plans = {
                        plan.entity_id: plan for plan in self.exporter.listener.plans()
                    }
                job.current = await self._async_entity(
                    job, plans.get(job.entity_ids[job.index])
                )
                if job.current is None:
                    self._next_entity(job)
                    continue
            entity = job.current
            while job.phase < len(_PHASES):
                phase_start, phase_end = entity.phases[job.phase]
                cursor = phase_start if job.cursor is None else job.cursor
                cursor = max(cursor, phase_start)
                if cursor >= phase_end:
                    if job.phase == 0:
                        self._states_sent(job, entity)
                    job.phase += 1
                    job.cursor = None
                    continue
                await self._async_read_chunk(job, entity, cursor, phase_end)
                return True
            self._next_entity(job)
            self._save_position(job)
        return False

    def _next_entity(self, job: _Job) -> None:
        job.index += 1
        job.phase = 0
        job.cursor = None
        job.current = None

    async def _async_read_chunk(
        self, job: _Job, entity: _Entity, cursor: int, phase_end: int
    ) -> None:
        phase = _PHASES[job.phase]
        instance = get_instance(self.hass)
        if phase == "states":
            chunk_end = min(phase_end, cursor + entity.step // _ONE_US)
            chunk, count = await instance.async_add_executor_job(
                _read_states, self.hass, entity, cursor, chunk_end
            )
            # Aim at CHUNK_TARGET states per chunk.
            if count > CHUNK_TARGET:
                entity.step = max(CHUNK_MIN, entity.step / 2)
            elif count < CHUNK_TARGET // 4:
                entity.step = min(CHUNK_MAX, entity.step * 2)
        else:
            period: Period = "hour" if phase == "hour" else "5minute"
            span = HOURLY_CHUNK if period == "hour" else FIVE_MINUTE_CHUNK
            chunk_end = min(phase_end, cursor + span // _ONE_US)
            read = _StatisticsRead(
                entity.entity_id,
                period,
                entity.statistic_keys.get(period, {}),
                cursor,
                chunk_end,
            )
            chunk, count = await instance.async_add_executor_job(
                _read_statistics, self.hass, read
            )
        job.pending = _sliced(chunk, min(SLICE_MAX, max(1, self.backlog_limit // 4)))
        job.chunk_end = chunk_end
        _LOGGER.debug(
            "Backfill of %s, %s: %d rows from %s to %s give %d readings",
            entity.entity_id,
            phase,
            count,
            _us_to_datetime(cursor).isoformat(),
            _us_to_datetime(chunk_end).isoformat(),
            sum(len(times) for _, times, _ in job.pending),
        )

    async def _async_entity(self, job: _Job, plan: EntityPlan | None) -> _Entity | None:
        """Prepare the backfill of one entity, or None to pass it by."""
        entity_id = job.entity_ids[job.index]
        if plan is None or not plan.signals:
            _LOGGER.debug("Backfill: %s is not sent (any more); passed by", entity_id)
            return None
        state = self.hass.states.get(entity_id)
        options = ClarifyOptions.from_entry(self.exporter.entry)
        if (
            state is not None
            and not plan.picked
            and options.numeric_only
            and not sends_numbers(entity_id, state)
        ):
            return None
        signals = []
        state_signal: str | None = None
        for signal in plan.signals:
            conversion = conversion_for(
                entity_id, attribute=signal.attribute, state=state
            )
            signals.append(_Signal(signal.input_key, conversion.convert))
            if signal.attribute is None and conversion.kind == "numeric":
                state_signal = signal.input_key
        until = self._boundaries(job, [signal.key for signal in signals])
        phases = [
            (job.start_us, min(job.end_us, max(until.values()))),
            (0, 0),
            (0, 0),
        ]
        entity = _Entity(entity_id, signals, until, phases)
        if job.statistics and state_signal is not None:
            await self._async_prepare_statistics(job, entity, state_signal, state)
        return entity

    def _boundaries(self, job: _Job, keys: list[str]) -> dict[str, int]:
        """Per input key, the time from which readings went (or go) live."""
        if job.overwrite:
            return dict.fromkeys(keys, job.end_us)
        journal = self.exporter.journal
        now_us = datetime_to_us(dt_util.utcnow())
        # Readings from now on arrive live: fix that before sending older ones.
        journal.async_set_live_since(dict.fromkeys(keys, now_us))
        return {key: journal.live_since[key] for key in keys}

    def _states_sent(self, job: _Job, entity: _Entity) -> None:
        """All states up to the keys' boundaries went: move those back to the start.

        A later backfill of the same time then has nothing to send again.
        """
        journal = self.exporter.journal
        journal.async_set_live_since(
            {
                key: job.start_us
                for key in entity.until
                if job.end_us >= journal.live_since.get(key, job.end_us + 1)
            },
            lower=True,
        )

    async def _async_prepare_statistics(
        self, job: _Job, entity: _Entity, key: str, state: State | None
    ) -> None:
        """Find the entity's long-term statistics and describe their signals."""
        found = await get_instance(self.hass).async_add_executor_job(
            lambda: statistics.get_metadata(self.hass, statistic_ids={entity.entity_id})
        )
        if entity.entity_id not in found:
            return
        metadata = found[entity.entity_id][1]
        types: list[StatisticType] = []
        if metadata.get("mean_type") or metadata.get("has_mean"):
            types.extend(MEAN_TYPES)
        if metadata.get("has_sum"):
            types.extend(SUM_TYPES)
        unit = metadata.get("unit_of_measurement") or ""
        taken = {
            signal.input_key
            for plan in self.exporter.listener.plans()
            for signal in plan.signals
        }
        five_from = max(job.start_us, job.states_from_us or job.end_us)
        entity.phases[1] = (job.start_us, job.end_us)
        entity.phases[2] = (five_from, job.end_us)
        context = entity_context(self.hass, entity.entity_id)
        period: Period
        for period, suffix in _SUFFIXES:
            keys: dict[StatisticType, str] = {}
            for kind in types:
                stat_key = statistic_key(key, f"{kind}{suffix}")
                if stat_key in taken:
                    _LOGGER.warning(
                        "Backfill: %s is an input key of its own; the %s %s"
                        " statistics of %s are not sent",
                        stat_key,
                        period,
                        kind,
                        entity.entity_id,
                    )
                    continue
                keys[kind] = stat_key
                self.exporter.metadata.offer(
                    stat_key,
                    statistic_metadata(
                        entity.entity_id,
                        stat_key,
                        state=state,
                        context=context,
                        period=period,
                        kind=kind,
                        unit=unit,
                    ),
                )
            entity.statistic_keys[period] = keys

    # ------------------------------------------------------------ endings

    @callback
    def _async_end(self, job: _Job, *, completed: bool) -> None:
        """Finish (or give up) the backfill; what it queued is sent."""
        if self._job is not job:
            return
        self._job = None
        self._waiting = False
        if completed:
            self.progress = 100.0
        if self._unsub_status is not None:
            self._unsub_status()
            self._unsub_status = None
        self.exporter.journal.async_backfill_position(None)
        if completed:
            _LOGGER.info(
                "The backfill of %s is done: %d readings queued in %.0f s",
                self.exporter.entry.title,
                job.queued,
                _clock() - job.started,
            )
        self.exporter.sender.async_request_send()
        self._async_notify()

    def _progress(self, job: _Job) -> float:
        """How far the backfill is, in percent, by entities and their phases."""
        if not job.entity_ids:
            return 100.0
        done = float(job.index)
        if (entity := job.current) is not None:
            active = [
                (number, start, end)
                for number, (start, end) in enumerate(entity.phases)
                if end > start
            ]
            finished = 0.0
            for number, start, end in active:
                if number < job.phase:
                    finished += 1
                elif number == job.phase and job.cursor is not None:
                    finished += max(0, min(job.cursor, end) - start) / (end - start)
            done += finished / len(active) if active else 1.0
        return round(min(100.0, 100.0 * done / len(job.entity_ids)), 1)

    @callback
    def async_add_listener(self, update: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `update` when the progress changes; returns the remover."""
        self._listeners.append(update)
        return lambda: self._listeners.remove(update)

    @callback
    def _async_notify(self) -> None:
        for update in list(self._listeners):
            update()


# ---------------------------------------------------------------- in the executor


def _read_states(
    hass: HomeAssistant, entity: _Entity, start_us: int, end_us: int
) -> tuple[dict[str, tuple[array[int], array[float]]], int]:
    """Readings of an entity's recorded states in [start, end), per input key.

    The recorder's query excludes its start time, so it starts a microsecond
    early. Every state row counts, attribute changes included: an attribute
    signal changes with them, as live.
    """
    found = history.get_significant_states(
        hass,
        _us_to_datetime(start_us) - _ONE_US,
        _us_to_datetime(end_us),
        [entity.entity_id],
        include_start_time_state=False,
        significant_changes_only=False,
        minimal_response=False,
        no_attributes=False,
    ).get(entity.entity_id, [])
    readings: dict[str, tuple[array[int], array[float]]] = {
        signal.key: (array("q"), array("d")) for signal in entity.signals
    }
    until = entity.until
    # Full states, as minimal_response is off.
    for state in cast("list[State]", found):
        time_us = reading_time_us(state)
        if not start_us <= time_us < end_us:
            continue
        for signal in entity.signals:
            if time_us >= until[signal.key]:
                continue
            if (value := signal.convert(state)) is None:
                continue
            times, values = readings[signal.key]
            times.append(time_us)
            values.append(value)
    return readings, len(found)


@dataclass(frozen=True, slots=True)
class _StatisticsRead:
    """Which statistics of one entity to read, and where they go."""

    statistic_id: str
    period: Period
    keys: dict[StatisticType, str]
    start_us: int
    end_us: int


def _read_statistics(
    hass: HomeAssistant, read: _StatisticsRead
) -> tuple[dict[str, tuple[array[int], array[float]]], int]:
    """Readings of an entity's statistics of one period in [start, end)."""
    keys = read.keys
    if not keys:
        return {}, 0
    rows = statistics.statistics_during_period(
        hass,
        _us_to_datetime(read.start_us),
        _us_to_datetime(read.end_us),
        {read.statistic_id},
        read.period,
        None,
        set(keys),
    ).get(read.statistic_id, [])
    readings: dict[str, tuple[array[int], array[float]]] = {
        key: (array("q"), array("d")) for key in keys.values()
    }
    for row in rows:
        time_us = round(row["start"]) * _US
        for kind, key in keys.items():
            value = row.get(kind)
            if isinstance(value, int | float) and math.isfinite(value):
                times, values = readings[key]
                times.append(time_us)
                values.append(float(value))
    return readings, len(rows)


# ---------------------------------------------------------------- helpers


def _sliced(
    readings: dict[str, tuple[array[int], array[float]]], size: int
) -> list[tuple[str, array[int], array[float]]]:
    return [
        (key, times[offset : offset + size], values[offset : offset + size])
        for key, (times, values) in readings.items()
        for offset in range(0, len(times), size)
    ]


def _us_to_datetime(time_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=time_us)


def statistic_key(key: str, suffix: str) -> str:
    """The input key of a statistic of a signal: ``<key>:<suffix>``, valid."""
    candidate = f"{key}:{suffix}"
    return candidate if is_valid_input_key(candidate) else default_input_key(candidate)


def statistic_metadata(
    entity_id: str,
    key: str,
    *,
    state: State | None,
    context: SignalContext,
    period: str,
    kind: StatisticType,
    unit: str,
) -> dict[str, Any]:
    """The full SignalSave of one statistic of an entity's state."""
    metadata = signal_metadata(
        entity_id, key, conversion_for(entity_id, state=state), state, context=context
    )
    name = f"{metadata['name']} {_PERIOD_NAMES[period].lower()} {_TYPE_NAMES[kind]}"
    metadata["name"] = name[:128]
    metadata["description"] = (
        f"{_PERIOD_NAMES[period]} {_TYPE_NAMES[kind]} of Home Assistant entity"
        f" {entity_id}, from the recorder's long-term statistics: each point is"
        f" {_TYPE_DESCRIPTIONS[kind]} that starts at its time."
    )[:1000]
    metadata["engUnit"] = unit[:128]
    metadata["sourceType"] = "aggregation"
    metadata["sampleInterval"] = _PERIOD_DURATIONS[period]
    metadata["gapDetection"] = None
    metadata["annotations"] = {
        **metadata["annotations"],
        ANNOTATION_STATISTIC: kind,
        ANNOTATION_PERIOD: period,
    }
    return metadata
