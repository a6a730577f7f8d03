"""Clarify's limit of one request per second per integration and method."""

import aiohttp
import pytest

from tools.clarify_emulator import ClarifyEmulator, RecordedRequest
from tools.clarify_emulator.limits import RateLimiter, count_violations

from .helpers import Api, FakeClock


@pytest.mark.parametrize("emulator_options", [{"rate_limit": "queue"}])
async def test_queue_delays_requests_to_their_slot(
    api: Api, emulator: ClarifyEmulator, clock: FakeClock
) -> None:
    for _ in range(3):
        assert (await api.insert({"a": [1, 2]})).status == 200
    # The fake sleep moved the clock: each request waited for the next second.
    assert clock.slept == [1.0, 1.0]
    assert [r.started_at - 1000.0 for r in emulator.requests] == [0.0, 1.0, 2.0]
    assert [r.received_at - 1000.0 for r in emulator.requests] == [0.0, 0.0, 1.0]
    # Violations count arrivals: only the second came too early.
    assert emulator.rate_limit_violations() == 1


@pytest.mark.parametrize("emulator_options", [{"rate_limit": "queue"}])
async def test_queue_is_per_method_and_integration(
    session: aiohttp.ClientSession,
    api: Api,
    emulator: ClarifyEmulator,
    clock: FakeClock,
) -> None:
    other = Api(session, emulator, emulator.add_integration())
    assert (await api.insert({"a": [1, 2]})).status == 200
    assert (await api.save({"a": {"name": "A"}})).status == 200
    assert (await other.insert({"a": [1, 2]})).status == 200
    assert clock.slept == []
    assert emulator.rate_limit_violations() == 0


@pytest.mark.parametrize("emulator_options", [{"rate_limit": "queue"}])
async def test_spaced_requests_never_wait(
    api: Api, emulator: ClarifyEmulator, clock: FakeClock
) -> None:
    for _ in range(3):
        assert (await api.insert({"a": [1, 2]})).status == 200
        clock.now += 1.0
    assert clock.slept == []
    assert emulator.rate_limit_violations() == 0


async def _no_wait(seconds: float) -> None:
    """A sleep that returns at once, so queued requests pile up on one clock reading."""


@pytest.mark.parametrize(
    "emulator_options",
    [{"rate_limit": "queue", "queue_timeout": 2.5, "sleep": _no_wait}],
)
async def test_waiting_longer_than_the_queue_timeout_is_http_504(
    api: Api, emulator: ClarifyEmulator, clock: FakeClock
) -> None:
    statuses = [(await api.insert({"a": [1, 2]})).status for _ in range(4)]
    # Waits of 0, 1 and 2 s are queued; the fourth would wait 3 s > 2.5 s.
    assert statuses == [200, 200, 200, 504]
    assert emulator.requests[-1].http_status == 504
    # A refused request takes no slot: once the queue drains, all is well.
    clock.now += 3.0
    assert (await api.insert({"a": [1, 2]})).status == 200


async def test_record_mode_never_delays_but_counts(
    session: aiohttp.ClientSession,
    api: Api,
    emulator: ClarifyEmulator,
    clock: FakeClock,
) -> None:
    other = Api(session, emulator, emulator.add_integration())
    await api.insert({"a": [1, 2]})
    clock.now += 0.5
    await api.insert({"a": [1, 2]})  # 0.5 s after the previous insert
    await api.save({"a": {"name": "A"}})  # another method: fine
    await other.insert({"a": [1, 2]})  # another integration: fine
    clock.now += 1.0
    await api.insert({"a": [1, 2]})  # 1 s after the previous insert: fine
    await other.insert({"a": [1, 2]})  # 1 s after: fine
    await other.insert({"a": [1, 2]})  # 0 s after: violation
    assert clock.slept == []
    assert all(r.started_at == r.received_at for r in emulator.requests)
    assert emulator.rate_limit_violations() == 2
    assert emulator.rate_limit_violations(api.credentials.integration_id) == 1
    assert emulator.rate_limit_violations(other.credentials.integration_id) == 1


@pytest.mark.parametrize("emulator_options", [{"rate_limit": "off"}])
async def test_off_mode_never_delays(
    api: Api, emulator: ClarifyEmulator, clock: FakeClock
) -> None:
    for _ in range(3):
        assert (await api.insert({"a": [1, 2]})).status == 200
    assert clock.slept == []
    assert emulator.rate_limit_violations() == 2


def test_limiter_hands_out_consecutive_slots() -> None:
    limiter = RateLimiter()
    key = ("integration", "integration.insert")
    assert limiter.reserve(key, 10.0, 10.0) == 0.0
    assert limiter.reserve(key, 10.2, 10.0) == pytest.approx(0.8)
    assert limiter.reserve(key, 10.2, 10.0) == pytest.approx(1.8)
    assert limiter.reserve(key, 10.2, 1.0) is None
    assert limiter.reserve(key, 20.0, 0.0) == 0.0


def test_violations_ignore_unauthenticated_and_tolerate_rounding() -> None:
    def request(at: float, integration: str | None = "i") -> RecordedRequest:
        return RecordedRequest(
            path="/v1/rpc",
            received_at=at,
            started_at=at,
            rpc_method="integration.insert",
            integration_id=integration,
        )

    requests = [
        request(0.1),
        request(0.1 + 1.0 - 1e-9),  # one second apart, give or take float error
        request(1.2, None),  # failed authentication: not attributed
        request(1.5),  # 0.4 s after the previous one
    ]
    assert count_violations(requests) == 1
