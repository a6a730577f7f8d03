"""A plain Home Assistant for benchmarks, built the way a user's installation is.

- A temporary configuration directory with this integration *copied* into
  ``custom_components/clarify`` (as HACS installs it), a minimal
  ``configuration.yaml`` (no ``default_config``; Home Assistant still sets up
  its always-on integrations, the frontend among them), and a real config entry
  written into ``.storage/core.config_entries`` before start (storage version
  1.1, which every supported release migrates on load).
- Started with the ``homeassistant.bootstrap`` / ``homeassistant.runner`` APIs
  of the release at hand, on the event loop `runner` builds (the policy of
  2025.4, the loop factory of later releases), as ``hass`` does.
- The Clarify emulator runs as a separate process (`benchmarks.bench_emulator`).
- A `StallGuard` heartbeat in Home Assistant's loop records the longest gap
  between its wake-ups while an operation runs.

This module is imported by `plain_ha.py`, inside the Home Assistant process.
Never put the repository root on ``sys.path`` of that process: Home Assistant
would then find two ``custom_components/clarify`` (the copy and the source).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
import contextlib
import ctypes
from dataclasses import dataclass, field
import gc
import json
import logging
import os
from pathlib import Path
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DOMAIN = "clarify"
_LOGGER = logging.getLogger("benchmarks")

CONFIGURATION_YAML = """\
# A plain Home Assistant: no default_config, only what the benchmarks need.
homeassistant:
  name: Clarify benchmark
  latitude: 59.91
  longitude: 10.75
  elevation: 10
  unit_system: metric
  time_zone: UTC
  country: "NO"
  currency: NOK
http:
  server_host: 127.0.0.1
  server_port: {http_port}
logger:
  default: warning
"""


# ------------------------------------------------------------------ credentials


@dataclass(frozen=True, slots=True)
class Credentials:
    """One emulator integration and how to reach it."""

    port: int
    integration_id: str
    password: str
    client_id: str
    client_secret: str

    @classmethod
    def new(cls, port: int) -> Credentials:
        alphabet = "abcdefghijklmnopqrstuv0123456789"
        return cls(
            port=port,
            integration_id="".join(secrets.choice(alphabet) for _ in range(20)),
            password=secrets.token_urlsafe(24),
            client_id=secrets.token_urlsafe(16),
            client_secret=secrets.token_urlsafe(32),
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/"

    def as_json(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "integration_id": self.integration_id,
            "password": self.password,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Credentials:
        return cls(**data)


# ------------------------------------------------------------ config directory

ENTRY_ID = "benchclarify000000000000000000"


def write_config_dir(
    config_dir: Path,
    *,
    http_port: int,
    credentials: Credentials | None,
    entry_id: str = ENTRY_ID,
) -> None:
    """Create a configuration directory with the integration installed by copy."""
    if config_dir.exists():
        shutil.rmtree(config_dir)
    (config_dir / ".storage").mkdir(parents=True)
    shutil.copytree(
        REPO_ROOT / "custom_components" / DOMAIN,
        config_dir / "custom_components" / DOMAIN,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    (config_dir / "configuration.yaml").write_text(
        CONFIGURATION_YAML.format(http_port=http_port), encoding="utf-8"
    )
    entries = []
    if credentials is not None:
        # What the config flow stores for basic-auth credentials (entry.py's
        # entry_data_from_credentials) and the options an entry starts with.
        entries.append(
            {
                "entry_id": entry_id,
                "domain": DOMAIN,
                "title": "Clarify benchmark",
                "data": {
                    "auth_type": "basic",
                    "integration_id": credentials.integration_id,
                    "client_id": None,
                    "secret": credentials.password,
                    "api_url": credentials.api_url,
                },
                "options": {"entities": [], "flush_interval": 60},
                "source": "user",
                "version": 1,
                "minor_version": 1,
                "unique_id": credentials.integration_id,
                "disabled_by": None,
                "pref_disable_new_entities": False,
                "pref_disable_polling": False,
            }
        )
    # Storage version 1.1: every supported release migrates it on load.
    (config_dir / ".storage" / "core.config_entries").write_text(
        json.dumps(
            {
                "version": 1,
                "minor_version": 1,
                "key": "core.config_entries",
                "data": {"entries": entries},
            }
        ),
        encoding="utf-8",
    )


def journal_files(config_dir: Path, entry_id: str) -> list[Path]:
    """The entry's journal files (the database, its WAL and shared memory)."""
    return sorted((config_dir / ".storage").glob(f"clarify.{entry_id}.db*"))


# ------------------------------------------------------------- running it


def run_plain_ha(
    config_dir: Path,
    scenario: Callable[[Any], Awaitable[dict[str, Any]]],
    *,
    before_boot: Callable[[], None] | None = None,
    on_loop: Callable[[asyncio.AbstractEventLoop], None] | None = None,
) -> dict[str, Any]:
    """Start Home Assistant as `hass` does, run `scenario(hass)`, stop, return its result."""
    from homeassistant import bootstrap, runner
    from homeassistant.core import CoreState

    if before_boot is not None:
        before_boot()
    # The event loop Home Assistant runs on: 2025.4 sets a policy, later
    # releases build the loop with `create_event_loop`.
    if hasattr(runner, "create_event_loop"):
        loop = runner.create_event_loop(False)
    else:
        asyncio.set_event_loop_policy(runner.HassEventLoopPolicy(False))
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if on_loop is not None:
        on_loop(loop)
    result: dict[str, Any] = {}

    async def main() -> int:
        started = time.perf_counter()
        runtime_config = runner.RuntimeConfig(
            config_dir=str(config_dir),
            skip_pip=True,
            log_file=str(config_dir / "home-assistant.log"),
            log_no_color=True,
        )
        hass = await bootstrap.async_setup_hass(runtime_config)
        if hass is None:
            raise RuntimeError("Home Assistant did not start; see home-assistant.log")
        if hass.config.recovery_mode:
            raise RuntimeError("Home Assistant started in recovery mode")
        run = asyncio.create_task(hass.async_run())
        while hass.state is not CoreState.running:
            if run.done():
                return await run
            await asyncio.sleep(0.05)
        boot_seconds = time.perf_counter() - started
        await confirm_http_config(hass)
        try:
            result.update(await scenario(hass))
        finally:
            result.setdefault("boot_seconds", boot_seconds)
            result.setdefault("versions", versions())
            await hass.async_stop()
        return await run

    try:
        exit_code = loop.run_until_complete(main())
        result.setdefault("exit_code", exit_code)
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel("benchmark done")
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=5))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
    return result


async def confirm_http_config(hass: Any) -> None:
    """Confirm the HTTP settings, as a person does in the UI after a change.

    From Home Assistant 2026.10 on, `http:` in YAML becomes a *pending*
    configuration on the first start, reverted (with a restart) five minutes
    later unless confirmed (websocket ``http/config/promote``). The
    benchmarks need ``server_host: 127.0.0.1`` and a port of their own, and
    run longer than five minutes.
    """
    try:
        from homeassistant.components.http.config import async_get_and_load_store
    except ImportError:
        return
    store = await async_get_and_load_store(hass)
    if store.pending is not None:
        await store.async_promote_pending()


def versions() -> dict[str, str]:
    import orjson

    from homeassistant.const import __version__

    return {
        "home_assistant": __version__,
        "python": ".".join(map(str, sys.version_info[:3])),
        "orjson": orjson.__version__,
    }


# ------------------------------------------------------------- stall guard


@dataclass(slots=True)
class Window:
    """What the heartbeat saw while one operation ran.

    Two measures of the longest stall. The wall-clock gap is what the loop
    lived through, but on a shared machine it includes time the process was
    not running at all. The *busy* gap counts only time this process spent
    on a CPU (any of its threads: one holding the GIL stalls the loop as
    surely as the loop's own work), with garbage collection passes taken
    out (they pause every thread for a time set by all of Home Assistant's
    objects, whoever made them).
    """

    started: float = 0.0
    ended: float = 0.0
    longest_gap: float = 0.0
    # CPU of the loop thread and of the whole process within the longest gap.
    longest_gap_cpu: float = 0.0
    longest_gap_process_cpu: float = 0.0
    longest_gap_without_gc: float = 0.0
    longest_busy: float = 0.0
    longest_gc: float = 0.0
    # What ran during the longest busy gap: stack samples taken by a watcher
    # thread while that gap lasted.
    culprit: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def stall_ms(self) -> float:
        """The longest time the loop could not run the heartbeat, in ms."""
        return max(0.0, self.longest_gap - StallGuard.INTERVAL) * 1e3

    @property
    def busy_ms(self) -> float:
        """The longest busy gap without garbage collection, in ms."""
        return self.longest_busy * 1e3

    def as_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "stall_ms": self.stall_ms,
            "stall_cpu_ms": self.longest_gap_cpu * 1e3,
            "stall_process_cpu_ms": self.longest_gap_process_cpu * 1e3,
            "stall_without_gc_ms": max(
                0.0, self.longest_gap_without_gc - StallGuard.INTERVAL
            )
            * 1e3,
            "busy_ms": self.busy_ms,
            "longest_gc_ms": self.longest_gc * 1e3,
            "culprit": self.culprit,
        }


class StallGuard:
    """A heartbeat in the event loop: the longest gap between its wake-ups.

    It wakes every `INTERVAL` seconds; a gap longer than that is time the loop
    spent on something else without yielding (or the process was not
    scheduled). Windows may nest and overlap; each records its own longest
    gaps (see `Window`), the gap in progress at its end included. While a
    window is open, a watcher thread samples the event loop thread's stack
    (and those of threads using CPU) whenever the heartbeat is `SAMPLE_AFTER`
    late, so the longest busy stall comes with what caused it.
    """

    INTERVAL = 0.001
    SAMPLE_AFTER = 0.010
    SAMPLE_EVERY = 0.005

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self._last_process_cpu = time.process_time()
        self._handle: asyncio.TimerHandle | None = None
        self._open: list[Window] = []
        # Garbage collection passes since the last beat: (start, duration).
        self._gc_started = 0.0
        self._gc_passes: list[tuple[float, float]] = []
        gc.callbacks.append(self._on_gc)
        # Every gap over `log_over` seconds: (end, gap, collecting, process
        # CPU), for operations whose start and end are only known afterwards.
        self.log_over: float | None = None
        self.gaps: list[tuple[float, float, float, float]] = []
        # Stack samples of the gap in progress (keyed by its start).
        self._samples: tuple[float, list[str]] = (0.0, [])
        self._loop_thread = threading.get_ident()
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        if self._handle is None:
            self._last = time.perf_counter()
            self._last_cpu = time.thread_time()
            self._last_process_cpu = time.process_time()
            self._handle = self.loop.call_later(self.INTERVAL, self._beat)
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, name="StallGuard", daemon=True
            )
            self._watcher.start()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._watcher is not None:
            self._stopping.set()
            self._watcher.join()
            self._watcher = None
            self._stopping.clear()

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._handle is not None:
            self._gc_passes.append(
                (self._gc_started, time.perf_counter() - self._gc_started)
            )

    def _watch(self) -> None:
        """Sample stacks while the heartbeat is late: the loop's, and busy threads'."""
        own = threading.get_ident()
        spent: dict[int, float] = {}
        while not self._stopping.wait(self.SAMPLE_EVERY):
            # CPU of every thread since the last look: who is running.
            busy = set()
            for ident in list(sys._current_frames()):  # noqa: SLF001
                try:
                    now_cpu = time.clock_gettime(time.pthread_getcpuclockid(ident))
                except (OSError, OverflowError):
                    continue
                if now_cpu - spent.get(ident, now_cpu) > 0.001:
                    busy.add(ident)
                spent[ident] = now_cpu
            if not self._open:
                continue
            last = self._last
            if time.perf_counter() - last < self.SAMPLE_AFTER:
                continue
            frames = sys._current_frames()  # noqa: SLF001
            frame = frames.pop(self._loop_thread, None)
            if frame is None:
                continue
            sample = " || ".join(
                [
                    _short_stack(frame),
                    *(
                        _short_stack(other, depth=12)
                        for ident, other in frames.items()
                        if ident in busy and ident != own
                    ),
                ]
            )
            started, samples = self._samples
            if started != last:
                self._samples = (last, [sample])
            elif len(samples) < 200:
                samples.append(sample)

    def _beat(self) -> None:
        now = time.perf_counter()
        cpu = time.thread_time()
        process_cpu = time.process_time()
        last, self._last = self._last, now
        spent, self._last_cpu = cpu - self._last_cpu, cpu
        spent_process = process_cpu - self._last_process_cpu
        self._last_process_cpu = process_cpu
        passes, self._gc_passes = self._gc_passes, []
        started, samples = self._samples
        for window in self._open:
            since = max(last, window.started)
            if self._record(
                window,
                gap=now - since,
                spent=spent,
                spent_process=spent_process,
                passes=passes,
                since=since,
            ):
                window.culprit = _summarize(samples) if started == last else []
        if self.log_over is not None and now - last > self.log_over:
            collecting = sum(length for start, length in passes if start >= last)
            self.gaps.append((now, now - last, collecting, spent_process))
        self._handle = self.loop.call_later(self.INTERVAL, self._beat)

    @staticmethod
    def _record(
        window: Window,
        *,
        gap: float,
        spent: float,
        spent_process: float,
        passes: list[tuple[float, float]],
        since: float,
    ) -> bool:
        """Update the window with one gap; return whether it is the longest busy one."""
        lengths = [length for start, length in passes if start >= since]
        collecting = sum(lengths)
        if gap > window.longest_gap:
            window.longest_gap = gap
            window.longest_gap_cpu = spent
            window.longest_gap_process_cpu = spent_process
        window.longest_gap_without_gc = max(
            window.longest_gap_without_gc, gap - collecting
        )
        window.longest_gc = max([window.longest_gc, *lengths])
        busy = max(0.0, min(gap, spent_process) - collecting)
        if busy > window.longest_busy:
            window.longest_busy = busy
            return True
        return False

    def open(self) -> Window:
        self.start()
        window = Window(started=time.perf_counter())
        self._open.append(window)
        return window

    def close(self, window: Window) -> Window:
        now = time.perf_counter()
        window.ended = now
        since = max(self._last, window.started)
        started, samples = self._samples
        if self._record(
            window,
            gap=now - since,
            spent=time.thread_time() - self._last_cpu,
            spent_process=time.process_time() - self._last_process_cpu,
            passes=self._gc_passes,
            since=since,
        ):
            window.culprit = _summarize(samples) if started == self._last else []
        self._open.remove(window)
        if not self._open and self.log_over is None:
            # Nothing to watch: the heartbeat would only add to what others measure.
            self.stop()
        return window

    @contextlib.contextmanager
    def watch(self) -> Iterator[Window]:
        window = self.open()
        try:
            yield window
        finally:
            self.close(window)

    def longest_between(self, start: float, end: float) -> dict[str, float]:
        """Stalls among the logged gaps overlapping [start, end] (needs `log_over`)."""
        longest = without_gc = busy = 0.0
        for ended, gap, collecting, process_cpu in self.gaps:
            if ended >= start and ended - gap <= end:
                overlap = min(ended, end) - max(ended - gap, start)
                longest = max(longest, overlap)
                without_gc = max(without_gc, overlap - collecting)
                busy = max(busy, min(overlap, process_cpu) - collecting)
        return {
            "seconds": end - start,
            "stall_ms": max(0.0, longest - self.INTERVAL) * 1e3,
            "stall_without_gc_ms": max(0.0, without_gc - self.INTERVAL) * 1e3,
            "busy_ms": max(0.0, busy) * 1e3,
        }


def _short_stack(frame: Any, depth: int = 40) -> str:
    """The innermost frames of a stack, innermost last, paths shortened."""
    import traceback

    entries = traceback.extract_stack(frame, limit=depth)
    parts = []
    for entry in entries:
        path = entry.filename
        for marker in (
            "custom_components/",
            "homeassistant/",
            "site-packages/",
            "benchmarks/",
        ):
            if marker in path:
                path = path[path.index(marker) :]
                break
        else:
            path = Path(path).name
        parts.append(f"{entry.name} ({path}:{entry.lineno})")
    return " > ".join(parts)


def _key(stack: str) -> str:
    """The innermost frame of this integration and what it calls, or the innermost."""
    frames = stack.split(" > ")
    ours = [i for i, item in enumerate(frames) if "custom_components/" in item]
    cut = ours[-1] if ours else max(0, len(frames) - 2)
    return " > ".join(frames[cut : cut + 3])


def _summarize(samples: list[str], top: int = 3) -> list[str]:
    """The most frequent frames in the samples, as "share: frames".

    For the event loop thread, and for other threads of the process that were
    running meanwhile (one of them may have held the GIL).
    """
    if not samples:
        return []
    loop: dict[str, int] = {}
    others: dict[str, int] = {}
    for sample in samples:
        first, *rest = sample.split(" || ")
        loop[_key(first)] = loop.get(_key(first), 0) + 1
        for key in {_key(stack) for stack in rest}:
            others[key] = others.get(key, 0) + 1
    lines = []
    for label, counts in (("loop", loop), ("other thread", others)):
        ranked = sorted(counts.items(), key=lambda item: item[1], reverse=True)[:top]
        lines.extend(
            f"{label}: {count * 100 // len(samples)}% {key}" for key, count in ranked
        )
    return lines


# ------------------------------------------------------------- the emulator


def _die_with_parent() -> None:
    # The emulator must not outlive the Home Assistant process that started it.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class EmulatorProcess:
    """The Clarify emulator in a process of its own, started and stopped at will."""

    def __init__(self, credentials: Credentials, log_path: Path) -> None:
        self.credentials = credentials
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start it and wait until it listens (blocking: call from an executor)."""
        if self.running:
            return
        c = self.credentials
        # The log is appended to across restarts: look for "ready" after here.
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.bench_emulator",
                    f"--port={c.port}",
                    # One argument each: a generated secret may begin with "-".
                    f"--integration-id={c.integration_id}",
                    f"--password={c.password}",
                    f"--client-id={c.client_id}",
                    f"--client-secret={c.client_secret}",
                ],
                cwd=REPO_ROOT,
                stdout=log,
                stderr=log,
                preexec_fn=_die_with_parent,  # noqa: PLW1509  # nothing else forks here
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the emulator exited; see {self.log_path}")
            if b"ready" in self.log_path.read_bytes()[offset:]:
                return
            time.sleep(0.05)
        raise RuntimeError("the emulator did not start in 60 s")

    def stop(self) -> None:
        """Stop it (blocking: call from an executor); it forgets everything."""
        if self._process is None:
            return
        process, self._process = self._process, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def fetch_log(self) -> dict[str, Any]:
        """The emulator's request log (blocking: call from an executor)."""
        import urllib.request

        url = f"http://127.0.0.1:{self.credentials.port}/bench/log"
        with urllib.request.urlopen(url, timeout=60) as response:  # loopback
            data: dict[str, Any] = json.loads(response.read())
        return data


@dataclass(slots=True)
class Traffic:
    """What the emulator received between two of its logs."""

    insert_requests: int = 0
    metadata_requests: int = 0
    insert_bytes: int = 0
    failed_requests: int = 0
    points: int = 0
    rate_limit_violations: int = 0
    # Longest wait of a reading: arrival of its request minus its time (s).
    longest_wait: float | None = None
    per_request_readings: list[int] = field(default_factory=list)
    # Per insert request: its keys and its times (the matrix is keys x times).
    per_request_shape: list[tuple[int, int]] = field(default_factory=list)
    # Arrival (wall clock) of the first and the last insert request.
    first_arrival: float | None = None
    last_arrival: float | None = None

    @property
    def bytes_per_reading(self) -> float | None:
        return self.insert_bytes / self.points if self.points else None

    @property
    def requests_per_minute(self) -> float | None:
        """Insert requests per minute, from the first to the last."""
        if self.first_arrival is None or self.last_arrival is None:
            return None
        span = self.last_arrival - self.first_arrival
        return (self.insert_requests - 1) / span * 60 if span > 0 else None

    @property
    def nulls_per_reading(self) -> float | None:
        """The matrix cells without a value, per reading: what the packing costs."""
        readings = sum(self.per_request_readings)
        if not readings:
            return None
        cells = sum(keys * times for keys, times in self.per_request_shape)
        return (cells - readings) / readings

    def shape_quartiles(self) -> dict[str, list[float]]:
        """Quartiles of the keys, times and readings per insert request."""
        if not self.per_request_shape:
            return {}
        return {
            "keys": quartiles([keys for keys, _ in self.per_request_shape]),
            "times": quartiles([times for _, times in self.per_request_shape]),
            "readings": quartiles(self.per_request_readings),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "insert_requests": self.insert_requests,
            "metadata_requests": self.metadata_requests,
            "insert_bytes": self.insert_bytes,
            "failed_requests": self.failed_requests,
            "points": self.points,
            "bytes_per_reading": self.bytes_per_reading,
            "rate_limit_violations": self.rate_limit_violations,
            "longest_wait_s": self.longest_wait,
            "nulls_per_reading": self.nulls_per_reading,
            "requests_per_minute": self.requests_per_minute,
            "per_request_quartiles": self.shape_quartiles(),
        }


def quartiles(values: Iterable[float]) -> list[float]:
    """The quartiles of values; a single value is all three."""
    ordered = sorted(values)
    return statistics.quantiles(ordered, n=4) if len(ordered) >= 2 else ordered * 3


def traffic_between(before: dict[str, Any], after: dict[str, Any]) -> Traffic:
    """The traffic in `after`'s log that `before`'s did not have yet."""
    traffic = Traffic()
    for request in after["requests"][len(before["requests"]) :]:
        ok = request["status"] == 200 and request["error"] is None
        if request["method"] == "integration.insert":
            traffic.insert_requests += 1
            if ok:
                traffic.insert_bytes += request["body_bytes"]
        elif request["method"] == "integration.saveSignals":
            traffic.metadata_requests += 1
        if not ok:
            traffic.failed_requests += 1
    for arrived, _size, oldest, _newest, readings, keys, times in after["bodies"][
        len(before["bodies"]) :
    ]:
        if oldest is None:
            continue
        traffic.per_request_readings.append(readings)
        traffic.per_request_shape.append((keys, times))
        if traffic.first_arrival is None:
            traffic.first_arrival = arrived
        traffic.last_arrival = arrived
        wait = arrived - oldest / 1e6
        traffic.longest_wait = max(traffic.longest_wait or wait, wait)
    traffic.points = after["points"] - before["points"]
    traffic.rate_limit_violations = (
        after["rate_limit_violations"] - before["rate_limit_violations"]
    )
    return traffic


# ------------------------------------------------------------- entities


VALUES = [f"{18 + step / 10:.1f}" for step in range(50)]
SENSOR_ATTRIBUTES = {
    "unit_of_measurement": "°C",
    "device_class": "temperature",
    "state_class": "measurement",
}


async def create_entities(
    hass: Any, object_ids: Iterable[str], *, areas: int = 10
) -> list[str]:
    """Registry entries (in areas, as most are) and first states for sensors."""
    from homeassistant.helpers import area_registry as ar, entity_registry as er

    area_registry = ar.async_get(hass)
    area_ids = []
    for number in range(areas):
        name = f"Bench area {number}"
        area = area_registry.async_get_area_by_name(name) or area_registry.async_create(
            name
        )
        area_ids.append(area.id)
    registry = er.async_get(hass)
    entity_ids = []
    for number, object_id in enumerate(object_ids):
        entry = registry.async_get_or_create(
            "sensor",
            "bench",
            object_id,
            suggested_object_id=object_id,
            original_name=object_id.replace("_", " ").title(),
            unit_of_measurement="°C",
            original_device_class="temperature",
        )
        if entry.area_id is None:
            registry.async_update_entity(
                entry.entity_id, area_id=area_ids[number % len(area_ids)]
            )
        entity_ids.append(entry.entity_id)
        if number % 500 == 499:
            await asyncio.sleep(0)
    set_first_states(hass, entity_ids)
    await hass.async_block_till_done()
    return entity_ids


def set_first_states(hass: Any, entity_ids: Iterable[str]) -> None:
    for entity_id in entity_ids:
        if hass.states.get(entity_id) is None:
            hass.states.async_set(
                entity_id,
                VALUES[0],
                {**SENSOR_ATTRIBUTES, "friendly_name": entity_id},
            )


class SimClock:
    """Simulated reading times, only ever moving forward.

    Readings of the past (`State.last_updated` set through `timestamp`) let a
    benchmark produce a day of readings in a minute. Every feed takes its times
    from here, so an entity's readings never go back in time, which the buffer
    handles on a slower path that real clocks seldom take.
    """

    def __init__(self, start: float) -> None:
        self.now = float(int(start))

    def advance(self, seconds: float) -> float:
        base = self.now
        self.now += seconds
        return base


class Feeder:
    """Sets states the way integrations do, with per-entity attribute dicts.

    Each entity cycles through `VALUES` on its own, so every change is a
    change (an unchanged state only fires `state_reported`).
    """

    def __init__(self, hass: Any, entity_ids: list[str]) -> None:
        self.hass = hass
        self.entity_ids = entity_ids
        self.attributes = [
            {**SENSOR_ATTRIBUTES, "friendly_name": entity_id}
            for entity_id in entity_ids
        ]
        # Continue each entity's cycle from its current state, whoever set it.
        self.counts = [
            VALUES.index(state.state)
            if (state := hass.states.get(entity_id)) is not None
            and state.state in VALUES
            else 0
            for entity_id in entity_ids
        ]
        self.changes = 0

    async def feed(
        self,
        schedule: Iterable[tuple[int, float]],
        *,
        chunk: int = 100,
        on_chunk: Callable[[int], None] | None = None,
    ) -> int:
        """Apply (entity index, timestamp) changes, yielding to the loop per chunk."""
        entity_ids = self.entity_ids
        attributes = self.attributes
        counts = self.counts
        async_set = self.hass.states.async_set
        values = VALUES
        count = 0
        for index, timestamp in schedule:
            counts[index] = step = (counts[index] + 1) % 50
            async_set(
                entity_ids[index], values[step], attributes[index], timestamp=timestamp
            )
            count += 1
            if count % chunk == 0:
                self.changes += chunk
                if on_chunk is not None:
                    on_chunk(count)
                await asyncio.sleep(0)
        self.changes += count % chunk
        await asyncio.sleep(0)
        return count


def sweeps(
    clock: SimClock, entities: int, changes: int, *, first: int = 0
) -> Iterator[tuple[int, float]]:
    """Entities changing in turn; a sweep over all of them shares one second.

    Every change of an entity lands in a new second (the buffer's common path)
    and a sweep's readings share their time, as under one clock.
    """
    base = clock.advance(changes // entities + 1)
    for change in range(changes):
        yield first + change % entities, base + change // entities


def minutes(
    clock: SimClock,
    entities: int,
    count: int,
    offsets: list[float],
) -> Iterator[tuple[int, float]]:
    """Each entity changing once a minute at its own offset, for `count` minutes.

    Offsets carry microseconds, so no two entities share a time: what Home
    Assistant's clock gives real sensors.
    """
    order = sorted(range(entities), key=offsets.__getitem__)
    base = clock.advance(count * 60)
    for minute in range(count):
        start = base + minute * 60
        for index in order:
            yield index, start + offsets[index]


def random_offsets(entities: int, period: float, seed: int = 7) -> list[float]:
    import random

    rng = random.Random(seed)
    return [round(rng.uniform(0, period), 6) for _ in range(entities)]


# ------------------------------------------------------------- the entry


def clarify_entry(hass: Any) -> Any:
    entries = hass.config_entries.async_entries(DOMAIN)
    if len(entries) != 1:
        raise RuntimeError(f"expected one {DOMAIN} entry, found {len(entries)}")
    return entries[0]


def exporter_of(entry: Any) -> Any:
    """The running exporter of a loaded entry (read for measurements only)."""
    return entry.runtime_data.exporter


async def set_tracked(hass: Any, entry: Any, entity_ids: list[str]) -> str:
    """Choose the entities to send through the integration's own options flow.

    Falls back to writing the options the flow would write when the flow's
    steps have changed; returns which way was taken.
    """
    flows = hass.config_entries.options
    how = "options flow"
    result: dict[str, Any] = {}
    try:
        result = await flows.async_init(entry.entry_id)
        if result["type"] == "menu":
            result = await flows.async_configure(
                result["flow_id"], {"next_step_id": "entities"}
            )
        result = await flows.async_configure(
            result["flow_id"], {"entities": entity_ids}
        )
    except Exception:  # any change in the flow: write them directly
        _LOGGER.warning("Options flow failed; writing options directly", exc_info=True)
    if result.get("type") != "create_entry":
        how = "options written directly"
        options = dict(entry.options)
        options["entities"] = [
            {"entity": entity_id, "input_key": entity_id} for entity_id in entity_ids
        ]
        hass.config_entries.async_update_entry(entry, options=options)
    await hass.async_block_till_done()
    return how


async def wait_until(
    predicate: Callable[[], bool], *, within: float, interval: float = 0.05
) -> bool:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True


async def drain(
    hass: Any, entry: Any, *, within: float = 120.0, flush: bool = True
) -> bool:
    """Send everything buffered and wait until delivered.

    With `flush`, through the flush action (requests as full as they may be);
    without, as the sender sends at its interval (paced for bytes).
    """
    exporter = exporter_of(entry)
    if not len(exporter.buffer):
        return True
    if flush:
        await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
    else:
        exporter.async_send_now()
    return await wait_until(lambda: not len(exporter.buffer), within=within)


def paced_send(
    schedule: Iterable[tuple[int, float]],
    keys: list[str],
    *,
    interval: float = 60.0,
    request_seconds: float = 0.02,
    count_from: float,
) -> dict[str, Any]:
    """Bytes, requests and frame takes of the sender's packing and pace.

    A simulated clock runs through (entity index, timestamp) readings: the
    integration's own buffer and `Pace`, a send at every interval that goes
    on, a request after each `REQUEST_SPACING` plus `request_seconds`, for as
    long as frames come, as the sender does. Whole request bodies are
    counted (the JSON-RPC envelope included), of the requests made from
    `count_from` to the last reading, and how long taking their frames took.
    """
    from custom_components.clarify.buffer import Pace, SampleBuffer
    from custom_components.clarify.sender import REQUEST_SPACING

    us = 1_000_000
    arrivals = sorted((round(at * us), index) for index, at in schedule)
    buffer = SampleBuffer()
    handles = [buffer.series(key).append for key in keys]
    step = round((REQUEST_SPACING + request_seconds) * us)
    envelope = len(
        b'{"jsonrpc":"2.0","id":1000,"method":"integration.insert",'
        b'"params":{"integration":"c0000000000000000000","data":}}'
    )
    first = arrivals[0][0] if arrivals else 0
    tick = first + round(interval * us)
    end = arrivals[-1][0] if arrivals else 0
    start = round(count_from * us)
    due = sent = readings = requests = 0
    waits: list[float] = []
    takes: list[float] = []
    while due < len(arrivals) or len(buffer):
        now = tick
        while True:
            while due < len(arrivals) and arrivals[due][0] <= now:
                time_us, index = arrivals[due]
                handles[index](time_us, 20.0 + (due % 50) / 10)
                due += 1
            pace = Pace.for_sender(now, interval, REQUEST_SPACING)
            started = time.perf_counter()
            frame = buffer.take_frame(pace=pace)
            took = time.perf_counter() - started
            if frame is None:
                break
            if start <= now <= end:
                takes.append(took)
                sent += envelope + len(frame.data_json)
                readings += frame.sample_count
                requests += 1
                waits.append((now - frame.oldest_us) / us)
            buffer.confirm(frame)
            now += step
        tick = max(tick + round(interval * us), now)
    minutes = (end - start) / us / 60
    return {
        "bytes_per_reading": sent / readings if readings else None,
        "readings": readings,
        "insert_requests": requests,
        "requests_per_minute": requests / minutes if minutes > 0 else None,
        "longest_wait_s": max(waits, default=None),
        "take_median_ms": statistics.median(takes) * 1e3 if takes else None,
        "take_max_ms": max(takes) * 1e3 if takes else None,
    }


async def metadata_settled(hass: Any, entry: Any, *, within: float = 600.0) -> bool:
    """Wait until Clarify has every signal's metadata.

    The sender sends one batch of metadata (500 signals) per send, and sends
    when the interval is up: thousands of new signals would take one interval
    per 500. The flush action starts a send now, once a second.
    """
    exporter = exporter_of(entry)
    deadline = time.monotonic() + within
    while len(exporter.metadata):
        if time.monotonic() > deadline:
            return False
        await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
        await asyncio.sleep(1.1)
    return True


def collect_garbage() -> None:
    gc.collect()


def cpu_seconds() -> float:
    """CPU time of the whole process (every thread), user and system."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
