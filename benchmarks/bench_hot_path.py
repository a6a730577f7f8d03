"""What a state change costs inside Home Assistant's event loop, with and without us.

Run with the test harness (it provides a real `hass`), on either leg:

    ~/.cache/clarify-ha/venv-oldest/bin/python -m pytest -p no:sugar -q -s \
        benchmarks/bench_hot_path.py

Every scenario changes the states of 1,000 entities, 20,000 changes in all, with
one bus-wide listener present (every real installation has the recorder). The
scenarios run in rounds, interleaved, and the table shows the median cost per
change and its ratio to the baseline, measured in one run:

    baseline   the bus-wide listener only
    floor      + Home Assistant's own tracking helper with an empty callback
    naive      + the same helper with a float-and-append callback
    clarify    + this integration tracking the 1,000 entities
    untracked  this integration set up, but the changes are to 1,000 other entities

Nothing is asserted: machines are noisy, and the figures are for reading.
"""

from __future__ import annotations

from collections.abc import Callable
import statistics
import time
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event

from tests.common import make_entry, mapping, setup_entry
from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials

ENTITIES = 1_000
CHANGES = 20_000
ROUNDS = 7


async def _cost(hass: HomeAssistant, entity_ids: list[str]) -> float:
    """Seconds per state change, dispatch to every listener included."""
    await hass.async_block_till_done()
    start = time.perf_counter()
    for change in range(CHANGES):
        hass.states.async_set(entity_ids[change % ENTITIES], str(change % 97 + 0.5))
        if change % 1000 == 999:
            # Let the dispatches queued so far run, as the event loop would.
            await hass.async_block_till_done()
    await hass.async_block_till_done()
    return (time.perf_counter() - start) / CHANGES


async def test_hot_path(
    hass: HomeAssistant, emulator: ClarifyEmulator, integration: IntegrationCredentials
) -> None:
    """Print the cost of a state change in each scenario."""
    # The harness runs the loop in debug mode, which records a traceback for
    # every scheduled callback; Home Assistant in production does not.
    hass.loop.set_debug(False)
    tracked = [f"sensor.tracked_{i}" for i in range(ENTITIES)]
    others = [f"sensor.other_{i}" for i in range(ENTITIES)]
    for entity_id in tracked + others:
        hass.states.async_set(entity_id, "0")

    @callback
    def recorder_like(event: Event[EventStateChangedData]) -> None:
        """Stands in for the recorder, which listens to every state change."""

    hass.bus.async_listen(EVENT_STATE_CHANGED, recorder_like)

    @callback
    def empty(event: Event[EventStateChangedData]) -> None:
        """Does nothing: the floor of tracking entities at all."""

    readings: list[float] = []

    @callback
    def naive(event: Event[EventStateChangedData]) -> None:
        """What a first exporter does: parse and keep."""
        if (state := event.data["new_state"]) is not None:
            readings.append(float(state.state))

    def tracking(action: Callable[[Event[EventStateChangedData]], None]) -> Any:
        return lambda: async_track_state_change_event(hass, tracked, action)

    costs: dict[str, list[float]] = {}

    async def measure(name: str, entity_ids: list[str], subscribe: Any = None) -> None:
        unsubscribe = subscribe() if subscribe else None
        costs.setdefault(name, []).append(await _cost(hass, entity_ids))
        if unsubscribe:
            unsubscribe()
        readings.clear()

    # Without the integration: the baseline and the two reference callbacks.
    for _ in range(ROUNDS):
        await measure("baseline", tracked)
        await measure("floor", tracked, tracking(empty))
        await measure("naive", tracked, tracking(naive))
    # With it, tracking `tracked`: changes to them, and to entities it ignores.
    entry = make_entry(emulator, integration, [mapping(e) for e in tracked])
    await setup_entry(hass, entry)
    for _ in range(ROUNDS):
        await measure("clarify", tracked)
        await measure("untracked", others)
    await hass.config_entries.async_unload(entry.entry_id)

    median = {name: statistics.median(values) for name, values in costs.items()}
    base = median["baseline"]
    print()
    print(f"{'scenario':<10} {'µs/change':>10} {'vs baseline':>12}")
    for name, value in median.items():
        print(f"{name:<10} {value * 1e6:>10.2f} {value / base - 1:>+12.1%}")
