"""Helpers shared by the emulator tests: a fake clock and a thin HTTP caller."""

import base64
from collections.abc import Mapping
from dataclasses import dataclass
import json
from typing import Any, NamedTuple

import aiohttp

from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials

TIMES = ["2024-05-01T12:00:00Z", "2024-05-01T12:01:00Z"]


class Basic(NamedTuple):
    """Basic-auth credentials (aiohttp.BasicAuth is deprecated from aiohttp 3.14)."""

    user: str
    password: str

    @property
    def header(self) -> str:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return f"Basic {token}"


class FakeClock:
    """A clock tests move by hand; `sleep` advances it instead of waiting."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Reply:
    """What came back over HTTP."""

    status: int
    headers: Mapping[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def result(self) -> Any:
        body = self.json
        assert "error" not in body, body
        return body["result"]

    @property
    def error(self) -> Any:
        return self.json["error"]


class Api:
    """Calls the emulator the way a Clarify client would."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        emulator: ClarifyEmulator,
        credentials: IntegrationCredentials,
    ) -> None:
        self.session = session
        self.emulator = emulator
        self.credentials = credentials

    def basic(self) -> Basic:
        return Basic(self.credentials.integration_id, self.credentials.password)

    async def post(
        self,
        body: bytes | str,
        *,
        path: str = "rpc",
        auth: Basic | str | None = None,
        use_basic: bool = True,
        version: str | None = "1.1",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if version is not None:
            sent["X-API-Version"] = version
        if isinstance(auth, str):
            sent["Authorization"] = f"Bearer {auth}"
        elif auth is not None:
            sent["Authorization"] = auth.header
        elif use_basic:
            sent["Authorization"] = self.basic().header
        async with self.session.post(
            self.emulator.api_url + path,
            data=body.encode() if isinstance(body, str) else body,
            headers=sent,
        ) as response:
            return Reply(response.status, response.headers, await response.text())

    async def call(
        self, method: str, params: Any, *, request_id: Any = "1", **kwargs: Any
    ) -> Reply:
        envelope = {"jsonrpc": "2.0", "method": method, "id": request_id}
        if params is not None:
            envelope["params"] = params
        return await self.post(json.dumps(envelope), **kwargs)

    async def insert(
        self,
        series: Mapping[str, list[Any]],
        times: list[str] | None = None,
        *,
        integration: str | None = None,
        **kwargs: Any,
    ) -> Reply:
        params = {
            "integration": integration or self.credentials.integration_id,
            "data": {"times": TIMES if times is None else times, "series": series},
        }
        return await self.call("integration.insert", params, **kwargs)

    async def save(
        self,
        signals: Mapping[str, Any],
        *,
        create_only: bool | None = None,
        integration: str | None = None,
        **kwargs: Any,
    ) -> Reply:
        params: dict[str, Any] = {
            "integration": integration or self.credentials.integration_id,
            "signalsByInput": signals,
        }
        if create_only is not None:
            params["createOnly"] = create_only
        return await self.call("integration.saveSignals", params, **kwargs)

    async def token(self, **overrides: str | None) -> Reply:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
            "audience": self.emulator.api_url,
        } | overrides
        async with self.session.post(
            self.emulator.api_url + "oauth/token",
            data={key: value for key, value in form.items() if value is not None},
        ) as response:
            return Reply(response.status, response.headers, await response.text())

    async def bearer(self) -> str:
        reply = await self.token()
        assert reply.status == 200, reply.text
        token: str = reply.json["access_token"]
        return token
