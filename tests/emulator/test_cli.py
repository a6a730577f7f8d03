"""`python -m tools.clarify_emulator`: the standalone server for development."""

import asyncio
from collections.abc import AsyncIterator
import contextlib
import itertools
import json
from pathlib import Path
import signal
import sys

import aiohttp
import pytest

from tools.clarify_emulator import IntegrationCredentials, model

from .helpers import Basic

REPO = Path(__file__).resolve().parents[2]
INTEGRATION = "c0ffee0000000000000v"
ARGS = [
    "--integration-id",
    INTEGRATION,
    "--password",
    "pw",
    "--client-id",
    "cid",
    "--client-secret",
    "cs",
]


@contextlib.asynccontextmanager
async def running(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """Start the CLI; yield the process and everything it printed up to "ready"."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.clarify_emulator",
        "--port",
        "0",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        lines: list[str] = []
        async with asyncio.timeout(20):
            while not lines or "ready" not in lines[-1]:
                line = await process.stdout.readline()
                assert line, "exited before printing ready:\n" + "".join(lines)
                lines.append(line.decode())
        yield process, "".join(lines)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(20):
                await process.wait()


def value_after(output: str, label: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith(label))
    return line.removeprefix(label).strip()


def credentials_files(output: str) -> list[dict[str, object]]:
    """The two JSON documents in the banner."""
    decoder = json.JSONDecoder()
    found = []
    index = output.find("{")
    while index != -1:
        document, end = decoder.raw_decode(output, index)
        found.append(document)
        index = output.find("{", end)
    return found


async def test_cli_prints_credentials_and_serves(
    socket_enabled: None, tmp_path: Path
) -> None:
    state_file = tmp_path / "state.json"
    async with running(*ARGS, "--state-file", str(state_file)) as (process, output):
        api_url = value_after(output, "API URL:")
        assert api_url.startswith("http://127.0.0.1:")
        assert api_url.endswith("/v1/")
        assert value_after(output, "Page:") == api_url.removesuffix("v1/")
        assert INTEGRATION in output
        oauth, basic = credentials_files(output)
        assert oauth == {
            "apiUrl": api_url,
            "integration": INTEGRATION,
            "credentials": {
                "type": "client-credentials",
                "clientId": "cid",
                "clientSecret": "cs",
            },
        }
        assert basic["credentials"] == {
            "type": "basic-auth",
            "clientId": INTEGRATION,
            "clientSecret": "pw",
        }
        async with aiohttp.ClientSession() as session:
            async with session.post(
                api_url + "rpc",
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "integration.insert",
                    "params": {
                        "integration": INTEGRATION,
                        "data": {
                            "times": ["2024-05-01T12:00:00Z"],
                            "series": {"k": [4]},
                        },
                    },
                },
                headers={
                    "X-API-Version": "1.1",
                    "Authorization": Basic(INTEGRATION, "pw").header,
                },
            ) as response:
                reply = await response.json()
            assert reply["result"]["signalsByInput"]["k"]["created"] is True
            async with session.post(
                api_url + "oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "cid",
                    "client_secret": "cs",
                    "audience": api_url,
                },
            ) as response:
                assert response.status == 200
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            assert await process.wait() == 0
    # The state is written once more on the way out.
    state = json.loads(state_file.read_text(encoding="utf-8"))
    points = state["integrations"][INTEGRATION]["signals"]["k"]["points"]
    assert points == [["2024-05-01T12:00:00.000000Z", 4.0]]


async def test_cli_generates_credentials_when_not_given(socket_enabled: None) -> None:
    async with running() as (_, output):
        oauth, basic = credentials_files(output)
        assert oauth["integration"] == basic["integration"]
        assert value_after(output, "Integration ID:") == oauth["integration"]


async def test_cli_refuses_a_malformed_integration_id() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.clarify_emulator",
        "--integration-id",
        "NOT-AN-ID",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(20):
        _, stderr = await process.communicate()
    assert process.returncode != 0
    assert b"integration ID" in stderr


async def basic_auth_status(api_url: str, integration: str, password: str) -> int:
    """The HTTP status of an empty insert made with these basic-auth credentials."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            api_url + "rpc",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "integration.insert",
                "params": {
                    "integration": integration,
                    "data": {"times": [], "series": {}},
                },
            },
            headers={
                "X-API-Version": "1.1",
                "Authorization": Basic(integration, password).header,
            },
        ) as response,
    ):
        return response.status


async def test_cli_takes_secrets_that_begin_with_a_dash(
    socket_enabled: None,
) -> None:
    # Both spellings: the value as the next word, and joined with "=".
    async with running(
        "--integration-id",
        INTEGRATION,
        "--password",
        "-pw-",
        "--client-id=-cid",
        "--client-secret",
        "--cs",
    ) as (_, output):
        oauth, basic = credentials_files(output)
        assert oauth["credentials"] == {
            "type": "client-credentials",
            "clientId": "-cid",
            "clientSecret": "--cs",
        }
        assert basic["credentials"] == {
            "type": "basic-auth",
            "clientId": INTEGRATION,
            "clientSecret": "-pw-",
        }
        api_url = value_after(output, "API URL:")
        assert await basic_auth_status(api_url, INTEGRATION, "-pw-") == 200


async def test_cli_credentials_file_is_created_once_and_reused(
    socket_enabled: None, tmp_path: Path
) -> None:
    path = tmp_path / "credentials.json"
    async with running("--credentials-file", str(path)) as (_, output):
        stored = json.loads(path.read_text(encoding="utf-8"))
        assert set(stored) == {
            "integration_id",
            "password",
            "client_id",
            "client_secret",
        }
        assert path.stat().st_mode & 0o777 == 0o600
        assert value_after(output, "Integration ID:") == stored["integration_id"]
    # A second emulator with the same file accepts the same credentials.
    async with running("--credentials-file", str(path)) as (_, output):
        assert json.loads(path.read_text(encoding="utf-8")) == stored
        api_url = value_after(output, "API URL:")
        status = await basic_auth_status(
            api_url, stored["integration_id"], stored["password"]
        )
        assert status == 200


async def test_cli_refuses_a_credentials_file_with_separate_options(
    tmp_path: Path,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.clarify_emulator",
        "--credentials-file",
        str(tmp_path / "c.json"),
        "--password",
        "pw",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(20):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    assert b"--credentials-file excludes --password" in stderr
    assert not (tmp_path / "c.json").exists()


async def test_cli_refuses_a_credentials_file_that_is_not_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"integration_id": "x"}', encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.clarify_emulator",
        "--credentials-file",
        str(path),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(20):
        _, stderr = await process.communicate()
    assert process.returncode != 0
    assert b"c.json: credentials must be an object" in stderr


def test_generated_secrets_never_begin_with_a_dash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first draws begin with "-": they are drawn again.
    draws = iter(["-abc", "--def", "ghi-"])
    monkeypatch.setattr(model.secrets, "token_urlsafe", lambda _: next(draws))
    assert model.new_secret(16) == "ghi-"
    every_other = itertools.cycle(["-x", "ok"])
    monkeypatch.setattr(model.secrets, "token_urlsafe", lambda _: next(every_other))
    credentials = IntegrationCredentials.generate()
    assert (credentials.password, credentials.client_id) == ("ok", "ok")
    assert credentials.client_secret == "ok"
