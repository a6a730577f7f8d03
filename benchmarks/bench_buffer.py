"""Benchmark the sample buffer: hot path, frame building, packing, memory, persistence.

Run from the repository root: ``python benchmarks/bench_buffer.py``. Every figure
is measured in this run, side by side with its reference, so ratios hold across
machines; nothing is asserted. Timings are medians of interleaved rounds (the
machine is shared). Takes 2-3 minutes.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
import gc
import itertools
from pathlib import Path
import random
import sys
import time
import tracemalloc
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The benchmarks' own helpers (`harness`), as when run from this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))

KEYS = 1_000
START_US = 1_714_564_800 * 1_000_000  # 2024-05-01T12:00:00Z
MINUTE_US = 60 * 1_000_000


def timed[T](run: Callable[[], T]) -> tuple[float, T]:
    """Run once with the collector off; return the seconds taken and the result."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        result = run()
        return time.perf_counter() - started, result
    finally:
        gc.enable()


def bench_append(rows: list[tuple[str, str, str]]) -> None:
    """(a) The hot path against a bare list.append, 1,000 keys in turn."""
    from custom_components.clarify.buffer import SampleBuffer

    count = 400_000
    # One reading per key per minute, as state changes would deliver them.
    times = [START_US + (i // KEYS) * MINUTE_US + i % KEYS for i in range(count)]
    same_second = [START_US + i // KEYS for i in range(count)]

    def floor() -> float:
        lists: list[list[int]] = [[] for _ in range(KEYS)]
        appends = [items.append for items in lists] * (count // KEYS)

        def run() -> None:
            for append, time_us in zip(appends, times, strict=True):
                append(time_us)

        return timed(run)[0]

    def arrays() -> float:
        appends = [_ArrayPair().append for _ in range(KEYS)] * (count // KEYS)

        def run() -> None:
            for append, time_us in zip(appends, times, strict=True):
                append(time_us, 21.5)

        return timed(run)[0]

    def series(buffer: SampleBuffer, data: list[int]) -> float:
        handles = [buffer.series(f"sensor.s{k}") for k in range(KEYS)]
        appends = [handle.append for handle in handles] * (count // KEYS)

        def run() -> None:
            for append, time_us in zip(appends, data, strict=True):
                append(time_us, 21.5)

        return timed(run)[0]

    cases: dict[str, Callable[[], float]] = {
        "list.append (floor)": floor,
        "two array appends (storage)": arrays,
        "series.append, new second": lambda: series(SampleBuffer(), times),
        "series.append, same second": lambda: series(SampleBuffer(), same_second),
        "series.append, at capacity": lambda: series(_full_buffer(100_000), times),
    }
    results = {
        name: min(case() for _ in range(5)) / count * 1e9
        for name, case in cases.items()
    }

    base = results["list.append (floor)"]
    print(f"(a) append, {count:,} calls over 1,000 keys (ns per call, loop included)")
    print(f"    {'case':<28} {'ns':>7} {'x floor':>8} {'+ns':>6}")
    for name, ns in results.items():
        print(f"    {name:<28} {ns:7.1f} {ns / base:8.2f} {ns - base:6.1f}")
    appended = results["series.append, new second"]
    rows.append(
        (
            "append vs list.append",
            f"{appended / base:.2f}x",
            f"+{appended - base:.0f} ns",
        )
    )


class _ArrayPair:
    """The storage alone: what appending to two arrays costs, with no logic."""

    __slots__ = ("times", "values")

    def __init__(self) -> None:
        self.times = array("q")
        self.values = array("d")

    def append(self, time_us: int, value: float) -> None:
        self.times.append(time_us)
        self.values.append(value)


def _full_buffer(capacity: int) -> Any:
    """A buffer at capacity with older readings, so every append drops one."""
    from custom_components.clarify.buffer import SampleBuffer

    buffer = SampleBuffer(capacity)
    handles = [buffer.series(f"sensor.s{k}") for k in range(KEYS)]
    first = START_US - capacity * 1_000_000
    for i in range(capacity):
        handles[i % KEYS].append(first + i * 1_000_000, 1.0)
    return buffer


def _filled(*, shared: bool) -> Any:
    """1,000 keys x 60 readings a minute apart, at shared or distinct times."""
    from custom_components.clarify.buffer import SampleBuffer

    buffer = SampleBuffer()
    for key in range(KEYS):
        series = buffer.series(f"sensor.temperature_{key}")
        offset = 0 if shared else key * 997
        for minute in range(60):
            series.append(START_US + minute * MINUTE_US + offset, 20 + key / 7)
    return buffer


def _drain(buffer: Any) -> list[Any]:
    frames = []
    while (frame := buffer.take_frame()) is not None:
        frames.append(frame)
        buffer.confirm(frame)
    return frames


def bench_frames(rows: list[tuple[str, str, str]]) -> None:
    """(b) 1,000 keys x 60 shared times against the encode floor; (c) distinct times."""
    import orjson

    from custom_components.clarify.buffer import Pace

    # The sender's pace, a slot after the newest reading: no key is overdue.
    pace = Pace.for_sender(START_US + 60 * MINUTE_US, 60, 1.0)
    paced = Pace(pace.now_us, pace.slot_us, pace.horizon_us)
    build: list[float] = []
    build_paced: list[float] = []
    floor: list[float] = []
    for _ in range(15):
        seconds, frame = timed(_filled(shared=True).take_frame)
        build.append(seconds)
        buffer = _filled(shared=True)
        seconds, paced_frame = timed(
            lambda buffer=buffer: buffer.take_frame(pace=paced)
        )
        build_paced.append(seconds)
        body = orjson.loads(frame.data_json)
        floor.append(timed(lambda body=body: orjson.dumps(body))[0])
    built, built_paced, encoded = map(_median, (build, build_paced, floor))
    print("(b) one frame, 1,000 keys x 60 readings sharing 60 times (median of 15)")
    print(
        f"    build + encode {built * 1e3:.1f} ms, paced {built_paced * 1e3:.1f} ms "
        f"({len(paced_frame.keys)} keys, {paced_frame.sample_count} readings); "
        f"encode floor (orjson.dumps of the body) {encoded * 1e3:.1f} ms: "
        f"{built / encoded:.2f}x / {built_paced / encoded:.2f}x (goal <= 2x); "
        f"{len(frame.data_json) / 1e6:.2f} MB"
    )

    distinct_time, frames = min(
        (timed(lambda: _drain(_filled(shared=False))) for _ in range(3)),
        key=lambda item: item[0],
    )
    largest = max(len(frame.data_json) for frame in frames)
    readings = sum(frame.sample_count for frame in frames)
    sent = sum(len(frame.data_json) for frame in frames)
    paced_frames = _drain_paced(_filled(shared=False), paced)
    paced_sent = sum(len(frame.data_json) for frame in paced_frames)
    print("(c) 1,000 keys x 60 readings, all times distinct")
    print(
        f"    unpaced, 4 MiB frames: {len(frames)} frames in "
        f"{distinct_time * 1e3:.0f} ms ({distinct_time / len(frames) * 1e3:.1f} ms "
        f"each), largest {largest / 2**20:.2f} MiB, {sent / readings:.0f} B a reading"
    )
    print(
        f"    paced: {len(paced_frames)} frames, {paced_sent / readings:.0f} B a "
        f"reading, largest {max(len(f.data_json) for f in paced_frames) / 1e3:.0f} kB"
    )
    rows.append(
        (
            "frame 1,000 x 60 shared",
            f"{built * 1e3:.1f} ms {built / encoded:.2f}x",
            f"floor {encoded * 1e3:.1f} ms",
        )
    )
    rows.append(
        (
            "frames 1,000 x 60 distinct",
            f"{len(frames)} frames",
            f"{distinct_time * 1e3:.0f} ms",
        )
    )


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return (
        ordered[middle]
        if len(ordered) % 2
        else (ordered[middle - 1] + ordered[middle]) / 2
    )


def _drain_paced(buffer: Any, pace: Any) -> list[Any]:
    """Take and confirm paced frames, one a slot, until nothing is pending."""
    from dataclasses import replace

    frames = []
    now = pace.now_us
    while (frame := buffer.take_frame(pace=replace(pace, now_us=now))) is not None:
        frames.append(frame)
        buffer.confirm(frame)
        now += pace.slot_us
    return frames


ROOMS = ("living_room", "kitchen", "bedroom", "bathroom", "office", "garage", "hall")
KINDS = ("temperature", "humidity", "power", "illuminance", "energy")


def _entity_buffer(keys: int, rng: Any) -> tuple[Any, list[Any]]:
    from custom_components.clarify.buffer import SampleBuffer

    buffer = SampleBuffer(10**8)
    handles = [
        buffer.series(f"sensor.{rng.choice(ROOMS)}_{kind}_{index}")
        for index, kind in zip(range(keys), itertools.cycle(KINDS), strict=False)
    ]
    return buffer, handles


def _one_interval(keys: int) -> Any:
    """One reading per key at random microseconds within the last minute."""
    rng = random.Random(keys)
    buffer, handles = _entity_buffer(keys, rng)
    for handle in handles:
        handle.append(
            START_US + rng.randrange(MINUTE_US), round(rng.uniform(15, 25), 1)
        )
    return buffer


def _steady(keys: int, minutes: int = 8, settle: int = 3) -> dict[str, float]:
    """Entities changing once a minute, sent as the sender does (60 s interval).

    `harness.paced_send`: a send every interval, a request a spacing apart
    while frames come, whole request bodies counted from minute `settle` on.
    """
    import harness

    rng = random.Random(keys)
    names = [
        f"sensor.{rng.choice(ROOMS)}_{kind}_{index}"
        for index, kind in zip(range(keys), itertools.cycle(KINDS), strict=False)
    ]
    phases = [rng.randrange(MINUTE_US) for _ in range(keys)]
    sent = harness.paced_send(
        (
            (index, (START_US + minute * MINUTE_US + phase) / 1e6)
            for minute in range(minutes)
            for index, phase in enumerate(phases)
        ),
        names,
        count_from=(START_US + settle * MINUTE_US) / 1e6,
    )
    return {
        "bytes": sent["bytes_per_reading"],
        "per_minute": sent["requests_per_minute"],
        "wait": sent["longest_wait_s"],
        "take_median": sent["take_median_ms"],
        "take_max": sent["take_max_ms"],
    }


def bench_packing(rows: list[tuple[str, str, str]]) -> None:
    """(f) Bytes a reading and requests, entities changing once a minute."""
    from custom_components.clarify.buffer import Pace

    pace = Pace.for_sender(START_US + MINUTE_US, 60, 1.0)
    slot = pace.slot_us / 1e6
    print(
        "(f) entities changing once a minute at their own microseconds, 60 s interval"
    )
    print(
        "    before: what the unpaced packer sends for one interval (4 MiB frames); "
        "drain: the same, paced, a slot apart; steady: 8 simulated minutes, "
        "counted from the third, a request a slot (1.25 s) while frames come"
    )
    print(
        f"    {'keys':>6} {'before B/r':>10} {'req':>4} {'drain B/r':>9} {'req':>4} "
        f"{'steady B/r':>10} {'req/min':>7} {'wait s':>6} {'floor B/r':>9} "
        f"{'take ms':>7} {'max':>6}"
    )
    for keys in (100, 1_000, 5_000, 20_000):
        before = _drain(_one_interval(keys))
        drained = _drain_paced(
            _one_interval(keys), Pace(pace.now_us, pace.slot_us, pace.horizon_us)
        )
        steady = _steady(keys)
        # No schedule does better (see tests/test_buffer.py): a request a slot
        # carries keys * slot / 60 s readings on average, two at most per key,
        # each at its own time.
        per_request = keys * slot / 60
        floor = (
            5 * max(0.0, per_request / 2 - 1)
            + 30
            + len("21.5,")
            + (len('"sensor.kitchen_power_100":[],') / min(2, max(1, per_request)))
        )

        def per_reading(frames: list[Any]) -> float:
            return sum(len(f.data_json) for f in frames) / sum(
                f.sample_count for f in frames
            )

        print(
            f"    {keys:>6,} {per_reading(before):>10.0f} {len(before):>4} "
            f"{per_reading(drained):>9.0f} {len(drained):>4} {steady['bytes']:>10.0f} "
            f"{steady['per_minute']:>7.1f} {steady['wait']:>6.1f} {floor:>9.0f} "
            f"{steady['take_median']:>7.2f} {steady['take_max']:>6.1f}"
        )
        rows.append(
            (
                f"B/reading {keys:,} keys",
                f"{steady['bytes']:.0f} B",
                f"before {per_reading(before):.0f} B",
            )
        )


def bench_backlog_take(rows: list[tuple[str, str, str]]) -> None:
    """(g) Taking one frame from a day of 1,000 keys: 1,440,000 readings."""
    from custom_components.clarify.buffer import Pace, SampleBuffer

    rng = random.Random(1)
    buffer = SampleBuffer()
    phases = [rng.randrange(MINUTE_US) for _ in range(KEYS)]
    handles = [buffer.series(f"sensor.s{k}") for k in range(KEYS)]
    for minute in range(1_440):
        for handle, phase in zip(handles, phases, strict=True):
            handle.append(START_US + minute * MINUTE_US + phase, 21.5)
    now = START_US + 1_440 * MINUTE_US
    sender = Pace.for_sender(now, 60, 1.0)

    cases: dict[str, tuple[Callable[[], Any], Callable[[Any], Any]]] = {
        "paced (the sender)": (
            lambda: sender,
            lambda pace: buffer.take_frame(pace=pace),
        ),
        "unpaced 4 MiB (before)": (lambda: None, lambda _: buffer.take_frame()),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    sizes: dict[str, Any] = {}
    for _ in range(7):
        for name, (prepare, take) in cases.items():
            argument = prepare()
            seconds, frame = timed(lambda take=take, argument=argument: take(argument))
            times[name].append(seconds)
            sizes[name] = frame
            buffer.release(frame)
    print(
        f"(g) one frame from a backlog of {len(buffer):,} readings (median / max of 7)"
    )
    for name, samples in times.items():
        frame = sizes[name]
        print(
            f"    {name:<28} {_median(samples) * 1e3:6.1f} / {max(samples) * 1e3:5.1f}"
            f" ms, {len(frame.keys)} keys, {frame.sample_count:,} readings,"
            f" {len(frame.data_json) / 1e6:.2f} MB"
        )
    paced = times["paced (the sender)"]
    rows.append(
        (
            "take from 1.44M backlog",
            f"{_median(paced) * 1e3:.1f} ms",
            f"before {_median(times['unpaced 4 MiB (before)']) * 1e3:.0f} ms",
        )
    )


def bench_memory(rows: list[tuple[str, str, str]]) -> Any:
    """(d) Bytes per buffered reading while growing to 1,000,000 readings.

    The journal drains the buffer's log every few seconds in Home Assistant;
    here every 1,000 readings (a minute of 1,000 entities). The figure at the
    end, and the peak tracemalloc saw while growing, per reading at 1,000,000.
    """
    from custom_components.clarify.buffer import SampleBuffer

    count = 1_000_000
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    buffer = SampleBuffer()
    appends = [buffer.series(f"sensor.s{k}").append for k in range(KEYS)]
    for i in range(count):
        appends[i % KEYS](START_US + (i // KEYS) * MINUTE_US + i % KEYS, i * 0.5)
        if i % KEYS == KEYS - 1:
            buffer.drain_journal()
    del appends
    gc.collect()
    used, peak = (value - before for value in tracemalloc.get_traced_memory())
    tracemalloc.stop()
    print("(d) memory growing to 1,000,000 readings over 1,000 keys (tracemalloc)")
    print(
        f"    {used / len(buffer):.1f} B per reading at the end, peak while "
        f"growing {peak / len(buffer):.1f} B (goal <= 20 at every moment)"
    )
    rows.append(
        (
            "bytes per reading",
            f"{used / len(buffer):.1f} B",
            f"peak {peak / len(buffer):.1f} B",
        )
    )
    return buffer


def bench_persistence(rows: list[tuple[str, str, str]], buffer: Any) -> None:
    """Saving and restoring the 1,000,000 readings (the Store's JSON round trip)."""
    import orjson

    from custom_components.clarify.buffer import SampleBuffer

    save_time, encoded = min(
        (timed(lambda: orjson.dumps(buffer.to_dict())) for _ in range(3)),
        key=lambda item: item[0],
    )
    load_time = min(
        timed(lambda: SampleBuffer.from_dict(orjson.loads(encoded)))[0]
        for _ in range(3)
    )
    print("(e) persistence of those readings: to_dict + JSON, JSON + from_dict")
    print(
        f"    save {save_time * 1e3:.0f} ms, restore {load_time * 1e3:.0f} ms, "
        f"{len(encoded) / 1e6:.1f} MB"
    )
    rows.append(
        (
            "save / restore 1M readings",
            f"{save_time * 1e3:.0f} / {load_time * 1e3:.0f} ms",
            f"{len(encoded) / 1e6:.1f} MB",
        )
    )


def main() -> None:
    print(f"Python {sys.version.split()[0]}")
    rows: list[tuple[str, str, str]] = []
    bench_append(rows)
    bench_frames(rows)
    bench_packing(rows)
    bench_backlog_take(rows)
    buffer = bench_memory(rows)
    bench_persistence(rows, buffer)
    print()
    print(f"{'summary':<28} {'measured':>14} {'reference':>12}")
    for name, measured, reference in rows:
        print(f"{name:<28} {measured:>14} {reference:>12}")


if __name__ == "__main__":
    main()
