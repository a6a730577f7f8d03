"""Fix flows for the repair issues a user can settle from Home Assistant's UI.

- A picked entity that no longer exists: remove it from the options, or give
  its input keys to another entity, so that the Clarify signal goes on.
- Readings Clarify refused: send them again, once the cause is fixed.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.selector import EntitySelector, EntitySelectorConfig

from .const import CONF_ENTITIES, CONF_ENTITY, DOMAIN
from .entry import ClarifyConfigEntry, EntityMapping
from .issues import ISSUE_SERIES_REJECTED

_STEP_REMAP = "remap"
_STEP_REMOVE = "remove"


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Create the fix flow of one of this integration's issues."""
    data = data or {}
    entry_id = str(data.get("entry_id", ""))
    if data.get("kind") == ISSUE_SERIES_REJECTED:
        return ResendRefusedFlow(entry_id, issue_id, str(data.get("input_key", "")))
    return MissingEntityFlow(entry_id, issue_id, str(data.get("entity", "")))


class _EntryFlow(RepairsFlow):
    """A fix flow bound to one entry and one of its issues."""

    def __init__(self, entry_id: str, issue_id: str) -> None:
        self._entry_id = entry_id
        self._issue_id = issue_id

    def _placeholders(self) -> dict[str, str]:
        """The issue's own placeholders, for the steps' texts."""
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self._issue_id)
        return dict(issue.translation_placeholders or {}) if issue else {}

    def _entry(self) -> ClarifyConfigEntry | None:
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None or entry.domain != DOMAIN:
            return None
        return entry


class MissingEntityFlow(_EntryFlow):
    """A picked entity is gone: remove it, or let another entity feed its signals."""

    def __init__(self, entry_id: str, issue_id: str, entity: str) -> None:
        """Name the entry, the issue and the mapping's entity (its old registry id)."""
        super().__init__(entry_id, issue_id)
        self._entity = entity

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> FlowResult:
        """Offer the two ways out."""
        if self._mapping() is None:
            return self.async_abort(reason="already_fixed")
        return self.async_show_menu(
            step_id="init",
            menu_options=[_STEP_REMAP, _STEP_REMOVE],
            description_placeholders=self._placeholders(),
        )

    async def async_step_remap(
        self, user_input: dict[str, Any] | None = None
    ) -> FlowResult:
        """Pick the entity that feeds the signals from now on."""
        if (mapping := self._mapping()) is None:
            return self.async_abort(reason="already_fixed")
        errors: dict[str, str] = {}
        if user_input is not None:
            entity_id = user_input[CONF_ENTITY]
            registry_entry = er.async_get(self.hass).async_get(entity_id)
            entity = registry_entry.id if registry_entry else entity_id
            if any(
                other.entity == entity for other in self._mappings() if other != mapping
            ):
                errors[CONF_ENTITY] = "already_sent"
            else:
                self._save(
                    [
                        EntityMapping(
                            entity, other.input_key, other.attribute, other.attributes
                        )
                        if other == mapping
                        else other
                        for other in self._mappings()
                    ]
                )
                return self.async_create_entry(data={})
        return self.async_show_form(
            step_id=_STEP_REMAP,
            data_schema=vol.Schema(
                {vol.Required(CONF_ENTITY): EntitySelector(EntitySelectorConfig())}
            ),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    async def async_step_remove(
        self, user_input: dict[str, Any] | None = None
    ) -> FlowResult:
        """Stop sending for the entity: its mapping leaves the options."""
        if (mapping := self._mapping()) is None:
            return self.async_abort(reason="already_fixed")
        if user_input is not None:
            self._save([other for other in self._mappings() if other != mapping])
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id=_STEP_REMOVE, description_placeholders=self._placeholders()
        )

    def _mappings(self) -> list[EntityMapping]:
        entry = self._entry()
        if entry is None:
            return []
        return [
            EntityMapping.from_option(option)
            for option in entry.options.get(CONF_ENTITIES, ())
        ]

    def _mapping(self) -> EntityMapping | None:
        return next(
            (mapping for mapping in self._mappings() if mapping.entity == self._entity),
            None,
        )

    def _save(self, mappings: list[EntityMapping]) -> None:
        entry = self._entry()
        assert entry is not None
        self.hass.config_entries.async_update_entry(
            entry,
            options={
                **entry.options,
                CONF_ENTITIES: [mapping.as_option() for mapping in mappings],
            },
        )


class ResendRefusedFlow(_EntryFlow):
    """Send readings Clarify refused again, after the cause was fixed."""

    def __init__(self, entry_id: str, issue_id: str, input_key: str) -> None:
        """Name the entry, the issue and the refused series."""
        super().__init__(entry_id, issue_id)
        self._input_key = input_key

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> FlowResult:
        """Start with the confirmation (what comes in here is the issue's data)."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> FlowResult:
        """Confirm, then send them again."""
        entry = self._entry()
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="not_loaded")
        if user_input is not None:
            await entry.runtime_data.exporter.async_resend_set_aside([self._input_key])
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm", description_placeholders=self._placeholders()
        )
