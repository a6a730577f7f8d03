"""Tests of the entity-to-Clarify rules: input keys, values and signal metadata."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
import math
import re
from typing import Any

from hypothesis import given, strategies as st
import pytest

from homeassistant.core import State
from homeassistant.util import dt as dt_util

from custom_components.clarify.signals import (
    Conversion,
    SignalContext,
    conversion_for,
    default_input_key,
    is_valid_input_key,
    metadata_hash,
    reading_time_us,
    signal_metadata,
)

# Clarify's rules, written out independently of the module under test.
INPUT_KEY_RULE = re.compile(r"[a-zA-Z0-9\-_:.#+/]{1,128}")
LABEL_KEY_RULE = re.compile(r"[A-Za-z0-9\-_/]{1,40}")
SIGNAL_SAVE_FIELDS = {
    "name",
    "description",
    "labels",
    "engUnit",
    "sourceType",
    "valueType",
    "enumValues",
    "sampleInterval",
    "gapDetection",
    "annotations",
}

COLORS = ["red", "green", "blue"]


def convert(
    entity_id: str,
    value: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    attribute: str | None = None,
    setup_state: State | None = None,
) -> float | None:
    """Convert one state with the conversion decided for the entity at setup.

    Unless told otherwise, the entity is set up with the state being converted.
    """
    state = State(entity_id, value, attributes)
    conversion = conversion_for(
        entity_id, attribute=attribute, state=setup_state or state
    )
    return conversion.convert(state)


# Input keys


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("sensor.living_room_temperature", True),
        ("a", True),
        ("A-Z_0:9.#+/", True),
        ("k" * 128, True),
        ("k" * 129, False),
        ("", False),
        ("sensor temperature", False),
        ("sensor.temperature\n", False),
        ("sensor.tempé", False),
        ("sensor.٣", False),
        ("sensor;drop", False),
        ("sensor,x", False),
    ],
)
def test_is_valid_input_key(key: str, valid: bool) -> None:
    assert is_valid_input_key(key) is valid


def test_default_input_key_is_the_entity_id() -> None:
    assert default_input_key("sensor.outdoor_temperature") == (
        "sensor.outdoor_temperature"
    )


@pytest.mark.parametrize(
    "entity_id",
    ["sensor." + "a" * 200, "sensor." + "a" * 121, "sensor.room_٣"],
)
def test_default_input_key_of_an_unusual_entity_id(entity_id: str) -> None:
    """Entity IDs Clarify does not take still get a valid, stable default."""
    key = default_input_key(entity_id)

    assert INPUT_KEY_RULE.fullmatch(key)
    assert key == default_input_key(entity_id)
    assert key.startswith("sensor.")


def test_default_input_keys_of_long_entity_ids_differ() -> None:
    """Two long entity IDs that share their first 128 characters keep apart."""
    prefix = "sensor." + "a" * 150

    assert default_input_key(prefix + "_one") != default_input_key(prefix + "_two")


# Numeric states


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("21.5", 21.5),
        ("-3", -3.0),
        ("0", 0.0),
        ("-0.0", 0.0),
        ("1e3", 1000.0),
        (" 12 ", 12.0),
        ("1_000", 1000.0),
        ("unknown", None),
        ("unavailable", None),
        ("", None),
        ("on", None),
        ("12 °C", None),
        ("1,5", None),
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("-Infinity", None),
        ("1e400", None),
        ("True", None),
    ],
)
@pytest.mark.parametrize(
    "entity_id",
    ["sensor.x", "number.x", "input_number.x", "counter.x"],
)
def test_numeric_state(entity_id: str, value: str, expected: float | None) -> None:
    assert convert(entity_id, value) == expected


# Two-state entities


ON_OFF_DOMAINS = [
    "automation",
    "binary_sensor",
    "calendar",
    "fan",
    "humidifier",
    "input_boolean",
    "light",
    "remote",
    "schedule",
    "script",
    "siren",
    "switch",
    "update",
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("on", 1.0), ("off", 0.0), ("unknown", None), ("unavailable", None)],
)
@pytest.mark.parametrize("domain", ON_OFF_DOMAINS)
def test_on_off_domains(domain: str, value: str, expected: float | None) -> None:
    assert convert(f"{domain}.x", value) == expected


@pytest.mark.parametrize(
    ("entity_id", "value", "expected"),
    [
        ("lock.door", "locked", 1.0),
        ("lock.door", "unlocked", 0.0),
        # The latch is pulled back: certainly not locked.
        ("lock.door", "open", 0.0),
        # In motion or stuck: the last reading stays true, or nobody knows.
        ("lock.door", "locking", None),
        ("lock.door", "unlocking", None),
        ("lock.door", "opening", None),
        ("lock.door", "jammed", None),
        ("lock.door", "on", None),
        ("cover.garage", "open", 1.0),
        ("cover.garage", "closed", 0.0),
        ("cover.garage", "opening", None),
        ("cover.garage", "closing", None),
        ("cover.garage", "stopped", None),
        ("valve.water", "open", 1.0),
        ("valve.water", "closed", 0.0),
        ("valve.water", "opening", None),
        ("valve.water", "closing", None),
        ("sun.sun", "above_horizon", 1.0),
        ("sun.sun", "below_horizon", 0.0),
        ("sun.sun", "unavailable", None),
        ("switch.x", "1", None),
        ("switch.x", "On", None),
    ],
)
def test_two_state_domains(entity_id: str, value: str, expected: float | None) -> None:
    assert convert(entity_id, value) == expected


@pytest.mark.parametrize("domain", ["person", "device_tracker"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("home", 1.0),
        ("not_home", 0.0),
        # Being in any other zone is being away from home.
        ("work", 0.0),
        ("Grandma's house", 0.0),
        ("unknown", None),
        ("unavailable", None),
    ],
)
def test_presence(domain: str, value: str, expected: float | None) -> None:
    assert convert(f"{domain}.anna", value) == expected


@pytest.mark.parametrize(
    ("entity_id", "setup_value", "value", "expected"),
    [
        ("group.lights", "on", "off", 0.0),
        ("group.lights", "off", "on", 1.0),
        ("group.covers", "closed", "open", 1.0),
        ("group.covers", "open", "opening", None),
        ("group.family", "home", "not_home", 0.0),
        ("group.locks", "locked", "unlocked", 0.0),
        ("alert.freezer", "on", "off", 0.0),
    ],
)
def test_two_state_told_from_the_state_at_setup(
    entity_id: str, setup_value: str, value: str, expected: float | None
) -> None:
    setup_state = State(entity_id, setup_value)

    assert convert(entity_id, value, setup_state=setup_state) == expected


# Options


@pytest.mark.parametrize(
    ("entity_id", "attributes"),
    [
        ("select.mode", {"options": COLORS}),
        ("input_select.mode", {"options": COLORS}),
        ("sensor.mode", {"device_class": "enum", "options": COLORS}),
        ("select.mode", {"options": tuple(COLORS)}),
    ],
)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("red", 0.0),
        ("blue", 2.0),
        ("purple", None),
        ("Red", None),
        ("unknown", None),
        ("unavailable", None),
    ],
)
def test_options(
    entity_id: str, attributes: dict[str, Any], value: str, expected: float | None
) -> None:
    assert convert(entity_id, value, attributes) == expected


@pytest.mark.parametrize(
    "attributes",
    [{}, {"options": None}, {"options": "red"}, {"options": {"red": 0}}],
)
def test_options_missing_or_not_a_list(attributes: dict[str, Any]) -> None:
    assert convert("select.mode", "red", attributes) is None


def test_options_are_read_from_each_state() -> None:
    """An entity may change its options; the index follows."""
    conversion = conversion_for("select.mode")

    assert conversion.convert(State("select.mode", "blue", {"options": COLORS})) == 2
    assert conversion.convert(State("select.mode", "blue", {"options": ["blue"]})) == 0


def test_options_beyond_clarify_enum_range() -> None:
    """Clarify takes enum indices 0-9999; later options are skipped."""
    options = [f"option {index}" for index in range(10_001)]
    conversion = conversion_for("select.many")

    def index_of(value: str) -> float | None:
        return conversion.convert(State("select.many", value, {"options": options}))

    assert index_of("option 9999") == 9999.0
    assert index_of("option 10000") is None


# Attributes


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (21.5, 21.5),
        (21, 21.0),
        (-0.0, 0.0),
        ("19.5", 19.5),
        (" 7 ", 7.0),
        (True, 1.0),
        (False, 0.0),
        (None, None),
        ("", None),
        ("heating", None),
        ("nan", None),
        (math.nan, None),
        (math.inf, None),
        (-math.inf, None),
        (10**400, None),
        (-(10**400), None),
        ([21.5], None),
        ({"value": 21.5}, None),
        ((1, 2), None),
        (object(), None),
    ],
)
def test_attribute(value: Any, expected: float | None) -> None:
    attributes = {"current_temperature": value}

    assert (
        convert("climate.x", "heat", attributes, attribute="current_temperature")
        == expected
    )


def test_attribute_mode_ignores_the_state() -> None:
    """A numeric state does not stand in for a missing attribute."""
    conversion = conversion_for("sensor.x", attribute="battery_level")

    assert conversion.convert(State("sensor.x", "21.5")) is None
    assert conversion.convert(State("sensor.x", "off", {"battery_level": 80})) == 80


# The kind of conversion


@pytest.mark.parametrize(
    ("entity_id", "state", "attribute", "kind"),
    [
        ("sensor.temperature", State("sensor.temperature", "21.5"), None, "numeric"),
        ("sensor.temperature", None, None, "numeric"),
        ("sensor.switch_like", State("sensor.switch_like", "on"), None, "numeric"),
        (
            "sensor.mode",
            State("sensor.mode", "a", {"device_class": "enum", "options": ["a"]}),
            None,
            "options",
        ),
        ("select.mode", None, None, "options"),
        ("input_select.mode", None, None, "options"),
        ("switch.x", None, None, "binary"),
        ("lock.x", State("lock.x", "jammed"), None, "binary"),
        ("person.x", State("person.x", "work"), None, "binary"),
        ("group.x", State("group.x", "on"), None, "binary"),
        # Known only from a state, and "unknown" tells nothing.
        ("group.x", State("group.x", "unknown"), None, "numeric"),
        ("group.x", None, None, "numeric"),
        # "off" is one of many HVAC modes and player states.
        ("climate.x", State("climate.x", "off"), None, "numeric"),
        ("media_player.x", State("media_player.x", "off"), None, "numeric"),
        ("water_heater.x", State("water_heater.x", "off"), None, "numeric"),
        ("switch.x", State("switch.x", "on"), "current_power_w", "numeric"),
        ("select.x", None, "options", "numeric"),
    ],
)
def test_kind(
    entity_id: str, state: State | None, attribute: str | None, kind: str
) -> None:
    conversion = conversion_for(entity_id, attribute=attribute, state=state)

    assert conversion.kind == kind
    assert conversion.attribute == attribute


@pytest.mark.parametrize(
    ("entity_id", "attributes", "labels"),
    [
        ("switch.x", {}, ("off", "on")),
        ("light.x", {}, ("off", "on")),
        ("update.x", {}, ("up to date", "update available")),
        ("binary_sensor.x", {}, ("off", "on")),
        ("binary_sensor.x", {"device_class": "door"}, ("closed", "open")),
        ("binary_sensor.x", {"device_class": "motion"}, ("clear", "detected")),
        ("binary_sensor.x", {"device_class": "lock"}, ("locked", "unlocked")),
        ("binary_sensor.x", {"device_class": "new_class"}, ("off", "on")),
        ("binary_sensor.x", {"device_class": ["door"]}, ("off", "on")),
        ("cover.x", {}, ("closed", "open")),
        ("valve.x", {}, ("closed", "open")),
        ("lock.x", {}, ("unlocked", "locked")),
        ("person.x", {}, ("not home", "home")),
        ("device_tracker.x", {}, ("not home", "home")),
        ("sun.sun", {}, ("below horizon", "above horizon")),
    ],
)
def test_binary_labels(
    entity_id: str, attributes: dict[str, Any], labels: tuple[str, str]
) -> None:
    state = State(entity_id, "unknown", attributes)

    assert conversion_for(entity_id, state=state).enum_labels == labels


# Signal metadata


def test_metadata_of_a_numeric_sensor() -> None:
    state = State(
        "sensor.outdoor_temperature",
        "21.5",
        {
            "friendly_name": "Outdoor temperature",
            "unit_of_measurement": "°C",
            "device_class": "temperature",
            "state_class": "measurement",
        },
    )
    conversion = conversion_for(state.entity_id, state=state)

    assert signal_metadata(
        state.entity_id,
        "sensor.outdoor_temperature",
        conversion,
        state,
        context=SignalContext(
            area="Garden",
            floor="Outside",
            device="Weather station",
            manufacturer="Acme",
            model="WS-1",
            integration="acme_weather",
            labels=("Climate", "Outdoor", "Climate"),
            instance="Cabin",
            gap_detection="PT10M",
        ),
    ) == {
        "name": "Outdoor temperature",
        "description": "Home Assistant entity sensor.outdoor_temperature, of the"
        " device Weather station, from the integration acme_weather, in the area"
        " Garden",
        "labels": {
            "source": ["home-assistant"],
            "domain": ["sensor"],
            "device_class": ["temperature"],
            "state_class": ["measurement"],
            "area": ["Garden"],
            "floor": ["Outside"],
            "device": ["Weather station"],
            "manufacturer": ["Acme"],
            "model": ["WS-1"],
            "integration": ["acme_weather"],
            "label": ["Climate", "Outdoor"],
            "instance": ["Cabin"],
        },
        "engUnit": "°C",
        "sourceType": "measurement",
        "valueType": "numeric",
        "enumValues": {},
        "sampleInterval": None,
        "gapDetection": "PT10M",
        "annotations": {"home-assistant/entity-id": "sensor.outdoor_temperature"},
    }


def test_metadata_keeps_to_clarify_limits() -> None:
    """Nothing Home Assistant holds makes the call invalid."""
    state = State("sensor.x", "1", {"friendly_name": "n" * 300})
    conversion = conversion_for(state.entity_id, state=state)
    metadata = signal_metadata(
        state.entity_id,
        "sensor.x",
        conversion,
        state,
        context=SignalContext(
            area="a" * 500, labels=("  ", "l" * 200), device="d" * 2000
        ),
    )
    assert len(metadata["name"]) == 128
    assert len(metadata["description"]) <= 1000
    assert metadata["labels"]["area"] == ["a" * 128]
    assert metadata["labels"]["label"] == ["l" * 128]
    assert all(
        LABEL_KEY_RULE.fullmatch(key)
        and values
        and all(0 < len(v) <= 128 for v in values)
        for key, values in metadata["labels"].items()
    )


def test_metadata_of_a_binary_sensor() -> None:
    state = State(
        "binary_sensor.front_door",
        "off",
        {"friendly_name": "Front door", "device_class": "door"},
    )
    conversion = conversion_for(state.entity_id, state=state)

    assert signal_metadata(state.entity_id, "front-door", conversion, state) == {
        "name": "Front door",
        "description": "Home Assistant entity binary_sensor.front_door",
        "labels": {
            "source": ["home-assistant"],
            "domain": ["binary_sensor"],
            "device_class": ["door"],
        },
        "engUnit": "",
        "sourceType": "measurement",
        "valueType": "enum",
        "enumValues": {"0": "closed", "1": "open"},
        "sampleInterval": None,
        "gapDetection": None,
        "annotations": {"home-assistant/entity-id": "binary_sensor.front_door"},
    }


def test_metadata_of_a_select() -> None:
    state = State(
        "select.heat_pump_mode",
        "eco",
        {"friendly_name": "Heat pump mode", "options": ["off", "eco", "comfort"]},
    )
    conversion = conversion_for(state.entity_id, state=state)

    assert signal_metadata(
        state.entity_id, state.entity_id, conversion, state, name="Pump mode"
    ) == {
        "name": "Pump mode",
        "description": "Home Assistant entity select.heat_pump_mode",
        "labels": {"source": ["home-assistant"], "domain": ["select"]},
        "engUnit": "",
        "sourceType": "measurement",
        "valueType": "enum",
        "enumValues": {"0": "off", "1": "eco", "2": "comfort"},
        "sampleInterval": None,
        "gapDetection": None,
        "annotations": {"home-assistant/entity-id": "select.heat_pump_mode"},
    }


def test_metadata_of_an_attribute() -> None:
    state = State(
        "climate.living_room",
        "heat",
        {
            "friendly_name": "Living room",
            "current_temperature": 20.5,
            "unit_of_measurement": "ignored",
        },
    )
    conversion = conversion_for(
        state.entity_id, attribute="current_temperature", state=state
    )

    assert signal_metadata(
        state.entity_id, "living-room-temperature", conversion, state
    ) == {
        "name": "Living room current temperature",
        "description": (
            "Home Assistant entity climate.living_room, attribute current_temperature"
        ),
        "labels": {"source": ["home-assistant"], "domain": ["climate"]},
        "engUnit": "",
        "sourceType": "measurement",
        "valueType": "numeric",
        "enumValues": {},
        "sampleInterval": None,
        "gapDetection": None,
        "annotations": {
            "home-assistant/entity-id": "climate.living_room",
            "home-assistant/attribute": "current_temperature",
        },
    }


@pytest.mark.parametrize(
    ("name", "attributes", "expected"),
    [
        ("Registry name", {"friendly_name": "Friendly"}, "Registry name"),
        (None, {"friendly_name": "Friendly"}, "Friendly"),
        ("", {"friendly_name": "Friendly"}, "Friendly"),
        ("   ", {"friendly_name": "Friendly"}, "Friendly"),
        (None, {"friendly_name": " Padded "}, "Padded"),
        (None, {}, "sensor.x"),
        (None, {"friendly_name": ""}, "sensor.x"),
        (None, {"friendly_name": None}, "sensor.x"),
        (None, {"friendly_name": 42}, "sensor.x"),
        ("n" * 200, {}, "n" * 128),
    ],
)
def test_metadata_name(
    name: str | None, attributes: dict[str, Any], expected: str
) -> None:
    state = State("sensor.x", "1", attributes)
    conversion = conversion_for("sensor.x", state=state)

    metadata = signal_metadata("sensor.x", "sensor.x", conversion, state, name=name)

    assert metadata["name"] == expected


def test_metadata_without_a_state() -> None:
    """An entity that has no state yet still gets complete metadata."""
    conversion = conversion_for("select.mode")

    metadata = signal_metadata("select.mode", "select.mode", conversion, None)

    assert metadata["name"] == "select.mode"
    assert metadata["enumValues"] == {}
    assert metadata["labels"] == {"source": ["home-assistant"], "domain": ["select"]}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (None, {}),
        ("red", {}),
        ((), {}),
        (("red", "green"), {"0": "red", "1": "green"}),
        # An empty or non-text label is left out; the others keep their index.
        (["", "green", 3, None], {"1": "green"}),
        (["x" * 200], {"0": "x" * 128}),
    ],
)
def test_metadata_enum_values_of_options(
    options: Any, expected: dict[str, str]
) -> None:
    state = State("select.mode", "green", {"options": options})
    conversion = conversion_for("select.mode", state=state)

    metadata = signal_metadata("select.mode", "select.mode", conversion, state)

    assert metadata["enumValues"] == expected


def test_metadata_enum_values_stop_at_clarify_limit() -> None:
    options = [f"option {index}" for index in range(10_500)]
    state = State("select.many", "option 1", {"options": options})
    conversion = conversion_for("select.many", state=state)

    enum_values = signal_metadata("select.many", "k", conversion, state)["enumValues"]

    assert len(enum_values) == 10_000
    assert enum_values["9999"] == "option 9999"


@pytest.mark.parametrize(
    ("entity_id", "attribute", "attributes", "unit"),
    [
        ("sensor.x", None, {"unit_of_measurement": "kWh"}, "kWh"),
        ("sensor.x", None, {}, ""),
        ("sensor.x", None, {"unit_of_measurement": None}, ""),
        # The unit is the state's: it says nothing about an attribute.
        ("sensor.x", "voltage", {"unit_of_measurement": "kWh"}, ""),
        # An enum has no unit.
        ("switch.x", None, {"unit_of_measurement": "W"}, ""),
    ],
)
def test_metadata_eng_unit(
    entity_id: str, attribute: str | None, attributes: dict[str, Any], unit: str
) -> None:
    state = State(entity_id, "1", attributes)
    conversion = conversion_for(entity_id, attribute=attribute, state=state)

    metadata = signal_metadata(entity_id, entity_id, conversion, state)

    assert metadata["engUnit"] == unit


def test_metadata_description_is_cut_to_clarify_limit() -> None:
    attribute = "a" * 2000
    conversion = conversion_for("sensor.x", attribute=attribute)

    metadata = signal_metadata("sensor.x", "sensor.x", conversion, None)

    assert len(metadata["description"]) == 1000
    assert metadata["annotations"]["home-assistant/attribute"] == attribute


def test_metadata_leaves_out_empty_labels() -> None:
    state = State("sensor.x", "1", {"device_class": ""})
    conversion = conversion_for("sensor.x", state=state)

    metadata = signal_metadata(
        "sensor.x", "sensor.x", conversion, state, area="", device=None
    )

    assert metadata["labels"] == {"source": ["home-assistant"], "domain": ["sensor"]}


# Metadata digests


def test_metadata_hash_ignores_key_order() -> None:
    metadata = signal_metadata(
        "switch.x", "switch.x", conversion_for("switch.x"), None, area="Hall"
    )
    reordered = {
        key: (dict(reversed(value.items())) if isinstance(value, dict) else value)
        for key, value in reversed(metadata.items())
    }

    assert list(reordered) != list(metadata)
    assert metadata_hash(reordered) == metadata_hash(metadata)


def test_metadata_hash_is_stable_across_runs() -> None:
    """The digest is persisted, so it must not depend on the process."""
    assert metadata_hash({"name": "x", "labels": {}}) == (
        "e844543a022ca257330f4f4954bb39527d42eb28fccccd5952673aaaf119e072"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Other"},
        {"engUnit": "°F"},
        {"labels": {"source": ["home-assistant"], "area": ["Hall"]}},
        {"enumValues": {"0": "off", "1": "ON"}},
        {"sampleInterval": "PT1M"},
    ],
)
def test_metadata_hash_changes_with_any_field(change: dict[str, Any]) -> None:
    metadata = signal_metadata("switch.x", "switch.x", conversion_for("switch.x"), None)

    assert metadata_hash(metadata | change) != metadata_hash(metadata)


# Properties: nothing raises, everything stays within Clarify's rules

ODD_STATES = st.sampled_from(
    [
        "on",
        "off",
        "home",
        "not_home",
        "locked",
        "open",
        "unknown",
        "unavailable",
        "nan",
        "-inf",
        "1e400",
        "1_000",
        " 12 ",
        "-0.0",
    ]
)
STATE_VALUES = st.one_of(
    ODD_STATES,
    st.text(max_size=255),
    st.floats().map(repr),
    st.integers().map(str),
)
ATTRIBUTE_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([10**400, -(10**400), 2**1024]),
        st.floats(),
        st.text(),
        st.floats().map(str),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=8), children, max_size=5),
    ),
    max_leaves=10,
)


@st.composite
def states(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A state value and arbitrary attributes, often with options that include it.

    The test builds the `State`: its context draws on `random`, which Hypothesis
    wants kept out of strategies.
    """
    value = draw(STATE_VALUES)
    options = draw(
        st.one_of(
            ATTRIBUTE_VALUES,
            st.lists(st.text(max_size=10), max_size=5).map(lambda opts: [*opts, value]),
        )
    )
    attributes = draw(st.dictionaries(st.text(max_size=20), ATTRIBUTE_VALUES))
    attributes |= {"options": options, "current_temperature": draw(ATTRIBUTE_VALUES)}
    return value, attributes


CONVERSIONS = [
    pytest.param("sensor.x", None, None, id="numeric"),
    pytest.param("switch.x", None, None, id="on-off"),
    pytest.param("lock.x", None, None, id="lock"),
    pytest.param("person.x", None, None, id="presence"),
    pytest.param("group.x", State("group.x", "open"), None, id="inferred"),
    pytest.param("select.x", None, None, id="options"),
    pytest.param(
        "sensor.x", State("sensor.x", "a", {"device_class": "enum"}), None, id="enum"
    ),
    pytest.param("climate.x", None, "current_temperature", id="attribute"),
]


@pytest.mark.parametrize(("entity_id", "setup_state", "attribute"), CONVERSIONS)
@given(drawn=states())
def test_convert_never_raises(
    entity_id: str,
    setup_state: State | None,
    attribute: str | None,
    drawn: tuple[str, dict[str, Any]],
) -> None:
    conversion = conversion_for(entity_id, attribute=attribute, state=setup_state)

    value = conversion.convert(State(entity_id, *drawn))

    assert value is None or (type(value) is float and math.isfinite(value))
    if value is not None and conversion.kind != "numeric":
        assert value.is_integer()
        assert 0 <= value <= 9999


@pytest.mark.parametrize(("entity_id", "setup_state", "attribute"), CONVERSIONS)
@given(
    drawn=st.none() | states(),
    name=st.none() | st.text(),
    area=st.none() | st.text(),
    device=st.none() | st.text(),
)
def test_metadata_follows_clarify_rules(
    entity_id: str,
    setup_state: State | None,
    attribute: str | None,
    drawn: tuple[str, dict[str, Any]] | None,
    name: str | None,
    area: str | None,
    device: str | None,
) -> None:
    conversion = conversion_for(entity_id, attribute=attribute, state=setup_state)
    state = State(entity_id, *drawn) if drawn is not None else None

    metadata = signal_metadata(
        entity_id, entity_id, conversion, state, name=name, area=area, device=device
    )

    assert_valid_signal_save(metadata, conversion)
    assert metadata_hash(metadata) == metadata_hash(dict(metadata))


def assert_valid_signal_save(metadata: dict[str, Any], conversion: Conversion) -> None:
    """Assert that `metadata` is a complete SignalSave Clarify accepts."""
    assert set(metadata) == SIGNAL_SAVE_FIELDS
    assert metadata["sampleInterval"] is None
    assert metadata["gapDetection"] is None
    assert 1 <= len(metadata["name"]) <= 128
    assert len(metadata["description"]) <= 1000
    assert isinstance(metadata["engUnit"], str)
    assert metadata["sourceType"] == "measurement"
    assert metadata["valueType"] == (
        "numeric" if conversion.kind == "numeric" else "enum"
    )
    assert metadata["labels"]["source"] == ["home-assistant"]
    for key, values in metadata["labels"].items():
        assert LABEL_KEY_RULE.fullmatch(key)
        assert values
        assert all(isinstance(value, str) and value for value in values)
    for key, value in metadata["annotations"].items():
        assert LABEL_KEY_RULE.fullmatch(key)
        assert isinstance(value, str)
    for index, label in metadata["enumValues"].items():
        assert 0 <= int(index) <= 9999
        assert index == str(int(index))
        assert isinstance(label, str)
        assert 1 <= len(label) <= 128
    if conversion.kind == "numeric":
        assert metadata["enumValues"] == {}


# ---------------------------------------------------------------- reading time

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@given(
    # Hypothesis takes naive bounds and adds the time zone itself.
    st.datetimes(
        min_value=datetime(1970, 1, 1),  # noqa: DTZ001
        max_value=datetime(2200, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    )
)
def test_reading_time_is_the_datetime_to_the_microsecond(moment: datetime) -> None:
    """A state built from a datetime (restored, or set with a time)."""
    state = State("sensor.a", "1", last_updated=moment)
    assert reading_time_us(state) == (moment - _EPOCH) // timedelta(microseconds=1)


@given(st.floats(min_value=0, max_value=7_000_000_000, allow_nan=False))
def test_reading_time_of_a_state_set_now(timestamp: float) -> None:
    """A state set now: Home Assistant derives the datetime from time.time()."""
    moment = dt_util.utc_from_timestamp(timestamp)
    state = State(
        "sensor.a", "1", last_updated=moment, last_updated_timestamp=timestamp
    )
    assert reading_time_us(state) == (moment - _EPOCH) // timedelta(microseconds=1)


def test_scaling_the_float_would_be_wrong() -> None:
    """Why the datetime decides: the float product is a microsecond off."""
    timestamp = 1_764_648_000.000_007_5  # microsecond 7 or 8 by rounding
    moment = dt_util.utc_from_timestamp(timestamp)
    state = State(
        "sensor.a", "1", last_updated=moment, last_updated_timestamp=timestamp
    )
    exact = (moment - _EPOCH) // timedelta(microseconds=1)
    assert reading_time_us(state) == exact
    wrong = [
        t
        for t in (timestamp + k * 1e-7 for k in range(-50, 50))
        if round(t * 1_000_000)
        != (dt_util.utc_from_timestamp(t) - _EPOCH) // timedelta(microseconds=1)
    ]
    assert wrong, "the float product agrees everywhere here: pick another time"
