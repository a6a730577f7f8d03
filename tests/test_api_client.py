"""Tests for the Clarify client against the emulator, over real loopback HTTP."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
import json
import logging
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import pytest

from custom_components.clarify.api import (
    ClarifyAuthError,
    ClarifyClient,
    ClarifyConnectionError,
    ClarifyCredentials,
    ClarifyError,
    ClarifyForbiddenError,
    ClarifyRateLimitedError,
    ClarifyRequestError,
    ClarifyRetryableError,
    InsertResult,
    SavedSignal,
    SignalInfo,
    encode_frame,
)
from tools.clarify_emulator import ClarifyEmulator, Fault, IntegrationCredentials

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

RPC_PATH = "/v1/rpc"
TOKEN_PATH = "/v1/oauth/token"
TIMES = ["2025-01-01T00:00:00Z", "2025-01-01T00:01:00.123456Z"]
MOMENTS = [
    datetime(2025, 1, 1, tzinfo=UTC),
    datetime(2025, 1, 1, 0, 1, 0, 123456, tzinfo=UTC),
]
USER_AGENT = "clarify-home-assistant/0.1.0 test"
METADATA: dict[str, Any] = {
    "name": "Living room temperature",
    "description": "",
    "labels": {"area": ["Living room"]},
    "engUnit": "°C",
    "sourceType": "measurement",
    "valueType": "numeric",
    "enumValues": {},
    "sampleInterval": None,
    "gapDetection": None,
    "annotations": {"home-assistant/entity-id": "sensor.temperature"},
}

type Kind = Literal["basic-auth", "client-credentials"]


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncIterator[ClarifyEmulator]:
    """The emulator on a loopback port (Home Assistant's harness blocks sockets)."""
    async with ClarifyEmulator(rate_limit="record") as emulator:
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def integration(emulator: ClarifyEmulator) -> IntegrationCredentials:
    return emulator.add_integration()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def credentials_for(
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    kind: Kind = "client-credentials",
) -> ClarifyCredentials:
    return ClarifyCredentials.from_credentials_file(
        integration.credentials_file(emulator.api_url, kind)
    )


def make_client(
    session: aiohttp.ClientSession,
    credentials: ClarifyCredentials,
    **kwargs: Any,
) -> ClarifyClient:
    return ClarifyClient(session, credentials, user_agent=USER_AGENT, **kwargs)


@pytest.fixture(params=["basic-auth", "client-credentials"])
def client(
    request: pytest.FixtureRequest,
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> ClarifyClient:
    """A client of either kind of credentials."""
    return make_client(session, credentials_for(emulator, integration, request.param))


@pytest.fixture
def oauth_client(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    clock: FakeClock,
) -> ClarifyClient:
    return make_client(session, credentials_for(emulator, integration), clock=clock)


def token_fetches(emulator: ClarifyEmulator) -> int:
    """Count requests to the token endpoint, including failed or faked ones."""
    return sum(1 for request in emulator.requests if request.path == TOKEN_PATH)


def rpc_requests(emulator: ClarifyEmulator) -> int:
    return sum(1 for request in emulator.requests if request.path == RPC_PATH)


def reply(body: dict[str, Any]) -> Fault:
    """A fault whose body is a handcrafted HTTP 200 reply."""
    return Fault(kind="http", status=200, message=json.dumps(body), path=RPC_PATH)


# Happy paths


async def test_insert(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    first = await client.insert(TIMES, {"sensor.a": [1.5, None], "sensor.b": [2, 3]})
    second = await client.insert(TIMES[:1], {"sensor.a": [4.0]})

    signals = emulator.signals(integration.integration_id)
    assert first == InsertResult(
        {
            "sensor.a": SignalInfo(signals["sensor.a"].id, created=True),
            "sensor.b": SignalInfo(signals["sensor.b"].id, created=True),
        }
    )
    assert second == InsertResult(
        {"sensor.a": SignalInfo(signals["sensor.a"].id, created=False)}
    )
    assert emulator.points(integration.integration_id) == {
        "sensor.a": {MOMENTS[0]: 4.0},
        "sensor.b": {MOMENTS[0]: 2.0, MOMENTS[1]: 3.0},
    }


async def test_requests_identify_the_client(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    await client.insert(TIMES, {"a": [1, 2]})

    rpc = [request for request in emulator.requests if request.path == RPC_PATH]
    assert [(request.api_version, request.user_agent) for request in rpc] == [
        ("1.1", USER_AGENT)
    ]
    expected_auth = "basic" if client.credentials.kind == "basic" else "bearer"
    assert rpc[0].auth_kind == expected_auth


async def test_default_user_agent(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    client = ClarifyClient(session, credentials_for(emulator, integration))

    await client.insert(TIMES, {"a": [1, 2]})

    assert {request.user_agent for request in emulator.requests} == {
        "clarify-home-assistant"
    }


async def test_insert_encoded(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    data = encode_frame(TIMES, {"sensor.a": [1.0, 2.0]})

    result = await client.insert_encoded(data)

    assert result.signals_by_input["sensor.a"].created
    assert emulator.points(integration.integration_id) == {
        "sensor.a": {MOMENTS[0]: 1.0, MOMENTS[1]: 2.0}
    }


async def test_save_signals(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    created = await client.save_signals({"sensor.temperature": METADATA})
    signal = emulator.signals(integration.integration_id)["sensor.temperature"]
    assert created.signals_by_input == {
        "sensor.temperature": SavedSignal(signal.id, created=True, updated=False)
    }
    assert signal.metadata == METADATA

    renamed = METADATA | {"name": "Temperature"}
    untouched = await client.save_signals(
        {"sensor.temperature": renamed}, create_only=True
    )
    assert untouched.signals_by_input["sensor.temperature"] == SavedSignal(
        signal.id, created=False, updated=False
    )
    assert signal.metadata["name"] == "Living room temperature"

    updated = await client.save_signals({"sensor.temperature": renamed})
    assert updated.signals_by_input["sensor.temperature"] == SavedSignal(
        signal.id, created=False, updated=True
    )
    assert signal.metadata["name"] == "Temperature"


async def test_check_credentials_creates_nothing(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    await client.check_credentials()

    assert emulator.signals(integration.integration_id) == {}
    assert [
        request.rpc_method for request in emulator.requests if request.rpc_method
    ] == ["integration.saveSignals"]


async def test_check_credentials_accepts_invalid_params(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    """Clarify may refuse an empty saveSignals, but only after checking access."""
    emulator.inject(
        Fault(kind="rpc", code=-32602, rpc_method="integration.saveSignals")
    )

    await client.check_credentials()


async def test_check_credentials_passes_other_request_errors_on(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    emulator.inject(Fault(kind="rpc", path=RPC_PATH, code=-32601))

    with pytest.raises(ClarifyRequestError) as err:
        await client.check_credentials()

    assert err.value.code == -32601


# Credentials Clarify refuses


@pytest.mark.parametrize("kind", ["basic-auth", "client-credentials"])
async def test_wrong_secret(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    kind: Kind,
) -> None:
    document = integration.credentials_file(emulator.api_url, kind)
    document["credentials"]["clientSecret"] = "wrong-secret"
    client = make_client(session, ClarifyCredentials.from_credentials_file(document))

    with pytest.raises(ClarifyAuthError) as err:
        await client.check_credentials()

    assert type(err.value) is ClarifyAuthError
    assert err.value.status == 401
    assert emulator.signals(integration.integration_id) == {}


@pytest.mark.parametrize("kind", ["basic-auth", "client-credentials"])
async def test_revoked_integration(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    kind: Kind,
) -> None:
    client = make_client(session, credentials_for(emulator, integration, kind))
    await client.check_credentials()
    emulator.revoke(integration.integration_id)

    with pytest.raises(ClarifyAuthError) as err:
        await client.insert(TIMES, {"a": [1, 2]})

    assert type(err.value) is ClarifyAuthError
    emulator.restore(integration.integration_id)
    await client.insert(TIMES, {"a": [1, 2]})


async def test_another_integrations_id_is_forbidden(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Valid client credentials used with an ID they may not act for."""
    other = emulator.add_integration()
    document = integration.credentials_file(emulator.api_url)
    document["integration"] = other.integration_id
    client = make_client(session, ClarifyCredentials.from_credentials_file(document))

    with pytest.raises(ClarifyForbiddenError) as err:
        await client.check_credentials()

    assert err.value.code == -32003
    assert isinstance(err.value, ClarifyAuthError)


async def test_unreachable(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    client = make_client(session, credentials_for(emulator, integration, "basic-auth"))
    await emulator.stop()

    with pytest.raises(ClarifyConnectionError, match="Cannot reach Clarify"):
        await client.check_credentials()


# OAuth tokens


async def test_token_is_cached(
    oauth_client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    for _ in range(3):
        await oauth_client.insert(TIMES, {"a": [1, 2]})

    assert emulator.token_requests == 1


async def test_token_is_renewed_shortly_before_expiry(
    oauth_client: ClarifyClient, emulator: ClarifyEmulator, clock: FakeClock
) -> None:
    emulator.token_lifetime = 3600
    await oauth_client.insert(TIMES, {"a": [1, 2]})

    clock.now += 3600 - 61
    await oauth_client.insert(TIMES, {"a": [1, 2]})
    assert emulator.token_requests == 1

    clock.now += 1
    await oauth_client.insert(TIMES, {"a": [1, 2]})
    assert emulator.token_requests == 2
    # The renewal was proactive: Clarify never had to refuse a token.
    assert 401 not in {request.http_status for request in emulator.requests}


async def test_short_lived_token_is_renewed_halfway(
    oauth_client: ClarifyClient, emulator: ClarifyEmulator, clock: FakeClock
) -> None:
    emulator.token_lifetime = 10
    await oauth_client.insert(TIMES, {"a": [1, 2]})

    clock.now += 4.9
    await oauth_client.insert(TIMES, {"a": [1, 2]})
    assert emulator.token_requests == 1

    clock.now += 0.1
    await oauth_client.insert(TIMES, {"a": [1, 2]})
    assert emulator.token_requests == 2


async def test_concurrent_calls_share_one_token_fetch(
    oauth_client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    # Slow the token endpoint so every call arrives while the fetch is in flight.
    emulator.inject(Fault(kind="delay", delay=0.1, path=TOKEN_PATH))

    await asyncio.gather(
        *(oauth_client.insert(TIMES, {f"key{n}": [n, n]}) for n in range(5))
    )

    assert emulator.token_requests == 1
    assert rpc_requests(emulator) == 5


async def test_rejected_token_is_renewed_once(
    oauth_client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    await oauth_client.insert(TIMES, {"a": [1, 2]})
    emulator.expire_tokens()

    await oauth_client.insert(TIMES, {"a": [3, 4]})

    assert emulator.token_requests == 2
    assert [request.http_status for request in emulator.requests[-3:]] == [
        401,
        200,
        200,
    ]


async def test_concurrent_rejections_share_one_renewal(
    oauth_client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    await oauth_client.insert(TIMES, {"a": [1, 2]})
    emulator.expire_tokens()

    await asyncio.gather(
        *(oauth_client.insert(TIMES, {f"key{n}": [n, n]}) for n in range(3))
    )

    assert emulator.token_requests == 2


async def test_token_refused_twice_is_an_auth_error(
    oauth_client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    emulator.inject(Fault(kind="http", status=401, count=2, path=RPC_PATH))

    with pytest.raises(ClarifyAuthError) as err:
        await oauth_client.insert(TIMES, {"a": [1, 2]})

    assert err.value.status == 401
    assert emulator.token_requests == 2
    assert rpc_requests(emulator) == 2


async def test_basic_auth_is_not_retried(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    client = make_client(session, credentials_for(emulator, integration, "basic-auth"))
    emulator.inject(Fault(kind="http", status=401, path=RPC_PATH))

    with pytest.raises(ClarifyAuthError):
        await client.insert(TIMES, {"a": [1, 2]})

    assert rpc_requests(emulator) == 1
    assert token_fetches(emulator) == 0


async def test_token_without_lifetime_lives_until_refused(
    oauth_client: ClarifyClient,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    session: aiohttp.ClientSession,
    clock: FakeClock,
) -> None:
    """A token reply without expires_in is trusted until Clarify refuses it."""
    form = {
        "grant_type": "client_credentials",
        "client_id": integration.client_id,
        "client_secret": integration.client_secret,
        "audience": emulator.api_url,
    }
    async with session.post(emulator.api_url + "oauth/token", data=form) as response:
        token = (await response.json())["access_token"]
    emulator.inject(
        Fault(
            kind="http",
            status=200,
            message=json.dumps({"access_token": token}),
            path=TOKEN_PATH,
        )
    )

    await oauth_client.check_credentials()
    clock.now += 10 * 365 * 86400
    await oauth_client.check_credentials()
    assert token_fetches(emulator) == 2  # Ours above, then the client's.

    emulator.expire_tokens()
    await oauth_client.check_credentials()
    assert token_fetches(emulator) == 3


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault(kind="http", status=500), ClarifyConnectionError, 500),
        (Fault(kind="http", status=503, retry_after=30), ClarifyConnectionError, 503),
        (Fault(kind="http", status=429, retry_after=30), ClarifyRateLimitedError, 429),
        (Fault(kind="http", status=403), ClarifyAuthError, 403),
        (
            Fault(
                kind="http",
                status=400,
                message='{"error": "invalid_grant", "error_description": "nope"}',
            ),
            ClarifyAuthError,
            400,
        ),
        (
            Fault(kind="http", status=400, message='{"error": "invalid_scope"}'),
            ClarifyRequestError,
            400,
        ),
        (Fault(kind="http", status=400, message="<html>"), ClarifyRequestError, 400),
        (Fault(kind="malformed"), ClarifyConnectionError, 200),
        (reply({"token_type": "Bearer"}), ClarifyConnectionError, 200),
        (reply({"access_token": ""}), ClarifyConnectionError, 200),
        (Fault(kind="drop"), ClarifyConnectionError, None),
    ],
)
async def test_token_endpoint_failures(
    oauth_client: ClarifyClient,
    emulator: ClarifyEmulator,
    fault: Fault,
    error: type[ClarifyError],
    status: int | None,
) -> None:
    emulator.inject(replace(fault, path=TOKEN_PATH))

    with pytest.raises(error) as err:
        await oauth_client.insert(TIMES, {"a": [1, 2]})

    assert type(err.value) is error
    assert getattr(err.value, "status", None) == status
    if isinstance(err.value, ClarifyRetryableError):
        assert err.value.retry_after == fault.retry_after
    assert rpc_requests(emulator) == 0


# Transport and HTTP failures


@pytest.mark.parametrize(
    ("status", "retry_after", "error"),
    [
        (500, None, ClarifyConnectionError),
        (502, None, ClarifyConnectionError),
        (503, 12, ClarifyConnectionError),
        (504, None, ClarifyConnectionError),
        (408, None, ClarifyRateLimitedError),
        (429, None, ClarifyRateLimitedError),
        (429, 2.5, ClarifyRateLimitedError),
        (404, None, ClarifyConnectionError),
        (302, None, ClarifyConnectionError),
        (204, None, ClarifyConnectionError),
        (403, None, ClarifyForbiddenError),
        (400, None, ClarifyRequestError),
        (413, None, ClarifyRequestError),
        (422, None, ClarifyRequestError),
    ],
)
async def test_http_status(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    status: int,
    retry_after: float | None,
    error: type[ClarifyError],
) -> None:
    emulator.inject(
        Fault(kind="http", status=status, retry_after=retry_after, path=RPC_PATH)
    )

    with pytest.raises(error) as err:
        await client.insert(TIMES, {"a": [1, 2]})

    assert type(err.value) is error
    assert getattr(err.value, "status", None) == status
    if isinstance(err.value, ClarifyRetryableError):
        assert err.value.retry_after == retry_after
    if isinstance(err.value, ClarifyRequestError):
        assert err.value.code is None
        assert err.value.invalid_keys == frozenset()


async def test_http_error_with_rpc_error_body(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    """A JSON-RPC error inside an HTTP 400 is more precise than the status."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {
            "code": -32602,
            "message": "Invalid params",
            "data": {"pathErrors": [{"path": ["data", "series", "b"]}]},
        },
    }
    emulator.inject(
        Fault(kind="http", path=RPC_PATH, status=400, message=json.dumps(body))
    )

    with pytest.raises(ClarifyRequestError) as err:
        await client.insert(TIMES, {"a": [1, 2], "b": [3, 4]})

    assert (err.value.status, err.value.code) == (400, -32602)
    assert err.value.invalid_keys == {"b"}


async def test_timeout(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    client = make_client(
        session, credentials_for(emulator, integration, "basic-auth"), timeout=0.05
    )
    emulator.inject(Fault(kind="delay", path=RPC_PATH, delay=0.2))

    with pytest.raises(ClarifyConnectionError, match="Timed out"):
        await client.insert(TIMES, {"a": [1, 2]})


async def test_dropped_connection(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    emulator.inject(Fault(kind="drop", path=RPC_PATH))

    with pytest.raises(ClarifyConnectionError, match="Cannot reach Clarify"):
        await client.insert(TIMES, {"a": [1, 2]})


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="malformed", path=RPC_PATH),
        Fault(kind="http", path=RPC_PATH, status=200, message="[]"),
        Fault(kind="http", path=RPC_PATH, status=200, message=""),
    ],
)
async def test_unreadable_reply(
    client: ClarifyClient, emulator: ClarifyEmulator, fault: Fault
) -> None:
    emulator.inject(fault)

    with pytest.raises(ClarifyConnectionError, match="unreadable reply") as err:
        await client.insert(TIMES, {"a": [1, 2]})

    assert err.value.status == 200


# JSON-RPC errors


@pytest.mark.parametrize("code", [-32603, -32000, -32009, -32015])
async def test_transient_rpc_errors(
    client: ClarifyClient, emulator: ClarifyEmulator, code: int
) -> None:
    emulator.inject(Fault(kind="rpc", path=RPC_PATH, code=code, message="Busy"))

    with pytest.raises(ClarifyRetryableError, match=f"with code {code}: Busy$") as err:
        await client.insert(TIMES, {"a": [1, 2]})

    assert type(err.value) is ClarifyRetryableError
    assert (err.value.code, err.value.status, err.value.retry_after) == (
        code,
        200,
        None,
    )


async def test_forbidden_rpc_error(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    emulator.inject(Fault(kind="rpc", path=RPC_PATH, code=-32003))

    with pytest.raises(ClarifyForbiddenError) as err:
        await client.save_signals({"a": METADATA})

    assert err.value.code == -32003


@pytest.mark.parametrize(
    "code", [-32700, -32600, -32601, -32602, -32001, -32002, -32021, -1, 42]
)
async def test_request_rpc_errors(
    client: ClarifyClient, emulator: ClarifyEmulator, code: int
) -> None:
    data = {"trace": "0af7651916cd43dd8448eb211c80319c", "partialResult": {}}
    emulator.inject(Fault(kind="rpc", path=RPC_PATH, code=code, data=data))

    with pytest.raises(ClarifyRequestError) as err:
        await client.insert(TIMES, {"a": [1, 2]})

    assert (err.value.code, err.value.status, err.value.data) == (code, 200, data)
    assert err.value.invalid_keys == frozenset()


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        ("boom", None, "^integration.insert failed: boom$"),
        ({"code": True, "message": "odd"}, None, "failed: odd$"),
        ({"code": "-32602"}, None, "^integration.insert failed$"),
        (
            {"code": -32602, "message": None, "data": "text"},
            -32602,
            "failed with code -32602$",
        ),
        ([], None, r"failed: \[\]$"),
    ],
)
async def test_odd_rpc_errors(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    error: object,
    code: int | None,
    message: str,
) -> None:
    emulator.inject(reply({"jsonrpc": "2.0", "id": 1, "error": error}))

    with pytest.raises(ClarifyRequestError, match=message) as err:
        await client.insert(TIMES, {"a": [1, 2]})

    assert err.value.code == code
    assert err.value.invalid_keys == frozenset()


async def test_invalid_series_are_named(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    """A bad key is blamed precisely, even next to keys that contain dots."""
    with pytest.raises(ClarifyRequestError) as err:
        await client.insert(
            TIMES, {"sensor.ok": [1, 2], "sensor.bad key": [1, 2], "sensor": [1, 2]}
        )

    assert err.value.code == -32602
    assert err.value.invalid_keys == {"sensor.bad key"}


async def test_invalid_series_are_named_for_encoded_frames(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    data = {"times": TIMES, "series": {"sensor.a": [1], "sensor.b": [1, 2]}}

    with pytest.raises(ClarifyRequestError) as err:
        await client.insert_encoded(json.dumps(data).encode())

    assert err.value.invalid_keys == {"sensor.a"}


async def test_encoded_frame_without_series(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    with pytest.raises(ClarifyRequestError) as err:
        await client.insert_encoded(b'{"times": []}')

    assert err.value.code == -32602
    assert err.value.invalid_keys == frozenset()


async def test_invalid_signals_are_named(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    with pytest.raises(ClarifyRequestError) as err:
        await client.save_signals(
            {
                "sensor.a": METADATA,
                "sensor.a.b": METADATA | {"sourceType": "guess"},
                "sensor.c": METADATA | {"name": ""},
            }
        )

    assert err.value.invalid_keys == {"sensor.a.b", "sensor.c"}


@pytest.mark.parametrize(
    "result",
    [
        None,
        [],
        {},
        {"signalsByInput": []},
        {"signalsByInput": {"a": "junk", "b": {"created": True}, "c": {"id": 7}}},
    ],
)
async def test_odd_results_are_ignored(
    client: ClarifyClient, emulator: ClarifyEmulator, result: object
) -> None:
    emulator.inject(reply({"jsonrpc": "2.0", "id": 1, "result": result}))

    assert await client.insert(TIMES, {"a": [1, 2]}) == InsertResult({})


async def test_results_are_read_leniently(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    summaries = {
        "a": {"id": "c5i2e4u2jo3gn6a0tmag", "created": True, "future": [1]},
        "b": {"id": "c5i2e4u2jo3gn6a0tmb0", "created": "yes", "updated": 1},
        "c": {"id": "c5i2e4u2jo3gn6a0tmc0", "updated": True},
    }
    emulator.inject(
        reply({"jsonrpc": "2.0", "id": 1, "result": {"signalsByInput": summaries}}),
        reply({"jsonrpc": "2.0", "id": 2, "result": {"signalsByInput": summaries}}),
    )

    inserted = await client.insert(TIMES, {"a": [1, 2]})
    saved = await client.save_signals({"a": METADATA})

    assert inserted.signals_by_input == {
        "a": SignalInfo("c5i2e4u2jo3gn6a0tmag", created=True),
        "b": SignalInfo("c5i2e4u2jo3gn6a0tmb0", created=False),
        "c": SignalInfo("c5i2e4u2jo3gn6a0tmc0", created=False),
    }
    assert saved.signals_by_input == {
        "a": SavedSignal("c5i2e4u2jo3gn6a0tmag", created=True, updated=False),
        "b": SavedSignal("c5i2e4u2jo3gn6a0tmb0", created=False, updated=False),
        "c": SavedSignal("c5i2e4u2jo3gn6a0tmc0", created=False, updated=True),
    }


async def test_error_is_checked_even_with_a_result(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    emulator.inject(
        reply({"jsonrpc": "2.0", "id": 1, "result": {}, "error": {"code": -32015}})
    )

    with pytest.raises(ClarifyRetryableError):
        await client.insert(TIMES, {"a": [1, 2]})


async def test_request_ids_are_unique(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    """Every call is a request, never a notification: Clarify answers each one."""
    for _ in range(3):
        await client.insert(TIMES, {"a": [1, 2]})

    assert [r.http_status for r in emulator.requests if r.path == RPC_PATH] == [
        200,
        200,
        200,
    ]


# Secrets and support information


async def test_failures_log_trace_information(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.clarify.api")
    emulator.inject(
        Fault(
            kind="rpc",
            path=RPC_PATH,
            code=-32603,
            data={"trace": "0af7651916cd43dd8448eb2"},
        )
    )

    with pytest.raises(ClarifyRetryableError):
        await client.insert(TIMES, {"a": [1, 2]})

    assert "0af7651916cd43dd8448eb2" in caplog.text
    assert "traceparent 00-" in caplog.text


@pytest.mark.parametrize("kind", ["basic-auth", "client-credentials"])
async def test_secrets_never_leak(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    caplog: pytest.LogCaptureFixture,
    kind: Kind,
) -> None:
    caplog.set_level(logging.DEBUG)
    document = integration.credentials_file(emulator.api_url, kind)
    good = ClarifyCredentials.from_credentials_file(document)
    document["credentials"]["clientSecret"] = "wrong-secret-value"
    bad = ClarifyCredentials.from_credentials_file(document)
    secrets = {integration.password, integration.client_secret, "wrong-secret-value"}
    errors: list[ClarifyError] = []

    client = make_client(session, good)
    for fault in (
        Fault(kind="http", path=RPC_PATH, status=401, count=2),
        Fault(kind="http", path=RPC_PATH, status=500),
        Fault(kind="rpc", path=RPC_PATH, code=-32602, data={"params": {"x": ["bad"]}}),
        Fault(kind="drop", path=RPC_PATH),
    ):
        emulator.inject(fault)
        with pytest.raises(ClarifyError) as err:
            await client.insert(TIMES, {"a": [1, 2]})
        errors.append(err.value)
        emulator.clear_faults()  # Basic auth does not retry: one 401 is left.
    with pytest.raises(ClarifyAuthError) as err:
        await make_client(session, bad).check_credentials()
    errors.append(err.value)

    shown = [str(error) for error in errors] + [repr(error) for error in errors]
    shown += [repr(good), repr(bad), caplog.text]
    shown += [repr(record.args) for record in caplog.records]
    for secret in secrets:
        assert not any(secret in text for text in shown)
