"""Choosing what is sent: targets, kinds, several signals per entity, metadata."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.components.repairs import (
    DOMAIN as REPAIRS,
    RepairsFlowManager,
    repairs_flow_manager,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    floor_registry as fr,
    issue_registry as ir,
    label_registry as lr,
)
from homeassistant.helpers.entity import EntityCategory
from homeassistant.setup import async_setup_component

from custom_components.clarify import selection
from custom_components.clarify.const import (
    CONF_DOMAINS,
    CONF_ENTITIES,
    CONF_EXCLUDE,
    CONF_NUMERIC_ONLY,
    CONF_TARGETS,
    DOMAIN,
)
from custom_components.clarify.entry import ClarifyOptions
from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials

from .common import SimulatedTime, make_entry, mapping, setup_entry, stored_points


@dataclass
class Home:
    """A small home in the registries: floors, areas, devices, labels."""

    devices_entry: MockConfigEntry
    ground: str
    kitchen: str
    garden: str
    energy: str
    meter: str  # device in the kitchen
    hub: str  # device without an area, labelled energy
    plug: str  # child device of the hub


def _entity(
    hass: HomeAssistant,
    entity_id: str,
    *,
    device_id: str | None = None,
    area_id: str | None = None,
    labels: set[str] | None = None,
    entity_category: EntityCategory | None = None,
    hidden: bool = False,
    state: str = "1",
    attributes: dict[str, Any] | None = None,
) -> str:
    """Register an entity, give it a state; return its registry id."""
    registry = er.async_get(hass)
    domain, object_id = entity_id.split(".")
    entry = registry.async_get_or_create(
        domain,
        "demo",
        object_id,
        suggested_object_id=object_id,
        original_name=object_id.replace("_", " "),
        device_id=device_id,
        entity_category=entity_category,
        hidden_by=er.RegistryEntryHider.USER if hidden else None,
    )
    assert entry.entity_id == entity_id
    if area_id or labels:
        registry.async_update_entity(entity_id, area_id=area_id, labels=labels or set())
    hass.states.async_set(
        entity_id, state, {"unit_of_measurement": "W"} | (attributes or {})
    )
    return entry.id


@pytest.fixture
def home(hass: HomeAssistant) -> Home:
    devices_entry = MockConfigEntry(domain="demo")
    devices_entry.add_to_hass(hass)
    floors = fr.async_get(hass)
    areas = ar.async_get(hass)
    labels = lr.async_get(hass)
    devices = dr.async_get(hass)
    ground = floors.async_create("Ground floor").floor_id
    kitchen = areas.async_create("Kitchen", floor_id=ground).id
    garden = areas.async_create("Garden").id
    energy = labels.async_create("Energy").label_id
    meter = devices.async_get_or_create(
        config_entry_id=devices_entry.entry_id,
        identifiers={("demo", "meter")},
        name="Meter",
        manufacturer="Acme",
        model="M-1",
    ).id
    devices.async_update_device(meter, area_id=kitchen)
    hub = devices.async_get_or_create(
        config_entry_id=devices_entry.entry_id,
        identifiers={("demo", "hub")},
        name="Hub",
    ).id
    devices.async_update_device(hub, labels={energy})
    plug = devices.async_get_or_create(
        config_entry_id=devices_entry.entry_id,
        identifiers={("demo", "plug")},
        name="Plug",
    ).id
    devices.async_update_device(plug, via_device_id=hub)
    return Home(devices_entry, ground, kitchen, garden, energy, meter, hub, plug)


def _populate(hass: HomeAssistant, home: Home) -> None:
    _entity(hass, "sensor.meter_power", device_id=home.meter)
    _entity(
        hass,
        "sensor.meter_rssi",
        device_id=home.meter,
        entity_category=EntityCategory.DIAGNOSTIC,
    )
    _entity(hass, "sensor.meter_hidden", device_id=home.meter, hidden=True)
    # Has an area of its own: an area target of the device's area skips it.
    _entity(hass, "sensor.meter_outside", device_id=home.meter, area_id=home.garden)
    _entity(hass, "sensor.garden_temperature", area_id=home.garden)
    _entity(hass, "sensor.hub_load", device_id=home.hub)
    _entity(hass, "sensor.plug_power", device_id=home.plug)
    _entity(
        hass,
        "sensor.labelled_diagnostic",
        labels={home.energy},
        entity_category=EntityCategory.DIAGNOSTIC,
    )
    _entity(
        hass,
        "weather.home",
        area_id=home.kitchen,
        state="sunny",
        attributes={"unit_of_measurement": None},
    )
    _entity(hass, "binary_sensor.kitchen_door", area_id=home.kitchen, state="off")


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        (
            {"area_id": ["kitchen"]},
            {"sensor.meter_power", "weather.home", "binary_sensor.kitchen_door"},
        ),
        (
            {"floor_id": ["ground"]},
            {"sensor.meter_power", "weather.home", "binary_sensor.kitchen_door"},
        ),
        (
            {"area_id": ["garden"]},
            {"sensor.meter_outside", "sensor.garden_temperature"},
        ),
        (
            {"label_id": ["energy"]},
            # The labelled entity itself counts even as a diagnostic one; a
            # device connected through the labelled one does not.
            {"sensor.labelled_diagnostic", "sensor.hub_load"},
        ),
        (
            {"device_id": ["meter"]},
            {"sensor.meter_power", "sensor.meter_outside"},
        ),
    ],
)
async def test_targets_follow_home_assistants_rules(
    hass: HomeAssistant, home: Home, targets: dict[str, list[str]], expected: set[str]
) -> None:
    """The same entities on every release, whichever resolver runs."""
    _populate(hass, home)
    ids = {
        "kitchen": home.kitchen,
        "garden": home.garden,
        "ground": home.ground,
        "energy": home.energy,
        "meter": home.meter,
    }
    config = {kind: [ids[name] for name in names] for kind, names in targets.items()}
    assert selection.resolve_targets_here(hass, config) == expected
    options = make_entry_options(targets=config)
    assert selection.matching_entities(hass, options) == expected


def make_entry_options(**options: Any) -> ClarifyOptions:
    entry = MockConfigEntry(domain=DOMAIN, options={CONF_ENTITIES: []} | options)
    return ClarifyOptions.from_entry(entry)


async def test_an_area_sends_what_comes_and_stops_what_goes(
    hass: HomeAssistant,
    home: Home,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Entities that later match are sent from then on; those that leave stop."""
    _populate(hass, home)
    entry = make_entry(
        emulator,
        integration,
        [mapping("sensor.garden_temperature", "garden")],
        **{CONF_TARGETS: {"area_id": [home.kitchen]}},
    )
    await setup_entry(hass, entry)
    first = sim.set_state("sensor.meter_power", "100")
    door = sim.set_state("binary_sensor.kitchen_door", "on")
    sim.set_state("weather.home", "rainy")
    garden = sim.set_state("sensor.garden_temperature", "7")
    await sim.advance(60)
    assert stored_points(emulator, integration) == {
        "sensor.meter_power": {first: 100.0},
        "binary_sensor.kitchen_door": {door: 1.0},
        "garden": {garden: 7.0},
    }
    # A new sensor in the kitchen, and the meter leaves it.
    _entity(hass, "sensor.oven", area_id=home.kitchen)
    await hass.async_block_till_done()
    oven = sim.set_state("sensor.oven", "180")
    dr.async_get(hass).async_update_device(home.meter, area_id=home.garden)
    await hass.async_block_till_done()
    sim.set_state("sensor.meter_power", "200")
    await sim.advance(60)
    points = stored_points(emulator, integration)
    assert points["sensor.oven"] == {oven: 180.0}
    assert points["sensor.meter_power"] == {first: 100.0}


async def test_kinds_domains_and_exceptions(
    hass: HomeAssistant,
    home: Home,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A domain brings its entities; an exception and text states stay out."""
    _populate(hass, home)
    hass.states.async_set("sensor.forecast", "sunny")
    excluded = er.async_get(hass).async_get("sensor.hub_load")
    assert excluded is not None
    entry = make_entry(
        emulator,
        integration,
        [],
        **{CONF_DOMAINS: ["sensor"], CONF_EXCLUDE: [excluded.id]},
    )
    await setup_entry(hass, entry)
    assert set(entry.runtime_data.exporter.listener.tracked) == {
        "sensor.meter_power",
        "sensor.meter_outside",
        "sensor.garden_temperature",
        "sensor.plug_power",
        "sensor.labelled_diagnostic",
        "sensor.meter_rssi",
    }
    # A sensor that appears later, without a registry entry, is sent too.
    late = sim.set_state("sensor.late", "3")
    await hass.async_block_till_done()
    again = sim.set_state("sensor.late", "4")
    await sim.advance(60)
    assert stored_points(emulator, integration)["sensor.late"] == {again: 4.0} or (
        stored_points(emulator, integration)["sensor.late"] == {late: 3.0, again: 4.0}
    )

    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_NUMERIC_ONLY: False}
    )
    await hass.async_block_till_done()
    assert "sensor.forecast" in entry.runtime_data.exporter.listener.tracked


async def test_several_signals_of_one_entity(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """The state and two attributes of a thermostat, each under its own key."""
    attributes = {
        "current_temperature": 20.5,
        "temperature": 22,
        "hvac_action": "heating",
    }
    sim.set_state("climate.hall", "heat", attributes)
    option = mapping("climate.hall", "hall-mode") | {
        "attributes": {
            "current_temperature": "climate.hall:current_temperature",
            "temperature": "hall-target",
        }
    }
    await setup_entry(hass, make_entry(emulator, integration, [option]))
    at = sim.set_state(
        "climate.hall", "heat", attributes | {"current_temperature": 21.0}
    )
    await sim.advance(60)
    assert stored_points(emulator, integration) == {
        "climate.hall:current_temperature": {at: 21.0},
        "hall-target": {at: 22.0},
    }
    signals = emulator.signals(integration.integration_id)
    assert signals["hall-target"].metadata["name"] == "climate.hall temperature"
    assert signals["climate.hall:current_temperature"].metadata["annotations"] == {
        "home-assistant/entity-id": "climate.hall",
        "home-assistant/attribute": "current_temperature",
    }


async def test_metadata_follows_the_registries(
    hass: HomeAssistant,
    home: Home,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Device, area, floor, labels, unit and name changes reach Clarify."""
    _populate(hass, home)
    entry = make_entry(emulator, integration, [mapping("sensor.meter_power", "power")])
    await setup_entry(hass, entry)
    sim.set_state("sensor.meter_power", "1")
    await sim.advance(60)

    def metadata() -> dict[str, Any]:
        return emulator.signals(integration.integration_id)["power"].metadata

    labels = metadata()["labels"]
    assert labels["device"] == ["Meter"]
    assert labels["manufacturer"] == ["Acme"]
    assert labels["model"] == ["M-1"]
    assert labels["area"] == ["Kitchen"]
    assert labels["floor"] == ["Ground floor"]
    assert labels["integration"] == ["demo"]
    assert "Kitchen" in metadata()["description"]

    dr.async_get(hass).async_update_device(home.meter, name_by_user="Main meter")
    fr.async_get(hass).async_update(home.ground, name="Ground")
    lr.async_get(hass).async_update(home.energy, name="Power")
    er.async_get(hass).async_update_entity("sensor.meter_power", labels={home.energy})
    await hass.async_block_till_done()
    sim.set_state("sensor.meter_power", "2", {"unit_of_measurement": "kW"})
    await sim.advance(60)
    labels = metadata()["labels"]
    assert labels["device"] == ["Main meter"]
    assert labels["floor"] == ["Ground"]
    assert labels["label"] == ["Power"]
    assert metadata()["engUnit"] == "kW"
    saves = sum(r.rpc_method == "integration.saveSignals" for r in emulator.requests)
    # Nothing changed: nothing is saved again.
    sim.set_state("sensor.meter_power", "3", {"unit_of_measurement": "kW"})
    await sim.advance(60)
    assert (
        sum(r.rpc_method == "integration.saveSignals" for r in emulator.requests)
        == saves
    )


async def test_a_deleted_entity_is_repaired_by_remapping(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The fix flow lets another entity feed the same signal."""
    registry = er.async_get(hass)
    old = registry.async_get_or_create(
        "sensor", "demo", "old", suggested_object_id="old"
    )
    hass.states.async_set("sensor.old", "1")
    entry = make_entry(emulator, integration, [mapping(old.id, "kept-key")])
    await setup_entry(hass, entry)
    registry.async_remove("sensor.old")
    await hass.async_block_till_done()
    issue_id = f"{entry.entry_id}_entity_missing_{old.id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable

    new = registry.async_get_or_create(
        "sensor", "demo", "new", suggested_object_id="new"
    )
    hass.states.async_set("sensor.new", "5")
    client_flow = await _start_fix(hass, issue_id)
    assert client_flow["type"] is FlowResultType.MENU
    result = await _flows(hass).async_configure(
        client_flow["flow_id"], {"next_step_id": "remap"}
    )
    result = await _flows(hass).async_configure(
        result["flow_id"], {"entity": "sensor.new"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    at = sim.set_state("sensor.new", "6")
    await sim.advance(60)
    assert stored_points(emulator, integration) == {"kept-key": {at: 6.0}}
    assert entry.options[CONF_ENTITIES] == [mapping(new.id, "kept-key")]


async def test_a_deleted_entity_is_repaired_by_removing(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    issue_registry: ir.IssueRegistry,
) -> None:
    registry = er.async_get(hass)
    old = registry.async_get_or_create(
        "sensor", "demo", "old", suggested_object_id="old"
    )
    entry = make_entry(emulator, integration, [mapping(old.id, "old")])
    registry.async_remove("sensor.old")
    await setup_entry(hass, entry)
    issue_id = f"{entry.entry_id}_entity_missing_{old.id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    flow = await _start_fix(hass, issue_id)
    result = await _flows(hass).async_configure(
        flow["flow_id"], {"next_step_id": "remove"}
    )
    result = await _flows(hass).async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_ENTITIES] == []
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_a_disabled_entity_stops_quietly_and_comes_back(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    issue_registry: ir.IssueRegistry,
) -> None:
    registry = er.async_get(hass)
    entity = registry.async_get_or_create(
        "sensor", "demo", "p", suggested_object_id="p"
    )
    entry = make_entry(emulator, integration, [mapping(entity.id, "p")])
    await setup_entry(hass, entry)
    first = sim.set_state("sensor.p", "1")
    registry.async_update_entity("sensor.p", disabled_by=er.RegistryEntryDisabler.USER)
    hass.states.async_remove("sensor.p")
    await sim.advance(60)
    assert not issue_registry.issues
    registry.async_update_entity("sensor.p", disabled_by=None)
    await hass.async_block_till_done()
    second = sim.set_state("sensor.p", "2")
    await sim.advance(60)
    assert stored_points(emulator, integration) == {"p": {first: 1.0, second: 2.0}}


async def test_two_entries_side_by_side(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
) -> None:
    """A home and a cabin: separate integrations, buffers, journals and actions."""
    home = emulator.add_integration()
    cabin = emulator.add_integration()
    home_entry = make_entry(emulator, home, [mapping("sensor.a")], title="Home")
    cabin_entry = make_entry(emulator, cabin, [mapping("sensor.b")], title="Cabin")
    await setup_entry(hass, home_entry)
    await setup_entry(hass, cabin_entry)
    a = sim.set_state("sensor.a", "1")
    b = sim.set_state("sensor.b", "2")
    await hass.services.async_call(
        DOMAIN, "flush", {"config_entry_id": cabin_entry.entry_id}, blocking=True
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert stored_points(emulator, home) == {}
    assert stored_points(emulator, cabin) == {"sensor.b": {b: 2.0}}
    await sim.advance(60)
    assert stored_points(emulator, home) == {"sensor.a": {a: 1.0}}
    assert hass.states.get("sensor.home_buffered_readings").state == "0"
    assert hass.states.get("sensor.cabin_buffered_readings").state == "0"
    assert await hass.config_entries.async_unload(home_entry.entry_id)
    assert cabin_entry.state is ConfigEntryState.LOADED
    c = sim.set_state("sensor.b", "3")
    await sim.advance(60)
    assert stored_points(emulator, cabin) == {"sensor.b": {b: 2.0, c: 3.0}}


async def _start_fix(hass: HomeAssistant, issue_id: str) -> dict[str, Any]:
    assert await async_setup_component(hass, REPAIRS, {})
    result: dict[str, Any] = await _flows(hass).async_init(
        DOMAIN, data={"issue_id": issue_id}
    )
    return result


def _flows(hass: HomeAssistant) -> RepairsFlowManager:
    manager = repairs_flow_manager(hass)
    assert manager is not None
    return manager


async def test_refused_readings_are_sent_again_from_the_repair(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The repair's fix flow sends refused readings again, once fixed."""
    entry = make_entry(emulator, integration, [mapping("sensor.a", "bad")])
    await setup_entry(hass, entry)
    emulator.reject_series("bad", named=True)
    at = sim.set_state("sensor.a", "1")
    await sim.advance(60)
    issue_id = f"{entry.entry_id}_series_rejected_bad"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    emulator.accept_series("bad")
    flow = await _start_fix(hass, issue_id)
    assert flow["step_id"] == "confirm"
    assert flow["description_placeholders"]["count"] == "1"
    result = await _flows(hass).async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await sim.advance(1)
    assert stored_points(emulator, integration) == {"bad": {at: 1.0}}
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    # A repair of an entry that stopped running cannot resend.
    emulator.reject_series("bad", named=True)
    sim.set_state("sensor.a", "2")
    await sim.advance(60)
    assert await hass.config_entries.async_unload(entry.entry_id)
    flow = await _flows(hass).async_init(DOMAIN, data={"issue_id": issue_id})
    assert flow["type"] is FlowResultType.ABORT
    assert flow["reason"] == "not_loaded"


async def test_a_repair_settled_elsewhere_is_already_fixed(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The entity left the options while the entry was not running."""
    registry = er.async_get(hass)
    old = registry.async_get_or_create(
        "sensor", "demo", "old", suggested_object_id="old"
    )
    hass.states.async_set("sensor.other", "1")
    entry = make_entry(
        emulator,
        integration,
        [mapping(old.id, "old"), mapping("sensor.other", "other")],
    )
    registry.async_remove("sensor.old")
    await setup_entry(hass, entry)
    issue_id = f"{entry.entry_id}_entity_missing_{old.id}"
    flow = await _start_fix(hass, issue_id)
    result = await _flows(hass).async_configure(
        flow["flow_id"], {"next_step_id": "remap"}
    )
    # An entity that is sent already cannot take over.
    result = await _flows(hass).async_configure(
        result["flow_id"], {"entity": "sensor.other"}
    )
    assert result["errors"] == {"entity": "already_sent"}

    assert await hass.config_entries.async_unload(entry.entry_id)
    hass.config_entries.async_update_entry(
        entry,
        options={**entry.options, CONF_ENTITIES: [mapping("sensor.other", "other")]},
    )
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    result = await _flows(hass).async_configure(
        result["flow_id"], {"entity": "sensor.other"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_fixed"
    result = await _flows(hass).async_init(DOMAIN, data={"issue_id": issue_id})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_fixed"


async def test_a_burst_of_new_entities_is_resolved_in_slices_and_loses_nothing(
    hass: HomeAssistant,
    home: Home,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Entities arriving by the thousand are worked out a slice per loop turn.

    What they do meanwhile, before they are followed, is sent too: their first
    states and their changes.
    """
    entry = make_entry(
        emulator, integration, [], **{CONF_TARGETS: {"area_id": [home.kitchen]}}
    )
    await setup_entry(hass, entry)
    count = 2 * selection.RESOLVE_SLICE + 1
    entity_ids = [f"sensor.burst_{number:04d}" for number in range(count)]
    # One loop turn: every registration asks for the selection again.
    for entity_id in entity_ids:
        _entity(hass, entity_id, area_id=home.kitchen)
    first = hass.states.get(entity_ids[0])
    assert first is not None
    changes: dict[str, dict[Any, float]] = {}
    for value in range(2, 10):
        # Each change in a second of its own, one per loop turn, while the
        # selection is (and after it has been) worked out.
        sim.freezer.tick(1)
        entity_id = entity_ids[-value]
        changes[entity_id] = {
            first.last_updated: 1.0,
            sim.set_state(entity_id, str(value)): float(value),
        }
        await asyncio.sleep(0)
    await hass.async_block_till_done()
    # A send at the interval, then a request a second.
    await sim.run(70)
    points = stored_points(emulator, integration)
    assert {key: points.get(key) for key in changes} == changes
    assert len(points) == count
    # Everything in the area is followed.
    last = sim.set_state(entity_ids[0], "42")
    await sim.advance(60)
    assert stored_points(emulator, integration)[entity_ids[0]] == {
        first.last_updated: 1.0,
        last: 42.0,
    }


async def test_options_applied_while_an_entity_arrives_are_applied(
    hass: HomeAssistant,
    home: Home,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Two callers wait for one resolve; the first one's next step starts another.

    As when options are saved while setup goes on and registers its status
    entities: the second caller must wait for that one too, not fail on it.
    """
    entry = make_entry(
        emulator, integration, [], **{CONF_TARGETS: {"area_id": [home.kitchen]}}
    )
    await setup_entry(hass, entry)
    listener = entry.runtime_data.exporter.listener
    options = ClarifyOptions.from_entry(entry)
    _entity(hass, "sensor.early", area_id=home.kitchen)

    async def track_then_register() -> None:
        await listener.async_track(options)
        _entity(hass, "sensor.late", area_id=home.kitchen)

    first = hass.async_create_task(track_then_register())
    second = hass.async_create_task(listener.async_track(options))
    await asyncio.gather(first, second)
    await hass.async_block_till_done()
    assert {"sensor.early", "sensor.late"} <= set(listener.tracked)
    sim.set_state("sensor.late", "7")
    await sim.run(70)
    assert list(stored_points(emulator, integration)["sensor.late"].values())[-1] == 7.0
