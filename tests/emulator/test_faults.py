"""Fault injection: HTTP errors, proxy pages, RPC errors, garbage, delays, drops."""

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from tools.clarify_emulator import (
    ClarifyEmulator,
    Fault,
    IntegrationCredentials,
    NameStyle,
    SeriesRefusal,
    invalid_params_data,
    proxy_page,
)

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
        ({"kind": "proxy", "status": 101}, "status must be a final HTTP status"),
        ({"kind": "http", "status": 600}, "status must be a final HTTP status"),
    ],
)
def test_fault_refuses_nonsense(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Fault(**kwargs)  # type: ignore[arg-type]


def test_fault_is_frozen() -> None:
    fault = Fault("http")
    with pytest.raises(AttributeError):
        fault.status = 400  # type: ignore[misc]


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


# Answers that are not Clarify's: proxies, caches, gateways


@pytest.mark.parametrize("status", [400, 413, 502, 200])
async def test_proxy_page(
    api: Api,
    emulator: ClarifyEmulator,
    credentials: IntegrationCredentials,
    status: int,
) -> None:
    """A reverse proxy's HTML page, with any status, in place of Clarify's reply."""
    emulator.inject(Fault("proxy", status=status))
    reply = await api.insert({"a": [1, 2]})
    assert reply.status == status
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.text.startswith("<html>")
    assert f"<title>{status} " in reply.text
    assert "traceparent" not in reply.headers
    assert emulator.points(credentials.integration_id) == {}
    assert emulator.requests[0].http_status == status


async def test_proxy_page_defaults_to_bad_gateway(
    api: Api, emulator: ClarifyEmulator
) -> None:
    emulator.inject(Fault("proxy", message="upstream <timed out>", retry_after=7))
    reply = await api.insert({"a": [1, 2]})
    assert reply.status == 502
    assert "<title>502 Bad Gateway</title>" in reply.text
    assert "<p>upstream &lt;timed out&gt;</p>" in reply.text
    assert reply.headers["Retry-After"] == "7"


def test_proxy_page_for_a_status_without_a_name() -> None:
    assert "<title>499 Error</title>" in proxy_page(499)


async def test_proxy_page_in_front_of_the_token_endpoint(
    api: Api, emulator: ClarifyEmulator
) -> None:
    emulator.inject(Fault("proxy", status=503, path="/v1/oauth/token"))
    reply = await api.token()
    assert reply.status == 503
    assert reply.text.startswith("<html>")
    assert emulator.token_requests == 0


async def test_http_fault_with_content_type_and_headers(
    api: Api, emulator: ClarifyEmulator
) -> None:
    emulator.inject(
        Fault(
            "http",
            status=404,
            message='{"message": "no route"}',
            content_type="application/json",
            headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
        )
    )
    reply = await api.insert({"a": [1, 2]})
    assert reply.status == 404
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json == {"message": "no route"}
    assert reply.headers["traceparent"].startswith("00-aaaa")


async def test_wrong_id_fault(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    """A success reply to some other request: the data was not stored."""
    emulator.inject(Fault("wrong_id"), Fault("wrong_id", status=400))
    reply = await api.insert({"a": [1, 2]}, request_id=7)
    assert reply.status == 200
    assert reply.json == {
        "jsonrpc": "2.0",
        "id": 1_000_007,
        "result": {"signalsByInput": {}},
    }
    other = await api.insert({"a": [1, 2]}, request_id="req-1")
    assert other.status == 400
    assert other.json["id"] == "not-req-1"
    assert emulator.points(credentials.integration_id) == {}


@pytest.mark.parametrize(
    ("fault", "body"),
    [
        (Fault("not_rpc"), {"status": "ok"}),
        (Fault("not_rpc", message='{"id": 1, "result": {}}'), {"id": 1, "result": {}}),
    ],
)
async def test_not_rpc_fault(
    api: Api,
    emulator: ClarifyEmulator,
    credentials: IntegrationCredentials,
    fault: Fault,
    body: object,
) -> None:
    emulator.inject(fault)
    reply = await api.insert({"a": [1, 2]}, request_id=1)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json == body
    assert emulator.points(credentials.integration_id) == {}


async def test_malformed_fault_with_a_status(
    api: Api, emulator: ClarifyEmulator
) -> None:
    emulator.inject(Fault("malformed", status=500))
    reply = await api.insert({"a": [1, 2]})
    assert reply.status == 500
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.text)


# JSON-RPC errors


@pytest.mark.parametrize("status", [400, 422])
async def test_rpc_fault_with_an_http_status(
    api: Api, emulator: ClarifyEmulator, status: int
) -> None:
    """Clarify may carry its JSON-RPC error in an HTTP error reply."""
    emulator.inject(Fault("rpc", code=-32602, status=status))
    reply = await api.insert({"a": [1, 2]}, request_id=5)
    assert reply.status == status
    assert reply.json["id"] == 5
    assert reply.error["code"] == -32602
    assert reply.headers["traceparent"].startswith("00-")
    assert emulator.requests[0].error_code == -32602


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            "pathErrors",
            {
                "pathErrors": [
                    {
                        "path": ["data", "series", "x.y"],
                        "error": "refused by the emulator",
                    }
                ]
            },
        ),
        ("params", {"params": {"data.series.x.y": ["refused by the emulator"]}}),
        (
            "both",
            {
                "params": {"data.series.x.y": ["refused by the emulator"]},
                "pathErrors": [
                    {
                        "path": ["data", "series", "x.y"],
                        "error": "refused by the emulator",
                    }
                ],
            },
        ),
    ],
)
async def test_invalid_params_fault_names_series(
    api: Api, emulator: ClarifyEmulator, style: NameStyle, expected: dict[str, Any]
) -> None:
    emulator.inject(Fault.invalid_params("x.y", style=style, trace="t-1"))
    reply = await api.insert({"x.y": [1, 2]})
    assert reply.status == 200
    assert reply.error["code"] == -32602
    assert reply.error["data"] == expected | {"trace": "t-1"}


async def test_invalid_params_fault_naming_nothing(
    api: Api, emulator: ClarifyEmulator
) -> None:
    emulator.inject(Fault.invalid_params(status=422))
    reply = await api.insert({"a": [1, 2]})
    assert reply.status == 422
    assert reply.error == {"code": -32602, "message": "Invalid params", "data": {}}


async def test_invalid_params_fault_for_metadata(
    api: Api, emulator: ClarifyEmulator
) -> None:
    emulator.inject(
        Fault.invalid_params("s", method="integration.saveSignals", style="both")
    )
    assert (await api.insert({"a": [1, 2]})).status == 200
    reply = await api.save({"s": {"name": "S"}})
    assert reply.error["data"] == invalid_params_data(
        ["s"], style="both", method="integration.saveSignals"
    )
    assert reply.error["data"]["pathErrors"][0]["path"] == ["signalsByInput", "s"]
    assert reply.error["data"]["params"] == {
        "signalsByInput.s": ["refused by the emulator"]
    }


# Poisoned input keys


@pytest.mark.parametrize("named", [True, False])
async def test_rejected_series(
    api: Api,
    emulator: ClarifyEmulator,
    credentials: IntegrationCredentials,
    named: bool,
) -> None:
    """An insert carrying a refused series fails whole, every time; others pass."""
    emulator.reject_series("bad", named=named)
    for _ in range(2):
        reply = await api.insert({"good": [1, 2], "bad": [2, 3]})
        assert reply.status == 200
        assert reply.error["code"] == -32602
        assert reply.error["data"].get("pathErrors") == (
            [{"path": ["data", "series", "bad"], "error": "refused by the emulator"}]
            if named
            else None
        )
        assert "params" not in reply.error["data"]
        assert reply.error["data"]["trace"]
    assert emulator.points(credentials.integration_id) == {}
    assert (await api.insert({"good": [1, 2]})).result
    # Its metadata is accepted unless asked otherwise.
    assert (await api.save({"bad": {"name": "Bad"}})).result
    assert emulator.rejected_series == {"bad": SeriesRefusal(named=named)}
    emulator.accept_series("bad")
    assert (await api.insert({"bad": [2, 3]})).result
    assert emulator.rejected_series == {}


async def test_rejected_series_named_in_params(
    api: Api, emulator: ClarifyEmulator
) -> None:
    emulator.reject_series("sensor.bad", named=True, style="params")
    reply = await api.insert({"sensor.bad": [1, 2], "sensor.ok": [1, 2]})
    assert reply.error["data"]["params"] == {
        "data.series.sensor.bad": ["refused by the emulator"]
    }
    assert "pathErrors" not in reply.error["data"]


async def test_several_rejected_series_each_named_their_way(
    api: Api, emulator: ClarifyEmulator
) -> None:
    emulator.reject_series("a", named=True, style="params")
    emulator.reject_series("b", named=True)
    emulator.reject_series("c")
    reply = await api.insert({"a": [1, 2], "b": [1, 2], "c": [1, 2], "d": [1, 2]})
    data = reply.error["data"]
    assert data["params"] == {"data.series.a": ["refused by the emulator"]}
    assert [item["path"] for item in data["pathErrors"]] == [["data", "series", "b"]]
    reply = await api.insert({"c": [1, 2], "d": [1, 2]})
    assert set(reply.error["data"]) == {"trace"}


async def test_rejected_series_metadata(api: Api, emulator: ClarifyEmulator) -> None:
    emulator.reject_series("bad", named=True, style="both", metadata=True)
    reply = await api.save({"bad": {"name": "Bad"}, "good": {"name": "Good"}})
    assert reply.error["code"] == -32602
    assert reply.error["data"]["pathErrors"] == [
        {"path": ["signalsByInput", "bad"], "error": "refused by the emulator"}
    ]
    assert reply.error["data"]["params"] == {
        "signalsByInput.bad": ["refused by the emulator"]
    }
    assert emulator.signals(api.credentials.integration_id) == {}
    assert (await api.insert({"bad": [1, 2]})).error["code"] == -32602


async def test_rejected_series_after_validation(
    api: Api, emulator: ClarifyEmulator
) -> None:
    """A request that breaks Clarify's rules is refused for that first."""
    emulator.reject_series("bad")
    reply = await api.insert({"bad": [1]})
    assert reply.error["data"]["pathErrors"][0]["error"].startswith("has 1 values")
