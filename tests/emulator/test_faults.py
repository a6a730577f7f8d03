"""Fault injection: HTTP errors, RPC errors, garbage, delays, dropped connections."""

import asyncio
import json
import time

import aiohttp
import pytest

from tools.clarify_emulator import ClarifyEmulator, Fault, IntegrationCredentials

from .helpers import Api


async def test_http_fault_with_retry_after_then_normal(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    emulator.inject(Fault("http", status=429, retry_after=2.5, message="slow down"))
    reply = await api.insert({"a": [1, 2]})
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "2.5"
    assert reply.text == "slow down"
    assert emulator.points(credentials.integration_id) == {}
    assert (await api.insert({"a": [1, 2]})).status == 200
    assert [r.http_status for r in emulator.requests] == [429, 200]


async def test_http_fault_defaults(api: Api) -> None:
    emulator = api.emulator
    emulator.inject(Fault("http", status=503))
    reply = await api.insert({"a": [1, 2]})
    assert reply.status == 503
    assert "Retry-After" not in reply.headers


async def test_count_repeats_a_fault(api: Api, emulator: ClarifyEmulator) -> None:
    emulator.inject(Fault("http", count=2, status=502))
    statuses = [(await api.insert({"a": [1, 2]})).status for _ in range(3)]
    assert statuses == [502, 502, 200]


async def test_faults_apply_in_fifo_order(api: Api, emulator: ClarifyEmulator) -> None:
    emulator.inject(Fault("http", status=503), Fault("http", status=502))
    emulator.inject(Fault("rpc", code=-32015))
    first, second, third = [await api.insert({"a": [1, 2]}) for _ in range(3)]
    assert (first.status, second.status) == (503, 502)
    assert third.error["code"] == -32015


async def test_rpc_fault_echoes_the_id(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    partial: dict[str, object] = {"partialResult": {"signalsByInput": {}}}
    emulator.inject(Fault("rpc", code=-32021, data=partial))
    reply = await api.insert({"a": [1, 2]}, request_id="req-9")
    assert reply.status == 200
    assert reply.json["id"] == "req-9"
    assert reply.error == {
        "code": -32021,
        "message": "Partial failure",
        "data": partial,
    }
    assert emulator.points(credentials.integration_id) == {}


async def test_rpc_fault_custom_message(api: Api, emulator: ClarifyEmulator) -> None:
    emulator.inject(Fault("rpc", code=-32000, message="database on fire"))
    reply = await api.insert({"a": [1, 2]})
    assert reply.error["message"] == "database on fire"


async def test_malformed_fault(api: Api, emulator: ClarifyEmulator) -> None:
    emulator.inject(Fault("malformed"))
    reply = await api.insert({"a": [1, 2]})
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.text)


async def test_drop_fault_closes_the_connection(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    emulator.inject(Fault("drop"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.insert({"a": [1, 2]})
    assert emulator.requests[0].http_status == 0
    assert emulator.points(credentials.integration_id) == {}
    assert (await api.insert({"a": [1, 2]})).status == 200


async def test_delay_fault_then_normal_handling(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    emulator.inject(Fault("delay", delay=0.2))
    started = time.monotonic()
    reply = await api.insert({"a": [1, 2]})
    assert time.monotonic() - started >= 0.2
    assert reply.status == 200
    assert len(emulator.points(credentials.integration_id)["a"]) == 2


async def test_delay_fault_trips_a_client_timeout(
    api: Api, emulator: ClarifyEmulator
) -> None:
    emulator.inject(Fault("delay", delay=0.3))
    with pytest.raises(asyncio.TimeoutError):
        async with asyncio.timeout(0.05):
            await api.insert({"a": [1, 2]})


async def test_method_filter(api: Api, emulator: ClarifyEmulator) -> None:
    emulator.inject(Fault("http", status=500, rpc_method="integration.saveSignals"))
    assert (await api.insert({"a": [1, 2]})).status == 200
    assert (await api.token()).status == 200
    assert (await api.save({"a": {"name": "A"}})).status == 500


async def test_path_filter_for_the_token_endpoint(
    api: Api, emulator: ClarifyEmulator
) -> None:
    emulator.inject(Fault("http", status=503, path="/v1/oauth/token"))
    assert (await api.insert({"a": [1, 2]})).status == 200
    failed = await api.token()
    assert failed.status == 503
    assert emulator.token_requests == 0
    assert (await api.token()).status == 200


async def test_pages_do_not_consume_faults(
    session: aiohttp.ClientSession, api: Api, emulator: ClarifyEmulator
) -> None:
    emulator.inject(Fault("http", status=500))
    async with session.get(emulator.base_url) as response:
        assert response.status == 200
    assert (await api.insert({"a": [1, 2]})).status == 500


async def test_clear_faults(api: Api, emulator: ClarifyEmulator) -> None:
    emulator.inject(Fault("http", count=5))
    emulator.clear_faults()
    assert (await api.insert({"a": [1, 2]})).status == 200


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"kind": "explode"}, "unknown fault kind"),
        ({"kind": "http", "count": 0}, "count must be at least 1"),
        ({"kind": "delay", "delay": -1}, "delay must not be negative"),
    ],
)
def test_fault_refuses_nonsense(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Fault(**kwargs)  # type: ignore[arg-type]


def test_fault_is_frozen() -> None:
    fault = Fault("http")
    with pytest.raises(AttributeError):
        fault.status = 400  # type: ignore[misc]


@pytest.mark.parametrize("named", [True, False])
async def test_rejected_series(
    api: Api, emulator: ClarifyEmulator, named: bool
) -> None:
    """An insert carrying a refused series fails whole; others pass."""
    emulator.reject_series("bad", named=named)
    reply = await api.insert({"good": [1, 2], "bad": [2, 3]})
    assert reply.error["code"] == -32602
    assert reply.error["data"].get("pathErrors") == (
        [{"path": ["data", "series", "bad"], "error": "refused by the emulator"}]
        if named
        else None
    )
    assert (await api.insert({"good": [1, 2]})).result
    emulator.accept_series("bad")
    assert (await api.insert({"bad": [2, 3]})).result


async def test_faults_at_random(api: Api, emulator: ClarifyEmulator) -> None:
    """A fault source decides per request; queued faults still come first."""
    seen: list[tuple[str, str | None]] = []

    def source(path: str, method: str | None) -> Fault | None:
        seen.append((path, method))
        return Fault("http", status=503) if len(seen) % 2 else None

    emulator.fail_at_random(source)
    emulator.inject(Fault("http", status=502))
    assert (await api.insert({"a": [1, 2]})).status == 502
    assert (await api.insert({"a": [1, 2]})).status == 503
    assert (await api.insert({"a": [1, 2]})).status == 200
    assert seen == [("/v1/rpc", "integration.insert")] * 2
    emulator.fail_at_random(None)
    assert (await api.insert({"a": [1, 2]})).status == 200
