"""A real installation for a test: the emulator, Home Assistant, an owner.

    with RealInstallation(tmp_path, configuration) as installation:
        api = installation.api                   # logged-in REST client
        entry = installation.add_clarify()       # through the config flow
        installation.hass.kill()                 # SIGKILL Home Assistant itself
        installation.hass.start()
        installation.emulator.stop(); installation.emulator.start()
        installation.hass.assert_log_clean()

On leaving the block both servers stop gracefully (Home Assistant first, so
that its last send still finds the emulator) and the logs are checked. Home
Assistant may hold config entries of this integration only, besides a few of
its own (HOME_ASSISTANT_ENTRIES; onboarding sets up none, the Marketplace is
disabled: see onboarding_store.py and entries_store.py), and nothing may send
a request beyond 127.0.0.1: the entries are checked after the start and on
leaving, the logs on leaving.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
import re
from types import TracebackType
from typing import Any, Final, Self

from .client import HomeAssistantClient
from .servers import DOMAIN, EmulatorServer, HomeAssistantServer

USERNAME: Final = "tester"
PASSWORD: Final = "clarify-e2e-password"  # noqa: S105  # a throw-away local owner

# What a test installation needs at least: the frontend (which brings the
# config panels and the API) and the logger settings. default_config is left
# out: it sets up much that needs the internet or hardware.
BASE_CONFIGURATION: Final = """\
homeassistant:
  name: Clarify test
  unit_system: metric
  time_zone: UTC
  country: "NO"
  currency: NOK
  latitude: 63.43
  longitude: 10.39
  elevation: 10

frontend:

logger:
  default: warning
  logs:
    custom_components.clarify: debug
"""

# The config entries Home Assistant 2026.11 gives default integrations of its
# own at every start (source "system") that keep to this machine: analytics
# sends nothing until someone opts in, and backup writes to the disk. The
# Marketplace's entry is there too, disabled before the first start: it would
# fetch its catalog from the internet (see entries_store.py).
HOME_ASSISTANT_ENTRIES: Final = frozenset({"analytics", "backup"})


class RealInstallation:
    """The emulator and an onboarded Home Assistant in `run_dir`."""

    def __init__(
        self,
        run_dir: Path,
        configuration: str = BASE_CONFIGURATION,
        *,
        emulator_environment: str | None = None,
        check_log_on_exit: bool = True,
        log_allow: Iterable[re.Pattern[str]] = (),
    ) -> None:
        """Describe the installation; entering the `with` block starts it.

        On leaving the block the logs are checked (`check_log_on_exit`),
        letting through records that a `log_allow` pattern finds.
        """
        self.run_dir = run_dir.resolve()
        self.configuration = configuration
        self.emulator = EmulatorServer(
            self.run_dir / "emulator", environment=emulator_environment
        )
        self.hass = HomeAssistantServer(self.run_dir / "config")
        self.api: HomeAssistantClient = self.hass.client()
        self.check_log_on_exit = check_log_on_exit
        self.log_allow = list(log_allow)

    def start(self) -> None:
        """Start both servers and onboard Home Assistant (or log in again)."""
        self.emulator.start()
        fresh = not (self.hass.config_dir / ".storage" / "onboarding").exists()
        if fresh:
            self.hass.install(self.configuration)
        self.hass.start()
        if fresh or not self.api.is_onboarded():
            self.api.onboard(USERNAME, PASSWORD)
        else:
            self.api.log_in(USERNAME, PASSWORD)
        self.api.wait_until_running()
        self.assert_only_own_entries()

    def assert_only_own_entries(self) -> None:
        """Fail if Home Assistant holds a config entry of another integration.

        The tests add only this one; another was set up by Home Assistant
        itself (as onboarding sets up a weather forecast), and may reach
        beyond 127.0.0.1. Let through: Home Assistant's own entries of
        HOME_ASSISTANT_ENTRIES, and disabled entries (never set up).
        """
        others = sorted(
            f"{entry['domain']} ({entry['source']}, {entry['state']})"
            for entry in self.api.config_entries()
            if entry["domain"] != DOMAIN
            and not entry["disabled_by"]
            and not (
                entry["domain"] in HOME_ASSISTANT_ENTRIES
                and entry["source"] == "system"
            )
        )
        if others:
            raise AssertionError(
                "Home Assistant set up integrations no test added: " + ", ".join(others)
            )

    def stop(self) -> None:
        """Stop Home Assistant, then the emulator (both gracefully)."""
        try:
            self.hass.stop()
        finally:
            self.emulator.stop()

    def __enter__(self) -> Self:
        """Start; on a failure to start, stop what did."""
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop, and check the entries and the logs unless the block already failed.

        The entries are checked only if Home Assistant still runs; the logs
        always for requests beyond 127.0.0.1, and for this integration's
        errors if `check_log_on_exit`.
        """
        try:
            if exc_type is None and self.hass.running:
                self.assert_only_own_entries()
        finally:
            self.stop()
        if exc_type is None:
            self.hass.assert_stayed_on_loopback()
            if self.check_log_on_exit:
                self.hass.assert_log_clean(allow=self.log_allow)

    def add_clarify(self, *, credentials_file: bool = False) -> dict[str, Any]:
        """Add the integration for the emulator's integration through the REST config flow.

        Returns the created entry (as the flow's result describes it).
        """
        credentials = self.emulator.credentials
        if credentials_file:
            step = {"next_step_id": "credentials_file"}
            answer: dict[str, Any] = {
                "credentials_file": self.emulator.credentials_file(),
                "api_url": self.emulator.api_url,
            }
        else:
            step = {"next_step_id": "basic_auth"}
            answer = {
                "integration_id": credentials["integration_id"],
                "secret": credentials["password"],
                "api_url": self.emulator.api_url,
            }
        result = self.api.config_flow(DOMAIN, step, answer)
        if result.get("type") != "create_entry":
            raise AssertionError(f"adding Clarify failed: {result}")
        entry: dict[str, Any] = result["result"]
        return entry
