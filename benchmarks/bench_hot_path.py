"""What a state change costs inside Home Assistant's event loop, with and without us.

Run with the test harness (it provides a real `hass`), on either leg:

    ~/.cache/clarify-ha/venv-oldest/bin/python -m pytest -p no:sugar -q -s \
        benchmarks/bench_hot_path.py

Every scenario changes the states of 1,000 entities, 20,000 changes in all, with
one bus-wide listener present (every real installation has the recorder). Each round
measures every scenario in turn, and the table shows the median cost per change
and its ratio to the baseline, measured side by side in one run:

    baseline   the bus-wide listener only
    floor      + Home Assistant's own tracking helper with an empty callback
    naive      + the same helper with a float-and-append callback
    clarify    + this integration tracking the 1,000 entities
    untracked  this integration set up, but the changes are to 1,000 other entities

Nothing is asserted: machines are noisy, and the figures are for reading.
"""

from __future__ import annotations

from collections.abc import Callable
import gc
import random
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
ROUNDS = 11


async def _cost(hass: HomeAssistant, entity_ids: list[str]) -> float:
    """Seconds per state change, dispatch to every listener included."""
    await hass.async_block_till_done()
    # Garbage from the previous scenario is collected before, not during.
    gc.collect()
    gc.disable()
    start = time.perf_counter()
    for change in range(CHANGES):
        hass.states.async_set(entity_ids[change % ENTITIES], str(change % 97 + 0.5))
        if change % 1000 == 999:
            # Let the dispatches queued so far run, as the event loop would.
            await hass.async_block_till_done()
    await hass.async_block_till_done()
    elapsed = time.perf_counter() - start
    gc.enable()
    return elapsed / CHANGES


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

    entry = make_entry(emulator, integration, [mapping(e) for e in tracked])
    await setup_entry(hass, entry)
    loaded = True

    async def integration_loaded(wanted: bool) -> None:
        nonlocal loaded
        if wanted != loaded:
            if wanted:
                await hass.config_entries.async_setup(entry.entry_id)
            else:
                await hass.config_entries.async_unload(entry.entry_id)
            loaded = wanted

    scenarios: dict[str, tuple[bool, list[str], Any]] = {
        "baseline": (False, tracked, None),
        "floor": (False, tracked, tracking(empty)),
        "naive": (False, tracked, tracking(naive)),
        "clarify": (True, tracked, None),
        "untracked": (True, others, None),
    }
    # Every round measures every scenario, in a new order each time, so drift
    # and order effects over the run hit all of them alike.
    order = random.Random(1000)
    names = list(scenarios)
    for _ in range(ROUNDS):
        order.shuffle(names)
        for name in names:
            wanted, entity_ids, subscribe = scenarios[name]
            await integration_loaded(wanted)
            await measure(name, entity_ids, subscribe)
    await integration_loaded(False)

    median = {name: statistics.median(values) for name, values in costs.items()}
    base = median["baseline"]
    print()
    print(f"{'scenario':<10} {'µs/change':>10} {'vs baseline':>12}")
    for name, value in median.items():
        print(f"{name:<10} {value * 1e6:>10.2f} {value / base - 1:>+12.1%}")
