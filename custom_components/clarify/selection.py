"""Which entities an entry sends: picked ones, and those its targets match.

The user picks entities one by one and/or names targets: areas, floors, labels,
devices and domains, minus an exclude list. Targets follow Home Assistant's own
rules for actions: an area means the entities in it and the entities of its
devices that have no area of their own; a label means the labelled entities,
devices and areas; hidden entities and (except for a labelled entity itself)
configuration and diagnostic entities are left out. Releases that ship
`homeassistant.helpers.target` resolve targets with it; older ones with the
same rules written out here, and the tests hold both to the same results.

`resolve_in_slices` is run at setup, when the options change and when a
registry changes, so an entity that starts or stops matching is followed at
once. It hands the event loop back every `RESOLVE_SLICE` entities: an entry of
thousands of entities never holds the loop for long (`resolve` runs it through
in one go, for the options flow).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
import importlib
from typing import Any, Final

from homeassistant.const import ATTR_AREA_ID, ATTR_DEVICE_ID, ATTR_FLOOR_ID
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
)

from .const import DOMAIN
from .entry import ClarifyOptions, EntityMapping
from .signals import default_input_key, sends_numbers

ATTR_LABEL_ID: Final = "label_id"
# Entities worked out before `resolve_in_slices` hands the event loop back:
# some 3 ms of work here.
RESOLVE_SLICE: Final = 500


def _home_assistant_resolver() -> (
    Callable[[HomeAssistant, dict[str, Any]], set[str]] | None
):
    """Home Assistant's own target resolution, where the release has it.

    Imported by name: the module and its API are newer than the oldest release
    supported (and than the type stubs checked against).
    """
    try:
        module = importlib.import_module("homeassistant.helpers.target")
    except ImportError:
        return None
    selection_class = getattr(module, "TargetSelection", None)
    extract = getattr(module, "async_extract_referenced_entity_ids", None)
    if selection_class is None or extract is None:
        return None

    def resolve_with_home_assistant(
        hass: HomeAssistant, config: dict[str, Any]
    ) -> set[str]:
        selected = extract(hass, selection_class(config), expand_group=False)
        return set(selected.referenced | selected.indirectly_referenced)

    return resolve_with_home_assistant


_HOME_ASSISTANT_RESOLVER: Final = _home_assistant_resolver()


@dataclass(frozen=True, slots=True)
class SignalPlan:
    """One signal fed by an entity: its input key and what it reads."""

    input_key: str
    # The attribute read, or None for the state itself.
    attribute: str | None = None


@dataclass(frozen=True, slots=True)
class EntityPlan:
    """A tracked entity and the signals its states feed."""

    entity_id: str
    # The registry id, or the entity ID of an entity without a registry entry.
    entity: str
    signals: tuple[SignalPlan, ...]
    # Picked by the user (always sent), rather than matched by a target.
    picked: bool
    # At most one reading per this many seconds (0: one per second).
    min_interval: int = 0


@dataclass(slots=True)
class Selection:
    """What an entry sends now."""

    plans: dict[str, EntityPlan]
    # Picked entities that no longer exist (deleted, or their integration gone).
    missing: list[EntityMapping]
    # Input keys newly given to entities matched by a target, to remember.
    new_keys: dict[str, str]
    # Entities a target matches whose states are not numbers (left out).
    not_numeric: int = 0


def resolve(
    hass: HomeAssistant, options: ClarifyOptions, keys: Mapping[str, str]
) -> Selection:
    """Work out the entities to track and the signals each feeds, in one go."""
    steps = resolve_in_slices(hass, options, keys)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            selection: Selection = done.value
            return selection


def resolve_in_slices(
    hass: HomeAssistant, options: ClarifyOptions, keys: Mapping[str, str]
) -> Generator[None, None, Selection]:
    """Work out the entities to track and the signals each feeds.

    Yields after every `RESOLVE_SLICE` entities, so that the caller can let
    the event loop run; returns the selection. The registries and states it
    reads may change between slices: the caller resolves again when they do.

    `keys` holds the input keys given earlier to entities matched by a
    target, by registry id, so that a renamed entity keeps feeding its signal.
    """
    registry = er.async_get(hass)
    plans: dict[str, EntityPlan] = {}
    missing: list[EntityMapping] = []
    used: set[str] = set()
    for number, mapping in enumerate(options.mappings, 1):
        if not number % RESOLVE_SLICE:
            yield
        entity_id = er.async_resolve_entity_id(registry, mapping.entity)
        if entity_id is None:
            # A registry id that no longer resolves: the entity was deleted.
            missing.append(mapping)
            continue
        signals = tuple(
            SignalPlan(key, attribute) for attribute, key in mapping.signals()
        )
        used.update(signal.input_key for signal in signals)
        plans[entity_id] = EntityPlan(
            entity_id,
            mapping.entity,
            signals,
            picked=True,
            min_interval=mapping.min_interval,
        )

    new_keys: dict[str, str] = {}
    not_numeric = 0
    excluded = set(options.exclude)
    for number, entity_id in enumerate(sorted(matching_entities(hass, options)), 1):
        if not number % RESOLVE_SLICE:
            yield
        if entity_id in plans:
            continue
        entry = registry.async_get(entity_id)
        entity = entry.id if entry is not None else entity_id
        if entity in excluded or entity_id in excluded:
            continue
        state = hass.states.get(entity_id)
        # Without a state yet it is tracked, and its first state decides.
        if (
            options.numeric_only
            and state is not None
            and not sends_numbers(entity_id, state)
        ):
            not_numeric += 1
            continue
        key = keys.get(entity)
        if key is None or key in used:
            key = _free_key(default_input_key(entity_id), used)
            new_keys[entity] = key
        used.add(key)
        plans[entity_id] = EntityPlan(
            entity_id, entity, (SignalPlan(key),), picked=False
        )
    return Selection(plans, missing, new_keys, not_numeric)


def matching_entities(hass: HomeAssistant, options: ClarifyOptions) -> set[str]:
    """The entity IDs the entry's targets and domains match.

    The status entities of this integration are never among them: sending
    the count of readings sent would feed itself.
    """
    matched = _matching_entities(hass, options)
    registry = er.async_get(hass)
    return {
        entity_id
        for entity_id in matched
        if (entry := registry.async_get(entity_id)) is None or entry.platform != DOMAIN
    }


def _matching_entities(hass: HomeAssistant, options: ClarifyOptions) -> set[str]:
    matched: set[str] = set()
    targets = options.targets
    if any(targets.values()):
        matched |= _resolve_targets(hass, targets)
    if options.domains:
        domains = set(options.domains)
        matched.update(
            state.entity_id
            for state in hass.states.async_all(list(domains))
            if not _hidden(hass, state.entity_id)
        )
        matched.update(
            entry.entity_id
            for entry in er.async_get(hass).entities.values()
            if entry.domain in domains
            and entry.hidden_by is None
            and entry.disabled_by is None
        )
    return matched


def _resolve_targets(hass: HomeAssistant, targets: Mapping[str, list[str]]) -> set[str]:
    config = {
        ATTR_AREA_ID: list(targets.get(ATTR_AREA_ID, [])),
        ATTR_DEVICE_ID: list(targets.get(ATTR_DEVICE_ID, [])),
        ATTR_FLOOR_ID: list(targets.get(ATTR_FLOOR_ID, [])),
        ATTR_LABEL_ID: list(targets.get(ATTR_LABEL_ID, [])),
    }
    if _HOME_ASSISTANT_RESOLVER is not None:
        return _HOME_ASSISTANT_RESOLVER(hass, config)
    return resolve_targets_here(hass, config)


def resolve_targets_here(
    hass: HomeAssistant, targets: Mapping[str, Iterable[str]]
) -> set[str]:
    """Home Assistant's rules for targets, for releases without its helper.

    As in Home Assistant 2026.10: devices connected through a targeted one
    (via_device) are not included.
    """
    entities = er.async_get(hass)
    devices = dr.async_get(hass)
    areas = ar.async_get(hass)
    matched: set[str] = set()
    referenced_devices: set[str] = set()
    referenced_areas: set[str] = set(targets.get(ATTR_AREA_ID, ()))

    referenced_devices.update(targets.get(ATTR_DEVICE_ID, ()))
    for label_id in targets.get(ATTR_LABEL_ID, ()):
        matched.update(
            entry.entity_id
            for entry in er.async_entries_for_label(entities, label_id)
            if entry.hidden_by is None
        )
        referenced_devices.update(
            device.id for device in dr.async_entries_for_label(devices, label_id)
        )
        referenced_areas.update(
            area.id for area in ar.async_entries_for_label(areas, label_id)
        )
    for floor_id in targets.get(ATTR_FLOOR_ID, ()):
        referenced_areas.update(
            area.id for area in ar.async_entries_for_floor(areas, floor_id)
        )

    def primary(entry: er.RegistryEntry) -> bool:
        return entry.hidden_by is None and entry.entity_category is None

    for device_id in referenced_devices:
        matched.update(
            entry.entity_id
            for entry in er.async_entries_for_device(entities, device_id)
            if primary(entry)
        )
    for area_id in referenced_areas:
        matched.update(
            entry.entity_id
            for entry in er.async_entries_for_area(entities, area_id)
            if primary(entry)
        )
        for device in dr.async_entries_for_area(devices, area_id):
            matched.update(
                entry.entity_id
                for entry in er.async_entries_for_device(entities, device.id)
                if primary(entry) and not entry.area_id
            )
    return matched


def _hidden(hass: HomeAssistant, entity_id: str) -> bool:
    entry = er.async_get(hass).async_get(entity_id)
    return entry is not None and (
        entry.hidden_by is not None or entry.disabled_by is not None
    )


def _free_key(key: str, used: set[str]) -> str:
    """`key`, or with a number added when another signal has it already."""
    if key not in used:
        return key
    for number in range(2, 10_000):
        candidate = f"{key[:120]}_{number}"
        if candidate not in used:
            return candidate
    raise RuntimeError("no free input key")  # pragma: no cover - 10,000 clashes
