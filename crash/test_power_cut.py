"""What a crash costs, on a real Home Assistant: SIGKILL at random moments.

Clarify is away for the whole run (a real outage of a couple of minutes), so
every reading waits on disk. Home Assistant is killed with SIGKILL (what a power
cut, an out-of-memory kill or `docker kill` does to the process) at a random
moment, five times in a row, and started again each time; then stopped
gracefully once. When Clarify is back, every reading made more than the
journal's window (5 seconds) before a kill must arrive, exactly (key, time to
the microsecond, value); a graceful stop must lose nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
import os
from pathlib import Path
import random
import time

from tools.realserver import BASE_CONFIGURATION, RealInstallation, wait_for

# A reading is on disk at most this long after it was made (journal.py).
WINDOW = 5.0
KILLS = 5
ENTITIES = [f"sensor.power_cut_{index}" for index in range(4)]
ARTEFACTS = Path(".cache/crash")


@dataclass
class Reading:
    """One state set over the REST API: what Clarify should store."""

    key: str
    time: str
    value: float
    made_at: float  # wall-clock seconds, when Home Assistant answered


@dataclass
class Cycle:
    """Readings made before one stop, and how the stop was made."""

    kind: str
    readings: list[Reading] = field(default_factory=list)
    stopped_at: float = 0.0


def _clarify_time(moment: str) -> str:
    return datetime.fromisoformat(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _last_per_second(readings: list[Reading]) -> list[Reading]:
    last: dict[tuple[str, str], Reading] = {}
    for reading in readings:
        last[reading.key, reading.time[:19]] = reading
    return sorted(last.values(), key=lambda reading: reading.made_at)


def _produce(installation: RealInstallation, cycle: Cycle, seconds: float) -> None:
    """Change the sensors every fifth of a second for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for entity_id in ENTITIES:
            value = round(random.uniform(0, 1000), 3)
            state = installation.api.request(
                "POST",
                f"/api/states/{entity_id}",
                json_body={
                    "state": str(value),
                    "attributes": {"unit_of_measurement": "W"},
                },
            )
            cycle.readings.append(
                Reading(
                    entity_id, _clarify_time(state["last_updated"]), value, time.time()
                )
            )
        time.sleep(0.2)


def test_power_cuts_lose_at_most_the_last_seconds(tmp_path: Path) -> None:
    seed = int(os.environ.get("CLARIFY_CRASH_SEED", time.time()))
    rng = random.Random(seed)
    run_dir = ARTEFACTS.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    installation = RealInstallation(tmp_path / "run", BASE_CONFIGURATION)
    with installation:
        api = installation.api
        entry = installation.add_clarify()
        for entity_id in ENTITIES:
            api.request("POST", f"/api/states/{entity_id}", json_body={"state": "0"})
        api.options_flow(
            entry["entry_id"],
            {"next_step_id": "entities"},
            {"entities": ENTITIES},
        )
        # Home Assistant saves its own stores (entries, options) a few seconds
        # after a change: a graceful restart writes them before the kills.
        installation.hass.restart()
        api.wait_until_running()

        installation.emulator.stop()
        cycles: list[Cycle] = []
        for number in range(KILLS):
            api.wait_for_entry_state(entry["entry_id"])
            cycle = Cycle("SIGKILL")
            _produce(installation, cycle, rng.uniform(4, 10))
            time.sleep(rng.uniform(0, 3))
            cycle.stopped_at = time.time()
            installation.hass.kill()
            cycles.append(cycle)
            installation.hass.start()
            api.wait_until_running()
            print(f"kill {number + 1}: {len(cycle.readings)} readings made before it")

        api.wait_for_entry_state(entry["entry_id"])
        graceful = Cycle("graceful stop")
        _produce(installation, graceful, 4)
        graceful.stopped_at = time.time()
        installation.hass.stop()
        cycles.append(graceful)
        installation.hass.start()
        api.wait_until_running()

        # Clarify is back (empty, same credentials): everything kept arrives.
        installation.emulator.start()
        made = {
            (reading.key, reading.time, reading.value)
            for cycle in cycles
            for reading in cycle.readings
        }
        # Within one second an entity sends only its last reading (Clarify's
        # limit): of several in one second, only the last is expected.
        for cycle in cycles:
            cycle.readings = _last_per_second(cycle.readings)
        must_arrive = {
            (reading.key, reading.time, reading.value)
            for cycle in cycles
            for reading in cycle.readings
            if cycle.kind == "graceful stop"
            or reading.made_at < cycle.stopped_at - WINDOW
        }

        def delivered() -> set[tuple[str, str, float]] | None:
            points = installation.emulator.points()
            stored = {
                (key, moment, value)
                for key, series in points.items()
                for moment, value in series.items()
            }
            return stored if must_arrive <= stored else None

        try:
            stored = wait_for(
                delivered, timeout=120, what="the kept readings in Clarify"
            )
        except TimeoutError:
            points = installation.emulator.points()
            have = {
                (key, moment, value)
                for key, series in points.items()
                for moment, value in series.items()
            }
            for number, cycle in enumerate(cycles):
                missing = [
                    f"{reading.key} {reading.time} made"
                    f" {cycle.stopped_at - reading.made_at:.1f} s before the stop"
                    for reading in cycle.readings
                    if (reading.key, reading.time, reading.value) in must_arrive
                    and (reading.key, reading.time, reading.value) not in have
                ]
                print(f"{cycle.kind} {number + 1}: {len(missing)} missing", missing[:8])
            raise

        lines = [
            f"seed {seed}; journal window {WINDOW:.0f} s",
            "| stop | made | made within the window before it | lost (all in the window) |",
            "|---|---|---|---|",
        ]
        for cycle in cycles:
            recent = [
                reading
                for reading in cycle.readings
                if reading.made_at >= cycle.stopped_at - WINDOW
            ]
            lost = [
                reading
                for reading in cycle.readings
                if (reading.key, reading.time, reading.value) not in stored
            ]
            # Only readings of the last window may be lost, and never at a
            # graceful stop.
            assert all(reading in recent for reading in lost)
            if cycle.kind == "graceful stop":
                assert not lost
            lines.append(
                f"| {cycle.kind} | {len(cycle.readings)} | {len(recent)} | {len(lost)} |"
            )
        # Nothing arrived that was not made.
        unknown = {point for point in stored if point not in made and point[2] != 0.0}
        assert not unknown, sorted(unknown)[:5]
        report = "\n".join(lines)
        (run_dir / "power-cut.md").write_text(report + "\n")
        print("\n" + report)
