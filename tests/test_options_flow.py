"""Tests of the options flow: which entities go to which input keys, and how often."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import entity_registry as er

from custom_components.clarify.const import (
    CONF_API_URL,
    CONF_ATTRIBUTE,
    CONF_AUTH_TYPE,
    CONF_CLIENT_ID,
    CONF_ENTITIES,
    CONF_ENTITY,
    CONF_FLUSH_INTERVAL,
    CONF_INPUT_KEY,
    CONF_INTEGRATION_ID,
    CONF_SECRET,
    DOMAIN,
)
from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials


@pytest.fixture
async def entry(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> MockConfigEntry:
    """A loaded entry, with a registered and an unregistered entity around."""
    registry = er.async_get(hass)
    registry.async_get_or_create("sensor", "demo", "power", suggested_object_id="power")
    hass.states.async_set("sensor.power", "3", {"friendly_name": "Power"})
    hass.states.async_set(
        "climate.hall", "heat", {"current_temperature": 20, "temperature": 21}
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Clarify",
        unique_id=integration.integration_id,
        data={
            CONF_AUTH_TYPE: "basic",
            CONF_INTEGRATION_ID: integration.integration_id,
            CONF_CLIENT_ID: None,
            CONF_SECRET: integration.password,
            CONF_API_URL: emulator.api_url,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _open(hass: HomeAssistant, entry: MockConfigEntry, step: str) -> FlowResult:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["entities", "entity", "settings"]
    return await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": step}
    )


def _power_id(hass: HomeAssistant) -> str:
    registry_entry = er.async_get(hass).async_get("sensor.power")
    assert registry_entry is not None
    return registry_entry.id


async def test_choose_entities(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Chosen entities get their entity ID as key, stored by registry id if any."""
    exporter = entry.runtime_data.exporter
    result = await _open(hass, entry, "entities")
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ENTITIES: ["sensor.power", "climate.hall"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_ENTITIES] == [
        {CONF_ENTITY: _power_id(hass), CONF_INPUT_KEY: "sensor.power"},
        {CONF_ENTITY: "climate.hall", CONF_INPUT_KEY: "climate.hall"},
    ]
    # Applied live: the same exporter now follows both entities.
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.exporter is exporter
    assert exporter.diagnostics()["tracked_entities"] == [
        "climate.hall",
        "sensor.power",
    ]

    # Opening the step again shows the current choice.
    result = await _open(hass, entry, "entities")
    schema_keys = {str(key): key for key in result["data_schema"].schema}
    assert schema_keys[CONF_ENTITIES].description == {
        "suggested_value": ["sensor.power", "climate.hall"]
    }


async def test_choosing_again_keeps_custom_keys(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """An entity that stays chosen keeps its key and attribute."""
    custom = {
        CONF_ENTITY: "climate.hall",
        CONF_INPUT_KEY: "hall-temperature",
        CONF_ATTRIBUTE: "current_temperature",
    }
    hass.config_entries.async_update_entry(entry, options={CONF_ENTITIES: [custom]})
    result = await _open(hass, entry, "entities")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ENTITIES: ["climate.hall", "sensor.power"]}
    )
    assert entry.options[CONF_ENTITIES] == [
        custom,
        {CONF_ENTITY: _power_id(hass), CONF_INPUT_KEY: "sensor.power"},
    ]


async def test_duplicate_default_key(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """A new entity whose default key is taken is refused, naming the key."""
    taken = {CONF_ENTITY: "climate.hall", CONF_INPUT_KEY: "sensor.power"}
    hass.config_entries.async_update_entry(entry, options={CONF_ENTITIES: [taken]})
    result = await _open(hass, entry, "entities")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ENTITIES: ["climate.hall", "sensor.power"]}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ENTITIES: "duplicate_key"}
    assert result["description_placeholders"] == {CONF_INPUT_KEY: "sensor.power"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ENTITIES: ["climate.hall"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_ENTITIES] == [taken]


async def test_edit_one_mapping(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """One entity's key and attribute can be changed; bad keys are refused."""
    hass.config_entries.async_update_entry(
        entry,
        options={
            CONF_ENTITIES: [
                {CONF_ENTITY: "climate.hall", CONF_INPUT_KEY: "climate.hall"},
                {CONF_ENTITY: _power_id(hass), CONF_INPUT_KEY: "power"},
                {CONF_ENTITY: "0123456789abcdef", CONF_INPUT_KEY: "removed"},
            ]
        },
    )
    result = await _open(hass, entry, "entity")
    assert result["step_id"] == "entity"
    choices = result["data_schema"].schema[CONF_ENTITY].config["options"]
    assert choices == [
        {"value": "climate.hall", "label": "hall (climate.hall) → climate.hall"},
        {"value": _power_id(hass), "label": "Power (sensor.power) → power"},
        # An entity deleted since: named by its key.
        {"value": "0123456789abcdef", "label": "removed"},
    ]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ENTITY: "climate.hall"}
    )
    assert result["step_id"] == "mapping"
    assert result["description_placeholders"][CONF_ENTITY] == "hall (climate.hall)"
    attributes = result["data_schema"].schema[CONF_ATTRIBUTE].config["options"]
    assert attributes == ["current_temperature", "temperature"]

    for key, error in (("no spaces", "invalid_input_key"), ("power", "duplicate_key")):
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_INPUT_KEY: key}
        )
        assert result["errors"] == {CONF_INPUT_KEY: error}
        # What was typed is offered again.
        schema_keys = {str(k): k for k in result["data_schema"].schema}
        assert schema_keys[CONF_INPUT_KEY].description == {"suggested_value": key}

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_INPUT_KEY: " hall/temperature ", CONF_ATTRIBUTE: "current_temperature"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_ENTITIES][0] == {
        CONF_ENTITY: "climate.hall",
        CONF_INPUT_KEY: "hall/temperature",
        CONF_ATTRIBUTE: "current_temperature",
    }


async def test_edit_mapping_of_deleted_entity(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """A mapping whose entity is gone can still be edited (no attributes offered)."""
    hass.config_entries.async_update_entry(
        entry,
        options={
            CONF_ENTITIES: [{CONF_ENTITY: "0123456789abcdef", CONF_INPUT_KEY: "x"}]
        },
    )
    result = await _open(hass, entry, "entity")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ENTITY: "0123456789abcdef"}
    )
    assert result["data_schema"].schema[CONF_ATTRIBUTE].config["options"] == []
    assert result["description_placeholders"][CONF_ENTITY] == "0123456789abcdef"


async def test_edit_without_entities(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """With nothing chosen yet there is nothing to edit."""
    result = await _open(hass, entry, "entity")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_entities"


@pytest.mark.parametrize(("seconds", "stored"), [(10, 10), (3600, 3600), (90.0, 90)])
async def test_settings(
    hass: HomeAssistant, entry: MockConfigEntry, seconds: Any, stored: int
) -> None:
    """The send interval is stored in whole seconds, and shown again."""
    result = await _open(hass, entry, "settings")
    schema_keys = {str(key): key for key in result["data_schema"].schema}
    assert schema_keys[CONF_FLUSH_INTERVAL].description == {"suggested_value": 60}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_FLUSH_INTERVAL: seconds}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_FLUSH_INTERVAL] == stored
