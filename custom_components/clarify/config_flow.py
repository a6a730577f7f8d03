"""Config flow for Clarify: connect, re-authenticate and reconfigure."""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from datetime import timedelta
import logging
from typing import Any

import orjson
import voluptuous as vol

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TargetSelector,
    TargetSelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .api import (
    DEFAULT_API_URL,
    ClarifyAuthError,
    ClarifyClient,
    ClarifyCredentials,
    ClarifyError,
    ClarifyForbiddenError,
    ClarifyRetryableError,
    ClarifyUnexpectedError,
    InvalidApiUrlError,
    InvalidCredentialsError,
)
from .backfill import BackfillRefusedError, async_check_window, recorder_loaded
from .const import (
    CONF_API_URL,
    CONF_ATTRIBUTE,
    CONF_ATTRIBUTES,
    CONF_BUFFER_CAPACITY,
    CONF_CREDENTIALS_FILE,
    CONF_DOMAINS,
    CONF_ENTITIES,
    CONF_ENTITY,
    CONF_EXCLUDE,
    CONF_FLUSH_INTERVAL,
    CONF_HEARTBEAT,
    CONF_INPUT_KEY,
    CONF_INTEGRATION_ID,
    CONF_MIN_INTERVAL,
    CONF_NUMERIC_ONLY,
    CONF_REPORT_UNCHANGED,
    CONF_SECRET,
    CONF_TARGETS,
    CONSOLE_URL,
    DEFAULT_BUFFER_CAPACITY,
    DEFAULT_FLUSH_INTERVAL,
    DOMAIN,
    MAX_BUFFER_CAPACITY,
    MAX_FLUSH_INTERVAL,
    MAX_HEARTBEAT,
    MAX_MIN_INTERVAL,
    MIN_BUFFER_CAPACITY,
    MIN_FLUSH_INTERVAL,
)
from .entry import ClarifyOptions, EntityMapping, entry_data_from_credentials
from .selection import resolve
from .signals import default_input_key, is_valid_input_key

_LOGGER = logging.getLogger(__name__)

# Fields of the options step that offers the history of entities just added.
CONF_SEND_HISTORY = "send_history"
CONF_HISTORY_DAYS = "days"
CONF_HISTORY_STATISTICS = "statistics"
MAX_HISTORY_DAYS = 3650

STEP_CREDENTIALS_FILE = "credentials_file"
STEP_BASIC_AUTH = "basic_auth"
AUTH_STEPS = [STEP_CREDENTIALS_FILE, STEP_BASIC_AUTH]

_URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_PASSWORD_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="off")
)
_FILE_SELECTOR = TextSelector(TextSelectorConfig(multiline=True))
_TEXT_SELECTOR = TextSelector()

# Which form field a locally rejected input belongs to, by the `field` the API
# module reports: keyword names for typed fields, JSON paths inside a file.
_LOCAL_ERRORS = {
    "invalid_json": "invalid_json",
    "not_an_object": "invalid_json",
    "missing": "missing_field",
    "invalid_format": "invalid_integration_id",
    "unknown_type": "unknown_credentials_type",
    "id_mismatch": "id_mismatch",
}
_BASIC_FIELDS = {
    "integration_id": CONF_INTEGRATION_ID,
    "password": CONF_SECRET,
    "api_url": CONF_API_URL,
}


class ClarifyConfigFlow(ConfigFlow, domain=DOMAIN):
    """Connect Home Assistant to one Clarify integration."""

    VERSION = 1
    MINOR_VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> ClarifyOptionsFlow:
        """Choose the entities to send, their input keys and the send interval."""
        return ClarifyOptionsFlow()

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Let the user choose how to authenticate."""
        return self.async_show_menu(
            step_id="user",
            menu_options=AUTH_STEPS,
            description_placeholders={"console_url": CONSOLE_URL},
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Clarify rejected the stored credentials: ask for new ones."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Let the user choose how to provide the new credentials."""
        return self.async_show_menu(
            step_id="reauth_confirm",
            menu_options=AUTH_STEPS,
            description_placeholders={
                CONF_INTEGRATION_ID: self._get_reauth_entry().unique_id or ""
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Let the user change the credentials or the API URL."""
        return self.async_show_menu(
            step_id="reconfigure",
            menu_options=AUTH_STEPS,
            description_placeholders={
                CONF_INTEGRATION_ID: self._get_reconfigure_entry().unique_id or ""
            },
        )

    async def async_step_credentials_file(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take the credentials file Clarify hands out, pasted as text."""
        errors: dict[str, str] = {}
        placeholders = {"default_api_url": DEFAULT_API_URL}
        if user_input is not None:
            try:
                credentials = ClarifyCredentials.from_credentials_file(
                    user_input[CONF_CREDENTIALS_FILE],
                    api_url=user_input.get(CONF_API_URL) or None,
                )
            except InvalidCredentialsError as err:
                # Only the URL typed into the form has a field of its own; every
                # other problem is inside the pasted file, named by its JSON path.
                field = (
                    CONF_API_URL if err.field == "api_url" else CONF_CREDENTIALS_FILE
                )
                errors[field] = _local_error(err)
                placeholders["field"] = err.field
            else:
                if not (errors := await self._async_check(credentials)):
                    return await self._async_finish(
                        credentials, _file_name(user_input[CONF_CREDENTIALS_FILE])
                    )
        schema = vol.Schema(
            {
                vol.Required(CONF_CREDENTIALS_FILE): _FILE_SELECTOR,
                vol.Optional(CONF_API_URL): _URL_SELECTOR,
            }
        )
        # A secret is never handed back to the form: the user pastes it again.
        suggested = {
            key: value
            for key, value in (user_input or self._current_values()).items()
            if key == CONF_API_URL
        }
        return self.async_show_form(
            step_id=STEP_CREDENTIALS_FILE,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_basic_auth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take an integration ID and its Basic-auth password."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                credentials = ClarifyCredentials.from_basic(
                    user_input[CONF_INTEGRATION_ID],
                    user_input[CONF_SECRET],
                    user_input[CONF_API_URL],
                )
            except InvalidCredentialsError as err:
                errors[_BASIC_FIELDS[err.field]] = (
                    "required" if err.reason == "missing" else _local_error(err)
                )
            else:
                if not (errors := await self._async_check(credentials)):
                    return await self._async_finish(credentials, None)
        schema = vol.Schema(
            {
                vol.Required(CONF_INTEGRATION_ID): _TEXT_SELECTOR,
                vol.Required(CONF_SECRET): _PASSWORD_SELECTOR,
                vol.Required(CONF_API_URL, default=DEFAULT_API_URL): _URL_SELECTOR,
            }
        )
        suggested = {
            key: value
            for key, value in (user_input or self._current_values()).items()
            if key != CONF_SECRET
        }
        return self.async_show_form(
            step_id=STEP_BASIC_AUTH,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )

    def _current_values(self) -> dict[str, Any]:
        """The stored values a reauth or reconfigure form starts from."""
        if self.source == SOURCE_REAUTH:
            entry = self._get_reauth_entry()
        elif self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
        else:
            return {}
        return {
            CONF_INTEGRATION_ID: entry.data[CONF_INTEGRATION_ID],
            CONF_API_URL: entry.data[CONF_API_URL],
        }

    async def _async_check(self, credentials: ClarifyCredentials) -> dict[str, str]:
        """Ask Clarify whether it accepts the credentials; map failures to errors."""
        client = ClarifyClient(async_get_clientsession(self.hass), credentials)
        try:
            await client.check_credentials()
        except ClarifyForbiddenError:
            return {"base": "forbidden"}
        except ClarifyAuthError:
            return {"base": "invalid_auth"}
        except ClarifyRetryableError:
            return {"base": "cannot_connect"}
        except ClarifyUnexpectedError as err:
            # A proxy, a captive portal or a wrong API URL: not Clarify talking.
            _LOGGER.warning("The Clarify API URL did not answer like Clarify: %s", err)
            return {"base": "unexpected_response"}
        except ClarifyError:
            _LOGGER.exception(
                "Unexpected answer from Clarify while checking credentials"
            )
            return {"base": "unknown"}
        return {}

    async def _async_finish(
        self, credentials: ClarifyCredentials, name: str | None
    ) -> ConfigFlowResult:
        """Create the entry, or update the one being re-authenticated or reconfigured."""
        await self.async_set_unique_id(credentials.integration_id)
        data = entry_data_from_credentials(credentials)
        if self.source == SOURCE_USER:
            self._abort_if_unique_id_configured()
            return self.async_create_entry(
                title=name or f"Clarify {credentials.integration_id}", data=data
            )
        # The entry's buffered readings belong to its integration: credentials of
        # another integration would send them somewhere else.
        self._abort_if_unique_id_mismatch(reason="wrong_integration")
        if self.source == SOURCE_REAUTH:
            entry = self._get_reauth_entry()
            reason = "reauth_successful"
        else:
            entry = self._get_reconfigure_entry()
            reason = "reconfigure_successful"
        # The entry's update listener reloads it when the credentials changed;
        # unchanged ones (Clarify accepts them again) need the reload to resume.
        # (The flow's own update-and-reload helpers differ between the releases
        # this integration supports; this works on all of them.)
        if not self.hass.config_entries.async_update_entry(entry, data=data):
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_abort(reason=reason)


class ClarifyOptionsFlow(OptionsFlow):
    """Choose what to send to Clarify; applied at once, without losing readings."""

    # The registry id (or entity ID) of the mapping the "mapping" step edits.
    _editing: str
    # The mappings being edited and the index of the one whose attribute keys
    # the "attribute_keys" step asks for.
    _mappings: list[EntityMapping]
    _edited: int
    # Targets chosen, waiting for confirmation.
    _pending: dict[str, Any]
    # Picked entities waiting for the "history" step, and the new ones.
    _history_mappings: list[EntityMapping]
    _history_entities: list[str]

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer the three things that can be changed."""
        return self.async_show_menu(
            step_id="init",
            menu_options=["entities", "targets", "entity", "settings"],
        )

    async def async_step_entities(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick the entities to send; new ones start with their entity ID as key."""
        registry = er.async_get(self.hass)
        current = {
            entity_id: mapping
            for mapping in self._options().mappings
            if (entity_id := er.async_resolve_entity_id(registry, mapping.entity))
        }
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            mappings = []
            for entity_id in user_input[CONF_ENTITIES]:
                if (mapping := current.get(entity_id)) is None:
                    registry_entry = registry.async_get(entity_id)
                    mapping = EntityMapping(
                        entity=registry_entry.id if registry_entry else entity_id,
                        input_key=default_input_key(entity_id),
                    )
                mappings.append(mapping)
            if duplicate := _duplicate_key(mappings):
                errors[CONF_ENTITIES] = "duplicate_key"
                placeholders[CONF_INPUT_KEY] = duplicate
            else:
                added = [e for e in user_input[CONF_ENTITIES] if e not in current]
                if added and self._history_possible():
                    self._history_mappings = mappings
                    self._history_entities = added
                    return await self.async_step_history()
                return self._async_save(mappings=mappings)
        schema = vol.Schema(
            {
                vol.Optional(CONF_ENTITIES, default=[]): EntitySelector(
                    EntitySelectorConfig(multiple=True)
                )
            }
        )
        return self.async_show_form(
            step_id="entities",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or {CONF_ENTITIES: list(current)}
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _history_possible(self) -> bool:
        """Whether the history of added entities can be sent: entry and recorder run."""
        return self.config_entry.state is ConfigEntryState.LOADED and recorder_loaded(
            self.hass
        )

    async def async_step_history(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer to send what the recorder holds of the entities just added."""
        errors: dict[str, str] = {}
        placeholders = {
            "entities": ", ".join(self._history_entities),
            "title": self.config_entry.title,
            # What the refusals of a backfill name; filled in by the one met.
            "start": "",
            "end": "",
            "states_from": "",
            "keep_days": "",
            "progress": "",
        }
        if user_input is not None:
            if not user_input.get(CONF_SEND_HISTORY):
                return self._async_save(mappings=self._history_mappings)
            days = user_input.get(CONF_HISTORY_DAYS)
            statistics = bool(user_input.get(CONF_HISTORY_STATISTICS))
            backfill = self.config_entry.runtime_data.exporter.backfill
            try:
                window = await async_check_window(
                    self.hass,
                    self._history_entities,
                    start=None,
                    end=None,
                    duration=timedelta(days=days) if days else None,
                    statistics_wanted=statistics,
                )
                # The options are saved when this step returns, before the
                # backfill reaches the new entities: it finds them tracked.
                backfill.async_start_window(
                    self._history_entities,
                    window,
                    statistics_wanted=statistics,
                    overwrite=False,
                )
            except BackfillRefusedError as err:
                errors["base"] = err.translation_key
                placeholders.update(err.placeholders)
            else:
                return self._async_save(mappings=self._history_mappings)
        schema = vol.Schema(
            {
                vol.Optional(CONF_SEND_HISTORY, default=False): BooleanSelector(),
                vol.Optional(CONF_HISTORY_DAYS): NumberSelector(
                    NumberSelectorConfig(
                        min=1,
                        max=MAX_HISTORY_DAYS,
                        step=1,
                        unit_of_measurement="d",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                vol.Optional(CONF_HISTORY_STATISTICS, default=False): BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="history",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_targets(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Send whole areas, floors, labels, devices or domains, minus exceptions."""
        options = self._options()
        if user_input is not None:
            self._pending = {
                CONF_TARGETS: {
                    kind: list(ids)
                    for kind, ids in (user_input.get(CONF_TARGETS) or {}).items()
                    if ids
                },
                CONF_DOMAINS: list(user_input.get(CONF_DOMAINS, [])),
                CONF_EXCLUDE: [
                    _registry_id(self.hass, entity_id)
                    for entity_id in user_input.get(CONF_EXCLUDE, [])
                ],
                CONF_NUMERIC_ONLY: bool(user_input.get(CONF_NUMERIC_ONLY, True)),
            }
            return await self.async_step_targets_confirm()
        registry = er.async_get(self.hass)
        domains = sorted(
            {state.domain for state in self.hass.states.async_all()}
            | {entry.domain for entry in registry.entities.values()}
        )
        schema = vol.Schema(
            {
                vol.Optional(CONF_TARGETS): TargetSelector(
                    TargetSelectorConfig(entity={})
                ),
                vol.Optional(CONF_DOMAINS): SelectSelector(
                    SelectSelectorConfig(
                        options=domains,
                        multiple=True,
                        custom_value=True,
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
                vol.Optional(CONF_EXCLUDE): EntitySelector(
                    EntitySelectorConfig(multiple=True)
                ),
                vol.Optional(CONF_NUMERIC_ONLY, default=True): BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="targets",
            data_schema=self.add_suggested_values_to_schema(
                schema,
                {
                    CONF_TARGETS: dict(options.targets),
                    CONF_DOMAINS: list(options.domains),
                    CONF_EXCLUDE: [
                        entity_id
                        for entity in options.exclude
                        if (entity_id := er.async_resolve_entity_id(registry, entity))
                    ],
                    CONF_NUMERIC_ONLY: options.numeric_only,
                },
            ),
        )

    async def async_step_targets_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what the targets match before they are saved."""
        if user_input is not None:
            return self._async_save(**self._pending)
        options = dataclasses.replace(
            self._options(),
            targets=self._pending[CONF_TARGETS],
            domains=tuple(self._pending[CONF_DOMAINS]),
            exclude=tuple(self._pending[CONF_EXCLUDE]),
            numeric_only=self._pending[CONF_NUMERIC_ONLY],
        )
        selection = resolve(self.hass, options, self._keys())
        matched = sorted(
            entity_id for entity_id, plan in selection.plans.items() if not plan.picked
        )
        shown = "\n".join(
            f"- {_entity_label(self.hass, entity_id)}" for entity_id in matched[:15]
        )
        if len(matched) > len(matched[:15]):
            shown += "\n- …"
        return self.async_show_form(
            step_id="targets_confirm",
            description_placeholders={
                "matched": str(len(matched)),
                "picked": str(len(selection.plans) - len(matched)),
                "not_numeric": str(selection.not_numeric),
                "entities": shown or "-",
            },
        )

    async def async_step_entity(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick a sent entity to change its input keys and attributes."""
        choices = self._sent_entities()
        if not choices:
            return self.async_abort(reason="no_entities")
        if user_input is not None:
            self._editing = user_input[CONF_ENTITY]
            return await self.async_step_mapping()
        return self.async_show_form(
            step_id="entity",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_ENTITY): SelectSelector(
                        SelectSelectorConfig(
                            options=choices, mode=SelectSelectorMode.DROPDOWN
                        )
                    )
                }
            ),
        )

    def _sent_entities(self) -> list[SelectOptionDict]:
        """The picked entities, then those a target matches, as choices."""
        registry = er.async_get(self.hass)
        choices: list[SelectOptionDict] = []
        for mapping in self._options().mappings:
            entity_id = er.async_resolve_entity_id(registry, mapping.entity)
            choices.append(
                SelectOptionDict(
                    value=mapping.entity,
                    label=f"{_entity_label(self.hass, entity_id)} → {mapping.input_key}"
                    if entity_id
                    else mapping.input_key,
                )
            )
        picked = {choice["value"] for choice in choices}
        selection = resolve(self.hass, self._options(), self._keys())
        choices.extend(
            SelectOptionDict(
                value=plan.entity,
                label=f"{_entity_label(self.hass, plan.entity_id)}"
                f" → {plan.signals[0].input_key}",
            )
            for plan in sorted(selection.plans.values(), key=lambda p: p.entity_id)
            if not plan.picked and plan.entity not in picked
        )
        return choices

    def _keys(self) -> dict[str, str]:
        """The input keys already given to entities a target matches."""
        entry = self.config_entry
        if entry.state is ConfigEntryState.LOADED:
            return dict(entry.runtime_data.exporter.listener.keys)
        return {}

    async def async_step_mapping(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the input key of an entity, or what it sends: state, attributes."""
        mappings = list(self._options().mappings)
        index = next(
            (i for i, m in enumerate(mappings) if m.entity == self._editing), None
        )
        if index is None:
            # An entity a target matches: editing it makes it a picked one,
            # with the key it has now.
            plan = next(
                plan
                for plan in resolve(
                    self.hass, self._options(), self._keys()
                ).plans.values()
                if plan.entity == self._editing
            )
            mappings.append(EntityMapping(plan.entity, plan.signals[0].input_key))
            index = len(mappings) - 1
        mapping = mappings[index]
        entity_id = er.async_resolve_entity_id(er.async_get(self.hass), mapping.entity)
        errors: dict[str, str] = {}
        placeholders = {
            CONF_ENTITY: _entity_label(self.hass, entity_id or mapping.entity),
            CONF_INPUT_KEY: "",
        }
        if user_input is not None:
            key = user_input[CONF_INPUT_KEY].strip()
            attribute = user_input.get(CONF_ATTRIBUTE) or None
            extra = [
                name
                for name in user_input.get(CONF_ATTRIBUTES, [])
                if name and name != attribute
            ]
            keep = dict(mapping.attributes)
            mappings[index] = EntityMapping(
                mapping.entity,
                key,
                attribute,
                tuple(
                    (name, keep.get(name) or _attribute_key(entity_id or key, name))
                    for name in sorted(set(extra))
                ),
                int(user_input.get(CONF_MIN_INTERVAL) or 0),
            )
            placeholders[CONF_INPUT_KEY] = key
            if not is_valid_input_key(key):
                errors[CONF_INPUT_KEY] = "invalid_input_key"
            elif duplicate := _duplicate_key(mappings):
                errors[CONF_INPUT_KEY] = "duplicate_key"
                placeholders[CONF_INPUT_KEY] = duplicate
            elif extra:
                self._mappings = mappings
                self._edited = index
                return await self.async_step_attribute_keys()
            else:
                return self._async_save(mappings=mappings)
        state = self.hass.states.get(entity_id) if entity_id else None
        attributes = sorted(state.attributes) if state else []
        schema = vol.Schema(
            {
                vol.Required(CONF_INPUT_KEY): TextSelector(),
                vol.Optional(CONF_ATTRIBUTE): SelectSelector(
                    SelectSelectorConfig(
                        options=attributes,
                        custom_value=True,
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
                vol.Optional(CONF_ATTRIBUTES): SelectSelector(
                    SelectSelectorConfig(
                        options=attributes,
                        custom_value=True,
                        multiple=True,
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
                vol.Optional(CONF_MIN_INTERVAL): NumberSelector(
                    NumberSelectorConfig(
                        min=0,
                        max=MAX_MIN_INTERVAL,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
            }
        )
        suggested = user_input or {
            CONF_INPUT_KEY: mapping.input_key,
            CONF_ATTRIBUTE: mapping.attribute or "",
            CONF_ATTRIBUTES: [name for name, _ in mapping.attributes],
            CONF_MIN_INTERVAL: mapping.min_interval,
        }
        return self.async_show_form(
            step_id="mapping",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_attribute_keys(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Give each further attribute its own input key."""
        mappings = self._mappings
        mapping = mappings[self._edited]
        errors: dict[str, str] = {}
        placeholders = {CONF_INPUT_KEY: ""}
        if user_input is not None:
            mappings[self._edited] = dataclasses.replace(
                mapping,
                attributes=tuple(
                    (name, str(user_input.get(name, key)).strip())
                    for name, key in mapping.attributes
                ),
            )
            keys = mappings[self._edited].input_keys()
            if bad := next((key for key in keys if not is_valid_input_key(key)), None):
                errors["base"] = "invalid_input_key"
                placeholders[CONF_INPUT_KEY] = bad
            elif duplicate := _duplicate_key(mappings):
                errors["base"] = "duplicate_key"
                placeholders[CONF_INPUT_KEY] = duplicate
            else:
                return self._async_save(mappings=mappings)
        schema = vol.Schema(
            {vol.Required(name): TextSelector() for name, _ in mapping.attributes}
        )
        return self.async_show_form(
            step_id="attribute_keys",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or dict(mapping.attributes)
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change how often readings are sent and how many may wait."""
        if user_input is not None:
            return self._async_save(
                flush_interval=int(user_input[CONF_FLUSH_INTERVAL]),
                buffer_capacity=int(user_input[CONF_BUFFER_CAPACITY]),
                report_unchanged=bool(user_input.get(CONF_REPORT_UNCHANGED, True)),
                heartbeat=int(user_input.get(CONF_HEARTBEAT, 0)),
            )
        options = self._options()
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_FLUSH_INTERVAL, default=DEFAULT_FLUSH_INTERVAL
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_FLUSH_INTERVAL,
                        max=MAX_FLUSH_INTERVAL,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                vol.Required(
                    CONF_BUFFER_CAPACITY, default=DEFAULT_BUFFER_CAPACITY
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_BUFFER_CAPACITY,
                        max=MAX_BUFFER_CAPACITY,
                        step=1,
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                vol.Optional(CONF_REPORT_UNCHANGED, default=True): BooleanSelector(),
                vol.Optional(CONF_HEARTBEAT, default=0): NumberSelector(
                    NumberSelectorConfig(
                        min=0,
                        max=MAX_HEARTBEAT,
                        step=1,
                        unit_of_measurement="min",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id="settings",
            data_schema=self.add_suggested_values_to_schema(
                schema,
                {
                    CONF_FLUSH_INTERVAL: int(options.flush_interval.total_seconds()),
                    CONF_BUFFER_CAPACITY: options.buffer_capacity,
                    CONF_REPORT_UNCHANGED: options.report_unchanged,
                    CONF_HEARTBEAT: options.heartbeat,
                },
            ),
        )

    def _options(self) -> ClarifyOptions:
        return ClarifyOptions.from_entry(self.config_entry)

    def _async_save(
        self,
        *,
        mappings: list[EntityMapping] | None = None,
        flush_interval: int | None = None,
        buffer_capacity: int | None = None,
        **selection: Any,
    ) -> ConfigFlowResult:
        """Store the options; the running entry applies them without a restart."""
        options = dict(self.config_entry.options) | selection
        if mappings is not None:
            options[CONF_ENTITIES] = [mapping.as_option() for mapping in mappings]
        if flush_interval is not None:
            options[CONF_FLUSH_INTERVAL] = flush_interval
        if buffer_capacity is not None:
            options[CONF_BUFFER_CAPACITY] = buffer_capacity
        return self.async_create_entry(data=options)


def _duplicate_key(mappings: list[EntityMapping]) -> str | None:
    """An input key used by two signals, if any: each key feeds one signal."""
    seen: set[str] = set()
    for mapping in mappings:
        for key in mapping.input_keys():
            if key in seen:
                return key
            seen.add(key)
    return None


def _attribute_key(entity_id: str, attribute: str) -> str:
    """The input key an attribute's signal starts with: `<entity_id>:<attribute>`."""
    key = f"{default_input_key(entity_id)}:{attribute}"
    return key if is_valid_input_key(key) else default_input_key(key)


def _registry_id(hass: HomeAssistant, entity_id: str) -> str:
    """How options name an entity: its registry id, or its entity ID."""
    registry_entry = er.async_get(hass).async_get(entity_id)
    return registry_entry.id if registry_entry else entity_id


def _entity_label(hass: HomeAssistant, entity_id: str) -> str:
    """How the forms name an entity: its friendly name and entity ID."""
    state = hass.states.get(entity_id)
    name = state.name if state else None
    return f"{name} ({entity_id})" if name and name != entity_id else entity_id


def _local_error(err: InvalidCredentialsError) -> str:
    """The translated error key of an input rejected before anything was sent."""
    if isinstance(err, InvalidApiUrlError):
        return "insecure_api_url" if err.reason == "insecure_url" else "invalid_api_url"
    return _LOCAL_ERRORS[err.reason]


def _file_name(document: str) -> str | None:
    """The integration's name from a credentials file already validated as one."""
    name = orjson.loads(document).get("name")
    return (name.strip() or None) if isinstance(name, str) else None
