"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from unittest.mock import PropertyMock, patch

from freezegun.api import FrozenDateTimeFactory
import pytest

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials

from .common import SimulatedTime


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load this repository's integration in every test with hass.

    Tests of the API client and the emulator run without Home Assistant, so the
    harness's fixture (which needs `hass`) is pulled in only where hass is.
    """
    if "hass" in request.fixturenames:
        request.getfixturevalue("enable_custom_integrations")


@pytest.fixture(autouse=True)
def config_dir_per_test(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Give every test's Home Assistant a configuration directory of its own.

    The integration keeps its journal in real files there; the harness's shared
    directory would let one test see another's.
    """
    if "hass" in request.fixturenames:
        hass: HomeAssistant = request.getfixturevalue("hass")
        hass.config.config_dir = str(tmp_path / "config")


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncIterator[ClarifyEmulator]:
    """A running Clarify emulator on 127.0.0.1 that records the request rate.

    The harness blocks sockets; `socket_enabled` opens them again, while its
    allow-list still keeps every connection on 127.0.0.1. The emulator's clock
    is Home Assistant's, so under a frozen clock its rate record is in
    simulated time, which is what Clarify would see.
    """
    async with ClarifyEmulator(
        rate_limit="record", clock=lambda: dt_util.utcnow().timestamp()
    ) as started:
        yield started


@pytest.fixture
def integration(emulator: ClarifyEmulator) -> IntegrationCredentials:
    """One integration in the emulator, with its credentials of both kinds."""
    return emulator.add_integration()


@pytest.fixture
def sim(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> SimulatedTime:
    """Simulated time: the frozen clock moves, and due timers fire."""
    return SimulatedTime(hass, freezer)


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Create entities disabled by default enabled (Sent readings), as core's tests do."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield
