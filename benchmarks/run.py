"""Run every benchmark on both Home Assistant legs and print one table.

Started by `scripts/bench`, which builds the environments and passes itself in
``BENCH_EXEC`` to start processes inside a leg (``scripts/bench --exec LEG --
COMMAND``). Runs with any Python 3.11+ (the host's): everything that needs
Home Assistant runs in the legs, in processes of their own:

1. at once, in real time: the end-to-end runs (per leg, 1,000 entities changing
   once a minute and once a second, each with and without the integration: 8
   Home Assistant processes and 4 emulators, light load) and, one leg after the
   other, the hot path under callgrind (instruction counts, which the load
   does not change);
2. then, per leg and alone on the machine: the `main` scenario and the
   `restore` scenario (a restart of the same configuration with Clarify away);
3. `benchmarks/bench_buffer.py` per leg, kept as text beside the results.

Writes benchmarks/results/latest.md (the table, the machine, the notes),
latest.json (every figure) and profiles.md (where the time goes).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import concurrent.futures
import contextlib
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import harness as h

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results"

FULL: dict[str, Any] = {
    "main": {
        "scale": [100, 1_000, 5_000, 20_000],
        "hot_rounds": 15,
        "hot_changes": 10_000,
        "setup_rounds": {"100": 15, "1000": 15, "5000": 15, "20000": 5},
        "scale_hot_rounds": 5,
        "scale_hot_changes": 10_000,
        # Simulated minutes of the bytes figure, the first three not counted.
        "bytes_minutes": 10,
        "encode_rounds": 15,
        "memory_readings": 1_000_000,
        "journal_readings": 1_440_000,
        "journal_floor_readings": 144_000,
        "profile": True,
        "profile_setup_entities": 5_000,
    },
    "restore": {
        "take_rounds": 15,
        "reload_rounds": 3,
        "confirm_timeout": 420,
        "profile": True,
    },
    # Instruction counts barely move between rounds: two show that they do not.
    "callgrind": {"rounds": 2, "changes": 1_000},
}
QUICK: dict[str, Any] = {
    "main": {
        # 5,000: the setup rows of the table are about it.
        "scale": [100, 1_000, 5_000],
        "hot_rounds": 5,
        "hot_changes": 5_000,
        "setup_rounds": {"100": 5, "1000": 5, "5000": 5},
        "scale_hot_rounds": 3,
        "scale_hot_changes": 5_000,
        "bytes_minutes": 6,
        "encode_rounds": 5,
        "memory_readings": 100_000,
        "journal_readings": 144_000,
        "journal_floor_readings": 14_400,
        "profile": True,
        "profile_setup_entities": 5_000,
    },
    "restore": {
        "take_rounds": 5,
        "reload_rounds": 2,
        "confirm_timeout": 120,
        "profile": True,
    },
    "callgrind": {"rounds": 1, "changes": 500},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Runner:
    """Starts processes inside a leg and keeps track of them, to end them all."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.exec = os.environ.get("BENCH_EXEC", str(REPO_ROOT / "scripts" / "bench"))
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, leg: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [self.exec, "--exec", leg, "--", *argv],
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def wait(self, process: subprocess.Popen[bytes], timeout: float) -> int:
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(process)
            return -1

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """End a process this runner started, and everything it started."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def stop_all(self) -> None:
        for process in self.processes:
            self.stop(process)

    def scenario(
        self,
        leg: str,
        name: str,
        config: Path,
        params: dict[str, Any],
        *,
        tag: str,
        timeout: float,
        prefix: list[str] | None = None,
    ) -> tuple[subprocess.Popen[bytes], Path, Path]:
        directory = self.work / leg
        directory.mkdir(parents=True, exist_ok=True)
        params_file = directory / f"{tag}.params.json"
        params_file.write_text(json.dumps(params, indent=1))
        out = directory / f"{tag}.json"
        log = directory / f"{tag}.log"
        argv = [
            *(prefix or []),
            "python",
            "benchmarks/plain_ha.py",
            "--config",
            str(config.relative_to(REPO_ROOT)),
            "--scenario",
            name,
            "--params",
            str(params_file.relative_to(REPO_ROOT)),
            "--out",
            str(out.relative_to(REPO_ROOT)),
        ]
        return self.start(leg, argv, log), out, log


def read_result(out: Path, log: Path, code: int) -> dict[str, Any]:
    if code == 0 and out.exists():
        result: dict[str, Any] = json.loads(out.read_text())
        return result
    tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
    return {"error": f"exit {code}", "log": str(log), "tail": tail}


# ---------------------------------------------------------------- phases


def run_e2e(
    runner: Runner, legs: list[str], minutes: float
) -> dict[str, dict[str, Any]]:
    """Every leg x rate x with/without at once: light load, real time."""
    started: list[tuple[str, str, subprocess.Popen[bytes], Path, Path]] = []
    for leg in legs:
        for rate in ("minute", "second"):
            for with_clarify in (True, False):
                tag = f"e2e-{rate}-{'with' if with_clarify else 'without'}"
                config = runner.work / leg / tag
                credentials = h.Credentials.new(free_port()) if with_clarify else None
                h.write_config_dir(
                    config, http_port=free_port(), credentials=credentials
                )
                params: dict[str, Any] = {
                    "with_clarify": with_clarify,
                    "rate": rate,
                    "minutes": minutes,
                    "entities": 1_000,
                }
                if credentials is not None:
                    params["credentials"] = credentials.as_json()
                process, out, log = runner.scenario(
                    leg, "e2e", config, params, tag=tag, timeout=0
                )
                started.append((leg, tag, process, out, log))
    results: dict[str, dict[str, Any]] = {leg: {} for leg in legs}
    for leg, tag, process, out, log in started:
        code = runner.wait(process, timeout=minutes * 60 + 900)
        results[leg][tag] = read_result(out, log, code)
        say(f"{leg}: {tag} done (exit {code})")
    return results


def run_callgrind(runner: Runner, leg: str, params: dict[str, Any]) -> dict[str, Any]:
    if shutil.which("valgrind") is None:
        return {"skipped": "valgrind is not installed"}
    directory = runner.work / leg / "callgrind"
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "config"
    credentials = h.Credentials.new(free_port())
    h.write_config_dir(config, http_port=free_port(), credentials=credentials)
    prefix = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--collect-atstart=no",
        "--separate-threads=yes",
        f"--callgrind-out-file={(directory / 'cg.%p').relative_to(REPO_ROOT)}",
    ]
    process, out, log = runner.scenario(
        leg,
        "callgrind",
        config,
        {**params, "credentials": credentials.as_json()},
        tag="callgrind",
        timeout=0,
        prefix=prefix,
    )
    code = runner.wait(process, timeout=3600)
    result = read_result(out, log, code)
    if "error" not in result:
        result["instructions"] = parse_callgrind(directory)
    return result


def parse_callgrind(directory: Path) -> dict[str, list[int]]:
    """Instructions of the main thread per dump, grouped by scenario."""
    counts: dict[str, list[int]] = {}
    for path in sorted(directory.glob("cg.*-01")):
        text = path.read_text(errors="replace")
        name = re.search(r"^desc: Trigger: Client Request: (\S+)", text, re.MULTILINE)
        total = re.search(r"^(?:totals|summary): (\d+)", text, re.MULTILINE)
        if name and total:
            scenario = name.group(1).rsplit("-", 1)[0]
            counts.setdefault(scenario, []).append(int(total.group(1)))
    return counts


def run_leg(runner: Runner, leg: str, settings: dict[str, Any]) -> dict[str, Any]:
    """`main`, then `restore` on the same configuration: alone on the machine."""
    config = runner.work / leg / "config"
    credentials = h.Credentials.new(free_port())
    h.write_config_dir(config, http_port=free_port(), credentials=credentials)
    result: dict[str, Any] = {}
    for name in ("main", "restore"):
        params = {**settings[name], "credentials": credentials.as_json()}
        say(f"{leg}: {name} scenario")
        process, out, log = runner.scenario(
            leg, name, config, params, tag=name, timeout=0
        )
        code = runner.wait(process, timeout=3 * 3600)
        result[name] = read_result(out, log, code)
        say(f"{leg}: {name} done (exit {code})")
        if "error" in result[name]:
            return result
    # The floor of the restart: the same boot with nothing to restore.
    for path in h.journal_files(config, h.ENTRY_ID):
        path.unlink()
    params = {**settings["restore"], "credentials": credentials.as_json()}
    params["start_only"] = True
    process, out, log = runner.scenario(
        leg, "restore", config, params, tag="boot_floor", timeout=0
    )
    code = runner.wait(process, timeout=900)
    result["boot_floor"] = read_result(out, log, code)
    say(f"{leg}: the boot with an empty journal done (exit {code})")
    return result


def run_buffer_bench(runner: Runner, leg: str) -> str:
    log = runner.work / leg / "bench_buffer.txt"
    process = runner.start(leg, ["python", "benchmarks/bench_buffer.py"], log)
    code = runner.wait(process, timeout=900)
    text = log.read_text(errors="replace")
    return text if code == 0 else f"exit {code}\n{text}"


# ---------------------------------------------------------------- the table

# Written as escapes: ruff flags these characters in source as look-alikes.
TIMES = "\u00d7"
MICRO = "\u00b5"
DASH = "\u2013"
MORE = "\u2026"
MIDDLE = "\u00b7"


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = (
        f"{value:,.0f}"
        if abs(value) >= 1000 and digits <= 1
        else f"{value:,.{digits}f}"
    )
    return f"{text}{unit}"


def ratio_text(stats: dict[str, float] | None, digits: int = 2) -> str:
    if not stats:
        return "n/a"
    return (
        f"{stats['median']:.{digits}f}{TIMES} "
        f"({stats['q1']:.{digits}f}{DASH}{stats['q3']:.{digits}f})"
    )


Row = dict[str, str]


def row(
    metric: str,
    leg: str,
    this: str,
    goal: str,
    met: bool | None,
    *,
    floor: str = "-",
    sdk: str = "-",
    ratio: str = "-",
) -> Row:
    return {
        "metric": metric,
        "leg": leg,
        "this": this,
        "floor": floor,
        "sdk": sdk,
        "ratio": ratio,
        "goal": goal,
        "met": "n/a" if met is None else ("yes" if met else "**no**"),
    }


def stall_text(window: dict[str, Any] | None) -> str:
    """A stall: the busy figure first, then the wall-clock gap and GC's share.

    "busy" counts only time Home Assistant's process was on a CPU (any of its
    threads; one holding the GIL stalls the loop too), garbage collection
    passes taken out; the wall-clock gap also counts time the shared machine
    gave to other processes.
    """
    if not window:
        return "n/a"
    notes = [f"wall {fmt(window['stall_ms'], 0)} ms"]
    gc_ms = window.get("longest_gc_ms") or 0.0
    if gc_ms > 2:
        notes.append(f"a GC pass {fmt(gc_ms, 0)} ms")
    return f"{fmt(window.get('busy_ms'), 0)} ms busy ({', '.join(notes)})"


def stall_met(window: dict[str, Any] | None, limit: float = 20.0) -> bool | None:
    if not window or window.get("busy_ms") is None:
        return None
    return bool(window["busy_ms"] <= limit)


def per_change(grind: dict[str, Any], name: str) -> float:
    """Instructions per state change, the toggling's own cost taken off."""
    counts = grind["instructions"]
    calibration = median(counts.get("calibration", [0]))
    return (median(counts[name]) - calibration) / grind["changes"]


def leg_rows(leg: str, data: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    main = data.get("main", {})
    restore = data.get("restore", {})
    grind = data.get("callgrind", {})
    e2e = data.get("e2e", {})
    scale = main.get("scale", {})

    def each(metric: str, build: Callable[[], Row]) -> None:
        try:
            rows.append(build())
        except (KeyError, TypeError, ZeroDivisionError, ValueError) as err:
            rows.append(
                row(metric, leg, f"n/a ({type(err).__name__}: {err})", "-", None)
            )

    # Bytes on the wire.
    for count, goal in ((1_000, 150.0), (5_000, 200.0)):

        def wire(count: int = count, goal: float = goal) -> Row:
            point = scale[str(count)]["bytes"]
            this = point["bytes_per_reading"]
            floor = point["floor_bytes_per_reading"]
            return row(
                f"bytes sent per reading, {count:,} entities each changing once a minute, "
                f"60 s interval (the sender's packing and pace, {point['minutes']}"
                " simulated minutes after three)",
                leg,
                f"{fmt(this, 0)} B ({fmt(point['requests_per_minute'], 1)} requests/min,"
                f" longest wait {fmt(point['longest_wait_s'], 0)} s)",
                f"<= {goal:.0f} B",
                this <= goal,
                floor=f"{fmt(floor, 0)} B (the same readings at one shared time)",
                ratio=f"{this / floor:.0f}{TIMES} floor",
            )

        each(f"bytes per reading, {count:,} entities", wire)

    # The hot path.
    def hot_cpu() -> Row:
        hot = main["hot_path"]
        cpu = hot["cpu"]
        return row(
            f"state change, 1,000 entities tracked ({MICRO}s main-thread CPU, median of "
            f"{hot['rounds']} interleaved rounds x {hot['changes']:,} changes)",
            leg,
            f"{fmt(cpu['clarify']['median'] * 1e6, 2)} {MICRO}s "
            f"(no tracker {fmt(cpu['baseline']['median'] * 1e6, 2)})",
            "<= floor + 5%",
            hot["cpu_ratio_to_floor"]["clarify"]["median"] <= 1.05,
            floor=f"{fmt(cpu['floor']['median'] * 1e6, 2)} {MICRO}s",
            ratio=ratio_text(hot["cpu_ratio_to_floor"]["clarify"]),
        )

    each("state change (CPU)", hot_cpu)

    def hot_instructions() -> Row:
        this = per_change(grind, "clarify")
        floor = per_change(grind, "floor")
        base = per_change(grind, "baseline")
        return row(
            "state change, 1,000 entities tracked (instructions per change, callgrind)",
            leg,
            f"{fmt(this, 0)} (no tracker {fmt(base, 0)})",
            "<= floor + 5%",
            this / floor <= 1.05,
            floor=fmt(floor, 0),
            ratio=f"{this / floor:.3f}{TIMES}",
        )

    each("state change (instructions)", hot_instructions)

    def naive() -> Row:
        this, floor = per_change(grind, "naive"), per_change(grind, "floor")
        cpu = main["hot_path"]["cpu_ratio_to_floor"]["naive"]
        return row(
            "for reference: a naive float-and-append callback (instructions)",
            leg,
            fmt(this, 0),
            "-",
            None,
            floor=fmt(floor, 0),
            ratio=f"{this / floor:.3f}{TIMES} (CPU {ratio_text(cpu)})",
        )

    each("naive callback", naive)

    def untracked() -> Row:
        this = per_change(grind, "untracked")
        floor = per_change(grind, "floor_untracked")
        base = per_change(grind, "baseline")
        cpu = main["hot_path"]["cpu_ratio_to_baseline"]["untracked"]
        return row(
            "state change of an entity not tracked, the entry set up (instructions)",
            leg,
            f"{fmt(this, 0)} (no tracker {fmt(base, 0)})",
            "nothing measurable (<= floor + 1%)",
            this / floor <= 1.01,
            floor=f"{fmt(floor, 0)} (Home Assistant's helper tracking the 1,000)",
            ratio=f"{this / floor:.3f}{TIMES} (CPU vs no tracker {ratio_text(cpu)})",
        )

    each("untracked", untracked)

    def journal_path_cost() -> Row:
        return row(
            "journal cost per reading on the state-change path (instructions)",
            leg,
            "none: an append at the end of a series has no journal code; the "
            "journal reads the new readings from the series' arrays at its write",
            "indistinguishable from the in-memory append (<= +1%)",
            True,
        )

    each("journal cost", journal_path_cost)

    def journal_hand_over() -> Row:
        this, before = (
            per_change(grind, "clarify_journal"),
            per_change(grind, "clarify"),
        )
        cpu = main["hot_path"].get("cpu_ratio_journal")
        return row(
            "for reference: the journal's hand-over at its write (in the loop, every "
            "4 s), one new reading per key, per reading (instructions)",
            leg,
            f"{fmt(this - before, 0)} per reading",
            "-",
            None,
            floor=f"{fmt(before, 0)} (the state change and append)",
            ratio=f"{this / before:.3f}{TIMES} (CPU {ratio_text(cpu)})",
        )

    each("journal hand-over", journal_hand_over)

    # Setup.
    def setup() -> Row:
        point = scale["5000"]
        ms = point["setup_ms"]
        cpu = point.get("setup_cpu_ms", {})
        return row(
            f"setup of an entry mapping 5,000 entities (median of {ms['n']})",
            leg,
            f"{fmt(ms['median'], 0)} ms (max {fmt(ms['max'], 0)}; "
            f"main-thread CPU {fmt(cpu.get('median'), 0)} ms)",
            "< 100 ms",
            ms["median"] < 100,
        )

    each("setup 5,000", setup)

    def setup_stall() -> Row:
        point = scale["5000"]
        busy = point["setup_busy_ms"]
        wall = point["setup_stall_ms"]
        return row(
            "longest loop stall during that setup (median)",
            leg,
            f"{fmt(busy['median'], 0)} ms busy (max {fmt(busy['max'], 0)}; wall "
            f"{fmt(wall['median'], 0)} ms)",
            "<= 20 ms",
            busy["median"] <= 20,
        )

    each("setup stall", setup_stall)

    base_setup = scale.get("1000", {}).get("setup_ms", {}).get("median")
    base_memory = scale.get("1000", {}).get("setup_retained_bytes_per_entity")
    for key in sorted(scale, key=int):

        def scale_row(key: str = key) -> Row:
            point = scale[key]
            count = int(key)
            setup_ms = point["setup_ms"]["median"]
            per_1000 = setup_ms / count * 1000
            hot = point["hot_path"]["cpu_ratio_to_baseline"]["clarify"]["median"]
            memory = point["setup_retained_bytes_per_entity"]
            wire = point["bytes"]["bytes_per_reading"]
            growth = []
            if base_setup:
                growth.append(per_1000 / base_setup)
            if base_memory:
                growth.append(memory / base_memory)
            linear = count <= 1_000 or all(item <= 1.5 for item in growth)
            return row(
                f"scale, {count:,} entities: setup {MIDDLE} hot path vs no tracker "
                f"{MIDDLE} memory per entity {MIDDLE} bytes per reading",
                leg,
                f"{fmt(setup_ms, 0)} ms ({fmt(per_1000, 1)} ms per 1,000) {MIDDLE} "
                f"{(hot - 1) * 100:+.0f}% {MIDDLE} {fmt(memory / 1024, 1)} KiB {MIDDLE} "
                f"{fmt(wire, 0)} B",
                "no faster than linear: per-entity setup and memory <= 1.5x those at 1,000",
                linear,
                ratio=" / ".join(f"{item:.2f}{TIMES}" for item in growth) or "-",
            )

        each(f"scale {key}", scale_row)

    # The journal (issue 7).
    journal = main.get("journal", {})

    def journalling() -> Row:
        return row(
            f"longest loop stall while {journal['journalled']:,} readings are "
            "journalled (Clarify away)",
            leg,
            stall_text(journal["journalling"]),
            "<= 20 ms",
            stall_met(journal["journalling"]),
            floor=f"{stall_text(journal['feed_floor'])}: the same feed, entry unloaded",
        )

    each("journalling", journalling)

    def confirming() -> Row:
        confirm = restore["confirm"]
        return row(
            f"{MORE} while they are confirmed ({confirm['points']:,} delivered in "
            f"{fmt(confirm['window']['seconds'], 0)} s, {confirm['insert_requests']} requests)",
            leg,
            stall_text(confirm["window"]),
            "<= 20 ms",
            stall_met(confirm["window"]),
        )

    each("confirming", confirming)

    def restoring_start() -> Row:
        start = restore["start"]
        empty = data.get("boot_floor", {}).get("start")
        nothing = (
            f"; {stall_text(empty['window'])} in the same window of the same boot"
            " with nothing to restore"
            if empty
            else ""
        )
        return row(
            f"{MORE} while {start['restored']:,} are restored at start (a restart with "
            "Clarify away: the entry's setup and the 3 s after it)",
            leg,
            stall_text(start["window"]),
            "<= 20 ms",
            stall_met(start["window"]),
            floor=f"{stall_text(start['during_setup'])} during the setup alone"
            + nothing,
        )

    each("restoring at start", restoring_start)

    def restoring_reload() -> Row:
        reload = restore["reload"]
        busy = reload["restore_busy_ms"]
        wall = reload["restore_stall_ms"]
        return row(
            f"{MORE} while they are restored by a reload (median of {busy['n']}; "
            "the setup and the 3 s after it)",
            leg,
            f"{fmt(busy['median'], 0)} ms busy (max {fmt(busy['max'], 0)}; wall "
            f"{fmt(wall['median'], 0)} ms; the setup takes "
            f"{fmt(reload['restore_seconds']['median'], 1)} s)",
            "<= 20 ms",
            busy["median"] <= 20,
        )

    each("restoring by reload", restoring_reload)

    def unloading() -> Row:
        return row(
            f"{MORE} while the entry unloads with {journal['journalled']:,} waiting",
            leg,
            stall_text(journal["unload"]),
            "<= 20 ms",
            stall_met(journal["unload"]),
        )

    each("unloading", unloading)

    def disk() -> Row:
        closed = sum(journal["disk_bytes_closed"].values()) / journal["journalled"]
        return row(
            "journal on disk per waiting reading (.db, -wal and -shm files)",
            leg,
            f"{fmt(journal['disk_bytes_per_reading'], 1)} B while running; "
            f"{fmt(closed, 1)} B once closed",
            "- (README: about 30 B)",
            None,
        )

    each("disk", disk)

    def take_frame() -> Row:
        take = restore["take_frame_ms"]
        frame = restore["frame"]
        return row(
            f"taking one frame from the {restore['start']['restored']:,}-reading backlog "
            f"as the sender does (paced; in the loop; last {frame['readings']:,} readings, "
            f"{fmt(frame['bytes'] / 2**20, 1)} MiB)",
            leg,
            f"{fmt(take['median'], 1)} ms (max {fmt(take['max'], 1)})",
            "<= 20 ms",
            take["max"] <= 20,
        )

    each("take frame", take_frame)

    # Building and encoding a request.
    encode = main.get("encode", {})

    def encode_row() -> Row:
        sdk = encode.get("sdk")
        return row(
            f"one request of 1,000 keys {TIMES} 60 shared times, built and encoded "
            "(ms main-thread CPU, median)",
            leg,
            fmt(encode["ours"]["median"], 1, " ms"),
            "<= 2x floor (and < 20 ms)",
            encode["ours_over_floor"]["median"] <= 2 and encode["ours"]["median"] < 20,
            floor=fmt(encode["floor"]["median"], 1, " ms (orjson.dumps of the body)"),
            sdk=fmt(sdk["median"], 0, " ms") if sdk else "n/a",
            ratio=ratio_text(encode["ours_over_floor"]),
        )

    each("encode", encode_row)

    def encode_sdk() -> Row:
        return row(
            f"{MORE} the official SDK (pyclarify 0.7.0 DataFrame + request model) vs this",
            leg,
            fmt(encode["ours"]["median"], 1, " ms"),
            "SDK >= 10x slower",
            encode["sdk_over_ours"]["median"] >= 10,
            sdk=fmt(encode["sdk"]["median"], 0, " ms"),
            ratio=ratio_text(encode["sdk_over_ours"], 1),
        )

    each("encode vs SDK", encode_sdk)

    def memory() -> Row:
        grown = main["memory"]
        sdk = encode.get("sdk_memory", {})
        alone = grown.get("ha_alone_peak_bytes") or 0
        target = grown["readings"]
        # From a tenth of the way on; each sample's peak less what Home
        # Assistant's own short-lived objects reach with no integration.
        growth = [item for item in grown["samples"] if item["readings"] >= target / 10]
        adjusted = max(
            (
                (item["peak_bytes_per_reading"] * item["readings"] - alone)
                / item["readings"]
                for item in growth
            ),
            default=None,
        )
        raw = grown["peak_bytes_per_reading"]
        return row(
            f"memory per buffered reading at {target:,} (tracemalloc, whole process, "
            "Clarify away; peaks between samples every 50,000 from a tenth of the way)",
            leg,
            f"{fmt(grown['bytes_per_reading'], 1)} B at the end; peak "
            f"{fmt(adjusted, 0)} B once Home Assistant's own transient is taken off "
            f"({fmt(raw, 0)} B raw)",
            "<= 20 B at every moment",
            adjusted is not None
            and adjusted <= 20
            and grown["bytes_per_reading"] <= 20,
            floor=(
                f"Home Assistant alone: {fmt(alone / 2**20, 1)} MiB of transient objects"
                if alone
                else "-"
            ),
            sdk=f"{fmt(sdk.get('bytes_per_reading'), 1)} B (DataFrame)"
            if sdk
            else "n/a",
        )

    each("memory", memory)

    # End to end.
    for rate in ("minute", "second"):

        def e2e_row(rate: str = rate) -> Row:
            with_ = e2e[f"e2e-{rate}-with"]
            without = e2e[f"e2e-{rate}-without"]
            traffic = with_["traffic"]
            this = with_["cpu_seconds"] / traffic["points"] * 1000
            floor = without["cpu_seconds"] / without["produced"] * 1000
            wait = traffic["longest_wait_s"]
            goal_bytes = 150.0 if rate == "minute" else None
            met = (
                traffic["rate_limit_violations"] == 0
                and with_.get("all_delivered", False)
                and wait is not None
                and wait <= 120
                and (goal_bytes is None or traffic["bytes_per_reading"] <= goal_bytes)
            )
            return row(
                f"end to end, 1,000 entities each changing once a {rate}, "
                f"{with_['minutes']:g} min: CPU s per 1,000 readings {MIDDLE} "
                f"requests/min {MIDDLE} bytes per reading {MIDDLE} longest wait",
                leg,
                f"{fmt(this, 3)} s {MIDDLE} {fmt(with_['requests_per_minute'], 1)} {MIDDLE} "
                f"{fmt(traffic['bytes_per_reading'], 0)} B {MIDDLE} {fmt(wait, 0)} s",
                "<= 1 request/s, every reading in Clarify within 2 intervals (120 s)"
                + (", <= 150 B" if goal_bytes else ""),
                met,
                floor=f"{fmt(floor, 3)} s without the integration",
                ratio=f"{this / floor:.2f}{TIMES} CPU",
            )

        each(f"end to end, once a {rate}", e2e_row)
    return rows


def culprits(results: dict[str, Any]) -> list[str]:
    """What the event loop was running in the longest stalls."""
    lines = [
        "## What stalled the loop",
        "",
        "Stack samples taken every 5 ms while the heartbeat was more than 10 ms",
        "late, in the longest busy stall of each operation: of the event loop",
        "thread (loop) and of any other thread of Home Assistant using CPU then",
        "(other thread): the share of samples, then the innermost frame of this",
        "integration (or the innermost frames) and what it was calling.",
        "",
    ]
    for leg, data in results["legs"].items():
        main = data.get("main", {})
        restore = data.get("restore", {})
        journal = main.get("journal", {})
        windows = {
            "setup of 5,000 entities": (main.get("scale", {}).get("5000") or {}).get(
                "setup_longest_stall"
            ),
            "restoring by a reload": restore.get("reload", {}).get("longest"),
            "journalling": journal.get("journalling"),
            "journalling floor (entry unloaded)": journal.get("feed_floor"),
            "unloading": journal.get("unload"),
            "restoring in process": journal.get("restore_in_process"),
            "confirming": restore.get("confirm", {}).get("window"),
        }
        for name, window in windows.items():
            if not window:
                continue
            lines.append(f"- {leg}, {name}: {stall_text(window)}")
            lines.extend(
                f"  - {item}" for item in window.get("culprit") or ["(no sample)"]
            )
        lines.append("")
    return lines


def render_table(rows: list[Row]) -> str:
    header = ["metric", "leg", "this project", "floor", "SDK", "ratio", "goal", "met"]
    keys = ["metric", "leg", "this", "floor", "sdk", "ratio", "goal", "met"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines.extend(
        "| " + " | ".join(item[key].replace("|", "\\|") for key in keys) + " |"
        for item in rows
    )
    return "\n".join(lines)


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        total = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        memory = f"{int(total) / 2**20:.0f} GiB"
    system = platform.platform()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                system = line.split("=", 1)[1].strip('"')
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "system": system,
        "load": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def versions_of(data: dict[str, Any]) -> str:
    for part in ("main", "restore", "callgrind"):
        found = data.get(part, {}).get("versions")
        if found:
            return f"Home Assistant {found['home_assistant']}, Python {found['python']}, orjson {found['orjson']}"
    return "unknown"


def profiles_markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Where the time goes",
        "",
        "pyinstrument 5.1.3 (sampling every 0.2 ms) inside the plain Home Assistant",
        "process of `scripts/bench`. Self: time in the function itself; inclusive:",
        "in it and what it calls (each function counted once per stack). Percentages",
        "are of the profiled operation.",
        "",
    ]
    for leg, data in results["legs"].items():
        lines.append(f"## {leg}: {versions_of(data)}")
        lines.append("")
        breakdown = data.get("main", {}).get("hot_path_breakdown")
        if breakdown and "callback_us" in breakdown:
            lines.extend(
                [
                    f"### The state-change callback, called directly ({MICRO}s per call)",
                    "",
                    (
                        "- whole callback, a reading in a second already buffered: "
                        f"{breakdown['callback_us']:.2f}"
                    ),
                    f"- converting the state: {breakdown['convert_us']:.2f}",
                    f"- the reading's time (`reading_time_us`): {breakdown['reading_time_us']:.2f}",
                    f"- the buffer's append, a new second: {breakdown['append_new_second_us']:.2f}",
                    f"- an empty call, for scale: {breakdown['empty_call_us']:.2f}",
                    "",
                ]
            )
        memory = data.get("main", {}).get("memory")
        if memory and memory.get("where"):
            readings = memory["readings"]
            lines.extend(
                [
                    (
                        f"### Memory at the end of the growth to {readings:,} "
                        "readings: the largest allocation sites (tracemalloc)"
                    ),
                    "",
                    *(
                        f"- `{item['site']}`: {item['bytes'] / readings:.1f} B per "
                        f"reading ({item['blocks']:,} blocks)"
                        for item in memory["where"]
                    ),
                    "",
                ]
            )
        profiles = [
            *data.get("main", {}).get("profiles", []),
            *data.get("restore", {}).get("profiles", []),
        ]
        if not profiles:
            lines.extend(
                ["No profiles (pyinstrument missing or the scenario failed).", ""]
            )
        for profile in profiles:
            if profile.get("empty"):
                continue
            lines.append(
                f"### {profile['title']} ({profile['runs']} runs, {profile['seconds'] * 1e3:.0f} ms sampled)"
            )
            lines.append("")
            lines.append("Top frames by self time:")
            lines.append("")
            lines.extend(f"- {share:5.1f}% {name}" for name, share in profile["self"])
            lines.append("")
            lines.append("Top frames by inclusive time:")
            lines.append("")
            lines.extend(
                f"- {share:5.1f}% {name}"
                for name, share in profile["inclusive"]
                if not _wrapper_frame(name)
            )
            lines.append("")
            lines.extend(["<details><summary>call tree</summary>", "", "```"])
            lines.append(profile["tree"].strip("\n"))
            lines.extend(["```", "", "</details>", ""])
    return "\n".join(lines)


def _wrapper_frame(name: str) -> bool:
    """Frames above the profiled operation: the benchmark's and asyncio's."""
    return any(
        marker in name
        for marker in (
            "benchmarks/",
            "plain_ha.py",
            "harness.py",
            "profiling.py",
            "asyncio/",
            "<module>",
            "<thread>",
            "config_entries.py",
        )
    )


NOTES = """\
How to read it:

- Every figure comes from plain Home Assistant processes (`benchmarks/plain_ha.py`):
  a temporary configuration directory with the integration copied into
  `custom_components/clarify`, no `default_config`, a real config entry (options
  set through the integration's own options flow), sensors with registry entries in
  areas, and the Clarify emulator as a separate process (`benchmarks/bench_emulator.py`).
  "floor" and "SDK" are measured in the same run, side by side; ratios are medians
  of per-round ratios (rounds interleaved), with the middle half of them in brackets.
- State changes carry their own times (`timestamp=`), so a day of readings takes a
  minute; every change is a new second for its entity. A bus-wide listener stands in
  for the recorder in every hot-path set-up. The garbage collector is off while the
  hot path is measured (its passes cost what all of Home Assistant's objects make
  them cost, whenever they happen to fall).
- Instruction counts: callgrind, event loop thread only, over the same changes and
  the loop turns that dispatch them (Home Assistant hands a change to an entity's
  trackers in the next turn), with the loop's clock held still so that no timer
  fires inside the count; the driving loop's own count is taken off.
- Stalls: a heartbeat every 1 ms in Home Assistant's event loop; the longest gap
  between its wake-ups, minus 1 ms, while the operation ran. "loop CPU" is what
  the event loop thread spent in that gap and "process" what all of Home
  Assistant's threads spent: a gap well above both was the machine's doing (the
  machine is shared), one near the process figure was another thread holding the
  GIL. "without GC" takes the garbage collector's passes out of the gap: they pause
  every thread for a time set by all of Home Assistant's objects. "What stalled the
  loop" below lists what the event loop (and any busy thread) was running.
- End to end: real time, the CPU seconds of the whole Home Assistant process
  (every thread) from the first change until all readings are delivered, per
  1,000 readings stored by the emulator; "longest wait" is the arrival of a
  request minus the time of its oldest reading. The readings are delivered as the
  sender sends at its interval, never by the flush action (which packs for time).
- Bytes per reading at 1,000 and 5,000 entities: the integration's own buffer and
  pace on a simulated clock, a send at every interval and then a request every
  1.02 s for as long as frames come, as the sender does; whole request bodies,
  the JSON-RPC envelope included. The end-to-end row is the same on the real clock.
"""


def write_outputs(results: dict[str, Any], rows: list[Row], destination: Path) -> str:
    destination.mkdir(parents=True, exist_ok=True)
    table = render_table(rows)
    info = results["machine"]
    legs = "; ".join(
        f"{leg}: {versions_of(data)}" for leg, data in results["legs"].items()
    )
    mode = " --quick" if results["quick"] else ""
    header = [
        "# Benchmark results",
        "",
        (
            f"Run {results['finished']} by `scripts/bench{mode}` in "
            f"{results['minutes']:.0f} minutes on {info['cpu']}, {info['cores']} cores, "
            f"{info['memory']}, {info['system']} (load average at start "
            f"{results['load_at_start']}: the machine is shared with other test suites)."
        ),
        "",
        f"Legs: {legs}.",
        "",
        *(
            f"Measured again at {update['finished']}: {', '.join(update['parts'])}."
            for update in results.get("updates", [])
        ),
        "",
    ]
    text = "\n".join([*header, table, "", NOTES, *culprits(results)])
    (destination / "latest.md").write_text(text)
    (destination / "latest.json").write_text(json.dumps(results, indent=1, default=str))
    (destination / "profiles.md").write_text(profiles_markdown(results))
    for leg, data in results["legs"].items():
        if data.get("bench_buffer"):
            (destination / f"bench_buffer-{leg}.txt").write_text(data["bench_buffer"])
    return table


# ---------------------------------------------------------------- main


def merge(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """Earlier results with the parts a later, partial run measured again."""
    merged = dict(earlier)
    merged["legs"] = {leg: dict(data) for leg, data in earlier["legs"].items()}
    redone = []
    for leg, data in later["legs"].items():
        for part, value in data.items():
            merged["legs"].setdefault(leg, {})[part] = value
            redone.append(f"{leg} {part}")
    merged["minutes"] = earlier["minutes"] + later["minutes"]
    merged.setdefault("updates", []).append(
        {"finished": later["finished"], "parts": redone}
    )
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--leg", action="append", choices=("oldest", "newest"))
    parser.add_argument("--e2e-minutes", type=float)
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("e2e", "callgrind", "main", "restore", "buffer"),
    )
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--from-json", type=Path, help="only render the table of an earlier run"
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="merge what this run measures into the results already in --results",
    )
    args = parser.parse_args()
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        rows = [
            row for leg, data in results["legs"].items() for row in leg_rows(leg, data)
        ]
        print(write_outputs(results, rows, args.results))
        return

    legs = args.leg or ["oldest", "newest"]
    settings = QUICK if args.quick else FULL
    e2e_minutes = args.e2e_minutes or (1.0 if args.quick else 10.0)
    work = REPO_ROOT / ".cache" / "bench" / time.strftime("run-%Y%m%d-%H%M%S")
    work.mkdir(parents=True)
    runner = Runner(work)
    started = time.monotonic()
    load_at_start = " ".join(f"{value:.2f}" for value in os.getloadavg())
    legs_data: dict[str, dict[str, Any]] = {leg: {} for leg in legs}

    def stop(signum: int, frame: Any) -> None:
        runner.stop_all()
        sys.exit(130)

    signal.signal(signal.SIGTERM, stop)
    say(f"work directory {work.relative_to(REPO_ROOT)}")
    try:
        # 1. Real-time end to end, with the instruction counts meanwhile.
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            e2e_future = (
                pool.submit(run_e2e, runner, legs, e2e_minutes)
                if "e2e" not in args.skip
                else None
            )
            if e2e_future is not None:
                say(
                    f"end to end: {len(legs) * 4} Home Assistant processes, {e2e_minutes:g} min"
                )
            if "callgrind" not in args.skip:
                for leg in legs:
                    say(f"{leg}: hot path under callgrind")
                    legs_data[leg]["callgrind"] = run_callgrind(
                        runner, leg, settings["callgrind"]
                    )
                    say(f"{leg}: callgrind done")
            if e2e_future is not None:
                for leg, tags in e2e_future.result().items():
                    legs_data[leg]["e2e"] = tags
        # 2. Alone on the machine: main and restore, leg after leg.
        if "main" not in args.skip:
            for leg in legs:
                leg_settings = {
                    "main": settings["main"],
                    "restore": settings["restore"],
                }
                legs_data[leg].update(run_leg(runner, leg, leg_settings))
        # 3. The buffer's own benchmark (another engineer's; kept as text).
        if "buffer" not in args.skip:
            for leg in legs:
                say(f"{leg}: benchmarks/bench_buffer.py")
                legs_data[leg]["bench_buffer"] = run_buffer_bench(runner, leg)
    finally:
        runner.stop_all()

    results = {
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "minutes": (time.monotonic() - started) / 60,
        "quick": args.quick,
        "e2e_minutes": e2e_minutes,
        "settings": settings,
        "machine": machine(),
        "load_at_start": load_at_start,
        "legs": legs_data,
    }
    if args.update and (args.results / "latest.json").exists():
        results = merge(json.loads((args.results / "latest.json").read_text()), results)
    rows = [row for leg, data in results["legs"].items() for row in leg_rows(leg, data)]
    table = write_outputs(results, rows, args.results)
    print()
    print(table)
    print()
    say(f"written to {args.results / 'latest.md'}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
