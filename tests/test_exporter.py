"""The whole path of a reading: a state change in Home Assistant to a point in Clarify.

Everything runs against the emulator over real HTTP on 127.0.0.1. Time moves
with the harness's `async_fire_time_changed`; the emulator's clock follows the
same simulated time, so its rate-limit record shows what Clarify would see.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
import time

import orjson
import pytest

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    entity_registry as er,
    issue_registry as ir,
)

from custom_components.clarify.buffer import SampleBuffer, datetime_to_us
from custom_components.clarify.const import (
    CONF_BUFFER_CAPACITY,
    CONF_ENTITIES,
    CONF_FLUSH_INTERVAL,
    DOMAIN,
)
from custom_components.clarify.entry import ClarifyOptions, EntityMapping
from custom_components.clarify.listener import EAGER_SEND_READINGS
from tools.clarify_emulator import ClarifyEmulator, Fault, IntegrationCredentials

from .common import SimulatedTime, make_entry, mapping, setup_entry, stored_points

# The status entities of an entry titled "Clarify".
BUFFERED = "sensor.clarify_buffered_readings"
REFUSED = "sensor.clarify_refused_readings"


async def test_readings_arrive_with_exact_values_and_times(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Numbers, two-state and option entities arrive with their own timestamps."""
    options = {"options": ["home", "away"]}
    sim.set_state("input_select.mode", "home", options)
    await setup_entry(
        hass,
        make_entry(
            emulator,
            integration,
            [
                mapping("sensor.temperature", "outdoor-temperature"),
                mapping("binary_sensor.door"),
                mapping("input_select.mode"),
            ],
        ),
    )
    temperature = {sim.set_state("sensor.temperature", "21.5"): 21.5}
    door = {sim.set_state("binary_sensor.door", "on"): 1.0}
    mode = {sim.set_state("input_select.mode", "away", options): 1.0}
    # Not numbers: skipped, never sent as 0.
    sim.set_state("sensor.temperature", "unavailable")
    sim.set_state("sensor.temperature", "nan")
    await sim.advance(1)
    temperature[sim.set_state("sensor.temperature", "-3")] = -3.0
    assert stored_points(emulator, integration) == {}

    await sim.advance(60)
    assert stored_points(emulator, integration) == {
        "outdoor-temperature": temperature,
        "binary_sensor.door": door,
        "input_select.mode": mode,
    }
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    status = entry.runtime_data.exporter.status
    assert status.sent_readings == 4
    assert status.skipped_readings == 2
    assert len(entry.runtime_data.exporter.buffer) == 0
    assert emulator.rate_limit_violations() == 0


async def test_one_reading_per_key_and_second_last_wins(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Within one second only the last reading of an entity is sent."""
    await setup_entry(
        hass, make_entry(emulator, integration, [mapping("sensor.power")])
    )
    await sim.advance(1.0 - time.time() % 1.0)  # the start of a second
    sim.freezer.tick(timedelta(microseconds=100))
    sim.set_state("sensor.power", "1")
    sim.freezer.tick(timedelta(milliseconds=300))
    sim.set_state("sensor.power", "2")
    sim.freezer.tick(timedelta(milliseconds=300))
    last = sim.set_state("sensor.power", "3")
    await sim.advance(1)
    following = sim.set_state("sensor.power", "4")
    await sim.advance(60)
    assert stored_points(emulator, integration) == {
        "sensor.power": {last: 3.0, following: 4.0}
    }


async def test_attribute_instead_of_state(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """An attribute mapping sends the attribute, whatever the state is."""
    await setup_entry(
        hass,
        make_entry(
            emulator,
            integration,
            [mapping("climate.living_room", "living-room", "current_temperature")],
        ),
    )
    at = sim.set_state("climate.living_room", "heat", {"current_temperature": 20.5})
    sim.set_state("climate.living_room", "off", {"current_temperature": None})
    await sim.advance(60)
    assert stored_points(emulator, integration) == {"living-room": {at: 20.5}}


async def test_outage_keeps_every_reading(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failed sends keep everything; the backlog arrives when Clarify is back."""
    await setup_entry(
        hass, make_entry(emulator, integration, [mapping("sensor.power")])
    )
    emulator.inject(
        Fault(kind="http", status=503, count=3, rpc_method="integration.insert")
    )
    expected = {}
    for minute in range(4):
        expected[sim.set_state("sensor.power", str(minute))] = float(minute)
        await sim.run(60, step=5)
    assert stored_points(emulator, integration) == {"sensor.power": expected}
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.runtime_data.exporter.status.connected is True
    # One line when Clarify went away, one when it came back.
    messages = [r.getMessage() for r in caplog.records if "clarify" in r.name]
    assert sum("unreachable" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1
    assert emulator.rate_limit_violations() == 0


async def test_retry_after_is_honoured(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A 429 with Retry-After holds the next attempt back at least that long."""
    await setup_entry(
        hass, make_entry(emulator, integration, [mapping("sensor.power")])
    )
    emulator.inject(
        Fault(kind="http", status=429, retry_after=30, rpc_method="integration.insert")
    )
    at = sim.set_state("sensor.power", "7")
    await sim.advance(60)
    assert stored_points(emulator, integration) == {}
    await sim.run(25, step=5)
    assert stored_points(emulator, integration) == {}
    await sim.run(10, step=5)
    assert stored_points(emulator, integration) == {"sensor.power": {at: 7.0}}


async def test_rejected_series_does_not_block_the_others(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Clarify refusing one series sets it aside; the rest is delivered."""
    await setup_entry(
        hass,
        make_entry(
            emulator, integration, [mapping("sensor.good"), mapping("sensor.bad")]
        ),
    )
    emulator.inject(
        Fault(
            kind="rpc",
            code=-32602,
            message="Invalid params",
            data={
                "pathErrors": [
                    {"path": ["data", "series", "sensor.bad"], "error": "no"}
                ]
            },
            rpc_method="integration.insert",
        )
    )
    good = sim.set_state("sensor.good", "1")
    sim.set_state("sensor.bad", "2")
    await sim.advance(60)
    await sim.advance(1)
    assert stored_points(emulator, integration) == {"sensor.good": {good: 1.0}}
    assert hass.states.get(REFUSED).state == "1"
    assert hass.states.get(BUFFERED).state == "0"


async def test_auth_failure_starts_reauth_and_keeps_readings(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Revoked credentials pause sending and ask the user; nothing is lost."""
    entry = make_entry(emulator, integration, [mapping("sensor.power")])
    await setup_entry(hass, entry)
    emulator.revoke(integration.integration_id)
    emulator.expire_tokens()
    first = sim.set_state("sensor.power", "1")
    await sim.advance(60)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    second = sim.set_state("sensor.power", "2")
    await sim.run(120, step=10)
    assert len(entry.runtime_data.exporter.buffer) == 2
    requests = len(emulator.requests)

    # The user re-authenticates with working credentials: the entry reloads
    # and the backlog goes out.
    emulator.restore(integration.integration_id)
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {"next_step_id": "credentials_file"}
    )
    document = integration.credentials_file(emulator.api_url)
    document["credentials"]["clientSecret"] = integration.client_secret
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"credentials_file": orjson.dumps(document).decode()}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    await sim.advance(60)
    assert stored_points(emulator, integration) == {
        "sensor.power": {first: 1.0, second: 2.0}
    }
    assert len(emulator.requests) > requests


async def test_options_change_keeps_buffered_readings(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Changing what is sent applies at once; nothing buffered is lost."""
    entry = make_entry(emulator, integration, [mapping("sensor.a")])
    await setup_entry(hass, entry)
    exporter = entry.runtime_data.exporter
    a = sim.set_state("sensor.a", "1")
    await sim.advance(1)
    hass.config_entries.async_update_entry(
        entry,
        options={
            CONF_ENTITIES: [mapping("sensor.a", "renamed-key"), mapping("sensor.b")],
            CONF_FLUSH_INTERVAL: 30,
        },
    )
    await hass.async_block_till_done()
    assert entry.runtime_data.exporter is exporter
    a2 = sim.set_state("sensor.a", "2")
    b = sim.set_state("sensor.b", "3")
    await sim.run(30, step=5)
    # The reading taken before the change keeps the key it was taken for.
    assert stored_points(emulator, integration) == {
        "sensor.a": {a: 1.0},
        "renamed-key": {a2: 2.0},
        "sensor.b": {b: 3.0},
    }


async def test_no_reading_lost_while_options_change(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A state change fired just before new options apply is still buffered."""
    entry = make_entry(emulator, integration, [mapping("sensor.a")])
    await setup_entry(hass, entry)
    exporter = entry.runtime_data.exporter
    at = sim.set_state("sensor.a", "1")
    # Home Assistant dispatches the change on the next loop iteration; the new
    # options are applied before that.
    await exporter.async_apply_options(
        ClarifyOptions(
            mappings=(EntityMapping("sensor.a", "sensor.a"),),
            flush_interval=timedelta(seconds=60),
        )
    )
    await sim.advance(60)
    assert stored_points(emulator, integration) == {"sensor.a": {at: 1.0}}


async def test_renamed_entity_keeps_its_key(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A mapping follows its registry entry through a rename."""
    registry = er.async_get(hass)
    registry_entry = registry.async_get_or_create(
        "sensor", "demo", "t1", suggested_object_id="kitchen"
    )
    await setup_entry(
        hass, make_entry(emulator, integration, [mapping(registry_entry.id, "kitchen")])
    )
    before = sim.set_state("sensor.kitchen", "20")
    await sim.advance(1)
    registry.async_update_entity("sensor.kitchen", new_entity_id="sensor.cooking")
    await hass.async_block_till_done()
    after = sim.set_state("sensor.cooking", "21")
    # Changes elsewhere in the registry do not disturb the tracking.
    other = registry.async_get_or_create("sensor", "demo", "t2")
    registry.async_update_entity(other.entity_id, new_entity_id="sensor.other")
    registry.async_update_entity("sensor.cooking", name="Cooking")
    await hass.async_block_till_done()
    await sim.advance(60)
    assert stored_points(emulator, integration) == {
        "kitchen": {before: 20.0, after: 21.0}
    }


async def test_entity_without_state_at_setup(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """How to read an entity is decided on its first state when it had none."""
    await setup_entry(
        hass, make_entry(emulator, integration, [mapping("sensor.phase")])
    )
    options = {"device_class": "enum", "options": ["idle", "washing", "drying"]}
    first = sim.set_state("sensor.phase", "washing", options)
    await sim.advance(1)
    second = sim.set_state("sensor.phase", "drying", options)
    await sim.advance(60)
    assert stored_points(emulator, integration) == {
        "sensor.phase": {first: 1.0, second: 2.0}
    }


async def test_backlog_goes_out_one_request_per_second(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A backlog too large for one request is split, a second apart, all delivered."""
    mappings = [mapping(f"sensor.s{i}") for i in range(40)]
    entry = make_entry(emulator, integration, mappings)
    await setup_entry(hass, entry)
    emulator.inject(
        Fault(kind="http", status=503, count=1000, rpc_method="integration.insert")
    )
    expected: dict[str, dict[datetime, float]] = {}
    # Entities change at their own instants, as they do in a real home: every
    # reading adds a time, and the frames must stay small all the same.
    for second in range(600):
        for i in range(40):
            at = sim.set_state(f"sensor.s{i}", str(second + i / 100))
            expected.setdefault(f"sensor.s{i}", {})[at] = second + i / 100
            sim.freezer.tick(timedelta(milliseconds=7))
        sim.freezer.tick(timedelta(milliseconds=720))
    emulator.clear_faults()
    await sim.run(300, step=1)
    assert stored_points(emulator, integration) == expected
    inserts = [r for r in emulator.requests if r.rpc_method == "integration.insert"]
    assert sum(r.http_status == 200 for r in inserts) > 1
    assert max(r.body_bytes for r in inserts) < 4 * 1024 * 1024
    assert emulator.rate_limit_violations() == 0
    assert len(entry.runtime_data.exporter.buffer) == 0


async def test_unload_sends_the_rest_and_stops(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Unloading makes one last send; afterwards nothing listens or runs."""
    entry = make_entry(emulator, integration, [mapping("sensor.a")])
    await setup_entry(hass, entry)
    at = sim.set_state("sensor.a", "5")
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert stored_points(emulator, integration) == {"sensor.a": {at: 5.0}}
    # No listener left: later states go nowhere, and no timer fires.
    sim.set_state("sensor.a", "6")
    await sim.advance(120)
    assert stored_points(emulator, integration) == {"sensor.a": {at: 5.0}}
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_readings_survive_a_restart(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Readings Clarify never confirmed wait in the journal, and go after setup."""
    entry = make_entry(emulator, integration, [mapping("sensor.a")])
    await setup_entry(hass, entry)
    journal = Path(hass.config.path(".storage", f"clarify.{entry.entry_id}.db"))
    emulator.inject(
        Fault(kind="http", status=503, count=10, rpc_method="integration.insert")
    )
    at = sim.set_state("sensor.a", "5")
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert stored_points(emulator, integration) == {}
    assert journal.exists()

    emulator.clear_faults()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    # Restored readings go out at once, not an interval later.
    assert stored_points(emulator, integration) == {"sensor.a": {at: 5.0}}

    # Removing the entry removes what it saved.
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not list(journal.parent.glob(f"clarify.{entry.entry_id}*"))


async def test_readings_saved_by_version_0_1_are_sent(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """The file version 0.1 saved at stop moves into the journal and goes out."""
    entry = make_entry(emulator, integration, [mapping("sensor.a")])
    legacy = Path(hass.config.path(".storage", f"clarify.{entry.entry_id}"))
    saved = SampleBuffer()
    at = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
    saved.series("sensor.a").append(datetime_to_us(at), 7.5)
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_bytes(
        orjson.dumps(
            {
                "version": 1,
                "minor_version": 1,
                "key": f"clarify.{entry.entry_id}",
                "data": {"buffer": saved.to_dict(), "signal_hashes": {}},
            }
        )
    )
    await setup_entry(hass, entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert stored_points(emulator, integration) == {"sensor.a": {at: 7.5}}
    assert not legacy.exists()


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'"text"', b'{"data": {"buffer": {"keys": "x"}}}', b"\x00" * 64],
)
async def test_unreadable_file_of_version_0_1(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    caplog: pytest.LogCaptureFixture,
    content: bytes,
) -> None:
    """A damaged file of version 0.1 is kept aside; setup goes on."""
    entry = make_entry(emulator, integration, [mapping("sensor.a")])
    legacy = Path(hass.config.path(".storage", f"clarify.{entry.entry_id}"))
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_bytes(content)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(BUFFERED).state == "0"
    assert "cannot be read" in caplog.text
    assert Path(f"{legacy}.corrupt").read_bytes() == content


async def test_signal_metadata_saved_once_and_on_change(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Names, units and enum labels reach Clarify, and only when they change."""
    registry = er.async_get(hass)
    registry.async_get_or_create("sensor", "demo", "t", suggested_object_id="temp")
    sim.set_state(
        "sensor.temp", "20", {"friendly_name": "Hall", "unit_of_measurement": "°C"}
    )
    sim.set_state("binary_sensor.door", "off", {"device_class": "door"})
    registry_id = registry.async_get("sensor.temp").id
    entry = make_entry(
        emulator,
        integration,
        [mapping(registry_id, "hall"), mapping("binary_sensor.door")],
    )
    await setup_entry(hass, entry)
    await sim.advance(60)
    signals = emulator.signals(integration.integration_id)
    assert signals["hall"].metadata["name"] == "Hall"
    assert signals["hall"].metadata["engUnit"] == "°C"
    door = signals["binary_sensor.door"].metadata
    assert (door["valueType"], door["enumValues"]) == (
        "enum",
        {"0": "closed", "1": "open"},
    )

    def saves() -> int:
        return sum(r.rpc_method == "integration.saveSignals" for r in emulator.requests)

    assert saves() == 1
    # A restart: the saved hashes say Clarify has it all.
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    sim.set_state(
        "sensor.temp", "21", {"friendly_name": "Hall", "unit_of_measurement": "°C"}
    )
    await sim.advance(60)
    assert saves() == 1
    # A new area in the registry is new metadata.
    area = ar.async_get(hass).async_create("Hallway")
    registry.async_update_entity("sensor.temp", area_id=area.id)
    await hass.async_block_till_done()
    await sim.advance(60)
    assert saves() == 2
    assert emulator.signals(integration.integration_id)["hall"].metadata["labels"][
        "area"
    ] == ["Hallway"]


async def test_refused_metadata_does_not_hold_readings(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Metadata Clarify refuses or cannot take now never delays readings."""
    await setup_entry(
        hass,
        make_entry(emulator, integration, [mapping("sensor.a"), mapping("sensor.b")]),
    )
    sim.set_state("sensor.a", "1", {"friendly_name": "Ay"})
    sim.set_state("sensor.b", "1", {"friendly_name": "Bee"})
    await hass.async_block_till_done()
    emulator.inject(
        Fault(kind="http", status=503, rpc_method="integration.saveSignals"),
        Fault(
            kind="rpc",
            code=-32602,
            data={
                "pathErrors": [{"path": ["signalsByInput", "sensor.a"], "error": "x"}]
            },
            rpc_method="integration.saveSignals",
        ),
    )
    await sim.advance(60)
    assert set(stored_points(emulator, integration)) == {"sensor.a", "sensor.b"}
    for value in ("2", "3"):
        sim.set_state("sensor.a", value, {"friendly_name": "Ay"})
        await sim.advance(60)
    # The refused key is left alone; the other one was saved on the next try.
    signals = emulator.signals(integration.integration_id)
    assert signals["sensor.a"].metadata["name"] == "sensor.a"
    assert signals["sensor.b"].metadata["name"] == "Bee"
    saves = [r for r in emulator.requests if r.rpc_method == "integration.saveSignals"]
    assert [(r.http_status, r.error_code) for r in saves] == [
        (503, None),
        (200, -32602),
        (200, None),
    ]


async def test_refused_series_is_kept_and_sent_again_under_a_new_key(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Refused readings wait; after the user fixes the key, the action sends them."""
    entry = make_entry(emulator, integration, [mapping("sensor.bad", "bad-key")])
    await setup_entry(hass, entry)
    emulator.reject_series("bad-key", named=True)
    first = sim.set_state("sensor.bad", "1")
    await sim.advance(60)
    second = sim.set_state("sensor.bad", "2")
    await sim.advance(60)
    issue_id = f"{entry.entry_id}_series_rejected_bad-key"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "series_rejected"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["entity"] == "sensor.bad"
    assert issue.translation_placeholders["count"] == "2"
    assert "-32602" in issue.translation_placeholders["reason"]
    assert hass.states.get(REFUSED).state == "2"
    assert stored_points(emulator, integration) == {}

    # The refused readings survive a restart too.
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(REFUSED).state == "2"

    # The user gives the entity another key: the options do not resend.
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_ENTITIES: [mapping("sensor.bad", "good")]}
    )
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    response = await hass.services.async_call(
        DOMAIN, "resend_rejected", {}, blocking=True, return_response=True
    )
    assert response == {"resent": {entry.entry_id: 2}}
    await sim.advance(1)
    assert stored_points(emulator, integration) == {"good": {first: 1.0, second: 2.0}}
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get(REFUSED).state == "0"
    # Nothing is left to send again.
    response = await hass.services.async_call(
        DOMAIN, "resend_rejected", {}, blocking=True, return_response=True
    )
    assert response == {"resent": {entry.entry_id: 0}}


async def test_full_buffer_drops_the_oldest_and_says_so(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At the cap the oldest readings go, counted, logged once and repaired."""
    entry = make_entry(
        emulator, integration, [mapping("sensor.a")], buffer_capacity=10_000
    )
    await setup_entry(hass, entry)
    emulator.inject(
        Fault(kind="http", status=503, count=100, rpc_method="integration.insert")
    )
    expected = {}
    for second in range(10_050):
        expected[sim.set_state("sensor.a", str(second))] = float(second)
        sim.freezer.tick(timedelta(seconds=1))
    await sim.advance(60)
    exporter = entry.runtime_data.exporter
    assert exporter.buffer.dropped == 50
    assert caplog.text.count("buffer is full") == 1
    issue = issue_registry.async_get_issue(DOMAIN, f"{entry.entry_id}_readings_dropped")
    assert issue is not None
    assert issue.translation_placeholders == {
        "title": "Clarify",
        "capacity": "10000",
        "dropped": "50",
    }
    emulator.clear_faults()
    await sim.run(30, step=5)
    # Exactly the 50 oldest are gone; every other reading arrived.
    oldest = sorted(expected)[:50]
    assert stored_points(emulator, integration) == {
        "sensor.a": {at: v for at, v in expected.items() if at not in oldest}
    }

    # Removing the entry removes its repairs too.
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not issue_registry.issues


async def test_larger_buffer_applies_at_once(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A new buffer size takes effect without a reload."""
    entry = make_entry(emulator, integration, [mapping("sensor.a")])
    await setup_entry(hass, entry)
    assert entry.runtime_data.exporter.buffer.capacity == 1_440_000
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_BUFFER_CAPACITY: 2_000_000}
    )
    await hass.async_block_till_done()
    assert entry.runtime_data.exporter.buffer.capacity == 2_000_000


async def test_unnamed_bad_series_is_found_by_halving(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Clarify refusing a request without naming a series: the bad one is isolated."""
    keys = [f"sensor.s{i}" for i in range(8)]
    await setup_entry(
        hass, make_entry(emulator, integration, [mapping(key) for key in keys])
    )
    expected = {}
    for key in keys:
        expected[key] = {sim.set_state(key, "1"): 1.0}
        sim.freezer.tick(timedelta(milliseconds=10))
    del expected["sensor.s5"]
    # Clarify refuses every request carrying sensor.s5, and never says why.
    emulator.reject_series("sensor.s5")
    await sim.run(70, step=1)
    assert stored_points(emulator, integration) == expected
    assert hass.states.get(REFUSED).state == "1"
    assert hass.states.get(BUFFERED).state == "0"
    assert emulator.rate_limit_violations() == 0


async def test_large_backlog_is_sent_before_the_interval(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Once enough readings wait, sending starts without waiting for the interval."""
    entities = [f"sensor.s{i}" for i in range(50)]
    entry = make_entry(
        emulator, integration, [mapping(e) for e in entities], flush_interval=3600
    )
    await setup_entry(hass, entry)
    for second in range(EAGER_SEND_READINGS // len(entities)):
        for entity_id in entities:
            hass.states.async_set(entity_id, str(second))
        sim.freezer.tick(timedelta(seconds=1))
        await hass.async_block_till_done()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert any(r.rpc_method == "integration.insert" for r in emulator.requests)


async def test_unload_during_a_send_leaves_nothing_behind(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A send under way at unload finishes, schedules nothing, and the rest waits."""
    entry = make_entry(
        emulator, integration, [mapping("sensor.a"), mapping("sensor.b")]
    )
    await setup_entry(hass, entry)
    # The first request fails without naming a series, so the send would go on
    # with half of it a second later.
    emulator.reject_series("sensor.b")
    a = sim.set_state("sensor.a", "1")
    b = sim.set_state("sensor.b", "2")
    await hass.async_block_till_done()
    entry.runtime_data.exporter.async_send_now()
    assert await hass.config_entries.async_unload(entry.entry_id)
    # The harness fails the test on any timer left behind; the readings wait
    # in the journal and go out with the next setup.
    assert stored_points(emulator, integration) == {}
    emulator.accept_series("sensor.b")
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await sim.advance(1)
    assert stored_points(emulator, integration) == {
        "sensor.a": {a: 1.0},
        "sensor.b": {b: 2.0},
    }
