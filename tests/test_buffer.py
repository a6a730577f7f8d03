"""Tests for the sample buffer and the frame builder."""

from __future__ import annotations

from array import array
import base64
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
import itertools
import random
import struct
import sys
from typing import Any
from unittest.mock import patch

from hypothesis import example, given, settings, strategies as st
import orjson
import pytest

from custom_components.clarify import buffer as buffer_module
from custom_components.clarify.api import encode_frame
from custom_components.clarify.buffer import (
    DEFAULT_CAPACITY,
    FRAME_WORK,
    NULL_ALLOWANCE,
    TIME_WORK,
    BufferFormatError,
    Frame,
    Pace,
    Readings,
    SampleBuffer,
    datetime_to_us,
    format_time,
)

US = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# 2024-05-01T12:00:00Z
T0 = 1_714_564_800 * US
# The longest numbers orjson writes: 24 characters each.
LONGEST_NUMBERS = (
    -1.2345678901234567e-300,
    -2.2250738585072014e-308,
    -0.000012345678901234567,
)


def decode(frame: Frame) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(frame.data_json)
    return data


def readings(frame: Frame) -> dict[str, list[tuple[str, float]]]:
    """The non-null cells of a frame, per key, in time order."""
    data = decode(frame)
    return {
        key: [
            (time, value)
            for time, value in zip(data["times"], row, strict=True)
            if value is not None
        ]
        for key, row in data["series"].items()
    }


def drain(buffer: SampleBuffer, max_bytes: int) -> list[Frame]:
    """Take and confirm frames until nothing is pending."""
    frames = []
    while (frame := buffer.take_frame(max_bytes)) is not None:
        frames.append(frame)
        buffer.confirm(frame)
    return frames


def reference_time(time_us: int) -> str:
    moment = EPOCH + timedelta(microseconds=time_us)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# ---------------------------------------------------------------- times


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (EPOCH, "1970-01-01T00:00:00.000000Z"),
        (EPOCH + timedelta(microseconds=1), "1970-01-01T00:00:00.000001Z"),
        (EPOCH + timedelta(microseconds=999_999), "1970-01-01T00:00:00.999999Z"),
        (EPOCH - timedelta(microseconds=1), "1969-12-31T23:59:59.999999Z"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000000Z"),
        (
            datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
            "9999-12-31T23:59:59.999999Z",
        ),
        # The last second a signed 32-bit time_t holds, and the one after it.
        (
            datetime(2038, 1, 19, 3, 14, 7, 40, tzinfo=UTC),
            "2038-01-19T03:14:07.000040Z",
        ),
        (datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC), "2038-01-19T03:14:08.000000Z"),
        (
            datetime(2024, 2, 29, 23, 59, 59, 5, tzinfo=UTC),
            "2024-02-29T23:59:59.000005Z",
        ),
        (datetime(2000, 2, 29, 12, tzinfo=UTC), "2000-02-29T12:00:00.000000Z"),
        # 2100 is not a leap year: the day after 28 February is 1 March.
        (
            datetime(2100, 2, 28, tzinfo=UTC) + timedelta(days=1),
            "2100-03-01T00:00:00.000000Z",
        ),
        (
            datetime(2024, 12, 31, 23, 59, 59, 10, tzinfo=UTC),
            "2024-12-31T23:59:59.000010Z",
        ),
        (
            datetime(
                2024, 5, 1, 14, 30, 1, 120_000, tzinfo=timezone(timedelta(hours=2))
            ),
            "2024-05-01T12:30:01.120000Z",
        ),
    ],
)
def test_format_time(moment: datetime, expected: str) -> None:
    assert format_time(datetime_to_us(moment)) == expected


@given(st.datetimes(timezones=st.just(UTC)))
def test_format_time_matches_datetime(moment: datetime) -> None:
    time_us = datetime_to_us(moment)
    assert EPOCH + timedelta(microseconds=time_us) == moment
    assert format_time(time_us) == reference_time(time_us)


def test_datetime_to_us_is_exact_where_float_timestamps_are_not() -> None:
    # Scaling the float timestamp gets this one wrong by a microsecond.
    moment = datetime(1987, 5, 22, 8, 41, 55, 864_232, tzinfo=UTC)
    assert int(moment.timestamp() * US) == 548_671_315_864_231
    assert datetime_to_us(moment) == 548_671_315_864_232


def test_frame_times_share_formatting_across_seconds_and_days() -> None:
    buffer = SampleBuffer()
    midnight = datetime_to_us(datetime(2024, 2, 29, tzinfo=UTC))
    offsets = [-US - 1, -1, 0, 5, US, US + 999_999, 86_400 * US]
    for index, offset in enumerate(offsets):
        buffer.series(f"k{index}").append(midnight + offset, 1.0)
    frame = buffer.take_frame()
    assert frame is not None
    assert decode(frame)["times"] == [
        "2024-02-28T23:59:58.999999Z",
        "2024-02-28T23:59:59.999999Z",
        "2024-02-29T00:00:00.000000Z",
        "2024-02-29T00:00:00.000005Z",
        "2024-02-29T00:00:01.000000Z",
        "2024-02-29T00:00:01.999999Z",
        "2024-03-01T00:00:00.000000Z",
    ]


# ---------------------------------------------------------------- coalescing

type Append = tuple[str, int, float]


@pytest.mark.parametrize(
    ("appends", "expected"),
    [
        pytest.param(
            [("a", 100, 1.0), ("a", 900_000, 2.0)],
            {"a": [(T0 + 900_000, 2.0)]},
            id="same second: the last wins",
        ),
        pytest.param(
            [("a", 999_999, 1.0), ("a", US, 2.0)],
            {"a": [(T0 + 999_999, 1.0), (T0 + US, 2.0)]},
            id="next second: a new sample",
        ),
        pytest.param(
            [("a", 5, 1.0), ("a", 5, 2.0)],
            {"a": [(T0 + 5, 2.0)]},
            id="same time: the later wins",
        ),
        pytest.param(
            [("a", 0, 1.0), ("b", 500, 2.0), ("a", 500, 3.0)],
            {"a": [(T0 + 500, 3.0)], "b": [(T0 + 500, 2.0)]},
            id="keys coalesce separately",
        ),
        pytest.param(
            [("a", 3 * US, 3.0), ("a", US, 1.0)],
            {"a": [(T0 + US, 1.0), (T0 + 3 * US, 3.0)]},
            id="older second: stored and sorted",
        ),
        pytest.param(
            [("a", US + 500, 1.0), ("a", 3 * US, 3.0), ("a", US + 100, 2.0)],
            {"a": [(T0 + US + 100, 2.0), (T0 + 3 * US, 3.0)]},
            id="older time in a stored second: the later appended wins",
        ),
        pytest.param(
            [("a", US + 100, 1.0), ("a", 3 * US, 3.0), ("a", US + 500, 2.0)],
            {"a": [(T0 + US + 500, 2.0), (T0 + 3 * US, 3.0)]},
            id="newer time in an older stored second replaces it",
        ),
        pytest.param(
            [("a", 3 * US + 10, 3.0), ("a", 3 * US + 5, 2.0)],
            {"a": [(T0 + 3 * US + 5, 2.0)]},
            id="earlier time in the last second still wins",
        ),
        pytest.param(
            [("a", 2 * US, 2.0), ("a", 4 * US, 4.0), ("a", 3 * US, 3.0), ("a", 0, 0.0)],
            {
                "a": [
                    (T0, 0.0),
                    (T0 + 2 * US, 2.0),
                    (T0 + 3 * US, 3.0),
                    (T0 + 4 * US, 4.0),
                ]
            },
            id="clock going back: inserted in order",
        ),
    ],
)
def test_coalescing(
    appends: list[Append], expected: dict[str, list[tuple[int, float]]]
) -> None:
    buffer = SampleBuffer()
    for key, offset, value in appends:
        buffer.series(key).append(T0 + offset, value)

    assert len(buffer) == sum(map(len, expected.values()))
    frame = buffer.take_frame()
    assert frame is not None
    assert readings(frame) == {
        key: [(format_time(time_us), value) for time_us, value in samples]
        for key, samples in expected.items()
    }


def test_in_flight_readings_are_not_coalesced() -> None:
    buffer = SampleBuffer()
    series = buffer.series("a")
    series.append(T0 + 100, 1.0)
    first = buffer.take_frame()
    assert first is not None

    series.append(T0 + 200, 2.0)
    series.append(T0 + 300, 3.0)

    assert len(buffer) == 2
    buffer.confirm(first)
    second = buffer.take_frame()
    assert second is not None
    assert readings(second) == {"a": [(format_time(T0 + 300), 3.0)]}


@pytest.mark.parametrize(
    ("later", "expected"),
    [
        pytest.param(
            [(US + 5, 9.0)],
            [(200, 2.0), (US + 5, 9.0)],
            id="pending in the same second as a returning reading wins",
        ),
        pytest.param(
            [(2 * US, 9.0)],
            [(200, 2.0), (US, 3.0), (2 * US, 9.0)],
            id="later seconds simply follow",
        ),
        pytest.param(
            [(-US, 7.0), (150, 9.0)],
            [(-US, 7.0), (150, 9.0), (US, 3.0)],
            id="older pending readings interleave",
        ),
    ],
)
def test_release_merges_with_readings_appended_in_flight(
    later: list[tuple[int, float]], expected: list[tuple[int, float]]
) -> None:
    buffer = SampleBuffer()
    series = buffer.series("a")
    series.append(T0 + 200, 2.0)
    series.append(T0 + US, 3.0)
    frame = buffer.take_frame()
    assert frame is not None
    for offset, value in later:
        series.append(T0 + offset, value)

    buffer.release(frame)

    assert len(buffer) == len(expected)
    again = buffer.take_frame()
    assert again is not None
    assert readings(again) == {
        "a": [(format_time(T0 + offset), value) for offset, value in expected]
    }


# ---------------------------------------------------------------- frames


def test_frame_is_a_dense_matrix_with_sorted_unique_times() -> None:
    buffer = SampleBuffer()
    buffer.series("sensor.b").append(T0 + 2 * US, 20.5)
    buffer.series("sensor.a").append(T0 + US, 1.0)
    buffer.series("sensor.a").append(T0 + 2 * US, 2.0)
    buffer.series("sensor.b").append(T0 + 3 * US + 7, -3.25)
    buffer.series("sensor.c").append(T0 + 2 * US, 1e300)

    frame = buffer.take_frame()

    assert frame is not None
    assert decode(frame) == {
        "times": [
            "2024-05-01T12:00:01.000000Z",
            "2024-05-01T12:00:02.000000Z",
            "2024-05-01T12:00:03.000007Z",
        ],
        "series": {
            "sensor.a": [1.0, 2.0, None],
            "sensor.b": [None, 20.5, -3.25],
            "sensor.c": [None, 1e300, None],
        },
    }
    # Keys in the order of their oldest reading; ties go to the older key.
    assert frame.keys == ("sensor.a", "sensor.b", "sensor.c")
    assert frame.sample_count == 5
    assert (frame.oldest_us, frame.newest_us) == (T0 + US, T0 + 3 * US + 7)


def test_frame_matches_the_client_encoder() -> None:
    buffer = SampleBuffer()
    for index in range(5):
        buffer.series(f"sensor.s{index}").append(T0 + index * 700_000, index / 3)
    frame = buffer.take_frame()
    assert frame is not None
    data = decode(frame)
    assert frame.data_json == encode_frame(data["times"], data["series"])


def test_integer_valued_floats_are_numbers() -> None:
    buffer = SampleBuffer()
    buffer.series("binary_sensor.door").append(T0, 1)
    buffer.series("binary_sensor.door").append(T0 + US, 0.0)
    frame = buffer.take_frame()
    assert frame is not None
    assert b'"binary_sensor.door":[1.0,0.0]' in frame.data_json


def test_take_frame_without_pending_readings_returns_none() -> None:
    buffer = SampleBuffer()
    buffer.series("a")
    assert buffer.take_frame() is None

    buffer.series("a").append(T0, 1.0)
    frame = buffer.take_frame()
    assert frame is not None
    buffer.confirm(frame)
    assert buffer.take_frame() is None
    assert len(buffer) == 0


def test_keys_sharing_times_fill_one_frame() -> None:
    buffer = SampleBuffer()
    handles = [buffer.series(f"sensor.s{index:03d}") for index in range(100)]
    for minute in range(30):
        for handle in handles:
            handle.append(T0 + minute * 60 * US, minute)

    frame = buffer.take_frame()

    assert frame is not None
    assert frame.sample_count == 3_000
    data = decode(frame)
    assert len(data["times"]) == 30
    assert all(
        row == [float(minute) for minute in range(30)]
        for row in data["series"].values()
    )
    buffer.confirm(frame)
    assert buffer.take_frame() is None


@pytest.mark.parametrize("max_bytes", [300, 1_000, 4_000, 20_000])
def test_large_backlogs_split_into_frames_within_the_limit(max_bytes: int) -> None:
    buffer = SampleBuffer()
    appended = Counter[tuple[str, str, float]]()
    for index in range(40):
        key = f"sensor.{'x' * (index % 7)}{index}"
        for step in range(index % 5 + 1):
            time_us = T0 + index * 1_013 + step * 61 * US
            value = LONGEST_NUMBERS[(index + step) % 3]
            buffer.series(key).append(time_us, value)
            appended[key, format_time(time_us), value] += 1

    frames = drain(buffer, max_bytes)

    assert len(frames) > 1
    assert all(len(frame.data_json) <= max_bytes for frame in frames)
    delivered = Counter(
        (key, time, value)
        for frame in frames
        for key, cells in readings(frame).items()
        for time, value in cells
    )
    assert delivered == appended
    assert sum(frame.sample_count for frame in frames) == appended.total()
    # A backlog leaves oldest first: each frame starts where the previous began.
    starts = [frame.oldest_us for frame in frames]
    assert starts == sorted(starts)


def test_a_key_too_big_for_one_frame_leaves_in_prefixes() -> None:
    buffer = SampleBuffer()
    series = buffer.series("sensor.busy")
    times = [T0 + second * US + second for second in range(1_000)]
    for time_us in times:
        series.append(time_us, LONGEST_NUMBERS[0])

    frames = drain(buffer, 5_000)

    assert len(frames) > 10
    assert all(len(frame.data_json) <= 5_000 for frame in frames)
    sent = [time for frame in frames for time, _ in readings(frame)["sensor.busy"]]
    assert sent == [format_time(time_us) for time_us in times]


@given(
    max_bytes=st.integers(min_value=90, max_value=6_000),
    keys=st.lists(
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=12),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    samples=st.lists(
        st.tuples(
            st.integers(0, 5),
            st.integers(0, 50 * US),
            st.one_of(
                st.sampled_from(LONGEST_NUMBERS),
                st.floats(allow_nan=False, allow_infinity=False),
            ),
        ),
        min_size=1,
        max_size=60,
    ),
)
def test_frames_never_exceed_max_bytes(
    max_bytes: int, keys: list[str], samples: list[tuple[int, int, float]]
) -> None:
    buffer = SampleBuffer()
    for key_index, offset, value in samples:
        buffer.series(keys[key_index % len(keys)]).append(T0 + offset, value)
    count = len(buffer)
    try:
        frames = drain(buffer, max_bytes)
    except ValueError:
        # Only a limit too small for a single reading of some key may refuse.
        longest_key = max(len(orjson.dumps(key)) for key in keys)
        assert max_bytes < 24 + longest_key + 4 + 30 + 25
        return
    assert all(len(frame.data_json) <= max_bytes for frame in frames)
    assert sum(frame.sample_count for frame in frames) == count


def test_max_bytes_too_small_for_one_reading_is_refused_harmlessly() -> None:
    buffer = SampleBuffer()
    buffer.series("sensor.a").append(T0, 1.0)

    with pytest.raises(ValueError, match="cannot hold a reading"):
        buffer.take_frame(80)

    assert buffer.in_flight is None
    frame = buffer.take_frame(100)
    assert frame is not None
    assert len(frame.data_json) <= 100


# ---------------------------------------------------------------- flight


def test_only_one_frame_may_be_in_flight() -> None:
    buffer = SampleBuffer()
    buffer.series("a").append(T0, 1.0)
    frame = buffer.take_frame()
    assert frame is not None
    buffer.series("a").append(T0 + US, 2.0)

    with pytest.raises(RuntimeError, match="already in flight"):
        buffer.take_frame()

    buffer.confirm(frame)
    assert buffer.take_frame() is not None


@pytest.mark.parametrize(
    "land",
    [
        SampleBuffer.confirm,
        SampleBuffer.release,
        lambda buffer, frame: buffer.reject(frame, ["a"]),
    ],
    ids=["confirm", "release", "reject"],
)
def test_a_frame_lands_only_once(land: Any) -> None:
    buffer = SampleBuffer()
    buffer.series("a").append(T0, 1.0)
    frame = buffer.take_frame()
    assert frame is not None
    land(buffer, frame)
    length = len(buffer)

    for again in (SampleBuffer.confirm, SampleBuffer.release):
        with pytest.raises(ValueError, match="not the one in flight"):
            again(buffer, frame)
    assert len(buffer) == length


def test_release_loses_nothing() -> None:
    buffer = SampleBuffer()
    for index in range(3):
        for step in range(4):
            buffer.series(f"k{index}").append(T0 + step * US + index, step + index)
    counts = buffer.counts_by_key()
    frame = buffer.take_frame()
    assert frame is not None
    assert buffer.counts_by_key() == counts

    buffer.release(frame)

    assert buffer.counts_by_key() == counts
    again = buffer.take_frame()
    assert again is not None
    assert again.data_json == frame.data_json


def test_confirm_removes_only_the_frame() -> None:
    buffer = SampleBuffer()
    buffer.series("a").append(T0, 1.0)
    buffer.series("b").append(T0 + US, 2.0)
    frame = buffer.take_frame(140)
    assert frame is not None
    assert frame.keys == ("a",)
    buffer.series("a").append(T0 + 2 * US, 3.0)

    buffer.confirm(frame)

    assert buffer.counts_by_key() == {"a": 1, "b": 1}
    assert buffer.dropped == 0


def test_reject_removes_the_refused_series_and_releases_the_rest() -> None:
    buffer = SampleBuffer()
    for step in range(3):
        for key in ("a", "b", "c"):
            buffer.series(key).append(T0 + step * US, step)
    frame = buffer.take_frame()
    assert frame is not None
    buffer.series("b").append(T0 + 10 * US, 10.0)

    rejected = buffer.reject(frame, ["b", "c", "not.in.frame"])

    assert rejected == [
        Readings(key, array("q", [T0, T0 + US, T0 + 2 * US]), array("d", [0, 1, 2]))
        for key in ("b", "c")
    ]
    assert buffer.counts_by_key() == {"a": 3, "b": 1}
    assert buffer.dropped == 0
    again = buffer.take_frame()
    assert again is not None
    assert readings(again) == {
        "a": [(format_time(T0 + step * US), float(step)) for step in range(3)],
        "b": [(format_time(T0 + 10 * US), 10.0)],
    }


# ---------------------------------------------------------------- capacity


def test_default_capacity() -> None:
    assert SampleBuffer().capacity == DEFAULT_CAPACITY == 1_440_000


@pytest.mark.parametrize(
    ("capacity", "per_key"),
    [
        (1, {"a": 5}),
        (10, {"a": 30, "b": 30, "c": 30}),
        (7, {"a": 2, "b": 20}),
        (50, {"a": 49, "b": 1}),
    ],
)
def test_capacity_drops_exactly_the_oldest(
    capacity: int, per_key: dict[str, int]
) -> None:
    buffer = SampleBuffer(capacity)
    appended: list[tuple[int, str]] = []
    for index, key in enumerate(
        key
        for step in range(max(per_key.values()))
        for key in per_key
        if step < per_key[key]
    ):
        time_us = T0 + index * 1_000_003
        buffer.series(key).append(time_us, index)
        appended.append((time_us, key))
        assert len(buffer) == min(index + 1, capacity)

    excess = max(len(appended) - capacity, 0)
    assert buffer.dropped == excess
    assert dict(buffer.dropped_by_key) == Counter(key for _, key in appended[:excess])
    kept = Counter(key for _, key in appended[excess:])
    assert buffer.counts_by_key() == kept
    frames = drain(buffer, 10**6)
    assert [frame.oldest_us for frame in frames][:1] == [appended[excess][0]]


def test_capacity_ties_drop_the_key_registered_first() -> None:
    buffer = SampleBuffer(2)
    buffer.series("late")
    buffer.series("early").append(T0, 1.0)
    buffer.series("late").append(T0, 2.0)
    buffer.series("early").append(T0 + US, 3.0)
    assert buffer.dropped_by_key == {"late": 1}


def test_capacity_drops_the_oldest_across_out_of_order_keys() -> None:
    buffer = SampleBuffer(3)
    buffer.series("a").append(T0 + 5 * US, 5.0)
    buffer.series("b").append(T0 + 9 * US, 9.0)
    buffer.series("a").append(T0 + 2 * US, 2.0)
    buffer.series("b").append(T0 + US, 1.0)
    buffer.series("c").append(T0 + 3 * US, 3.0)

    assert buffer.dropped_by_key == {"b": 1, "a": 1}
    assert buffer.oldest_us == T0 + 3 * US


def test_lowering_capacity_drops_the_oldest_at_once() -> None:
    buffer = SampleBuffer(100)
    for step in range(10):
        buffer.series("a" if step % 2 else "b").append(T0 + step * US, step)

    buffer.capacity = 4

    assert (len(buffer), buffer.capacity, buffer.dropped) == (4, 4, 6)
    assert buffer.dropped_by_key == {"a": 3, "b": 3}
    assert buffer.oldest_us == T0 + 6 * US
    buffer.capacity = 100
    assert (len(buffer), buffer.dropped) == (4, 6)


@pytest.mark.parametrize("capacity", [0, -1, True, 1.5, "10"])
def test_capacity_must_be_a_positive_integer(capacity: Any) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        SampleBuffer(capacity)
    buffer = SampleBuffer(5)
    with pytest.raises(ValueError, match="positive integer"):
        buffer.capacity = capacity
    assert buffer.capacity == 5


def test_in_flight_readings_count_but_are_never_dropped() -> None:
    buffer = SampleBuffer(4)
    for step in range(3):
        buffer.series("a").append(T0 + step * US, step)
    frame = buffer.take_frame()
    assert frame is not None

    buffer.series("b").append(T0 + 10 * US, 10.0)
    buffer.series("b").append(T0 + 11 * US, 11.0)
    assert (len(buffer), buffer.dropped) == (4, 1)

    buffer.capacity = 2
    assert (len(buffer), buffer.dropped) == (3, 2)

    buffer.release(frame)
    assert (len(buffer), buffer.dropped) == (2, 3)
    assert buffer.dropped_by_key == {"a": 1, "b": 2}
    assert buffer.oldest_us == T0 + US


def test_overflow_keeps_storage_and_drop_queue_bounded() -> None:
    buffer = SampleBuffer(100)
    keys = [buffer.series(f"k{index}") for index in range(3)]
    for step in range(5_000):
        # Every key's clock also jumps back now and then.
        offset = step * US if step % 97 else (step - 500) * US
        keys[step % 3].append(T0 + offset + step % 3, step)
        assert len(buffer) == min(step + 1, 100)

    assert buffer.dropped == 4_900
    ledger = buffer._ledger
    assert len(ledger.queue) <= 2 * len(ledger.series) + buffer_module._QUEUE_SLACK
    assert all(
        len(series.times) <= 2 * 100 + buffer_module._COMPACT_AFTER
        for series in ledger.series.values()
    )


def test_drop_queue_stays_bounded_when_times_go_backwards() -> None:
    buffer = SampleBuffer()
    buffer.series("idle")
    series = buffer.series("a")
    for second in range(500, 0, -1):
        series.append(T0 + second * US, second)
        assert len(buffer._ledger.queue) <= 2 * 2 + buffer_module._QUEUE_SLACK + 1

    buffer.capacity = 10

    assert buffer.dropped_by_key == {"a": 490}
    assert buffer.oldest_us == T0 + 491 * US
    # Shedding discards the outdated entries it meets: one live entry is left.
    assert len(buffer._ledger.queue) == 1


def test_drop_queue_rebuilt_by_an_append_keeps_that_reading() -> None:
    buffer = SampleBuffer()
    late, early = buffer.series("late"), buffer.series("early")
    # Each reading older than the rest queues one more entry; one entry beyond
    # the limit rebuilds the queue, here from inside early's append.
    limit = 2 * 2 + buffer_module._QUEUE_SLACK
    for second in range(1_000, 1_000 - limit, -1):
        late.append(T0 + second * US, second)
    assert len(buffer._ledger.queue) == limit
    early.append(T0, 0.0)

    buffer.capacity = limit

    assert buffer.dropped_by_key == {"early": 1}


# ---------------------------------------------------------------- introspection


def test_an_empty_buffer() -> None:
    buffer = SampleBuffer()
    assert (len(buffer), buffer.oldest_us, buffer.in_flight) == (0, None, None)
    assert buffer.counts_by_key() == {}
    assert (buffer.dropped, buffer.dropped_by_key) == (0, {})


def test_introspection() -> None:
    buffer = SampleBuffer()
    a = buffer.series("a")
    assert buffer.series("a") is a
    assert a.key == "a"

    a.append(T0 + 5 * US, 1.0)
    a.append(T0 + 6 * US, 1.0)
    buffer.series("b").append(T0 + 7 * US, 1.0)
    frame = buffer.take_frame(140)
    assert frame is not None
    assert frame.keys == ("a",)
    assert buffer.in_flight is frame
    assert buffer.oldest_us == T0 + 5 * US
    a.append(T0 + US, 1.0)

    assert (len(buffer), buffer.oldest_us) == (4, T0 + US)
    assert buffer.counts_by_key() == {"a": 3, "b": 1}
    with pytest.raises(TypeError):
        buffer.dropped_by_key["a"] = 1  # type: ignore[index]


# ---------------------------------------------------------------- persistence


def test_round_trip_restores_everything() -> None:
    buffer = SampleBuffer(8)
    for step in range(10):
        buffer.series(f"sensor.{step % 3}").append(T0 + step * 333_333, step * 1.5)
    buffer.series("sensor.empty")
    saved = orjson.loads(orjson.dumps(buffer.to_dict()))

    restored = SampleBuffer.from_dict(saved, capacity=8)

    assert restored.to_dict() == saved
    assert "sensor.empty" not in saved["series"]
    assert restored.counts_by_key() == buffer.counts_by_key()
    assert buffer.dropped > 0
    assert (restored.dropped, restored.dropped_by_key) == (
        buffer.dropped,
        buffer.dropped_by_key,
    )
    assert (restored.capacity, restored.oldest_us) == (8, buffer.oldest_us)
    expected, actual = buffer.take_frame(), restored.take_frame()
    assert expected is not None
    assert actual is not None
    assert actual.data_json == expected.data_json


def test_readings_in_flight_are_saved_as_pending() -> None:
    buffer = SampleBuffer()
    series = buffer.series("a")
    series.append(T0, 1.0)
    series.append(T0 + 2 * US, 2.0)
    frame = buffer.take_frame()
    assert frame is not None
    series.append(T0 + 500, 3.0)
    series.append(T0 + 3 * US, 4.0)

    restored = SampleBuffer.from_dict(buffer.to_dict())
    buffer.release(frame)

    assert buffer.counts_by_key() == restored.counts_by_key() == {"a": 3}
    assert buffer.to_dict() == restored.to_dict()


def test_restoring_beyond_capacity_drops_the_oldest() -> None:
    buffer = SampleBuffer()
    for step in range(6):
        buffer.series("ab"[step % 2]).append(T0 + step * US, step)

    restored = SampleBuffer.from_dict(buffer.to_dict(), capacity=2)

    assert (len(restored), restored.dropped) == (2, 4)
    assert restored.dropped_by_key == {"a": 2, "b": 2}
    assert restored.oldest_us == T0 + 4 * US


def test_saved_arrays_are_little_endian() -> None:
    buffer = SampleBuffer()
    buffer.series("a").append(T0, 0.5)
    times, values = buffer.to_dict()["series"]["a"]
    assert base64.b64decode(times) == struct.pack("<q", T0)
    assert base64.b64decode(values) == struct.pack("<d", 0.5)


def test_a_big_endian_host_swaps_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = SampleBuffer()
    buffer.series("a").append(T0, 0.5)
    monkeypatch.setattr(sys, "byteorder", "big")

    saved = buffer.to_dict()

    # On this little-endian host, "swapping to little-endian" yields big-endian.
    assert base64.b64decode(saved["series"]["a"][0]) == struct.pack(">q", T0)
    assert SampleBuffer.from_dict(saved).to_dict() == saved


def test_unsorted_saved_series_are_coalesced() -> None:
    times = [T0 + 3 * US, T0 + 100, T0 + 200, T0 + 3 * US + 1]
    values = [1.0, 2.0, 3.0, 4.0]
    saved = {
        "version": 1,
        "series": {
            "a": [
                base64.b64encode(struct.pack("<4q", *times)).decode(),
                base64.b64encode(struct.pack("<4d", *values)).decode(),
            ]
        },
        "dropped": 0,
        "dropped_by_key": {},
    }

    restored = SampleBuffer.from_dict(saved)

    assert len(restored) == 2
    frame = restored.take_frame()
    assert frame is not None
    assert readings(frame) == {
        "a": [(format_time(T0 + 200), 3.0), (format_time(T0 + 3 * US + 1), 4.0)]
    }


def test_empty_saved_series_are_skipped() -> None:
    restored = SampleBuffer.from_dict(_saved(series={"a": ["", ""]}))
    assert (len(restored), restored.counts_by_key(), restored.oldest_us) == (
        0,
        {},
        None,
    )
    restored.series("a").append(T0, 1.0)
    assert restored.counts_by_key() == {"a": 1}


def _saved(**changes: Any) -> dict[str, Any]:
    buffer = SampleBuffer()
    buffer.series("a").append(T0, 1.0)
    buffer.series("a").append(T0 + US, 2.0)
    saved = buffer.to_dict()
    saved.update(changes)
    return saved


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([], "unknown format"),
        ({}, "unknown format"),
        (_saved(version=2), "unknown format"),
        (_saved(series=None), "series or dropped_by_key"),
        (_saved(dropped_by_key=[]), "series or dropped_by_key"),
        (_saved(dropped=-1), "drop counts"),
        (_saved(dropped=True), "drop counts"),
        (_saved(dropped="3"), "drop counts"),
        (_saved(dropped_by_key={"a": 1.0}), "drop counts"),
        (_saved(dropped_by_key={"a": -1}), "drop counts"),
        (_saved(series={"": ["", ""]}), "input key"),
        (_saved(series={"a": "AAAA"}), "pair of arrays"),
        (_saved(series={"a": ["", "", ""]}), "pair of arrays"),
        (_saved(series={"a": [None, ""]}), "not base64 text"),
        (_saved(series={"a": ["not base64!", ""]}), "not base64"),
        (_saved(series={"a": [_b64(b"1234567"), ""]}), "partial item"),
        (_saved(series={"a": [_b64(struct.pack("<q", T0)), ""]}), "lengths differ"),
        (
            _saved(
                series={
                    "a": [_b64(struct.pack("<q", -(2**63))), _b64(struct.pack("<d", 1))]
                }
            ),
            "out of range",
        ),
        (
            _saved(
                series={
                    "a": [_b64(struct.pack("<q", 2**62)), _b64(struct.pack("<d", 1))]
                }
            ),
            "out of range",
        ),
        (
            _saved(
                series={
                    "a": [
                        _b64(struct.pack("<q", T0)),
                        _b64(struct.pack("<d", float("nan"))),
                    ]
                }
            ),
            "not finite",
        ),
        (
            _saved(
                series={
                    "a": [
                        _b64(struct.pack("<q", T0)),
                        _b64(struct.pack("<d", float("-inf"))),
                    ]
                }
            ),
            "not finite",
        ),
    ],
)
def test_malformed_saved_data_is_refused(data: Any, problem: str) -> None:
    with pytest.raises(BufferFormatError, match=problem) as caught:
        SampleBuffer.from_dict(data)
    assert isinstance(caught.value, ValueError)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.one_of(
        JSON,
        st.fixed_dictionaries(
            {
                "version": st.just(1) | JSON,
                "series": st.dictionaries(
                    st.text(max_size=4),
                    st.lists(st.binary(max_size=24).map(_b64) | JSON, max_size=3),
                    max_size=3,
                )
                | JSON,
                "dropped": st.integers() | JSON,
                "dropped_by_key": st.dictionaries(st.text(max_size=4), st.integers())
                | JSON,
            }
        ),
    )
)
def test_from_dict_only_ever_raises_value_error(data: Any) -> None:
    try:
        restored = SampleBuffer.from_dict(data)
    except ValueError:
        return
    # Whatever was accepted must be usable.
    drain(restored, 10**6)
    assert SampleBuffer.from_dict(restored.to_dict()).to_dict() == restored.to_dict()


# ---------------------------------------------------------------- model


@dataclass
class Model:
    """A slow, obviously correct account of every reading appended."""

    capacity: int
    registered: list[str] = field(default_factory=list)
    # key -> UTC second -> (time, value, reading id)
    pending: dict[str, dict[int, tuple[int, float, int]]] = field(default_factory=dict)
    flight: dict[str, list[tuple[int, float, int]]] = field(default_factory=dict)
    fate: dict[int, str] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=itertools.count)
    appended: int = 0

    def buffered(self) -> dict[str, list[tuple[int, float, int]]]:
        """Per key, readings in flight then pending readings, each in time order."""
        return {
            key: self.flight.get(key, []) + sorted(self.pending.get(key, {}).values())
            for key in self.registered
            if self.flight.get(key) or self.pending.get(key)
        }

    def append(self, key: str, time_us: int, value: float) -> None:
        if key not in self.registered:
            self.registered.append(key)
        reading = (time_us, value, next(self.ids))
        self.appended += 1
        seconds = self.pending.setdefault(key, {})
        if (old := seconds.get(time_us // US)) is not None:
            self.fate[old[2]] = "coalesced"
        seconds[time_us // US] = reading
        self.shed()

    def shed(self) -> None:
        while sum(map(len, self.buffered().values())) > self.capacity:
            candidates = [
                (min(seconds.values())[0], self.registered.index(key), key)
                for key, seconds in self.pending.items()
                if seconds
            ]
            if not candidates:
                return
            _, _, key = min(candidates)
            second = min(self.pending[key])
            self.fate[self.pending[key].pop(second)[2]] = f"dropped:{key}"

    def take(self, keys: tuple[str, ...], counts: dict[str, int]) -> None:
        for key in keys:
            ordered = sorted(self.pending[key].values())
            self.flight[key] = ordered[: counts[key]]
            for time_us, _, _ in self.flight[key]:
                del self.pending[key][time_us // US]

    def land(self, fates: dict[str, str]) -> None:
        for key, flown in self.flight.items():
            if key in fates:
                for reading in flown:
                    self.fate[reading[2]] = fates[key]
                continue
            seconds = self.pending.setdefault(key, {})
            for reading in flown:
                if reading[0] // US in seconds:
                    self.fate[reading[2]] = "coalesced"
                else:
                    seconds[reading[0] // US] = reading
        self.flight = {}
        self.shed()


MODEL_KEYS = ("a", "b", "sensor.c")
# What happens to frames and the bound, in both property tests below.
FRAME_OPERATIONS = (
    st.tuples(st.just("take"), st.integers(100, 1_500)),
    st.tuples(st.just("confirm")),
    st.tuples(st.just("release")),
    st.tuples(st.just("reject"), st.sets(st.sampled_from(MODEL_KEYS))),
    st.tuples(st.just("capacity"), st.integers(1, 12)),
)
# As shipped, and with the arrays compacted and the drop queue rebuilt
# whenever they may be.
STRESS = pytest.mark.parametrize(
    "stress",
    [False, True],
    ids=["as shipped", "compacting and rebuilding at every chance"],
)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("append"),
            st.sampled_from(MODEL_KEYS),
            st.integers(-2, 6),
            st.sampled_from([0, 1, 499_999, 500_000, 999_999]),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        # Paced: the time of the request, a slot and a horizon (seconds from
        # T0), and a bound on the work.
        st.tuples(
            st.just("take paced"),
            st.integers(100, 1_500),
            st.integers(-4, 12),
            st.integers(1, 3),
            st.integers(0, 8),
            st.integers(0, 800),
        ),
        *FRAME_OPERATIONS,
        st.tuples(st.just("restart")),
    ),
    max_size=80,
)


@STRESS
@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(1, 12), operations=OPERATIONS)
# Dropped for room, then appended again the very same before the journal's
# write: the drop must not take it off the disk.
@example(
    capacity=1,
    operations=[
        ("append", "a", 0, 0, 0.0),
        ("append", "a", 1, 0, 0.0),
        ("capacity", 2),
        ("append", "a", 0, 0, 0.0),
        ("restart",),
    ],
)
def test_every_reading_is_accounted_for(
    stress: bool, capacity: int, operations: list[tuple[Any, ...]]
) -> None:
    if not stress:
        run_against_model(capacity, operations)
        return
    with (
        patch.object(buffer_module, "_COMPACT_AFTER", 1),
        patch.object(buffer_module, "_QUEUE_SLACK", -100),
    ):
        run_against_model(capacity, operations)


@dataclass
class Disk:
    """What the journal holds when it applies the buffer's log as journal.py does."""

    rows: dict[tuple[str, int], tuple[int, float]] = field(default_factory=dict)

    def write(self, buffer: SampleBuffer) -> None:
        batch = buffer.drain_journal()
        for readings in batch.appended:
            for time_us, value in zip(readings.times, readings.values, strict=True):
                self.rows[readings.key, time_us // US] = (time_us, value)
        for key, time_us, value in batch.dropped:
            self.forget_one(key, time_us, value)

    def forget(self, removed: list[Readings]) -> None:
        for readings in removed:
            for time_us, value in zip(readings.times, readings.values, strict=True):
                self.forget_one(readings.key, time_us, value)

    def forget_one(self, key: str, time_us: int, value: float) -> None:
        # Only the exact reading: a later one of the same second may replace it.
        if self.rows.get((key, time_us // US)) == (time_us, value):
            del self.rows[key, time_us // US]

    def by_key(self) -> dict[str, list[tuple[int, float]]]:
        result: dict[str, list[tuple[int, float]]] = {}
        for (key, _), reading in sorted(self.rows.items()):
            result.setdefault(key, []).append(reading)
        return result


def run_against_model(capacity: int, operations: list[tuple[Any, ...]]) -> None:
    buffer = SampleBuffer(capacity)
    model = Model(capacity)
    disk = Disk()
    frame: Frame | None = None
    for operation in operations:
        match operation:
            case ("append", key, second, micro, value):
                buffer.series(key).append(T0 + second * US + micro, value)
                model.append(key, T0 + second * US + micro, value)
            case ("take", max_bytes):
                if frame is not None:
                    with pytest.raises(RuntimeError):
                        buffer.take_frame(max_bytes)
                    continue
                frame = buffer.take_frame(max_bytes)
                check_frame(model, frame, max_bytes)
            case ("take paced", max_bytes, now, slot, horizon, max_work):
                pace = Pace(T0 + now * US, slot * US, horizon * US, max_work=max_work)
                if frame is not None:
                    with pytest.raises(RuntimeError):
                        buffer.take_frame(max_bytes, pace=pace)
                    continue
                frame = buffer.take_frame(max_bytes, pace=pace)
                check_frame(model, frame, max_bytes, pace)
            case ("confirm" | "release" | "reject", *_) if frame is None:
                continue
            case ("confirm",):
                assert frame is not None
                disk.write(buffer)
                disk.forget(buffer.confirm(frame))
                model.land(dict.fromkeys(model.flight, "delivered"))
                frame = None
            case ("release",):
                assert frame is not None
                buffer.release(frame)
                model.land({})
                frame = None
            case ("reject", keys):
                assert frame is not None
                refused = {
                    key: len(model.flight[key]) for key in keys & model.flight.keys()
                }
                disk.write(buffer)
                rejected = buffer.reject(frame, keys)
                assert {r.key: len(r.times) for r in rejected} == refused
                disk.forget(buffer.unshadowed(rejected))
                model.land(dict.fromkeys(refused, "rejected"))
                frame = None
            case ("capacity", new_capacity):
                buffer.capacity = model.capacity = new_capacity
                model.shed()
            case ("restart",):
                # A crash: whatever was in flight may not have arrived.
                if frame is not None:
                    buffer.release(frame)
                    model.land({})
                    frame = None
                disk.write(buffer)
                # The journal holds exactly what the buffer holds.
                on_disk = disk.by_key()
                assert on_disk == {
                    r.key: list(zip(r.times, r.values, strict=True))
                    for r in buffer.readings()
                }
                restored = SampleBuffer(model.capacity)
                # Keys are restored in the order the journal first saw them;
                # the model breaks ties between keys in that order too.
                model.registered = [key for key in model.registered if key in on_disk]
                for key in model.registered:
                    restored.load_series(
                        key,
                        array("q", [time_us for time_us, _ in on_disk[key]]),
                        array("d", [value for _, value in on_disk[key]]),
                    )
                restored.restore_drop_counts(buffer.dropped, buffer.dropped_by_key)
                buffer = restored
        check_state(buffer, model)


JOURNAL_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("append"),
            st.sampled_from(MODEL_KEYS),
            st.integers(-3, 8),
            st.sampled_from([0, 1, 500_000, 999_999]),
            st.floats(-5, 5, allow_nan=False),
        ),
        st.tuples(st.just("interval"), st.sampled_from(MODEL_KEYS), st.integers(0, 3)),
        st.tuples(
            st.just("merge"),
            st.sampled_from(MODEL_KEYS),
            st.lists(st.tuples(st.integers(-6, 8), st.floats(-5, 5)), max_size=4),
        ),
        *FRAME_OPERATIONS,
        st.tuples(st.just("write")),
    ),
    max_size=80,
)


@STRESS
@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(1, 12), operations=JOURNAL_OPERATIONS)
# A write, then a new reading that pushes the one written out: dropping it
# moves the new one to the front of its arrays, and it must still be found.
@example(
    capacity=1,
    operations=[("append", "a", 0, 0, 1.0), ("write",), ("append", "a", 1, 0, 2.0)],
)
def test_the_journal_holds_what_the_buffer_holds_after_every_write(
    stress: bool, capacity: int, operations: list[tuple[Any, ...]]
) -> None:
    """Whichever way readings came, moved or went, a write leaves disk = buffer.

    The journal finds appends at the end of a series in the series' arrays, and
    everything else in a log: this mixes the two with merges, longer windows,
    clocks going back and frames, and writes at any moment.
    """
    with (
        patch.object(buffer_module, "_COMPACT_AFTER", 1 if stress else 64),
        patch.object(buffer_module, "_QUEUE_SLACK", -100 if stress else 64),
    ):
        buffer = SampleBuffer(capacity)
        disk = Disk()
        frame: Frame | None = None
        for operation in [*operations, ("write",)]:
            match operation:
                case ("append", key, second, micro, value):
                    buffer.series(key).append(T0 + second * US + micro, value)
                case ("interval", key, seconds):
                    buffer.set_min_interval(key, seconds)
                case ("merge", key, readings):
                    buffer.merge(
                        key,
                        [T0 + second * US for second, _ in readings],
                        [value for _, value in readings],
                    )
                case ("take", max_bytes) if frame is None:
                    frame = buffer.take_frame(max_bytes)
                case ("confirm",) if frame is not None:
                    disk.write(buffer)
                    disk.forget(buffer.confirm(frame))
                    frame = None
                case ("release",) if frame is not None:
                    buffer.release(frame)
                    frame = None
                case ("reject", keys) if frame is not None:
                    disk.write(buffer)
                    disk.forget(buffer.unshadowed(buffer.reject(frame, keys)))
                    frame = None
                case ("capacity", new_capacity):
                    buffer.capacity = new_capacity
                case ("write",):
                    disk.write(buffer)
                    assert disk.by_key() == one_per_second(buffer.readings())


def one_per_second(readings: list[Readings]) -> dict[str, list[tuple[int, float]]]:
    """The readings as the journal keeps them: per second the last one appended.

    A reading in flight and a newer pending one may share a second.
    """
    result: dict[str, list[tuple[int, float]]] = {}
    for item in readings:
        seconds = {
            time_us // US: (time_us, value)
            for time_us, value in zip(item.times, item.values, strict=True)
        }
        result[item.key] = sorted(seconds.values())
    return result


def check_frame(
    model: Model, frame: Frame | None, max_bytes: int, pace: Pace | None = None
) -> None:
    by_age = sorted(
        (min(seconds.values())[0], model.registered.index(key), key)
        for key, seconds in model.pending.items()
        if seconds
    )
    if not by_age:
        assert frame is None
        return
    assert frame is not None
    assert len(frame.data_json) <= max_bytes
    data = decode(frame)
    assert data["times"] == sorted(set(data["times"]))
    assert all(len(row) == len(data["times"]) for row in data["series"].values())
    # The key with the oldest pending reading first, the others in age order.
    ages = [key for _, _, key in by_age]
    assert frame.keys[0] == ages[0]
    assert list(frame.keys) == sorted(frame.keys, key=ages.index)
    if pace is None:
        # Unpaced: whole keys, oldest first, for as long as they fit.
        assert frame.keys == tuple(ages[: len(frame.keys)])
    else:
        cells = len(frame.keys) * len(data["times"])
        work = cells + TIME_WORK * len(data["times"])
        # Within the bound, but for a key alone that gets a reading at least.
        assert work <= pace.max_work or frame.sample_count == 1
        if len(frame.keys) > 1:
            # Paced: nulls within the allowance the rate limit sets.
            _, per_request = reference_schedule([age for age, _, _ in by_age], pace)
            allowance = max(NULL_ALLOWANCE, per_request - 1)
            assert cells - frame.sample_count <= allowance * frame.sample_count
    sent = readings(frame)
    # Only a key alone in its frame may be cut short.
    for key in frame.keys:
        ordered = sorted(model.pending[key].values())
        if len(frame.keys) > 1:
            assert len(sent[key]) == len(ordered)
        assert sent[key] == [
            (format_time(time_us), value)
            for time_us, value, _ in ordered[: len(sent[key])]
        ]
    assert frame.sample_count == sum(map(len, sent.values()))
    model.take(frame.keys, {key: len(cells) for key, cells in sent.items()})


def check_state(buffer: SampleBuffer, model: Model) -> None:
    buffered = model.buffered()
    # Every reading appended is delivered, rejected, dropped, coalesced or buffered.
    buffered_ids = {
        reading[2] for readings in buffered.values() for reading in readings
    }
    assert buffered_ids.isdisjoint(model.fate)
    assert len(buffered_ids) + len(model.fate) == model.appended

    assert len(buffer) == len(buffered_ids)
    assert buffer.counts_by_key() == {
        key: len(readings) for key, readings in buffered.items()
    }
    dropped = Counter(
        fate.removeprefix("dropped:")
        for fate in model.fate.values()
        if fate.startswith("dropped:")
    )
    assert buffer.dropped == dropped.total()
    assert buffer.dropped_by_key == dropped
    assert buffer.oldest_us == min(
        (reading[0] for readings in buffered.values() for reading in readings),
        default=None,
    )
    # Every series with pending readings has a live entry in the drop queue, no
    # younger than its oldest pending reading.
    live = {(time_us, series) for time_us, _, series in buffer._ledger.queue}
    for series in buffer._ledger.series.values():
        if len(series.times) > series.head:
            assert (series.queued, series) in live
            assert series.queued <= series.times[series.head]
    saved = buffer.to_dict()["series"]
    assert saved.keys() == buffered.keys()
    for key, readings in buffered.items():
        times, values = saved[key]
        count = len(readings)
        assert struct.unpack(f"<{count}q", base64.b64decode(times)) == tuple(
            r[0] for r in readings
        )
        assert struct.unpack(f"<{count}d", base64.b64decode(values)) == tuple(
            r[1] for r in readings
        )


def test_take_frame_of_chosen_keys() -> None:
    """A frame can be limited to some keys; the others stay pending."""
    buffer = SampleBuffer()
    for key in ("a", "b", "c"):
        buffer.series(key).append(1_700_000_000_000_000, 1.0)
    frame = buffer.take_frame(keys=["c", "a", "missing"])
    assert frame is not None
    assert sorted(frame.keys) == ["a", "c"]
    buffer.confirm(frame)
    assert buffer.counts_by_key() == {"b": 1}
    assert buffer.take_frame(keys=["a"]) is None


def test_one_reading_per_longer_window_and_the_journal_agrees() -> None:
    """A key limited to one reading in 10 s keeps the last of each window."""
    buffer = SampleBuffer()
    disk = Disk()
    buffer.set_min_interval("a", 10)
    for second in (0, 3, 9, 12, 15, 31):
        buffer.series("a").append(T0 + second * US + 7, float(second))
        if second == 9:
            disk.write(buffer)
    disk.write(buffer)
    expected = [(T0 + s * US + 7, float(s)) for s in (9, 15, 31)]
    assert [list(zip(r.times, r.values, strict=True)) for r in buffer.readings()] == [
        expected
    ]
    assert disk.by_key() == {"a": expected}
    # Back to one a second: readings in one window are all kept again.
    buffer.set_min_interval("a", 0)
    buffer.series("a").append(T0 + 32 * US, 32.0)
    buffer.series("a").append(T0 + 33 * US, 33.0)
    assert len(buffer) == 5


# ---------------------------------------------------------------- packing
#
# A frame of K keys, T times and R readings holds K * T - R nulls, 5 bytes each
# (`null,`), and T <= R, so at most (K - 1) * R. Paced frames keep the nulls at
# most `allowance` * R, allowance = max(NULL_ALLOWANCE, per_request - 1), where
# per_request is the fewest keys per request that meets every deadline at one
# request per slot (see `reference_schedule`). Draining a buffer, one frame per
# slot and nothing arriving meanwhile, that allowance never grows (a frame
# takes at least the keys due in it, so the later requests can keep every
# deadline with per_request keys each). When every reading is at most A old,
# no key is overdue and per_request <= ceil(Q / (floor((H - A) / slot) + 1))
# for Q keys and a horizon H. Hence, per frame,
#
#     bytes <= 24 + sum over its keys (len(json key) + 4) + R * (30 + 25 + 5 * allowance)
#
# (30 per time, 25 per number, the longest orjson writes), and over the drain,
# each key being in one frame only,
#
#     bytes <= 24 * frames + sum over keys (len(json key) + 4)
#              + readings * (55 + 5 * max(4, ceil(Q / (floor((H - A) / slot) + 1)) - 1))


def reference_schedule(oldest_times: list[int], pace: Pace) -> tuple[int, int]:
    """What `Pace.schedule` answers, found by trying: (due now, keys per request).

    Keys leave oldest first, `per_request` a request, one request per slot. A
    key may leave in request `latest` at the latest: its deadline (oldest +
    horizon) less now, in whole slots, at most the slots in a horizon; an
    overdue key by the end of the next horizon.
    """
    slots = max(1, pace.horizon_us // pace.slot_us)
    latest = []
    for oldest in sorted(oldest_times):
        wait = oldest + pace.horizon_us - pace.now_us
        latest.append(slots - 1 if wait < 0 else min(wait // pace.slot_us, slots))

    def keeps(now: int, per_request: int) -> bool:
        """Whether taking `now` keys now, then `per_request` a request, keeps it."""
        return all(
            (0 if rank < now else 1 + (rank - now) // per_request) <= last
            for rank, last in enumerate(latest)
        )

    per_request = next(c for c in itertools.count(1) if keeps(c, c))
    due = next(d for d in itertools.count() if keeps(d, per_request))
    return due, per_request


def null_count(frame: Frame) -> int:
    data = decode(frame)
    return len(data["series"]) * len(data["times"]) - frame.sample_count


def drain_paced(buffer: SampleBuffer, pace: Pace) -> list[Frame]:
    """Take and confirm frames, one per slot, until nothing is pending."""
    frames = []
    for request in itertools.count():
        now = Pace(
            pace.now_us + request * pace.slot_us,
            pace.slot_us,
            pace.horizon_us,
            pace.max_work,
        )
        if (frame := buffer.take_frame(10**9, pace=now)) is None:
            return frames
        frames.append(frame)
        buffer.confirm(frame)
    raise AssertionError  # pragma: no cover


def test_pace_of_a_sender() -> None:
    pace = Pace.for_sender(T0, 60, 1.0)
    # A request a second, and a quarter of a second for the request itself.
    assert pace.slot_us == 1_250_000
    # Within two intervals, less two slots for the request in flight.
    assert pace.horizon_us == 117_500_000
    assert pace.max_work == FRAME_WORK
    # However short the interval, a reading has a slot to leave in.
    assert Pace.for_sender(T0, 1, 1.0).horizon_us == 1_250_000


@settings(max_examples=300, deadline=None)
@given(
    oldest=st.lists(st.integers(-40, 40), max_size=40),
    now=st.integers(-40, 40),
    slot=st.integers(1, 7),
    horizon=st.integers(0, 40),
)
def test_schedule_is_the_fewest_keys_per_request_that_keeps_every_deadline(
    oldest: list[int], now: int, slot: int, horizon: int
) -> None:
    pace = Pace(T0 + now * US, slot * US // 2, horizon * US)
    times = [T0 + second * US for second in oldest]
    assert pace.schedule(times) == (
        reference_schedule(times, pace) if times else (0, 1)
    )


KEY_TEXT = st.text(
    "abcdefghijklmnopqrstuvwxyz_.0123456789", min_size=1, max_size=40
).map(lambda text: f"sensor.{text}")


@settings(max_examples=200, deadline=None)
@given(
    keys=st.lists(KEY_TEXT, min_size=1, max_size=40, unique=True),
    readings_=st.lists(
        st.tuples(
            st.integers(0, 10_000),
            # Seconds before the first request, at most A (age) apart.
            st.integers(0, 10_000),
            st.integers(0, 999_999),
            st.sampled_from([*LONGEST_NUMBERS, 21.5, 0.0, 1.0]),
        ),
        min_size=1,
        max_size=300,
    ),
    age=st.integers(0, 100),
    slot=st.integers(1, 5),
    interval=st.integers(10, 300),
    shared=st.booleans(),
)
def test_bytes_per_reading_of_a_paced_drain_are_bounded(
    keys: list[str],
    readings_: list[tuple[int, int, int, float]],
    age: int,
    slot: int,
    interval: int,
    shared: bool,
) -> None:
    """Any mix of keys and times: the bound stated above holds, frame by frame."""
    horizon = 2 * interval
    age = min(age, horizon)
    buffer = SampleBuffer(10**6)
    now = T0 + 10**5 * US
    for key_index, second, micro, value in readings_:
        # Shared: a few common instants, as keys fed by one clock have.
        offset = (second % 7) * US if shared else second * US + micro
        time_us = now - offset % (age * US + 1)
        buffer.series(keys[key_index % len(keys)]).append(time_us, value)
    count = len(buffer)
    key_count = len(buffer.counts_by_key())
    pace = Pace(now, slot * US, horizon * US)
    _, per_request = reference_schedule([min(r.times) for r in buffer.readings()], pace)
    bound = (horizon - age) // slot + 1
    assert per_request <= -(-key_count // bound)
    allowance = max(NULL_ALLOWANCE, per_request - 1)

    frames = drain_paced(buffer, pace)

    assert sum(frame.sample_count for frame in frames) == count
    for frame in frames:
        assert null_count(frame) <= allowance * frame.sample_count
        assert len(frame.data_json) <= (
            24
            + sum(len(orjson.dumps(key)) + 4 for key in frame.keys)
            + frame.sample_count * (55 + 5 * allowance)
        )
    # Each key in one frame only: the drain's bytes per reading are bounded.
    assert sum(len(frame.keys) for frame in frames) == key_count
    total = sum(len(frame.data_json) for frame in frames)
    sent_keys = {key for frame in frames for key in frame.keys}
    assert total <= (
        24 * len(frames)
        + sum(len(orjson.dumps(key)) + 4 for key in sent_keys)
        + count * (55 + 5 * allowance)
    )


@dataclass
class Sent:
    """What a simulated sender sent to Clarify."""

    bytes: int = 0
    readings: int = 0
    requests: int = 0
    nulls: int = 0
    # The longest a reading waited from its time until its request left.
    wait_us: int = 0
    # Over the whole run, settling included.
    appended: int = 0
    delivered: int = 0


def send_every_minute(
    keys: int,
    *,
    minutes: int = 8,
    settle: int = 3,
    interval: int = 60,
    clock: str = "own",
    long_values: bool = False,
) -> Sent:
    """Entities changing once a minute, sent as the sender does, one request a slot.

    `clock`: "own" (each entity at its own instant, random microseconds), "one"
    (every entity at the same instants), "one, gaps" (the same, but a tenth of
    the readings missing). Counted from minute `settle` on.
    """
    rng = random.Random(keys)
    buffer = SampleBuffer(10**7)
    handles = [
        buffer.series(f"sensor.{rng.choice(ROOMS)}_{kind}_{index}")
        for index, kind in zip(range(keys), itertools.cycle(KINDS))
    ]
    phases = [0 if clock != "own" else rng.randrange(60 * US) for _ in range(keys)]
    start = T0 + 60 * US
    pace = Pace.for_sender(start, interval, 1.0)
    sent = Sent()
    arrivals = sorted(
        (start + minute * 60 * US + phase + (0 if clock == "own" else 123_456), index)
        for minute in range(minutes)
        for index, phase in enumerate(phases)
    )
    due = 0
    tick = start + interval * US
    while tick <= start + minutes * 60 * US:
        now = tick
        while True:
            while due < len(arrivals) and arrivals[due][0] <= now:
                time_us, index = arrivals[due]
                due += 1
                if clock == "one, gaps" and rng.random() < 0.1:
                    continue
                value = 20 + index / 7 if long_values else round(rng.uniform(15, 25), 1)
                handles[index].append(time_us, value)
                sent.appended += 1
            frame = buffer.take_frame(pace=replace(pace, now_us=now))
            if frame is None:
                break
            sent.delivered += frame.sample_count
            sent.wait_us = max(sent.wait_us, now - frame.oldest_us)
            if now >= start + settle * 60 * US:
                sent.bytes += len(frame.data_json)
                sent.readings += frame.sample_count
                sent.requests += 1
                sent.nulls += null_count(frame)
            buffer.confirm(frame)
            now += pace.slot_us
        tick = max(tick + interval * US, now)
    return sent


ROOMS = ("living_room", "kitchen", "bedroom", "bathroom", "office", "garage", "hall")
KINDS = ("temperature", "humidity", "power", "illuminance", "energy")


@pytest.mark.parametrize(
    "long_values", [False, True], ids=["21.5", "20.142857142857142"]
)
def test_1000_entities_once_a_minute_within_150_bytes_a_reading(
    long_values: bool,
) -> None:
    sent = send_every_minute(1_000, long_values=long_values)
    # Every reading went, exactly once.
    assert sent.delivered == sent.appended == 8_000
    assert sent.readings > 4_000
    assert sent.bytes / sent.readings <= 150
    # And within two intervals of its time, a request's time to spare.
    assert sent.wait_us <= Pace.for_sender(T0, 60, 1.0).horizon_us


def test_5000_entities_once_a_minute_near_the_least_bytes_possible() -> None:
    """The dense matrix sets a floor that grows with the entities; the packer is near it.

    In any schedule, a request leaves at most once a slot, so on average it
    carries at least keys * slot / 60 s readings; a key has at most two readings
    in it (a third would be two minutes old: later than two intervals); all
    times differ. So a request of R readings has at least R / 2 keys and R * (R
    / 2 - 1) nulls, and by convexity the readings average at least
    keys * slot / 120 s - 1 nulls, 5 bytes each, plus 30 bytes of time, the
    value, and half the key. At 5,000 entities that alone is over 250 bytes a
    reading: 200 cannot be met at one request a second with exact times and no
    compression, however the frames are packed.
    """
    keys = 5_000
    sent = send_every_minute(keys, minutes=6)
    slot = Pace.for_sender(T0, 60, 1.0).slot_us / US
    floor = (
        5 * (keys * slot / 120 - 1)
        + 30
        + len("21.5,")
        + len('"sensor.hall_power_1":[],') / 2
    )
    assert floor > 250
    assert sent.delivered == sent.appended == keys * 6
    assert sent.bytes / sent.readings <= 1.15 * floor
    assert sent.wait_us <= Pace.for_sender(T0, 60, 1.0).horizon_us


@pytest.mark.parametrize(
    ("clock", "interval"), [("one", 60), ("one, gaps", 120)], ids=["one", "gaps"]
)
def test_keys_on_one_clock_pack_densely(clock: str, interval: int) -> None:
    """Keys that share times fill frames whatever their number.

    With gaps (a tenth of the readings missing) and two readings a key per
    send, keys' times differ a little: a null per missing reading at most (the
    packer may also put keys of the same times in requests of their own).
    """
    sent = send_every_minute(1_000, clock=clock, interval=interval)
    assert sent.delivered == sent.appended
    assert sent.readings > 4_000
    if clock == "one":
        assert sent.nulls == 0
        assert sent.bytes / sent.readings <= 50
    else:
        assert sent.nulls <= sent.readings / 10
        assert sent.requests <= 20
        assert sent.bytes / sent.readings <= 50


def test_the_first_frame_after_a_start_is_paced_too() -> None:
    """What waits after a start or a quiet spell is paced like anything else.

    200 keys of distinct times in one request would be 39,800 nulls for 200
    readings (1 KB a reading); paced, the first requests carry a handful of
    keys each. Keys of one clock still go together, whatever their number.
    """
    buffer = SampleBuffer()
    pace = Pace.for_sender(T0 + 10 * US, 60, 1.0)
    for index in range(200):
        buffer.series(f"sensor.s{index}").append(T0 + index * 1_003, 1.0)
    first = buffer.take_frame(pace=pace)
    assert first is not None
    assert len(first.keys) == NULL_ALLOWANCE + 1
    assert null_count(first) <= NULL_ALLOWANCE * first.sample_count
    buffer.confirm(first)
    much_later = replace(pace, now_us=pace.now_us + 3_600 * US)
    frames = drain_paced(buffer, much_later)
    assert sum(frame.sample_count for frame in frames) == 195
    # Overdue, they must all leave within a horizon: 94 slots.
    assert len(frames) <= pace.horizon_us // pace.slot_us

    for index in range(200):
        buffer.series(f"sensor.s{index}").append(T0 + 2 * US, 2.0)
    shared = buffer.take_frame(pace=much_later)
    assert shared is not None
    assert shared.sample_count == 200
    assert null_count(shared) == 0


def test_a_day_of_backlog_leaves_in_bounded_frames() -> None:
    """1,440,000 readings: each frame within the work a call may do."""
    buffer = SampleBuffer()
    keys = 1_000
    handles = [buffer.series(f"sensor.s{index}") for index in range(keys)]
    for minute in range(1_440):
        for index, handle in enumerate(handles):
            handle.append(T0 + minute * 60 * US + index * 1_009, 1.0)
    pace = Pace(T0 + 1_440 * 60 * US, US, 117 * US)
    frame = buffer.take_frame(pace=pace)
    assert frame is not None
    assert frame.keys[0] == "sensor.s0"
    times = len(decode(frame)["times"])
    assert (len(frame.keys) + TIME_WORK) * times <= FRAME_WORK
    # Whole keys, and as many as the cells allow: several a frame.
    assert frame.sample_count == 1_440 * len(frame.keys)
    assert len(frame.keys) > 1
    buffer.confirm(frame)
    # A key of more readings than a frame holds goes in pieces.
    big = SampleBuffer()
    for second in range(1_000):
        big.series("sensor.busy").append(T0 + second * US, 1.0)
    small = replace(pace, max_work=300 * (1 + TIME_WORK))
    sizes = [frame.sample_count for frame in drain_paced(big, small)]
    assert sizes == [300, 300, 300, 100]


def test_paced_frames_of_chosen_keys() -> None:
    buffer = SampleBuffer()
    for index in range(20):
        buffer.series(f"k{index}").append(T0 + index, 1.0)
    pace = Pace(T0 + US, US, 100 * US)
    frame = buffer.take_frame(keys=["k3", "k1", "k7", "k1"], pace=pace)
    assert frame is not None
    assert frame.keys == ("k1", "k3", "k7")
