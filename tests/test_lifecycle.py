"""The integration's life in Home Assistant: clean logs, pacing, bugs, a real clock."""

from __future__ import annotations

import itertools
import logging
from typing import Any
from unittest.mock import patch

import aiohttp
import pytest

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant

from custom_components.clarify.const import DOMAIN
from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials

from .common import SimulatedTime, make_entry, mapping, setup_entry, stored_points


def _is_harness_noise(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    # The loader warns about every custom integration, and asyncio reports the
    # test itself as slow when simulated time jumps within one of its steps.
    return "We found a custom integration clarify" in message or (
        record.name == "asyncio" and "coro=<test_" in message
    )


def _complaints(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Warnings, errors and tracebacks from any logger, the harness's aside."""
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if (record.levelno >= logging.WARNING or record.exc_info)
        and not _is_harness_noise(record)
    ]


async def test_no_warning_from_setup_to_stop(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Setup, sending, reload, unload, setup again and Home Assistant's stop."""
    caplog.set_level(logging.DEBUG)
    entry = make_entry(emulator, integration, [mapping("sensor.a")])
    await setup_entry(hass, entry)
    sim.set_state("sensor.a", "1")
    await sim.advance(60)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    sim.set_state("sensor.a", "2")
    await sim.advance(60)
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    sim.set_state("sensor.a", "3")
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert len(stored_points(emulator, integration)["sensor.a"]) == 3
    assert _complaints(caplog) == []


async def test_every_request_a_second_after_the_last(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """The flush action every tenth of a second, a backlog, the interval: 1 s apart."""
    entities = [f"sensor.s{i}" for i in range(20)]
    await setup_entry(
        hass,
        make_entry(
            emulator, integration, [mapping(e) for e in entities], flush_interval=10
        ),
    )
    values = itertools.count()
    for _ in range(300):
        for entity_id in entities[:3]:
            sim.set_state(entity_id, str(next(values)))
        await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
        await sim.advance(0.1)
    await sim.run(5, step=0.1)
    inserts = [
        r.received_at for r in emulator.requests if r.rpc_method == "integration.insert"
    ]
    gaps = [later - earlier for earlier, later in itertools.pairwise(inserts)]
    assert len(inserts) >= 25
    assert min(gaps) >= 1.0
    # Each waited for its turn and no longer: the flush kept it busy.
    assert max(gaps) < 1.2
    assert emulator.rate_limit_violations() == 0


async def test_a_bug_in_a_send_loses_nothing(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exception nobody expected: logged once with its traceback, then sending resumes."""
    entry = make_entry(emulator, integration, [mapping("sensor.a")])
    await setup_entry(hass, entry)
    first = sim.set_state("sensor.a", "1")
    original = aiohttp.ClientSession.post
    failures = iter([True, True, True])

    def post(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> Any:
        if next(failures, False):
            raise RuntimeError("a bug nobody expected")
        return original(self, *args, **kwargs)

    with patch.object(aiohttp.ClientSession, "post", post):
        await sim.advance(60)
        second = sim.set_state("sensor.a", "2")
        await sim.run(30)
    bugs = [
        record
        for record in caplog.records
        if record.exc_info and record.name.startswith(f"custom_components.{DOMAIN}")
    ]
    assert len(bugs) == 1
    assert "a bug nobody expected" in caplog.text
    assert stored_points(emulator, integration) == {
        "sensor.a": {first: 1.0, second: 2.0}
    }


async def test_times_on_a_real_clock(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Without a frozen clock, every microsecond arrives as Home Assistant shows it."""
    entities = [f"sensor.t{i}" for i in range(200)]
    await setup_entry(
        hass, make_entry(emulator, integration, [mapping(e) for e in entities])
    )
    expected = {}
    for index, entity_id in enumerate(entities):
        hass.states.async_set(entity_id, str(index))
        state = hass.states.get(entity_id)
        assert state is not None
        expected[entity_id] = {state.last_updated: float(index)}
    await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert stored_points(emulator, integration) == expected
    # The clock really ran: the times are not whole seconds.
    assert len({at.microsecond for points in expected.values() for at in points}) > 50
