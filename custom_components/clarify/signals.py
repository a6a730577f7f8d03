"""From Home Assistant entities to Clarify input keys, values and signal metadata.

Everything here is pure: no I/O, no `hass`, no logging. The work is split by how
often it runs:

- `conversion_for` runs once per mapped entity (at setup and when the options
  change) and decides how that entity's states become numbers.
- `Conversion.convert` runs for every state change of a tracked entity, inside the
  event loop. Each one is a module-level function or a closure over a table built
  beforehand, so an event costs a lookup or a `float()`, nothing more.
- `signal_metadata` and `metadata_hash` run when the entity or its registry entry
  changes, so the caller calls `integration.saveSignals` only when the hash moves.

A reading that cannot be expressed as a finite number (`unknown`, `unavailable`,
text, NaN, infinity, transitional states) converts to None and is skipped: Clarify
shows a gap, never a made-up 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
import hashlib
from math import isfinite
import re
from typing import Any, Final, Literal

import orjson

from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_FRIENDLY_NAME,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_CLOSED,
    STATE_HOME,
    STATE_NOT_HOME,
    STATE_OFF,
    STATE_ON,
    STATE_OPEN,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import State

type ConversionKind = Literal["numeric", "binary", "options"]
type Converter = Callable[[State], float | None]

# Clarify's own spelling of the rule; always applied with `fullmatch`, so a trailing
# newline (which `$` tolerates) is rejected too.
INPUT_KEY_PATTERN: Final = re.compile(r"^[a-zA-Z0-9-_:.#+/]{1,128}$")
MAX_INPUT_KEY_LENGTH: Final = 128
# "#" is left out: it separates the readable part of a derived key from its hash.
_NOT_INPUT_KEY_CHARS: Final = re.compile(r"[^a-zA-Z0-9-_:.+/]")

# SignalSave limits. Label and annotation keys are the fixed ones below, all well
# under the 40 characters that are safe (Clarify's rule allows 128).
MAX_NAME_LENGTH: Final = 128
MAX_DESCRIPTION_LENGTH: Final = 1000
MAX_ENUM_LABEL_LENGTH: Final = 128
MAX_ENUM_VALUES: Final = 10_000

LABEL_SOURCE: Final = "source"
LABEL_DOMAIN: Final = "domain"
LABEL_DEVICE_CLASS: Final = "device_class"
LABEL_STATE_CLASS: Final = "state_class"
LABEL_AREA: Final = "area"
LABEL_FLOOR: Final = "floor"
LABEL_DEVICE: Final = "device"
LABEL_MANUFACTURER: Final = "manufacturer"
LABEL_MODEL: Final = "model"
LABEL_INTEGRATION: Final = "integration"
# Home Assistant's own labels of the entity and its device.
LABEL_HA_LABEL: Final = "label"
LABEL_INSTANCE: Final = "instance"
MAX_LABEL_VALUE_LENGTH: Final = 128
SOURCE_HOME_ASSISTANT: Final = "home-assistant"
ANNOTATION_ENTITY_ID: Final = "home-assistant/entity-id"
ANNOTATION_ATTRIBUTE: Final = "home-assistant/attribute"

# Spelled out rather than imported: importing `homeassistant.components.lock`,
# `sensor` or `select` for one string each would load whole entity platforms (and
# their dependencies) into a module that only needs the words.
_ATTR_OPTIONS: Final = "options"
_ATTR_STATE_CLASS: Final = "state_class"
_DEVICE_CLASS_ENUM: Final = "enum"
_STATE_LOCKED: Final = "locked"
_STATE_UNLOCKED: Final = "unlocked"
_STATE_ABOVE_HORIZON: Final = "above_horizon"
_STATE_BELOW_HORIZON: Final = "below_horizon"

_NO_READING: Final = frozenset({STATE_UNKNOWN, STATE_UNAVAILABLE})


def _lookup(values: Mapping[str, float]) -> Converter:
    """Return a converter that looks the state up in `values`, None if absent."""
    get = values.get

    def convert(state: State) -> float | None:
        return get(state.state)

    return convert


def _presence(state: State) -> float | None:
    """Return 1 at home, 0 anywhere else, None when the whereabouts are unknown.

    Trackers report "home", "not_home" or the name of another zone; being in the
    "work" zone is being away from home.
    """
    value = state.state
    if value == STATE_HOME:
        return 1.0
    if value in _NO_READING:
        return None
    return 0.0


# Every other state of these is skipped: the transitional ones (opening, closing,
# locking, unlocking) because the previous reading stays true until the motion
# ends, "jammed" because nobody knows. An open lock (latch pulled) is not locked.
_ON_OFF: Final = _lookup({STATE_OFF: 0.0, STATE_ON: 1.0})
_OPEN_CLOSED: Final = _lookup({STATE_CLOSED: 0.0, STATE_OPEN: 1.0})
_LOCKED_UNLOCKED: Final = _lookup(
    {_STATE_UNLOCKED: 0.0, STATE_OPEN: 0.0, _STATE_LOCKED: 1.0}
)
_SUN: Final = _lookup({_STATE_BELOW_HORIZON: 0.0, _STATE_ABOVE_HORIZON: 1.0})

# Labels of 0 and 1, in that order.
_OFF_ON: Final = ("off", "on")
_CLOSED_OPEN: Final = ("closed", "open")
_UNLOCKED_LOCKED: Final = ("unlocked", "locked")
_NOT_HOME_HOME: Final = ("not home", "home")
_UP_TO_DATE: Final = ("up to date", "update available")

# Domains whose entities have two states by contract.
_TWO_STATE_DOMAINS: Final[Mapping[str, tuple[Converter, tuple[str, str]]]] = {
    "automation": (_ON_OFF, _OFF_ON),
    Platform.BINARY_SENSOR: (_ON_OFF, _OFF_ON),
    Platform.CALENDAR: (_ON_OFF, _OFF_ON),
    Platform.COVER: (_OPEN_CLOSED, _CLOSED_OPEN),
    Platform.DEVICE_TRACKER: (_presence, _NOT_HOME_HOME),
    Platform.FAN: (_ON_OFF, _OFF_ON),
    Platform.HUMIDIFIER: (_ON_OFF, _OFF_ON),
    "input_boolean": (_ON_OFF, _OFF_ON),
    Platform.LIGHT: (_ON_OFF, _OFF_ON),
    Platform.LOCK: (_LOCKED_UNLOCKED, _UNLOCKED_LOCKED),
    "person": (_presence, _NOT_HOME_HOME),
    Platform.REMOTE: (_ON_OFF, _OFF_ON),
    "schedule": (_ON_OFF, _OFF_ON),
    "script": (_ON_OFF, _OFF_ON),
    Platform.SIREN: (_ON_OFF, _OFF_ON),
    "sun": (_SUN, ("below horizon", "above horizon")),
    Platform.SWITCH: (_ON_OFF, _OFF_ON),
    Platform.UPDATE: (_ON_OFF, _UP_TO_DATE),
    Platform.VALVE: (_OPEN_CLOSED, _CLOSED_OPEN),
}

# What off and on mean for a binary sensor of each device class, after Home
# Assistant's own English state names, so a chart in Clarify reads like the
# dashboard ("lock" is the odd one out: on means unlocked).
_BINARY_SENSOR_LABELS: Final[Mapping[str, tuple[str, str]]] = {
    "battery": ("normal", "low"),
    "battery_charging": ("not charging", "charging"),
    "carbon_monoxide": ("clear", "detected"),
    "cold": ("normal", "cold"),
    "connectivity": ("disconnected", "connected"),
    "door": _CLOSED_OPEN,
    "garage_door": _CLOSED_OPEN,
    "gas": ("clear", "detected"),
    "glass_break": ("clear", "detected"),
    "heat": ("normal", "hot"),
    "light": ("no light", "light detected"),
    "lock": ("locked", "unlocked"),
    "moisture": ("dry", "wet"),
    "motion": ("clear", "detected"),
    "moving": ("not moving", "moving"),
    "occupancy": ("clear", "detected"),
    "opening": _CLOSED_OPEN,
    "plug": ("unplugged", "plugged in"),
    "power": _OFF_ON,
    "presence": ("away", "home"),
    "problem": ("ok", "problem"),
    "running": ("not running", "running"),
    "safety": ("safe", "unsafe"),
    "smoke": ("clear", "detected"),
    "sound": ("clear", "detected"),
    "tamper": ("clear", "tampering detected"),
    "update": _UP_TO_DATE,
    "vibration": ("clear", "detected"),
    "window": _CLOSED_OPEN,
}

_OPTIONS_DOMAINS: Final = frozenset({"input_select", Platform.SELECT})

# An entity of a domain not named above (a group, another integration's helper)
# is two-state when its state at setup is one of these...
_TWO_STATES_BY_STATE: Final[Mapping[str, tuple[Converter, tuple[str, str]]]] = {
    STATE_OFF: (_ON_OFF, _OFF_ON),
    STATE_ON: (_ON_OFF, _OFF_ON),
    STATE_CLOSED: (_OPEN_CLOSED, _CLOSED_OPEN),
    STATE_OPEN: (_OPEN_CLOSED, _CLOSED_OPEN),
    STATE_NOT_HOME: (_presence, _NOT_HOME_HOME),
    STATE_HOME: (_presence, _NOT_HOME_HOME),
    _STATE_UNLOCKED: (_LOCKED_UNLOCKED, _UNLOCKED_LOCKED),
    _STATE_LOCKED: (_LOCKED_UNLOCKED, _UNLOCKED_LOCKED),
}
# ... unless "off" is just one of its many states (an HVAC mode; a player that is
# off rather than playing, paused or idle), or its state is a number by contract.
_NEVER_TWO_STATE: Final = frozenset(
    {
        Platform.CLIMATE,
        "counter",
        "input_number",
        Platform.MEDIA_PLAYER,
        Platform.NUMBER,
        Platform.SENSOR,
        Platform.WATER_HEATER,
    }
)


@dataclass(frozen=True, slots=True)
class Conversion:
    """How the states of one entity become Clarify values, decided at setup.

    `convert` is the hot path: it returns a finite float, or None to skip the
    reading. For binary and options conversions the float is an enum index.
    """

    kind: ConversionKind
    convert: Converter
    # Labels of the enum indices of a binary conversion (0 first).
    enum_labels: tuple[str, ...] = ()
    # The state attribute read instead of the state, if any.
    attribute: str | None = None


def is_valid_input_key(key: str) -> bool:
    """Return whether Clarify accepts `key` as an input key."""
    return INPUT_KEY_PATTERN.fullmatch(key) is not None


def default_input_key(entity_id: str) -> str:
    """Return the input key an entity gets unless the user picks another.

    That is the entity ID, which matches Clarify's rule for every ordinary entity.
    The rare one that does not (longer than 128 characters, or with non-ASCII
    digits, which Home Assistant allows) gets a readable stand-in with a hash of
    the entity ID, so the default is always valid and stays the same across runs.
    """
    if is_valid_input_key(entity_id):
        return entity_id
    digest = hashlib.sha256(entity_id.encode()).hexdigest()[:12]
    readable = _NOT_INPUT_KEY_CHARS.sub("_", entity_id)
    return f"{readable[: MAX_INPUT_KEY_LENGTH - len(digest) - 1]}#{digest}"


def conversion_for(
    entity_id: str, *, attribute: str | None = None, state: State | None = None
) -> Conversion:
    """Decide how the states of `entity_id` become Clarify values.

    Pass the entity's current `state` when there is one: an enum sensor, the
    device class of a binary sensor, and the kind of an entity of an unlisted
    domain can only be told from it. Without it such entities fall back to the
    plain defaults (numeric, "off"/"on").
    """
    if attribute is not None:
        return Conversion(
            "numeric", _attribute_converter(attribute), attribute=attribute
        )

    domain = entity_id.partition(".")[0]
    attributes: Mapping[str, Any] = state.attributes if state is not None else {}

    if two_state := _TWO_STATE_DOMAINS.get(domain):
        convert, labels = two_state
        if domain == Platform.BINARY_SENSOR:
            labels = _BINARY_SENSOR_LABELS.get(
                _str_or_empty(attributes.get(ATTR_DEVICE_CLASS)), labels
            )
        return Conversion("binary", convert, labels)
    if domain in _OPTIONS_DOMAINS or (
        domain == Platform.SENSOR
        and attributes.get(ATTR_DEVICE_CLASS) == _DEVICE_CLASS_ENUM
    ):
        return Conversion("options", _option_index)
    if (
        state is not None
        and domain not in _NEVER_TWO_STATE
        and (two_state := _TWO_STATES_BY_STATE.get(state.state))
    ):
        return Conversion("binary", *two_state)
    return Conversion("numeric", _numeric)


def _numeric(state: State) -> float | None:
    """Return the state as a finite float, or None."""
    try:
        value = float(state.state)
    except ValueError:
        return None
    return value if isfinite(value) else None


def _option_index(state: State) -> float | None:
    """Return the index of the state among the entity's options, or None.

    The options are read from each state because an entity may change them; a
    state outside the first `MAX_ENUM_VALUES` options has no index Clarify takes.
    """
    options = state.attributes.get(_ATTR_OPTIONS)
    if not isinstance(options, (list, tuple)):
        return None
    try:
        return float(options.index(state.state, 0, MAX_ENUM_VALUES))
    except ValueError:
        return None


def _attribute_converter(attribute: str) -> Converter:
    """Return a converter that reads `attribute` and ignores the state."""

    def convert(state: State) -> float | None:
        return _number_from_value(state.attributes.get(attribute))

    return convert


def _number_from_value(value: Any) -> float | None:
    """Return an attribute value as a finite float, or None.

    Numbers and numeric strings count; booleans read as 1 and 0. Containers, None
    and everything else are not a reading.
    """
    # bool first: it is an int, and float(True) would work, but only by accident.
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):  # OverflowError: an int beyond float range
        return None
    return number if isfinite(number) else None


@dataclass(frozen=True, slots=True)
class SignalContext:
    """What Home Assistant knows about an entity beyond its state.

    Names, not ids: Clarify users read them. Each is None when unknown.
    """

    # The name given in the entity registry, preferred to the friendly name.
    name: str | None = None
    area: str | None = None
    floor: str | None = None
    device: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    # The integration that provides the entity (its platform).
    integration: str | None = None
    # Home Assistant's labels of the entity and of its device.
    labels: tuple[str, ...] = ()
    # The name of this Home Assistant (its location name).
    instance: str | None = None
    # Clarify's gap detection for the signal, an ISO 8601 duration.
    gap_detection: str | None = None


def sends_numbers(entity_id: str, state: State) -> bool:
    """Whether an entity's states become numbers: two-state, options, or numeric.

    What entities matched by a target are limited to by default. A numeric
    entity counts when it has a unit or a state class, or when its state is a
    number now: a weather entity's "sunny" or a climate's "heat" does not.
    """
    if conversion_for(entity_id, state=state).kind != "numeric":
        return True
    attributes = state.attributes
    if attributes.get(ATTR_UNIT_OF_MEASUREMENT) or attributes.get(_ATTR_STATE_CLASS):
        return True
    return _numeric(state) is not None


def signal_metadata(
    entity_id: str,
    input_key: str,
    conversion: Conversion,
    state: State | None,
    *,
    name: str | None = None,
    area: str | None = None,
    device: str | None = None,
    context: SignalContext | None = None,
) -> dict[str, Any]:
    """Return the full Clarify SignalSave for one signal of an entity.

    saveSignals replaces every field it is given and resets the ones it is not, so
    every field is present, and only the two durations are ever null. Every
    text is cut to Clarify's limits: nothing Home Assistant holds can make the
    call invalid.

    `context` says what the registries know; `name`, `area` and `device` are
    shorthands for its fields of those names. For an attribute the attribute is
    appended to the name, so the signals of one entity can be told apart.
    `input_key` is not part of a SignalSave (it keys the request); it names the
    signal of an entity without a name.
    """
    context = context or SignalContext()
    name = name or context.name
    area = area or context.area
    device = device or context.device
    attributes: Mapping[str, Any] = state.attributes if state is not None else {}
    attribute = conversion.attribute

    base_name = (
        _str_or_empty(name).strip()
        or _str_or_empty(attributes.get(ATTR_FRIENDLY_NAME)).strip()
        or entity_id
        or input_key
    )
    description = f"Home Assistant entity {entity_id}"
    if attribute is not None:
        base_name = f"{base_name} {attribute.replace('_', ' ')}"
        description = f"{description}, attribute {attribute}"
    if device:
        description += f", of the device {device}"
    if context.integration:
        description += f", from the integration {context.integration}"
    if area:
        description += f", in the area {area}"

    labels: dict[str, list[str]] = {
        LABEL_SOURCE: [SOURCE_HOME_ASSISTANT],
        LABEL_DOMAIN: [entity_id.partition(".")[0]],
        LABEL_DEVICE_CLASS: [_str_or_empty(attributes.get(ATTR_DEVICE_CLASS))],
        LABEL_STATE_CLASS: [_str_or_empty(attributes.get(_ATTR_STATE_CLASS))],
        LABEL_AREA: [_str_or_empty(area)],
        LABEL_FLOOR: [_str_or_empty(context.floor)],
        LABEL_DEVICE: [_str_or_empty(device)],
        LABEL_MANUFACTURER: [_str_or_empty(context.manufacturer)],
        LABEL_MODEL: [_str_or_empty(context.model)],
        LABEL_INTEGRATION: [_str_or_empty(context.integration)],
        LABEL_HA_LABEL: list(context.labels),
        LABEL_INSTANCE: [_str_or_empty(context.instance)],
    }

    annotations = {ANNOTATION_ENTITY_ID: entity_id}
    if attribute is not None:
        annotations[ANNOTATION_ATTRIBUTE] = attribute

    # A unit describes the state, not its attributes, and an enum has none.
    eng_unit = ""
    if conversion.kind == "numeric" and attribute is None:
        eng_unit = _str_or_empty(attributes.get(ATTR_UNIT_OF_MEASUREMENT))

    enum_values: dict[str, str] = {}
    if conversion.kind == "options":
        options = attributes.get(_ATTR_OPTIONS)
        if isinstance(options, (list, tuple)):
            enum_values = _enum_values(options)
    else:
        enum_values = _enum_values(conversion.enum_labels)

    return {
        "name": base_name[:MAX_NAME_LENGTH],
        "description": description[:MAX_DESCRIPTION_LENGTH],
        # Clarify takes no empty label, and a missing one says the same.
        "labels": {
            key: cleaned
            for key, values in labels.items()
            if (cleaned := _label_values(values))
        },
        "engUnit": eng_unit[:MAX_NAME_LENGTH],
        "sourceType": "measurement",
        "valueType": "numeric" if conversion.kind == "numeric" else "enum",
        "enumValues": enum_values,
        "sampleInterval": None,
        "gapDetection": context.gap_detection,
        "annotations": annotations,
    }


def _label_values(values: list[str]) -> list[str]:
    """Label values as Clarify takes them: trimmed, non-empty, unique, not too long."""
    cleaned: list[str] = []
    for value in values:
        text = _str_or_empty(value).strip()[:MAX_LABEL_VALUE_LENGTH]
        if text and text not in cleaned:
            cleaned.append(text)
    return cleaned


def _enum_values(labels: Sequence[Any]) -> dict[str, str]:
    """Return Clarify's enumValues for labels listed by index.

    Labels that are not text or are empty are left out (the others keep their
    index), and long ones are cut to Clarify's limit.
    """
    return {
        str(index): label[:MAX_ENUM_LABEL_LENGTH]
        for index, label in enumerate(labels[:MAX_ENUM_VALUES])
        if isinstance(label, str) and label
    }


def _str_or_empty(value: Any) -> str:
    """Return `value` if it is a string, else ""."""
    return value if isinstance(value, str) else ""


def reading_time_us(state: State) -> int:
    """Return the time of a reading, `state.last_updated`, in exact microseconds.

    The datetime is the reading's time as Home Assistant shows and records it.
    Scaling the float `last_updated_timestamp` by a million is a microsecond
    off for about one time in eight; datetime arithmetic is exact but twice as
    slow, and this runs for every state change. So the microseconds come from
    the datetime and only the whole seconds from the float: the two never
    differ by a microsecond or more, so rounding finds the second exactly.
    """
    micro = state.last_updated.microsecond
    return round(state.last_updated_timestamp - micro / 1e6) * 1_000_000 + micro


def reported_time_us(state: State) -> int:
    """Return the time an unchanged state was reported, in exact microseconds.

    As `reading_time_us`, for `state.last_reported`.
    """
    micro = state.last_reported.microsecond
    return round(state.last_reported_timestamp - micro / 1e6) * 1_000_000 + micro


def gap_detection(heartbeat_minutes: int) -> str | None:
    """Clarify's gap detection for signals re-sent every `heartbeat_minutes`.

    The heartbeat is checked every half minute, so a steady signal has a point
    at least every heartbeat plus half a minute; a longer silence is a gap.
    """
    return f"PT{heartbeat_minutes + 1}M" if heartbeat_minutes > 0 else None


def metadata_hash(metadata: Mapping[str, Any]) -> str:
    """Return a digest of signal metadata that is stable across runs and key order."""
    return hashlib.sha256(
        orjson.dumps(metadata, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
