"""Tests of the config flow: setup, reauth and reconfigure, against the emulator."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType

from custom_components.clarify.const import (
    CONF_API_URL,
    CONF_AUTH_TYPE,
    CONF_CLIENT_ID,
    CONF_CREDENTIALS_FILE,
    CONF_INTEGRATION_ID,
    CONF_SECRET,
    DOMAIN,
)
from tools.clarify_emulator import ClarifyEmulator, Fault, IntegrationCredentials


def _file(
    emulator: ClarifyEmulator,
    credentials: IntegrationCredentials,
    kind: str = "client-credentials",
    **changes: Any,
) -> str:
    document = credentials.credentials_file(emulator.api_url, kind=kind)
    document.update(changes)
    return orjson.dumps(document).decode()


async def _start(hass: HomeAssistant, step: str) -> FlowResult:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["credentials_file", "basic_auth"]
    assert result["description_placeholders"] == {
        "console_url": "https://app.clarify.io"
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": step}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == step
    return result


def _entry(
    emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Clarify",
        unique_id=credentials.integration_id,
        data={
            CONF_AUTH_TYPE: "basic",
            CONF_INTEGRATION_ID: credentials.integration_id,
            CONF_CLIENT_ID: None,
            CONF_SECRET: credentials.password,
            CONF_API_URL: emulator.api_url,
        },
    )


async def test_credentials_file_oauth(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A pasted OAuth credentials file creates an entry named after the integration."""
    result = await _start(hass, "credentials_file")
    document = _file(emulator, integration, name="  Cabin  ")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CREDENTIALS_FILE: document}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Cabin"
    assert result["result"].unique_id == integration.integration_id
    assert result["data"] == {
        CONF_AUTH_TYPE: "client_credentials",
        CONF_INTEGRATION_ID: integration.integration_id,
        CONF_CLIENT_ID: integration.client_id,
        CONF_SECRET: integration.client_secret,
        CONF_API_URL: emulator.api_url,
    }
    # The check created nothing billable.
    assert emulator.signals(integration.integration_id) == {}
    assert emulator.token_requests == 1


async def test_credentials_file_basic_with_url_override(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A basic-auth file works, and a typed API URL wins over the file's."""
    result = await _start(hass, "credentials_file")
    document = _file(
        emulator,
        integration,
        kind="basic-auth",
        apiUrl="https://api.clarify.io/v1/",
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_CREDENTIALS_FILE: document, CONF_API_URL: emulator.api_url[:-1]},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # No name in the file: the title names the integration by its ID.
    assert result["title"] == f"Clarify {integration.integration_id}"
    assert result["data"][CONF_AUTH_TYPE] == "basic"
    assert result["data"][CONF_SECRET] == integration.password
    assert result["data"][CONF_API_URL] == emulator.api_url


@pytest.mark.parametrize(
    ("document", "field", "error", "placeholder"),
    [
        ("not json", CONF_CREDENTIALS_FILE, "invalid_json", ""),
        ("[1, 2]", CONF_CREDENTIALS_FILE, "invalid_json", ""),
        ('{"credentials": {}}', CONF_CREDENTIALS_FILE, "missing_field", "integration"),
        (
            '{"integration": "ABC", "credentials": {}}',
            CONF_CREDENTIALS_FILE,
            "invalid_integration_id",
            "integration",
        ),
        (
            '{"integration": "%(id)s", "credentials": {"type": "token"}}',
            CONF_CREDENTIALS_FILE,
            "unknown_credentials_type",
            "credentials.type",
        ),
        (
            (
                '{"integration": "%(id)s", "credentials": {"type": "basic-auth",'
                ' "clientId": "aaaaaaaaaaaaaaaaaaaa", "clientSecret": "x"}}'
            ),
            CONF_CREDENTIALS_FILE,
            "id_mismatch",
            "credentials.clientId",
        ),
        (
            (
                '{"integration": "%(id)s", "apiUrl": "http://clarify.example/v1/",'
                ' "credentials": {"type": "client-credentials", "clientId": "c",'
                ' "clientSecret": "s"}}'
            ),
            CONF_CREDENTIALS_FILE,
            "insecure_api_url",
            "apiUrl",
        ),
    ],
)
async def test_credentials_file_local_errors(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    document: str,
    field: str,
    error: str,
    placeholder: str,
) -> None:
    """A broken file gets an error naming the problem; then a good one finishes."""
    result = await _start(hass, "credentials_file")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_CREDENTIALS_FILE: document % {"id": integration.integration_id}},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}
    assert result["description_placeholders"]["field"] == placeholder
    # Nothing was sent for input rejected locally.
    assert emulator.requests == []

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_CREDENTIALS_FILE: _file(emulator, integration)},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://clarify.example/v1/", "insecure_api_url"),
        ("ftp://x/", "invalid_api_url"),
    ],
)
async def test_credentials_file_bad_url_override(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    url: str,
    error: str,
) -> None:
    """A typed API URL is checked on its own field, and kept in the form."""
    result = await _start(hass, "credentials_file")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_CREDENTIALS_FILE: _file(emulator, integration),
            CONF_API_URL: url,
        },
    )
    assert result["errors"] == {CONF_API_URL: error}
    schema_keys = {str(key): key for key in result["data_schema"].schema}
    # The URL is offered again; the pasted secret is not.
    assert schema_keys[CONF_API_URL].description == {"suggested_value": url}
    assert schema_keys[CONF_CREDENTIALS_FILE].description is None


async def test_basic_auth(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """The integration ID and password create an entry."""
    result = await _start(hass, "basic_auth")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_INTEGRATION_ID: f" {integration.integration_id} ",
            CONF_SECRET: integration.password,
            CONF_API_URL: emulator.api_url,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_AUTH_TYPE: "basic",
        CONF_INTEGRATION_ID: integration.integration_id,
        CONF_CLIENT_ID: None,
        CONF_SECRET: integration.password,
        CONF_API_URL: emulator.api_url,
    }
    assert result["result"].state is ConfigEntryState.LOADED


async def test_basic_auth_defaults_to_production(hass: HomeAssistant) -> None:
    """The API URL field starts with Clarify's production API."""
    result = await _start(hass, "basic_auth")
    schema_keys = {str(key): key for key in result["data_schema"].schema}
    assert schema_keys[CONF_API_URL].default() == "https://api.clarify.io/v1/"


@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        (
            {CONF_INTEGRATION_ID: "not-an-id"},
            CONF_INTEGRATION_ID,
            "invalid_integration_id",
        ),
        ({CONF_SECRET: "   "}, CONF_SECRET, "required"),
        (
            {CONF_API_URL: "http://clarify.example/v1/"},
            CONF_API_URL,
            "insecure_api_url",
        ),
        ({CONF_API_URL: "clarify"}, CONF_API_URL, "invalid_api_url"),
    ],
)
async def test_basic_auth_local_errors(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    changes: dict[str, str],
    field: str,
    error: str,
) -> None:
    """Each typed field gets its own error, keeps what was typed, and can be fixed."""
    good = {
        CONF_INTEGRATION_ID: integration.integration_id,
        CONF_SECRET: integration.password,
        CONF_API_URL: emulator.api_url,
    }
    result = await _start(hass, "basic_auth")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], good | changes
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}
    schema_keys = {str(key): key for key in result["data_schema"].schema}
    assert schema_keys[CONF_SECRET].description is None
    typed = (good | changes)[CONF_INTEGRATION_ID]
    assert schema_keys[CONF_INTEGRATION_ID].description == {"suggested_value": typed}
    assert emulator.requests == []

    result = await hass.config_entries.flow.async_configure(result["flow_id"], good)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(kind="http", status=503), "cannot_connect"),
        (Fault(kind="drop"), "cannot_connect"),
        (Fault(kind="rpc", code=-32015), "cannot_connect"),
        (
            Fault(kind="rpc", code=-32601, message="Method not found"),
            "unexpected_response",
        ),
        (Fault(kind="proxy", status=400), "unexpected_response"),
        (Fault(kind="http", status=413), "unknown"),
    ],
)
async def test_remote_errors_recover(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    fault: Fault,
    error: str,
) -> None:
    """Clarify's failures map to the standard errors; the next try succeeds."""
    emulator.inject(fault)
    result = await _start(hass, "credentials_file")
    document = _file(emulator, integration, kind="basic-auth")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CREDENTIALS_FILE: document}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CREDENTIALS_FILE: document}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_invalid_auth_and_forbidden(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """A wrong secret is invalid_auth; another integration's credentials are forbidden."""
    other = emulator.add_integration()
    result = await _start(hass, "credentials_file")

    wrong_secret = integration.credentials_file(emulator.api_url)
    wrong_secret["credentials"]["clientSecret"] = "not the secret"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CREDENTIALS_FILE: orjson.dumps(wrong_secret).decode()}
    )
    assert result["errors"] == {"base": "invalid_auth"}

    # Valid OAuth credentials of one integration, used for another one's ID.
    borrowed = _file(emulator, other, integration=integration.integration_id)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CREDENTIALS_FILE: borrowed}
    )
    assert result["errors"] == {"base": "forbidden"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_CREDENTIALS_FILE: _file(emulator, integration)},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_unreachable(
    hass: HomeAssistant, integration: IntegrationCredentials
) -> None:
    """Nothing listening at the API URL is cannot_connect."""
    result = await _start(hass, "basic_auth")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_INTEGRATION_ID: integration.integration_id,
            CONF_SECRET: integration.password,
            # Port 9 (discard) on loopback: nothing listens there.
            CONF_API_URL: "http://127.0.0.1:9/v1/",
        },
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_already_configured(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """The same Clarify integration cannot be added twice."""
    _entry(emulator, integration).add_to_hass(hass)
    result = await _start(hass, "credentials_file")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_CREDENTIALS_FILE: _file(emulator, integration)},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def _reauth_menu(
    hass: HomeAssistant, entry: MockConfigEntry, step: str
) -> FlowResult:
    result = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"] == {CONF_INTEGRATION_ID: entry.unique_id}
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": step}
    )


async def test_reauth_with_new_credentials(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Reauth stores the new credentials in the same entry and reloads it."""
    entry = _entry(emulator, integration)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    emulator.revoke(integration.integration_id)

    result = await _reauth_menu(hass, entry, "basic_auth")
    schema_keys = {str(key): key for key in result["data_schema"].schema}
    # The form starts from what the entry stores, except its secret.
    assert schema_keys[CONF_INTEGRATION_ID].description == {
        "suggested_value": integration.integration_id
    }
    assert schema_keys[CONF_SECRET].description is None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_INTEGRATION_ID: integration.integration_id,
            CONF_SECRET: integration.password,
            CONF_API_URL: emulator.api_url,
        },
    )
    # Still revoked: the form says so, and the user can try again.
    assert result["errors"] == {"base": "invalid_auth"}

    emulator.restore(integration.integration_id)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_INTEGRATION_ID: integration.integration_id,
            CONF_SECRET: integration.password + "-old",
            CONF_API_URL: emulator.api_url,
        },
    )
    assert result["errors"] == {"base": "invalid_auth"}
    entry_data_before = dict(entry.data)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_INTEGRATION_ID: integration.integration_id,
            CONF_SECRET: integration.password,
            CONF_API_URL: emulator.api_url + "/",
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert dict(entry.data) == entry_data_before


async def test_reauth_switches_to_oauth(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """New credentials of the same integration replace the stored ones and reload."""
    entry = _entry(emulator, integration)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    client_before = entry.runtime_data.client

    result = await _reauth_menu(hass, entry, "credentials_file")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_CREDENTIALS_FILE: _file(emulator, integration)},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_AUTH_TYPE] == "client_credentials"
    assert entry.data[CONF_SECRET] == integration.client_secret
    assert entry.state is ConfigEntryState.LOADED
    # The reload put a client with the new credentials in place.
    assert entry.runtime_data.client is not client_before
    assert entry.runtime_data.client.credentials.kind == "client_credentials"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_reauth_refuses_another_integration(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Credentials of another integration would send the entry's data elsewhere."""
    entry = _entry(emulator, integration)
    entry.add_to_hass(hass)
    other = emulator.add_integration()
    result = await _reauth_menu(hass, entry, "credentials_file")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CREDENTIALS_FILE: _file(emulator, other)}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_integration"
    assert entry.data[CONF_SECRET] == integration.password


async def test_reauth_with_unchanged_credentials(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Entering the stored credentials again (Clarify accepts them now) changes nothing."""
    entry = _entry(emulator, integration)
    entry.add_to_hass(hass)
    result = await _reauth_menu(hass, entry, "basic_auth")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_INTEGRATION_ID: integration.integration_id,
            CONF_SECRET: integration.password,
            CONF_API_URL: emulator.api_url,
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    # The flow reloads the entry even when nothing changed: with credentials
    # Clarify accepts again, that reload is what sets it up.
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert dict(entry.data) == dict(_entry(emulator, integration).data)


async def test_reconfigure_to_oauth(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Reconfigure switches the entry to OAuth credentials of the same integration."""
    entry = _entry(emulator, integration)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "credentials_file"}
    )
    schema_keys = {str(key): key for key in result["data_schema"].schema}
    assert schema_keys[CONF_API_URL].description == {
        "suggested_value": emulator.api_url
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_CREDENTIALS_FILE: _file(emulator, integration)},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_AUTH_TYPE] == "client_credentials"
    assert entry.data[CONF_CLIENT_ID] == integration.client_id
    assert entry.title == "Clarify"
