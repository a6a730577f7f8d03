"""Clarify's validation rules for the parameters of the integration methods.

Everything here is pure: it turns decoded JSON into typed requests or raises
`InvalidParamsError` listing every problem found, so a client gets to see all bad
series of a request at once instead of fixing them one round trip at a time.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
import json
import math
import re
from typing import Any, Final

# Clarify writes these as ^...$ patterns; fullmatch() is used instead because
# Python's `$` also matches before a trailing newline.
ID_PATTERN: Final = re.compile(r"[a-v0-9]{20}")
INPUT_KEY_PATTERN: Final = re.compile(r"[a-zA-Z0-9_:.#+/-]{1,128}")
LABEL_KEY_PATTERN: Final = re.compile(r"[A-Za-z0-9_/-]{1,128}")
ENUM_KEY_PATTERN: Final = re.compile(r"0|[1-9][0-9]{0,3}")
# Clarify's fixed durations (clarify-go `parseWeekToFraction`): weeks down to
# fractional seconds, no years or months, matched case-insensitively. Unlike
# that parser, a bare "P" or "PT" is refused: it is not ISO 8601.
DURATION_PATTERN: Final = re.compile(
    r"P(?=[0-9T])(?:[0-9]+W)?(?:[0-9]+D)?"
    r"(?:T(?=[0-9])(?:[0-9]+H)?(?:[0-9]+M)?(?:[0-9]+(?:\.[0-9]+)?S)?)?",
    re.IGNORECASE,
)
# RFC 3339 date-time. `[0-9]` rather than `\d`, which would accept any Unicode
# digit. Up to 9 fractional digits are accepted like a real server would
# (nanosecond clocks are common); they are truncated to microseconds.
_TIME_PATTERN: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)

VALUE_TYPES: Final = frozenset({"numeric", "enum"})
SOURCE_TYPES: Final = frozenset({"measurement", "aggregation", "prediction"})
ENUM_MAX: Final = 9999

type JsonPath = tuple[str | int, ...]
# Checks one field value; returns a problem description, or None when valid.
type ValueCheck = Callable[[object], str | None]


@dataclass(frozen=True, slots=True)
class PathError:
    """One problem in the params, located by its path from the params root."""

    path: JsonPath
    message: str


class InvalidParamsError(Exception):
    """The params broke one or more rules (JSON-RPC -32602)."""

    def __init__(self, errors: list[PathError]) -> None:
        """Keep every error; the message summarises the first few."""
        super().__init__("; ".join(_describe(err) for err in errors[:5]))
        self.errors = errors

    def to_data(self) -> dict[str, Any]:
        """Build the error `data`: Clarify's `params` map plus machine-readable paths.

        `params` keys are dotted paths for people; they are ambiguous because input
        keys may contain dots, so `pathErrors` keeps each path as a list.
        """
        params: dict[str, list[str]] = {}
        for err in self.errors:
            params.setdefault(_dotted(err.path), []).append(err.message)
        return {
            "params": params,
            "pathErrors": [
                {"path": list(err.path), "error": err.message} for err in self.errors
            ],
        }


def _dotted(path: JsonPath) -> str:
    return ".".join(str(part) for part in path)


def _describe(err: PathError) -> str:
    return f"{_dotted(err.path)}: {err.message}"


@dataclass(frozen=True, slots=True)
class Frame:
    """A validated data frame; a None value means no value at that time."""

    times: list[datetime]
    series: dict[str, list[float | None]]


@dataclass(frozen=True, slots=True)
class InsertParams:
    """Validated `integration.insert` params."""

    integration: str
    frame: Frame


@dataclass(frozen=True, slots=True)
class SaveSignalsParams:
    """Validated `integration.saveSignals` params; each save holds only given fields."""

    integration: str
    signals: dict[str, dict[str, Any]]
    create_only: bool


def reject_constant(token: str) -> float:
    """Refuse the NaN and Infinity tokens Python's json module would accept."""
    raise ValueError(f"{token} is not valid JSON")


def parse_json(body: bytes) -> object:
    """Decode a request body as strict JSON (UTF-8, no NaN/Infinity tokens).

    Raises:
        ValueError: when the body is not strict JSON.
    """
    return json.loads(body.decode("utf-8"), parse_constant=reject_constant)


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime, truncated to µs.

    Raises:
        ValueError: when `text` is not a valid RFC 3339 date-time.
    """
    match = _TIME_PATTERN.fullmatch(text)
    if match is None:
        raise ValueError("not an RFC 3339 date-time")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    microsecond = int((fraction or "").ljust(6, "0")[:6])
    if zone in ("Z", "z"):
        tzinfo = UTC
    else:
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError("invalid UTC offset")
        offset = timedelta(hours=hours, minutes=minutes)
        tzinfo = timezone(-offset if zone[0] == "-" else offset)
    try:
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            microsecond,
            tzinfo=tzinfo,
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError) as err:
        raise ValueError("date or time out of range") from err


def check_integration_id(value: object) -> str | None:
    """Return `value` when it is a well-formed integration ID, else None."""
    if isinstance(value, str) and ID_PATTERN.fullmatch(value):
        return value
    return None


class _Collector:
    """Accumulates path errors while a validator walks the params."""

    def __init__(self) -> None:
        self.errors: list[PathError] = []

    def add(self, path: JsonPath, message: str) -> None:
        self.errors.append(PathError(path, message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise InvalidParamsError(self.errors)


def _check_object(
    errors: _Collector,
    params: object,
    required: frozenset[str],
    allowed: frozenset[str],
    path: JsonPath = (),
) -> Mapping[str, Any] | None:
    """Check `params` is an object with the required and no unknown fields.

    Unknown fields are refused (a typo such as `engunit` must not pass silently).
    """
    if not isinstance(params, dict):
        errors.add(path, "must be an object")
        return None
    for name in sorted(required - params.keys()):
        errors.add((*path, name), "required")
    for name in sorted(params.keys() - allowed):
        errors.add((*path, name), "unknown field")
    return params


def _check_params_object(
    errors: _Collector,
    params: object,
    required: frozenset[str],
    allowed: frozenset[str],
) -> Mapping[str, Any]:
    """Check the params root; nothing else can be checked when it is no object."""
    top = _check_object(errors, params, required, allowed)
    if top is None:
        raise InvalidParamsError(errors.errors)
    return top


def _check_integration(errors: _Collector, value: object) -> str:
    if value is not None and check_integration_id(value) is None:
        errors.add(
            ("integration",), "must be an integration ID matching ^[a-v0-9]{20}$"
        )
    return value if isinstance(value, str) else ""


def validate_insert(params: object, *, strict_times: bool) -> InsertParams:
    """Validate `integration.insert` params.

    Args:
        params: The decoded `params` member of the request.
        strict_times: Refuse times that are not sorted ascending and unique.

    Raises:
        InvalidParamsError: listing every rule broken.
    """
    errors = _Collector()
    fields = frozenset({"integration", "data"})
    top = _check_params_object(errors, params, fields, fields)
    integration = _check_integration(errors, top.get("integration"))
    data = top.get("data")
    frame = Frame([], {})
    if "data" in top:
        frame_fields = frozenset({"times", "series"})
        checked = _check_object(errors, data, frame_fields, frame_fields, ("data",))
        if checked is not None:
            frame = _check_frame(errors, checked, strict_times=strict_times)
    errors.raise_if_any()
    return InsertParams(integration, frame)


def _check_frame(
    errors: _Collector, data: Mapping[str, Any], *, strict_times: bool
) -> Frame:
    raw_times = data.get("times")
    times: list[datetime] = []
    if "times" in data and not isinstance(raw_times, list):
        errors.add(("data", "times"), "must be an array")
    elif isinstance(raw_times, list):
        times = _check_times(errors, raw_times, strict_times=strict_times)
    raw_series = data.get("series")
    series: dict[str, list[float | None]] = {}
    if "series" in data and not isinstance(raw_series, dict):
        errors.add(("data", "series"), "must be an object")
    elif isinstance(raw_series, dict):
        expected = len(raw_times) if isinstance(raw_times, list) else None
        for key, values in raw_series.items():
            checked = _check_series(errors, key, values, expected)
            if checked is not None:
                series[key] = checked
    return Frame(times, series)


def _check_times(
    errors: _Collector, raw_times: list[Any], *, strict_times: bool
) -> list[datetime]:
    times: list[datetime] = []
    for index, raw in enumerate(raw_times):
        path = ("data", "times", index)
        if not isinstance(raw, str):
            errors.add(path, "must be an RFC 3339 string")
            continue
        try:
            parsed = parse_time(raw)
        except ValueError as err:
            errors.add(path, f"{err}: {raw!r}")
            continue
        if strict_times and times and parsed <= times[-1]:
            errors.add(path, "times must be sorted ascending and unique")
        times.append(parsed)
    return times


def _check_series(
    errors: _Collector, key: str, values: object, expected: int | None
) -> list[float | None] | None:
    path = ("data", "series", key)
    if not INPUT_KEY_PATTERN.fullmatch(key):
        errors.add(path, "input key must match ^[a-zA-Z0-9-_:.#+/]{1,128}$")
        return None
    if not isinstance(values, list):
        errors.add(path, "must be an array")
        return None
    if expected is not None and len(values) != expected:
        errors.add(path, f"has {len(values)} values but times has {expected} entries")
        return None
    checked: list[float | None] = []
    for index, value in enumerate(values):
        number, problem = check_number(value)
        if problem is not None:
            errors.add(path, f"value at index {index} {problem}")
            return None
        checked.append(number)
    return checked


def check_number(value: object) -> tuple[float | None, str | None]:
    """Return (value as float or None for null, problem or None)."""
    if value is None:
        return None, None
    # bool is an int subclass, but JSON true/false are not numbers.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, "must be a number or null"
    try:
        number = float(value)
    except OverflowError:
        return None, "is out of range"
    if not math.isfinite(number):
        return None, "must be finite"
    return number, None


def validate_save_signals(params: object, *, api_version: str) -> SaveSignalsParams:
    """Validate `integration.saveSignals` params.

    Args:
        params: The decoded `params` member of the request.
        api_version: The request's X-API-Version; 1.0 named the map `inputs`.

    Raises:
        InvalidParamsError: listing every rule broken.
    """
    errors = _Collector()
    map_name = "inputs" if api_version == "1.0" else "signalsByInput"
    top = _check_params_object(
        errors,
        params,
        frozenset({"integration", map_name}),
        frozenset({"integration", map_name, "createOnly"}),
    )
    integration = _check_integration(errors, top.get("integration"))
    create_only = top.get("createOnly", False)
    if not isinstance(create_only, bool):
        errors.add(("createOnly",), "must be a boolean")
        create_only = False
    signals: dict[str, dict[str, Any]] = {}
    raw_signals = top.get(map_name)
    if map_name in top and not isinstance(raw_signals, dict):
        errors.add((map_name,), "must be an object")
    elif isinstance(raw_signals, dict):
        for key, save in raw_signals.items():
            path = (map_name, key)
            if not INPUT_KEY_PATTERN.fullmatch(key):
                errors.add(path, "input key must match ^[a-zA-Z0-9-_:.#+/]{1,128}$")
                continue
            checked = _check_object(
                errors, save, frozenset(), frozenset(_SIGNAL_FIELD_CHECKS), path
            )
            if checked is not None:
                signals[key] = _check_signal_save(errors, checked, path)
    errors.raise_if_any()
    return SaveSignalsParams(integration, signals, create_only)


def _check_signal_save(
    errors: _Collector, save: Mapping[str, Any], path: JsonPath
) -> dict[str, Any]:
    """Check each given SignalSave field.

    Null is refused for every field but the two durations: the real server would
    read it as "reset to default", which is never what a client means to send.
    """
    for name, value in save.items():
        check = _SIGNAL_FIELD_CHECKS.get(name)
        # Unknown fields were already reported by _check_object.
        problem = None if check is None else check(value)
        if problem is not None:
            errors.add((*path, name), problem)
    return dict(save)


def _check_text(value: object, minimum: int, maximum: int) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if not minimum <= len(value) <= maximum:
        return f"must be {minimum}-{maximum} characters long"
    return None


def _check_choice(value: object, choices: frozenset[str]) -> str | None:
    if value not in choices:
        return "must be one of " + ", ".join(sorted(choices))
    return None


def _check_key_map(value: object, check_value: ValueCheck) -> str | None:
    if not isinstance(value, dict):
        return "must be an object"
    for key, item in value.items():
        if not LABEL_KEY_PATTERN.fullmatch(key):
            return f"key {key!r} must match ^[A-Za-z0-9-_/]{{1,128}}$"
        problem = check_value(item)
        if problem is not None:
            return f"value of {key!r} {problem}"
    return None


def _check_label_values(value: object) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return "must be an array of strings"
    return None


def _check_annotation_value(value: object) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _check_enum_values(value: object) -> str | None:
    if not isinstance(value, dict):
        return "must be an object"
    for key, label in value.items():
        if not ENUM_KEY_PATTERN.fullmatch(key):
            return f"key {key!r} must be an integer from 0 to {ENUM_MAX}"
        problem = _check_text(label, 1, 128)
        if problem is not None:
            return f"label of {key!r} {problem}"
    return None


def _check_duration(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not DURATION_PATTERN.fullmatch(value):
        return "must be an ISO 8601 duration such as PT5M, or null"
    return None


_SIGNAL_FIELD_CHECKS: Final[dict[str, ValueCheck]] = {
    "name": lambda value: _check_text(value, 1, 128),
    "description": lambda value: _check_text(value, 0, 1000),
    "engUnit": lambda value: None if isinstance(value, str) else "must be a string",
    "labels": lambda value: _check_key_map(value, _check_label_values),
    "annotations": lambda value: _check_key_map(value, _check_annotation_value),
    "sourceType": lambda value: _check_choice(value, SOURCE_TYPES),
    "valueType": lambda value: _check_choice(value, VALUE_TYPES),
    "enumValues": _check_enum_values,
    "sampleInterval": _check_duration,
    "gapDetection": _check_duration,
}
