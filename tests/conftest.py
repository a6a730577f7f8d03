"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load this repository's integration in every test with hass.

    Tests of the API client and the emulator run without Home Assistant, so the
    harness's fixture (which needs `hass`) is pulled in only where hass is.
    """
    if "hass" in request.fixturenames:
        request.getfixturevalue("enable_custom_integrations")


@pytest.fixture
async def clarify_emulator(socket_enabled: None) -> AsyncIterator[ClarifyEmulator]:
    """A running Clarify emulator on 127.0.0.1 that records the request rate.

    The harness blocks sockets; `socket_enabled` opens them again, while its
    allow-list still keeps every connection on 127.0.0.1.
    """
    async with ClarifyEmulator(rate_limit="record") as emulator:
        yield emulator


@pytest.fixture
def clarify_integration(clarify_emulator: ClarifyEmulator) -> IntegrationCredentials:
    """One integration in the emulator, with its credentials of both kinds."""
    return clarify_emulator.add_integration()
