"""Tests of the entry's wiring: status entities, the flush action, diagnostics, stop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from homeassistant.components.diagnostics import REDACTED
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util

from custom_components.clarify.const import CONF_CLIENT_ID, CONF_SECRET, DOMAIN
from tools.clarify_emulator import ClarifyEmulator, Fault, IntegrationCredentials

from .common import make_entry, mapping


@pytest.fixture
async def entry(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> MockConfigEntry:
    """A loaded entry sending sensor.power, with OAuth credentials."""
    entry = make_entry(
        emulator, integration, [mapping("sensor.power", "power")], title="Cabin"
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _flush(hass: HomeAssistant, data: dict[str, Any] | None = None) -> None:
    await hass.services.async_call(DOMAIN, "flush", data or {}, blocking=True)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_status_entities(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The service device's entities follow the exporter after each send."""
    [device] = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert device.identifiers == {(DOMAIN, entry.unique_id)}
    assert device.name == "Cabin"
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    registry = er.async_get(hass)
    entity_ids = {
        e.translation_key: e.entity_id
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
    }
    # Sent readings changes with every send: it is there, but off by default.
    sent = registry.async_get(entity_ids["sent_readings"])
    assert sent is not None
    assert sent.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(entity_ids["sent_readings"]) is None
    registry.async_update_entity(entity_ids["sent_readings"], disabled_by=None)
    # Home Assistant reloads the entry by itself a little later.
    freezer.tick(timedelta(seconds=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(entity_ids["sent_readings"]) is not None
    assert hass.states.get(entity_ids["connection"]).state == "unknown"

    hass.states.async_set("sensor.power", "1")
    freezer.tick(timedelta(seconds=1))
    hass.states.async_set("sensor.power", "2")
    await hass.async_block_till_done()
    freezer.tick(timedelta(seconds=60))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(entity_ids["connection"]).state == STATE_ON
    assert hass.states.get(entity_ids["sent_readings"]).state == "2"
    assert hass.states.get(entity_ids["buffered_readings"]).state == "0"
    assert hass.states.get(entity_ids["dropped_readings"]).state == "0"
    last_sent = hass.states.get(entity_ids["last_sent"]).state
    assert dt_util.parse_datetime(last_sent) == dt_util.utcnow().replace(microsecond=0)

    emulator.inject(Fault(kind="http", status=502, rpc_method="integration.insert"))
    hass.states.async_set("sensor.power", "3")
    # The flush waits its turn, a second after the previous request, and says
    # when the send failed.
    freezer.tick(timedelta(seconds=1))
    with pytest.raises(HomeAssistantError) as failed:
        await _flush(hass)
    assert failed.value.translation_key == "flush_failed"
    assert "502" in failed.value.translation_placeholders["reason"]
    connection = hass.states.get(entity_ids["connection"])
    assert connection.state == STATE_OFF
    assert "502" in connection.attributes["last_error"]
    assert hass.states.get(entity_ids["buffered_readings"]).state == "1"


async def test_flush_action(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The action sends at once, for one entry or for all."""
    hass.states.async_set("sensor.power", "1")
    await _flush(hass, {"config_entry_id": entry.entry_id})
    assert emulator.points(integration.integration_id)["power"]
    hass.states.async_set("sensor.power", "2")
    emulator.inject(Fault(kind="http", status=503, rpc_method="integration.insert"))
    freezer.tick(timedelta(seconds=1))
    with pytest.raises(HomeAssistantError) as failed:
        await _flush(hass)
    assert failed.value.translation_key == "flush_failed"
    # Backing off now: the flush says so, and leaves Clarify alone.
    requests = len(emulator.requests)
    with pytest.raises(HomeAssistantError) as backing_off:
        await _flush(hass)
    assert backing_off.value.translation_key == "flush_backing_off"
    assert len(emulator.requests) == requests
    assert [r.http_status for r in emulator.requests][-1] == 503
    assert len(emulator.points(integration.integration_id)["power"]) == 1
    assert hass.states.get("sensor.cabin_buffered_readings").state == "1"


async def test_flush_action_errors(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Calls naming no usable entry fail with a translated explanation."""
    with pytest.raises(ServiceValidationError) as err:
        await _flush(hass, {"config_entry_id": "nope"})
    assert err.value.translation_key == "entry_not_found"

    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    with pytest.raises(ServiceValidationError) as err:
        await _flush(hass, {"config_entry_id": other.entry_id})
    assert err.value.translation_key == "entry_not_found"

    await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await _flush(hass, {"config_entry_id": entry.entry_id})
    assert err.value.translation_key == "entry_not_loaded"
    assert err.value.translation_placeholders == {"title": "Cabin"}
    with pytest.raises(ServiceValidationError) as err:
        await _flush(hass)
    assert err.value.translation_key == "no_loaded_entries"


async def test_diagnostics_redact_secrets(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    entry: MockConfigEntry,
    integration: IntegrationCredentials,
) -> None:
    """Diagnostics show the settings and the exporter, never a secret."""
    hass.states.async_set("sensor.power", "4")
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["entry"]["data"][CONF_SECRET] == REDACTED
    assert diagnostics["entry"]["data"][CONF_CLIENT_ID] == REDACTED
    assert diagnostics["entry"]["options"] == dict(entry.options)
    assert diagnostics["exporter"]["tracked_entities"] == ["sensor.power"]
    assert diagnostics["exporter"]["buffered_readings"] == 1
    assert diagnostics["exporter"]["buffered_by_key"] == {"power": 1}
    text = repr(diagnostics)
    assert integration.client_secret not in text
    assert integration.client_id not in text


async def test_home_assistant_stop_sends_and_saves(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Stopping Home Assistant makes the last send attempt."""
    hass.states.async_set("sensor.power", "9")
    await hass.async_block_till_done()
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert emulator.points(integration.integration_id)["power"]
    # The unload that follows finds the exporter already stopped.
    assert await hass.config_entries.async_unload(entry.entry_id)
