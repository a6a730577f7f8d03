"""Faults that tests inject to see how a client copes with a misbehaving Clarify."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

type FaultKind = Literal["http", "rpc", "malformed", "delay", "drop"]


@dataclass(frozen=True, slots=True)
class Fault:
    """How the next `count` matching requests fail.

    Kinds:
        http: reply with HTTP `status`, an optional `Retry-After` header (seconds)
            and `message` as the body.
        rpc: reply HTTP 200 with a JSON-RPC error (`code`, `message`, `data`).
        malformed: reply HTTP 200 with a body that is not valid JSON.
        delay: wait `delay` seconds (real time, to trip client timeouts), then
            handle the request normally.
        drop: close the connection without any response.

    A fault matches requests to `path` (any path under /v1/ when None) and, when
    `rpc_method` is given, only RPC calls of that method.
    """

    kind: FaultKind
    count: int = 1
    status: int = 500
    retry_after: float | None = None
    code: int = -32603
    message: str = ""
    data: object = None
    delay: float = 0.0
    rpc_method: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        """Refuse faults that could never behave as the test meant."""
        if self.kind not in get_args(FaultKind.__value__):
            raise ValueError(f"unknown fault kind: {self.kind!r}")
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.delay < 0:
            raise ValueError("delay must not be negative")

    def matches(self, path: str, rpc_method: str | None) -> bool:
        """Tell whether this fault applies to a request."""
        if self.path is not None and path != self.path:
            return False
        return self.rpc_method is None or self.rpc_method == rpc_method


@dataclass(slots=True)
class _Pending:
    fault: Fault
    remaining: int


class FaultQueue:
    """Pending faults; the oldest one that matches a request is applied first."""

    def __init__(self) -> None:
        """Start with no faults."""
        self._pending: list[_Pending] = []

    def add(self, fault: Fault) -> None:
        """Queue a fault behind those already pending."""
        self._pending.append(_Pending(fault, fault.count))

    def clear(self) -> None:
        """Forget every pending fault."""
        self._pending.clear()

    def take(self, path: str, rpc_method: str | None) -> Fault | None:
        """Consume one use of the oldest fault matching this request, if any."""
        for index, pending in enumerate(self._pending):
            if pending.fault.matches(path, rpc_method):
                pending.remaining -= 1
                if pending.remaining == 0:
                    del self._pending[index]
                return pending.fault
        return None


# Decides, request by request (path, RPC method), whether one fails and how.
type FaultSource = Callable[[str, str | None], Fault | None]
