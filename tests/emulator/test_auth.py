"""OAuth token endpoint, Bearer and Basic authentication, revocation."""

import base64
import re

import aiohttp
import pytest

from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials
from tools.clarify_emulator.server import decode_basic_auth

from .helpers import Api, Basic, FakeClock


async def test_token_fetch_and_bearer_use(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    reply = await api.token()
    assert reply.status == 200
    body = reply.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["scope"], str)
    assert len(body["access_token"]) >= 32
    assert emulator.token_requests == 1
    assert emulator.issued_tokens == [body["access_token"]]

    insert = await api.insert({"a": [1, 2]}, auth=body["access_token"])
    assert insert.status == 200, insert.text
    assert emulator.requests[-1].auth_kind == "bearer"
    assert emulator.requests[-1].integration_id == credentials.integration_id
    assert emulator.requests[0].path == "/v1/oauth/token"


async def test_client_may_authenticate_to_token_endpoint_with_basic(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    credentials: IntegrationCredentials,
) -> None:
    async with session.post(
        emulator.api_url + "oauth/token",
        data={"grant_type": "client_credentials", "audience": emulator.api_url},
        headers={
            "Authorization": Basic(
                credentials.client_id, credentials.client_secret
            ).header
        },
    ) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_secret": None}, 401, "invalid_client"),
        ({"client_id": "nobody"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": None}, 400, "unsupported_grant_type"),
        ({"audience": "https://api.clarify.io/v1/"}, 400, "invalid_request"),
        ({"audience": None}, 400, "invalid_request"),
    ],
)
async def test_token_errors(
    api: Api,
    emulator: ClarifyEmulator,
    overrides: dict[str, str | None],
    status: int,
    error: str,
) -> None:
    reply = await api.token(**overrides)
    assert reply.status == status
    assert reply.json["error"] == error
    assert reply.json["error_description"]
    assert emulator.token_requests == 0


async def test_audience_needs_the_trailing_slash(
    api: Api, emulator: ClarifyEmulator
) -> None:
    reply = await api.token(audience=emulator.api_url.rstrip("/"))
    assert reply.status == 400


async def test_audience_may_name_the_host_the_client_used(
    api: Api, emulator: ClarifyEmulator
) -> None:
    port = re.search(r":(\d+)/", emulator.api_url)
    assert port is not None
    reply = await api.token(audience=f"http://127.0.0.1:{port.group(1)}/v1/")
    assert reply.status == 200
    reply = await api.token(audience=f"http://localhost:{port.group(1)}/v1/")
    assert reply.status == 400


async def test_tokens_expire_by_the_clock(
    api: Api, emulator: ClarifyEmulator, clock: FakeClock
) -> None:
    emulator.token_lifetime = 60.9
    token_reply = await api.token()
    # Rounded down, so a client never keeps a token past its end.
    assert token_reply.json["expires_in"] == 60
    token = token_reply.json["access_token"]
    clock.now += 60.8
    assert (await api.insert({"a": [1, 2]}, auth=token)).status == 200
    clock.now += 0.2
    expired = await api.insert({"a": [1, 2]}, auth=token)
    assert expired.status == 401
    assert expired.headers["WWW-Authenticate"].startswith("Bearer")


async def test_expire_tokens_forces_a_refresh(
    api: Api, emulator: ClarifyEmulator
) -> None:
    old = await api.bearer()
    emulator.expire_tokens()
    assert (await api.insert({"a": [1, 2]}, auth=old)).status == 401
    new = await api.bearer()
    assert (await api.insert({"a": [1, 2]}, auth=new)).status == 200


async def test_revoke_and_restore(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    token = await api.bearer()
    emulator.revoke(credentials.integration_id)
    assert (await api.insert({"a": [1, 2]})).status == 401
    assert (await api.insert({"a": [1, 2]}, auth=token)).status == 401
    assert (await api.token()).status == 401
    emulator.restore(credentials.integration_id)
    assert (await api.insert({"a": [1, 2]})).status == 200
    assert (await api.insert({"a": [1, 2]}, auth=token)).status == 200
    assert (await api.token()).status == 200


async def test_revoking_one_integration_spares_the_others(
    session: aiohttp.ClientSession, api: Api, emulator: ClarifyEmulator
) -> None:
    other = Api(session, emulator, emulator.add_integration())
    emulator.revoke(other.credentials.integration_id)
    assert (await other.insert({"a": [1, 2]})).status == 401
    assert (await api.insert({"a": [1, 2]})).status == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-token",
        "Bearer ",
        "Basic !!!not-base64",
        "Digest abc",
        "Basic " + base64.b64encode(b"vvvvvvvvvvvvvvvvvvvv:pw").decode(),
    ],
)
async def test_bad_credentials_are_http_401(
    api: Api, emulator: ClarifyEmulator, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    reply = await api.insert({"a": [1, 2]}, use_basic=False, headers=headers)
    assert reply.status == 401
    assert "WWW-Authenticate" in reply.headers
    assert emulator.requests[-1].integration_id is None


async def test_wrong_password_is_http_401(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    credentials: IntegrationCredentials,
    api: Api,
) -> None:
    wrong = Basic(credentials.integration_id, credentials.password + "x")
    assert (await api.insert({"a": [1, 2]}, auth=wrong)).status == 401
    # The OAuth client secret is no basic-auth password.
    swapped = Basic(credentials.integration_id, credentials.client_secret)
    assert (await api.insert({"a": [1, 2]}, auth=swapped)).status == 401


def test_add_integration_generates_distinct_secure_credentials() -> None:
    emulator = ClarifyEmulator()
    first, second = emulator.add_integration(), emulator.add_integration()
    for creds in (first, second):
        assert re.fullmatch(r"[a-v0-9]{20}", creds.integration_id)
        assert len(creds.password) >= 20
        assert len(creds.client_secret) >= 20
    assert first.integration_id != second.integration_id
    assert first.password != second.password
    assert first.client_id != second.client_id


def test_add_integration_keeps_given_values() -> None:
    emulator = ClarifyEmulator()
    creds = emulator.add_integration(
        "c0ffee0000000000000v",
        password="pw",
        client_id="cid",
        client_secret="cs",
        name="Cabin",
    )
    assert creds == IntegrationCredentials("c0ffee0000000000000v", "pw", "cid", "cs")
    assert emulator.state.integrations[creds.integration_id].name == "Cabin"


@pytest.mark.parametrize(
    "integration_id", ["short", "wwwwwwwwwwwwwwwwwwww", "C0FFEE0000000000000V"]
)
def test_add_integration_refuses_malformed_ids(integration_id: str) -> None:
    with pytest.raises(ValueError, match="integration ID must match"):
        ClarifyEmulator().add_integration(integration_id)


def test_add_integration_refuses_duplicates() -> None:
    emulator = ClarifyEmulator()
    creds = emulator.add_integration(client_id="cid")
    with pytest.raises(ValueError, match="integration already exists"):
        emulator.add_integration(creds.integration_id)
    with pytest.raises(ValueError, match="client ID already in use"):
        emulator.add_integration(client_id="cid")


def test_credentials_files() -> None:
    creds = IntegrationCredentials("c0ffee0000000000000v", "pw", "cid", "cs")
    api_url = "http://127.0.0.1:1234/v1/"
    assert creds.credentials_file(api_url) == {
        "apiUrl": api_url,
        "integration": "c0ffee0000000000000v",
        "credentials": {
            "type": "client-credentials",
            "clientId": "cid",
            "clientSecret": "cs",
        },
    }
    assert creds.credentials_file(api_url, "basic-auth")["credentials"] == {
        "type": "basic-auth",
        "clientId": "c0ffee0000000000000v",
        "clientSecret": "pw",
    }
    with pytest.raises(ValueError, match="unknown credentials kind"):
        creds.credentials_file(api_url, "magic")  # type: ignore[arg-type]


def test_urls_need_a_started_emulator() -> None:
    with pytest.raises(RuntimeError):
        _ = ClarifyEmulator().api_url


def test_unknown_rate_limit_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown rate limit mode"):
        ClarifyEmulator(rate_limit="burst")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic " + base64.b64encode(b"id:pw").decode(), ("id", "pw")),
        ("basic " + base64.b64encode(b"id:p:w").decode(), ("id", "p:w")),
        ("Basic " + base64.b64encode(b"id:").decode(), ("id", "")),
        ("Basic " + base64.b64encode(b"no-colon").decode(), None),
        ("Basic " + base64.b64encode(b"\xff:x").decode(), None),
        ("Basic not*base64", None),
        ("Bearer " + base64.b64encode(b"id:pw").decode(), None),
        ("", None),
    ],
)
def test_decode_basic_auth(header: str, expected: tuple[str, str] | None) -> None:
    assert decode_basic_auth(header) == expected
