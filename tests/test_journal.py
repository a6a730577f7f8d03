"""The journal: what survives a crash, and what a damaged file costs.

A crash is simulated by copying the journal's files while the entry runs, as a
power cut would leave them, and starting a second Home Assistant on the copy.
The real thing (SIGKILL of a real server) is in the end-to-end stage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
import shutil
import sqlite3

from freezegun.api import FrozenDateTimeFactory
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_test_home_assistant,
)

from homeassistant import loader
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.clarify.const import DOMAIN
from custom_components.clarify.journal import WRITE_INTERVAL
from tools.clarify_emulator import ClarifyEmulator, Fault, IntegrationCredentials

from .common import SimulatedTime, make_entry, mapping, setup_entry, stored_points

type Readings = dict[str, dict[datetime, float]]

ENTRY_ID = "journal_test_entry"
ENTITIES = [f"sensor.meter_{i}" for i in range(5)]


def _journal(config_dir: Path) -> Path:
    return config_dir / ".storage" / f"clarify.{ENTRY_ID}.db"


def _entry(
    emulator: ClarifyEmulator, integration: IntegrationCredentials
) -> MockConfigEntry:
    return make_entry(
        emulator, integration, [mapping(e) for e in ENTITIES], entry_id=ENTRY_ID
    )


@pytest.fixture
async def second_home(
    tmp_path: Path,
) -> AsyncIterator[tuple[HomeAssistant, Path]]:
    """Another Home Assistant, on a configuration directory of its own."""
    config_dir = tmp_path / "second"
    async with async_test_home_assistant(config_dir=str(config_dir)) as hass:
        # The harness hides custom integrations unless told otherwise.
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        yield hass, config_dir
        await hass.async_stop(force=True)


async def _produce_while_down(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    rounds: int,
) -> Readings:
    await setup_entry(hass, _entry(emulator, integration))
    emulator.inject(Fault(kind="http", status=503, count=1_000_000))
    expected: Readings = {}
    for round_ in range(rounds):
        for index, entity_id in enumerate(ENTITIES):
            value = round_ + index / 10
            expected.setdefault(entity_id, {})[sim.set_state(entity_id, str(value))] = (
                value
            )
            sim.freezer.tick(timedelta(milliseconds=3))
        # Before time moves: older releases hand state changes on a loop turn later.
        await hass.async_block_till_done()
        await sim.advance(10)
    return expected


async def _start_on(
    home: tuple[HomeAssistant, Path],
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    freezer: FrozenDateTimeFactory,
) -> MockConfigEntry:
    """Set the entry up on `home`; its restored readings leave, a request a second."""
    hass, _ = home
    entry = _entry(emulator, integration)
    await setup_entry(hass, entry)
    await SimulatedTime(hass, freezer).run(30)
    return entry


async def test_a_crash_loses_at_most_the_last_write_interval(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    second_home: tuple[HomeAssistant, Path],
) -> None:
    """Files copied mid-run, as a power cut leaves them, hold every older reading."""
    expected = await _produce_while_down(hass, sim, emulator, integration, 12)
    # Readings newer than the last write may be lost; these two are.
    for entity_id in ENTITIES[:2]:
        sim.set_state(entity_id, "999")
    await hass.async_block_till_done()
    copy = _journal(second_home[1])
    copy.parent.mkdir(parents=True)
    for suffix in ("", "-wal"):
        source = Path(f"{_journal(Path(hass.config.config_dir))}{suffix}")
        if source.exists():
            shutil.copy(source, f"{copy}{suffix}")
    # The first home is gone for good (it shares the event loop, and so the
    # clock, with the second one).
    assert await hass.config_entries.async_unload(ENTRY_ID)

    emulator.clear_faults()
    entry = await _start_on(second_home, emulator, integration, sim.freezer)
    assert entry.state is ConfigEntryState.LOADED
    assert stored_points(emulator, integration) == expected
    # Nothing was damaged: no repair.
    assert not ir.async_get(second_home[0]).issues


async def test_the_journal_is_written_within_the_interval(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A reading is in the file one write interval after it was made."""
    await setup_entry(hass, _entry(emulator, integration))
    emulator.inject(Fault(kind="http", status=503, count=1_000_000))
    at = sim.set_state("sensor.meter_0", "42.5")
    await hass.async_block_till_done()
    await sim.advance(WRITE_INTERVAL)
    with (
        closing(sqlite3.connect(_journal(Path(hass.config.config_dir)))) as connection,
        connection,
    ):
        rows = connection.execute(
            "SELECT second, micro, value FROM readings"
        ).fetchall()
    assert rows == [(int(at.timestamp()), at.microsecond, 42.5)]


async def test_confirmed_readings_leave_the_journal(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """After Clarify confirmed them, nothing of them is left to send again."""
    await setup_entry(hass, _entry(emulator, integration))
    for index, entity_id in enumerate(ENTITIES):
        sim.set_state(entity_id, str(index))
    await sim.advance(60)
    await sim.advance(WRITE_INTERVAL)
    assert len(stored_points(emulator, integration)) == len(ENTITIES)
    with (
        closing(sqlite3.connect(_journal(Path(hass.config.config_dir)))) as connection,
        connection,
    ):
        assert connection.execute("SELECT count(*) FROM readings").fetchone() == (0,)


@pytest.mark.parametrize(
    ("damage", "salvaged"),
    [
        ("garbage", 0),
        ("truncated", None),
        ("newer_version", 0),
        ("bad_row", 59),
    ],
)
async def test_a_damaged_journal_never_fails_setup(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    second_home: tuple[HomeAssistant, Path],
    damage: str,
    salvaged: int | None,
) -> None:
    """What can be read is sent; the damaged file is kept aside and reported."""
    expected = await _produce_while_down(hass, sim, emulator, integration, 12)
    assert await hass.config_entries.async_unload(ENTRY_ID)
    path = _journal(second_home[1])
    path.parent.mkdir(parents=True)
    shutil.copy(_journal(Path(hass.config.config_dir)), path)
    original = path.read_bytes()
    match damage:
        case "garbage":
            path.write_bytes(b"This is not a database at all. " * 300)
        case "truncated":
            path.write_bytes(original[: len(original) // 2])
        case "newer_version":
            with closing(sqlite3.connect(path)) as connection, connection:
                connection.execute("PRAGMA user_version = 99")
        case "bad_row":
            with closing(sqlite3.connect(path)) as connection, connection:
                connection.execute(
                    "UPDATE readings SET value = value + 1 WHERE (key, second) IN"
                    " (SELECT key, second FROM readings LIMIT 1)"
                )

    emulator.clear_faults()
    entry = await _start_on(second_home, emulator, integration, sim.freezer)
    assert entry.state is ConfigEntryState.LOADED
    stored = stored_points(emulator, integration)
    delivered = sum(len(points) for points in stored.values())
    # Nothing was made up: every reading sent is one that was produced.
    for key, points in stored.items():
        assert points.items() <= expected[key].items()
    if salvaged is not None:
        assert delivered == salvaged
    issue = ir.async_get(second_home[0]).async_get_issue(
        DOMAIN, f"{ENTRY_ID}_journal_damaged"
    )
    assert issue is not None
    assert issue.translation_placeholders["salvaged"] == str(delivered)
    kept = Path(issue.translation_placeholders["kept_as"])
    assert kept.exists()
    if damage != "garbage":
        assert kept.read_bytes()[:16] == b"SQLite format 3\x00"


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    cut=st.none() | st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 255)), max_size=8),
)
async def test_random_damage_loses_only_what_was_damaged(
    emulator: ClarifyEmulator,
    freezer: FrozenDateTimeFactory,
    tmp_path_factory: pytest.TempPathFactory,
    cut: float | None,
    flips: list[tuple[float, int]],
) -> None:
    """Truncation and flipped bytes anywhere: setup works, nothing is made up."""
    integration = emulator.add_integration()
    source = tmp_path_factory.mktemp("source")
    expected: Readings = {}
    async with async_test_home_assistant(config_dir=str(source)) as first:
        first.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        sim = SimulatedTime(first, freezer)
        expected = await _produce_while_down(first, sim, emulator, integration, 6)
        await first.async_stop(force=True)
    data = bytearray(_journal(source).read_bytes())
    for where, xor in flips:
        data[int(where * (len(data) - 1))] ^= xor
    if cut is not None:
        del data[int(cut * len(data)) :]
    target = tmp_path_factory.mktemp("target")
    _journal(target).parent.mkdir(parents=True)
    _journal(target).write_bytes(bytes(data))

    emulator.clear_faults()
    async with async_test_home_assistant(config_dir=str(target)) as second:
        second.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        entry = await _start_on((second, target), emulator, integration, freezer)
        assert entry.state is ConfigEntryState.LOADED
        freezer.tick(timedelta(seconds=60))
        async_fire_time_changed(second)
        await second.async_block_till_done(wait_background_tasks=True)
        stored = stored_points(emulator, integration)
        for key, points in stored.items():
            assert points.items() <= expected[key].items()
        lost = sum(map(len, expected.values())) - sum(map(len, stored.values()))
        damaged = ir.async_get(second).async_get_issue(
            DOMAIN, f"{ENTRY_ID}_journal_damaged"
        )
        if lost:
            assert damaged is not None
        if not flips and cut is None:
            assert lost == 0
        await second.async_stop(force=True)


async def test_a_journal_that_cannot_be_written_is_reported(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Readings stay in memory and a repair says so, until the file can be written."""
    await setup_entry(hass, _entry(emulator, integration))
    emulator.inject(Fault(kind="http", status=503, count=1_000_000))
    at = sim.set_state("sensor.meter_0", "1")
    await hass.async_block_till_done()
    issue_id = f"{ENTRY_ID}_journal_unwritable"
    path = _journal(Path(hass.config.config_dir))
    # Another program holds the file locked (for longer than the write waits).
    with closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")
        await sim.advance(WRITE_INTERVAL)
        issue = issue_registry.async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert "locked" in issue.translation_placeholders["error"]
        other.execute("ROLLBACK")
    await sim.advance(WRITE_INTERVAL)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("SELECT value FROM readings").fetchall() == [(1.0,)]
    emulator.clear_faults()
    await sim.advance(60)
    assert stored_points(emulator, integration) == {"sensor.meter_0": {at: 1.0}}
