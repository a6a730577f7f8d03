"""Actions of the Clarify integration, for automations and scripts."""

from __future__ import annotations

from datetime import datetime, timedelta
import math
from typing import Any, Final

import voluptuous as vol

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType

from .backfill import BackfillRefusedError
from .buffer import datetime_to_us
from .const import DOMAIN
from .entry import ClarifyConfigEntry
from .sender import FlushError
from .signals import (
    LABEL_INSTANCE,
    LABEL_SOURCE,
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    SOURCE_HOME_ASSISTANT,
    is_valid_input_key,
)

SERVICE_FLUSH: Final = "flush"
SERVICE_RESEND_REJECTED: Final = "resend_rejected"
SERVICE_BACKFILL: Final = "backfill"
SERVICE_INSERT: Final = "insert"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_INPUT_KEYS: Final = "input_keys"
ATTR_START: Final = "start"
ATTR_END: Final = "end"
ATTR_DURATION: Final = "duration"
ATTR_STATISTICS: Final = "statistics"
ATTR_OVERWRITE: Final = "overwrite"
ATTR_DATA: Final = "data"
ATTR_KEY: Final = "key"
ATTR_VALUE: Final = "value"
ATTR_TIME: Final = "time"
ATTR_NAME: Final = "name"
ATTR_UNIT: Final = "unit"
# How far in the future an inserted reading may lie (clocks differ a little).
INSERT_FUTURE_SLACK: Final = timedelta(minutes=1)
ANNOTATION_SOURCE: Final = "home-assistant/source"

FLUSH_SCHEMA: Final = vol.Schema({vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})
RESEND_REJECTED_SCHEMA: Final = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_INPUT_KEYS): vol.All(cv.ensure_list, [cv.string]),
    }
)
BACKFILL_SCHEMA: Final = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_ENTITY_ID): cv.entity_ids,
        vol.Optional(ATTR_START): cv.datetime,
        vol.Optional(ATTR_END): cv.datetime,
        vol.Optional(ATTR_DURATION): cv.positive_time_period,
        vol.Optional(ATTR_STATISTICS, default=False): cv.boolean,
        vol.Optional(ATTR_OVERWRITE, default=False): cv.boolean,
    }
)
# Values and keys are checked by the action itself, to say what is wrong in
# the user's language.
INSERT_SCHEMA: Final = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_DATA): dict,
        vol.Optional(ATTR_KEY): cv.string,
        vol.Optional(ATTR_VALUE): object,
        vol.Optional(ATTR_TIME): cv.datetime,
        vol.Optional(ATTR_NAME): cv.string,
        vol.Optional(ATTR_UNIT): cv.string,
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions; they live as long as Home Assistant runs."""
    hass.services.async_register(DOMAIN, SERVICE_FLUSH, _async_flush, FLUSH_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        SERVICE_RESEND_REJECTED,
        _async_resend_rejected,
        RESEND_REJECTED_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_BACKFILL,
        _async_backfill,
        BACKFILL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(DOMAIN, SERVICE_INSERT, _async_insert, INSERT_SCHEMA)


async def _async_flush(call: ServiceCall) -> None:
    """Send the buffered readings now, and say so when that was not possible."""
    problems: list[tuple[ClarifyConfigEntry, FlushError]] = []
    for entry in _entries(call):
        try:
            await entry.runtime_data.exporter.async_flush()
        except FlushError as err:
            problems.append((entry, err))
    if problems:
        failed, problem = problems[0]
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=problem.kind,
            translation_placeholders={
                "title": failed.title,
                "reason": problem.reason,
                "retry_in": str(problem.retry_in),
            },
        )


async def _async_resend_rejected(call: ServiceCall) -> ServiceResponse:
    """Send readings Clarify refused again, after the cause was fixed."""
    keys: list[str] | None = call.data.get(ATTR_INPUT_KEYS)
    resent: dict[str, JsonValueType] = {
        entry.entry_id: await entry.runtime_data.exporter.async_resend_set_aside(keys)
        for entry in _entries(call)
    }
    return {"resent": resent}


async def _async_backfill(call: ServiceCall) -> ServiceResponse:
    """Send the recorder's history of the entry's entities."""
    entry = _one_entry(call)
    exporter = entry.runtime_data.exporter
    tracked = {plan.entity_id for plan in exporter.listener.plans() if plan.signals}
    entity_ids: list[str] = call.data.get(ATTR_ENTITY_ID) or sorted(tracked)
    if not entity_ids:
        raise _error("backfill_nothing_sent", title=entry.title)
    for entity_id in entity_ids:
        if entity_id not in tracked:
            raise _error("backfill_not_sent", entity_id=entity_id, title=entry.title)
    try:
        window = await exporter.backfill.async_request(
            entity_ids,
            start=call.data.get(ATTR_START),
            end=call.data.get(ATTR_END),
            duration=call.data.get(ATTR_DURATION),
            statistics_wanted=call.data[ATTR_STATISTICS],
            overwrite=call.data[ATTR_OVERWRITE],
        )
    except BackfillRefusedError as err:
        raise _error(err.translation_key, **err.placeholders) from err
    return {
        "entities": len(entity_ids),
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
    }


async def _async_insert(call: ServiceCall) -> None:
    """Put values into input keys of an entry, as readings like any other."""
    entry = _one_entry(call)
    exporter = entry.runtime_data.exporter
    data = call.data
    if ATTR_DATA in data and (ATTR_KEY in data or ATTR_VALUE in data):
        raise _error("insert_data_and_key")
    if ATTR_DATA in data:
        given: dict[Any, Any] = data[ATTR_DATA]
    elif ATTR_KEY in data and ATTR_VALUE in data:
        given = {data[ATTR_KEY]: data[ATTR_VALUE]}
    else:
        raise _error("insert_nothing")
    if not given:
        raise _error("insert_nothing")
    readings: dict[str, float] = {}
    for key, value in given.items():
        if not isinstance(key, str) or not is_valid_input_key(key):
            raise _error("insert_invalid_key", key=str(key))
        readings[key] = _finite(key, value)
    now = dt_util.utcnow()
    moment: datetime = dt_util.as_utc(data.get(ATTR_TIME) or now)
    if moment > now + INSERT_FUTURE_SLACK:
        raise _error("insert_in_future", time=moment.isoformat())
    name: str | None = data.get(ATTR_NAME)
    unit: str | None = data.get(ATTR_UNIT)
    if name is not None and len(readings) > 1:
        raise _error("insert_name_for_one_key")
    if name is not None or unit is not None:
        for key in readings:
            if (plan := exporter.listener.entity_of(key)) is not None:
                raise _error("insert_key_of_entity", key=key, entity_id=plan.entity_id)
        for key in readings:
            exporter.metadata.offer(
                key, inserted_metadata(call.hass, key, name=name, unit=unit)
            )
    time_us = datetime_to_us(moment)
    for key, value in readings.items():
        exporter.buffer.series(key).append(time_us, value)


def _finite(key: str, value: Any) -> float:
    """An inserted value as a finite float, or a translated error."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _error("insert_not_a_number", key=key, value=str(value))
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise _error("insert_not_a_number", key=key, value=str(value)) from None
    if not math.isfinite(number):
        raise _error("insert_not_finite", key=key, value=str(value))
    return number


def inserted_metadata(
    hass: HomeAssistant, key: str, *, name: str | None, unit: str | None
) -> dict[str, Any]:
    """The full SignalSave of a signal fed by the insert action."""
    labels = {LABEL_SOURCE: [SOURCE_HOME_ASSISTANT]}
    if instance := hass.config.location_name.strip():
        labels[LABEL_INSTANCE] = [instance[:MAX_NAME_LENGTH]]
    return {
        "name": (name or key).strip()[:MAX_NAME_LENGTH] or key,
        "description": (
            "Values written by Home Assistant's clarify.insert action"
            f" under the input key {key}"
        )[:MAX_DESCRIPTION_LENGTH],
        "labels": labels,
        "engUnit": (unit or "").strip()[:MAX_NAME_LENGTH],
        "sourceType": "measurement",
        "valueType": "numeric",
        "enumValues": {},
        "sampleInterval": None,
        "gapDetection": None,
        "annotations": {ANNOTATION_SOURCE: f"{DOMAIN}.{SERVICE_INSERT}"},
    }


def _error(translation_key: str, /, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=translation_key,
        translation_placeholders=placeholders or None,
    )


def _one_entry(call: ServiceCall) -> ClarifyConfigEntry:
    """The entry an action for one entry is for: named, or the only one loaded."""
    if ATTR_CONFIG_ENTRY_ID in call.data:
        return _entries(call)[0]
    entries = _entries(call)
    if len(entries) > 1:
        raise _error("entry_required")
    return entries[0]


def _entries(call: ServiceCall) -> list[ClarifyConfigEntry]:
    """The loaded entries an action call is for: the one named, or all of them."""
    hass = call.hass
    if (entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID)) is None:
        entries: list[ClarifyConfigEntry] = hass.config_entries.async_loaded_entries(
            DOMAIN
        )
        if not entries:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="no_loaded_entries"
            )
        return entries
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={ATTR_CONFIG_ENTRY_ID: entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    return [entry]
