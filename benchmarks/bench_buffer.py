"""Benchmark the sample buffer: hot path, frame building, memory, persistence.

Run from the repository root: ``python benchmarks/bench_buffer.py``. Every figure
is measured in this run, side by side with its reference, so ratios hold across
machines; nothing is asserted. Takes 20-30 seconds.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
import gc
from pathlib import Path
import sys
import time
import tracemalloc
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
    """(b) 1,000 keys x 60 shared times; (c) the same with distinct times."""
    shared_time, frame = min(
        (timed(_filled(shared=True).take_frame) for _ in range(5)),
        key=lambda item: item[0],
    )
    print("(b) one frame, 1,000 keys x 60 readings sharing 60 times")
    print(
        f"    build + encode {shared_time * 1e3:.1f} ms (goal < 20 ms), "
        f"{len(frame.data_json) / 1e6:.2f} MB, {frame.sample_count} readings"
    )

    distinct_time, frames = min(
        (timed(lambda: _drain(_filled(shared=False))) for _ in range(3)),
        key=lambda item: item[0],
    )
    largest = max(len(frame.data_json) for frame in frames)
    readings = sum(frame.sample_count for frame in frames)
    print("(c) 1,000 keys x 60 readings, all times distinct, 4 MiB frames")
    print(
        f"    {len(frames)} frames in {distinct_time * 1e3:.0f} ms "
        f"({distinct_time / len(frames) * 1e3:.1f} ms each), largest "
        f"{largest / 2**20:.2f} MiB, {readings} readings"
    )
    rows.append(("frame 1,000 x 60 shared", f"{shared_time * 1e3:.1f} ms", "< 20 ms"))
    rows.append(
        (
            "frames 1,000 x 60 distinct",
            f"{len(frames)} frames",
            f"{distinct_time * 1e3:.0f} ms",
        )
    )


def bench_memory(rows: list[tuple[str, str, str]]) -> Any:
    """(d) Bytes per buffered reading at 1,000,000 readings."""
    from custom_components.clarify.buffer import SampleBuffer

    count = 1_000_000
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    buffer = SampleBuffer()
    appends = [buffer.series(f"sensor.s{k}").append for k in range(KEYS)]
    for i in range(count):
        appends[i % KEYS](START_US + (i // KEYS) * MINUTE_US + i % KEYS, i * 0.5)
    del appends
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print("(d) memory at 1,000,000 readings over 1,000 keys (tracemalloc)")
    print(f"    {used / len(buffer):.1f} bytes per reading (goal <= 40)")
    rows.append(("bytes per reading", f"{used / len(buffer):.1f} B", "<= 40 B"))
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
    buffer = bench_memory(rows)
    bench_persistence(rows, buffer)
    print()
    print(f"{'summary':<28} {'measured':>14} {'reference':>12}")
    for name, measured, reference in rows:
        print(f"{name:<28} {measured:>14} {reference:>12}")


if __name__ == "__main__":
    main()
