"""The insert action: values that are not entity states, on the same way to Clarify.

Readings go into the buffer and the journal like any other and arrive in the
emulator over HTTP; every refusal is a translated validation error.
"""

from __future__ import annotations

from datetime import timedelta
import sqlite3
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util

from custom_components.clarify.const import DOMAIN
from custom_components.clarify.journal import journal_path
from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials

from .common import SimulatedTime, make_entry, mapping, setup_entry, stored_points

# Sent readings, disabled by default, counts what was sent.
pytestmark = pytest.mark.usefixtures("entity_registry_enabled_by_default")


@pytest.fixture
async def entry(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> MockConfigEntry:
    """A loaded entry that sends sensor.power as "power"."""
    hass.config.location_name = "Cabin"
    entry = make_entry(emulator, integration, [mapping("sensor.power", "power")])
    await setup_entry(hass, entry)
    return entry


async def insert(hass: HomeAssistant, **data: Any) -> None:
    await hass.services.async_call(DOMAIN, "insert", data, blocking=True)


async def refused(hass: HomeAssistant, **data: Any) -> ServiceValidationError:
    with pytest.raises(ServiceValidationError) as caught:
        await insert(hass, **data)
    return caught.value


async def test_insert_values_now_and_at_a_time(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """One key and value, or several at once, now or at a given time."""
    now = dt_util.utcnow()
    earlier = now - timedelta(hours=3, microseconds=250)
    await insert(hass, key="garden-rain", value=2.5)
    await insert(hass, data={"pump-starts": 14, "tank:level": "0.75"}, time=earlier)
    # Numbers into an entity's key are readings of that signal like any other.
    await insert(hass, key="power", value=-3, time=earlier.isoformat())
    await sim.advance(60)

    assert stored_points(emulator, integration) == {
        "garden-rain": {now: 2.5},
        "pump-starts": {earlier: 14.0},
        "tank:level": {earlier: 0.75},
        "power": {earlier: -3.0},
    }
    assert hass.states.get("sensor.clarify_sent_readings").state == "4"


async def test_insert_keeps_the_last_value_of_a_second(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """As for states: at most one reading per key and second, the last wins."""
    moment = dt_util.utcnow().replace(microsecond=100)
    await insert(hass, key="counter", value=1, time=moment)
    await insert(hass, key="counter", value=2, time=moment + timedelta(microseconds=5))
    await sim.advance(60)
    assert stored_points(emulator, integration) == {
        "counter": {moment + timedelta(microseconds=5): 2.0}
    }


async def test_inserted_readings_are_in_the_journal(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Written to disk within seconds, as every reading."""
    await insert(hass, key="garden-rain", value=1.25)
    await sim.advance(5)
    with sqlite3.connect(journal_path(hass, entry.entry_id)) as connection:
        rows = connection.execute(
            "SELECT keys.key, readings.value FROM readings"
            " JOIN keys ON keys.id = readings.key"
        ).fetchall()
    connection.close()
    assert rows == [("garden-rain", 1.25)]


async def test_name_and_unit_describe_a_new_signal(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A name and unit give the new signal full metadata; none leaves Clarify's."""
    await insert(
        hass, key="garden-rain", value=2.5, name="Rain in the garden", unit="mm"
    )
    await insert(hass, data={"a": 1, "b": 2}, unit="kWh")
    await insert(hass, key="plain", value=1)
    await sim.advance(60)

    signals = emulator.signals(integration.integration_id)
    rain = signals["garden-rain"].metadata
    assert rain == {
        "name": "Rain in the garden",
        "description": (
            "Values written by Home Assistant's clarify.insert action"
            " under the input key garden-rain"
        ),
        "labels": {"source": ["home-assistant"], "instance": ["Cabin"]},
        "engUnit": "mm",
        "sourceType": "measurement",
        "valueType": "numeric",
        "enumValues": {},
        "sampleInterval": None,
        "gapDetection": None,
        "annotations": {"home-assistant/source": "clarify.insert"},
    }
    assert signals["a"].metadata["name"] == "a"
    assert signals["b"].metadata["engUnit"] == "kWh"
    assert signals["plain"].metadata["description"] == ""


@pytest.mark.parametrize(
    ("data", "key", "placeholders"),
    [
        ({}, "insert_nothing", None),
        ({"data": {}}, "insert_nothing", None),
        ({"key": "a"}, "insert_nothing", None),
        ({"data": {"a": 1}, "key": "b", "value": 2}, "insert_data_and_key", None),
        ({"key": "not valid", "value": 1}, "insert_invalid_key", {"key": "not valid"}),
        ({"data": {"x" * 129: 1}}, "insert_invalid_key", {"key": "x" * 129}),
        (
            {"key": "a", "value": "abc"},
            "insert_not_a_number",
            {"key": "a", "value": "abc"},
        ),
        (
            {"key": "a", "value": True},
            "insert_not_a_number",
            {"key": "a", "value": "True"},
        ),
        ({"data": {"a": [1]}}, "insert_not_a_number", {"key": "a", "value": "[1]"}),
        (
            {"key": "a", "value": None},
            "insert_not_a_number",
            {"key": "a", "value": "None"},
        ),
        (
            {"key": "a", "value": "1e999"},
            "insert_not_finite",
            {"key": "a", "value": "1e999"},
        ),
        (
            {"key": "a", "value": "nan"},
            "insert_not_finite",
            {"key": "a", "value": "nan"},
        ),
        (
            {"key": "a", "value": float("inf")},
            "insert_not_finite",
            {"key": "a", "value": "inf"},
        ),
        ({"data": {"a": 1, "b": 2}, "name": "Both"}, "insert_name_for_one_key", None),
        (
            {"key": "power", "value": 1, "unit": "W"},
            "insert_key_of_entity",
            {"key": "power", "entity_id": "sensor.power"},
        ),
        ({"config_entry_id": "nope", "key": "a", "value": 1}, "entry_not_found", None),
    ],
)
async def test_insert_refusals(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    data: dict[str, Any],
    key: str,
    placeholders: dict[str, str] | None,
) -> None:
    """Each mistake is refused with its own translated message; nothing is sent."""
    err = await refused(hass, **data)
    assert err.translation_key == key
    if placeholders is not None:
        assert err.translation_placeholders == placeholders
    await sim.advance(60)
    assert stored_points(emulator, integration) == {}


async def test_insert_time_at_most_a_minute_ahead(
    hass: HomeAssistant, entry: MockConfigEntry, sim: SimulatedTime
) -> None:
    """A clock a little ahead is fine; the future is not."""
    now = dt_util.utcnow()
    await insert(hass, key="a", value=1, time=now + timedelta(seconds=59))
    err = await refused(hass, key="a", value=1, time=now + timedelta(seconds=61))
    assert err.translation_key == "insert_in_future"


async def test_insert_entry_choice(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """With two entries one must be named; an entry that is not running refuses."""
    other_integration = emulator.add_integration()
    other = make_entry(emulator, other_integration, [], title="Other")
    await setup_entry(hass, other)

    err = await refused(hass, key="a", value=1)
    assert err.translation_key == "entry_required"
    await insert(hass, config_entry_id=other.entry_id, key="a", value=1)
    await sim.advance(60)
    assert stored_points(emulator, other_integration) == {
        "a": {dt_util.utcnow() - timedelta(seconds=60): 1.0}
    }
    assert stored_points(emulator, integration) == {}

    assert await hass.config_entries.async_unload(other.entry_id)
    err = await refused(hass, config_entry_id=other.entry_id, key="a", value=1)
    assert err.translation_key == "entry_not_loaded"
    assert await hass.config_entries.async_unload(entry.entry_id)
    err = await refused(hass, key="a", value=1)
    assert err.translation_key == "no_loaded_entries"
