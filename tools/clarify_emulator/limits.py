"""Clarify's request rate limit: what the emulator records and how it queues."""

from dataclasses import dataclass
from typing import Literal

type RateLimitMode = Literal["queue", "record", "off"]
type AuthKind = Literal["basic", "bearer"]

# Clarify allows one request per second per integration and method.
RATE_INTERVAL = 1.0
# Clock readings of requests sent exactly one interval apart may differ by float
# rounding; such requests are not violations.
_TOLERANCE = 1e-6


@dataclass(slots=True)
class RecordedRequest:
    """One request that reached an API path (/v1/...), as the emulator saw it.

    Times are readings of the emulator's clock. `http_status` is 0 for a request
    whose connection was dropped on purpose (fault injection).
    """

    path: str
    received_at: float
    started_at: float
    rpc_method: str | None = None
    integration_id: str | None = None
    http_status: int = 0
    error_code: int | None = None
    body_bytes: int = 0
    auth_kind: AuthKind | None = None
    api_version: str | None = None
    user_agent: str | None = None


class RateLimiter:
    """Hands out one slot per interval for each (integration, method) pair."""

    def __init__(self, interval: float = RATE_INTERVAL) -> None:
        """Start with every slot free."""
        self._interval = interval
        self._next_free: dict[tuple[str, str], float] = {}

    def reserve(
        self, key: tuple[str, str], now: float, max_wait: float
    ) -> float | None:
        """Reserve the next slot for `key`.

        Returns:
            How long the request must wait for its slot, or None when that would
            exceed `max_wait` (then nothing is reserved).
        """
        slot = max(now, self._next_free.get(key, now))
        wait = slot - now
        if wait > max_wait:
            return None
        self._next_free[key] = slot + self._interval
        return wait


def count_violations(
    requests: list[RecordedRequest], integration_id: str | None = None
) -> int:
    """Count RPC requests that arrived under one interval after the previous one.

    Requests are compared with the previous request of the same integration and
    method, by arrival time; requests without a known integration are ignored.
    """
    last_arrival: dict[tuple[str, str], float] = {}
    violations = 0
    for request in sorted(requests, key=lambda item: item.received_at):
        if request.integration_id is None or request.rpc_method is None:
            continue
        if integration_id is not None and request.integration_id != integration_id:
            continue
        key = (request.integration_id, request.rpc_method)
        previous = last_arrival.get(key)
        if previous is not None and request.received_at - previous < (
            RATE_INTERVAL - _TOLERANCE
        ):
            violations += 1
        last_arrival[key] = request.received_at
    return violations
