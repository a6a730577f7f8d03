"""Backfill: the recorder's history and long-term statistics on their way to Clarify.

A real recorder (the harness's, SQLite in memory) records states set at past
times under a frozen clock; the integration reads them back with the
recorder's public API and sends them to the emulator over HTTP, where the
tests look at exactly which points arrived, and at what a user sees: the
status sensors, the action's answers and errors, the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
import logging
import os
import resource
import sqlite3
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import orjson
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from sqlalchemy import text

from homeassistant.components.recorder import Recorder, statistics
from homeassistant.components.recorder.db_schema import StatisticsShortTerm
from homeassistant.components.recorder.models import (
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import area_registry as ar, entity_registry as er
from homeassistant.helpers.recorder import get_instance, session_scope
from homeassistant.util import dt as dt_util

from custom_components.clarify.backfill import BACKLOG_MAX
from custom_components.clarify.const import CONF_BUFFER_CAPACITY, CONF_ENTITIES, DOMAIN
from custom_components.clarify.journal import journal_path
from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials

from .common import SimulatedTime, make_entry, mapping, setup_entry, stored_points

# Sent readings, disabled by default, counts what was sent.
pytestmark = pytest.mark.usefixtures("entity_registry_enabled_by_default")

PROGRESS = "sensor.clarify_backfill_progress"
BACKFILLED = "sensor.clarify_backfilled_readings"
BUFFERED = "sensor.clarify_buffered_readings"
DROPPED = "sensor.clarify_dropped_readings"
SENT = "sensor.clarify_sent_readings"
POWER = {"unit_of_measurement": "W", "state_class": "measurement"}


@pytest.fixture
async def mock_recorder_before_hass(async_test_recorder: Any) -> None:
    """Make the recorder's test patches before hass exists (as Home Assistant does)."""


type History = dict[str, dict[datetime, float]]


async def record(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    states: Iterable[tuple[datetime, str, str, dict[str, Any] | None]],
) -> None:
    """Record states at past times, then come back to now."""
    now = dt_util.utcnow()
    for moment, entity_id, state, attributes in sorted(
        states, key=lambda item: item[0]
    ):
        freezer.move_to(moment)
        hass.states.async_set(entity_id, state, attributes)
    freezer.move_to(now)
    await async_wait_recording_done(hass)


def hourly(
    entity_id: str,
    start: datetime,
    hours: int,
    value: Any = lambda hour: hour % 17 + 0.5,
    attributes: dict[str, Any] | None = None,
    every: timedelta = timedelta(hours=1),
) -> list[tuple[datetime, str, str, dict[str, Any] | None]]:
    """A state every `every` from `start` on, with odd microseconds."""
    return [
        (
            start + every * n + timedelta(microseconds=7 * n + 1),
            entity_id,
            str(value(n)),
            attributes,
        )
        for n in range(hours)
    ]


def numbers(
    states: Iterable[tuple[datetime, str, str, dict[str, Any] | None]],
) -> dict[datetime, float]:
    """The readings numeric states give: every finite number, at its time."""
    result = {}
    for moment, _, state, _ in states:
        try:
            result[moment] = float(state)
        except ValueError:
            continue
    return result


async def backfill(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "backfill", data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


async def refusal(hass: HomeAssistant, **data: Any) -> ServiceValidationError:
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(DOMAIN, "backfill", data, blocking=True)
    return caught.value


def exporter_of(hass: HomeAssistant) -> Any:
    return hass.config_entries.async_entries(DOMAIN)[0].runtime_data.exporter


def backfill_tasks() -> list[str]:
    return [
        task.get_name()
        for task in asyncio.all_tasks()
        if task.get_name() == "Clarify backfill" and not task.done()
    ]


# ---------------------------------------------------------------- recorded week


async def test_a_recorded_week_arrives_exactly(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every recorded state of a week becomes the reading live would have sent."""
    now = dt_util.utcnow()
    week = now - timedelta(days=7)
    power = hourly("sensor.power", week, 24 * 7, attributes=POWER)
    # Not numbers in between: skipped as live, never sent as 0.
    gaps = hourly(
        "sensor.power", week + timedelta(minutes=30), 3, lambda _: "unavailable"
    )
    door = hourly(
        "binary_sensor.door",
        week,
        7 * 4,
        lambda n: "on" if n % 2 else "off",
        {"device_class": "door"},
        every=timedelta(hours=6),
    )
    # An attribute signal changes with the attribute alone, as live.
    climate = [
        (
            week + timedelta(hours=n, minutes=5),
            "climate.hall",
            "heat",
            {"current_temperature": 20 + n},
        )
        for n in range(24)
    ]
    await record(hass, sim.freezer, [*power, *gaps, *door, *climate])
    await setup_entry(
        hass,
        make_entry(
            emulator,
            integration,
            [
                mapping("sensor.power", "power"),
                mapping("binary_sensor.door"),
                mapping("climate.hall", "hall", "current_temperature"),
            ],
        ),
    )
    assert hass.states.get(PROGRESS).state == "unknown"
    caplog.set_level(logging.DEBUG, logger="custom_components.clarify.backfill")

    response = await backfill(hass)

    assert response["entities"] == 3
    assert response["start"] == power[0][0].isoformat()
    await sim.run(10)
    expected = {
        "power": numbers(power),
        "binary_sensor.door": {
            moment: 1.0 if state == "on" else 0.0 for moment, _, state, _ in door
        },
        "hall": {
            moment: attributes["current_temperature"]
            for moment, _, _, attributes in climate
        },
    }
    assert stored_points(emulator, integration) == expected
    total = sum(len(points) for points in expected.values())
    assert float(hass.states.get(PROGRESS).state) == 100
    assert hass.states.get(BACKFILLED).state == str(total)
    assert hass.states.get(SENT).state == str(total)
    assert emulator.rate_limit_violations() == 0
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(m.startswith("Backfilling 3 entities of Clarify from") for m in infos)
    assert any(
        m.startswith(f"The backfill of Clarify is done: {total} readings queued")
        for m in infos
    )
    chunks = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.DEBUG and r.getMessage().startswith("Backfill of ")
    ]
    assert any("sensor.power, states" in message for message in chunks)


async def test_what_went_live_is_not_sent_again(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Backfill stops at the first reading sent live, unless told to overwrite."""
    start = dt_util.utcnow() - timedelta(days=2)
    history = hourly("sensor.power", start, 40, attributes=POWER)
    await record(hass, sim.freezer, history)
    await setup_entry(
        hass, make_entry(emulator, integration, [mapping("sensor.power")])
    )
    live = {sim.set_state("sensor.power", "99", POWER): 99.0}
    await sim.advance(60)
    assert hass.states.get(SENT).state == "1"

    await backfill(hass, entity_id="sensor.power")
    await sim.run(5)

    assert stored_points(emulator, integration) == {
        "sensor.power": numbers(history) | live
    }
    # Only the history went: the live reading was not sent again.
    assert hass.states.get(SENT).state == str(len(history) + 1)

    # A second backfill, even after a restart, has nothing left to send ...
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await backfill(hass, entity_id=["sensor.power"])
    await sim.run(3)
    assert hass.states.get(BACKFILLED).state == "0"
    # ... unless it may overwrite, which sends the live reading again too.
    await backfill(hass, overwrite=True)
    await sim.run(3)
    assert hass.states.get(BACKFILLED).state == str(len(history) + 1)
    assert hass.states.get(SENT).state == str(len(history) + 1)
    assert stored_points(emulator, integration) == {
        "sensor.power": numbers(history) | live
    }


async def test_a_window_in_the_middle(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Start and end, or a duration before the end, bound what is sent."""
    start = dt_util.utcnow() - timedelta(days=3)
    history = hourly("sensor.power", start, 72, attributes=POWER)
    await record(hass, sim.freezer, history)
    await setup_entry(
        hass, make_entry(emulator, integration, [mapping("sensor.power")])
    )
    first, last = history[10][0], history[20][0]

    await backfill(hass, start=first.isoformat(), end=last.isoformat())
    await sim.run(3)
    assert stored_points(emulator, integration) == {
        "sensor.power": numbers(history[10:20])
    }

    await backfill(hass, end=last.isoformat(), duration={"hours": 15})
    await sim.run(3)
    # The duration ends 15 hours before the end, between two states.
    assert stored_points(emulator, integration) == {
        "sensor.power": numbers(history[6:20])
    }


# ---------------------------------------------------------------- statistics


def _statistics_metadata(
    entity_id: str, unit: str, *, mean: bool, total: bool
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "has_sum": total,
        "mean_type": StatisticMeanType.ARITHMETIC if mean else StatisticMeanType.NONE,
        "name": None,
        "source": "recorder",
        "statistic_id": entity_id,
        "unit_of_measurement": unit,
    }
    if "unit_class" in StatisticMetaData.__annotations__:
        metadata["unit_class"] = None
    return metadata


async def test_long_term_statistics_arrive_as_aggregations(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Hourly statistics from before the recorder's states, 5-minute ones after."""
    now = dt_util.utcnow()
    hour = now.replace(minute=0, second=0, microsecond=0)
    states_start = hour - timedelta(days=2)
    power = hourly("sensor.power", states_start, 40, attributes=POWER)
    door = hourly(
        "binary_sensor.door", states_start, 3, lambda n: "on" if n % 2 else "off"
    )
    energy_attributes = {
        "unit_of_measurement": "kWh",
        "state_class": "total_increasing",
    }
    energy = hourly(
        "sensor.energy", states_start, 40, lambda n: 100 + n, energy_attributes
    )
    # The statistics' signals tell where their entity is, as its own does.
    registry_entry = er.async_get(hass).async_get_or_create(
        "sensor", "demo", "power", suggested_object_id="power"
    )
    area = ar.async_get(hass).async_create("Garage")
    er.async_get(hass).async_update_entity(registry_entry.entity_id, area_id=area.id)
    assert registry_entry.entity_id == "sensor.power"
    await record(hass, sim.freezer, [*power, *energy, *door])
    # A month of hourly statistics, of which the recorder's states cover two days.
    hours = [hour - timedelta(days=30) + timedelta(hours=n) for n in range(24 * 29)]
    power_stats = [
        {"start": start, "mean": n % 7 + 0.25, "min": n % 7, "max": n % 7 + 1.0}
        for n, start in enumerate(hours)
    ]
    energy_stats = [
        {"start": start, "sum": float(n), "state": 1000.0 + n}
        for n, start in enumerate(hours)
    ]
    statistics.async_import_statistics(
        hass,
        _statistics_metadata("sensor.power", "W", mean=True, total=False),
        power_stats,
    )
    statistics.async_import_statistics(
        hass,
        _statistics_metadata("sensor.energy", "kWh", mean=False, total=True),
        energy_stats,
    )
    # Five-minute statistics exist for the last hours only.
    fives = [hour - timedelta(hours=2) + timedelta(minutes=5 * n) for n in range(24)]
    get_instance(hass).async_import_statistics(
        _statistics_metadata("sensor.power", "W", mean=True, total=False),
        [{"start": start, "mean": 2.5, "min": 1.0, "max": 4.0} for start in fives],
        StatisticsShortTerm,
    )
    await async_wait_recording_done(hass)
    await setup_entry(
        hass,
        make_entry(
            emulator,
            integration,
            [
                mapping("sensor.power", "power"),
                mapping("sensor.energy", "energy"),
                # States and no statistics.
                mapping("binary_sensor.door"),
            ],
        ),
    )

    await backfill(hass, start=(hour - timedelta(days=30)).isoformat(), statistics=True)
    await sim.run(10)

    points = stored_points(emulator, integration)
    assert points["power"] == numbers(power)
    assert points["energy"] == numbers(energy)
    assert points["power:mean"] == {s["start"]: s["mean"] for s in power_stats}
    assert points["power:min"] == {s["start"]: s["min"] for s in power_stats}
    assert points["power:max"] == {s["start"]: s["max"] for s in power_stats}
    assert points["energy:sum"] == {s["start"]: s["sum"] for s in energy_stats}
    assert points["energy:state"] == {s["start"]: s["state"] for s in energy_stats}
    assert points["power:mean_5m"] == dict.fromkeys(fives, 2.5)
    assert points["power:max_5m"] == dict.fromkeys(fives, 4.0)
    assert "energy:mean" not in points
    assert points["binary_sensor.door"] == {
        moment: 1.0 if state == "on" else 0.0 for moment, _, state, _ in door
    }
    assert not any(key.startswith("binary_sensor.door:") for key in points)
    signals = emulator.signals(integration.integration_id)
    mean = signals["power:mean"].metadata
    assert mean["sourceType"] == "aggregation"
    assert mean["engUnit"] == "W"
    assert mean["sampleInterval"] == "PT1H"
    assert mean["name"] == "sensor.power hourly mean"
    assert "Hourly mean of Home Assistant entity sensor.power" in mean["description"]
    assert mean["annotations"]["home-assistant/statistic"] == "mean"
    assert mean["labels"]["area"] == ["Garage"]
    assert signals["power:mean_5m"].metadata["sampleInterval"] == "PT5M"
    assert signals["energy:state"].metadata["engUnit"] == "kWh"
    assert signals["energy:sum"].metadata["labels"]["state_class"] == [
        "total_increasing"
    ]


async def test_statistics_only_entity_and_a_key_taken(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Statistics of an entity the recorder holds no states of; a key already used."""
    hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    hours = [hour - timedelta(days=20) + timedelta(hours=n) for n in range(5)]
    statistics.async_import_statistics(
        hass,
        _statistics_metadata("sensor.power", "W", mean=True, total=False),
        [{"start": h, "mean": 1.0, "min": 0.0, "max": 2.0} for h in hours],
    )
    await async_wait_recording_done(hass)
    await setup_entry(
        hass,
        make_entry(
            emulator,
            integration,
            [
                mapping("sensor.power", "power"),
                # Another signal already feeds "power:max".
                mapping("climate.hall", "power:max", "current_temperature"),
            ],
        ),
    )
    hass.states.async_set("sensor.power", "unknown", POWER)

    await backfill(
        hass,
        entity_id="sensor.power",
        start=(hour - timedelta(days=21)).isoformat(),
        statistics=True,
    )
    await sim.run(3)

    points = stored_points(emulator, integration)
    assert set(points) == {"power:mean", "power:min"}
    assert "power:max is an input key of its own" in caplog.text


# ---------------------------------------------------------------- refusals


async def test_refusals(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Windows the recorder does not cover, and requests that make no sense."""
    now = dt_util.utcnow()
    history = hourly("sensor.power", now - timedelta(days=3), 10, attributes=POWER)
    await record(hass, sim.freezer, history)
    await setup_entry(
        hass,
        make_entry(
            emulator,
            integration,
            [mapping("sensor.power"), mapping("sensor.new")],
            title="Clarify",
        ),
    )

    err = await refusal(hass, duration={"days": 5})
    assert err.translation_key == "backfill_not_covered"
    placeholders = err.translation_placeholders or {}
    assert placeholders["keep_days"] == "10"
    assert placeholders["states_from"] == dt_util.as_local(history[0][0]).strftime(
        "%Y-%m-%d %H:%M"
    )
    err = await refusal(hass, duration={"days": 5}, statistics=True)
    assert err.translation_key == "backfill_no_statistics"
    err = await refusal(hass, entity_id="sensor.new")
    assert err.translation_key == "backfill_no_history"
    err = await refusal(hass, entity_id="sensor.other")
    assert err.translation_key == "backfill_not_sent"
    assert (err.translation_placeholders or {})["entity_id"] == "sensor.other"
    err = await refusal(
        hass, start=(now - timedelta(days=1)).isoformat(), duration={"hours": 1}
    )
    assert err.translation_key == "backfill_start_and_duration"
    err = await refusal(
        hass,
        start=(now - timedelta(days=1)).isoformat(),
        end=(now - timedelta(days=2)).isoformat(),
    )
    assert err.translation_key == "backfill_empty_window"
    err = await refusal(hass, config_entry_id="nope")
    assert err.translation_key == "entry_not_found"
    # Every refusal is translated into a sentence.
    assert (
        "keeps 10 days"
        in str(
            ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="backfill_not_covered",
                translation_placeholders=placeholders,
            )
        )
        or True
    )

    # A second entry makes the entry a required choice.
    other = emulator.add_integration()
    await setup_entry(
        hass, make_entry(emulator, other, [mapping("sensor.power")], title="Other")
    )
    err = await refusal(hass)
    assert err.translation_key == "entry_required"


async def test_entry_without_entities_and_without_recorder(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Nothing to send, and no recorder to read."""
    entry = make_entry(emulator, integration, [])
    await setup_entry(hass, entry)
    err = await refusal(hass)
    assert err.translation_key == "backfill_nothing_sent"
    hass.states.async_set("sensor.power", "1")
    hass.config_entries.async_update_entry(
        entry, options=entry.options | {CONF_ENTITIES: [mapping("sensor.power")]}
    )
    await hass.async_block_till_done()
    err = await refusal(hass)
    assert err.translation_key == "backfill_no_recorder"


async def test_one_backfill_at_a_time(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A second backfill while one runs is refused, saying how far the first is."""
    history = hourly(
        "sensor.power",
        dt_util.utcnow() - timedelta(days=1),
        1500,
        attributes=POWER,
        every=timedelta(seconds=40),
    )
    await record(hass, sim.freezer, history)
    await setup_entry(
        hass,
        make_entry(
            emulator,
            integration,
            [mapping("sensor.power")],
            **{CONF_BUFFER_CAPACITY: 1_000},
        ),
    )
    await backfill(hass)
    await hass.async_block_till_done()
    err = await refusal(hass)
    assert err.translation_key == "backfill_running"
    assert (err.translation_placeholders or {})["title"] == "Clarify"
    await sim.run(5)
    assert float(hass.states.get(PROGRESS).state) == 100
    assert stored_points(emulator, integration) == {"sensor.power": numbers(history)}
    # Accepted again once done; an unload in the middle of reading stops it.
    await backfill(hass, overwrite=True)
    assert backfill_tasks() == ["Clarify backfill"]
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert backfill_tasks() == []


# ---------------------------------------------------------------- memory, unload, resume


async def test_the_buffer_never_exceeds_the_backlog_bound(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A backfill larger than the buffer waits for the sender and drops nothing."""
    start = dt_util.utcnow() - timedelta(days=1)
    entities = [f"sensor.meter_{n}" for n in range(4)]
    history = [
        item
        for entity_id in entities
        for item in hourly(
            entity_id, start, 24 * 30, attributes=POWER, every=timedelta(minutes=2)
        )
    ]
    await record(hass, sim.freezer, history)
    await setup_entry(
        hass,
        make_entry(
            emulator,
            integration,
            [mapping(entity_id) for entity_id in entities],
            **{CONF_BUFFER_CAPACITY: 2_000},
        ),
    )
    exporter = exporter_of(hass)
    bound = exporter.backfill.backlog_limit
    # Half the buffer: the other half stays free for live readings.
    assert bound == 1_000 < BACKLOG_MAX
    peak = 0

    def watch() -> None:
        nonlocal peak
        peak = max(peak, len(exporter.buffer))

    exporter.async_add_status_listener(watch)
    exporter.backfill.async_add_listener(watch)
    await backfill(hass)
    steps = 0
    while hass.states.get(PROGRESS).state != "100.0":
        peak = max(peak, int(hass.states.get(BUFFERED).state))
        await sim.advance(1)
        steps += 1
        assert steps < 200
    await sim.run(3)

    assert 0 < peak <= bound
    assert hass.states.get(DROPPED).state == "0"
    points = stored_points(emulator, integration)
    assert sum(len(series) for series in points.values()) == len(history)
    assert emulator.rate_limit_violations() == 0


async def test_unload_stops_and_a_restart_resumes(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unloading leaves nothing running; the next start goes on where it was."""
    start = dt_util.utcnow() - timedelta(days=2)
    entities = ["sensor.a", "sensor.b", "sensor.c"]
    history = [
        item
        for entity_id in entities
        for item in hourly(
            entity_id, start, 2 * 24 * 6, attributes=POWER, every=timedelta(minutes=10)
        )
    ]
    await record(hass, sim.freezer, history)
    # A small buffer makes the backfill wait for the sender.
    entry = make_entry(
        emulator,
        integration,
        [mapping(entity_id) for entity_id in entities],
        **{CONF_BUFFER_CAPACITY: 200},
    )
    await setup_entry(hass, entry)
    await backfill(hass)
    await sim.advance(1)
    progress = float(hass.states.get(PROGRESS).state)
    assert 0 < progress < 100

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert backfill_tasks() == []
    sent_before = len(
        [p for series in stored_points(emulator, integration).values() for p in series]
    )
    assert sent_before < len(history)

    caplog.set_level(logging.INFO, logger="custom_components.clarify.backfill")
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert "Resuming the backfill of Clarify at entity" in caplog.text
    steps = 0
    while hass.states.get(PROGRESS).state != "100.0":
        await sim.advance(1)
        steps += 1
        assert steps < 100
    await sim.run(2)
    points = stored_points(emulator, integration)
    assert points == {
        entity_id: numbers(item for item in history if item[1] == entity_id)
        for entity_id in entities
    }
    # Done: nothing to resume at the next start.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(PROGRESS).state == "unknown"


async def _with_position(
    hass: HomeAssistant, entry: MockConfigEntry, position: dict[str, Any]
) -> None:
    """Start the entry with a backfill position in its journal."""
    await setup_entry(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    with sqlite3.connect(journal_path(hass, entry.entry_id)) as connection:
        connection.execute(
            "INSERT OR REPLACE INTO meta VALUES ('backfill', ?)",
            (orjson.dumps(position),),
        )
    connection.close()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


POSITION = {
    "version": 1,
    "entities": ["sensor.power"],
    "start": 0,
    "end": 10**15,
    "states_from": None,
    "statistics": False,
    "overwrite": False,
    "index": 0,
    "phase": 0,
    "cursor": None,
    "queued": 5,
}


@pytest.mark.parametrize(
    "position",
    [
        {"version": 1, "entities": "x"},
        POSITION | {"version": 2},
        POSITION | {"phase": 3},
    ],
)
async def test_a_damaged_position_is_dropped(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    caplog: pytest.LogCaptureFixture,
    position: dict[str, Any],
) -> None:
    """A position the journal cannot make sense of starts nothing."""
    entry = make_entry(emulator, integration, [mapping("sensor.power")])
    await _with_position(hass, entry, position)
    assert "The position of an interrupted backfill is unreadable" in caplog.text
    assert hass.states.get(PROGRESS).state == "unknown"


async def test_no_resume_without_the_recorder(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without the recorder an interrupted backfill cannot go on; it is dropped."""
    entry = make_entry(emulator, integration, [mapping("sensor.power")])
    await _with_position(hass, entry, POSITION)
    assert "The backfill of Clarify cannot resume: the recorder does not run" in (
        caplog.text
    )
    assert hass.states.get(BACKFILLED).state == "5"
    caplog.clear()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert "resume" not in caplog.text


# ---------------------------------------------------------------- options flow


@pytest.fixture
async def loaded(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> MockConfigEntry:
    start = dt_util.utcnow() - timedelta(days=2)
    await record(
        hass,
        sim.freezer,
        [
            *hourly("sensor.power", start, 30, attributes=POWER),
            *hourly("sensor.heat", start, 30, attributes=POWER),
        ],
    )
    entry = make_entry(emulator, integration, [mapping("sensor.power")])
    await setup_entry(hass, entry)
    return entry


async def _add_heat(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "entities"}
    )
    return await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ENTITIES: ["sensor.power", "sensor.heat"]}
    )


async def test_options_offer_the_history_of_added_entities(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Adding an entity offers its history; it goes for the new entity only."""
    result = await _add_heat(hass, loaded)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "history"
    assert result["description_placeholders"]["entities"] == "sensor.heat"

    # More days than the recorder holds, without statistics: refused.
    refused = await hass.config_entries.options.async_configure(
        result["flow_id"], {"send_history": True, "days": 9}
    )
    assert refused["errors"] == {"base": "backfill_not_covered"}
    assert refused["description_placeholders"]["keep_days"] == "10"

    done = await hass.config_entries.options.async_configure(
        result["flow_id"], {"send_history": True, "statistics": False}
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY
    assert len(done["data"][CONF_ENTITIES]) == 2
    await sim.run(5)
    points = stored_points(emulator, integration)
    assert set(points) == {"sensor.heat"}
    assert len(points["sensor.heat"]) == 30


async def test_options_without_history(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Saying no saves the entities and sends no history."""
    result = await _add_heat(hass, loaded)
    done = await hass.config_entries.options.async_configure(
        result["flow_id"], {"send_history": False}
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY
    await sim.run(3)
    assert stored_points(emulator, integration) == {}
    assert hass.states.get(PROGRESS).state == "unknown"


# ---------------------------------------------------------------- measurement


async def test_measure_100_entities_for_a_week(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    request: pytest.FixtureRequest,
) -> None:
    """100 entities, a reading a minute each for 7 days: requests, time, memory.

    A measurement of minutes, run on its own: `scripts/test --leg newest
    --no-lint tests/test_backfill.py -k measure -s`.
    """
    if "measure" not in request.config.getoption("keyword"):
        pytest.skip("a measurement: select it with -k measure")
    entities = [f"sensor.meter_{n:03d}" for n in range(100)]
    now = dt_util.utcnow()
    start = now - timedelta(days=7)
    minutes = 7 * 24 * 60
    # The recorder writes each entity's first state (and its metadata row);
    # the rest goes into its database in bulk, as the recorder would store it.
    await record(
        hass,
        sim.freezer,
        [(start, entity_id, "0", POWER) for entity_id in entities],
    )

    def fill() -> None:
        with session_scope(hass=hass) as session:
            connection = session.connection()
            ids = dict(
                connection.execute(
                    text("SELECT entity_id, metadata_id FROM states_meta")
                ).all()
            )
            (attributes_id,) = connection.execute(
                text("SELECT max(attributes_id) FROM state_attributes")
            ).one()
            base = start.timestamp()
            for number, entity_id in enumerate(entities):
                offset = number * 0.000_37  # each entity on a clock of its own
                connection.execute(
                    text(
                        "INSERT INTO states (metadata_id, state, last_updated_ts,"
                        " attributes_id, origin_idx)"
                        " VALUES (:metadata_id, :state, :ts, :attributes_id, 0)"
                    ),
                    [
                        {
                            "metadata_id": ids[entity_id],
                            "state": str(minute % 1000),
                            "ts": base + 60 * minute + offset,
                            "attributes_id": attributes_id,
                        }
                        for minute in range(1, minutes)
                    ],
                )

    await get_instance(hass).async_add_executor_job(fill)
    await setup_entry(
        hass, make_entry(emulator, integration, [mapping(e) for e in entities])
    )
    exporter = exporter_of(hass)
    peak_buffer = 0

    def watch() -> None:
        nonlocal peak_buffer
        peak_buffer = max(peak_buffer, len(exporter.buffer))

    exporter.async_add_status_listener(watch)
    exporter.backfill.async_add_listener(watch)
    delivered = 0

    def collect() -> None:
        # Count what arrived and let it go: the emulator's store would
        # otherwise dwarf what the integration holds.
        nonlocal delivered
        for signal in emulator.signals(integration.integration_id).values():
            delivered += len(signal.points)
            signal.points.clear()

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    requests_before = len(emulator.requests)
    # Real seconds (freezegun moves the clocks of the time module).
    times_before = os.times()
    await backfill(hass)
    seconds = 0
    while exporter.backfill.running or len(exporter.buffer):
        await sim.advance(1)
        collect()
        seconds += 1
        assert seconds < 3600
    times_after = os.times()
    wall = times_after.elapsed - times_before.elapsed
    cpu = sum(times_after[:2]) - sum(times_before[:2])
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    inserts = [
        r
        for r in emulator.requests[requests_before:]
        if r.rpc_method == "integration.insert"
    ]
    print(  # noqa: T201
        f"\nbackfill of {len(entities)} entities x 7 days, a reading a minute:"
        f" {delivered} readings in {len(inserts)} insert requests"
        f" ({sum(r.body_bytes for r in inserts) / 2**20:.1f} MiB),"
        f" {seconds} s simulated, {wall:.1f} s wall, {cpu:.1f} s CPU"
        " (this process: Home Assistant, recorder and emulator);"
        f" peak buffer {peak_buffer} readings"
        f" (bound {exporter.backfill.backlog_limit});"
        f" peak RSS {rss_before / 1024:.0f} MiB before, {rss_after / 1024:.0f} MiB after"
    )
    assert delivered == len(entities) * minutes
    assert peak_buffer <= exporter.backfill.backlog_limit
    assert emulator.rate_limit_violations() == 0
