"""The HTTP side of the emulator: Clarify's RPC and token endpoints on aiohttp."""

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable, KeysView, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
import hmac
import html
from http import HTTPStatus
import json
import math
import secrets
import time
from types import TracebackType
from typing import Any, Final, Self, get_args
from urllib.parse import parse_qsl

from aiohttp import hdrs, web

from .faults import (
    INSERT,
    SAVE_SIGNALS,
    Fault,
    FaultQueue,
    FaultSource,
    NameStyle,
    SeriesRefusal,
    invalid_params_data,
)
from .limits import (
    AuthKind,
    RateLimiter,
    RateLimitMode,
    RecordedRequest,
    count_violations,
)
from .model import EmulatorState, IntegrationCredentials, Signal
from .page import render_page
from .rules import (
    InvalidParamsError,
    check_integration_id,
    parse_json,
    validate_insert,
    validate_save_signals,
)

API_VERSIONS: Final = frozenset({"1.0", "1.1"})
RPC_PATH: Final = "/v1/rpc"
OAUTH_PATH: Final = "/v1/oauth/token"

# Standard JSON-RPC codes plus Clarify's own (clarify-go jsonrpc/error.go).
ERROR_MESSAGES: Final = {
    -32700: "Parse error",
    -32600: "Invalid request",
    -32601: "Method not found",
    -32602: "Invalid params",
    -32603: "Internal error",
    -32000: "Server error",
    -32001: "Produced invalid resource",
    -32002: "Found invalid resource",
    -32003: "Forbidden",
    -32009: "Conflict",
    -32015: "Try again",
    -32021: "Partial failure",
}

# What a "malformed" fault sends: a JSON-RPC reply cut off half way.
_MALFORMED_BODY: Final = b'{"jsonrpc": "2.0", "id": 1, "result": {"signalsByIn'
# What a "not_rpc" fault sends by default: JSON, but no JSON-RPC reply (a
# gateway's health answer, say).
_NOT_RPC_BODY: Final = '{"status": "ok"}'


class RpcError(Exception):
    """A JSON-RPC error to send back to the caller."""

    def __init__(self, code: int, message: str = "", data: object = None) -> None:
        """Build the error; the message defaults to the code's standard text."""
        super().__init__(message or ERROR_MESSAGES.get(code, "Error"))
        self.code = code
        self.message = str(self)
        self.data = data


@dataclass(slots=True)
class _Token:
    integration_id: str
    expires_at: float


class ClarifyEmulator:
    """A local stand-in for Clarify's integration API, with test controls.

    Serves `POST /v1/rpc` (integration.insert, integration.saveSignals),
    `POST /v1/oauth/token`, an HTML overview at `/` and the state as JSON at
    `/api/state`. For tests that run it as a separate process, `POST
    /api/integrations/{id}/revoke` and `.../restore` do what `revoke()` and
    `restore()` do.

    Rate limiting (`rate_limit`): "queue" delays requests over one per second per
    integration and method until their slot, and answers HTTP 504 when the wait
    would exceed `queue_timeout` (Clarify's own status for that is not public);
    "record" and "off" never delay. Every API request is recorded in `requests`
    in all modes, so `rate_limit_violations()` works in all of them.

    `clock` drives token expiry and the rate limiter; `sleep` is what the queue
    waits with, so tests can pass a fake pair and never wait for real.
    `strict_times` refuses inserts whose times are unsorted or repeated (whether
    Clarify does is unknown; a client that passes this works either way).
    `max_body_bytes` is Clarify's request size limit (about 8 MiB of uncompressed
    JSON): a larger body, counted after any Content-Encoding is undone, gets HTTP
    413. Tests may set a lower one, here or on the attribute at any time.
    """

    def __init__(
        self,
        *,
        token_lifetime: float = 3600.0,
        rate_limit: RateLimitMode = "queue",
        clock: Callable[[], float] = time.monotonic,
        max_body_bytes: int = 8 * 1024 * 1024,
        queue_timeout: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        strict_times: bool = True,
    ) -> None:
        """Create an emulator with no integrations; call `start()` to serve."""
        if rate_limit not in get_args(RateLimitMode.__value__):
            raise ValueError(f"unknown rate limit mode: {rate_limit!r}")
        self.token_lifetime = token_lifetime
        self.rate_limit: RateLimitMode = rate_limit
        self.max_body_bytes = max_body_bytes
        self.queue_timeout = queue_timeout
        self.strict_times = strict_times
        self.state = EmulatorState()
        self.requests: list[RecordedRequest] = []
        self.token_requests = 0
        self._clock = clock
        self._sleep = sleep
        self._tokens: dict[str, _Token] = {}
        self._faults = FaultQueue()
        # Poisoned input keys: requests carrying one are refused with -32602.
        self._refusals: dict[str, SeriesRefusal] = {}
        self._fault_source: FaultSource | None = None
        self._limiter = RateLimiter()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._app = web.Application()
        self._app.router.add_post(RPC_PATH, self._handle_rpc)
        self._app.router.add_post(OAUTH_PATH, self._handle_token)
        self._app.router.add_get("/", self._handle_page)
        self._app.router.add_get("/api/state", self._handle_state)
        self._app.router.add_post(
            "/api/integrations/{integration_id}/{action:revoke|restore}",
            self._handle_control,
        )

    # Lifecycle

    @property
    def app(self) -> web.Application:
        """The aiohttp application (for aiohttp's TestServer, if preferred)."""
        return self._app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on `host`:`port` (port 0 picks a free one)."""
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        # Short shutdown timeout: a test that stops the emulator while a request
        # sits in the rate-limit queue must not wait a minute for it.
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        bound_port = runner.addresses[0][1]
        url_host = f"[{host}]" if ":" in host else host
        self._runner = runner
        self._base_url = f"http://{url_host}:{bound_port}/"

    async def stop(self) -> None:
        """Stop listening and close every connection; safe to call twice."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            self._base_url = None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        """Start on entering an `async with` block."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop on leaving the block."""
        await self.stop()

    @property
    def base_url(self) -> str:
        """The server's root URL with a trailing slash (once started)."""
        if self._base_url is None:
            raise RuntimeError("emulator not started")
        return self._base_url

    @property
    def api_url(self) -> str:
        """The `apiUrl` clients use, like https://api.clarify.io/v1/."""
        return f"{self.base_url}v1/"

    # Test controls

    def add_integration(
        self,
        integration_id: str | None = None,
        *,
        password: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        name: str = "Home Assistant",
    ) -> IntegrationCredentials:
        """Create an integration; credentials not given are random secure values."""
        generated = IntegrationCredentials.generate(integration_id)
        credentials = IntegrationCredentials(
            integration_id=generated.integration_id,
            password=password or generated.password,
            client_id=client_id or generated.client_id,
            client_secret=client_secret or generated.client_secret,
        )
        self.state.add_integration(credentials, name)
        return credentials

    def reject_series(
        self,
        key: str,
        *,
        named: bool = False,
        style: NameStyle = "pathErrors",
        metadata: bool = False,
    ) -> None:
        """Refuse every insert that carries `key` with -32602 until accepted again.

        The whole request is refused, as a real Clarify would. With `named` the
        error names the series (in ``pathErrors``, ``params`` or both, per
        `style`); without, it does not say which series is at fault, as Clarify
        may not. With `metadata`, saveSignals calls carrying `key` are refused too.
        """
        methods = {INSERT, SAVE_SIGNALS} if metadata else {INSERT}
        self._refusals[key] = SeriesRefusal(named, style, frozenset(methods))

    def accept_series(self, key: str) -> None:
        """Stop refusing requests that carry `key`."""
        self._refusals.pop(key, None)

    @property
    def rejected_series(self) -> dict[str, SeriesRefusal]:
        """The poisoned input keys and how each is refused."""
        return dict(self._refusals)

    def inject(self, *faults: Fault) -> None:
        """Queue faults for the next matching API requests, in order."""
        for fault in faults:
            self._faults.add(fault)

    def fail_at_random(self, source: FaultSource | None) -> None:
        """Ask `source` for a fault for every request no queued fault matches.

        `source(path, rpc_method)` returns a Fault or None; None as the source
        stops it. Long runs of random failures are made with it.
        """
        self._fault_source = source

    def _take_fault(self, path: str, rpc_method: str | None) -> Fault | None:
        if (fault := self._faults.take(path, rpc_method)) is not None:
            return fault
        return self._fault_source(path, rpc_method) if self._fault_source else None

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()

    def points(self, integration_id: str) -> dict[str, dict[datetime, float]]:
        """Return a copy of every stored point: input key -> {UTC time: value}."""
        signals = self.state.integrations[integration_id].signals
        return {key: dict(signal.points) for key, signal in signals.items()}

    def signals(self, integration_id: str) -> dict[str, Signal]:
        """Return the integration's signals by input key (live objects)."""
        return dict(self.state.integrations[integration_id].signals)

    def revoke(self, integration_id: str) -> None:
        """Make the integration's credentials and tokens fail with 401."""
        self.state.integrations[integration_id].revoked = True

    def restore(self, integration_id: str) -> None:
        """Undo `revoke`: credentials and unexpired tokens work again."""
        self.state.integrations[integration_id].revoked = False

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token handed out (tests look for them where they must not be)."""
        return list(self._tokens)

    def expire_tokens(self) -> None:
        """Expire every token issued so far."""
        for token in self._tokens.values():
            token.expires_at = -math.inf

    def rate_limit_violations(self, integration_id: str | None = None) -> int:
        """Count requests that came under 1 s after the previous one of their kind."""
        return count_violations(self.requests, integration_id)

    # Shared request plumbing

    def _record(self, request: web.Request) -> RecordedRequest:
        now = self._clock()
        record = RecordedRequest(
            path=request.path,
            received_at=now,
            started_at=now,
            api_version=request.headers.get("X-API-Version"),
            user_agent=request.headers.get(hdrs.USER_AGENT),
        )
        self.requests.append(record)
        return record

    async def _read_body(self, request: web.Request) -> bytes | None:
        """Read the body, or return None as soon as it exceeds the size limit."""
        limit = self.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _apply_fault(
        self, fault: Fault, request: web.Request, request_id: object
    ) -> web.StreamResponse | None:
        """Act out a fault; None means "carry on handling the request"."""
        status = fault.http_status
        headers = dict(fault.headers or {})
        if fault.retry_after is not None:
            headers[hdrs.RETRY_AFTER] = f"{fault.retry_after:g}"
        match fault.kind:
            case "delay":
                # Real time on purpose: the point is to trip the client's timeout.
                await asyncio.sleep(fault.delay)
                return None
            case "http":
                return web.Response(
                    status=status,
                    headers=headers,
                    text=fault.message or f"{status} injected fault",
                    content_type=fault.content_type or "text/plain",
                )
            case "proxy":
                return web.Response(
                    status=status,
                    headers=headers,
                    text=proxy_page(status, fault.message),
                    content_type=fault.content_type or "text/html",
                )
            case "rpc":
                error = RpcError(fault.code, fault.message, fault.data)
                return _rpc_response(
                    request_id, error=error, status=status, headers=headers
                )
            case "malformed":
                return web.Response(
                    status=status,
                    headers=headers,
                    body=_MALFORMED_BODY,
                    content_type="application/json",
                )
            case "wrong_id":
                return _rpc_response(
                    _other_id(request_id),
                    result={"signalsByInput": {}},
                    status=status,
                    headers=headers,
                )
            case "not_rpc":
                return web.Response(
                    status=status,
                    headers=headers,
                    text=fault.message or _NOT_RPC_BODY,
                    content_type="application/json",
                )
            case "drop":
                if request.transport is not None:
                    request.transport.close()
                # aiohttp ignores the failure to write a response to a closed
                # connection, so this one never leaves the server.
                return web.Response(status=500)

    # RPC endpoint

    async def _handle_rpc(self, request: web.Request) -> web.StreamResponse:
        record = self._record(request)
        response = await self._serve_rpc(request, record)
        record.http_status = _sent_status(request, response)
        return response

    async def _serve_rpc(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        body = await self._read_body(request)
        if body is None:
            return _too_large()
        record.body_bytes = len(body)
        message: object = None
        parse_error: str | None = None
        try:
            message = parse_json(body)
        except ValueError as err:
            parse_error = str(err)
        envelope = message if isinstance(message, dict) else {}
        method = envelope.get("method")
        record.rpc_method = method if isinstance(method, str) else None
        request_id = envelope.get("id")

        # Faults stand for failures in front of Clarify's logic (proxies, load
        # balancers, the network), so they come before any check of the request.
        fault = self._take_fault(request.path, record.rpc_method)
        if fault is not None:
            if fault.kind == "rpc":
                record.error_code = fault.code
            response = await self._apply_fault(fault, request, request_id)
            if response is not None:
                return response

        api_version = request.headers.get("X-API-Version")
        if api_version is None or api_version not in API_VERSIONS:
            return web.json_response(
                {
                    "error": "unsupported_api_version",
                    "message": f"X-API-Version must be one of {sorted(API_VERSIONS)}",
                },
                status=400,
            )
        auth = self._authenticate(request)
        if isinstance(auth, web.Response):
            return auth
        integration_id, record.auth_kind = auth
        record.integration_id = integration_id

        if parse_error is not None:
            record.error_code = -32700
            return _rpc_response(None, error=RpcError(-32700, data=parse_error))
        try:
            _check_envelope(message)
        except RpcError as err:
            record.error_code = err.code
            valid_id = request_id if _is_valid_id(request_id) else None
            return _rpc_response(valid_id, error=err)
        assert isinstance(method, str)

        # Only well-formed, authenticated calls take a slot: the limit is per
        # integration and method, both known only now.
        if self.rate_limit == "queue":
            wait = self._limiter.reserve(
                (integration_id, method), self._clock(), self.queue_timeout
            )
            if wait is None:
                return web.Response(status=504, text="rate limit queue timeout")
            if wait > 0:
                await self._sleep(wait)
        record.started_at = self._clock()

        try:
            result = self._call(
                method, envelope.get("params"), integration_id, api_version
            )
        except RpcError as err:
            record.error_code = err.code
            if request_id is None:
                return web.Response(status=204)
            return _rpc_response(request_id, error=err)
        if request_id is None:
            # A notification: processed, but JSON-RPC sends nothing back.
            return web.Response(status=204)
        return _rpc_response(request_id, result=result)

    def _authenticate(
        self, request: web.Request
    ) -> tuple[str, AuthKind] | web.Response:
        """Return (integration ID, auth kind), or the 401 response to send."""
        header = request.headers.get(hdrs.AUTHORIZATION, "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer":
            token = self._tokens.get(credentials.strip())
            if (
                token is not None
                and self._clock() < token.expires_at
                and not self.state.integrations[token.integration_id].revoked
            ):
                return token.integration_id, "bearer"
            return _unauthorized("Bearer", "invalid, expired or revoked token")
        basic = decode_basic_auth(header)
        if basic is not None:
            login, password = basic
            found = self.state.integrations.get(login)
            if (
                found is not None
                and not found.revoked
                and _same_secret(found.credentials.password, password)
            ):
                return login, "basic"
        return _unauthorized("Basic", "invalid credentials")

    def _call(
        self, method: str, params: object, integration_id: str, api_version: str
    ) -> dict[str, Any]:
        if method not in (INSERT, SAVE_SIGNALS):
            raise RpcError(-32601, data={"method": method})
        if isinstance(params, dict):
            requested = check_integration_id(params.get("integration"))
            if requested is not None and requested != integration_id:
                raise RpcError(
                    -32003,
                    data={"trace": _trace_id(), "integration": requested},
                )
        try:
            if method == INSERT:
                insert = validate_insert(params, strict_times=self.strict_times)
                self._refuse_poisoned(method, insert.frame.series.keys())
                return self.state.insert(integration_id, insert.frame)
            save = validate_save_signals(params, api_version=api_version)
            self._refuse_poisoned(method, save.signals.keys())
            return self.state.save_signals(save)
        except InvalidParamsError as err:
            raise RpcError(
                -32602, data={"trace": _trace_id(), **err.to_data()}
            ) from err

    def _refuse_poisoned(self, method: str, keys: KeysView[str]) -> None:
        """Refuse, as a real Clarify might, a request with a series it will not take."""
        refused = sorted(
            key
            for key in self._refusals.keys() & keys
            if method in self._refusals[key].methods
        )
        if not refused:
            return
        data: dict[str, Any] = {"trace": _trace_id()}
        for key in refused:
            refusal = self._refusals[key]
            if refusal.named:
                named = invalid_params_data([key], style=refusal.style, method=method)
                data.setdefault("params", {}).update(named.get("params", {}))
                data.setdefault("pathErrors", []).extend(named.get("pathErrors", []))
        # Only the styles in use appear, as in a real error's data.
        data = {name: value for name, value in data.items() if value}
        raise RpcError(-32602, data=data)

    # Token endpoint

    async def _handle_token(self, request: web.Request) -> web.StreamResponse:
        record = self._record(request)
        response = await self._serve_token(request, record)
        record.http_status = _sent_status(request, response)
        return response

    async def _serve_token(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        body = await self._read_body(request)
        if body is None:
            return _too_large()
        record.body_bytes = len(body)
        fault = self._take_fault(request.path, None)
        if fault is not None:
            response = await self._apply_fault(fault, request, None)
            if response is not None:
                return response
        try:
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            form = {}
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "grant_type must be client_credentials"
            )
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if client_id is None:
            # RFC 6749 also lets clients authenticate with HTTP Basic.
            basic = decode_basic_auth(request.headers.get(hdrs.AUTHORIZATION, ""))
            if basic is not None:
                client_id, client_secret = basic
        integration = self.state.by_client_id(client_id or "")
        if (
            integration is None
            or integration.revoked
            or not _same_secret(integration.credentials.client_secret, client_secret)
        ):
            return _oauth_error(401, "invalid_client", "unknown client or bad secret")
        audiences = {f"{request.scheme}://{request.host}/v1/"}
        if self._base_url is not None:
            audiences.add(self.api_url)
        if form.get("audience") not in audiences:
            return _oauth_error(
                400, "invalid_request", "audience must be the API URL, e.g. ../v1/"
            )
        integration_id = integration.credentials.integration_id
        record.integration_id = integration_id
        token = secrets.token_urlsafe(32)
        self._tokens[token] = _Token(
            integration_id, self._clock() + self.token_lifetime
        )
        self.token_requests += 1
        return web.json_response(
            {
                "access_token": token,
                # Rounded down so a client never believes a token lives longer.
                "expires_in": max(0, math.floor(self.token_lifetime)),
                "token_type": "Bearer",
                "scope": "",
            },
            headers={hdrs.CACHE_CONTROL: "no-store"},
        )

    # Pages

    async def _handle_page(self, request: web.Request) -> web.StreamResponse:
        html = render_page(self.state, self._base_url, datetime.now(UTC))
        return web.Response(text=html, content_type="text/html")

    async def _handle_state(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.state.to_json())

    async def _handle_control(self, request: web.Request) -> web.StreamResponse:
        integration_id = request.match_info["integration_id"]
        if integration_id not in self.state.integrations:
            raise web.HTTPNotFound(text=f"no integration {integration_id}")
        if request.match_info["action"] == "revoke":
            self.revoke(integration_id)
        else:
            self.restore(integration_id)
        revoked = self.state.integrations[integration_id].revoked
        return web.json_response({"integration": integration_id, "revoked": revoked})


def decode_basic_auth(header: str) -> tuple[str, str] | None:
    """Return (user, password) from a Basic Authorization header, or None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def _same_secret(expected: str, given: str | None) -> bool:
    """Compare secrets in constant time, as a real server must."""
    return hmac.compare_digest(expected.encode(), (given or "").encode())


def _trace_id() -> str:
    """A W3C trace ID, the kind Clarify puts in error data for its support."""
    return secrets.token_hex(16)


def _sent_status(request: web.Request, response: web.StreamResponse) -> int:
    """The status the client got: 0 when the connection was closed instead."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return 0
    return response.status


def _is_valid_id(value: object) -> bool:
    """JSON-RPC ids are strings, numbers or null (never booleans)."""
    return value is None or (
        isinstance(value, str | int | float) and not isinstance(value, bool)
    )


def _check_envelope(message: object) -> None:
    """Check the JSON-RPC 2.0 request object around the params.

    Raises:
        RpcError: -32600 for anything but a single well-formed request.
    """
    if isinstance(message, list):
        raise RpcError(-32600, data="batch requests are not supported")
    if not isinstance(message, dict):
        raise RpcError(-32600, data="request must be a JSON object")
    if message.get("jsonrpc") != "2.0":
        raise RpcError(-32600, data='jsonrpc must be "2.0"')
    if not isinstance(message.get("method"), str):
        raise RpcError(-32600, data="method must be a string")
    if not _is_valid_id(message.get("id")):
        raise RpcError(-32600, data="id must be a string, a number or null")


def _rpc_response(
    request_id: object,
    *,
    result: object = None,
    error: RpcError | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Build a JSON-RPC reply (HTTP 200 unless told) with a W3C trace header."""
    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    if error is None:
        reply["result"] = result
    else:
        reply["error"] = {
            "code": error.code,
            "message": error.message,
            "data": error.data,
        }
    return web.Response(
        status=status,
        text=json.dumps(reply, allow_nan=False),
        content_type="application/json",
        headers={
            "traceparent": f"00-{_trace_id()}-{secrets.token_hex(8)}-01",
            **(headers or {}),
        },
    )


def proxy_page(status: int, message: str = "") -> str:
    """The HTML error page a reverse proxy sends (nginx's, with `message` added)."""
    try:
        title = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        title = f"{status} Error"
    detail = f"<p>{html.escape(message)}</p>\r\n" if message else ""
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n{detail}"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


def _other_id(request_id: object) -> object:
    """An id that is not `request_id`: what a reply to another request carries."""
    if isinstance(request_id, int) and not isinstance(request_id, bool):
        return request_id + 1_000_000
    return f"not-{request_id}"


def _unauthorized(scheme: str, reason: str) -> web.Response:
    return web.json_response(
        {"error": "unauthorized", "message": reason},
        status=401,
        headers={hdrs.WWW_AUTHENTICATE: f'{scheme} realm="clarify"'},
    )


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": description},
        status=status,
        headers={hdrs.CACHE_CONTROL: "no-store"},
    )


def _too_large() -> web.Response:
    return web.Response(status=413, text="request body exceeds the size limit")
