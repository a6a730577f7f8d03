"""Client for Clarify's JSON-RPC API.

This module knows nothing about Home Assistant. It validates credentials, talks to
Clarify through the aiohttp session it is given, and turns every way a call can fail
into an exception whose class alone tells the caller what to do with the data:

- `ClarifyRetryableError` (`ClarifyConnectionError`, `ClarifyRateLimitedError`):
  transient. Keep the data and try again after a backoff of at least
  `retry_after`. Network errors, timeouts, HTTP 5xx, 408 and 429, JSON-RPC -32603,
  -32000, -32001, -32009, -32015, and -32021 (a partial failure: send everything
  again; delivery is at least once and Clarify overwrites what it already has).
- `ClarifyAuthError` (`ClarifyForbiddenError` when the credentials work but may not
  act for this integration): keep the data and ask the user for new credentials.
  HTTP 401 and 403, JSON-RPC -32003, OAuth credential errors.
- `ClarifyInvalidDataError`: Clarify itself refused the params (JSON-RPC -32602 in
  a genuine reply to this very request, over HTTP 200, 400 or 422). The only
  verdict on the data: the series in `invalid_keys` may be set aside; when it is
  empty, Clarify did not say which series, and a search by halves can tell.
- `ClarifyPayloadTooLargeError`: HTTP 413. Send the same data in smaller requests.
- `ClarifyUnexpectedError`: an answer that says nothing about the data. Other 4xx
  statuses whatever their body (a proxy's error page, 404, 405, 422 without a
  genuine -32602), redirects, other 2xx replies, HTTP 200 that is not a JSON-RPC
  response to this request, JSON-RPC -32700, -32600, -32601, -32002 and unknown
  codes. Keep the data, back off longer, and tell the user if it persists.
- `InvalidCredentialsError`: the user typed or pasted something unusable; nothing
  was sent.

`ClarifyRequestError` is kept only as another name of `ClarifyInvalidDataError`,
not as a base of the three "Clarify refused this request" classes. It used to
mean "this request will never succeed: drop or repair what `invalid_keys` names",
and code written for that meaning drops data; as a common base it would apply that
to a proxy's error page or a 413, which is how readings were lost (issue 7). Bound
to the one class that is a verdict on the data, the old name keeps its meaning.
Nothing groups the three on purpose: each calls for different handling.

Every error about a request carries what support and a repair issue need (None
when unknown): `status`, `code`, Clarify's own short `message`, `trace_id`,
`retry_after` and the JSON-RPC error `data`. Neither these nor the exception's text
ever contain a credential, a token or a response body; an excerpt of a body that is
not JSON goes to the debug log only, shortened and with markup stripped.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Collection, Mapping, Sequence
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
import ipaddress
import itertools
import logging
import math
import re
import time
from typing import Any, Final, Literal, Self
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import hdrs
import orjson

_LOGGER = logging.getLogger(__name__)

DEFAULT_API_URL: Final = "https://api.clarify.io/v1/"
DEFAULT_TIMEOUT: Final = 30.0
# The wiring layer should append the integration's version from its manifest.
DEFAULT_USER_AGENT: Final = "clarify-home-assistant"
API_VERSION: Final = "1.1"

# A token is renewed this long before Clarify says it expires (or halfway through a
# shorter lifetime), so no request leaves with a token that dies in flight.
TOKEN_REFRESH_MARGIN: Final = 60.0

INTEGRATION_ID_PATTERN: Final = re.compile(r"[a-v0-9]{20}")

CODE_FORBIDDEN: Final = -32003
CODE_INVALID_PARAMS: Final = -32602
# Transient by Clarify's own description: internal and server errors, conflicts,
# "try again"; -32001 (Clarify produced an invalid resource) is its own fault and
# -32021 (partial failure) is cured by sending everything again. Every other code
# says nothing about the data, except -32602 and -32003.
RETRYABLE_CODES: Final = frozenset({-32603, -32000, -32001, -32009, -32015, -32021})

# Token endpoint error codes (RFC 6749, section 5.2) that mean the client
# credentials themselves are wrong rather than the request being malformed.
_OAUTH_AUTH_ERRORS: Final = frozenset(
    {"invalid_client", "invalid_grant", "unauthorized_client", "access_denied"}
)
_OAUTH_ERROR_PATTERN: Final = re.compile(r"[a-z_]{1,64}")

# What may be quoted from a reply. A message long enough to hold a page is not a
# message; a body excerpt is for the debug log only.
_MESSAGE_MAX: Final = 200
_EXCERPT_MAX: Final = 120
_REDACTED: Final = "[redacted]"
# Opening and closing tags, comments and doctypes; "a < b > c" is left alone.
_MARKUP: Final = re.compile(r"<(?:/?[A-Za-z][^<>]*|![^<>]*)>")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TRACE_ID: Final = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
# W3C Trace Context: version-traceid-parentid-flags; the trace ID is what support
# looks up.
_TRACEPARENT: Final = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_MEDIA_TYPE: Final = re.compile(r"[a-z0-9.+-]{1,40}/[a-z0-9.+-]{1,60}")

_METHOD_INSERT: Final = "integration.insert"
_METHOD_SAVE_SIGNALS: Final = "integration.saveSignals"

type CredentialsKind = Literal["basic", "client_credentials"]
type CredentialsProblem = Literal[
    "invalid_json",
    "not_an_object",
    "missing",
    "invalid_format",
    "unknown_type",
    "id_mismatch",
    "invalid_url",
    "insecure_url",
]


class ClarifyError(Exception):
    """Base class for every error raised by this module.

    What is known about the failure, each None when it is not:

    - `status`: the HTTP status of the reply (None when none came).
    - `code`: the JSON-RPC error code, or the code of another JSON error body.
    - `message`: Clarify's own words (a JSON-RPC error message, an OAuth error
      code), shortened and cleaned; never a response body.
    - `trace_id`: what Clarify's support needs to find the request: the error's
      ``data.trace``, else the trace ID of the reply's ``traceparent`` header.
    - `retry_after`: the seconds Clarify asked to wait (``Retry-After``).
    - `data`: the ``data`` of a JSON-RPC error, as sent (``partialResult``,
      ``pathErrors`` and the like).
    """

    def __init__(
        self,
        description: str,
        *,
        status: int | None = None,
        code: int | None = None,
        message: str | None = None,
        trace_id: str | None = None,
        retry_after: float | None = None,
        data: object = None,
    ) -> None:
        """Record what failed; `description` is the text shown to people."""
        super().__init__(description)
        self.status = status
        self.code = code
        self.message = message
        self.trace_id = trace_id
        self.retry_after = retry_after
        self.data = data


class InvalidCredentialsError(ClarifyError, ValueError):
    """Credentials were rejected locally, before anything was sent.

    `field` names the offending input the way the caller supplied it: a keyword
    argument name (``integration_id``, ``password``, ``client_id``, ``client_secret``,
    ``api_url``) for the field constructors, a JSON path (``integration``,
    ``credentials.clientSecret``, ``apiUrl``, ...) for a credentials file, where ""
    stands for the whole document. `reason` is machine readable.
    """

    def __init__(self, field: str, reason: CredentialsProblem) -> None:
        """Describe which input is unusable and why."""
        super().__init__(f"Invalid credentials: {field or 'document'} ({reason})")
        self.field = field
        self.reason = reason


class InvalidApiUrlError(InvalidCredentialsError):
    """The API URL is malformed, or plain http to a host that is not loopback."""


class ClarifyRetryableError(ClarifyError):
    """The request may succeed later: keep the data and retry after a backoff.

    Wait at least `retry_after` seconds when Clarify gave it.
    """


class ClarifyConnectionError(ClarifyRetryableError):
    """Clarify could not be reached, timed out, or its servers failed (HTTP 5xx)."""


class ClarifyRateLimitedError(ClarifyRetryableError):
    """Clarify asked us to slow down (429) or gave up on a throttled request (408)."""


class ClarifyAuthError(ClarifyError):
    """Clarify rejected the credentials: the user must supply new ones."""


class ClarifyForbiddenError(ClarifyAuthError):
    """The credentials are valid but may not act for this integration."""


class ClarifyInvalidDataError(ClarifyError):
    """Clarify declared the params invalid (JSON-RPC -32602 in its own reply).

    `invalid_keys` holds the input keys the error blames, among those sent. Empty
    means Clarify did not say which series are at fault, not that none are.
    """

    def __init__(
        self,
        description: str,
        *,
        invalid_keys: frozenset[str] = frozenset(),
        status: int | None = None,
        code: int | None = None,
        message: str | None = None,
        trace_id: str | None = None,
        retry_after: float | None = None,
        data: object = None,
    ) -> None:
        """Record Clarify's verdict and the input keys it blames."""
        super().__init__(
            description,
            status=status,
            code=code,
            message=message,
            trace_id=trace_id,
            retry_after=retry_after,
            data=data,
        )
        self.invalid_keys = invalid_keys


# The old name, bound to the one class that is a verdict on the data (see the
# module docstring for why it is not a common base).
ClarifyRequestError = ClarifyInvalidDataError


class ClarifyPayloadTooLargeError(ClarifyError):
    """The request was too large (HTTP 413): send its data in smaller requests."""


class ClarifyUnexpectedError(ClarifyError):
    """An answer that is not about the data and will not go away by itself soon.

    Proxies' error pages, wrong paths, redirects, replies that are not JSON-RPC,
    client bugs (-32700, -32600, -32601) and codes this client does not know:
    keep the data, back off, and tell the user if it lasts.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class ClarifyCredentials:
    """Validated credentials for one Clarify integration.

    Build instances with the ``from_*`` constructors, which validate and normalise
    their input. For basic auth `client_id` is None: the username is the
    integration ID. The secret stays out of the repr.
    """

    kind: CredentialsKind
    integration_id: str
    client_id: str | None
    secret: str = field(repr=False)
    api_url: str = DEFAULT_API_URL

    @classmethod
    def from_basic(
        cls, integration_id: str, password: str, api_url: str = DEFAULT_API_URL
    ) -> Self:
        """Build basic-auth credentials from an integration ID and password."""
        return cls(
            kind="basic",
            integration_id=_integration_id(integration_id, "integration_id"),
            client_id=None,
            secret=_secret(password, "password"),
            api_url=normalize_api_url(api_url),
        )

    @classmethod
    def from_client_credentials(
        cls,
        integration_id: str,
        client_id: str,
        client_secret: str,
        api_url: str = DEFAULT_API_URL,
    ) -> Self:
        """Build OAuth 2.0 client-credentials credentials."""
        return cls(
            kind="client_credentials",
            integration_id=_integration_id(integration_id, "integration_id"),
            client_id=_text(client_id, "client_id"),
            secret=_secret(client_secret, "client_secret"),
            api_url=normalize_api_url(api_url),
        )

    @classmethod
    def from_credentials_file(
        cls, document: str | bytes | Mapping[str, Any], *, api_url: str | None = None
    ) -> Self:
        """Build credentials from the ``clarify-credentials.json`` Clarify hands out.

        Both kinds of file are understood. `api_url`, when given, overrides the
        file's ``apiUrl``; without either the production API is used.
        """
        if isinstance(document, Mapping):
            content: object = document
        else:
            try:
                content = orjson.loads(document)
            except orjson.JSONDecodeError:
                # Never chain the decoder's error: its message quotes the document.
                raise InvalidCredentialsError("", "invalid_json") from None
        if not isinstance(content, Mapping):
            raise InvalidCredentialsError("", "not_an_object")

        integration_id = _integration_id(content.get("integration"), "integration")
        credentials = content.get("credentials")
        if credentials is None:
            raise InvalidCredentialsError("credentials", "missing")
        if not isinstance(credentials, Mapping):
            raise InvalidCredentialsError("credentials", "not_an_object")
        kind = credentials.get("type")
        if kind is None:
            raise InvalidCredentialsError("credentials.type", "missing")
        if kind not in ("basic-auth", "client-credentials"):
            raise InvalidCredentialsError("credentials.type", "unknown_type")
        client_id = _text(credentials.get("clientId"), "credentials.clientId")
        secret = _secret(credentials.get("clientSecret"), "credentials.clientSecret")
        if api_url is not None:
            url = normalize_api_url(api_url)
        else:
            url = normalize_api_url(
                content.get("apiUrl", DEFAULT_API_URL), field="apiUrl"
            )

        if kind == "client-credentials":
            return cls(
                kind="client_credentials",
                integration_id=integration_id,
                client_id=client_id,
                secret=secret,
                api_url=url,
            )
        # Basic auth logs in as the integration itself, so a file whose username
        # names another integration has been tampered with or mixed up.
        if client_id != integration_id:
            raise InvalidCredentialsError("credentials.clientId", "id_mismatch")
        return cls(
            kind="basic",
            integration_id=integration_id,
            client_id=None,
            secret=secret,
            api_url=url,
        )


def normalize_api_url(url: object, *, field: str = "api_url") -> str:
    """Validate an API URL and give it exactly one trailing slash.

    Plain http is accepted only for loopback hosts (the local emulator), so
    credentials never cross a network unencrypted.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidApiUrlError(field, "missing")
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        # Reading the port is what checks it is a number in range.
        port = parts.port
    except ValueError:
        raise InvalidApiUrlError(field, "invalid_url") from None
    if (
        parts.scheme not in ("http", "https")
        or not host
        or port == 0
        or parts.username is not None
        or parts.query
        or parts.fragment
    ):
        raise InvalidApiUrlError(field, "invalid_url")
    if parts.scheme == "http" and not _is_loopback(host):
        raise InvalidApiUrlError(field, "insecure_url")
    path = parts.path.rstrip("/") + "/"
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidCredentialsError(field, "missing")
    return value.strip()


def _secret(value: object, field: str) -> str:
    # Secrets are kept verbatim: stripping could silently change a valid one.
    if not isinstance(value, str) or not value.strip():
        raise InvalidCredentialsError(field, "missing")
    return value


def _integration_id(value: object, field: str) -> str:
    integration_id = _text(value, field)
    if INTEGRATION_ID_PATTERN.fullmatch(integration_id) is None:
        raise InvalidCredentialsError(field, "invalid_format")
    return integration_id


@dataclass(frozen=True, slots=True)
class SignalInfo:
    """What `integration.insert` reports about one input key."""

    id: str
    created: bool


@dataclass(frozen=True, slots=True)
class InsertResult:
    """The parsed result of `integration.insert`."""

    signals_by_input: dict[str, SignalInfo]


@dataclass(frozen=True, slots=True)
class SavedSignal:
    """What `integration.saveSignals` reports about one input key."""

    id: str
    created: bool
    updated: bool


@dataclass(frozen=True, slots=True)
class SaveSignalsResult:
    """The parsed result of `integration.saveSignals`."""

    signals_by_input: dict[str, SavedSignal]


def encode_frame(
    times: Sequence[str], series: Mapping[str, Sequence[float | None]]
) -> bytes:
    """Encode the ``data`` object of `integration.insert` as JSON.

    Exposed so a caller can measure a request before sending it with
    `ClarifyClient.insert_encoded`. Non-finite floats are encoded as null, Clarify's
    "no value".

    Raises:
        ValueError: a series does not have one entry per time.

    """
    expected = len(times)
    if mismatched := sorted(
        key for key, values in series.items() if len(values) != expected
    ):
        raise ValueError(f"Series {mismatched} do not have {expected} values")
    return orjson.dumps({"times": times, "series": series}, default=_to_builtin)


def _to_builtin(value: object) -> object:
    # orjson encodes dicts, lists and tuples natively; other mappings and sequences
    # (array.array, deque, mapping proxies) are converted only when they occur.
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence):
        return list(value)
    raise TypeError(f"Cannot encode {type(value).__name__} as JSON")


@dataclass(frozen=True, slots=True)
class _AccessToken:
    value: str = field(repr=False)
    refresh_at: float


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    # What the request carried that must never be quoted back (secret, token).
    secrets: tuple[str, ...]


class ClarifyClient:
    """Push data and signal metadata to one Clarify integration.

    The client is safe to share between concurrent tasks: they share one cached
    OAuth token and never fetch more than one at a time.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        credentials: ClarifyCredentials,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Bind the client to a session and credentials.

        `timeout` bounds each HTTP request in seconds; `clock` (monotonic seconds)
        decides when a cached token is due for renewal.
        """
        self._session = session
        self._credentials = credentials
        self._user_agent = user_agent
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._rpc_url = f"{credentials.api_url}rpc"
        self._token_url = f"{credentials.api_url}oauth/token"
        self._request_ids = itertools.count(1)
        self._token: _AccessToken | None = None
        self._token_lock = asyncio.Lock()
        self._insert_prefix = (
            b'{"integration":' + orjson.dumps(credentials.integration_id) + b',"data":'
        )

    @property
    def credentials(self) -> ClarifyCredentials:
        """The credentials this client sends."""
        return self._credentials

    async def insert(
        self, times: Sequence[str], series: Mapping[str, Sequence[float | None]]
    ) -> InsertResult:
        """Insert a frame of samples: one value (or None) per time for each key.

        `times` are RFC 3339 UTC strings. Keys Clarify has not seen become new
        signals.
        """
        return await self._insert(encode_frame(times, series), series.keys)

    async def insert_encoded(self, data_json: bytes) -> InsertResult:
        """Insert a frame already encoded by `encode_frame`."""
        return await self._insert(data_json, lambda: _encoded_series_keys(data_json))

    async def _insert(
        self, data_json: bytes, sent_keys: Callable[[], Collection[str]]
    ) -> InsertResult:
        result = await self._call(
            _METHOD_INSERT, (self._insert_prefix, data_json, b"}"), "series", sent_keys
        )
        return InsertResult(
            {
                key: SignalInfo(entry["id"], entry.get("created") is True)
                for key, entry in _signal_summaries(result)
            }
        )

    async def save_signals(
        self, signals: Mapping[str, Mapping[str, Any]], *, create_only: bool = False
    ) -> SaveSignalsResult:
        """Create or replace the metadata of signals, keyed by input key.

        Every field but ``annotations`` is replaced, so send the full metadata.
        With `create_only`, existing signals are left untouched.
        """
        params = orjson.dumps(
            {
                "integration": self._credentials.integration_id,
                "signalsByInput": signals,
                "createOnly": create_only,
            },
            default=_to_builtin,
        )
        result = await self._call(
            _METHOD_SAVE_SIGNALS, (params,), "signalsByInput", signals.keys
        )
        return SaveSignalsResult(
            {
                key: SavedSignal(
                    entry["id"],
                    entry.get("created") is True,
                    entry.get("updated") is True,
                )
                for key, entry in _signal_summaries(result)
            }
        )

    async def check_credentials(self) -> None:
        """Prove that Clarify accepts the credentials and integration, creating nothing.

        Raises:
            ClarifyAuthError: the credentials are wrong (`ClarifyForbiddenError`:
                they may not act for this integration).
            ClarifyRetryableError: Clarify could not be reached.
            ClarifyError: Clarify answered in an unexpected way
                (`ClarifyUnexpectedError`, `ClarifyPayloadTooLargeError`).

        """
        # Clarify checks the caller and the integration before the params, so an
        # empty request refused as invalid still proves both are accepted.
        with contextlib.suppress(ClarifyInvalidDataError):
            await self.save_signals({}, create_only=True)

    async def _call(
        self,
        method: str,
        params_json: tuple[bytes, ...],
        container: str,
        sent_keys: Callable[[], Collection[str]],
    ) -> object:
        """Send one JSON-RPC request and return its result.

        `params_json` is the encoded params object, in parts: a frame of
        several megabytes is copied once, into the body, and no more.
        `container` is the params field keyed by input key and `sent_keys` lists
        those keys; they let an error name the keys it blames.
        """
        request_id = next(self._request_ids)
        body = b"".join(
            (
                b'{"jsonrpc":"2.0","id":%d,"method":"%b","params":'
                % (request_id, method.encode()),
                *params_json,
                b"}",
            )
        )
        credentials = self._credentials
        if credentials.kind == "basic":
            response = await self._post_rpc(body, _basic_authorization(credentials))
        else:
            token = await self._access_token()
            response = await self._post_rpc(body, f"Bearer {token}")
            if response.status == 401:
                # Tokens can be revoked or expire early: renew once, then believe it.
                _LOGGER.debug("Clarify refused the access token, renewing it")
                token = await self._access_token(rejected=token)
                response = await self._post_rpc(body, f"Bearer {token}")
        return _rpc_result(
            _Exchange(method, response, request_id, container, sent_keys)
        )

    async def _post_rpc(self, body: bytes, authorization: str) -> _Response:
        return await self._post(
            self._rpc_url,
            body,
            {
                hdrs.AUTHORIZATION: authorization,
                hdrs.CONTENT_TYPE: "application/json",
                hdrs.USER_AGENT: self._user_agent,
                "X-API-Version": API_VERSION,
            },
        )

    async def _post(
        self, url: str, data: bytes | dict[str, str], headers: Mapping[str, str]
    ) -> _Response:
        # Whatever this request carries that must never be quoted back.
        secrets = (
            self._credentials.secret,
            headers.get(hdrs.AUTHORIZATION, "").partition(" ")[2],
        )
        try:
            async with self._session.post(
                url,
                data=data,
                headers=headers,
                timeout=self._timeout,
                # A redirect would carry the credentials somewhere unvetted.
                allow_redirects=False,
            ) as response:
                body = await response.read()
        except TimeoutError as err:
            raise ClarifyConnectionError("Timed out waiting for Clarify") from err
        except aiohttp.ClientError as err:
            reason = _clean(str(err) or type(err).__name__, _MESSAGE_MAX, secrets)
            raise ClarifyConnectionError(f"Cannot reach Clarify: {reason}") from err
        return _Response(response.status, response.headers, body, secrets)

    async def _access_token(self, rejected: str | None = None) -> str:
        """Return a usable token, fetching one only when none is.

        Concurrent callers queue on the lock and then find the token the first
        one fetched, so a burst of calls costs one (rate-limited) token request.
        `rejected` is a token Clarify refused: it is replaced unless another
        caller already did so.
        """
        async with self._token_lock:
            token = self._token
            if (
                token is None
                or token.value == rejected
                or self._clock() >= token.refresh_at
            ):
                token = self._token = await self._fetch_token()
            return token.value

    async def _fetch_token(self) -> _AccessToken:
        credentials = self._credentials
        assert credentials.client_id is not None
        requested_at = self._clock()
        response = await self._post(
            self._token_url,
            {
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.secret,
                "audience": credentials.api_url,
            },
            {hdrs.USER_AGENT: self._user_agent},
        )
        payload = _json_object(response.body)
        if response.status != 200:
            raise _token_error(_Exchange("token request", response), payload)
        value = payload.get("access_token") if payload is not None else None
        if payload is None or not isinstance(value, str) or not value:
            # A captive portal or proxy answering in Clarify's place, most likely.
            raise _failure(
                ClarifyUnexpectedError,
                _Exchange("token request", response),
                payload,
                reason="no access token in the reply",
            )
        lifetime = payload.get("expires_in")
        if (
            isinstance(lifetime, int | float)
            and not isinstance(lifetime, bool)
            and lifetime > 0
        ):
            margin = min(TOKEN_REFRESH_MARGIN, lifetime / 2)
            refresh_at = requested_at + lifetime - margin
        else:
            # Without a stated lifetime the token lives until Clarify refuses it.
            refresh_at = math.inf
        return _AccessToken(value, refresh_at)


@dataclass(frozen=True, slots=True)
class _Exchange:
    """A reply and what the error mapping needs to know about its request.

    `request_id` is the JSON-RPC id sent (None for the token endpoint);
    `container` and `sent_keys` let an error name the input keys it blames.
    """

    context: str
    response: _Response
    request_id: int | None = None
    container: str = ""
    sent_keys: Callable[[], Collection[str]] = frozenset


def _rpc_result(exchange: _Exchange) -> object:
    """Return the result of a JSON-RPC reply, or raise what its failure means."""
    response = exchange.response
    payload = _json_object(response.body)
    # Only a reply that names our request speaks for Clarify's RPC layer: a cache,
    # a proxy or a misrouted request can produce JSON too.
    reply = payload if _is_reply_to(payload, exchange.request_id) else None
    if response.status != 200:
        raise _status_error(exchange, payload, reply)
    if reply is None:
        raise _failure(
            ClarifyUnexpectedError,
            exchange,
            payload,
            reason="not a JSON-RPC reply to this request",
        )
    if reply.get("error") is not None:
        raise _rpc_error(exchange, reply)
    if "result" not in reply:
        raise _failure(
            ClarifyUnexpectedError, exchange, payload, reason="no result in the reply"
        )
    return reply["result"]


def _is_reply_to(payload: dict[str, Any] | None, request_id: int | None) -> bool:
    if payload is None or payload.get("jsonrpc") != "2.0":
        return False
    reply_id = payload.get("id")
    # `type() is int`: JSON true and 1.0 compare equal to 1 but are not our id.
    return type(reply_id) is int and reply_id == request_id


def _status_error(
    exchange: _Exchange,
    payload: dict[str, Any] | None,
    reply: dict[str, Any] | None,
) -> ClarifyError:
    """Map a reply that is not HTTP 200."""
    status = exchange.response.status
    # Clarify may reject params at the HTTP level too; only its own JSON-RPC
    # reply to this request may blame the data, never a status or a page alone.
    if (
        status in (400, 422)
        and reply is not None
        and _error_code(reply.get("error")) == CODE_INVALID_PARAMS
    ):
        return _rpc_error(exchange, reply)
    if status == 401:
        return _failure(ClarifyAuthError, exchange, payload)
    if status == 403:
        return _failure(ClarifyForbiddenError, exchange, payload)
    if status == 413:
        return _failure(ClarifyPayloadTooLargeError, exchange, payload)
    return _transient_or_unexpected(exchange, payload)


def _transient_or_unexpected(
    exchange: _Exchange, payload: dict[str, Any] | None, message: str | None = None
) -> ClarifyError:
    """Map a status no rule specific to the endpoint claimed."""
    status = exchange.response.status
    if status in (408, 429):
        return _failure(ClarifyRateLimitedError, exchange, payload, message=message)
    if 500 <= status <= 599:
        return _failure(ClarifyConnectionError, exchange, payload, message=message)
    # Other 4xx, redirects and 2xx other than 200: nothing Clarify's API sends
    # for a request it processed, and nothing that waiting alone will fix.
    return _failure(ClarifyUnexpectedError, exchange, payload, message=message)


def _rpc_error(exchange: _Exchange, reply: dict[str, Any]) -> ClarifyError:
    """Map the JSON-RPC error of a genuine reply to our request."""
    code = _error_code(reply.get("error"))
    if code in RETRYABLE_CODES:
        return _failure(ClarifyRetryableError, exchange, reply)
    if code == CODE_FORBIDDEN:
        return _failure(ClarifyForbiddenError, exchange, reply)
    if code == CODE_INVALID_PARAMS:
        error = reply["error"]
        return _failure(
            ClarifyInvalidDataError,
            exchange,
            reply,
            invalid_keys=_invalid_keys(
                error.get("data"), exchange.container, exchange.sent_keys
            ),
        )
    return _failure(ClarifyUnexpectedError, exchange, reply)


def _token_error(exchange: _Exchange, payload: dict[str, Any] | None) -> ClarifyError:
    oauth_error = payload.get("error") if payload is not None else None
    # A well-formed OAuth error code is Clarify's message; error_description is
    # free text that only the debug log shows.
    if not isinstance(oauth_error, str) or not _OAUTH_ERROR_PATTERN.fullmatch(
        oauth_error
    ):
        oauth_error = None
    status = exchange.response.status
    if status in (401, 403) or (status == 400 and oauth_error in _OAUTH_AUTH_ERRORS):
        return _failure(ClarifyAuthError, exchange, payload, message=oauth_error)
    # A 413 from the token endpoint is not about our data: nothing to split.
    return _transient_or_unexpected(exchange, payload, oauth_error)


def _failure[ErrorT: ClarifyError](
    error_class: type[ErrorT],
    exchange: _Exchange,
    payload: dict[str, Any] | None,
    *,
    message: str | None = None,
    reason: str | None = None,
    **extra: Any,
) -> ErrorT:
    """Build the error for a reply, with what support needs, and log it.

    `payload` is the reply's JSON object, if it was one: its error code, message
    and data are read leniently. `message` overrides the message found there
    (the token endpoint's is an OAuth error code); `reason` says what was wrong
    with a reply that carries no message; `extra` goes to the constructor.
    """
    response = exchange.response
    secrets = response.secrets
    error = payload.get("error") if payload is not None else None
    code = _error_code(error)
    data = error.get("data") if isinstance(error, Mapping) else None
    if message is None:
        message = _error_message(payload)
    if message is not None:
        message = _clean(message, _MESSAGE_MAX, secrets) or None
    trace_id = _trace_id(data, response.headers)
    media_type = _media_type(response.headers)
    if reason is None and payload is None and response.body:
        reason = f"{media_type or 'unknown'} reply, not JSON"

    description = f"{exchange.context} failed"
    if response.status != 200 or code is None:
        description += f" with HTTP {response.status}"
        if code is not None:
            description += f", code {code}"
    else:
        description += f" with code {code}"
    if message:
        description += f": {message}"
    if reason:
        description += f" ({reason})"

    if _LOGGER.isEnabledFor(logging.DEBUG):
        _LOGGER.debug(
            "Clarify %s failed: HTTP %s, code %s, trace %s, traceparent %s, %s",
            exchange.context,
            response.status,
            code,
            trace_id,
            response.headers.get("traceparent"),
            _debug_detail(response, payload),
        )
    return error_class(
        description,
        status=response.status,
        code=code,
        message=message,
        trace_id=trace_id,
        retry_after=_parse_retry_after(response.headers.get(hdrs.RETRY_AFTER)),
        data=data,
        **extra,
    )


def _error_code(error: object) -> int | None:
    if not isinstance(error, Mapping):
        return None
    code = error.get("code")
    # JSON true is an int to Python, not an error code.
    return code if type(code) is int else None


def _error_message(payload: dict[str, Any] | None) -> str | None:
    """Find the message of a JSON error body, whatever its shape."""
    if payload is None:
        return None
    error = payload.get("error")
    if isinstance(error, Mapping):
        found = error.get("message")
    elif isinstance(payload.get("message"), str):
        found = payload["message"]
    else:
        found = error
    return found if isinstance(found, str) else None


def _debug_detail(response: _Response, payload: dict[str, Any] | None) -> str:
    """What the debug log shows of a failed reply's body, shortened and cleaned."""
    if payload is None:
        # A proxy's or a server's page: an excerpt tells which, the page itself
        # would flood the log.
        text = response.body.decode("utf-8", "replace")
        return f"body {_clean(text, _EXCERPT_MAX, response.secrets)!r}"
    fields = {
        name: payload[name]
        for name in ("error", "error_description", "message")
        if name in payload
    }
    shown = str(fields) if fields else f"fields {sorted(payload)}"
    return f"detail {_clean(shown, 4 * _EXCERPT_MAX, response.secrets)!r}"


def _clean(text: str, limit: int, secrets: Sequence[str]) -> str:
    """Make outside text fit to quote: no secret, markup or control characters."""
    text = _redact(text, secrets)
    text = " ".join(_CONTROL.sub(" ", _MARKUP.sub(" ", text)).split())
    # Again: joining whitespace can reassemble a secret that spanned a line break.
    text = _redact(text, secrets)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    return text


def _trace_id(data: object, headers: Mapping[str, str]) -> str | None:
    trace = data.get("trace") if isinstance(data, Mapping) else None
    if isinstance(trace, str) and _TRACE_ID.fullmatch(trace):
        return trace
    header = headers.get("traceparent", "").strip().lower()
    if match := _TRACEPARENT.fullmatch(header):
        return match.group(1)
    return None


def _media_type(headers: Mapping[str, str]) -> str | None:
    media_type = headers.get(hdrs.CONTENT_TYPE, "").partition(";")[0].strip().lower()
    return media_type if _MEDIA_TYPE.fullmatch(media_type) else None


def _basic_authorization(credentials: ClarifyCredentials) -> str:
    # Built by hand: aiohttp's BasicAuth is deprecated in the aiohttp that newer
    # Home Assistant ships, and its replacement is missing from the older one.
    pair = f"{credentials.integration_id}:{credentials.secret}".encode()
    return f"Basic {base64.b64encode(pair).decode('ascii')}"


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _parse_retry_after(value: str | None) -> float | None:
    """Parse a Retry-After header (delay in seconds or an HTTP date) into seconds."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except ValueError:
            return None
        # HTTP dates are always GMT, even when spelled "-0000".
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _signal_summaries(result: object) -> list[tuple[str, Mapping[str, Any]]]:
    """Pick the usable per-key summaries out of a result, ignoring the rest."""
    if not isinstance(result, Mapping):
        return []
    summaries = result.get("signalsByInput")
    if not isinstance(summaries, Mapping):
        return []
    return [
        (key, entry)
        for key, entry in summaries.items()
        if isinstance(entry, Mapping) and isinstance(entry.get("id"), str)
    ]


def _encoded_series_keys(data_json: bytes) -> Collection[str]:
    data = _json_object(data_json)
    series = data.get("series") if data is not None else None
    return series.keys() if isinstance(series, dict) else ()


def _invalid_keys(
    data: object, container: str, sent_keys: Callable[[], Collection[str]]
) -> frozenset[str]:
    """Find the input keys an error's data blames.

    Clarify points at the offending input either with ``params`` (a map from a
    dotted field path to messages) or ``pathErrors`` (``[{path, error}]`` with the
    path as a list of segments). Either way the key follows the `container` field
    (``series`` or ``signalsByInput``). Only keys that were actually sent count:
    keys may themselves contain dots, so dotted paths are matched against them.
    """
    if not isinstance(data, Mapping):
        return frozenset()
    locations: list[object] = []
    if isinstance(params := data.get("params"), Mapping):
        locations.extend(params)
    if isinstance(path_errors := data.get("pathErrors"), list):
        locations.extend(
            entry.get("path") for entry in path_errors if isinstance(entry, Mapping)
        )
    if not locations:
        return frozenset()

    known = sent_keys()
    found: set[str] = set()
    for location in locations:
        if isinstance(location, list):
            segments = [str(segment) for segment in location]
            if container in segments:
                index = segments.index(container) + 1
                if index < len(segments) and segments[index] in known:
                    found.add(segments[index])
        elif isinstance(location, str) and (
            key := _key_in_dotted_path(location, container, known)
        ):
            found.add(key)
    return frozenset(found)


def _key_in_dotted_path(
    path: str, container: str, known: Collection[str]
) -> str | None:
    """Find the sent key in a path like ``data.series.<key>[.<field>]``."""
    for separator in (".", "["):
        marker = f"{container}{separator}"
        start = path.find(marker)
        if start == -1:
            continue
        rest = path[start + len(marker) :]
        if separator == "[":
            key = rest.partition("]")[0].strip("'\"")
            return key if key in known else None
        # The longest sent key that fills a whole number of segments wins:
        # "sensor.a.name" blames "sensor.a", not "sensor".
        matches = [
            key
            for key in known
            if rest == key or rest.startswith((f"{key}.", f"{key}["))
        ]
        return max(matches, key=len) if matches else None
    return None
