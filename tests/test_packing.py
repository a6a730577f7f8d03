"""The sender's frames, end to end: paced for bytes, within the rate limit and on time.

Entities change once a minute, each at its own instant, as in a real home; time
moves a second at a time and Home Assistant's timers fire, so the sender's
requests leave as they would. Everything runs against the emulator over real
HTTP on 127.0.0.1.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import random
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from custom_components.clarify.const import DOMAIN
from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials

from .common import SimulatedTime, make_entry, mapping, setup_entry, stored_points

INTERVAL = 60


async def _send(
    hass: HomeAssistant,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
    entities: list[str],
) -> None:
    """Set up an entry sending `entities` every `INTERVAL` seconds."""
    await setup_entry(
        hass,
        make_entry(
            emulator,
            integration,
            [mapping(entity) for entity in entities],
            flush_interval=INTERVAL,
        ),
    )


async def test_entities_at_their_own_instants_leave_in_paced_frames(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """Few nulls a reading, a request a second at most, each reading within two intervals."""
    entities = [f"sensor.room_{index}_temperature" for index in range(60)]
    await _send(hass, emulator, integration, entities)
    rng = random.Random(7)
    # The second of the minute each entity changes in.
    phase = {entity: rng.randrange(60) for entity in entities}
    expected: dict[str, dict[datetime, float]] = {}
    for second in range(6 * 60):
        for entity in entities:
            if phase[entity] == second % 60:
                value = round(rng.uniform(15, 25), 1)
                expected.setdefault(entity, {})[sim.set_state(entity, str(value))] = (
                    value
                )
                sim.freezer.tick(timedelta(milliseconds=rng.randrange(1, 9)))
        await sim.advance(1)
        # Every reading is in Clarify within two intervals of its time.
        stored = stored_points(emulator, integration)
        deadline = dt_util.utcnow() - timedelta(seconds=2 * INTERVAL)
        late = [
            (entity, at)
            for entity, points in expected.items()
            for at in points
            if at <= deadline and at not in stored.get(entity, {})
        ]
        assert not late
    await sim.run(2 * INTERVAL)

    assert stored_points(emulator, integration) == expected
    assert emulator.rate_limit_violations() == 0
    inserts = [
        request
        for request in emulator.requests
        if request.rpc_method == "integration.insert" and request.http_status == 200
    ]
    readings = sum(len(points) for points in expected.values())
    # Spread over many requests rather than one a minute; whole requests,
    # JSON-RPC envelope included, at under 200 bytes a reading. One request a
    # minute would carry 59 nulls a reading: about 400 bytes.
    assert len(inserts) > 6 * 6
    assert sum(request.body_bytes for request in inserts) / readings < 200


async def test_a_backlog_is_paced_too_and_the_flush_action_sends_it_at_once(
    hass: HomeAssistant,
    sim: SimulatedTime,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> None:
    """The first send after a quiet spell is paced; a flush asks for everything now."""
    entities = [f"sensor.plug_{index}_power" for index in range(200)]
    await _send(hass, emulator, integration, entities)
    expected: dict[str, dict[datetime, float]] = {}
    for index, entity in enumerate(entities):
        expected[entity] = {sim.set_state(entity, str(index)): float(index)}
        sim.freezer.tick(timedelta(milliseconds=3))
    await sim.advance(INTERVAL)

    def inserts() -> list[Any]:
        return [
            request
            for request in emulator.requests
            if request.rpc_method == "integration.insert"
        ]

    # 200 readings of 200 instants: in one request, 199 nulls a reading. Paced,
    # the first request takes a few keys, with a few nulls a reading.
    [first] = inserts()
    sent = stored_points(emulator, integration)
    assert 1 < len(sent) < 10
    assert first.body_bytes / len(sent) < 200

    await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
    await sim.advance(1)
    assert stored_points(emulator, integration) == expected
    assert len(inserts()) == 2
