"""The bounded sample buffer and the frame builder.

Readings wait here between Home Assistant's state machine and Clarify. The module is
pure (standard library and orjson), so it is fast to test and to reason about:

- `SampleBuffer.series` resolves an input key once, at setup; the handle's
  `append` is the hot path, called from the event loop for every state change.
- Per key, at most one reading per UTC second is kept: the last one appended wins,
  as Clarify asks for at most one sample per second per signal.
- The buffer is bounded: beyond its capacity the oldest pending reading is dropped,
  and every drop is counted, overall and per key.
- `SampleBuffer.take_frame` packs pending readings into the ``data`` object of one
  `integration.insert` request. The readings stay in the buffer, in flight, until
  the request's fate is known: `confirm` removes them, `release` puts them back,
  `reject` removes only the series Clarify refused. Delivery is at least once.
  Given the sender's `Pace`, it packs for bytes rather than for requests: see
  "Packing" below.
- Every change that a crash must not undo reaches the write-ahead journal
  through `drain_journal`: the readings appended since it last drained, each
  reading dropped for lack of room. An append at the end of a series (nearly
  all of them) is found there, in the series' arrays, so it writes no log of
  its own; `confirm` and `reject` return the readings they removed. Readings
  placed with `load_series` or `merge(..., journal=False)` are already on disk
  and are not logged.

Times are integer microseconds since the Unix epoch, UTC (see `datetime_to_us`);
values are finite floats. The caller guarantees both: checking them here would
tax every state change for a mistake the caller makes once.

Packing
-------
`integration.insert` takes a dense matrix: every series has a cell, a value or
``null``, for every time in the request. Home Assistant's readings carry
microsecond times that never coincide between entities, so a request of K keys
with distinct times holds (K - 1) nulls per reading: null cells, not readings,
are what a frame of many keys costs. In general a frame of K keys, T times and R
readings has K * T - R nulls, and T <= R, so its nulls never exceed (K - 1) * R.

So a paced frame holds as few keys as the rate limit allows. A key is due
`Pace.horizon_us` after its oldest pending reading; requests leave one per
`Pace.slot_us`, and take keys oldest first (earliest deadline first).
`Pace.schedule` finds per_request, the fewest keys per request that has every
key leave before it is due (and a backlog of overdue keys gone within a
horizon), and how many of them this request must take. The frame then takes
keys in that order, each with all its pending readings, while

- the frame's nulls stay at most max(`NULL_ALLOWANCE`, per_request - 1) times
  its readings: the bound every paced frame keeps;
- a key adds at most twice that many nulls per reading it brings, unless it is
  due in this very request (so one key of many readings is not padded with
  the rows of many keys of one reading each);
- the encoded size stays within ``max_bytes``, and the work of building it,
  its cells (keys x times) plus `TIME_WORK` per time, within `Pace.max_work`:
  that bounds how long one call holds the event loop.

Keys that share times (one clock) add no nulls, so they fill a frame densely
whatever their number; the key with the oldest pending reading always goes
first, so no reading waits behind newer ones.
"""

from __future__ import annotations

from array import array
import base64
import binascii
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
import heapq
import itertools
from itertools import repeat
import math
from operator import add, floordiv, rshift
import sys
from types import MappingProxyType
from typing import Any, Final, NamedTuple, Protocol, TypeIs

import orjson

DEFAULT_CAPACITY: Final = 1_440_000
"""A day of 1,000 entities reporting once a minute."""

DEFAULT_FRAME_BYTES: Final = 4 * 1024 * 1024
"""Half of the ~8 MiB Clarify accepts per request."""

STORAGE_VERSION: Final = 1
"""The version of the format `SampleBuffer.to_dict` writes."""

NULL_ALLOWANCE: Final = 4
"""Nulls per reading a paced frame may always hold (20 bytes a reading at most).

Enough for a few keys of distinct times to share a request when the rate limit
does not ask for it: a quiet installation sends a handful of requests per
interval rather than one per key."""

TIME_WORK: Final = 64
"""What a frame's time costs to build and encode, in cells: a cell (a value or a
null) takes some 12 ns, a time (sorted, formatted, placed) some 0.8 us."""

FRAME_WORK: Final = 2**18
"""The work of one paced frame at most, in cells (see `TIME_WORK`): about 3 ms on
a quiet machine here, so a take stays within a 20 ms event-loop slice on a busy
or slower one. 1,000 keys x 60 shared times still make one frame; a key of more
than 4,000 readings goes in pieces; a day's backlog of one reading a minute,
two keys a frame (its 1,440,000 readings leave in about ten minutes)."""

# How far past the last key a paced frame has room for looks for keys whose
# times it already holds, before it gives up.
_SCAN_KEYS: Final = 64
# Ordering keys of series: the oldest pending time above a series' place.
_PLACE_BITS: Final = 32
_PLACE_MASK: Final = (1 << _PLACE_BITS) - 1

_US: Final = 1_000_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE: Final = date(1970, 1, 1)
_ONE_US: Final = timedelta(microseconds=1)
# The range `datetime` can represent; a restored time outside it could not be
# formatted.
_MIN_US: Final = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _ONE_US
_MAX_US: Final = (
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH
) // _ONE_US
# Above every valid time: marks a series with no entry in the drop queue.
_UNQUEUED: Final = _MAX_US + 1
# Below every valid second: the newest pending second of a series with none.
_NOTHING_PENDING: Final = _MIN_US // _US - 1
# Upper bounds of the encoded size of each part of a frame, separators included:
# `{"times":[],"series":{}}`; a quoted time and its comma; the longest number
# orjson writes (e.g. -1.2345678901234567e-300) and its comma; `null,`; and
# `:[],` around each key besides the key itself.
_FRAME_BYTES: Final = 24
_TIME_BYTES: Final = 30
_NUMBER_BYTES: Final = 25
_NULL_BYTES: Final = 5
_KEY_BYTES: Final = 4
# Dropping from the front of a series only advances an offset; the dead prefix is
# cut off once it is at least this long and half of the series.
_COMPACT_AFTER: Final = 64
# The drop queue is rebuilt once it holds this many entries more than two per key.
_QUEUE_SLACK: Final = 64


def datetime_to_us(moment: datetime) -> int:
    """Convert an aware datetime to integer microseconds since the Unix epoch.

    Exact, unlike scaling `datetime.timestamp`, whose float is a microsecond
    short for some times.
    """
    return (moment - _EPOCH) // _ONE_US


def format_time(time_us: int) -> str:
    """Format a time as RFC 3339 in UTC with exactly six fractional digits."""
    return _format_times((time_us,))[0]


def _format_times(times: Iterable[int]) -> list[str]:
    """Format sorted times: each day's text computed once, the clock from tables."""
    formatted: list[str] = []
    append = formatted.append
    clock = _CLOCK
    last_day = None
    day_text = ""
    for time_us in times:
        second, micro = divmod(time_us, _US)
        day, second_of_day = divmod(second, 86_400)
        if day != last_day:
            last_day = day
            day_text = (_EPOCH_DATE + timedelta(days=day)).isoformat()
        minute, second_of_minute = divmod(second_of_day, 60)
        # zfill is twice as fast as a format specifier, and this runs per reading.
        append(
            f"{day_text}{clock[minute]}{_SECONDS[second_of_minute]}{str(micro).zfill(6)}Z"
        )
    return formatted


# "Thh:mm:" for every minute of a day, and "ss." for every second of a minute.
_CLOCK: Final = tuple(
    f"T{minute // 60:02d}:{minute % 60:02d}:" for minute in range(1440)
)
_SECONDS: Final = tuple(f"{second:02d}." for second in range(60))


class BufferFormatError(ValueError):
    """Saved buffer data is not something `SampleBuffer.to_dict` wrote."""

    def __init__(self, problem: str) -> None:
        """Say what is wrong with the data."""
        super().__init__(f"Unusable saved buffer: {problem}")


class Series(Protocol):
    """The write handle of one input key, resolved once at setup."""

    @property
    def key(self) -> str:
        """The input key the readings are sent under."""

    def append(self, time_us: int, value: float, /) -> None:
        """Buffer one reading; a later one in the same UTC second replaces it.

        The hot path, O(1): the caller passes a time `datetime` can represent
        and a finite value, and nothing here checks either.
        """


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One `integration.insert` request's worth of readings, in flight.

    The readings stay in the buffer until the frame is handed back to `confirm`,
    `release` or `reject`.

    Attributes:
        data_json: The request's ``data`` object, for
            `ClarifyClient.insert_encoded`; never longer than the ``max_bytes``
            it was taken with.
        keys: The input keys in the frame, the one with the oldest reading first.
        sample_count: How many readings the frame holds.
        oldest_us: The frame's first time.
        newest_us: The frame's last time.

    """

    data_json: bytes = field(repr=False)
    keys: tuple[str, ...]
    sample_count: int
    oldest_us: int
    newest_us: int


@dataclass(frozen=True, slots=True)
class Pace:
    """How fast a sender's requests follow one another, and how late a reading may be.

    Attributes:
        now_us: The time of the request being built.
        slot_us: The time from one request to the next while a send goes on:
            Clarify's spacing between requests plus the time a request takes.
        horizon_us: How long after its time a reading may leave at the latest.
        max_work: The most work one frame may take to build: its cells (keys x
            times) plus `TIME_WORK` per time. The bound on how long one
            `SampleBuffer.take_frame` call runs.
        fill: Take as much as fits within `max_work`, whatever the nulls: for
            when sending now matters more than bytes (the flush action, the
            last request before a stop).

    """

    now_us: int
    slot_us: int
    horizon_us: int
    max_work: int = FRAME_WORK
    fill: bool = False

    @classmethod
    def for_sender(
        cls, now_us: int, interval: float, spacing: float, max_work: int = FRAME_WORK
    ) -> Pace:
        """Return the pace of a sender that sends every `interval` seconds.

        Its requests leave at least `spacing` seconds apart (Clarify's rate
        limit), and each takes up to a quarter of that on top: that is a slot.
        A reading must be in Clarify within two intervals of its time, so it
        must leave two slots before that.
        """
        slot_us = max(1, round(spacing * 1.25 * _US))
        interval_us = round(interval * _US)
        horizon_us = max(slot_us, 2 * interval_us - 2 * slot_us)
        return cls(now_us, slot_us, horizon_us, max_work)

    def schedule(self, oldest_times: Iterable[int]) -> tuple[int, int]:
        """Return how many keys must be in this request, and the keys per request.

        `oldest_times` are the oldest pending times of the keys, in any order.
        Keys leave oldest first, `per_request` of them per request, one request
        per slot from now: so the key of rank r (from 0) leaves in request
        r // per_request. A key is due `horizon_us` after its oldest reading
        and must leave in the last request before that; overdue keys (a
        backlog) have no deadline left but must all be gone within a horizon.
        `per_request` is the fewest keys per request that keeps all that, and
        `due` the fewest keys this request must take for the later requests,
        `per_request` keys each, to keep it.
        """
        slot = self.slot_us
        slots = max(1, self.horizon_us // slot)
        # The last request (from now, 0 first) each key may leave in: overdue
        # keys land below 0, and keys that may wait a horizon or longer are
        # all counted at `slots`. Counted in C: this runs per key.
        latest = Counter(
            map(
                floordiv,
                map(add, oldest_times, repeat(self.horizon_us - self.now_us)),
                repeat(slot),
            )
        )
        overdue = sum(count for request, count in latest.items() if request < 0)
        # (last request, keys up to and including those that must leave in it)
        limits: list[tuple[int, int]] = []
        ranked = overdue
        for request, count in sorted(latest.items()):
            if request >= 0:
                ranked += count
                limits.append((min(request, slots), ranked))
        per_request = max(
            1,
            -(-overdue // slots),
            *(-(-ranked // (request + 1)) for request, ranked in limits),
        )
        due = max(
            0,
            overdue - (slots - 1) * per_request,
            *(ranked - request * per_request for request, ranked in limits),
        )
        return due, per_request


class Readings(NamedTuple):
    """Readings of one input key: times and values, in step."""

    key: str
    times: array[int]
    values: array[float]


# `Readings(...)` runs NamedTuple's `__new__`, Python code that costs more than
# the rest of handing a key's new readings to the journal; this does not.
_readings: Final[Callable[[tuple[str, array[int], array[float]]], Readings]] = partial(
    tuple.__new__, Readings
)


class JournalBatch(NamedTuple):
    """What changed in a buffer since the journal last drained it.

    Attributes:
        appended: Every reading appended, per key in the order of appending;
            within a key and a UTC second the last one is what the buffer holds.
        dropped: Readings dropped for lack of room, as (key, time, value).

    """

    appended: list[Readings]
    dropped: list[tuple[str, int, float]]


class SampleBuffer:
    """Readings waiting to be sent to Clarify, bounded and counted.

    Not thread safe: everything runs in Home Assistant's event loop.
    """

    __slots__ = ("_flight", "_frame", "_ledger")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        """Create an empty buffer that holds at most `capacity` readings."""
        self._ledger = _Ledger(_checked_capacity(capacity))
        self._frame: Frame | None = None
        self._flight: tuple[_Series, ...] = ()

    def series(self, key: str) -> Series:
        """Return the write handle of an input key, creating it on first use.

        The key is sent as it is: checking it against Clarify's pattern is the
        caller's job.
        """
        if (series := self._ledger.series.get(key)) is None:
            series = self._ledger.add_series(key)
        return series

    def set_min_interval(self, key: str, seconds: int) -> None:
        """Keep at most one reading of `key` per `seconds`, the last one appended.

        Windows are whole multiples of `seconds` since the epoch; 0 or 1 means
        one per second. Applies to readings appended from now on.
        """
        series = self.series(key)
        assert isinstance(series, _Series)
        window_us = max(1, seconds) * _US
        if window_us != series.window_us:
            series.window_us = window_us
            times = series.times
            series.window = (
                times[-1] // window_us if len(times) > series.head else _NOTHING_PENDING
            )

    def __len__(self) -> int:
        """Return the number of readings buffered, in flight included."""
        return self._ledger.count

    @property
    def capacity(self) -> int:
        """The most readings the buffer holds, in flight included."""
        return self._ledger.capacity

    @capacity.setter
    def capacity(self, capacity: int) -> None:
        """Change the bound; the oldest pending readings beyond it are dropped now."""
        ledger = self._ledger
        ledger.capacity = _checked_capacity(capacity)
        ledger.shed()

    @property
    def dropped(self) -> int:
        """How many readings were dropped for lack of room, ever."""
        return self._ledger.dropped

    @property
    def dropped_by_key(self) -> Mapping[str, int]:
        """How many readings of each input key were dropped for lack of room."""
        return MappingProxyType(self._ledger.dropped_by_key)

    @property
    def oldest_us(self) -> int | None:
        """The time of the oldest reading buffered, in flight included."""
        return min(
            (
                oldest
                for series in self._ledger.series.values()
                if (oldest := series.oldest()) is not None
            ),
            default=None,
        )

    @property
    def in_flight(self) -> Frame | None:
        """The frame taken and not yet confirmed, released or rejected."""
        return self._frame

    def counts_by_key(self) -> dict[str, int]:
        """Return how many readings each input key has buffered, in flight included."""
        return {
            key: count
            for key, series in self._ledger.series.items()
            if (count := series.count())
        }

    def take_frame(
        self,
        max_bytes: int = DEFAULT_FRAME_BYTES,
        keys: Collection[str] | None = None,
        *,
        pace: Pace | None = None,
    ) -> Frame | None:
        """Pack pending readings into a frame and mark them in flight.

        Clarify's format is a dense matrix: one value or null per key per time.
        Keys go in the order of their oldest pending reading, each with all its
        pending readings, for as long as a conservative estimate of the encoded
        size stays within `max_bytes`. Without `pace`, that is all the rule:
        as few requests as the size allows, whatever the nulls. With `pace`
        (what a sender passes), the frame holds as few keys as the rate limit
        allows (see "Packing" in the module's description), within
        `Pace.max_work`: call again for the next frame as long as one comes
        back, one request per slot (`Pace.fill` takes as much as that work
        allows, as without `pace`). The key with the oldest pending
        reading is always in the frame; a key too big on its own contributes
        its oldest readings. With `keys`, only those keys' readings are
        considered. Return None when nothing (of them) is pending.

        Raises:
            RuntimeError: another frame is still in flight.
            ValueError: `max_bytes` cannot hold even one reading.

        """
        if self._frame is not None:
            raise RuntimeError("A frame is already in flight")
        chosen, time_set = self._pack(max_bytes, keys, pace)
        if not chosen:
            return None

        frame_times = sorted(time_set)
        all_times = array("q", frame_times)
        index: dict[int, int] | None = None
        rows: dict[str, Sequence[float | None]] = {}
        for series, count in chosen:
            times, values = series.take(count)
            if times == all_times:
                # Keys that share every time (a common clock) need no placing.
                rows[series.key] = values.tolist()
                continue
            if index is None:
                index = {time_us: column for column, time_us in enumerate(frame_times)}
            row: list[float | None] = [None] * len(frame_times)
            for time_us, value in zip(times, values, strict=True):
                row[index[time_us]] = value
            rows[series.key] = row

        self._flight = tuple(series for series, _ in chosen)
        self._frame = Frame(
            data_json=orjson.dumps(
                {"times": _format_times(frame_times), "series": rows}
            ),
            keys=tuple(rows),
            sample_count=sum(count for _, count in chosen),
            oldest_us=frame_times[0],
            newest_us=frame_times[-1],
        )
        return self._frame

    def _pack(
        self,
        max_bytes: int,
        keys: Collection[str] | None,
        pace: Pace | None,
    ) -> tuple[list[tuple[_Series, int]], set[int]]:
        """Choose the series of a frame, how many readings of each, and the times."""
        ledger = self._ledger
        pool: list[_Series]
        if keys is None:
            pool = list(ledger.series.values())
        else:
            pool = sorted(
                {
                    series
                    for key in keys
                    if (series := ledger.series.get(key)) is not None
                },
                key=_registration,
            )
        # Series are registered in `seq` order, so a series' place in `pool` breaks
        # ties between oldest times as `seq` does. One integer per series is
        # cheaper to build and order than a tuple; a heap orders only as many as
        # the frame looks at.
        order = [
            (series.times[series.head] << _PLACE_BITS) | place
            for place, series in enumerate(pool)
            if len(series.times) > series.head
        ]
        if not order:
            return [], set()
        max_work = None if pace is None else pace.max_work
        if pace is None or pace.fill:
            # No limit but the size (and the work): the nulls may be what they may.
            due = len(order)
            allowance: int | None = None
        else:
            due, per_request = pace.schedule(map(rshift, order, repeat(_PLACE_BITS)))
            allowance = max(NULL_ALLOWANCE, per_request - 1)
        pop: Callable[[], int]
        if allowance is None:
            # Every key is looked at in turn until one does not fit: one sort
            # costs less than a heap's pops.
            order.sort(reverse=True)
            pop = order.pop
        else:
            heapq.heapify(order)
            pop = partial(heapq.heappop, order)
        budget = max_bytes - _FRAME_BYTES
        chosen: list[tuple[_Series, int]] = []
        frame_times: set[int] = set()
        key_bytes = samples = nulls = 0
        previous: array[int] | None = None
        passed = 0
        position = -1
        while order:
            series = pool[pop() & _PLACE_MASK]
            position += 1
            # The pending readings; a view (no copy) when there is no dead prefix.
            pending = series.times if not series.head else series.times[series.head :]
            count = len(pending)
            # Keys fed by one clock have the same times: comparing is cheaper than
            # looking for new ones.
            if pending == previous:
                new = 0
            elif not frame_times:
                new = count
            else:
                new = count - len(frame_times.intersection(pending))
            key_count = len(chosen) + 1
            time_count = len(frame_times) + new
            sample_count = samples + count
            null_count = key_count * time_count - sample_count
            if chosen and allowance is not None:
                # The rows there are get a null per new time, this one a null
                # per time it has no reading at.
                added = null_count - nulls
                if null_count > allowance * sample_count or (
                    position >= due and added > 2 * allowance * count
                ):
                    passed += 1
                    if passed >= _SCAN_KEYS:
                        break
                    continue
            size = (
                key_bytes
                + series.frame_bytes
                + time_count * _TIME_BYTES
                + sample_count * _NUMBER_BYTES
                + null_count * _NULL_BYTES
            )
            if size <= budget and (
                max_work is None or (key_count + TIME_WORK) * time_count <= max_work
            ):
                chosen.append((series, count))
                if new:
                    frame_times.update(pending)
                key_bytes += series.frame_bytes
                samples = sample_count
                nulls = null_count
                previous = pending
                passed = 0
                continue
            if not chosen:
                # Alone, a key has no nulls: its times are sorted and unique.
                count = (budget - series.frame_bytes) // (_TIME_BYTES + _NUMBER_BYTES)
                if count < 1:
                    raise ValueError(f"max_bytes={max_bytes} cannot hold a reading")
                if max_work is not None:
                    # A reading at least, whatever the bound: sending goes on.
                    count = max(1, min(count, max_work // (1 + TIME_WORK)))
                chosen.append((series, count))
                frame_times.update(pending[:count])
            break
        return chosen, frame_times

    def confirm(self, frame: Frame) -> list[Readings]:
        """Forget the frame's readings: Clarify has stored them.

        Return, per input key, the readings the journal should forget too:
        all of them but those whose second has a reading still waiting, which
        the journal keeps in their place.
        """
        confirmed: list[Readings] = []
        for series in self._land(frame):
            readings = series.unshadowed(
                Readings(series.key, series.flight_times, series.flight_values)
            )
            self._ledger.count -= series.discard_flight()
            if readings.times:
                confirmed.append(readings)
        return confirmed

    def unshadowed(self, removed: list[Readings]) -> list[Readings]:
        """Keep the readings whose UTC second has no reading waiting in the buffer.

        For readings just taken out: in the journal, a waiting reading of the
        same second holds their place, and must stay.
        """
        result: list[Readings] = []
        for readings in removed:
            series = self._ledger.series.get(readings.key)
            kept = readings if series is None else series.unshadowed(readings)
            if kept.times:
                result.append(kept)
        return result

    def release(self, frame: Frame) -> None:
        """Make the frame's readings pending again, as if never taken."""
        for series in self._land(frame):
            series.unfreeze()
        self._ledger.shed()

    def reject(self, frame: Frame, keys: Iterable[str]) -> list[Readings]:
        """Take the frame's readings of `keys` out of the buffer; release the rest.

        For series Clarify refused as invalid: sending them again would fail
        again and hold back the others. Return the readings taken out, per
        input key, for the caller to set aside.
        """
        refused = set(keys)
        rejected: list[Readings] = []
        for series in self._land(frame):
            if series.key in refused:
                times, values = series.flight_times, series.flight_values
                self._ledger.count -= series.discard_flight()
                rejected.append(Readings(series.key, times, values))
            else:
                series.unfreeze()
        self._ledger.shed()
        return rejected

    def readings(self) -> list[Readings]:
        """Return copies of every reading buffered, in flight included, per key."""
        return [
            Readings(key, *series.snapshot())
            for key, series in self._ledger.series.items()
            if series.count()
        ]

    def restore_drop_counts(
        self, dropped: int, dropped_by_key: Mapping[str, int]
    ) -> None:
        """Carry the drop counts of an earlier run over to this buffer."""
        ledger = self._ledger
        ledger.dropped += dropped
        for key, count in dropped_by_key.items():
            ledger.dropped_by_key[key] = ledger.dropped_by_key.get(key, 0) + count

    def drain_journal(self) -> JournalBatch:
        """Hand over what changed since the last call, for the journal to write.

        Cost is proportional to the number of input keys and the readings
        changed since, never to the readings buffered.
        """
        ledger = self._ledger
        # Most keys have nothing new at a write: two reads tell.
        appended = [
            readings
            for series in ledger.series.values()
            if (len(series.times) > series.journaled or series.log_times)
            and (readings := series.drain_log()) is not None
        ]
        drops, ledger.drops = ledger.drops, []
        # The journal applies a batch's appends before its drops: a reading
        # dropped and then appended again, the very same, must not be taken
        # off the disk by its drop while the buffer holds it.
        held = ledger.series
        kept = [
            (key, time_us, value)
            for key, time_us, value in drops
            if key not in held or not held[key].holds(time_us, value)
        ]
        return JournalBatch(appended, kept)

    def load_series(self, key: str, times: array[int], values: array[float]) -> None:
        """Place readings restored from disk; they are not logged again.

        `times` must be sorted with at most one reading per UTC second, and the
        key must have no readings yet. Readings beyond the capacity are
        dropped, oldest first, and logged as drops.

        Raises:
            BufferFormatError: the readings break those rules.

        """
        if len(times) != len(values):
            raise BufferFormatError(f"series {key!r} lengths differ")
        if not times:
            return
        if not _is_coalesced(times):
            raise BufferFormatError(f"series {key!r} is not sorted by second")
        if times[0] < _MIN_US or times[-1] > _MAX_US:
            raise BufferFormatError(f"series {key!r} time out of range")
        series = self.series(key)
        assert isinstance(series, _Series)
        if series.count():
            raise BufferFormatError(f"series {key!r} is already loaded")
        series.load(times, values)
        self._ledger.shed()

    def merge(
        self,
        key: str,
        times: Iterable[int],
        values: Iterable[float],
        *,
        journal: bool = True,
    ) -> int:
        """Add older readings without replacing any the key already has.

        For readings that come back (set aside earlier) or come late (history):
        a reading in a UTC second for which the key already holds one, pending
        or in flight, is skipped; among the given ones the last of each second
        wins. With `journal`, the readings added are logged like appended
        ones. Return how many were added.
        """
        series = self.series(key)
        assert isinstance(series, _Series)
        taken = {
            time_us // _US
            for time_us in itertools.chain(
                series.flight_times, series.times[series.head :]
            )
        }
        incoming = {
            time_us // _US: (time_us, value)
            for time_us, value in zip(times, values, strict=True)
        }
        added = sorted(
            reading for second, reading in incoming.items() if second not in taken
        )
        if not added:
            return 0
        new_times = array("q", [reading[0] for reading in added])
        new_values = array("d", [reading[1] for reading in added])
        series.log_tail()
        if journal:
            series.log_times.extend(new_times)
            series.log_values.extend(new_values)
        pending_times = series.times[series.head :]
        pending_values = series.values[series.head :]
        merged = sorted(
            itertools.chain(
                zip(pending_times, pending_values, strict=True),
                zip(new_times, new_values, strict=True),
            )
        )
        series.replace_pending(
            array("q", [reading[0] for reading in merged]),
            array("d", [reading[1] for reading in merged]),
        )
        self._ledger.count += len(added)
        self._ledger.shed()
        return len(added)

    def _land(self, frame: Frame) -> tuple[_Series, ...]:
        """End the flight of `frame` and return its series."""
        if frame is not self._frame:
            raise ValueError("This frame is not the one in flight")
        flight = self._flight
        self._frame = None
        self._flight = ()
        return flight

    def to_dict(self) -> dict[str, Any]:
        """Return the buffer as JSON-compatible data for `from_dict`.

        Readings in flight are saved as pending: after a restart nobody knows
        whether they arrived. Arrays are stored as base64 of little-endian bytes.
        """
        series: dict[str, list[str]] = {}
        for key, item in self._ledger.series.items():
            times, values = item.snapshot()
            if times:
                series[key] = [_encode_array(times), _encode_array(values)]
        return {
            "version": STORAGE_VERSION,
            "series": series,
            "dropped": self._ledger.dropped,
            "dropped_by_key": dict(self._ledger.dropped_by_key),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], capacity: int = DEFAULT_CAPACITY
    ) -> SampleBuffer:
        """Restore a buffer saved by `to_dict`.

        Readings beyond `capacity` are dropped, oldest first, and counted.

        Raises:
            BufferFormatError: `data` is not something `to_dict` wrote (a
                `ValueError`).

        """
        if not isinstance(data, Mapping) or data.get("version") != STORAGE_VERSION:
            raise BufferFormatError("unknown format or version")
        saved_series = data.get("series")
        dropped = data.get("dropped")
        dropped_by_key = data.get("dropped_by_key")
        if not isinstance(saved_series, Mapping) or not isinstance(
            dropped_by_key, Mapping
        ):
            raise BufferFormatError("series or dropped_by_key missing")
        if not _is_count(dropped) or not all(
            isinstance(key, str) and _is_count(count)
            for key, count in dropped_by_key.items()
        ):
            raise BufferFormatError("drop counts are not counts")

        buffer = cls(capacity)
        ledger = buffer._ledger
        ledger.dropped = dropped
        ledger.dropped_by_key.update(dropped_by_key)
        for key, arrays in saved_series.items():
            if not isinstance(key, str) or not key:
                raise BufferFormatError("an input key is not a non-empty string")
            if not isinstance(arrays, list | tuple) or len(arrays) != 2:
                raise BufferFormatError(f"series {key!r} is not a pair of arrays")
            times = _decode_array("q", arrays[0], key)
            values = _decode_array("d", arrays[1], key)
            if len(times) != len(values):
                raise BufferFormatError(f"series {key!r} lengths differ")
            if not all(map(math.isfinite, values)):
                raise BufferFormatError(f"series {key!r} value not finite")
            if not times:
                continue
            if not _is_coalesced(times):
                times, values = _coalesce(times, values)
            if times[0] < _MIN_US or times[-1] > _MAX_US:
                raise BufferFormatError(f"series {key!r} time out of range")
            ledger.add_series(key).load(times, values)
        ledger.shed()
        return buffer


def _registration(series: _Series) -> int:
    return series.seq


def _checked_capacity(capacity: int) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"Capacity must be a positive integer, not {capacity!r}")
    return capacity


def _is_count(value: object) -> TypeIs[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _encode_array(items: array[Any]) -> str:
    if sys.byteorder == "big":
        items = array(items.typecode, items)
        items.byteswap()
    return base64.b64encode(items.tobytes()).decode("ascii")


def _decode_array(typecode: str, text: object, key: str) -> array[Any]:
    items: array[Any] = array(typecode)
    if not isinstance(text, str):
        raise BufferFormatError(f"series {key!r} is not base64 text")
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as err:
        raise BufferFormatError(f"series {key!r} is not base64") from err
    if len(raw) % items.itemsize:
        raise BufferFormatError(f"series {key!r} has a partial item")
    items.frombytes(raw)
    if sys.byteorder == "big":
        items.byteswap()
    return items


def _coalesce(
    times: array[int], values: array[float]
) -> tuple[array[int], array[float]]:
    """Sort readings by time, keeping the last of each UTC second in array order."""
    latest = {
        time_us // _US: (time_us, value)
        for time_us, value in zip(times, values, strict=True)
    }
    ordered = sorted(latest.values())
    return array("q", [item[0] for item in ordered]), array(
        "d", [item[1] for item in ordered]
    )


def _is_coalesced(times: array[int]) -> bool:
    """Tell whether times are sorted with at most one per UTC second."""
    seconds = [time_us // _US for time_us in times]
    return all(map(int.__lt__, seconds, seconds[1:]))


class _Ledger:
    """The accounting all series share: reading count, capacity and drop queue.

    The drop queue is a lazy min-heap of ``(time, seq, series)``. For every series
    with pending readings it holds an entry whose time is at most that series'
    oldest pending time and equals `series.queued`; other entries are stale and
    skipped. Appending in time order never touches it.
    """

    __slots__ = (
        "capacity",
        "count",
        "dropped",
        "dropped_by_key",
        "drops",
        "queue",
        "series",
    )

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.count = 0
        self.dropped = 0
        self.dropped_by_key: dict[str, int] = {}
        # Readings dropped since the journal last drained, for it to forget too.
        self.drops: list[tuple[str, int, float]] = []
        self.queue: list[tuple[int, int, _Series]] = []
        self.series: dict[str, _Series] = {}

    def add_series(self, key: str) -> _Series:
        series = self.series[key] = _Series(self, key, len(self.series))
        return series

    def enqueue(self, series: _Series, time_us: int) -> None:
        """Record that `series` now has a pending reading as old as `time_us`."""
        series.queued = time_us
        queue = self.queue
        heapq.heappush(queue, (time_us, series.seq, series))
        # Entries outdated by times going backwards pile up: start afresh.
        if len(queue) > 2 * len(self.series) + _QUEUE_SLACK:
            self.rebuild_queue()

    def rebuild_queue(self) -> None:
        queue = self.queue
        queue.clear()
        for series in self.series.values():
            if len(series.times) > series.head:
                series.queued = series.times[series.head]
                queue.append((series.queued, series.seq, series))
            else:
                series.queued = _UNQUEUED
        heapq.heapify(queue)

    def shed(self) -> None:
        """Drop the oldest pending readings until the count fits the capacity."""
        queue = self.queue
        while self.count > self.capacity and queue:
            time_us, seq, series = queue[0]
            if time_us != series.queued:
                heapq.heappop(queue)
                continue
            times = series.times
            if len(times) == series.head:
                series.queued = _UNQUEUED
                heapq.heappop(queue)
                continue
            oldest = times[series.head]
            if oldest == time_us:
                series.log_drop(oldest, series.values[series.head])
                series.drop_oldest()
                self.count -= 1
                self.dropped += 1
                self.dropped_by_key[series.key] = (
                    self.dropped_by_key.get(series.key, 0) + 1
                )
                if len(series.times) == series.head:
                    series.queued = _UNQUEUED
                    heapq.heappop(queue)
                    continue
                oldest = series.times[series.head]
            series.queued = oldest
            heapq.heapreplace(queue, (oldest, seq, series))


class _Series:
    """The readings of one input key.

    ``times[head:]`` and ``values[head:]`` are pending: sorted, at most one per
    UTC second. Readings before `head` were dropped and await compaction.
    Readings in flight live in ``flight_times`` and ``flight_values``.
    """

    __slots__ = (
        "flight_times",
        "flight_values",
        "frame_bytes",
        "head",
        "journaled",
        "key",
        "ledger",
        "log_times",
        "log_values",
        "queued",
        "seq",
        "times",
        "values",
        "window",
        "window_us",
    )

    def __init__(self, ledger: _Ledger, key: str, seq: int) -> None:
        self.ledger = ledger
        self.key = key
        # Ties between keys' oldest readings go to the key registered first.
        self.seq = seq
        self.frame_bytes = len(orjson.dumps(key)) + _KEY_BYTES
        self.times: array[int] = array("q")
        self.values: array[float] = array("d")
        self.head = 0
        # At most one reading per window of this many microseconds is kept,
        # the last one appended: a second, or longer for a rate-limited key.
        self.window_us = _US
        # The window of the newest pending reading, kept apart so that the
        # common append needs no array read (each creates an int).
        self.window = _NOTHING_PENDING
        self.queued = _UNQUEUED
        self.flight_times: array[int] = array("q")
        self.flight_values: array[float] = array("d")
        # What the journal has not seen yet is `times[journaled:]` (past the
        # head), the readings appended at the end since it last drained, and
        # the log: readings placed or replaced anywhere else, in order. So the
        # common append costs the journal nothing. The journal keeps the last
        # reading per second too, so replaying the log and then that tail
        # leaves it holding what the buffer holds.
        self.journaled = 0
        self.log_times: array[int] = array("q")
        self.log_values: array[float] = array("d")

    def append(self, time_us: int, value: float) -> None:
        """Buffer one reading; a later one in the same window replaces it."""
        window = time_us // self.window_us
        if window > self.window:
            # The common case: a reading newer than every pending one.
            self.times.append(time_us)
            self.values.append(value)
            self.window = window
            # So only a first pending reading can be older than its queue entry.
            if time_us < self.queued:
                self.ledger.enqueue(self, time_us)
            ledger = self.ledger
            ledger.count += 1
            if ledger.count > ledger.capacity:
                ledger.shed()
        elif window == self.window and time_us >= self.times[-1]:
            replaced = self.times[-1]
            if replaced // _US != time_us // _US:
                # A longer window: the journal keeps readings by second, so
                # the one replaced in another second must go from it too.
                self.log_drop(replaced, self.values[-1])
            self.times[-1] = time_us
            self.values[-1] = value
            if len(self.times) <= self.journaled:
                # The reading replaced was past the tail the journal reads.
                self.log(time_us, value)
        else:
            self._insert(time_us, value)

    def log(self, time_us: int, value: float) -> None:
        """Tell the journal of a reading placed outside the tail it reads."""
        self.log_times.append(time_us)
        self.log_values.append(value)

    def log_tail(self) -> None:
        """Move the tail the journal has not read into the log.

        Before anything moves pending readings other than at their end: the
        tail is only found where appends leave it.
        """
        start = max(self.journaled, self.head)
        times = self.times
        if len(times) > start:
            self.log_times.extend(times[start:])
            self.log_values.extend(self.values[start:])
        self.journaled = len(times)

    def drain_log(self) -> Readings | None:
        """Hand over everything the journal has not seen, in order; None if nothing."""
        if not self.log_times:
            # The common case: new readings at the end only, handed over as
            # they are.
            start = max(self.journaled, self.head)
            times = self.times
            end = self.journaled = len(times)
            if end == start:
                return None
            return _readings((self.key, times[start:], self.values[start:]))
        self.log_tail()
        readings = _readings((self.key, self.log_times, self.log_values))
        self.log_times = array("q")
        self.log_values = array("d")
        return readings

    def _insert(self, time_us: int, value: float) -> None:
        """Place a reading older than the newest pending one (the clock went back)."""
        self.log_tail()
        self.log(time_us, value)
        times = self.times
        values = self.values
        head = self.head
        ledger = self.ledger
        second = time_us // _US
        position = bisect_right(times, time_us, head)
        if position > head and times[position - 1] // _US == second:
            position -= 1
        # `position` is before the newest reading, so it always indexes one.
        if times[position] // _US == second:
            times[position] = time_us
            values[position] = value
        else:
            times.insert(position, time_us)
            values.insert(position, value)
            ledger.count += 1
        self.journaled = len(times)
        if times[head] < self.queued:
            ledger.enqueue(self, times[head])
        if ledger.count > ledger.capacity:
            ledger.shed()

    def count(self) -> int:
        """Return the number of readings buffered, in flight included."""
        return len(self.flight_times) + len(self.times) - self.head

    def oldest(self) -> int | None:
        """Return the time of the oldest reading, in flight included."""
        head = self.head
        return min(self.flight_times[:1] + self.times[head : head + 1], default=None)

    def snapshot(self) -> tuple[array[int], array[float]]:
        """Return copies of all readings, in flight first: the order of appending."""
        head = self.head
        return (
            self.flight_times + self.times[head:],
            self.flight_values + self.values[head:],
        )

    def unshadowed(self, readings: Readings) -> Readings:
        """Leave out the sorted `readings` whose second has a pending reading."""
        times = self.times
        head = self.head
        if len(times) == head or not readings.times:
            return readings
        first = times[head] // _US
        last = times[-1] // _US
        if readings.times[-1] // _US < first or readings.times[0] // _US > last:
            return readings
        kept_times: array[int] = array("q")
        kept_values: array[float] = array("d")
        for time_us, value in zip(readings.times, readings.values, strict=True):
            second = time_us // _US
            if first <= second <= last:
                position = bisect_right(times, second * _US - 1, head)
                if position < len(times) and times[position] // _US == second:
                    continue
            kept_times.append(time_us)
            kept_values.append(value)
        return Readings(readings.key, kept_times, kept_values)

    def holds(self, time_us: int, value: float) -> bool:
        """Whether this very reading is buffered, pending or in flight."""
        for times, values, start in (
            (self.flight_times, self.flight_values, 0),
            (self.times, self.values, self.head),
        ):
            position = bisect_left(times, time_us, start)
            if (
                position < len(times)
                and times[position] == time_us
                and values[position] == value
            ):
                return True
        return False

    def log_drop(self, time_us: int, value: float) -> None:
        """Tell the journal that a pending reading is being dropped.

        The journal keeps one reading per second, the last appended. When a
        reading of the same second is in flight, that one must stay on disk:
        it is logged again rather than the drop.
        """
        flight = self.flight_times
        position = bisect_right(flight, time_us)
        second = time_us // _US
        if position and flight[position - 1] // _US == second:
            self.log(flight[position - 1], self.flight_values[position - 1])
        elif position < len(flight) and flight[position] // _US == second:
            self.log(flight[position], self.flight_values[position])
        else:
            self.ledger.drops.append((self.key, time_us, value))

    def drop_oldest(self) -> None:
        """Drop the oldest pending reading."""
        self.head += 1
        head = self.head
        if head == len(self.times):
            del self.times[:], self.values[:]
            self.head = self.journaled = 0
            self.window = _NOTHING_PENDING
        elif head >= _COMPACT_AFTER and 2 * head >= len(self.times):
            del self.times[:head], self.values[:head]
            self.journaled = max(0, self.journaled - head)
            self.head = 0

    def take(self, count: int) -> tuple[array[int], array[float]]:
        """Move the oldest `count` pending readings in flight and return them."""
        if self.journaled < len(self.times):
            self.log_tail()
        start = self.head
        end = start + count
        if start == 0 and end == len(self.times):
            # All of them: the arrays change hands, nothing is copied.
            self.flight_times, self.times = self.times, array("q")
            self.flight_values, self.values = self.values, array("d")
            self.window = _NOTHING_PENDING
            self.journaled = 0
            return self.flight_times, self.flight_values
        self.flight_times = self.times[start:end]
        self.flight_values = self.values[start:end]
        del self.times[:end], self.values[:end]
        self.head = 0
        self.journaled = len(self.times)
        if not self.times:
            self.window = _NOTHING_PENDING
        return self.flight_times, self.flight_values

    def discard_flight(self) -> int:
        """Forget the readings in flight and return how many there were."""
        count = len(self.flight_times)
        self.flight_times = array("q")
        self.flight_values = array("d")
        return count

    def unfreeze(self) -> None:
        """Make the readings in flight pending again.

        They were appended before every pending reading, so a pending reading in
        the same second replaces one that was in flight.
        """
        self.log_tail()
        before = self.count()
        last_in_flight = self.flight_times[-1]
        first_pending = self.times[self.head] if len(self.times) > self.head else None
        times, values = self.snapshot()
        self.discard_flight()
        if first_pending is not None and first_pending // _US <= last_in_flight // _US:
            times, values = _coalesce(times, values)
        self._set_pending(times, values)
        self.ledger.count -= before - len(times)

    def load(self, times: array[int], values: array[float]) -> None:
        """Fill a new series with coalesced readings."""
        self._set_pending(times, values)
        self.ledger.count += len(times)

    def replace_pending(self, times: array[int], values: array[float]) -> None:
        """Replace the pending readings with a coalesced superset of them."""
        self._set_pending(times, values)

    def _set_pending(self, times: array[int], values: array[float]) -> None:
        """Replace the pending readings with a coalesced, non-empty series.

        What the journal has not seen must be in the log by now.
        """
        self.times = times
        self.values = values
        self.head = 0
        self.journaled = len(times)
        self.window = times[-1] // self.window_us
        if times[0] < self.queued:
            self.ledger.enqueue(self, times[0])
