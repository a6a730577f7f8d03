"""A person sets up Clarify in a real Home Assistant 2026.11.0, in Chromium.

The steps run in order and build on each other (scripts/test runs them with
-x: after a failed step the rest would only fail for the same reason). States
change through the REST API, as automations would change them; what Clarify
stores is read from the emulator.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tools.realserver import (
    PASSWORD,
    USERNAME,
    EmulatorServer,
    HomeAssistantApiError,
    free_port,
    wait_for,
)

from . import ui
from .journey import Journey, clarify_time, state_value

LEVEL = "input_number.e2e_level"
PUMP = "input_boolean.e2e_pump"
MODE = "input_select.e2e_mode"
# The input key the person gives the tank level in the options.
LEVEL_KEY = "tank/level"
KEYS = {LEVEL: LEVEL_KEY, PUMP: PUMP, MODE: MODE}
# Each row changes all three entities. Rows are more than a second apart:
# Clarify keeps one reading per key and second, and so does the integration.
ROUNDS = (
    (12.5, "turn_on", "manual"),
    (250.0, "turn_off", "service"),
    (997.5, "turn_on", "auto"),
)
# Readings taken while Clarify is away, before and after a restart.
ROUNDS_WHILE_DOWN = ((300.0, "turn_off", "manual"), (301.5, "turn_on", "service"))
ROUND_GAP = 1.1
# Generous: sends wait for the send interval or a retry after a backoff.
DELIVERY_TIMEOUT = 120.0


def change_states(
    journey: Journey, rounds: tuple[tuple[float, str, str], ...]
) -> dict[str, dict[str, float]]:
    """Change the three entities through the REST API; the points Clarify should get."""
    api = journey.installation.api
    expected: dict[str, dict[str, float]] = {key: {} for key in KEYS.values()}
    for index, (level, pump, mode) in enumerate(rounds):
        if index:
            time.sleep(ROUND_GAP)
        api.call_service(
            "input_number", "set_value", {"entity_id": LEVEL, "value": level}
        )
        api.call_service("input_boolean", pump, {"entity_id": PUMP})
        api.call_service(
            "input_select", "select_option", {"entity_id": MODE, "option": mode}
        )
        for entity_id in KEYS:
            state = api.state(entity_id)
            expected[KEYS[entity_id]][clarify_time(state["last_updated"])] = (
                state_value(state)
            )
    return expected


def current_points(journey: Journey) -> dict[str, dict[str, float]]:
    """What Home Assistant would send right now if it saw each state anew."""
    points: dict[str, dict[str, float]] = {}
    for entity_id, key in KEYS.items():
        state = journey.installation.api.state(entity_id)
        points[key] = {clarify_time(state["last_updated"]): state_value(state)}
    return points


def wait_for_points(
    emulator: EmulatorServer, integration_id: str, expected: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """Wait until the emulator holds at least as many points as expected per key."""

    def arrived() -> dict[str, dict[str, float]] | None:
        try:
            points = emulator.points(integration_id)
        except KeyError:
            return None
        enough = all(
            len(points.get(key, {})) >= len(wanted) for key, wanted in expected.items()
        )
        return points if enough else None

    return wait_for(
        arrived, timeout=DELIVERY_TIMEOUT, what="the points to reach Clarify"
    )


def send_now(journey: Journey, *, fails: bool = False) -> None:
    """The integration's "Send now" action, as an automation would call it.

    An action that could not send fails, so the automation hears of it.
    """
    api = journey.installation.api
    if not fails:
        api.call_service("clarify", "flush", {})
        return
    # A request a second: a flush within a second of the last request finds
    # the next one scheduled, and says only that it is.
    time.sleep(1.1)
    with pytest.raises(HomeAssistantApiError) as failed:
        api.call_service("clarify", "flush", {})
    assert failed.value.status == 500
    # Translated, as an automation's trace shows it.
    assert "send" in failed.value.body
    journey.flush_failures += 1


def entry_row(journey: Journey, entry_id: str) -> Any:
    """The row of one entry on the integration's page."""
    title = journey.installation.api.config_entry(entry_id)["title"]
    return journey.page.locator("ha-config-entry-row").filter(has_text=title).first


def open_integration_page(journey: Journey) -> None:
    """Settings > Devices & services > Clarify."""
    ui.open_integrations(journey.page)
    journey.page.locator("ha-integration-card").filter(has_text="Clarify").first.click()
    journey.page.wait_for_url(f"**/integration/{'clarify'}**")


def open_options(journey: Journey, menu_option: str) -> None:
    """The gear ("Configure") of the basic-auth entry, then one of its menu options."""
    open_integration_page(journey)
    row = entry_row(journey, journey.entries["basic"])
    row.get_by_role("button", name="Configure").click()
    ui.click_text(journey.page, menu_option)


# ---------------------------------------------------------------------- steps


def test_log_in_through_the_login_form(journey: Journey) -> None:
    page = journey.page
    page.goto(journey.url)
    page.locator("input[name=username]").fill(USERNAME)
    page.locator("input[name=password]").fill(PASSWORD)
    journey.shot("login-form")
    page.keyboard.press("Enter")
    page.wait_for_url("**/home/**")
    page.locator("ha-sidebar").get_by_text("Settings", exact=True).wait_for()
    journey.checkpoint("logged-in")


def test_add_clarify_with_basic_auth_after_a_wrong_password(journey: Journey) -> None:
    page = journey.page
    emulator = journey.installation.emulator
    credentials = emulator.credentials
    ui.open_integrations(page)
    ui.start_adding(page, "Clarify")
    ui.wait_for_text(page, "Connect to Clarify")
    journey.shot("setup-menu")
    ui.click_text(page, "Enter the integration ID and password")
    ui.fill(page, "Integration ID", credentials["integration_id"])
    ui.fill(page, "Password", "not-the-password")
    ui.fill(page, "API URL", emulator.api_url)
    ui.click_button(page, "Submit")
    ui.wait_for_text(page, "Clarify did not accept these credentials.")
    journey.checkpoint("setup-wrong-password", docs_name="setup-wrong-password.png")

    # A secret is never handed back to the form: the person types it again.
    assert ui.field_value(page, "Password") == ""
    ui.fill(page, "Password", credentials["password"])
    ui.click_button(page, "Submit")
    ui.wait_for_text(page, "Name and assign")
    journey.shot("setup-name-and-assign")
    ui.click_button(page, "Skip and finish")
    page.get_by_text("Name and assign").wait_for(state="hidden")

    (entry,) = journey.installation.api.config_entries("clarify")
    assert entry["title"] == f"Clarify {credentials['integration_id']}"
    journey.entries["basic"] = entry["entry_id"]
    journey.installation.api.wait_for_entry_state(entry["entry_id"])
    journey.checkpoint("setup-basic-auth-done")


def test_add_a_second_clarify_integration_from_its_credentials_file(
    journey: Journey,
) -> None:
    page = journey.page
    second = journey.second_emulator
    # Finishing the first one opened its device's page.
    ui.open_integrations(page)
    ui.start_adding(page, "Clarify")
    ui.click_text(page, "Paste the credentials file")
    # The file names its own API URL (the second emulator's); the field stays empty.
    ui.fill(page, "Credentials file", second.credentials_file("client-credentials"))
    journey.shot("setup-credentials-file", docs_name="setup-credentials-file.png")
    ui.click_button(page, "Submit")
    ui.wait_for_text(page, "Name and assign")
    ui.click_button(page, "Skip and finish")
    page.get_by_text("Name and assign").wait_for(state="hidden")

    entries = journey.installation.api.config_entries("clarify")
    (entry,) = [e for e in entries if e["entry_id"] != journey.entries["basic"]]
    assert entry["title"] == f"Clarify {second.integration_id}"
    journey.entries["file"] = entry["entry_id"]
    journey.installation.api.wait_for_entry_state(entry["entry_id"])
    journey.checkpoint("setup-two-entries")


def test_choose_three_entities_with_the_entity_picker(journey: Journey) -> None:
    open_options(journey, "Choose the entities to send")
    ui.pick_entities(journey.page, ["Tank level", "Pump", "Mode"])
    journey.shot("options-entities", docs_name="options-entities.png")
    ui.click_button(journey.page, "Submit")
    ui.wait_for_text(journey.page, "Options successfully saved.")
    ui.click_button(journey.page, "Finish")
    journey.checkpoint("options-entities-saved")


def test_change_the_input_key_of_one_entity(journey: Journey) -> None:
    page = journey.page
    open_options(journey, "Change the input keys or attributes of an entity")
    ui.choose(page, "Entity", f"Tank level ({LEVEL}) → {LEVEL}")
    ui.click_button(page, "Submit")
    ui.wait_for_text(page, "Input keys and attributes")
    assert ui.field_value(page, "Input key") == LEVEL
    ui.fill(page, "Input key", LEVEL_KEY)
    journey.shot("options-input-key")
    ui.click_button(page, "Submit")
    ui.wait_for_text(page, "Options successfully saved.")
    ui.click_button(page, "Finish")
    journey.checkpoint("options-input-key-saved")


def test_change_the_send_interval(journey: Journey) -> None:
    page = journey.page
    open_options(
        journey,
        "Change how often readings are sent, how many may wait, and steady values",
    )
    assert ui.field_value(page, "Send interval") == "60"
    ui.fill(page, "Send interval", "10")
    journey.shot("options-send-interval")
    ui.click_button(page, "Submit")
    ui.wait_for_text(page, "Options successfully saved.")
    ui.click_button(page, "Finish")
    journey.checkpoint("options-send-interval-saved")


def test_state_changes_reach_clarify_exactly(journey: Journey) -> None:
    emulator = journey.installation.emulator
    integration = emulator.integration_id
    expected = change_states(journey, ROUNDS)
    send_now(journey)
    points = wait_for_points(emulator, integration, expected)
    journey.compare_points(expected, points)

    signals = emulator.signals()
    level, pump, mode = signals[LEVEL_KEY], signals[PUMP], signals[MODE]
    assert level["metadata"]["name"] == "Tank level"
    assert level["metadata"]["engUnit"] == "L"
    assert level["metadata"]["valueType"] == "numeric"
    assert level["metadata"]["annotations"]["home-assistant/entity-id"] == LEVEL
    assert pump["metadata"]["name"] == "Pump"
    assert pump["metadata"]["valueType"] == "enum"
    assert pump["metadata"]["enumValues"] == {"0": "off", "1": "on"}
    assert mode["metadata"]["name"] == "Mode"
    assert mode["metadata"]["valueType"] == "enum"
    assert mode["metadata"]["enumValues"] == {
        "0": "auto",
        "1": "manual",
        "2": "service",
    }
    # No signal under the key the tank level no longer uses.
    assert LEVEL not in signals

    journey.page.goto(emulator.base_url)
    journey.page.get_by_text(LEVEL_KEY, exact=True).wait_for()
    journey.checkpoint("emulator-page", docs_name="emulator-page.png")


def test_restart_while_clarify_is_down_keeps_the_backlog(journey: Journey) -> None:
    installation = journey.installation
    emulator, hass, api = installation.emulator, installation.hass, installation.api
    emulator.stop()
    before = change_states(journey, ROUNDS_WHILE_DOWN[:1])
    send_now(journey, fails=True)  # the readings stay buffered

    hass.restart()
    api.wait_until_running()
    api.wait_for_entry_state(journey.entries["basic"])
    # Each entity's state at the start may or may not reach Clarify (that
    # depends on whether the integration or the entity starts first), but
    # if it does, exactly.
    at_start = current_points(journey)
    time.sleep(ROUND_GAP)
    after = change_states(journey, ROUNDS_WHILE_DOWN[1:])

    # The emulator comes back empty, on the same port with the same credentials.
    emulator.start()
    expected = {key: before[key] | after[key] for key in before}
    points = wait_for_points(emulator, emulator.integration_id, expected)
    journey.compare_points(expected, points, optional=at_start)

    journey.page.goto(f"{journey.url}/config/integrations/integration/clarify")
    entry_row(journey, journey.entries["basic"]).wait_for()
    journey.checkpoint("after-restart")


def test_reauthenticate_after_clarify_revokes_the_password(journey: Journey) -> None:
    page = journey.page
    emulator = journey.installation.emulator
    api = journey.installation.api
    stored = emulator.points()
    emulator.revoke()
    pending = change_states(journey, ((42.0, "turn_off", "auto"),))
    # Refused: Home Assistant asks the person for credentials.
    send_now(journey, fails=True)

    open_integration_page(journey)
    # Home Assistant lists the entry under "Needs attention".
    ui.click_button(page, "Reconfigure")
    ui.wait_for_text(page, "Clarify needs new credentials")
    journey.shot("reauth-menu")
    ui.click_text(page, "Enter the integration ID and password")
    assert ui.field_value(page, "Integration ID") == emulator.integration_id
    ui.fill(page, "Password", emulator.credentials["password"])
    ui.click_button(page, "Submit")
    # Still revoked: Clarify refuses, and the form says so.
    ui.wait_for_text(page, "Clarify did not accept these credentials.")
    journey.shot("reauth-refused")
    emulator.restore()
    ui.fill(page, "Password", emulator.credentials["password"])
    ui.click_button(page, "Submit")
    ui.wait_for_text(page, "The new credentials work. Sending resumes.")
    journey.shot("reauth-done")
    ui.click_button(page, "Close")

    # The readings taken while the credentials were refused arrive now.
    api.wait_for_entry_state(journey.entries["basic"])
    send_now(journey)
    expected = {key: stored.get(key, {}) | pending[key] for key in pending}
    points = wait_for_points(emulator, emulator.integration_id, expected)
    journey.compare_points(expected, points)
    journey.checkpoint("reauth-delivered")


def test_reconfigure_the_api_url(journey: Journey) -> None:
    page = journey.page
    emulator = journey.installation.emulator
    api = journey.installation.api
    # Clarify moves: the emulator comes back at another address.
    emulator.stop()
    emulator.port = free_port()
    emulator.start()

    open_integration_page(journey)
    entry_row(journey, journey.entries["basic"]).get_by_role(
        "button", name="Menu"
    ).first.click()
    page.get_by_role("menuitem", name="Reconfigure").click()
    ui.wait_for_text(page, "Change the Clarify connection")
    ui.click_text(page, "Enter the integration ID and password")
    ui.fill(page, "Password", emulator.credentials["password"])
    ui.fill(page, "API URL", emulator.api_url)
    journey.shot("reconfigure")
    ui.click_button(page, "Submit")
    ui.wait_for_text(page, "The Clarify connection was changed.")
    ui.click_button(page, "Close")

    api.wait_for_entry_state(journey.entries["basic"])
    expected = change_states(journey, ((64.0, "turn_on", "manual"),))
    send_now(journey)
    points = wait_for_points(emulator, emulator.integration_id, expected)
    journey.compare_points(expected, points)
    journey.checkpoint("reconfigured-delivered")


def test_the_status_device_shows_the_connection(journey: Journey) -> None:
    page = journey.page
    open_integration_page(journey)
    title = journey.installation.api.config_entry(journey.entries["basic"])["title"]
    # The entry's service device is the second thing with the entry's title.
    page.get_by_text(title, exact=True).last.click()
    page.wait_for_url("**/config/devices/device/**")
    # Sent readings is disabled by default (it changes with every send).
    for name in ("Connection", "Buffered readings", "Refused readings", "Last sent"):
        ui.wait_for_text(page, name)
    ui.wait_for_text(page, "Connected")
    journey.checkpoint("status-device", docs_name="status-device.png")


def test_no_errors_of_this_integration_anywhere(journey: Journey) -> None:
    """The whole log (stop included), the page's texts and the browser console."""
    journey.installation.hass.stop()
    journey.check_log()
