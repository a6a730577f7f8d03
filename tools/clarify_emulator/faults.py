"""Faults that tests inject to see how a client copes with a misbehaving Clarify."""

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Self, get_args

type FaultKind = Literal[
    "http", "proxy", "rpc", "malformed", "wrong_id", "not_rpc", "delay", "drop"
]
# How a -32602 error names the series it blames: Clarify's `params` (dotted path
# -> messages), `pathErrors` (path as a list), or both.
type NameStyle = Literal["pathErrors", "params", "both"]

# The HTTP status of each kind of reply when the fault does not give one.
_DEFAULT_STATUS: Final = {"http": 500, "proxy": 502}

INSERT: Final = "integration.insert"
SAVE_SIGNALS: Final = "integration.saveSignals"
# The params field, per method, whose members are keyed by input key.
_CONTAINER: Final = {INSERT: ("data", "series"), SAVE_SIGNALS: ("signalsByInput",)}


@dataclass(frozen=True, slots=True)
class Fault:
    """How the next `count` matching requests fail.

    Kinds, each replying with HTTP `status` when given:

        http: `message` as a text/plain body (`content_type` to change it), and
            a `Retry-After` header (seconds) when `retry_after` is set. Status
            500 by default.
        proxy: the HTML error page a reverse proxy or load balancer sends in
            Clarify's place (nginx style), with `message` in it when given.
            Status 502 by default; any status works (400, 413, 200...).
        rpc: a JSON-RPC error (`code`, `message`, `data`) answering the request's
            own id, as Clarify does; HTTP 200 unless `status` says otherwise
            (Clarify may answer invalid params with 400 or 422).
        malformed: a body that is not valid JSON (HTTP 200 by default).
        wrong_id: a well-formed JSON-RPC success reply to another request's id,
            as a confused cache or proxy might send (HTTP 200 by default).
        not_rpc: a JSON object that is no JSON-RPC reply at all (`message`, when
            given, is the whole body instead; HTTP 200 by default).
        delay: wait `delay` seconds (real time, to trip client timeouts), then
            handle the request normally.
        drop: close the connection without any response.

    `headers` are added to the reply (a ``traceparent``, say). A fault matches
    requests to `path` (any path under /v1/ when None) and, when `rpc_method` is
    given, only RPC calls of that method.
    """

    kind: FaultKind
    count: int = 1
    status: int | None = None
    retry_after: float | None = None
    code: int = -32603
    message: str = ""
    data: object = None
    delay: float = 0.0
    rpc_method: str | None = None
    path: str | None = None
    content_type: str | None = None
    headers: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        """Refuse faults that could never behave as the test meant."""
        if self.kind not in get_args(FaultKind.__value__):
            raise ValueError(f"unknown fault kind: {self.kind!r}")
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.delay < 0:
            raise ValueError("delay must not be negative")
        # 1xx statuses are never a final reply.
        if self.status is not None and not 200 <= self.status <= 599:
            raise ValueError("status must be a final HTTP status (200-599)")

    @classmethod
    def invalid_params(
        cls,
        *keys: str,
        style: NameStyle = "pathErrors",
        method: str = INSERT,
        trace: str | None = None,
        **fault: Any,
    ) -> Self:
        """A -32602 error for a `method` call, naming `keys` (none: naming nothing).

        Other fault fields (`count`, `status`, `path`...) pass through `fault`.
        """
        data = invalid_params_data(keys, style=style, method=method)
        if trace is not None:
            data["trace"] = trace
        return cls("rpc", code=-32602, data=data, rpc_method=method, **fault)

    @property
    def http_status(self) -> int:
        """The status this fault replies with."""
        return self.status or _DEFAULT_STATUS.get(self.kind, 200)

    def matches(self, path: str, rpc_method: str | None) -> bool:
        """Tell whether this fault applies to a request."""
        if self.path is not None and path != self.path:
            return False
        return self.rpc_method is None or self.rpc_method == rpc_method


def invalid_params_data(
    keys: Collection[str], *, style: NameStyle = "pathErrors", method: str = INSERT
) -> dict[str, Any]:
    """The ``data`` of a -32602 error that blames the series `keys` of `method`.

    With no keys the data names nothing, as Clarify's may not.
    """
    container = _CONTAINER[method]
    data: dict[str, Any] = {}
    message = "refused by the emulator"
    if keys and style in ("params", "both"):
        data["params"] = {".".join((*container, key)): [message] for key in keys}
    if keys and style in ("pathErrors", "both"):
        data["pathErrors"] = [
            {"path": [*container, key], "error": message} for key in keys
        ]
    return data


@dataclass(frozen=True, slots=True)
class SeriesRefusal:
    """How the emulator refuses requests that carry one poisoned input key.

    `named`: whether the -32602 error names the key (in `style`); `methods`: the
    RPC methods refused (inserts only by default; add saveSignals to refuse the
    key's metadata too).
    """

    named: bool = False
    style: NameStyle = "pathErrors"
    methods: frozenset[str] = frozenset({INSERT})


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
