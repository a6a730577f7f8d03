"""Config flow for Clarify: connect, re-authenticate and reconfigure."""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any

import orjson
import voluptuous as vol

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
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
from .const import (
    CONF_API_URL,
    CONF_ATTRIBUTE,
    CONF_BUFFER_CAPACITY,
    CONF_CREDENTIALS_FILE,
    CONF_ENTITIES,
    CONF_ENTITY,
    CONF_FLUSH_INTERVAL,
    CONF_INPUT_KEY,
    CONF_INTEGRATION_ID,
    CONF_SECRET,
    CONSOLE_URL,
    DEFAULT_BUFFER_CAPACITY,
    DEFAULT_FLUSH_INTERVAL,
    DOMAIN,
    MAX_BUFFER_CAPACITY,
    MAX_FLUSH_INTERVAL,
    MIN_BUFFER_CAPACITY,
    MIN_FLUSH_INTERVAL,
)
from .entry import ClarifyOptions, EntityMapping, entry_data_from_credentials
from .signals import default_input_key, is_valid_input_key

_LOGGER = logging.getLogger(__name__)

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

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer the three things that can be changed."""
        return self.async_show_menu(
            step_id="init", menu_options=["entities", "entity", "settings"]
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

    async def async_step_entity(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick one of the chosen entities to change its input key or attribute."""
        mappings = self._options().mappings
        if not mappings:
            return self.async_abort(reason="no_entities")
        if user_input is not None:
            self._editing = user_input[CONF_ENTITY]
            return await self.async_step_mapping()
        registry = er.async_get(self.hass)
        choices = [
            SelectOptionDict(
                value=mapping.entity,
                label=f"{_entity_label(self.hass, entity_id)} → {mapping.input_key}"
                if (entity_id := er.async_resolve_entity_id(registry, mapping.entity))
                else mapping.input_key,
            )
            for mapping in mappings
        ]
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

    async def async_step_mapping(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the input key of one entity, or send one of its attributes."""
        mappings = list(self._options().mappings)
        index = next(i for i, m in enumerate(mappings) if m.entity == self._editing)
        mapping = mappings[index]
        entity_id = er.async_resolve_entity_id(er.async_get(self.hass), mapping.entity)
        errors: dict[str, str] = {}
        if user_input is not None:
            key = user_input[CONF_INPUT_KEY].strip()
            mappings[index] = EntityMapping(
                mapping.entity, key, user_input.get(CONF_ATTRIBUTE) or None
            )
            if not is_valid_input_key(key):
                errors[CONF_INPUT_KEY] = "invalid_input_key"
            elif _duplicate_key(mappings):
                errors[CONF_INPUT_KEY] = "duplicate_key"
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
            }
        )
        suggested = user_input or mapping.as_option()
        return self.async_show_form(
            step_id="mapping",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={
                CONF_ENTITY: _entity_label(self.hass, entity_id or mapping.entity),
                CONF_INPUT_KEY: (user_input or {}).get(CONF_INPUT_KEY, ""),
            },
        )

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change how often readings are sent and how many may wait."""
        if user_input is not None:
            return self._async_save(
                flush_interval=int(user_input[CONF_FLUSH_INTERVAL]),
                buffer_capacity=int(user_input[CONF_BUFFER_CAPACITY]),
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
            }
        )
        return self.async_show_form(
            step_id="settings",
            data_schema=self.add_suggested_values_to_schema(
                schema,
                {
                    CONF_FLUSH_INTERVAL: int(options.flush_interval.total_seconds()),
                    CONF_BUFFER_CAPACITY: options.buffer_capacity,
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
    ) -> ConfigFlowResult:
        """Store the options; the running entry applies them without a restart."""
        options = dict(self.config_entry.options)
        if mappings is not None:
            options[CONF_ENTITIES] = [mapping.as_option() for mapping in mappings]
        if flush_interval is not None:
            options[CONF_FLUSH_INTERVAL] = flush_interval
        if buffer_capacity is not None:
            options[CONF_BUFFER_CAPACITY] = buffer_capacity
        return self.async_create_entry(data=options)


def _duplicate_key(mappings: list[EntityMapping]) -> str | None:
    """An input key used by two mappings, if any: each key feeds one signal."""
    seen: set[str] = set()
    for mapping in mappings:
        if mapping.input_key in seen:
            return mapping.input_key
        seen.add(mapping.input_key)
    return None


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
