"""Fault injection against the emulator: every reading is accounted for.

Each scenario compares the exact set of (input key, time, value) readings Home
Assistant produced with the set Clarify stored. Time is simulated: the frozen
clock moves and Home Assistant's timers fire, so hours pass in seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import itertools
from pathlib import Path
import random

from freezegun.api import FrozenDateTimeFactory
import orjson
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from homeassistant import loader
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.clarify.const import CONF_BUFFER_CAPACITY, DOMAIN
from tests.common import SimulatedTime, make_entry, mapping, setup_entry, stored_points
from tools.clarify_emulator import ClarifyEmulator, Fault, IntegrationCredentials

from .conftest import ScenarioReport

type Readings = dict[str, dict[datetime, float]]


def _inserts(emulator: ClarifyEmulator) -> int:
    return sum(r.rpc_method == "integration.insert" for r in emulator.requests)


async def _produce(
    sim: SimulatedTime,
    expected: Readings,
    entities: list[str],
    value: float,
    spacing: timedelta = timedelta(milliseconds=1),
) -> None:
    """Every entity changes once, each at its own instant, as in a real home."""
    for index, entity_id in enumerate(entities):
        reading = value + index / 1000
        at = sim.set_state(entity_id, str(reading))
        expected.setdefault(entity_id, {})[at] = reading
        sim.freezer.tick(spacing)


def _count(readings: Readings) -> int:
    return sum(len(points) for points in readings.values())


def _finish(
    report: ScenarioReport,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    expected: Readings,
) -> None:
    stored = stored_points(emulator, integration)
    report.produced = report.produced or _count(expected)
    report.delivered = _count(stored)
    report.requests = len(emulator.requests)
    # Whatever was neither delivered, nor kept aside, nor dropped at the cap.
    report.lost = report.produced - report.delivered - report.set_aside - report.dropped
    assert stored == expected
    assert report.lost == 0
    assert emulator.rate_limit_violations() == 0


async def test_outage_of_two_hours(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    report: ScenarioReport,
) -> None:
    """500 entities every 10 s, Clarify down for 2 hours: all delivered after."""
    entities = [f"sensor.meter_{i}" for i in range(500)]
    entry = make_entry(emulator, integration, [mapping(e) for e in entities])
    await setup_entry(hass, entry)
    buffer = entry.runtime_data.exporter.buffer
    # Down means down: every request fails, the token request too.
    emulator.inject(Fault(kind="http", status=503, count=1_000_000))
    expected: Readings = {}
    for round_ in range(720):
        await _produce(sim, expected, entities, float(round_))
        await sim.advance(9.5)
        report.peak_buffer = max(report.peak_buffer, len(buffer))
    assert stored_points(emulator, integration) == {}
    emulator.clear_faults()
    await sim.run(600, step=1)
    assert len(buffer) == 0
    _finish(report, emulator, integration, expected)
    assert _inserts(emulator) > 2


async def test_restart_with_clarify_down(
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    report: ScenarioReport,
) -> None:
    """Readings pending at a stop are delivered by the next Home Assistant."""
    entities = [f"sensor.room_{i}" for i in range(20)]
    entry_id = "clarify_restart_entry"
    expected: Readings = {}

    def entry() -> MockConfigEntry:
        return make_entry(
            emulator, integration, [mapping(e) for e in entities], entry_id=entry_id
        )

    async with async_test_home_assistant(config_dir=str(tmp_path)) as first:
        # The harness hides custom integrations unless told otherwise.
        first.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        await setup_entry(first, entry())
        emulator.inject(Fault(kind="http", status=503, count=1_000_000))
        sim = SimulatedTime(first, freezer)
        for round_ in range(30):
            await _produce(sim, expected, entities, float(round_))
            await sim.advance(10)
        report.peak_buffer = _count(expected)
        await first.async_stop()
    assert stored_points(emulator, integration) == {}
    assert (tmp_path / ".storage" / f"clarify.{entry_id}.db").stat().st_size > 0

    emulator.clear_faults()
    async with async_test_home_assistant(config_dir=str(tmp_path)) as second:
        second.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        await setup_entry(second, entry())
        # Restored readings go out at setup, without waiting for the interval,
        # a request a second.
        await SimulatedTime(second, freezer).run(60)
        _finish(report, emulator, integration, expected)
        await second.async_stop()


async def test_fault_mix(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    report: ScenarioReport,
) -> None:
    """Random 5xx, 429, garbage, time-outs and dropped connections: nothing lost.

    Time-outs are Clarify's own (408, 504): under the frozen clock a request
    that never answers would stop simulated time too. The client's own
    time-out is tested in real time in test_api_client.py.
    """
    entities = [f"sensor.plug_{i}" for i in range(50)]
    entry = make_entry(
        emulator, integration, [mapping(e) for e in entities], flush_interval=10
    )
    await setup_entry(hass, entry)
    buffer = entry.runtime_data.exporter.buffer
    rng = random.Random(20261123)
    faults = [
        lambda: Fault(kind="http", status=rng.choice((500, 502, 503))),
        lambda: Fault(kind="http", status=429, retry_after=rng.randint(2, 20)),
        lambda: Fault(kind="http", status=rng.choice((408, 504))),
        lambda: Fault(kind="malformed"),
        lambda: Fault(kind="drop"),
    ]
    # Four requests in ten fail, each in one of the ways above.
    emulator.fail_at_random(
        lambda path, method: rng.choice(faults)() if rng.random() < 0.4 else None
    )
    expected: Readings = {}
    for second in range(1800):
        if second % 5 == 0:
            await _produce(sim, expected, entities, float(second))
        await sim.advance(1)
        report.peak_buffer = max(report.peak_buffer, len(buffer))
    emulator.fail_at_random(None)
    await sim.run(400, step=1)
    _finish(report, emulator, integration, expected)
    # Every kind of failure happened, many times.
    statuses = [r.http_status for r in emulator.requests]
    assert {0, 408, 429, 500, 502, 503, 504} <= set(statuses)
    assert sum(status != 200 for status in statuses) > 50
    # Backoff: after a failure the next insert waits at least a second, and
    # long runs of failures are spread out (a few minutes at most).
    inserts = [r for r in emulator.requests if r.rpc_method == "integration.insert"]
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(inserts)]
    assert min(gaps) >= 1.0
    assert max(gaps) <= 310


async def test_poisoned_series(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    report: ScenarioReport,
) -> None:
    """One series refused (unnamed, then named): every other one arrives."""
    entities = [f"sensor.tank_{i}" for i in range(30)]
    entry = make_entry(emulator, integration, [mapping(e) for e in entities])
    await setup_entry(hass, entry)
    emulator.reject_series("sensor.tank_7")
    emulator.reject_series("sensor.tank_21", named=True)
    expected: Readings = {}
    buffer = entry.runtime_data.exporter.buffer
    for round_ in range(20):
        await _produce(sim, expected, entities, float(round_))
        report.peak_buffer = max(report.peak_buffer, len(buffer))
        await sim.run(15, step=1)
    await sim.run(120, step=1)
    poisoned = {e: expected.pop(e) for e in ("sensor.tank_7", "sensor.tank_21")}
    report.produced = _count(expected) + _count(poisoned)
    # Set aside, not dropped: counted, and each series in a repair issue.
    refused = hass.states.get("sensor.clarify_refused_readings")
    report.set_aside = int(refused.state)
    assert report.set_aside == _count(poisoned)
    for key in poisoned:
        issue = ir.async_get(hass).async_get_issue(
            DOMAIN, f"{entry.entry_id}_series_rejected_{key}"
        )
        assert issue is not None
        assert issue.translation_placeholders["count"] == "20"
    _finish(report, emulator, integration, expected)


async def test_credentials_revoked_then_reauth(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    report: ScenarioReport,
) -> None:
    """Revoked mid-run: sending pauses, buffering goes on, reauth delivers it all."""
    entities = [f"sensor.pump_{i}" for i in range(10)]
    entry = make_entry(emulator, integration, [mapping(e) for e in entities])
    await setup_entry(hass, entry)
    expected: Readings = {}
    for round_ in range(10):
        await _produce(sim, expected, entities, float(round_))
        await sim.advance(30)
    emulator.revoke(integration.integration_id)
    emulator.expire_tokens()
    buffer = entry.runtime_data.exporter.buffer
    for round_ in range(10, 40):
        await _produce(sim, expected, entities, float(round_))
        await sim.advance(30)
        report.peak_buffer = max(report.peak_buffer, len(buffer))
    assert entry.runtime_data.exporter.status.auth_failed
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    emulator.restore(integration.integration_id)
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"next_step_id": "credentials_file"}
    )
    document = orjson.dumps(integration.credentials_file(emulator.api_url)).decode()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"credentials_file": document}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    await sim.run(120, step=1)
    _finish(report, emulator, integration, expected)


async def test_overflow(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    report: ScenarioReport,
) -> None:
    """At the cap exactly the oldest readings go, counted; memory stays bounded."""
    capacity = 10_000
    entities = [f"sensor.flow_{i}" for i in range(25)]
    entry = make_entry(
        emulator,
        integration,
        [mapping(e) for e in entities],
        **{CONF_BUFFER_CAPACITY: capacity},
    )
    await setup_entry(hass, entry)
    buffer = entry.runtime_data.exporter.buffer
    emulator.inject(Fault(kind="http", status=503, count=1_000_000))
    expected: Readings = {}
    for round_ in range(480):
        await _produce(sim, expected, entities, float(round_))
        await sim.advance(1)
        report.peak_buffer = max(report.peak_buffer, len(buffer))
        assert len(buffer) <= capacity
    produced = _count(expected)
    report.produced = produced
    report.dropped = buffer.dropped
    assert buffer.dropped == produced - capacity
    # The dropped ones are exactly the oldest.
    everything = sorted((at, key) for key, points in expected.items() for at in points)
    for at, key in everything[: produced - capacity]:
        del expected[key][at]
    emulator.clear_faults()
    await sim.run(300, step=1)
    _finish(report, emulator, integration, expected)


async def test_answers_that_are_not_about_the_data(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    report: ScenarioReport,
) -> None:
    """Proxy pages, 413, client-bug and unknown codes, replies that are not Clarify's.

    None of them says anything about the data: mixed with healthy traffic,
    every reading arrives and none is set aside. A run of them in a row is
    reported in a repair issue, which goes once Clarify answers again.
    """
    entities = [f"sensor.meter_{i}" for i in range(40)]
    entry = make_entry(
        emulator, integration, [mapping(e) for e in entities], flush_interval=10
    )
    await setup_entry(hass, entry)
    buffer = entry.runtime_data.exporter.buffer
    rng = random.Random(20261202)
    faults = [
        lambda: Fault("proxy", status=400),
        lambda: Fault("proxy", status=502),
        lambda: Fault("http", status=400),
        lambda: Fault("http", status=404),
        lambda: Fault("http", status=405),
        lambda: Fault("http", status=422),
        lambda: Fault("http", status=413),
        lambda: Fault(
            "rpc", code=rng.choice((-32600, -32601, -32700, -32002, -32099, 7))
        ),
        lambda: Fault("malformed"),
        lambda: Fault("not_rpc"),
        lambda: Fault("wrong_id"),
    ]
    emulator.fail_at_random(
        lambda path, method: rng.choice(faults)() if rng.random() < 0.3 else None
    )
    expected: Readings = {}
    for second in range(1200):
        if second % 5 == 0:
            await _produce(sim, expected, entities, float(second))
        await sim.advance(1)
        report.peak_buffer = max(report.peak_buffer, len(buffer))
    # Then a proxy that refuses everything for a while: the user is told.
    issue_id = f"{entry.entry_id}_requests_refused"
    emulator.fail_at_random(lambda path, method: Fault("proxy", status=400))
    for second in range(300):
        if second % 5 == 0:
            await _produce(sim, expected, entities, float(second))
        await sim.advance(1)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert "400" in issue.translation_placeholders["reason"]
    emulator.fail_at_random(None)
    await sim.run(400, step=1)
    _finish(report, emulator, integration, expected)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get("sensor.clarify_refused_readings").state == "0"
    statuses = {r.http_status for r in emulator.requests}
    assert {400, 404, 405, 413, 422, 502} <= statuses
    codes = {r.error_code for r in emulator.requests}
    assert {-32600, -32601, -32700} <= codes


async def test_refused_series_sent_again_after_its_key_changes(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    report: ScenarioReport,
) -> None:
    """Clarify refuses one series; the user gives it a new key and resends: 0 lost."""
    entities = [f"sensor.valve_{i}" for i in range(12)]
    entry = make_entry(emulator, integration, [mapping(e) for e in entities])
    await setup_entry(hass, entry)
    emulator.reject_series("sensor.valve_3")
    expected: Readings = {}
    for round_ in range(20):
        await _produce(sim, expected, entities, float(round_))
        await sim.run(15, step=1)
    await sim.run(120, step=1)
    assert int(hass.states.get("sensor.clarify_refused_readings").state) == 20

    hass.config_entries.async_update_entry(
        entry,
        options={
            **entry.options,
            "entities": [
                mapping(e, "valve-3" if e == "sensor.valve_3" else None)
                for e in entities
            ],
        },
    )
    await hass.async_block_till_done()
    for round_ in range(20, 25):
        await _produce(sim, expected, entities, float(round_))
        await sim.run(15, step=1)
    await hass.services.async_call(DOMAIN, "resend_rejected", {}, blocking=True)
    await sim.run(120, step=1)
    # Everything the entity produced, before and after, is under its new key.
    expected["valve-3"] = expected.pop("sensor.valve_3")
    report.produced = _count(expected)
    _finish(report, emulator, integration, expected)
    assert hass.states.get("sensor.clarify_refused_readings").state == "0"
