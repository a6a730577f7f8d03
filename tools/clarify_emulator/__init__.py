"""A local stand-in for Clarify's integration API, for tests and development.

Start one in a test::

    async with ClarifyEmulator(rate_limit="record") as emulator:
        credentials = emulator.add_integration()
        ...  # point a client at emulator.api_url

or from a shell: ``python -m tools.clarify_emulator --port 8765``.
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
