"""Tests for the Clarify client against the emulator, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, replace
from datetime import UTC, datetime
import json
import logging
import re
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
    ClarifyInvalidDataError,
    ClarifyPayloadTooLargeError,
    ClarifyRateLimitedError,
    ClarifyRequestError,
    ClarifyRetryableError,
    ClarifyUnexpectedError,
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


def reply(body: object) -> Fault:
    """A fault whose body is a handcrafted HTTP 200 reply."""
    return Fault(kind="http", status=200, message=json.dumps(body), path=RPC_PATH)


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
HEADER_TRACE = {"traceparent": TRACEPARENT}
# The trace ID of the random traceparent the emulator puts on its JSON-RPC replies.
ANY_TRACE = re.compile(r"[0-9a-f]{32}")
NAMED = {"pathErrors": [{"path": ["data", "series", "b"], "error": "bad"}]}


def envelope(request_id: object = 1, **members: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, **members}


def http_reply(status: int, body: object, **fields: Any) -> Fault:
    """A handcrafted JSON reply with any status."""
    return Fault(
        kind="http",
        status=status,
        message=json.dumps(body),
        content_type="application/json",
        **fields,
    )


def secrets_of(
    integration: IntegrationCredentials, emulator: ClarifyEmulator
) -> list[str]:
    """Everything that must never be shown: secrets, tokens, the Basic header."""
    basic = base64.b64encode(
        f"{integration.integration_id}:{integration.password}".encode()
    ).decode()
    return [
        integration.password,
        integration.client_secret,
        basic,
        *emulator.issued_tokens,
    ]


def assert_presentable(error: ClarifyError, secrets: list[str]) -> None:
    """Fit for a log line or a repair issue: short, no secret, no markup."""
    for text in (str(error), repr(error), error.message or ""):
        assert len(text) < 400, text
        assert "<" not in text, text
        for secret in secrets:
            assert secret not in text


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


@pytest.mark.parametrize("status", [200, 400, 422])
async def test_check_credentials_accepts_invalid_params(
    client: ClarifyClient, emulator: ClarifyEmulator, status: int
) -> None:
    """Clarify may refuse an empty saveSignals, but only after checking access."""
    emulator.inject(
        Fault.invalid_params(method="integration.saveSignals", status=status)
    )

    await client.check_credentials()


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(kind="rpc", code=-32601), ClarifyUnexpectedError),
        (
            http_reply(200, {"jsonrpc": "2.0", "id": 7, "error": {"code": -32602}}),
            ClarifyUnexpectedError,
        ),
        (Fault(kind="proxy", status=400), ClarifyUnexpectedError),
        (Fault(kind="malformed"), ClarifyUnexpectedError),
        (Fault(kind="http", status=413), ClarifyPayloadTooLargeError),
    ],
)
async def test_check_credentials_passes_other_answers_on(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    fault: Fault,
    error: type[ClarifyError],
) -> None:
    emulator.inject(replace(fault, path=RPC_PATH))

    with pytest.raises(error):
        await client.check_credentials()


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
    ("fault", "error", "status", "message"),
    [
        (Fault(kind="http", status=500), ClarifyConnectionError, 500, None),
        (
            Fault(kind="http", status=503, retry_after=30),
            ClarifyConnectionError,
            503,
            None,
        ),
        (Fault(kind="proxy", status=502), ClarifyConnectionError, 502, None),
        (
            Fault(kind="http", status=429, retry_after=30),
            ClarifyRateLimitedError,
            429,
            None,
        ),
        (Fault(kind="http", status=403), ClarifyAuthError, 403, None),
        (Fault(kind="proxy", status=401), ClarifyAuthError, 401, None),
        (
            Fault(
                kind="http",
                status=400,
                message='{"error": "invalid_grant", "error_description": "nope"}',
            ),
            ClarifyAuthError,
            400,
            "invalid_grant",
        ),
        # Not about the credentials, and nothing a smaller request would cure.
        (
            Fault(kind="http", status=400, message='{"error": "invalid_scope"}'),
            ClarifyUnexpectedError,
            400,
            "invalid_scope",
        ),
        (
            Fault(kind="http", status=400, message='{"error": "Not An OAuth Code"}'),
            ClarifyUnexpectedError,
            400,
            "Not An OAuth Code",
        ),
        (Fault(kind="proxy", status=400), ClarifyUnexpectedError, 400, None),
        (Fault(kind="http", status=404), ClarifyUnexpectedError, 404, None),
        (Fault(kind="http", status=413), ClarifyUnexpectedError, 413, None),
        (Fault(kind="malformed"), ClarifyUnexpectedError, 200, None),
        (Fault(kind="proxy", status=200), ClarifyUnexpectedError, 200, None),
        (reply({"token_type": "Bearer"}), ClarifyUnexpectedError, 200, None),
        (reply({"access_token": ""}), ClarifyUnexpectedError, 200, None),
        (Fault(kind="drop"), ClarifyConnectionError, None, None),
    ],
)
async def test_token_endpoint_failures(
    oauth_client: ClarifyClient,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    fault: Fault,
    error: type[ClarifyError],
    status: int | None,
    message: str | None,
) -> None:
    emulator.inject(replace(fault, path=TOKEN_PATH))

    with pytest.raises(error) as err:
        await oauth_client.insert(TIMES, {"a": [1, 2]})

    assert type(err.value) is error
    assert (err.value.status, err.value.code) == (status, None)
    assert err.value.message == message
    assert err.value.retry_after == fault.retry_after
    assert_presentable(err.value, [integration.client_secret])
    assert rpc_requests(emulator) == 0


# The error taxonomy: one row per way a call can fail, and the class that says
# what to do with the data. Each row runs with both kinds of credentials.


@dataclass(frozen=True)
class Row:
    """A fault, and what the client must raise for it."""

    fault: Fault
    error: type[ClarifyError]
    status: int | None
    code: int | None = None
    trace: str | re.Pattern[str] | None = None
    message: str | None = None
    invalid_keys: frozenset[str] = frozenset()


def row(id_: str, *args: Any, **kwargs: Any) -> Any:
    return pytest.param(Row(*args, **kwargs), id=id_)


TAXONOMY = [
    # Transient: keep the data, retry after a backoff.
    row("drop", Fault(kind="drop"), ClarifyConnectionError, None),
    row("http-500", Fault(kind="http", status=500), ClarifyConnectionError, 500),
    row(
        "http-503-retry-after",
        Fault(kind="http", status=503, retry_after=12, headers=HEADER_TRACE),
        ClarifyConnectionError,
        503,
        trace=TRACE,
    ),
    row("proxy-502", Fault(kind="proxy", status=502), ClarifyConnectionError, 502),
    row("proxy-504", Fault(kind="proxy", status=504), ClarifyConnectionError, 504),
    row(
        "json-500",
        http_reply(500, {"message": "Internal server error"}),
        ClarifyConnectionError,
        500,
        message="Internal server error",
    ),
    row("http-408", Fault(kind="http", status=408), ClarifyRateLimitedError, 408),
    row(
        "http-429-retry-after",
        Fault(kind="http", status=429, retry_after=2.5),
        ClarifyRateLimitedError,
        429,
    ),
    *(
        row(
            f"rpc{code}",
            Fault(kind="rpc", code=code, message="Busy", data={"trace": "t-1"}),
            ClarifyRetryableError,
            200,
            code,
            trace="t-1",
            message="Busy",
        )
        for code in (-32603, -32000, -32001, -32009, -32015)
    ),
    row(
        "rpc-32021-partial-failure",
        Fault(kind="rpc", code=-32021, data={"partialResult": {}}),
        ClarifyRetryableError,
        200,
        -32021,
        trace=ANY_TRACE,
        message="Partial failure",
    ),
    # The user must act; the data is kept.
    row(
        "http-401-twice",
        Fault(kind="http", status=401, count=2),
        ClarifyAuthError,
        401,
    ),
    row("http-403", Fault(kind="http", status=403), ClarifyForbiddenError, 403),
    row("proxy-403", Fault(kind="proxy", status=403), ClarifyForbiddenError, 403),
    row(
        "rpc-32003",
        Fault(kind="rpc", code=-32003),
        ClarifyForbiddenError,
        200,
        -32003,
        trace=ANY_TRACE,
        message="Forbidden",
    ),
    # Clarify itself says the data is invalid.
    row(
        "rpc-32602-pathErrors",
        Fault.invalid_params("b", trace=TRACE),
        ClarifyInvalidDataError,
        200,
        -32602,
        trace=TRACE,
        message="Invalid params",
        invalid_keys=frozenset({"b"}),
    ),
    row(
        "rpc-32602-params",
        Fault.invalid_params("sensor.a", style="params"),
        ClarifyInvalidDataError,
        200,
        -32602,
        trace=ANY_TRACE,
        message="Invalid params",
        invalid_keys=frozenset({"sensor.a"}),
    ),
    row(
        "rpc-32602-unnamed",
        Fault.invalid_params(),
        ClarifyInvalidDataError,
        200,
        -32602,
        trace=ANY_TRACE,
        message="Invalid params",
    ),
    row(
        "rpc-32602-http-400",
        Fault.invalid_params("b", status=400, headers=HEADER_TRACE),
        ClarifyInvalidDataError,
        400,
        -32602,
        trace=TRACE,
        message="Invalid params",
        invalid_keys=frozenset({"b"}),
    ),
    row(
        "rpc-32602-http-422",
        Fault.invalid_params(status=422),
        ClarifyInvalidDataError,
        422,
        -32602,
        trace=ANY_TRACE,
        message="Invalid params",
    ),
    # Too large: split and send again.
    row(
        "http-413",
        Fault(kind="http", status=413),
        ClarifyPayloadTooLargeError,
        413,
    ),
    row(
        "proxy-413",
        Fault(kind="proxy", status=413),
        ClarifyPayloadTooLargeError,
        413,
    ),
    row(
        "rpc-32602-http-413",
        Fault.invalid_params("b", status=413),
        ClarifyPayloadTooLargeError,
        413,
        -32602,
        trace=ANY_TRACE,
        message="Invalid params",
    ),
    # Not about the data, and not transient: keep it, back off, tell the user.
    row("proxy-400", Fault(kind="proxy", status=400), ClarifyUnexpectedError, 400),
    row(
        "proxy-400-traceparent",
        Fault(kind="proxy", status=400, headers=HEADER_TRACE),
        ClarifyUnexpectedError,
        400,
        trace=TRACE,
    ),
    row("proxy-422", Fault(kind="proxy", status=422), ClarifyUnexpectedError, 422),
    row("http-400", Fault(kind="http", status=400), ClarifyUnexpectedError, 400),
    row("http-404", Fault(kind="http", status=404), ClarifyUnexpectedError, 404),
    row("http-405", Fault(kind="http", status=405), ClarifyUnexpectedError, 405),
    row("http-422", Fault(kind="http", status=422), ClarifyUnexpectedError, 422),
    row(
        "json-400",
        http_reply(400, {"error": "unsupported_api_version", "message": "Use 1.1"}),
        ClarifyUnexpectedError,
        400,
        message="Use 1.1",
    ),
    row(
        "rpc-32600-http-400",
        Fault(kind="rpc", code=-32600, status=400),
        ClarifyUnexpectedError,
        400,
        -32600,
        trace=ANY_TRACE,
        message="Invalid request",
    ),
    row(
        "rpc-32602-http-400-wrong-id",
        http_reply(400, envelope(99, error={"code": -32602, "data": NAMED})),
        ClarifyUnexpectedError,
        400,
        -32602,
    ),
    row(
        "rpc-32602-http-422-no-jsonrpc",
        http_reply(422, {"id": 1, "error": {"code": -32602, "data": NAMED}}),
        ClarifyUnexpectedError,
        422,
        -32602,
    ),
    row("http-302", Fault(kind="http", status=302), ClarifyUnexpectedError, 302),
    row("http-307", Fault(kind="http", status=307), ClarifyUnexpectedError, 307),
    row("http-204", Fault(kind="http", status=204), ClarifyUnexpectedError, 204),
    row("http-202", http_reply(202, envelope()), ClarifyUnexpectedError, 202),
    row("malformed", Fault(kind="malformed"), ClarifyUnexpectedError, 200),
    row("proxy-200", Fault(kind="proxy", status=200), ClarifyUnexpectedError, 200),
    row("text-200", Fault(kind="http", status=200), ClarifyUnexpectedError, 200),
    row("not-rpc", Fault(kind="not_rpc"), ClarifyUnexpectedError, 200),
    row(
        "wrong-id",
        Fault(kind="wrong_id"),
        ClarifyUnexpectedError,
        200,
        trace=ANY_TRACE,
    ),
    row("json-array", reply([]), ClarifyUnexpectedError, 200),
    row("no-jsonrpc", reply({"id": 1, "result": {}}), ClarifyUnexpectedError, 200),
    row(
        "jsonrpc-1",
        reply(envelope(jsonrpc="1.0", result={})),
        ClarifyUnexpectedError,
        200,
    ),
    row("id-true", reply(envelope(True, result={})), ClarifyUnexpectedError, 200),
    row("id-float", reply(envelope(1.0, result={})), ClarifyUnexpectedError, 200),
    row("id-string", reply(envelope("1", result={})), ClarifyUnexpectedError, 200),
    row("no-result", reply(envelope()), ClarifyUnexpectedError, 200),
    row(
        "rpc-32602-wrong-id",
        reply(envelope(2, error={"code": -32602, "data": NAMED})),
        ClarifyUnexpectedError,
        200,
        -32602,
    ),
    *(
        row(
            f"rpc{code}",
            Fault(kind="rpc", code=code, headers=HEADER_TRACE),
            ClarifyUnexpectedError,
            200,
            code,
            trace=TRACE,
            message=message,
        )
        for code, message in (
            (-32700, "Parse error"),
            (-32600, "Invalid request"),
            (-32601, "Method not found"),
            (-32002, "Found invalid resource"),
            (-32099, "Error"),
            (-1, "Error"),
            (42, "Error"),
        )
    ),
    row(
        "rpc-error-string",
        reply(envelope(error="boom")),
        ClarifyUnexpectedError,
        200,
        message="boom",
    ),
    row(
        "rpc-code-bool",
        reply(envelope(error={"code": True, "message": "odd"})),
        ClarifyUnexpectedError,
        200,
        message="odd",
    ),
    row(
        "rpc-code-string",
        reply(envelope(error={"code": "-32602", "data": NAMED})),
        ClarifyUnexpectedError,
        200,
    ),
    row("rpc-error-list", reply(envelope(error=[])), ClarifyUnexpectedError, 200),
]


@pytest.mark.parametrize("case", TAXONOMY)
async def test_error_taxonomy(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    case: Row,
) -> None:
    emulator.inject(replace(case.fault, path=RPC_PATH))

    with pytest.raises(ClarifyError) as err:
        await client.insert(TIMES, {"a": [1, 2], "b": [3, 4], "sensor.a": [5, 6]})

    error = err.value
    assert type(error) is case.error, str(error)
    assert (error.status, error.code, error.message) == (
        case.status,
        case.code,
        case.message,
    )
    if isinstance(case.trace, re.Pattern):
        assert error.trace_id is not None
        assert case.trace.fullmatch(error.trace_id)
    else:
        assert error.trace_id == case.trace
    assert error.retry_after == case.fault.retry_after
    assert getattr(error, "invalid_keys", frozenset()) == case.invalid_keys
    assert_presentable(error, secrets_of(integration, emulator))
    # Nothing was stored: none of these replies came from a stored insert.
    assert emulator.points(integration.integration_id) == {}


def test_error_classes() -> None:
    """The old name means what it always meant: Clarify refused the data."""
    assert ClarifyRequestError is ClarifyInvalidDataError
    for refusal in (ClarifyPayloadTooLargeError, ClarifyUnexpectedError):
        assert not issubclass(refusal, ClarifyInvalidDataError)
        assert not issubclass(refusal, ClarifyRetryableError)
        assert not issubclass(refusal, ClarifyAuthError)
    assert issubclass(ClarifyForbiddenError, ClarifyAuthError)
    assert issubclass(ClarifyRateLimitedError, ClarifyRetryableError)
    assert issubclass(ClarifyConnectionError, ClarifyRetryableError)


async def test_timeout(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    client = make_client(
        session, credentials_for(emulator, integration, "basic-auth"), timeout=0.05
    )
    emulator.inject(Fault(kind="delay", path=RPC_PATH, delay=0.2))

    with pytest.raises(ClarifyConnectionError, match="Timed out") as err:
        await client.insert(TIMES, {"a": [1, 2]})

    assert (err.value.status, err.value.code, err.value.trace_id) == (None, None, None)


async def test_dropped_connection(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    emulator.inject(Fault(kind="drop", path=RPC_PATH))

    with pytest.raises(ClarifyConnectionError, match="Cannot reach Clarify"):
        await client.insert(TIMES, {"a": [1, 2]})


async def test_request_over_the_size_limit(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Clarify's own limit, not an injected fault: the same data fits when split."""
    series = {f"sensor.s{n}": [float(n), None] for n in range(40)}
    extra: dict[str, list[float | None]] = {
        f"sensor.extra{n}": [1.0, 2.0] for n in range(20)
    }
    # Room for the envelope around the frame, not for the extra series.
    emulator.max_body_bytes = len(encode_frame(TIMES, series)) + 200

    with pytest.raises(ClarifyPayloadTooLargeError) as err:
        await client.insert(TIMES, series | extra)

    assert err.value.status == 413
    assert_presentable(err.value, secrets_of(integration, emulator))
    await client.insert(TIMES, series)
    await client.insert(TIMES, extra)
    assert len(emulator.points(integration.integration_id)) == 60


# Clarify refuses the data itself


async def test_poisoned_series(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    emulator.reject_series("sensor.bad", named=True)
    emulator.reject_series("sensor.worse")

    with pytest.raises(ClarifyInvalidDataError) as named:
        await client.insert(TIMES, {"sensor.ok": [1, 2], "sensor.bad": [1, 2]})
    with pytest.raises(ClarifyInvalidDataError) as unnamed:
        await client.insert(TIMES, {"sensor.ok": [1, 2], "sensor.worse": [1, 2]})

    assert named.value.invalid_keys == {"sensor.bad"}
    assert unnamed.value.invalid_keys == frozenset()
    for error in (named.value, unnamed.value):
        assert (error.status, error.code) == (200, -32602)
        # Both the error data and the traceparent carry one; the data wins.
        assert error.trace_id == error.data["trace"]  # type: ignore[index]
    await client.insert(TIMES, {"sensor.ok": [1, 2]})


async def test_poisoned_metadata(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    emulator.reject_series("sensor.bad", named=True, style="params", metadata=True)

    with pytest.raises(ClarifyInvalidDataError) as err:
        await client.save_signals({"sensor.bad": METADATA, "sensor.b": METADATA})

    assert err.value.invalid_keys == {"sensor.bad"}


async def test_invalid_series_are_named(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    """A bad key is blamed precisely, even next to keys that contain dots."""
    with pytest.raises(ClarifyInvalidDataError) as err:
        await client.insert(
            TIMES, {"sensor.ok": [1, 2], "sensor.bad key": [1, 2], "sensor": [1, 2]}
        )

    assert err.value.code == -32602
    assert err.value.invalid_keys == {"sensor.bad key"}


async def test_invalid_series_are_named_for_encoded_frames(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    data = {"times": TIMES, "series": {"sensor.a": [1], "sensor.b": [1, 2]}}

    with pytest.raises(ClarifyInvalidDataError) as err:
        await client.insert_encoded(json.dumps(data).encode())

    assert err.value.invalid_keys == {"sensor.a"}


async def test_encoded_frame_without_series(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    with pytest.raises(ClarifyInvalidDataError) as err:
        await client.insert_encoded(b'{"times": []}')

    assert err.value.code == -32602
    assert err.value.invalid_keys == frozenset()


async def test_invalid_signals_are_named(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    with pytest.raises(ClarifyInvalidDataError) as err:
        await client.save_signals(
            {
                "sensor.a": METADATA,
                "sensor.a.b": METADATA | {"sourceType": "guess"},
                "sensor.c": METADATA | {"name": ""},
            }
        )

    assert err.value.invalid_keys == {"sensor.a.b", "sensor.c"}


async def test_old_handlers_catch_only_refused_data(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    """Code that drops what `except ClarifyRequestError` catches drops no more."""
    emulator.inject(
        Fault(kind="proxy", status=400, path=RPC_PATH),
        Fault(kind="http", status=413, path=RPC_PATH),
        Fault(kind="rpc", code=-32601, path=RPC_PATH),
    )
    for _ in range(3):
        with pytest.raises(ClarifyError) as err:
            await client.insert(TIMES, {"a": [1, 2]})
        assert not isinstance(err.value, ClarifyRequestError)


# Replies read leniently


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

    assert "trace 0af7651916cd43dd8448eb2" in caplog.text
    assert "traceparent 00-" in caplog.text


async def test_proxy_page_is_an_excerpt_in_the_debug_log_only(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.clarify.api")
    page = "Please sign in to the guest network. " * 50
    emulator.inject(Fault(kind="proxy", status=400, message=page, path=RPC_PATH))

    with pytest.raises(ClarifyUnexpectedError) as err:
        await client.insert(TIMES, {"a": [1, 2]})

    assert (
        str(err.value)
        == "integration.insert failed with HTTP 400 (text/html reply, not JSON)"
    )
    assert err.value.message is None
    logged = [r.getMessage() for r in caplog.records if "HTTP 400" in r.getMessage()]
    assert len(logged) == 1
    assert "body '400 Bad Request 400 Bad Request Please sign in" in logged[0]
    assert "<" not in logged[0]
    assert len(logged[0]) < 300


async def test_nothing_is_logged_above_debug(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The caller decides what is worth a warning; the client only explains."""
    caplog.set_level(logging.INFO, logger="custom_components.clarify.api")
    emulator.inject(Fault(kind="proxy", status=400, path=RPC_PATH))

    with pytest.raises(ClarifyUnexpectedError):
        await client.insert(TIMES, {"a": [1, 2]})

    assert caplog.records == []


async def test_long_messages_are_shortened(
    client: ClarifyClient, emulator: ClarifyEmulator
) -> None:
    emulator.inject(
        Fault(kind="rpc", code=-32000, message="x" * 1000 + "\n\tend", path=RPC_PATH)
    )

    with pytest.raises(ClarifyRetryableError) as err:
        await client.insert(TIMES, {"a": [1, 2]})

    assert err.value.message == "x" * 199 + "…"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("  Invalid\r\n\tparams  ", "Invalid params"),
        ("<b>Invalid</b> <i>params</i>", "Invalid params"),
        ("<!-- note -->Invalid params", "Invalid params"),
        ("value a < b > c", "value a < b > c"),
        ("<p>\n</p>", None),
    ],
)
async def test_messages_are_cleaned(
    client: ClarifyClient, emulator: ClarifyEmulator, message: str, expected: str | None
) -> None:
    emulator.inject(Fault(kind="rpc", code=-32015, message=message, path=RPC_PATH))

    with pytest.raises(ClarifyRetryableError) as err:
        await client.insert(TIMES, {"a": [1, 2]})

    assert err.value.message == expected


@pytest.mark.parametrize(
    ("data", "headers", "expected"),
    [
        ({"trace": "abc-123"}, {"traceparent": TRACEPARENT}, "abc-123"),
        ({"trace": "not a trace id!"}, {"traceparent": TRACEPARENT}, TRACE),
        ({"trace": 42}, {"traceparent": TRACEPARENT.upper()}, TRACE),
        ("text", {"traceparent": f" {TRACEPARENT} "}, TRACE),
        (None, {"traceparent": "00-short-00f067aa0ba902b7-01"}, None),
        (None, {"traceparent": "<script>"}, None),
    ],
)
async def test_trace_ids(
    client: ClarifyClient,
    emulator: ClarifyEmulator,
    data: object,
    headers: dict[str, str],
    expected: str | None,
) -> None:
    emulator.inject(
        Fault(kind="rpc", code=-32015, data=data, headers=headers, path=RPC_PATH)
    )

    with pytest.raises(ClarifyRetryableError) as err:
        await client.insert(TIMES, {"a": [1, 2]})

    assert err.value.trace_id == expected


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
    errors: list[ClarifyError] = []

    client = make_client(session, good)
    await client.check_credentials()
    # Replies that quote what the request carried, as a careless proxy might.
    if kind == "basic-auth":
        sent = [integration.password, secrets_of(integration, emulator)[2]]
    else:
        sent = [integration.client_secret, *emulator.issued_tokens]
    echo = " ".join(sent)
    for fault in (
        Fault(kind="http", path=RPC_PATH, status=500),
        Fault(kind="rpc", path=RPC_PATH, code=-32602, data={"params": {"x": ["bad"]}}),
        Fault(kind="drop", path=RPC_PATH),
        Fault(kind="rpc", path=RPC_PATH, code=-32000, message=f"Saw {echo}"),
        Fault(kind="proxy", path=RPC_PATH, status=400, message=f"Saw {echo}"),
        Fault(kind="http", path=RPC_PATH, status=502, message=f"Saw\n{echo}"),
        http_reply(403, {"message": f"Saw {echo}"}, path=RPC_PATH),
        # Last: it renews the token, which the echoes above could not know.
        Fault(kind="http", path=RPC_PATH, status=401, count=2),
    ):
        emulator.inject(fault)
        with pytest.raises(ClarifyError) as err:
            await client.insert(TIMES, {"a": [1, 2]})
        errors.append(err.value)
        emulator.clear_faults()  # Basic auth does not retry: one 401 is left.
    emulator.inject(
        http_reply(
            400,
            {
                "error": "invalid_request",
                "error_description": "Saw wrong-secret-value",
                "message": "Saw wrong-secret-value",
            },
            path=TOKEN_PATH,
        )
    )
    with pytest.raises(ClarifyError) as err:
        await make_client(session, bad).check_credentials()
    errors.append(err.value)
    emulator.clear_faults()
    with pytest.raises(ClarifyAuthError) as err:
        await make_client(session, bad).check_credentials()
    errors.append(err.value)

    assert any("[redacted]" in (error.message or "") for error in errors)
    assert "[redacted]" in caplog.text
    secrets = [*secrets_of(integration, emulator), "wrong-secret-value"]
    for error in errors:
        assert_presentable(error, secrets)
    shown = [repr(good), repr(bad), caplog.text]
    shown += [repr(record.args) for record in caplog.records]
    for secret in secrets:
        assert not any(secret in text for text in shown)
