"""The HTML overview page and the JSON state."""

from datetime import UTC, datetime, timedelta

import aiohttp

from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials
from tools.clarify_emulator.page import render_chart

from .helpers import Api

EVIL = '<script>alert("x")</script>&'


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str, str]:
    async with session.get(url) as response:
        return response.status, response.content_type, await response.text()


async def test_page_lists_signals_and_escapes_user_text(
    session: aiohttp.ClientSession, emulator: ClarifyEmulator
) -> None:
    credentials = emulator.add_integration(name=EVIL)
    api = Api(session, emulator, credentials)
    await api.save(
        {
            "sensor.t": {
                "name": EVIL,
                "engUnit": "<b>°C</b>",
                "labels": {"area": [EVIL]},
                "annotations": {"note": EVIL},
            }
        }
    )
    await api.insert({"sensor.t": [21.5, 22.25], "empty": [None, None]})
    status, content_type, html = await get(session, emulator.base_url)
    assert status == 200
    assert content_type == "text/html"
    assert '<meta http-equiv="refresh" content="5">' in html
    assert "<script>" not in html
    assert "<b>°C" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html
    assert credentials.integration_id in html
    assert "sensor.t" in html
    assert "22.25 &lt;b&gt;°C&lt;/b&gt;" in html
    assert "2024-05-01T12:01:00.000000Z" in html
    assert "<polyline" in html
    assert "no data" in html  # the signal with only nulls
    assert credentials.password not in html
    assert credentials.client_secret not in html


async def test_page_without_integrations(
    session: aiohttp.ClientSession, emulator: ClarifyEmulator
) -> None:
    status, _, html = await get(session, emulator.base_url)
    assert status == 200
    assert "No integrations." in html


async def test_page_marks_revoked_integrations(
    session: aiohttp.ClientSession, emulator: ClarifyEmulator
) -> None:
    credentials = emulator.add_integration()
    emulator.revoke(credentials.integration_id)
    _, _, html = await get(session, emulator.base_url)
    assert "revoked" in html
    assert "No signals yet." in html


async def test_state_json(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    api: Api,
    credentials: IntegrationCredentials,
) -> None:
    await api.insert({"a": [2, 1]}, ["2024-05-01T12:00:00Z", "2024-05-01T12:00:00.5Z"])
    async with session.get(emulator.base_url + "api/state") as response:
        assert response.status == 200
        state = await response.json()
    integration = state["integrations"][credentials.integration_id]
    assert integration["name"] == "Home Assistant"
    assert integration["revoked"] is False
    signal = integration["signals"]["a"]
    assert signal["id"] == emulator.signals(credentials.integration_id)["a"].id
    assert signal["metadata"]["name"] == "a"
    assert signal["points"] == [
        ["2024-05-01T12:00:00.000000Z", 2.0],
        ["2024-05-01T12:00:00.500000Z", 1.0],
    ]
    assert credentials.password not in str(state)


def test_chart_scales_into_the_box() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    points = [(start, 0.0), (start + timedelta(minutes=1), 10.0)]
    svg = render_chart(points, step=False, title="t")
    # Lowest value at the bottom left, highest at the top right, 4 px margins.
    assert 'points="4.0,60.0 316.0,4.0"' in svg
    assert "<title>t: 0 to 10</title>" in svg


def test_enum_chart_draws_steps() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    points = [(start, 0.0), (start + timedelta(minutes=1), 1.0)]
    svg = render_chart(points, step=True, title="t")
    assert 'points="4.0,60.0 316.0,60.0 316.0,4.0"' in svg


def test_single_point_chart_is_a_dot() -> None:
    svg = render_chart([(datetime(2024, 1, 1, tzinfo=UTC), 5.0)], step=False, title="t")
    assert '<circle cx="160.0" cy="32.0"' in svg


def test_empty_chart() -> None:
    assert "no data" in render_chart([], step=False, title="t")
