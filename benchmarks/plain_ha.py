"""Benchmark scenarios, each run inside one plain Home Assistant process.

    python benchmarks/plain_ha.py --config DIR --scenario NAME --params FILE --out FILE

`benchmarks/run.py` (started by `scripts/bench`) prepares the configuration
directory and the parameters, runs the scenarios on each Home Assistant leg and
turns their JSON results into the table. The scenarios:

main       hot path, setup and the scale curve, bytes per reading, building and
           encoding a request (against orjson alone and the official SDK),
           memory per buffered reading, and the journal: 1,440,000 readings
           journalled with Clarify away, then the entry unloaded and set up again
restore    a restart of that Home Assistant with Clarify still away: restoring
           at start, taking frames from the backlog, reloads, then Clarify back
           and the backlog confirmed
callgrind  the hot path in instructions (run under valgrind's callgrind)
e2e        real time: 1,000 entities changing once a minute or once a second,
           with or without the integration; CPU seconds of the process

Every figure is measured side by side in one run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import contextlib
import gc
import json
import os
from pathlib import Path
import random
import statistics
import time
from typing import Any

import callgrind
import harness as h
import profiling

ENTRY_ID = h.ENTRY_ID
# Simulated minutes before bytes are counted: the first send finds a minute's
# backlog, and the pace settles after it.
BYTES_SETTLE_MINUTES = 3
TRACKED = 1_000
# The hot path's scenarios (see `HotPath`).
HOT_SCENARIOS = (
    "baseline",
    "floor",
    "naive",
    "clarify",
    "untracked",
    "floor_untracked",
    "clarify_journal",
)


_STARTED = time.perf_counter()


def say(message: str) -> None:
    """Progress on stdout (the orchestrator keeps it in the run's log)."""
    print(f"[{time.perf_counter() - _STARTED:7.1f} s] {message}", flush=True)


# ---------------------------------------------------------------- hot path


class HotPath:
    """One state change measured in six set-ups, side by side.

    baseline       a bus-wide listener (every installation has the recorder) only
    floor          + Home Assistant's `async_track_state_change_event` on the
                   tracked entities with an empty callback
    naive          + the same helper with a float-and-append callback
    clarify        + this integration tracking them (set up fresh)
    untracked      this integration set up, the changes to other entities
    floor_untracked  Home Assistant's helper with an empty callback on the
                   tracked entities, the changes to other entities (what any
                   tracker costs the entities it does not track)
    clarify_journal  as clarify, and the journal's hand-over in the loop
                   (`SampleBuffer.drain_journal`) of what the changes buffered,
                   counted with them: the append itself has no journal code,
                   so this is what the journal costs a reading in the loop

    Each change lands in a new second for its entity (the buffer's common path).
    After a measurement with the integration, what it buffered is delivered
    (not timed), so every measurement starts from an empty buffer, fresh timers
    and a fresh listener, as after a restart.
    """

    def __init__(
        self,
        hass: Any,
        entry: Any,
        clock: h.SimClock,
        tracked: list[str],
        others: list[str],
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.clock = clock
        self.tracked = h.Feeder(hass, tracked)
        self.others = h.Feeder(hass, others)
        self._unsubscribe: Callable[[], None] | None = None
        self.readings: list[float] = []

    async def loaded(self, wanted: bool, *, fresh: bool = False) -> None:
        from homeassistant.config_entries import ConfigEntryState

        is_loaded = self.entry.state is ConfigEntryState.LOADED
        if is_loaded and (not wanted or fresh):
            await self.hass.config_entries.async_unload(self.entry.entry_id)
            is_loaded = False
        if wanted and not is_loaded:
            await self.hass.config_entries.async_setup(self.entry.entry_id)
            if self.entry.state is not ConfigEntryState.LOADED:
                raise RuntimeError(f"entry did not load: {self.entry.state}")
        await self.hass.async_block_till_done()

    async def prepare(self, scenario: str) -> h.Feeder:
        from homeassistant.core import callback
        from homeassistant.helpers.event import async_track_state_change_event

        if scenario in ("baseline", "floor", "naive", "floor_untracked"):
            await self.loaded(False)
        if scenario in ("floor", "floor_untracked"):

            @callback
            def empty(event: Any) -> None:
                """Does nothing: the floor of tracking entities at all."""

            self._unsubscribe = async_track_state_change_event(
                self.hass, self.tracked.entity_ids, empty
            )
        elif scenario == "naive":
            readings = self.readings

            @callback
            def naive(event: Any) -> None:
                """What a first exporter does: parse and keep."""
                if (state := event.data["new_state"]) is not None:
                    readings.append(float(state.state))

            self._unsubscribe = async_track_state_change_event(
                self.hass, self.tracked.entity_ids, naive
            )
        elif scenario in ("clarify", "untracked", "clarify_journal"):
            await self.loaded(True, fresh=True)
        return self.others if "untracked" in scenario else self.tracked

    async def finish(self, scenario: str) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.readings.clear()
        if scenario in ("clarify", "untracked", "clarify_journal") and not (
            await h.drain(self.hass, self.entry)
        ):
            raise RuntimeError("readings were not delivered in time")

    def hand_over(self, scenario: str) -> None:
        """The journal's part in the loop, for the scenario that counts it.

        The batch is dropped: this journal never writes those readings, which
        the scenario's end delivers (deleting rows that are not there is a
        no-op).
        """
        if scenario == "clarify_journal":
            h.exporter_of(self.entry).buffer.drain_journal()

    def schedule(self, feeder: h.Feeder, changes: int) -> Any:
        return h.sweeps(self.clock, len(feeder.entity_ids), changes)

    async def measure(self, scenario: str, changes: int) -> tuple[float, float]:
        """Main-thread CPU seconds and wall seconds per state change."""
        feeder = await self.prepare(scenario)
        schedule = self.schedule(feeder, changes)
        await self.hass.async_block_till_done()
        # The collector's passes cost what all of Home Assistant's objects
        # make them cost, whenever they fall: noise here, not the hot path.
        gc.collect()
        gc.disable()
        try:
            cpu, wall = time.thread_time(), time.perf_counter()
            await feeder.feed(schedule, chunk=100)
            # The last changes reach their trackers in the next turn.
            await asyncio.sleep(0)
            self.hand_over(scenario)
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        finally:
            gc.enable()
        await self.finish(scenario)
        return cpu / changes, wall / changes


def summarize(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    quartiles = h.quartiles(ordered)
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "q1": quartiles[0],
        "q3": quartiles[-1],
        "n": len(ordered),
        "values": values,
    }


def ratio_stats(numerators: list[float], denominators: list[float]) -> dict[str, float]:
    """Median of per-round ratios, with the middle half of them as the spread.

    Rounds are interleaved, so the ratio within a round cancels what drifted
    between rounds (another test suite starting, frequency scaling).
    """
    ratios = [a / b for a, b in zip(numerators, denominators, strict=True) if b]
    ordered = sorted(ratios)
    quartiles = h.quartiles(ordered)
    return {
        "median": statistics.median(ordered),
        "q1": quartiles[0],
        "q3": quartiles[-1],
    }


async def run_hot_path(
    hot: HotPath, scenarios: list[str], rounds: int, changes: int, seed: int
) -> dict[str, Any]:
    order = random.Random(seed)
    cpu: dict[str, list[float]] = {name: [] for name in scenarios}
    wall: dict[str, list[float]] = {name: [] for name in scenarios}
    for _ in range(rounds):
        names = list(scenarios)
        order.shuffle(names)
        for name in names:
            cpu_each, wall_each = await hot.measure(name, changes)
            cpu[name].append(cpu_each)
            wall[name].append(wall_each)
    await hot.loaded(True)
    result: dict[str, Any] = {
        "rounds": rounds,
        "changes": changes,
        "cpu": {name: summarize(values) for name, values in cpu.items()},
        "wall": {name: summarize(values) for name, values in wall.items()},
        "cpu_ratio_to_baseline": {
            name: ratio_stats(values, cpu["baseline"]) for name, values in cpu.items()
        },
    }
    if "floor" in cpu:
        result["cpu_ratio_to_floor"] = {
            name: ratio_stats(values, cpu["floor"]) for name, values in cpu.items()
        }
    if "clarify_journal" in cpu:
        result["cpu_ratio_journal"] = ratio_stats(
            cpu["clarify_journal"], cpu["clarify"]
        )
    return result


async def hot_path_breakdown(
    hass: Any, entry: Any, entity_ids: list[str]
) -> dict[str, Any]:
    """The integration's state-change callback and its parts, called directly.

    Microseconds per call (timeit, best of 5, collector off), each reading in
    a new second as in the rounds: where the callback's time goes.
    """
    import timeit

    from homeassistant.core import Event

    from custom_components.clarify.signals import reading_time_us

    try:
        listener = h.exporter_of(entry).listener
        callback = listener._async_state_changed  # noqa: SLF001
        # The entity's signals, decided by its first change in the rounds.
        target = listener._tracked[entity_ids[0]].signals[0]  # noqa: SLF001
    except (AttributeError, KeyError, IndexError) as err:
        return {"unavailable": repr(err)}
    state = hass.states.get(entity_ids[0])
    # The same attributes as the state before: the common case.
    event = Event(
        "state_changed",
        {"entity_id": entity_ids[0], "old_state": state, "new_state": state},
    )
    calls = 20_000
    base = int(time.time()) * 1_000_000
    times = iter(range(base, base + 10**9 * 1_000_000, 1_000_000))

    def best(statement: Callable[[], Any]) -> float:
        return min(timeit.repeat(statement, number=calls, repeat=5)) / calls * 1e6

    def callback_new_second() -> None:
        # The state's time is fixed; the buffer's append is measured apart.
        callback(event)

    append = target.append
    result = {
        "callback_us": best(callback_new_second),
        "convert_us": best(lambda: target.convert(state)),
        "reading_time_us": best(lambda: reading_time_us(state)),
        "append_new_second_us": best(lambda: append(next(times), 21.5)),
        "empty_call_us": best(lambda: None),
    }
    # What was appended here must not be sent: the entry starts afresh.
    await fresh_journal(hass, entry, Path(hass.config.config_dir))
    return result


# ------------------------------------------------------------------ main


async def main_scenario(hass: Any, params: dict[str, Any]) -> dict[str, Any]:
    from homeassistant.const import EVENT_STATE_CHANGED
    from homeassistant.core import callback

    config_dir = Path(params["config_dir"])
    credentials = h.Credentials.from_json(params["credentials"])
    emulator = h.EmulatorProcess(credentials, config_dir / "emulator.log")
    await hass.async_add_executor_job(emulator.start)
    guard = h.StallGuard(hass.loop)
    clock = h.SimClock(time.time() - 6 * 86_400)
    results: dict[str, Any] = {"phases": {}}
    phase_started = time.perf_counter()

    def phase_done(name: str) -> None:
        nonlocal phase_started
        now = time.perf_counter()
        results["phases"][name] = round(now - phase_started, 1)
        phase_started = now
        say(f"{name} done in {results['phases'][name]} s")

    entry = h.clarify_entry(hass)
    import custom_components.clarify as installed

    results["integration_file"] = installed.__file__
    scale = sorted(params["scale"])
    pool = await h.create_entities(
        hass, [f"bench_{n}" for n in range(max(*scale, TRACKED))]
    )
    others = await h.create_entities(hass, [f"other_{n}" for n in range(TRACKED)])

    @callback
    def recorder_like(event: Any) -> None:
        """Stands in for the recorder, which listens to every state change."""

    hass.bus.async_listen(EVENT_STATE_CHANGED, recorder_like)
    phase_done("entities")

    # The largest mapping first, so every signal's metadata is sent (and
    # confirmed) once, not during measurements.
    results["options_set_by"] = await h.set_tracked(hass, entry, pool)
    await h.metadata_settled(hass, entry)
    phase_done("metadata")

    await h.set_tracked(hass, entry, pool[:TRACKED])
    hot = HotPath(hass, entry, clock, pool[:TRACKED], others)
    scenarios = list(HOT_SCENARIOS)
    results["hot_path"] = await run_hot_path(
        hot, scenarios, params["hot_rounds"], params["hot_changes"], seed=11
    )
    results["hot_path_breakdown"] = await hot_path_breakdown(
        hass, entry, pool[:TRACKED]
    )
    phase_done("hot path")

    results["scale"] = {}
    profiles: list[dict[str, Any]] = []
    for count in scale:
        results["scale"][str(count)] = await scale_point(
            hass,
            entry=entry,
            guard=guard,
            clock=clock,
            entity_ids=pool[:count],
            emulator=emulator,
            params=params,
            profiles=profiles,
        )
        phase_done(f"scale {count}")

    await h.set_tracked(hass, entry, pool[:TRACKED])
    results["encode"] = await encode_request(hass, params, profiles)
    phase_done("encode")

    # Clarify away from here on: readings pile up, as in an outage.
    await hass.async_add_executor_job(emulator.stop)
    feeder = h.Feeder(hass, pool[:TRACKED])
    offsets = h.random_offsets(TRACKED, 60.0)
    results["memory"] = await memory_growth(
        hass,
        entry=entry,
        config_dir=config_dir,
        feeder=feeder,
        clock=clock,
        offsets=offsets,
        readings=params["memory_readings"],
    )
    phase_done("memory")
    results["journal"] = await journal_growth(
        hass,
        entry=entry,
        config_dir=config_dir,
        guard=guard,
        feeder=feeder,
        clock=clock,
        offsets=offsets,
        params=params,
    )
    phase_done("journal")
    results["profiles"] = profiles
    guard.stop()
    return results


async def scale_point(
    hass: Any,
    *,
    entry: Any,
    guard: h.StallGuard,
    clock: h.SimClock,
    entity_ids: list[str],
    emulator: h.EmulatorProcess,
    params: dict[str, Any],
    profiles: list[dict[str, Any]],
) -> dict[str, Any]:
    """Setup time and stall, memory, hot-path cost and bytes per reading at one size."""
    count = len(entity_ids)
    await h.set_tracked(hass, entry, entity_ids)
    await h.metadata_settled(hass, entry)
    hot = HotPath(hass, entry, clock, entity_ids, [])
    result: dict[str, Any] = {"entities": count}

    rounds = params["setup_rounds"].get(str(count), 5)
    seconds: list[float] = []
    cpu: list[float] = []
    stalls: list[float] = []
    stalls_without_gc: list[float] = []
    busy: list[float] = []
    longest: h.Window | None = None
    for _ in range(rounds):
        await hot.loaded(False)
        gc.collect()
        with guard.watch() as window:
            started = time.thread_time()
            await hass.config_entries.async_setup(entry.entry_id)
            cpu.append(time.thread_time() - started)
        seconds.append(window.seconds)
        stalls.append(window.stall_ms)
        stalls_without_gc.append(window.as_json()["stall_without_gc_ms"])
        busy.append(window.busy_ms)
        if longest is None or window.longest_busy > longest.longest_busy:
            longest = window
        await hass.async_block_till_done()
    result["setup_cpu_ms"] = summarize([value * 1e3 for value in cpu])
    result["setup_longest_stall"] = longest.as_json() if longest else None
    say(f"scale {count}: setup rounds done")
    result["setup_ms"] = summarize([value * 1e3 for value in seconds])
    result["setup_stall_ms"] = summarize(stalls)
    result["setup_stall_without_gc_ms"] = summarize(stalls_without_gc)
    result["setup_busy_ms"] = summarize(busy)

    # What the entry keeps in memory once set up (tracemalloc, after a collection).
    import tracemalloc

    await hot.loaded(False)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    result["setup_retained_bytes"] = retained
    result["setup_retained_bytes_per_entity"] = retained / count

    if params.get("profile") and count == params.get("profile_setup_entities"):
        profile = profiling.Profile(
            f"setup of an entry mapping {count:,} entities", asynchronous=True
        )
        for _ in range(3):
            await hot.loaded(False)
            gc.collect()
            await profile.run_async(
                lambda: hass.config_entries.async_setup(entry.entry_id)
            )
        profiles.append(profile.summary())
    await hot.loaded(True)

    say(f"scale {count}: memory and profile done")
    changes = max(params["scale_hot_changes"], count)
    result["hot_path"] = await run_hot_path(
        hot, ["baseline", "clarify"], params["scale_hot_rounds"], changes, seed=count
    )

    say(f"scale {count}: hot path done")
    # Bytes per reading: every entity changing once a minute at its own time,
    # sent by the integration's own packer at the sender's pace on a simulated
    # clock (the real clock's end-to-end run is below, at 1,000 entities).
    offsets = h.random_offsets(count, 60.0, seed=count)
    feeder = h.Feeder(hass, entity_ids)
    schedule = list(h.minutes(clock, count, 1, offsets))
    await feeder.feed(schedule)
    floor_bytes = shared_time_bytes(feeder, schedule, entry) / len(schedule)
    if not await h.drain(hass, entry, within=600):
        raise RuntimeError("readings were not delivered in time")
    minutes = params["bytes_minutes"]
    with guard.watch() as window:
        sent = h.paced_send(
            h.minutes(h.SimClock(0), count, minutes, offsets),
            entity_ids,
            count_from=BYTES_SETTLE_MINUTES * 60,
        )
    result["bytes"] = {
        **sent,
        "minutes": minutes - BYTES_SETTLE_MINUTES,
        "floor_bytes_per_reading": floor_bytes,
        "window": window.as_json(),
    }
    return result


def shared_time_bytes(
    feeder: h.Feeder, schedule: list[tuple[int, float]], entry: Any
) -> int:
    """Bytes of the same readings in one request if they all shared one time.

    The format's own floor: a key and a value per reading, no nulls.
    """
    import orjson

    latest: dict[str, float] = {}
    for index, _ in schedule:
        entity_id = feeder.entity_ids[index]
        state = feeder.hass.states.get(entity_id)
        latest[entity_id] = float(state.state)
    return len(
        orjson.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "integration.insert",
                "params": {
                    "integration": entry.data["integration_id"],
                    "data": {
                        "times": ["2024-05-01T12:00:00.000000Z"],
                        "series": {key: [value] for key, value in latest.items()},
                    },
                },
            }
        )
    )


async def encode_request(
    hass: Any, params: dict[str, Any], profiles: list[dict[str, Any]]
) -> dict[str, Any]:
    """One request of 1,000 keys x 60 shared times: ours, orjson alone, the SDK.

    Ours: the integration's buffer builds the frame (`take_frame`) and the
    body is assembled around it as its client does (one join of its parts).
    Floor: `orjson.dumps` of the finished body, already as Python objects.
    SDK: pyclarify 0.7.0's `DataFrame` and `Request` models, dumped as its
    client does (`model_dump(mode="json")`, then `json.dumps`).
    Run in Home Assistant's event loop, interleaved, garbage collector on.
    """
    from datetime import UTC, datetime, timedelta

    import orjson

    from custom_components.clarify.buffer import SampleBuffer

    start_us = 1_714_564_800 * 1_000_000
    keys = [f"sensor.temperature_{key}" for key in range(1_000)]
    values = {key: [20 + number / 7] * 60 for number, key in enumerate(keys)}

    def filled() -> Any:
        buffer = SampleBuffer()
        for key in keys:
            append = buffer.series(key).append
            value = values[key][0]
            for minute in range(60):
                append(start_us + minute * 60_000_000, value)
        # As in Home Assistant, where the journal has read minutes-old readings
        # long before they leave (it writes every 4 s).
        buffer.drain_journal()
        return buffer

    prefix = b'{"integration":"c0000000000000000000","data":'

    def ours(buffer: Any) -> bytes:
        frame = buffer.take_frame()
        return b"".join(
            (
                b'{"jsonrpc":"2.0","id":%d,"method":"%b","params":'
                % (1, b"integration.insert"),
                prefix,
                frame.data_json,
                b"}}",
            )
        )

    body = orjson.loads(ours(filled()))

    def floor() -> bytes:
        return orjson.dumps(body)

    times = [
        datetime(2024, 5, 1, 12, tzinfo=UTC) + timedelta(minutes=minute)
        for minute in range(60)
    ]
    sdk = _sdk_encoder()

    timings: dict[str, list[float]] = {"ours": [], "floor": []}
    if sdk is not None:
        timings["sdk"] = []
    order = random.Random(5)
    for _ in range(params["encode_rounds"]):
        names = list(timings)
        order.shuffle(names)
        for name in names:
            buffer = filled() if name == "ours" else None
            gc.collect()
            # CPU time of this thread: the machine is shared, and wall time
            # would count other processes' turns.
            started = time.thread_time()
            if name == "ours":
                ours(buffer)
            elif name == "floor":
                floor()
            elif sdk is not None:
                sdk(times, values)
            timings[name].append((time.thread_time() - started) * 1e3)
            await asyncio.sleep(0)
    result: dict[str, Any] = {
        name: summarize(values) for name, values in timings.items()
    }
    result["body_bytes"] = len(floor())
    result["ours_over_floor"] = ratio_stats(timings["ours"], timings["floor"])
    if sdk is not None:
        result["sdk_over_ours"] = ratio_stats(timings["sdk"], timings["ours"])
        result["sdk_memory"] = await hass.async_add_executor_job(_sdk_memory)
    else:
        result["sdk_missing"] = "pyclarify is not installed in this environment"
    if params.get("profile"):
        profile = profiling.Profile(
            "building and encoding one request of 1,000 keys x 60 times"
        )
        for _ in range(20):
            buffer = filled()
            with profile.run():
                ours(buffer)
        profiles.append(profile.summary())
    return result


def _sdk_encoder() -> Callable[[list[Any], dict[str, list[float]]], str] | None:
    try:
        from pyclarify import DataFrame
        from pyclarify.__utils__.api_versions import adapt_request
        from pyclarify.fields.constraints import ApiMethod
        from pyclarify.views.generics import Request
    except ImportError:
        return None
    import pyclarify.jsonrpc.client as rpc_client

    api_version = getattr(rpc_client, "API_VERSION", None) or "1.1"

    def encode(times: list[Any], series: dict[str, list[float]]) -> str:
        # What `Client.insert` does before sending: the model, then JSON.
        data = DataFrame(times=times, series=series)
        request = Request(
            method=ApiMethod.insert,
            params={"integration": "c0000000000000000000", "data": data},
        )
        return json.dumps(adapt_request(request.model_dump(mode="json"), api_version))

    return encode


def _sdk_memory() -> dict[str, Any]:
    """Bytes per reading of the SDK's DataFrame holding 1,000 keys x 1,000 times."""
    from datetime import UTC, datetime, timedelta
    import tracemalloc

    from pyclarify import DataFrame

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    times = [
        datetime(2024, 5, 1, tzinfo=UTC) + timedelta(minutes=minute)
        for minute in range(1_000)
    ]
    series = {
        f"sensor.temperature_{key}": [
            20 + (key * 1_000 + minute) / 7 for minute in range(1_000)
        ]
        for key in range(1_000)
    }
    frame = DataFrame(times=times, series=series)
    del times, series
    gc.collect()
    used, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del frame
    return {
        "bytes_per_reading": (used - before) / 1_000_000,
        "peak_bytes_per_reading": (peak - before) / 1_000_000,
    }


async def journal_sizes(hass: Any, config_dir: Path, entry: Any) -> dict[str, int]:
    def sizes() -> dict[str, int]:
        return {
            path.name: path.stat().st_size
            for path in h.journal_files(config_dir, entry.entry_id)
        }

    return await hass.async_add_executor_job(sizes)


async def fresh_journal(hass: Any, entry: Any, config_dir: Path) -> None:
    """Unload, delete the journal (its readings with it), set up again: empty."""
    from homeassistant.config_entries import ConfigEntryState

    if entry.state is ConfigEntryState.LOADED:
        await hass.config_entries.async_unload(entry.entry_id)
    for path in await hass.async_add_executor_job(
        h.journal_files, config_dir, entry.entry_id
    ):
        await hass.async_add_executor_job(path.unlink)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def memory_growth(
    hass: Any,
    *,
    entry: Any,
    config_dir: Path,
    feeder: h.Feeder,
    clock: h.SimClock,
    offsets: list[float],
    readings: int,
) -> dict[str, Any]:
    """Bytes per buffered reading while the buffer grows to `readings` (Clarify away).

    tracemalloc sees every allocation of the process: the buffer, the journal's
    batches on their way to disk, a frame taken for a failed send attempt, and
    Home Assistant's own short-lived objects of each state change. Sampled
    every 50,000 readings, with the peak since the previous sample.
    """
    import tracemalloc

    await fresh_journal(hass, entry, config_dir)
    exporter = h.exporter_of(entry)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    samples: list[dict[str, float]] = []

    def sample(_: int) -> None:
        count = len(exporter.buffer)
        if count and feeder.changes % 50_000 == 0:
            used, peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            samples.append(
                {
                    "readings": count,
                    "bytes_per_reading": (used - base) / count,
                    "peak_bytes_per_reading": (peak - base) / count,
                }
            )

    feeder.changes = 0
    minutes_needed = readings // TRACKED
    await feeder.feed(
        h.minutes(clock, TRACKED, minutes_needed, offsets), on_chunk=sample
    )
    gc.collect()
    used = tracemalloc.get_traced_memory()[0]
    # Where it is: the largest allocation sites still holding memory.
    where = [
        {
            "site": f"{Path(stat.traceback[0].filename).name}:"
            f"{stat.traceback[0].lineno}",
            "bytes": stat.size,
            "blocks": stat.count,
        }
        for stat in tracemalloc.take_snapshot().statistics("lineno")[:10]
    ]
    tracemalloc.stop()
    count = len(exporter.buffer)

    # The floor: Home Assistant alone (the entry unloaded) taking the same
    # kind of changes, for what its own short-lived objects add to a peak.
    await hass.config_entries.async_unload(entry.entry_id)
    gc.collect()
    tracemalloc.start()
    alone_base = tracemalloc.get_traced_memory()[0]
    alone = min(readings // 10, 100_000)
    await feeder.feed(h.minutes(clock, TRACKED, max(1, alone // TRACKED), offsets))
    alone_peak = tracemalloc.get_traced_memory()[1] - alone_base
    tracemalloc.stop()
    # From a tenth of the way on: below that the per-key arrays and a frame
    # taken for a send attempt are a large share of a small total.
    growth = [item for item in samples if item["readings"] >= readings / 10]
    return {
        "readings": count,
        "bytes_per_reading": (used - base) / count,
        "peak_bytes_per_reading": max(
            (item["peak_bytes_per_reading"] for item in growth), default=None
        ),
        "samples": samples,
        "where": where,
        "ha_alone_peak_bytes": alone_peak,
        "ha_alone_changes": alone,
    }


async def journal_growth(
    hass: Any,
    *,
    entry: Any,
    config_dir: Path,
    guard: h.StallGuard,
    feeder: h.Feeder,
    clock: h.SimClock,
    offsets: list[float],
    params: dict[str, Any],
) -> dict[str, Any]:
    """The loop's longest stall while a day of readings is journalled (Clarify away).

    Then: disk bytes per reading, the stall while the entry unloads with the
    day waiting, the same feed without the integration (the floor: what the
    feed alone stalls), and the stall while the entry sets up again and
    restores the day.
    """
    result: dict[str, Any] = {}
    await fresh_journal(hass, entry, config_dir)
    exporter = h.exporter_of(entry)
    readings = params["journal_readings"]
    feeder.changes = 0
    with guard.watch() as window:
        await feeder.feed(h.minutes(clock, TRACKED, readings // TRACKED, offsets))
        # The last readings reach the disk at the next write (every 4 s).
        await asyncio.sleep(5)
    result["journalled"] = len(exporter.buffer)
    result["journalling"] = window.as_json()
    sizes = await journal_sizes(hass, config_dir, entry)
    result["disk_bytes"] = sizes
    result["disk_bytes_per_reading"] = sum(sizes.values()) / max(
        1, len(exporter.buffer)
    )

    with guard.watch() as window:
        await hass.config_entries.async_unload(entry.entry_id)
    result["unload"] = window.as_json()
    result["disk_bytes_closed"] = await journal_sizes(hass, config_dir, entry)

    floor_changes = params["journal_floor_readings"]
    with guard.watch() as window:
        await feeder.feed(h.minutes(clock, TRACKED, floor_changes // TRACKED, offsets))
    result["feed_floor"] = window.as_json()

    with guard.watch() as window:
        await hass.config_entries.async_setup(entry.entry_id)
        await asyncio.sleep(3)
    result["restore_in_process"] = window.as_json()
    result["restored_in_process"] = len(h.exporter_of(entry).buffer)
    return result


# ------------------------------------------------------------------ restore


def patch_entry_setup_timing(times: dict[str, float]) -> None:
    """Record when the clarify entry's setup starts and ends during bootstrap."""
    from homeassistant import config_entries

    original = config_entries.ConfigEntry.async_setup

    depth = 0

    async def timed(self: Any, hass: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal depth
        if self.domain != h.DOMAIN:
            return await original(self, hass, *args, **kwargs)
        # Forwarding the entry to its platforms calls this again, nested.
        depth += 1
        if depth == 1:
            times["start"] = time.perf_counter()
        try:
            return await original(self, hass, *args, **kwargs)
        finally:
            depth -= 1
            if depth == 0:
                times["end"] = time.perf_counter()

    config_entries.ConfigEntry.async_setup = timed  # type: ignore[method-assign]


def take_as_sender(exporter: Any) -> Any:
    """Take the frame the exporter's sender would take next: paced, its size limit."""
    from homeassistant.util import dt as dt_util

    from custom_components.clarify.buffer import Pace, datetime_to_us
    from custom_components.clarify.const import (
        CONF_FLUSH_INTERVAL,
        DEFAULT_FLUSH_INTERVAL,
    )
    from custom_components.clarify.sender import REQUEST_SPACING

    pace = Pace.for_sender(
        datetime_to_us(dt_util.utcnow()),
        exporter.entry.options.get(CONF_FLUSH_INTERVAL, DEFAULT_FLUSH_INTERVAL),
        REQUEST_SPACING,
    )
    return exporter.buffer.take_frame(exporter.sender.max_frame_bytes, pace=pace)


async def restore_scenario(
    hass: Any,
    params: dict[str, Any],
    guard: h.StallGuard,
    boot: dict[str, float],
    boot_window: h.Window,
) -> dict[str, Any]:
    from homeassistant.config_entries import ConfigEntryState

    config_dir = Path(params["config_dir"])
    credentials = h.Credentials.from_json(params["credentials"])
    emulator = h.EmulatorProcess(credentials, config_dir / "emulator.log")
    entry = h.clarify_entry(hass)
    exporter = h.exporter_of(entry)
    result: dict[str, Any] = {}
    # Restoring at start: the entry's setup during bootstrap, and the first
    # send attempt that follows it (Clarify is away).
    await asyncio.sleep(3)
    result["start"] = {
        "restored": len(exporter.buffer),
        "setup_seconds": boot["end"] - boot["start"],
        "window": guard.longest_between(boot["start"], boot["end"] + 3),
        "during_setup": guard.longest_between(boot["start"], boot["end"]),
        # From the event loop's start to here: the longest stall of the whole
        # boot, whoever caused it, and what ran during it.
        "boot": guard.close(boot_window).as_json(),
    }
    say(f"restore at start: {result['start']}")
    if params.get("start_only"):
        return result
    pool = [f"sensor.bench_{n}" for n in range(TRACKED)]
    h.set_first_states(hass, pool)
    profiles: list[dict[str, Any]] = []

    # Taking one frame from the backlog, as the sender does before each
    # request (paced, its size limit): in the event loop, never awaited.
    buffer = exporter.buffer
    takes: list[float] = []
    frame_readings = frame_bytes = 0
    for _ in range(params["take_rounds"]):
        await h.wait_until(lambda: buffer.in_flight is None, within=60)
        gc.collect()
        started = time.perf_counter()
        frame = take_as_sender(exporter)
        takes.append((time.perf_counter() - started) * 1e3)
        frame_readings, frame_bytes = frame.sample_count, len(frame.data_json)
        buffer.release(frame)
        await asyncio.sleep(0.05)
    result["take_frame_ms"] = summarize(takes)
    result["frame"] = {"readings": frame_readings, "bytes": frame_bytes}
    if params.get("profile"):
        profile = profiling.Profile(
            f"taking one frame from a {len(buffer):,}-reading backlog"
        )
        for _ in range(5):
            await h.wait_until(lambda: buffer.in_flight is None, within=60)
            with profile.run():
                frame = take_as_sender(exporter)
            buffer.release(frame)
        profiles.append(profile.summary())

    unloads: list[float] = []
    restores: list[float] = []
    unloads_busy: list[float] = []
    restores_busy: list[float] = []
    restore_windows: list[h.Window] = []
    restore_seconds: list[float] = []
    for _ in range(params["reload_rounds"]):
        with guard.watch() as window:
            await hass.config_entries.async_unload(entry.entry_id)
        unloads.append(window.stall_ms)
        unloads_busy.append(window.busy_ms)
        with guard.watch() as window:
            await hass.config_entries.async_setup(entry.entry_id)
            restore_seconds.append(time.perf_counter() - window.started)
            await asyncio.sleep(3)
        restores.append(window.stall_ms)
        restores_busy.append(window.busy_ms)
        restore_windows.append(window)
    result["reload"] = {
        "unload_stall_ms": summarize(unloads),
        "unload_busy_ms": summarize(unloads_busy),
        "restore_stall_ms": summarize(restores),
        "restore_busy_ms": summarize(restores_busy),
        "longest": max(restore_windows, key=lambda item: item.longest_busy).as_json(),
        "restore_seconds": summarize(restore_seconds),
        "restored": len(h.exporter_of(entry).buffer),
    }

    if params.get("profile"):
        await hass.config_entries.async_unload(entry.entry_id)
        result["restore_profile_readings"] = await profile_restore(
            hass, config_dir, entry, profiles
        )
        await hass.config_entries.async_setup(entry.entry_id)
        await asyncio.sleep(1)

    # Clarify is back: the backlog is confirmed (delivered), request by request.
    await hass.async_add_executor_job(emulator.start)
    before_log = await hass.async_add_executor_job(emulator.fetch_log)
    await hass.config_entries.async_unload(entry.entry_id)
    waiting = 0
    with guard.watch() as window:
        # Setting up again sends at once instead of waiting out the backoff.
        await hass.config_entries.async_setup(entry.entry_id)
        exporter = h.exporter_of(entry)
        waiting = len(exporter.buffer)
        done = await h.wait_until(
            lambda: not len(exporter.buffer), within=params["confirm_timeout"]
        )
        # Confirmed readings leave the disk at the next journal writes.
        await asyncio.sleep(9)
    after_log = await hass.async_add_executor_job(emulator.fetch_log)
    traffic = h.traffic_between(before_log, after_log)
    sizes = await journal_sizes(hass, config_dir, entry)
    result["confirm"] = {
        **traffic.as_json(),
        "waiting": waiting,
        "left": len(exporter.buffer),
        "complete": done,
        "window": window.as_json(),
        "disk_bytes_after": sizes,
    }
    with guard.watch() as window:
        await hass.config_entries.async_unload(entry.entry_id)
    result["unload_after_confirm"] = window.as_json()
    if entry.state is not ConfigEntryState.LOADED:
        await hass.config_entries.async_setup(entry.entry_id)
    result["profiles"] = profiles
    await hass.async_add_executor_job(emulator.stop)
    return result


async def profile_restore(
    hass: Any, config_dir: Path, entry: Any, profiles: list[dict[str, Any]]
) -> int:
    """Profile the journal's restore, run in this thread on a copy of the files."""
    import shutil
    import tempfile

    from custom_components.clarify import journal

    work = Path(await hass.async_add_executor_job(tempfile.mkdtemp))
    try:
        for path in await hass.async_add_executor_job(
            h.journal_files, config_dir, entry.entry_id
        ):
            await hass.async_add_executor_job(shutil.copy, path, work / path.name)
        copy = work / f"clarify.{entry.entry_id}.db"
        profile = profiling.Profile(
            "restoring the journal at start (the executor job, run here)"
        )
        with profile.run():
            connection, restored, _notes = journal._open(  # noqa: SLF001
                copy, work / "no-legacy", 1_440_000
            )
        connection.close()
        profiles.append(profile.summary())
        return len(restored.buffer)
    finally:
        await hass.async_add_executor_job(shutil.rmtree, work)


# ------------------------------------------------------------------ callgrind


async def callgrind_scenario(hass: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Instructions per state change in each hot-path set-up (see `HotPath`)."""
    from homeassistant.const import EVENT_STATE_CHANGED
    from homeassistant.core import callback

    config_dir = Path(params["config_dir"])
    credentials = h.Credentials.from_json(params["credentials"])
    emulator = h.EmulatorProcess(credentials, config_dir / "emulator.log")
    await hass.async_add_executor_job(emulator.start)
    entry = h.clarify_entry(hass)
    clock = h.SimClock(time.time() - 6 * 86_400)
    tracked = await h.create_entities(hass, [f"bench_{n}" for n in range(TRACKED)])
    others = await h.create_entities(hass, [f"other_{n}" for n in range(TRACKED)])

    @callback
    def recorder_like(event: Any) -> None:
        """Stands in for the recorder, which listens to every state change."""

    hass.bus.async_listen(EVENT_STATE_CHANGED, recorder_like)
    await h.set_tracked(hass, entry, tracked)
    await h.metadata_settled(hass, entry)
    hot = HotPath(hass, entry, clock, tracked, others)
    scenarios = list(HOT_SCENARIOS)
    changes = params["changes"]
    order = random.Random(3)
    dumps: list[str] = []
    on_valgrind = callgrind.running_on_valgrind()

    async def counted(feeder: h.Feeder | None, label: str, scenario: str = "") -> None:
        """Count the changes and everything they make the loop run.

        Home Assistant hands a state change to the trackers of its entity in
        the next turn of the loop (`call_soon`), so the count spans the loop
        turns between changes too. The loop's clock stands still meanwhile,
        so no timer fires in the count: under valgrind everything runs some
        fifty times slower, and a timer that fires every 4 s (the journal's
        write) would land in it far more often than in real life. The
        collector is off, as in the CPU rounds. `feeder` None counts the
        driving loop alone (the calibration, taken off the others).
        """
        schedule = hot.schedule(feeder or hot.tracked, changes)
        await hass.async_block_till_done()
        gc.collect()
        gc.disable()
        loop = hass.loop
        clock = loop.time
        frozen = clock()
        loop.time = lambda: frozen  # type: ignore[method-assign]
        callgrind.start_instrumentation()
        callgrind.zero_stats()
        callgrind.toggle_collect()
        try:
            count = 0
            if feeder is None:
                for _index, _timestamp in schedule:
                    count += 1
                    if count % 100 == 0:
                        await asyncio.sleep(0)
            else:
                await feeder.feed(schedule, chunk=100)
            await asyncio.sleep(0)
            hot.hand_over(scenario)
        finally:
            callgrind.toggle_collect()
            loop.time = clock  # type: ignore[method-assign]
            gc.enable()
        callgrind.dump_stats_at(label)
        callgrind.stop_instrumentation()
        dumps.append(label)

    for round_number in range(params["rounds"]):
        await counted(None, f"calibration-{round_number}")
        names = list(scenarios)
        order.shuffle(names)
        for name in names:
            feeder = await hot.prepare(name)
            await counted(feeder, f"{name}-{round_number}", name)
            await hot.finish(name)
            say(f"callgrind {name}-{round_number}")
    await hass.async_add_executor_job(emulator.stop)
    return {
        "on_valgrind": on_valgrind,
        "changes": changes,
        "scenarios": scenarios,
        "dumps": dumps,
    }


# ------------------------------------------------------------------ end to end


async def e2e_scenario(hass: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Real time: 1,000 entities changing once a minute or once a second.

    With the integration (against the emulator process) or without it; the
    CPU seconds of this whole process (every thread) from the first change
    until everything made was delivered (or, without it, the last change).
    """
    config_dir = Path(params["config_dir"])
    with_clarify = params["with_clarify"]
    period = {"minute": 60.0, "second": 1.0}[params["rate"]]
    entities = params["entities"]
    emulator = None
    entry = None
    if with_clarify:
        credentials = h.Credentials.from_json(params["credentials"])
        emulator = h.EmulatorProcess(credentials, config_dir / "emulator.log")
        await hass.async_add_executor_job(emulator.start)
        entry = h.clarify_entry(hass)
    pool = await h.create_entities(hass, [f"bench_{n}" for n in range(entities)])
    if entry is not None:
        await h.set_tracked(hass, entry, pool)
        await h.metadata_settled(hass, entry)
    feeder = h.Feeder(hass, pool)
    offsets = h.random_offsets(entities, period, seed=entities)
    order = sorted(range(entities), key=offsets.__getitem__)
    await asyncio.sleep(params.get("settle", 5))
    before_log = (
        await hass.async_add_executor_job(emulator.fetch_log) if emulator else None
    )
    duration = params["minutes"] * 60.0
    loop = hass.loop
    cpu_start = h.cpu_seconds()
    start = loop.time()
    end = start + duration
    produced = 0
    cycle = position = 0
    async_set = hass.states.async_set
    values = h.VALUES
    while True:
        due = start + cycle * period + offsets[order[position]]
        if due >= end:
            break
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        now = loop.time()
        while due <= now and due < end:
            index = order[position]
            async_set(
                feeder.entity_ids[index],
                values[(cycle + index) % 50],
                feeder.attributes[index],
            )
            produced += 1
            position += 1
            if position == entities:
                position = 0
                cycle += 1
            due = start + cycle * period + offsets[order[position]]
    driven = loop.time() - start
    result: dict[str, Any] = {
        "with_clarify": with_clarify,
        "rate": params["rate"],
        "minutes": params["minutes"],
        "produced": produced,
        "driven_seconds": driven,
    }
    if entry is not None and emulator is not None:
        # As the sender sends at its interval: a flush would pack for time.
        delivered = await h.drain(hass, entry, within=300, flush=False)
        result["all_delivered"] = delivered
        result["cpu_seconds"] = h.cpu_seconds() - cpu_start
        result["wall_seconds"] = loop.time() - start
        after_log = await hass.async_add_executor_job(emulator.fetch_log)
        traffic = h.traffic_between(before_log, after_log)
        result["traffic"] = traffic.as_json()
        result["requests_per_minute"] = traffic.requests_per_minute
        await hass.async_add_executor_job(emulator.stop)
    else:
        result["cpu_seconds"] = h.cpu_seconds() - cpu_start
        result["wall_seconds"] = loop.time() - start
    return result


# ------------------------------------------------------------------ command line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    params = json.loads(args.params.read_text())
    params["config_dir"] = str(args.config.resolve())
    boot_times: dict[str, float] = {}
    guard_holder: list[h.StallGuard] = []
    boot_window: list[h.Window] = []

    def on_loop(loop: asyncio.AbstractEventLoop) -> None:
        if args.scenario == "restore":
            guard = h.StallGuard(loop)
            guard.log_over = 0.004
            # Open from the start, so that the longest stall of the boot comes
            # with its stack samples.
            boot_window.append(guard.open())
            guard_holder.append(guard)

    async def scenario(hass: Any) -> dict[str, Any]:
        if args.scenario == "main":
            return await main_scenario(hass, params)
        if args.scenario == "restore":
            return await restore_scenario(
                hass, params, guard_holder[0], boot_times, boot_window[0]
            )
        if args.scenario == "callgrind":
            return await callgrind_scenario(hass, params)
        if args.scenario == "e2e":
            return await e2e_scenario(hass, params)
        raise SystemExit(f"unknown scenario {args.scenario}")

    def before_boot() -> None:
        # Imported now, not in the event loop, where Home Assistant would
        # (rightly) report the blocking imports.
        profiling.available()
        _sdk_encoder()
        if args.scenario == "restore":
            patch_entry_setup_timing(boot_times)

    started = time.perf_counter()
    result = h.run_plain_ha(
        args.config.resolve(), scenario, before_boot=before_boot, on_loop=on_loop
    )
    result["process_seconds"] = time.perf_counter() - started
    # Home Assistant still watches `open` for blocking calls; os.open is not watched.
    descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(descriptor, "w") as out:
        out.write(json.dumps(result, indent=1, default=str))
    with contextlib.suppress(Exception):
        for guard in guard_holder:
            guard.stop()


if __name__ == "__main__":
    main()
