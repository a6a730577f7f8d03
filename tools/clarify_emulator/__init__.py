"""A local stand-in for Clarify's integration API, for tests and development.

Start one in a test::

    async with ClarifyEmulator(rate_limit="record") as emulator:
        credentials = emulator.add_integration()
        ...  # point a client at emulator.api_url

or from a shell: ``python -m tools.clarify_emulator --port 8765``.

Make it misbehave the ways a real deployment can::

    emulator.inject(Fault("proxy", status=400))  # a proxy's HTML page, any status
    emulator.inject(Fault("malformed"))  # HTTP 200, not JSON
    emulator.inject(Fault("wrong_id"))  # a JSON-RPC reply to another request
    emulator.inject(Fault("not_rpc"))  # HTTP 200, JSON but not JSON-RPC
    emulator.inject(Fault("rpc", code=-32601))  # any JSON-RPC error (any status)
    emulator.inject(Fault.invalid_params("sensor.a", style="params"))  # -32602
    emulator.reject_series("sensor.bad", named=False)  # refused until accepted
    emulator.max_body_bytes = 64 * 1024  # HTTP 413 above this (default 8 MiB)
"""

from .faults import (
    Fault,
    FaultKind,
    FaultSource,
    NameStyle,
    SeriesRefusal,
    invalid_params_data,
)
from .limits import RateLimitMode, RecordedRequest
from .model import IntegrationCredentials, Signal
from .server import ClarifyEmulator, proxy_page

__all__ = [
    "ClarifyEmulator",
    "Fault",
    "FaultKind",
    "FaultSource",
    "IntegrationCredentials",
    "NameStyle",
    "RateLimitMode",
    "RecordedRequest",
    "SeriesRefusal",
    "Signal",
    "invalid_params_data",
    "proxy_page",
]
