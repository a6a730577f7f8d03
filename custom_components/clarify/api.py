"""Client for Clarify's JSON-RPC API.

This module knows nothing about Home Assistant. It validates credentials, talks to
Clarify through the aiohttp session it is given, and turns every way a call can fail
into an exception whose class tells the caller what to do next:

- `ClarifyRetryableError`: keep the data and try again later (network trouble,
  timeouts, 5xx, throttling, transient RPC errors).
- `ClarifyAuthError`: ask the user for new credentials (`ClarifyForbiddenError` when
  the credentials work but may not touch this integration).
- `ClarifyRequestError`: this request will never succeed as it is; repair or drop it,
  guided by `invalid_keys`.
- `InvalidCredentialsError`: the user typed or pasted something unusable; nothing was
  sent.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Collection, Mapping, Sequence
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
# Internal error, server error, conflict and "try again" are transient by Clarify's
# own description; every other code means the request itself is at fault.
RETRYABLE_CODES: Final = frozenset({-32603, -32000, -32009, -32015})

# Token endpoint error codes (RFC 6749, section 5.2) that mean the client
# credentials themselves are wrong rather than the request being malformed.
_OAUTH_AUTH_ERRORS: Final = frozenset(
    {"invalid_client", "invalid_grant", "unauthorized_client", "access_denied"}
)
_OAUTH_ERROR_PATTERN: Final = re.compile(r"[a-z_]{1,64}")

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
    """Base class for every error raised by this module."""


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

    `retry_after` is Clarify's own hint in seconds when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        code: int | None = None,
    ) -> None:
        """Record what failed and when Clarify suggests trying again."""
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status
        self.code = code


class ClarifyConnectionError(ClarifyRetryableError):
    """Clarify could not be reached or did not answer like Clarify."""


class ClarifyRateLimitedError(ClarifyRetryableError):
    """Clarify asked us to slow down (429) or gave up on a throttled request (408)."""


class ClarifyAuthError(ClarifyError):
    """Clarify rejected the credentials: the user must supply new ones."""

    def __init__(
        self, message: str, *, status: int | None = None, code: int | None = None
    ) -> None:
        """Record the HTTP status or RPC code that carried the rejection."""
        super().__init__(message)
        self.status = status
        self.code = code


class ClarifyForbiddenError(ClarifyAuthError):
    """The credentials are valid but may not act for this integration (-32003)."""


class ClarifyRequestError(ClarifyError):
    """Clarify will never accept this request as it is.

    `invalid_keys` holds the input keys the error blames, when it says which: the
    caller should drop or repair those series and send the rest again.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        data: object = None,
        invalid_keys: frozenset[str] = frozenset(),
    ) -> None:
        """Record Clarify's verdict and the input keys it blames."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.data = data
        self.invalid_keys = invalid_keys


class ClarifyInvalidDataError(ClarifyRequestError):
    """TEMPORARY shim: -32602."""

    trace_id: str | None = None


class ClarifyPayloadTooLargeError(ClarifyRequestError):
    """TEMPORARY shim: 413."""

    trace_id: str | None = None


class ClarifyUnexpectedError(ClarifyRequestError):
    """TEMPORARY shim."""

    trace_id: str | None = None


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
            _METHOD_INSERT, self._insert_prefix + data_json + b"}", "series", sent_keys
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
            _METHOD_SAVE_SIGNALS, params, "signalsByInput", signals.keys
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
            ClarifyRequestError: Clarify answered in an unexpected way.

        """
        try:
            await self.save_signals({}, create_only=True)
        except ClarifyRequestError as err:
            # Clarify checks the caller and the integration before the params, so
            # an empty request refused as invalid still proves both are accepted.
            if err.code != CODE_INVALID_PARAMS:
                raise

    async def _call(
        self,
        method: str,
        params_json: bytes,
        container: str,
        sent_keys: Callable[[], Collection[str]],
    ) -> object:
        """Send one JSON-RPC request and return its result.

        `container` is the params field keyed by input key and `sent_keys` lists
        those keys; they let an error name the keys it blames.
        """
        body = b'{"jsonrpc":"2.0","id":%d,"method":"%b","params":%b}' % (
            next(self._request_ids),
            method.encode(),
            params_json,
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

        payload = _json_object(response.body)
        if response.status != 200:
            raise _http_error(method, response, payload, container, sent_keys)
        if payload is None:
            raise ClarifyConnectionError(
                f"Clarify sent an unreadable reply to {method}", status=200
            )
        if (error := payload.get("error")) is not None:
            raise _rpc_error(method, response, error, container, sent_keys)
        return payload.get("result")

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
            raise ClarifyConnectionError(
                f"Cannot reach Clarify: {err or type(err).__name__}"
            ) from err
        return _Response(response.status, response.headers, body)

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
            raise _token_error(response, payload)
        value = payload.get("access_token") if payload is not None else None
        if payload is None or not isinstance(value, str) or not value:
            raise ClarifyConnectionError(
                "Clarify sent an unreadable token response", status=200
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


def _token_error(response: _Response, payload: dict[str, Any] | None) -> ClarifyError:
    oauth_error = payload.get("error") if payload is not None else None
    # Only a well-formed OAuth error code is quoted; error_description is
    # free text and stays in the debug log.
    if not isinstance(oauth_error, str) or not _OAUTH_ERROR_PATTERN.fullmatch(
        oauth_error
    ):
        oauth_error = None
    _log_failure(
        "token request",
        response,
        oauth_error,
        payload.get("error_description") if payload is not None else None,
    )
    status = response.status
    if status in (401, 403) or (status == 400 and oauth_error in _OAUTH_AUTH_ERRORS):
        return ClarifyAuthError(
            f"Clarify rejected the client credentials ({oauth_error or status})",
            status=status,
        )
    if status == 400:
        return ClarifyRequestError(
            f"Clarify refused the token request ({oauth_error or status})",
            status=status,
            data=payload,
        )
    return _status_error("token request", response)


def _http_error(
    method: str,
    response: _Response,
    payload: dict[str, Any] | None,
    container: str,
    sent_keys: Callable[[], Collection[str]],
) -> ClarifyError:
    error = payload.get("error") if payload is not None else None
    status = response.status
    # A request-level rejection may still carry a JSON-RPC error that says
    # exactly what is wrong; it is more precise than the status.
    if status in (400, 413, 422) and error is not None:
        return _rpc_error(method, response, error, container, sent_keys)
    _log_failure(method, response, None, None)
    if status == 401:
        return ClarifyAuthError("Clarify rejected the credentials", status=status)
    if status == 403:
        return ClarifyForbiddenError(
            "Clarify refused access to the integration", status=status
        )
    if status == 413:
        return ClarifyPayloadTooLargeError(
            f"Clarify refused {method} with HTTP {status}", status=status
        )
    if status in (400, 422):
        return ClarifyUnexpectedError(
            f"Clarify refused {method} with HTTP {status}", status=status
        )
    return _status_error(method, response)


def _rpc_error(
    method: str,
    response: _Response,
    error: object,
    container: str,
    sent_keys: Callable[[], Collection[str]],
) -> ClarifyError:
    code: int | None = None
    message = ""
    data: object = None
    if isinstance(error, Mapping):
        raw_code = error.get("code")
        if isinstance(raw_code, int) and not isinstance(raw_code, bool):
            code = raw_code
        message = str(error.get("message") or "")
        data = error.get("data")
    else:
        message = str(error)
    trace = data.get("trace") if isinstance(data, Mapping) else None
    _log_failure(method, response, code, trace)

    description = f"{method} failed"
    if code is not None:
        description += f" with code {code}"
    if message:
        description += f": {message}"
    status = response.status
    if code in RETRYABLE_CODES:
        return ClarifyRetryableError(
            description,
            retry_after=_parse_retry_after(response.headers.get(hdrs.RETRY_AFTER)),
            status=status,
            code=code,
        )
    if code == CODE_FORBIDDEN:
        return ClarifyForbiddenError(description, status=status, code=code)
    cls = (
        ClarifyInvalidDataError
        if code == CODE_INVALID_PARAMS
        else ClarifyUnexpectedError
    )
    return cls(
        description,
        status=status,
        code=code,
        data=data,
        invalid_keys=_invalid_keys(data, container, sent_keys),
    )


def _basic_authorization(credentials: ClarifyCredentials) -> str:
    # Built by hand: aiohttp's BasicAuth is deprecated in the aiohttp that newer
    # Home Assistant ships, and its replacement is missing from the older one.
    pair = f"{credentials.integration_id}:{credentials.secret}".encode()
    return f"Basic {base64.b64encode(pair).decode('ascii')}"


def _status_error(context: str, response: _Response) -> ClarifyRetryableError:
    """Map a status no more specific rule claimed; all are worth retrying."""
    status = response.status
    retry_after = _parse_retry_after(response.headers.get(hdrs.RETRY_AFTER))
    if status in (408, 429):
        return ClarifyRateLimitedError(
            f"Clarify throttled the {context} (HTTP {status})",
            retry_after=retry_after,
            status=status,
        )
    # 5xx, and anything a Clarify endpoint never sends (redirects, 404 from a
    # proxy or wrong path): the data is kept until the endpoint behaves again.
    return ClarifyConnectionError(
        f"Clarify answered the {context} with HTTP {status}",
        retry_after=retry_after,
        status=status,
    )


def _log_failure(
    context: str, response: _Response, code: object, detail: object
) -> None:
    # The trace ID and traceparent let Clarify's support find the request.
    _LOGGER.debug(
        "Clarify %s failed: HTTP %s, code %s, detail %s, traceparent %s",
        context,
        response.status,
        code,
        detail,
        response.headers.get("traceparent"),
    )


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
