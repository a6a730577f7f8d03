"""Starting and stopping the emulator, and how it reads request bodies."""

from collections.abc import AsyncIterator
import gzip
import json
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
import pytest

from tools.clarify_emulator import ClarifyEmulator

from .helpers import TIMES, Api


async def test_start_twice_is_refused_and_stop_is_idempotent(
    emulator: ClarifyEmulator,
) -> None:
    with pytest.raises(RuntimeError, match="already started"):
        await emulator.start()
    await emulator.stop()
    await emulator.stop()
    with pytest.raises(RuntimeError, match="not started"):
        _ = emulator.base_url


async def test_a_busy_port_fails_cleanly(
    emulator: ClarifyEmulator, socket_enabled: None
) -> None:
    port = int(emulator.base_url.rsplit(":", 1)[1].strip("/"))
    second = ClarifyEmulator()
    with pytest.raises(OSError, match="address already in use"):
        await second.start(port=port)
    # The failed attempt left nothing half-started behind.
    await second.start()
    await second.stop()


async def test_app_runs_under_aiohttp_test_server(socket_enabled: None) -> None:
    emulator = ClarifyEmulator(rate_limit="off")
    credentials = emulator.add_integration()
    async with TestServer(emulator.app) as server, aiohttp.ClientSession() as session:
        api_url = str(server.make_url("/v1/"))
        # Not started by itself, the emulator takes the audience from the request.
        async with session.post(
            api_url + "oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "audience": api_url,
            },
        ) as response:
            assert response.status == 200


async def chunks(total: int) -> AsyncIterator[bytes]:
    """A body without Content-Length (chunked transfer encoding)."""
    for _ in range(total // 100):
        yield b" " * 100


@pytest.mark.parametrize("emulator_options", [{"max_body_bytes": 1000}])
@pytest.mark.parametrize("path", ["rpc", "oauth/token"])
async def test_chunked_body_over_the_limit_is_http_413(
    api: Api, emulator: ClarifyEmulator, path: str
) -> None:
    async with api.session.post(
        emulator.api_url + path, data=chunks(5000), headers={"X-API-Version": "1.1"}
    ) as response:
        assert response.status == 413
    assert emulator.requests[-1].http_status == 413


@pytest.mark.parametrize("emulator_options", [{"max_body_bytes": 1000}])
async def test_body_at_the_limit_is_read(api: Api, emulator: ClarifyEmulator) -> None:
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "nope"}'
    reply = await api.post(body.ljust(1000))
    assert reply.error["code"] == -32601
    assert emulator.requests[-1].body_bytes == 1000


async def test_token_form_that_is_not_utf8(api: Api, emulator: ClarifyEmulator) -> None:
    async with api.session.post(
        emulator.api_url + "oauth/token",
        data=b"grant_type=\xff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "unsupported_grant_type"


def test_the_default_limit_is_clarifys() -> None:
    """Clarify takes about 8 MiB of uncompressed JSON per request."""
    assert ClarifyEmulator().max_body_bytes == 8 * 1024 * 1024


@pytest.mark.parametrize("emulator_options", [{"max_body_bytes": 2000}])
async def test_the_limit_counts_uncompressed_bytes(
    api: Api, emulator: ClarifyEmulator
) -> None:
    """A gzip body small on the wire is still measured as the JSON it carries."""
    envelope: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "integration.insert",
        "params": {
            "integration": api.credentials.integration_id,
            "data": {"times": TIMES, "series": {"a": [1, 2], "b" * 100: [None] * 2}},
        },
    }
    small = json.dumps(envelope).encode()
    envelope["params"]["data"]["series"] |= {f"k{n}": [1, 2] for n in range(300)}
    large = json.dumps(envelope).encode()
    assert len(small) < 2000 < len(large)
    assert len(gzip.compress(large)) < 2000

    statuses = []
    for body in (gzip.compress(small), gzip.compress(large)):
        reply = await api.post(body, headers={"Content-Encoding": "gzip"})
        statuses.append(reply.status)
    assert statuses == [200, 413]
    assert emulator.requests[-1].http_status == 413


async def test_the_limit_can_be_lowered_while_running(
    api: Api, emulator: ClarifyEmulator
) -> None:
    assert (await api.insert({"a": [1, 2]})).status == 200
    emulator.max_body_bytes = 100
    assert (await api.insert({"a": [1, 2]})).status == 413
