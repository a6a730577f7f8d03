"""Clarify's validation rules, tested without HTTP."""

from datetime import UTC, datetime
import json
from typing import Any

import pytest

from tools.clarify_emulator.rules import (
    InvalidParamsError,
    check_number,
    parse_json,
    parse_time,
    validate_insert,
    validate_save_signals,
)

INTEGRATION = "0123456789abcdefghij"


def insert_params(series: Any, times: Any = None) -> dict[str, Any]:
    return {
        "integration": INTEGRATION,
        "data": {
            "times": ["2024-05-01T12:00:00Z"] if times is None else times,
            "series": series,
        },
    }


def insert_errors(params: Any, *, strict_times: bool = True) -> list[tuple[Any, str]]:
    with pytest.raises(InvalidParamsError) as caught:
        validate_insert(params, strict_times=strict_times)
    return [(err.path, err.message) for err in caught.value.errors]


def save_errors(save: Any, **params: Any) -> list[tuple[Any, str]]:
    with pytest.raises(InvalidParamsError) as caught:
        validate_save_signals(
            {"integration": INTEGRATION, "signalsByInput": {"key": save}} | params,
            api_version="1.1",
        )
    return [(err.path, err.message) for err in caught.value.errors]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-03-11T21:00:00Z", datetime(2021, 3, 11, 21, tzinfo=UTC)),
        ("2021-03-11t21:00:00z", datetime(2021, 3, 11, 21, tzinfo=UTC)),
        ("2021-03-11T22:30:00+01:30", datetime(2021, 3, 11, 21, tzinfo=UTC)),
        ("2021-03-11T19:00:00-02:00", datetime(2021, 3, 11, 21, tzinfo=UTC)),
        ("2021-03-11T21:00:00.5Z", datetime(2021, 3, 11, 21, 0, 0, 500000, tzinfo=UTC)),
        (
            "2021-03-11T21:00:00.123456Z",
            datetime(2021, 3, 11, 21, 0, 0, 123456, tzinfo=UTC),
        ),
        # Nanoseconds are accepted and truncated (not rounded) to microseconds.
        (
            "2021-03-11T21:00:00.123456999Z",
            datetime(2021, 3, 11, 21, 0, 0, 123456, tzinfo=UTC),
        ),
        ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),
    ],
)
def test_parse_time_accepts_rfc3339(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2021-03-11T21:00:00",  # no zone
        "2021-03-11 21:00:00Z",  # space separator
        "2021-03-11T21:00Z",  # no seconds
        "2021-03-11T21:00:00.Z",  # empty fraction
        "2021-03-11T21:00:00.1234567890Z",  # 10 fractional digits
        "2021-02-29T00:00:00Z",  # not a leap year
        "2021-03-11T24:00:00Z",
        "2021-03-11T21:00:60Z",  # leap seconds cannot be stored
        "2021-03-11T21:00:00+24:00",
        "2021-03-11T21:00:00+01:60",
        "2021-03-11T21:00:00+0100",
        "0000-01-01T00:00:00Z",
        "2021-03-11T21:00:00Z\n",
        "\u0662021-03-11T21:00:00Z",  # an Arabic-Indic digit
        "",
    ],
)
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"RFC 3339|offset|out of range"):
        parse_time(text)


@pytest.mark.parametrize(
    ("value", "expected"), [(1, 1.0), (-2.5, -2.5), (0, 0.0), (None, None)]
)
def test_numbers_and_null_are_values(value: object, expected: float | None) -> None:
    assert check_number(value) == (expected, None)


@pytest.mark.parametrize("value", [True, False, "1", [1], {"v": 1}, 10**400, 1e400])
def test_other_json_values_are_not(value: object) -> None:
    number, problem = check_number(value)
    assert number is None
    assert problem is not None


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_parse_json_rejects_non_finite_tokens(token: str) -> None:
    with pytest.raises(ValueError, match="is not valid JSON"):
        parse_json(f"[1, {token}]".encode())


@pytest.mark.parametrize("body", [b"{", b"\xef\xbb\xbf{}", b"[1,]"])
def test_parse_json_rejects_invalid_json(body: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        parse_json(body)


def test_parse_json_rejects_other_encodings() -> None:
    with pytest.raises(UnicodeDecodeError):
        parse_json('["\u00e6"]'.encode("latin-1"))


def test_parse_json_accepts_json() -> None:
    assert parse_json(b'{"a": [1, 2.5, null, "\xc3\xa6"]}') == {
        "a": [1, 2.5, None, "æ"]
    }


@pytest.mark.parametrize(
    "key",
    [
        "sensor.living_room_temperature",
        "a-b_c:d.e#f+g/h",
        "A9",
        "x" * 128,
    ],
)
def test_valid_input_keys(key: str) -> None:
    frame = validate_insert(insert_params({key: [1]}), strict_times=True).frame
    assert frame.series == {key: [1.0]}


@pytest.mark.parametrize(
    "key", ["", "x" * 129, "a b", "æ", "a\n", "a*", "a,b", "a$", "ä"]
)
def test_invalid_input_keys(key: str) -> None:
    assert insert_errors(insert_params({key: [1]}))[0][0] == ("data", "series", key)


def test_insert_reports_every_bad_series_by_path() -> None:
    errors = insert_errors(
        insert_params(
            {"good": [1, None], "short": [1], "flag": [True, 1], "text": ["1", 2]},
            times=["2024-05-01T12:00:00Z", "2024-05-01T12:01:00Z"],
        )
    )
    assert [path for path, _ in errors] == [
        ("data", "series", "short"),
        ("data", "series", "flag"),
        ("data", "series", "text"),
    ]
    assert "1 values but times has 2" in errors[0][1]


def test_insert_error_data_has_params_and_path_errors() -> None:
    with pytest.raises(InvalidParamsError) as caught:
        validate_insert(insert_params({"a.b": []}), strict_times=True)
    data = caught.value.to_data()
    assert data["pathErrors"] == [
        {
            "path": ["data", "series", "a.b"],
            "error": "has 0 values but times has 1 entries",
        }
    ]
    assert data["params"] == {
        "data.series.a.b": ["has 0 values but times has 1 entries"]
    }


def test_insert_checks_times() -> None:
    errors = insert_errors(
        insert_params({}, times=["2024-05-01T12:00:00Z", 5, "yesterday"])
    )
    assert [path for path, _ in errors] == [("data", "times", 1), ("data", "times", 2)]


@pytest.mark.parametrize(
    "times",
    [
        ["2024-05-01T12:01:00Z", "2024-05-01T12:00:00Z"],
        ["2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z"],
        # Equal once converted to UTC and truncated to microseconds.
        ["2024-05-01T12:00:00.0000001Z", "2024-05-01T14:00:00.0000002+02:00"],
    ],
)
def test_strict_times_must_be_sorted_and_unique(times: list[str]) -> None:
    series = {"a": [1, 2]}
    assert insert_errors(insert_params(series, times)) == [
        (("data", "times", 1), "times must be sorted ascending and unique")
    ]
    lenient = validate_insert(insert_params(series, times), strict_times=False)
    assert len(lenient.frame.times) == 2


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ([], ()),
        ({"data": {"times": [], "series": {}}}, ("integration",)),
        ({"integration": INTEGRATION}, ("data",)),
        (
            {"integration": "x" * 20, "data": {"times": [], "series": {}}},
            ("integration",),
        ),
        (
            {"integration": INTEGRATION.upper(), "data": {"times": [], "series": {}}},
            ("integration",),
        ),
        (
            {
                "integration": INTEGRATION,
                "data": {"times": [], "series": {}},
                "extra": 1,
            },
            ("extra",),
        ),
        ({"integration": INTEGRATION, "data": {"series": {}}}, ("data", "times")),
        (
            {"integration": INTEGRATION, "data": {"times": {}, "series": {}}},
            ("data", "times"),
        ),
        (
            {"integration": INTEGRATION, "data": {"times": [], "series": []}},
            ("data", "series"),
        ),
        (
            {"integration": INTEGRATION, "data": {"times": [], "series": {"a": 1}}},
            ("data", "series", "a"),
        ),
        ({"integration": INTEGRATION, "data": []}, ("data",)),
    ],
)
def test_insert_params_shape(params: Any, path: tuple[Any, ...]) -> None:
    assert path in [found for found, _ in insert_errors(params)]


def test_empty_frame_is_valid() -> None:
    insert = validate_insert(
        {"integration": INTEGRATION, "data": {"times": [], "series": {}}},
        strict_times=True,
    )
    assert insert.integration == INTEGRATION
    assert insert.frame.times == []


FULL_SAVE: dict[str, Any] = {
    "name": "Living room",
    "description": "Temperature",
    "labels": {"area": ["Living room"], "home-assistant/domain": ["sensor"]},
    "engUnit": "°C",
    "sourceType": "measurement",
    "valueType": "numeric",
    "enumValues": {},
    "sampleInterval": "PT5M",
    "gapDetection": None,
    "annotations": {"ha/entity_id": "sensor.living_room"},
}


def test_full_signal_save_is_valid() -> None:
    save = validate_save_signals(
        {"integration": INTEGRATION, "signalsByInput": {"key": FULL_SAVE}},
        api_version="1.1",
    )
    assert save.signals == {"key": FULL_SAVE}
    assert save.create_only is False


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "x"),
        ("name", "x" * 128),
        ("name", "ø" * 128),
        ("description", ""),
        ("description", "d" * 1000),
        ("labels", {"A-z_0/9": []}),
        ("labels", {"k" * 128: ["a", "b"]}),
        ("engUnit", ""),
        ("sourceType", "aggregation"),
        ("sourceType", "prediction"),
        ("valueType", "enum"),
        ("enumValues", {"0": "off", "1": "on", "9999": "x" * 128}),
        ("sampleInterval", None),
        ("sampleInterval", "PT0.5S"),
        ("sampleInterval", "P1W2DT3H4M5S"),
        ("gapDetection", "P1D"),
        ("gapDetection", "pt1h"),
        ("annotations", {}),
    ],
)
def test_signal_field_accepts(field: str, value: Any) -> None:
    save = validate_save_signals(
        {"integration": INTEGRATION, "signalsByInput": {"key": {field: value}}},
        api_version="1.1",
    )
    assert save.signals["key"] == {field: value}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "x" * 129),
        ("name", None),
        ("name", 5),
        ("description", "d" * 1001),
        ("labels", {"a.b": []}),
        ("labels", {"a:b": []}),
        ("labels", {"": []}),
        ("labels", {"k" * 129: []}),
        ("labels", {"key": "value"}),
        ("labels", {"key": [1]}),
        ("labels", []),
        ("engUnit", None),
        ("sourceType", "measurements"),
        ("sourceType", None),
        ("valueType", "string"),
        ("enumValues", {"10000": "x"}),
        ("enumValues", {"01": "x"}),
        ("enumValues", {"-1": "x"}),
        ("enumValues", {"one": "x"}),
        ("enumValues", {"1": ""}),
        ("enumValues", {"1": "x" * 129}),
        ("enumValues", {"1": 1}),
        ("enumValues", []),
        ("sampleInterval", "5m"),
        ("sampleInterval", "P1M"),
        ("sampleInterval", "P"),
        ("sampleInterval", "PT"),
        ("sampleInterval", "-PT5M"),
        ("sampleInterval", 300),
        ("gapDetection", "P1Y"),
        ("annotations", {"key": 1}),
        ("annotations", {"bad key": "v"}),
        ("annotations", None),
        ("unknownField", "x"),
    ],
)
def test_signal_field_rejects(field: str, value: Any) -> None:
    assert save_errors({field: value})[0][0] == ("signalsByInput", "key", field)


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"createOnly": "yes"}, ("createOnly",)),
        ({"signalsByInput": []}, ("signalsByInput",)),
        ({"signalsByInput": {"bad key": {}}}, ("signalsByInput", "bad key")),
        ({"signalsByInput": {"key": []}}, ("signalsByInput", "key")),
        ({"inputs": {}}, ("inputs",)),
    ],
)
def test_save_signals_params_shape(params: Any, path: tuple[Any, ...]) -> None:
    with pytest.raises(InvalidParamsError) as caught:
        validate_save_signals(
            {"integration": INTEGRATION, "signalsByInput": {}} | params,
            api_version="1.1",
        )
    assert path in [err.path for err in caught.value.errors]


def test_api_1_0_names_the_map_inputs() -> None:
    save = validate_save_signals(
        {"integration": INTEGRATION, "inputs": {"key": {"name": "n"}}},
        api_version="1.0",
    )
    assert save.signals == {"key": {"name": "n"}}
    with pytest.raises(InvalidParamsError):
        validate_save_signals(
            {"integration": INTEGRATION, "signalsByInput": {}}, api_version="1.0"
        )
