"""Steady values: unchanged reports, the heartbeat, and at most one reading per window."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.core import HomeAssistant

from custom_components.clarify.const import CONF_HEARTBEAT, CONF_REPORT_UNCHANGED
from custom_components.clarify.diagnostics import async_get_config_entry_diagnostics
from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials

from .common import SimulatedTime, make_entry, mapping, setup_entry, stored_points

METER = {"state_class": "total_increasing", "unit_of_measurement": "kWh"}


async def test_unchanged_reports_of_measurements_are_sent(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A meter that reports the same value again: each report is a reading."""
    sim.set_state("sensor.meter", "5", METER)
    sim.set_state("sensor.text", "5")
    await setup_entry(
        hass,
        make_entry(
            emulator, integration, [mapping("sensor.meter"), mapping("sensor.text")]
        ),
    )
    points = []
    for _ in range(3):
        sim.freezer.tick(timedelta(seconds=20))
        hass.states.async_set("sensor.meter", "5", METER)
        hass.states.async_set("sensor.text", "5")
        state = hass.states.get("sensor.meter")
        assert state is not None
        points.append(state.last_reported)
    await hass.async_block_till_done()
    await sim.advance(60)
    stored = stored_points(emulator, integration)
    assert stored == {"sensor.meter": dict.fromkeys(points, 5.0)}


async def test_reports_can_be_left_out(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    sim.set_state("sensor.meter", "5", METER)
    entry = make_entry(
        emulator,
        integration,
        [mapping("sensor.meter")],
        **{CONF_REPORT_UNCHANGED: False},
    )
    await setup_entry(hass, entry)
    second = sim.set_state("sensor.meter", "6", METER)
    sim.freezer.tick(timedelta(seconds=5))
    hass.states.async_set("sensor.meter", "6", METER)
    await hass.async_block_till_done()
    await sim.advance(60)
    # The report five seconds later is not a reading.
    assert stored_points(emulator, integration) == {"sensor.meter": {second: 6.0}}


async def test_heartbeat_keeps_steady_values_visible(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Every 5 minutes the last value again; none while unavailable."""
    sim.set_state("sensor.outside", "4", {"unit_of_measurement": "°C"})
    entry = make_entry(
        emulator,
        integration,
        [mapping("sensor.outside")],
        **{CONF_HEARTBEAT: 5},
    )
    await setup_entry(hass, entry)
    changed = sim.set_state("sensor.outside", "5", {"unit_of_measurement": "°C"})
    await sim.run(16 * 60, step=30)
    points = stored_points(emulator, integration)["sensor.outside"]
    assert points[changed] == 5.0
    beats = sorted(at for at in points if at != changed)
    assert len(beats) == 3
    assert all(value == 5.0 for value in points.values())
    gaps = [
        (later - earlier).total_seconds()
        for earlier, later in zip([changed, *beats], beats, strict=False)
    ]
    assert all(300 <= gap <= 330 for gap in gaps)
    metadata = emulator.signals(integration.integration_id)["sensor.outside"].metadata
    assert metadata["gapDetection"] == "PT6M"

    sim.set_state("sensor.outside", "unavailable")
    await sim.run(11 * 60, step=30)
    assert len(stored_points(emulator, integration)["sensor.outside"]) == 4


async def test_at_most_one_reading_per_window(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """An entity limited to one reading in 10 s: the last of each window is sent."""
    option = mapping("sensor.fast") | {"min_interval": 10}
    sim.freezer.move_to("2026-12-02T12:00:00.500000+00:00")
    entry = make_entry(emulator, integration, [option, mapping("sensor.free")])
    await setup_entry(hass, entry)
    expected = {}
    for second in range(70):
        at = sim.set_state("sensor.fast", str(second))
        sim.set_state("sensor.free", str(second))
        expected[second // 10] = (at, float(second))
        sim.freezer.tick(timedelta(seconds=1))
        await hass.async_block_till_done()
    # The interval is long past: a request now, and a second apart after it.
    await sim.run(5)
    stored = stored_points(emulator, integration)
    assert stored["sensor.fast"] == dict(expected.values())
    assert len(stored["sensor.free"]) == 70
    # sensor.free sent 70 within the hour: diagnostics say it is above Clarify's
    # guidance of one a minute on average; sensor.fast (7) is not.
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["exporter"]["above_one_reading_a_minute"] == {
        "sensor.free": 1.17
    }
