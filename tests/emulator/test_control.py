"""The HTTP controls that tests running the emulator as a process use."""

import aiohttp

from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials

from .helpers import Api


async def control(
    session: aiohttp.ClientSession, emulator: ClarifyEmulator, path: str
) -> tuple[int, object]:
    async with session.post(emulator.base_url + path) as response:
        body = (
            await response.json()
            if response.content_type == "application/json"
            else await response.text()
        )
        return response.status, body


async def test_revoke_and_restore_over_http(
    session: aiohttp.ClientSession,
    emulator: ClarifyEmulator,
    credentials: IntegrationCredentials,
    api: Api,
) -> None:
    integration = credentials.integration_id
    status, body = await control(
        session, emulator, f"api/integrations/{integration}/revoke"
    )
    assert (status, body) == (200, {"integration": integration, "revoked": True})
    assert (await api.insert({"k": [1, 2]})).status == 401
    assert (await api.token()).status == 401
    status, body = await control(
        session, emulator, f"api/integrations/{integration}/restore"
    )
    assert (status, body) == (200, {"integration": integration, "revoked": False})
    assert (await api.insert({"k": [1, 2]})).status == 200


async def test_controls_of_an_unknown_integration_or_action(
    session: aiohttp.ClientSession, emulator: ClarifyEmulator
) -> None:
    status, _ = await control(
        session, emulator, "api/integrations/c0ffee0000000000000v/revoke"
    )
    assert status == 404
    emulator.add_integration("c0ffee0000000000000v")
    status, _ = await control(
        session, emulator, "api/integrations/c0ffee0000000000000v/delete"
    )
    assert status == 404
