"""The emulator's state: integrations, their signals and every stored point."""

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
import secrets
from typing import Any, Literal, Self

from .rules import (
    ENUM_MAX,
    ID_PATTERN,
    Frame,
    InvalidParamsError,
    PathError,
    SaveSignalsParams,
)

type CredentialsKind = Literal["client-credentials", "basic-auth"]


def new_id() -> str:
    """Return a random ID in Clarify's format (20 base32hex characters, like xid)."""
    # 12 bytes are exactly 20 base32 characters once the padding is stripped.
    return base64.b32hexencode(secrets.token_bytes(12)).decode().rstrip("=").lower()


def new_secret(nbytes: int) -> str:
    """Return a random URL-safe secret that does not begin with "-".

    Clarify's secrets may begin with anything, and clients must cope; but a
    secret that begins with "-" is easily taken for an option when it is pasted
    into a command line, so the emulator never makes one.
    """
    while (secret := secrets.token_urlsafe(nbytes)).startswith("-"):
        pass
    return secret


def format_time(moment: datetime) -> str:
    """Format a UTC datetime as RFC 3339 with microseconds and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_metadata(input_key: str) -> dict[str, Any]:
    """Metadata of a signal nobody described yet (what Clarify fills in)."""
    return {
        "name": input_key,
        "description": "",
        "labels": {},
        "engUnit": "",
        "sourceType": "measurement",
        "valueType": "numeric",
        "enumValues": {},
        "sampleInterval": None,
        "gapDetection": None,
        "annotations": {},
    }


@dataclass(frozen=True, slots=True)
class IntegrationCredentials:
    """Both kinds of credentials Clarify issues for one integration."""

    integration_id: str
    password: str
    client_id: str
    client_secret: str

    @classmethod
    def generate(cls, integration_id: str | None = None) -> Self:
        """Return new random credentials (and ID, unless given)."""
        return cls(
            integration_id=integration_id or new_id(),
            password=new_secret(24),
            client_id=new_secret(24),
            client_secret=new_secret(32),
        )

    @classmethod
    def from_json(cls, data: object) -> Self:
        """Read what `to_json` wrote.

        Raises:
            ValueError: for anything but an object of four non-empty strings.
        """
        fields = ("integration_id", "password", "client_id", "client_secret")
        if not isinstance(data, dict) or not all(
            isinstance(data.get(name), str) and data[name] for name in fields
        ):
            raise ValueError(f"credentials must be an object with {', '.join(fields)}")
        return cls(*(str(data[name]) for name in fields))

    def to_json(self) -> dict[str, str]:
        """The credentials as a JSON object (secrets included: keep it private)."""
        return {
            "integration_id": self.integration_id,
            "password": self.password,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }

    def credentials_file(
        self, api_url: str, kind: CredentialsKind = "client-credentials"
    ) -> dict[str, Any]:
        """Return the credentials file Clarify's admin UI hands out, as a dict."""
        if kind == "client-credentials":
            client_id, client_secret = self.client_id, self.client_secret
        elif kind == "basic-auth":
            client_id, client_secret = self.integration_id, self.password
        else:
            raise ValueError(f"unknown credentials kind: {kind!r}")
        return {
            "apiUrl": api_url,
            "integration": self.integration_id,
            "credentials": {
                "type": kind,
                "clientId": client_id,
                "clientSecret": client_secret,
            },
        }


@dataclass(slots=True)
class Signal:
    """One signal of an integration, addressed by its input key."""

    id: str
    input_key: str
    metadata: dict[str, Any]
    points: dict[datetime, float] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(slots=True)
class Integration:
    """One integration: its credentials and its signals by input key."""

    credentials: IntegrationCredentials
    name: str
    signals: dict[str, Signal] = field(default_factory=dict)
    revoked: bool = False


class EmulatorState:
    """Integrations, signals and points, with the semantics of Clarify's methods.

    Methods validate everything before they change anything, so a refused request
    leaves the state untouched, as a real transactional server would.
    """

    def __init__(self) -> None:
        """Start empty."""
        self.integrations: dict[str, Integration] = {}

    def add_integration(self, credentials: IntegrationCredentials, name: str) -> None:
        """Register an integration.

        Raises:
            ValueError: for a malformed or duplicate integration ID or client ID.
        """
        if not ID_PATTERN.fullmatch(credentials.integration_id):
            raise ValueError("integration ID must match ^[a-v0-9]{20}$")
        if credentials.integration_id in self.integrations:
            raise ValueError("integration already exists")
        if self.by_client_id(credentials.client_id) is not None:
            raise ValueError("client ID already in use")
        self.integrations[credentials.integration_id] = Integration(credentials, name)

    def by_client_id(self, client_id: str) -> Integration | None:
        """Find the integration an OAuth client ID belongs to."""
        for integration in self.integrations.values():
            if integration.credentials.client_id == client_id:
                return integration
        return None

    def insert(self, integration_id: str, frame: Frame) -> dict[str, Any]:
        """Apply `integration.insert`: new keys create signals, times overwrite.

        Raises:
            InvalidParamsError: a value that an enum signal cannot hold.
        """
        signals = self.integrations[integration_id].signals
        self._check_enum_values(signals, frame)
        summary: dict[str, dict[str, Any]] = {}
        for key, values in frame.series.items():
            signal, created = self._get_or_create(signals, key)
            for moment, value in zip(frame.times, values, strict=True):
                # A null means "no value at this time", never "delete".
                if value is not None:
                    signal.points[moment] = value
            summary[key] = {"id": signal.id, "created": created}
        return {"signalsByInput": summary}

    @staticmethod
    def _check_enum_values(signals: dict[str, Signal], frame: Frame) -> None:
        """Enum signals take integer indices 0-9999 only."""
        errors: list[PathError] = []
        for key, values in frame.series.items():
            signal = signals.get(key)
            if signal is None or signal.metadata["valueType"] != "enum":
                continue
            for index, value in enumerate(values):
                if value is not None and (
                    not value.is_integer() or not 0 <= value <= ENUM_MAX
                ):
                    errors.append(
                        PathError(
                            ("data", "series", key),
                            f"value at index {index} must be an enum index "
                            f"from 0 to {ENUM_MAX}",
                        )
                    )
                    break
        if errors:
            raise InvalidParamsError(errors)

    def save_signals(self, params: SaveSignalsParams) -> dict[str, Any]:
        """Apply `integration.saveSignals`.

        Every given field replaces the stored one and every left-out field is reset
        to its default, except `annotations`, which merges into the stored map.
        """
        signals = self.integrations[params.integration].signals
        summary: dict[str, dict[str, Any]] = {}
        for key, save in params.signals.items():
            signal, created = self._get_or_create(signals, key)
            updated = False
            if created or not params.create_only:
                metadata = default_metadata(key) | save
                metadata["annotations"] = signal.metadata["annotations"] | save.get(
                    "annotations", {}
                )
                updated = not created and metadata != signal.metadata
                signal.metadata = metadata
            summary[key] = {"id": signal.id, "created": created, "updated": updated}
        return {"signalsByInput": summary}

    @staticmethod
    def _get_or_create(signals: dict[str, Signal], key: str) -> tuple[Signal, bool]:
        signal = signals.get(key)
        if signal is not None:
            return signal, False
        signal = signals[key] = Signal(new_id(), key, default_metadata(key))
        return signal, True

    def to_json(self) -> dict[str, Any]:
        """Return the whole state as JSON-ready data (secrets left out)."""
        return {
            "integrations": {
                integration_id: {
                    "name": integration.name,
                    "revoked": integration.revoked,
                    "signals": {
                        key: {
                            "id": signal.id,
                            "createdAt": format_time(signal.created_at),
                            "metadata": signal.metadata,
                            "points": [
                                [format_time(moment), value]
                                for moment, value in sorted(signal.points.items())
                            ],
                        }
                        for key, signal in integration.signals.items()
                    },
                }
                for integration_id, integration in self.integrations.items()
            }
        }
