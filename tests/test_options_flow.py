"""Tests of the options flow: which entities go to which input keys, and how often."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import area_registry as ar, entity_registry as er

from custom_components.clarify.const import (
    CONF_API_URL,
    CONF_ATTRIBUTE,
    CONF_ATTRIBUTES,
    CONF_AUTH_TYPE,
    CONF_CLIENT_ID,
    CONF_DOMAINS,
    CONF_ENTITIES,
    CONF_ENTITY,
    CONF_EXCLUDE,
    CONF_FLUSH_INTERVAL,
    CONF_INPUT_KEY,
    CONF_INTEGRATION_ID,
    CONF_NUMERIC_ONLY,
    CONF_SECRET,
    CONF_TARGETS,
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
    assert result["menu_options"] == ["entities", "targets", "entity", "settings"]
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


async def test_targets_are_shown_before_they_are_saved(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """The count of matching entities comes before anything is saved."""
    area = ar.async_get(hass).async_create("Hall")
    registry = er.async_get(hass)
    registry.async_update_entity("sensor.power", area_id=area.id)
    for index in range(20):
        registry.async_get_or_create(
            "sensor", "demo", f"t{index}", suggested_object_id=f"t{index}"
        )
        registry.async_update_entity(f"sensor.t{index}", area_id=area.id)
        hass.states.async_set(
            f"sensor.t{index}", str(index), {"unit_of_measurement": "W"}
        )
    hass.states.async_set("sensor.forecast", "sunny")
    result = await _open(hass, entry, "targets")
    assert result["step_id"] == "targets"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_TARGETS: {"area_id": [area.id]},
            CONF_DOMAINS: ["weather"],
            CONF_EXCLUDE: ["sensor.t0"],
            CONF_NUMERIC_ONLY: True,
        },
    )
    assert result["step_id"] == "targets_confirm"
    placeholders = result["description_placeholders"]
    # 21 in the hall, one excepted; the weather domain has none.
    assert placeholders["matched"] == "20"
    assert placeholders["picked"] == "0"
    assert placeholders["entities"].count("\n- ") == 15
    assert entry.options.get(CONF_TARGETS) is None

    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    t0 = registry.async_get("sensor.t0")
    assert t0 is not None
    assert entry.options[CONF_TARGETS] == {"area_id": [area.id]}
    assert entry.options[CONF_EXCLUDE] == [t0.id]
    await hass.async_block_till_done()
    assert len(entry.runtime_data.exporter.listener.tracked) == 20

    # Opening it again shows what is saved.
    result = await _open(hass, entry, "targets")
    schema_keys = {str(key): key for key in result["data_schema"].schema}
    assert schema_keys[CONF_EXCLUDE].description == {"suggested_value": ["sensor.t0"]}


async def test_attributes_as_signals_of_their_own(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """A thermostat's state and two attributes, each with its own input key."""
    hass.config_entries.async_update_entry(
        entry,
        options={
            CONF_ENTITIES: [{CONF_ENTITY: "climate.hall", CONF_INPUT_KEY: "hall"}]
        },
    )
    result = await _open(hass, entry, "entity")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ENTITY: "climate.hall"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_INPUT_KEY: "hall",
            CONF_ATTRIBUTES: ["current_temperature", "temperature"],
        },
    )
    assert result["step_id"] == "attribute_keys"
    schema_keys = {str(key): key for key in result["data_schema"].schema}
    assert schema_keys["temperature"].description == {
        "suggested_value": "climate.hall:temperature"
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"current_temperature": "hall", "temperature": "hall-target"},
    )
    assert result["errors"] == {"base": "duplicate_key"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"current_temperature": "bad key", "temperature": "hall-target"},
    )
    assert result["errors"] == {"base": "invalid_input_key"}
    assert result["description_placeholders"][CONF_INPUT_KEY] == "bad key"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "current_temperature": "climate.hall:current_temperature",
            "temperature": "hall-target",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_ENTITIES] == [
        {
            CONF_ENTITY: "climate.hall",
            CONF_INPUT_KEY: "hall",
            CONF_ATTRIBUTES: {
                "current_temperature": "climate.hall:current_temperature",
                "temperature": "hall-target",
            },
        }
    ]


async def test_an_entity_a_target_matches_can_be_given_its_own_key(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    hass.config_entries.async_update_entry(
        entry, options={CONF_ENTITIES: [], CONF_DOMAINS: ["sensor"]}
    )
    await hass.async_block_till_done()
    result = await _open(hass, entry, "entity")
    choices = result["data_schema"].schema[CONF_ENTITY].config["options"]
    assert {
        "value": _power_id(hass),
        "label": "Power (sensor.power) → sensor.power",
    } in (choices)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ENTITY: _power_id(hass)}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_INPUT_KEY: "main-power"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_ENTITIES] == [
        {CONF_ENTITY: _power_id(hass), CONF_INPUT_KEY: "main-power"}
    ]


async def test_targets_of_an_entry_that_is_not_running(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """The options can be changed while the entry is unloaded."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    result = await _open(hass, entry, "targets")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_DOMAINS: ["climate"], CONF_NUMERIC_ONLY: False}
    )
    assert result["description_placeholders"]["matched"] == "1"
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_DOMAINS] == ["climate"]
    assert entry.options[CONF_NUMERIC_ONLY] is False


async def test_a_key_changed_before_the_first_send_leaves_no_signal(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Only the key in use gets a signal in Clarify, not the one given up."""
    hass.config_entries.async_update_entry(
        entry,
        options={
            CONF_ENTITIES: [{CONF_ENTITY: _power_id(hass), CONF_INPUT_KEY: "old"}]
        },
    )
    await hass.async_block_till_done()
    result = await _open(hass, entry, "entity")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ENTITY: _power_id(hass)}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_INPUT_KEY: "new"}
    )
    await hass.async_block_till_done()
    hass.states.async_set("sensor.power", "4", {"friendly_name": "Power"})
    await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
    assert set(emulator.signals(integration.integration_id)) == {"new"}
