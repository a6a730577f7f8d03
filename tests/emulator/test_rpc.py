"""integration.insert and integration.saveSignals over HTTP."""

from datetime import UTC, datetime
import json
import re
from typing import Any

import aiohttp
import pytest

from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials

from .helpers import TIMES, Api

ID = re.compile(r"[a-v0-9]{20}")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2024, 5, 1, 12, 1, tzinfo=UTC)

SAVE: dict[str, Any] = {
    "name": "Living room temperature",
    "description": "Measured by the thermostat",
    "labels": {"area": ["Living room"]},
    "engUnit": "°C",
    "sourceType": "measurement",
    "valueType": "numeric",
    "enumValues": {},
    "sampleInterval": "PT1M",
    "gapDetection": "PT1H",
    "annotations": {"ha/entity": "sensor.t"},
}


async def test_insert_creates_signals_and_stores_points(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    reply = await api.insert({"a": [1, 1.5], "b": [2.0, None]})
    assert reply.status == 200
    body = reply.json
    assert body["jsonrpc"] == "2.0"
    assert body["id"] == "1"
    summary = body["result"]["signalsByInput"]
    assert set(summary) == {"a", "b"}
    assert all(ID.fullmatch(item["id"]) for item in summary.values())
    assert summary["a"]["id"] != summary["b"]["id"]
    assert all(item["created"] is True for item in summary.values())
    # A null is "no value", so b has one point only.
    assert emulator.points(credentials.integration_id) == {
        "a": {T0: 1.0, T1: 1.5},
        "b": {T0: 2.0},
    }
    signal = emulator.signals(credentials.integration_id)["a"]
    assert signal.id == summary["a"]["id"]
    assert signal.input_key == "a"
    assert signal.metadata["name"] == "a"
    assert signal.metadata["valueType"] == "numeric"

    again = await api.insert({"a": [3, None]})
    assert again.result["signalsByInput"]["a"] == {
        "id": summary["a"]["id"],
        "created": False,
    }
    # Re-inserting at an existing time overwrites the value.
    assert emulator.points(credentials.integration_id)["a"] == {T0: 3.0, T1: 1.5}


async def test_insert_converts_times_to_utc_microseconds(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    reply = await api.insert(
        {"a": [1, 2]}, ["2024-05-01T14:00:00.1234569+02:00", "2024-05-01T12:01:00Z"]
    )
    assert reply.status == 200, reply.text
    assert set(emulator.points(credentials.integration_id)["a"]) == {
        datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
        T1,
    }


async def test_bad_series_rejects_the_whole_request_with_paths(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    reply = await api.insert({"ok": [1, 2], "short": [1], "flag": [True, False]})
    assert reply.status == 200
    error = reply.error
    assert error["code"] == -32602
    assert error["message"] == "Invalid params"
    paths = [item["path"] for item in error["data"]["pathErrors"]]
    assert paths == [["data", "series", "short"], ["data", "series", "flag"]]
    assert set(error["data"]["params"]) == {"data.series.short", "data.series.flag"}
    assert emulator.points(credentials.integration_id) == {}


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_json_tokens_are_parse_errors(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials, token: str
) -> None:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "integration.insert",
            "params": {
                "integration": credentials.integration_id,
                "data": {"times": TIMES, "series": {"a": [1, 0]}},
            },
        }
    ).replace("[1, 0]", f"[1, {token}]")
    reply = await api.post(body)
    assert reply.status == 200
    assert reply.json["id"] is None
    assert reply.error["code"] == -32700
    assert emulator.points(credentials.integration_id) == {}


async def test_number_overflowing_a_float_is_invalid(api: Api) -> None:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "integration.insert",
            "params": {
                "integration": api.credentials.integration_id,
                "data": {"times": TIMES, "series": {"a": [1, 2]}},
            },
        }
    ).replace("[1, 2]", "[1, 1e400]")
    reply = await api.post(body)
    assert reply.error["code"] == -32602
    assert reply.error["data"]["pathErrors"][0]["path"] == ["data", "series", "a"]


async def test_enum_signals_take_integer_indices(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    enum = SAVE | {"valueType": "enum", "enumValues": {"0": "off", "1": "on"}}
    assert (await api.save({"switch": enum})).status == 200
    for bad in (1.5, 10000, -1):
        reply = await api.insert({"switch": [bad, None], "other": [1.5, None]})
        assert reply.error["code"] == -32602
        assert [item["path"] for item in reply.error["data"]["pathErrors"]] == [
            ["data", "series", "switch"]
        ]
    reply = await api.insert({"switch": [0, 9999.0]})
    assert reply.result["signalsByInput"]["switch"]["created"] is False
    assert emulator.points(credentials.integration_id) == {
        "switch": {T0: 0.0, T1: 9999.0}
    }


async def test_save_signals_creates_with_given_metadata(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    reply = await api.save({"t": SAVE})
    summary = reply.result["signalsByInput"]["t"]
    assert ID.fullmatch(summary["id"])
    assert summary["created"] is True
    assert summary["updated"] is False
    signal = emulator.signals(credentials.integration_id)["t"]
    assert signal.metadata == SAVE
    # Inserting afterwards feeds the same signal.
    insert = await api.insert({"t": [20.5, 21]})
    assert insert.result["signalsByInput"]["t"] == {
        "id": summary["id"],
        "created": False,
    }


async def test_save_signals_replaces_all_but_annotations(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    await api.save({"t": SAVE})
    reply = await api.save({"t": {"name": "Renamed", "annotations": {"other": "x"}}})
    assert reply.result["signalsByInput"]["t"]["updated"] is True
    assert reply.result["signalsByInput"]["t"]["created"] is False
    metadata = emulator.signals(credentials.integration_id)["t"].metadata
    # The trap: a call with only `name` resets every other field...
    assert metadata == {
        "name": "Renamed",
        "description": "",
        "labels": {},
        "engUnit": "",
        "sourceType": "measurement",
        "valueType": "numeric",
        "enumValues": {},
        "sampleInterval": None,
        "gapDetection": None,
        # ...but annotations merge.
        "annotations": {"ha/entity": "sensor.t", "other": "x"},
    }


async def test_save_signals_reports_unchanged_metadata(api: Api) -> None:
    await api.save({"t": SAVE})
    reply = await api.save({"t": SAVE})
    assert reply.result["signalsByInput"]["t"]["updated"] is False


async def test_create_only_leaves_existing_signals_alone(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    await api.save({"t": SAVE})
    reply = await api.save(
        {"t": {"name": "Ignored"}, "new": {"name": "New"}}, create_only=True
    )
    summary = reply.result["signalsByInput"]
    assert summary["t"]["created"] is False
    assert summary["t"]["updated"] is False
    assert summary["new"]["created"] is True
    signals = emulator.signals(credentials.integration_id)
    assert signals["t"].metadata == SAVE
    assert signals["new"].metadata["name"] == "New"


async def test_empty_save_with_create_only_validates_credentials(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    reply = await api.save({}, create_only=True)
    assert reply.result == {"signalsByInput": {}}
    assert emulator.signals(credentials.integration_id) == {}


async def test_invalid_signal_save_changes_nothing(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    reply = await api.save({"good": SAVE, "bad": SAVE | {"valueType": "text"}})
    assert reply.error["code"] == -32602
    assert reply.error["data"]["pathErrors"][0]["path"] == [
        "signalsByInput",
        "bad",
        "valueType",
    ]
    assert emulator.signals(credentials.integration_id) == {}


async def test_api_version_1_0_uses_inputs(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    params = {"integration": credentials.integration_id, "inputs": {"t": SAVE}}
    reply = await api.call("integration.saveSignals", params, version="1.0")
    assert reply.result["signalsByInput"]["t"]["created"] is True


@pytest.mark.parametrize("version", [None, "1.1beta2", "2.0", ""])
async def test_unknown_api_version_is_http_400(api: Api, version: str | None) -> None:
    reply = await api.insert({"a": [1, 2]}, version=version)
    assert reply.status == 400


async def test_another_integrations_id_is_forbidden(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    other = emulator.add_integration()
    for reply in (
        await api.insert({"a": [1, 2]}, integration=other.integration_id),
        await api.save({"a": SAVE}, integration=other.integration_id),
        # An ID nobody owns is just as forbidden.
        await api.insert({"a": [1, 2]}, integration="vvvvvvvvvvvvvvvvvvvv"),
    ):
        assert reply.status == 200
        assert reply.error["code"] == -32003
    assert emulator.points(other.integration_id) == {}
    assert emulator.points(credentials.integration_id) == {}


async def test_unknown_method(api: Api) -> None:
    reply = await api.call("integration.select", {})
    assert reply.error["code"] == -32601
    assert reply.json["id"] == "1"


async def test_missing_params_are_invalid(api: Api) -> None:
    reply = await api.call("integration.insert", None)
    assert reply.error["code"] == -32602


@pytest.mark.parametrize(
    ("envelope", "expected_id"),
    [
        ({"jsonrpc": "1.0", "method": "integration.insert", "id": 3}, 3),
        ({"method": "integration.insert", "id": "x"}, "x"),
        ({"jsonrpc": "2.0", "method": 5, "id": 3}, 3),
        ({"jsonrpc": "2.0", "id": 3}, 3),
        ({"jsonrpc": "2.0", "method": "integration.insert", "id": {"a": 1}}, None),
        ({"jsonrpc": "2.0", "method": "integration.insert", "id": True}, None),
        ([{"jsonrpc": "2.0", "method": "integration.insert", "id": 1}], None),
        ([], None),
        ("just a string", None),
    ],
)
async def test_invalid_requests(api: Api, envelope: Any, expected_id: Any) -> None:
    reply = await api.post(json.dumps(envelope))
    assert reply.status == 200
    assert reply.error["code"] == -32600
    assert reply.json["id"] == expected_id


async def test_invalid_json_is_a_parse_error(api: Api) -> None:
    reply = await api.post('{"jsonrpc": "2.0", ')
    assert reply.error["code"] == -32700
    assert reply.json["id"] is None
    assert reply.headers["traceparent"].startswith("00-")


@pytest.mark.parametrize("id_member", [{}, {"id": None}])
async def test_notifications_get_204_and_are_processed(
    api: Api,
    emulator: ClarifyEmulator,
    credentials: IntegrationCredentials,
    id_member: dict[str, Any],
) -> None:
    envelope = {
        "jsonrpc": "2.0",
        "method": "integration.insert",
        "params": {
            "integration": credentials.integration_id,
            "data": {"times": TIMES, "series": {"a": [1, 2]}},
        },
    } | id_member
    reply = await api.post(json.dumps(envelope))
    assert reply.status == 204
    assert reply.text == ""
    assert emulator.points(credentials.integration_id) == {"a": {T0: 1.0, T1: 2.0}}
    # Failed notifications are silent too.
    envelope["method"] = "integration.nothing"
    assert (await api.post(json.dumps(envelope))).status == 204


async def test_numeric_ids_are_echoed(api: Api) -> None:
    reply = await api.insert({"a": [1, 2]}, request_id=42)
    assert reply.json["id"] == 42


@pytest.mark.parametrize("emulator_options", [{"max_body_bytes": 400}])
async def test_body_over_the_limit_is_http_413(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    big = await api.insert({"a": [1, 2], "padding-" + "x" * 300: [None, None]})
    assert big.status == 413
    assert emulator.points(credentials.integration_id) == {}
    small = await api.insert({"a": [1, 2]})
    assert small.status == 200
    assert emulator.requests[0].http_status == 413


async def test_other_http_methods_are_refused(
    session: aiohttp.ClientSession, emulator: ClarifyEmulator
) -> None:
    async with session.get(emulator.api_url + "rpc") as response:
        assert response.status == 405


async def test_requests_are_recorded(
    api: Api, emulator: ClarifyEmulator, credentials: IntegrationCredentials
) -> None:
    await api.insert(
        {"a": [1, 2]}, headers={"User-Agent": "HomeAssistant-Clarify/0.1.0"}
    )
    await api.save({"a": {"name": "x" * 200}})
    first, second = emulator.requests
    assert first.path == "/v1/rpc"
    assert first.rpc_method == "integration.insert"
    assert first.integration_id == credentials.integration_id
    assert first.http_status == 200
    assert first.error_code is None
    assert first.auth_kind == "basic"
    assert first.body_bytes > 50
    assert first.api_version == "1.1"
    assert first.user_agent == "HomeAssistant-Clarify/0.1.0"
    assert second.rpc_method == "integration.saveSignals"
    assert second.error_code == -32602
