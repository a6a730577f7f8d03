"""Fixtures for the emulator tests: a started emulator on a fake clock."""

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials

from .helpers import Api, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator_options() -> dict[str, object]:
    """Override in a test module to construct the emulator differently."""
    return {"rate_limit": "record"}


@pytest.fixture
async def emulator(
    socket_enabled: None, clock: FakeClock, emulator_options: dict[str, object]
) -> AsyncIterator[ClarifyEmulator]:
    """A started emulator; the harness blocks sockets unless `socket_enabled`."""
    options = {"clock": clock, "sleep": clock.sleep} | emulator_options
    async with ClarifyEmulator(**options) as started:  # type: ignore[arg-type]
        yield started


@pytest.fixture
def credentials(emulator: ClarifyEmulator) -> IntegrationCredentials:
    return emulator.add_integration()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def api(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    credentials: IntegrationCredentials,
) -> Api:
    return Api(session, emulator, credentials)
