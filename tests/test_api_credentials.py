"""Tests for the parts of the Clarify client that need no server.

Credentials and API URL validation, frame encoding, Retry-After parsing and the
lenient reading of error data.
"""

from __future__ import annotations

import array
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
import json
from types import MappingProxyType
from typing import Any

import pytest

from custom_components.clarify.api import (
    DEFAULT_API_URL,
    ClarifyCredentials,
    InvalidApiUrlError,
    InvalidCredentialsError,
    _invalid_keys,
    _parse_retry_after,
    encode_frame,
    normalize_api_url,
)

INTEGRATION_ID = "c5i2e4u2jo3gn6a0tmag"
OTHER_ID = "c5i2e4u2jo3gn6a0tmb0"
SECRET = "s3cr3t-Pa55w0rd-that-must-never-leak"


def credentials_file(**overrides: Any) -> dict[str, Any]:
    """A client-credentials file; `None` values remove the key."""
    document: dict[str, Any] = {
        "apiUrl": "https://api.clarify.io/v1/",
        "integration": INTEGRATION_ID,
        "credentials": {
            "type": "client-credentials",
            "clientId": "my-client",
            "clientSecret": SECRET,
        },
        "name": "Home Assistant",
        "createdAt": "2025-01-01T00:00:00Z",
    }
    for key, value in overrides.items():
        target = document
        *parents, leaf = key.split("__")
        for parent in parents:
            target = target[parent]
        if value is None:
            del target[leaf]
        else:
            target[leaf] = value
    return document


# Credentials


def test_basic_credentials() -> None:
    credentials = ClarifyCredentials.from_basic(
        f" {INTEGRATION_ID} ", SECRET, "https://API.clarify.io/v1"
    )

    assert credentials.kind == "basic"
    assert credentials.integration_id == INTEGRATION_ID
    assert credentials.client_id is None
    assert credentials.secret == SECRET
    assert credentials.api_url == "https://api.clarify.io/v1/"


def test_client_credentials() -> None:
    credentials = ClarifyCredentials.from_client_credentials(
        INTEGRATION_ID, " my-client ", SECRET
    )

    assert credentials.kind == "client_credentials"
    assert credentials.client_id == "my-client"
    assert credentials.secret == SECRET
    assert credentials.api_url == DEFAULT_API_URL


def test_secret_is_kept_verbatim() -> None:
    """Whitespace around a secret may be part of it: only IDs are trimmed."""
    assert ClarifyCredentials.from_basic(INTEGRATION_ID, " pw ").secret == " pw "


@pytest.mark.parametrize(
    ("arguments", "field", "reason"),
    [
        (("", SECRET), "integration_id", "missing"),
        (("   ", SECRET), "integration_id", "missing"),
        (("C5I2E4U2JO3GN6A0TMAG", SECRET), "integration_id", "invalid_format"),
        (("c5i2e4u2jo3gn6a0tmaz", SECRET), "integration_id", "invalid_format"),
        ((INTEGRATION_ID + "a", SECRET), "integration_id", "invalid_format"),
        (("c5i2e4u2jo-gn6a0tmag", SECRET), "integration_id", "invalid_format"),
        ((INTEGRATION_ID, ""), "password", "missing"),
        ((INTEGRATION_ID, "  "), "password", "missing"),
        ((INTEGRATION_ID, SECRET, "http://example.com/v1/"), "api_url", "insecure_url"),
    ],
)
def test_invalid_basic_credentials(
    arguments: tuple[str, ...], field: str, reason: str
) -> None:
    with pytest.raises(InvalidCredentialsError) as err:
        ClarifyCredentials.from_basic(*arguments)

    assert (err.value.field, err.value.reason) == (field, reason)


@pytest.mark.parametrize(
    ("arguments", "field", "reason"),
    [
        (("bad", "client", SECRET), "integration_id", "invalid_format"),
        ((INTEGRATION_ID, "", SECRET), "client_id", "missing"),
        ((INTEGRATION_ID, "client", ""), "client_secret", "missing"),
        ((INTEGRATION_ID, "client", SECRET, "ftp://x/"), "api_url", "invalid_url"),
    ],
)
def test_invalid_client_credentials(
    arguments: tuple[str, ...], field: str, reason: str
) -> None:
    with pytest.raises(InvalidCredentialsError) as err:
        ClarifyCredentials.from_client_credentials(*arguments)

    assert (err.value.field, err.value.reason) == (field, reason)


@pytest.mark.parametrize(
    "document",
    [
        credentials_file(),
        json.dumps(credentials_file()),
        json.dumps(credentials_file()).encode(),
    ],
    ids=["mapping", "text", "bytes"],
)
def test_client_credentials_file(document: str | bytes | dict[str, Any]) -> None:
    credentials = ClarifyCredentials.from_credentials_file(document)

    assert credentials == ClarifyCredentials.from_client_credentials(
        INTEGRATION_ID, "my-client", SECRET
    )


def test_basic_auth_credentials_file() -> None:
    document = credentials_file(
        credentials__type="basic-auth", credentials__clientId=INTEGRATION_ID
    )

    credentials = ClarifyCredentials.from_credentials_file(document)

    assert credentials == ClarifyCredentials.from_basic(INTEGRATION_ID, SECRET)


def test_credentials_file_api_url() -> None:
    """The file's apiUrl is optional, and an explicit URL overrides it."""
    without_url = credentials_file(apiUrl=None)
    assert (
        ClarifyCredentials.from_credentials_file(without_url).api_url == DEFAULT_API_URL
    )

    staging = credentials_file(apiUrl="https://api.clarify.cloud/v1")
    assert (
        ClarifyCredentials.from_credentials_file(staging).api_url
        == "https://api.clarify.cloud/v1/"
    )
    assert (
        ClarifyCredentials.from_credentials_file(
            staging, api_url="http://127.0.0.1:8765/v1"
        ).api_url
        == "http://127.0.0.1:8765/v1/"
    )


@pytest.mark.parametrize(
    ("document", "field", "reason"),
    [
        ("", "", "invalid_json"),
        ("{not json", "", "invalid_json"),
        (b"\xff\xfe", "", "invalid_json"),
        ("[1, 2]", "", "not_an_object"),
        ('"text"', "", "not_an_object"),
        (credentials_file(integration=None), "integration", "missing"),
        (credentials_file(integration=42), "integration", "missing"),
        (credentials_file(integration="nope"), "integration", "invalid_format"),
        (credentials_file(credentials=None), "credentials", "missing"),
        (credentials_file(credentials="x"), "credentials", "not_an_object"),
        (credentials_file(credentials__type=None), "credentials.type", "missing"),
        (
            credentials_file(credentials__type="api-key"),
            "credentials.type",
            "unknown_type",
        ),
        (credentials_file(credentials__type=1), "credentials.type", "unknown_type"),
        (
            credentials_file(credentials__clientId=None),
            "credentials.clientId",
            "missing",
        ),
        (
            credentials_file(credentials__clientSecret=None),
            "credentials.clientSecret",
            "missing",
        ),
        (
            credentials_file(credentials__clientSecret=""),
            "credentials.clientSecret",
            "missing",
        ),
        (
            credentials_file(credentials__clientSecret=123),
            "credentials.clientSecret",
            "missing",
        ),
        (
            credentials_file(
                credentials__type="basic-auth", credentials__clientId=OTHER_ID
            ),
            "credentials.clientId",
            "id_mismatch",
        ),
        (
            credentials_file(apiUrl="http://api.clarify.io/v1/"),
            "apiUrl",
            "insecure_url",
        ),
        (credentials_file(apiUrl=7), "apiUrl", "missing"),
    ],
)
def test_invalid_credentials_file(
    document: str | bytes | dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(InvalidCredentialsError) as err:
        ClarifyCredentials.from_credentials_file(document)

    assert (err.value.field, err.value.reason) == (field, reason)
    assert SECRET not in str(err.value)


def test_credentials_file_bad_override_names_the_argument() -> None:
    with pytest.raises(InvalidApiUrlError) as err:
        ClarifyCredentials.from_credentials_file(
            credentials_file(), api_url="http://10.0.0.2/v1/"
        )

    assert (err.value.field, err.value.reason) == ("api_url", "insecure_url")


def test_undecodable_file_does_not_leak_its_content() -> None:
    """The decoder's error quotes the document, so it is not chained."""
    text = json.dumps(credentials_file())[:-1]

    with pytest.raises(InvalidCredentialsError) as err:
        ClarifyCredentials.from_credentials_file(text)

    assert err.value.__cause__ is None
    assert err.value.__suppress_context__
    assert SECRET not in str(err.value)
    assert SECRET not in repr(err.value)


def test_secret_stays_out_of_repr() -> None:
    for credentials in (
        ClarifyCredentials.from_basic(INTEGRATION_ID, SECRET),
        ClarifyCredentials.from_credentials_file(credentials_file()),
    ):
        assert SECRET not in repr(credentials)
        assert SECRET not in str(credentials)
        assert INTEGRATION_ID in repr(credentials)


def test_invalid_credentials_error_is_a_value_error() -> None:
    """Callers that only know ValueError still catch local validation errors."""
    with pytest.raises(ValueError, match=r"integration_id \(invalid_format\)"):
        ClarifyCredentials.from_basic("x", SECRET)


# API URL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.clarify.io/v1/", "https://api.clarify.io/v1/"),
        ("https://api.clarify.io/v1", "https://api.clarify.io/v1/"),
        ("https://api.clarify.io/v1///", "https://api.clarify.io/v1/"),
        ("  https://API.Clarify.io/v1  ", "https://api.clarify.io/v1/"),
        ("https://api.clarify.io", "https://api.clarify.io/"),
        ("https://api.clarify.io:8443/v1", "https://api.clarify.io:8443/v1/"),
        ("http://127.0.0.1:8765/v1", "http://127.0.0.1:8765/v1/"),
        ("http://127.1.2.3/v1/", "http://127.1.2.3/v1/"),
        ("http://localhost:8765/v1", "http://localhost:8765/v1/"),
        ("http://LOCALHOST/v1", "http://localhost/v1/"),
        ("http://[::1]:8765/v1", "http://[::1]:8765/v1/"),
    ],
)
def test_normalize_api_url(url: str, expected: str) -> None:
    assert normalize_api_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        (" ", "missing"),
        ("api.clarify.io/v1/", "invalid_url"),
        ("ftp://api.clarify.io/v1/", "invalid_url"),
        ("https:///v1/", "invalid_url"),
        ("https://user:pw@api.clarify.io/v1/", "invalid_url"),
        ("https://api.clarify.io/v1/?debug=1", "invalid_url"),
        ("https://api.clarify.io/v1/#top", "invalid_url"),
        ("https://api.clarify.io:99999/v1/", "invalid_url"),
        ("https://api.clarify.io:0/v1/", "invalid_url"),
        ("https://api.clarify.io:port/v1/", "invalid_url"),
        ("https://[::1/v1/", "invalid_url"),
        ("http://api.clarify.io/v1/", "insecure_url"),
        ("http://192.168.1.10:8765/v1/", "insecure_url"),
        ("http://128.0.0.1/v1/", "insecure_url"),
        ("http://localhost.example.com/v1/", "insecure_url"),
        ("http://[::2]/v1/", "insecure_url"),
    ],
)
def test_invalid_api_url(url: object, reason: str) -> None:
    with pytest.raises(InvalidApiUrlError) as err:
        normalize_api_url(url, field="apiUrl")

    assert (err.value.field, err.value.reason) == ("apiUrl", reason)


# Frame encoding


def test_encode_frame() -> None:
    times = ["2025-01-01T00:00:00Z", "2025-01-01T00:01:00.123456Z"]
    series: dict[str, list[float | None]] = {
        "sensor.a": [1.5, None],
        "sensor.b": [2, 3.25],
    }

    assert json.loads(encode_frame(times, series)) == {
        "times": times,
        "series": series,
    }


def test_encode_frame_accepts_any_sequence_and_mapping() -> None:
    times = ("2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z")
    columns: dict[str, Sequence[float | None]] = {
        "a": array.array("d", [1.0, 2.0]),
        "b": deque([None, 4.0]),
        "c": (5, 6),
    }
    series = MappingProxyType(columns)

    assert json.loads(encode_frame(times, series)) == {
        "times": list(times),
        "series": {"a": [1.0, 2.0], "b": [None, 4.0], "c": [5, 6]},
    }


def test_encode_frame_sends_non_finite_values_as_no_value() -> None:
    encoded = encode_frame(["2025-01-01T00:00:00Z"] * 3, {"a": [0.0, 0.0, 0.0]})
    assert json.loads(encoded)["series"]["a"] == [0.0, 0.0, 0.0]

    encoded = encode_frame(
        ["t1", "t2", "t3"], {"a": [float("nan"), float("inf"), -float("inf")]}
    )
    assert json.loads(encoded)["series"]["a"] == [None, None, None]


def test_encode_frame_refuses_ragged_series() -> None:
    with pytest.raises(ValueError, match=r"\['b', 'c'\] do not have 2 values"):
        encode_frame(["t1", "t2"], {"a": [1, 2], "b": [1], "c": [1, 2, 3]})


def test_encode_frame_refuses_unknown_types() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        encode_frame(["t1"], {"a": [object()]})  # type: ignore[list-item]


# Retry-After


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("120", 120.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 -0000", 0.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert _parse_retry_after(header) == expected


@pytest.mark.parametrize("usegmt", [True, False])
def test_parse_retry_after_http_date(usegmt: bool) -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    header = format_datetime(when, usegmt=usegmt)
    if not usegmt:
        # "-0000" marks a date with an unknown zone; HTTP dates are GMT anyway.
        header = header.replace("+0000", "-0000")

    delay = _parse_retry_after(header)

    assert delay is not None
    assert 85 <= delay <= 90


# Lenient reading of error data


def _keys(*keys: str) -> Any:
    return lambda: keys


@pytest.mark.parametrize(
    "data",
    [
        None,
        "Invalid params",
        ["data", "series", "a"],
        42,
        {},
        {"trace": "abc"},
        {"params": "data.series.a"},
        {"params": ["data.series.a"]},
        {"pathErrors": {"path": ["data", "series", "a"]}},
        {"pathErrors": ["data.series.a", None, 3]},
        {"pathErrors": [{"error": "no path"}, {"path": None}, {"path": 5}]},
        {"pathErrors": [{"path": ["data", "series"]}]},
        {"pathErrors": [{"path": ["data", "times", 0]}]},
        {"params": {"integration": ["invalid"], "data.times.0": ["bad"]}},
        {"params": {"data.series": ["must be an object"]}},
        {"params": {"data.series.unknown": ["bad"]}},
        {"params": {"data.series[unknown]": ["bad"]}},
        {"pathErrors": [{"path": ["data", "series", "unknown"]}]},
    ],
)
def test_invalid_keys_ignores_what_it_cannot_attribute(data: object) -> None:
    assert _invalid_keys(data, "series", _keys("a", "sensor.a")) == frozenset()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"params": {"data.series.a": ["bad"]}}, {"a"}),
        ({"params": {"series.a": ["bad"]}}, {"a"}),
        ({"params": {"data.series.sensor.a": ["bad"]}}, {"sensor.a"}),
        ({"params": {"data.series.sensor.a.3": ["bad"]}}, {"sensor.a"}),
        ({"params": {"data.series.sensor.a[3]": ["bad"]}}, {"sensor.a"}),
        ({"params": {"data.series[sensor.a]": ["bad"]}}, {"sensor.a"}),
        ({"params": {"data.series['sensor.a'][3]": ["bad"]}}, {"sensor.a"}),
        ({"params": {'data.series["a"]': ["bad"]}}, {"a"}),
        ({"pathErrors": [{"path": ["data", "series", "sensor.a"]}]}, {"sensor.a"}),
        ({"pathErrors": [{"path": ["data", "series", "a", 2]}]}, {"a"}),
        ({"pathErrors": [{"path": "data.series.sensor.a"}]}, {"sensor.a"}),
        (
            {
                "trace": "0af7651916cd43dd8448eb211c80319c",
                "params": {"data.series.a": ["x"], "data.times.1": ["y"]},
                "pathErrors": [
                    {"path": ["data", "series", "sensor.a"], "error": "x"},
                    {"path": ["data", "times", 1], "error": "y"},
                ],
            },
            {"a", "sensor.a"},
        ),
    ],
)
def test_invalid_keys(data: object, expected: set[str]) -> None:
    assert _invalid_keys(data, "series", _keys("a", "sensor.a", "sensor")) == expected


def test_invalid_keys_of_save_signals() -> None:
    """Field paths go past the key, which may itself contain dots."""
    data = {
        "params": {"signalsByInput.sensor.a.name": ["too long"]},
        "pathErrors": [{"path": ["signalsByInput", "sensor.b", "labels"]}],
    }

    assert _invalid_keys(
        data, "signalsByInput", _keys("sensor", "sensor.a", "sensor.b")
    ) == {"sensor.a", "sensor.b"}


def test_invalid_keys_reads_sent_keys_only_when_needed() -> None:
    def fail() -> tuple[str, ...]:
        raise AssertionError("sent keys read without a location to match")

    assert _invalid_keys({"trace": "abc"}, "series", fail) == frozenset()
