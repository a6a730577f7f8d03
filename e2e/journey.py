"""The state one end-to-end journey carries from step to step.

A journey is one real installation (the emulator and Home Assistant
2026.11.0 as processes), a second emulator (a second Clarify integration), and
one Chromium page acting as a person. Every step ends at a checkpoint: a
screenshot, and the checks that hold at any moment (no raw translation keys
of this integration on the page, no error of this integration in the log or
in the browser).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
import os
from pathlib import Path
import re
import shutil
from typing import Any, Final

from playwright.sync_api import Browser, ConsoleMessage, Page, Response

from tools.realserver import EmulatorServer, RealInstallation

from . import ui

DOMAIN: Final = "clarify"
# Where a developer finds the journey's artefacts (git ignores .cache/).
ARTEFACTS: Final = Path(".cache") / "e2e"
# Set to a directory (docs/images) to copy the README's screenshots there.
DOCS_IMAGES_VARIABLE: Final = "CLARIFY_E2E_DOCS_IMAGES"

CONFIGURATION: Final = """\
homeassistant:
  name: Clarify end-to-end
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

input_number:
  e2e_level:
    name: Tank level
    min: 0
    max: 1000
    step: 0.5
    mode: box
    unit_of_measurement: L

input_boolean:
  e2e_pump:
    name: Pump

input_select:
  e2e_mode:
    name: Mode
    options: [auto, manual, service]
"""


# Home Assistant's API logs an action that failed, with its translated message.
_FLUSH_FAILED: Final = re.compile(
    r"Error during service call to clarify\.flush: .*(could not send|cannot send)"
)


def clarify_time(moment: str) -> str:
    """A state's ISO time as Clarify (the emulator) writes it, to the microsecond."""
    return datetime.fromisoformat(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def microseconds(moment: str) -> int:
    """An emulator time as whole microseconds since the epoch."""
    parsed = datetime.fromisoformat(moment)
    return int(parsed.timestamp()) * 1_000_000 + parsed.microsecond


@dataclass
class Journey:
    """Everything the steps share."""

    installation: RealInstallation
    second_emulator: EmulatorServer
    browser: Browser
    page: Page
    screenshots: Path
    shot_count: int = 0
    last_screenshot: Path | None = None
    step: str = ""
    # Entry IDs by how they were added ("basic", "file").
    entries: dict[str, str] = field(default_factory=dict)
    # How many flush actions the journey made that were to fail.
    flush_failures: int = 0
    # What the browser reported, as (step, message).
    console_errors: list[tuple[str, str]] = field(default_factory=list)
    failed_requests: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Listen to the browser from the start."""
        self.page.on("console", self._on_console)
        self.page.on("response", self._on_response)

    @property
    def url(self) -> str:
        """Home Assistant's URL."""
        return self.installation.hass.url

    # ------------------------------------------------------------------ browser

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append((self.step, message.text))

    def _on_response(self, response: Response) -> None:
        # Other integrations' brand icons come from the internet: 404 here.
        if response.status >= 400:
            url = response.url.split("?")[0]
            self.failed_requests.append((self.step, f"HTTP {response.status} {url}"))

    def shot(self, name: str, *, docs_name: str | None = None) -> Path:
        """Save a screenshot of the page; copy it for the README if asked to."""
        self.shot_count += 1
        path = self.screenshots / f"{self.shot_count:02d}-{name}.png"
        # Transitions finished: a field's label floats before it is captured.
        self.page.screenshot(path=str(path), animations="disabled")
        self.last_screenshot = path
        docs = os.environ.get(DOCS_IMAGES_VARIABLE)
        if docs and docs_name:
            Path(docs).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(docs) / docs_name)
        return path

    def checkpoint(self, name: str, *, docs_name: str | None = None) -> None:
        """End a step: a screenshot, then what must hold at any moment."""
        self.shot(name, docs_name=docs_name)
        raw = ui.raw_translation_keys(self.page)
        assert not raw, f"raw translation keys of {DOMAIN} on the page: {raw}"
        ours = [
            f"[{step}] {message}"
            for step, message in self.console_errors + self.failed_requests
            if DOMAIN in message.lower()
        ]
        assert not ours, "the browser reported errors about this integration:\n" + (
            "\n".join(ours)
        )
        self.check_log()

    # ------------------------------------------------------------------ log

    def check_log(self) -> None:
        """Fail on a log record that names this integration.

        The flush actions the journey made fail on purpose (Clarify down or
        refusing the credentials) are logged by Home Assistant's API as errors:
        those, and only as many, are expected, with the translated message.
        """
        report = self.installation.hass.log_report()
        flush_failures = [
            record
            for record in report.about_domain
            if _FLUSH_FAILED.search(record.text)
        ]
        assert len(flush_failures) == self.flush_failures, flush_failures
        unexpected = [r for r in report.about_domain if r not in flush_failures]
        assert not unexpected, (
            "Home Assistant's log has errors naming this integration:\n"
            + "\n".join(record.text for record in unexpected)
        )

    # ------------------------------------------------------------------ data

    def compare_points(
        self,
        expected: Mapping[str, Mapping[str, float]],
        actual: Mapping[str, Mapping[str, float]],
        *,
        optional: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        """Assert Clarify stored exactly the expected points for each key.

        `optional` points (a state at Home Assistant's start, which the
        integration may or may not see) may be there, with exactly their value
        and time, or not. Times must match to the microsecond.
        """
        problems: list[str] = []
        for key, wanted in expected.items():
            got = dict(actual.get(key, {}))
            for moment, value in (optional or {}).get(key, {}).items():
                if got.get(moment) == value:
                    del got[moment]
            if got != wanted:
                problems.append(
                    f"{key}: expected {sorted(wanted.items())}\n  got {sorted(got.items())}"
                )
        assert not problems, "Clarify's points differ:\n" + "\n".join(problems)


def state_value(state: Mapping[str, Any]) -> float:
    """What the integration sends for one of the journey's entities' states."""
    entity_id: str = state["entity_id"]
    if entity_id.startswith("input_boolean."):
        return {"off": 0.0, "on": 1.0}[state["state"]]
    if entity_id.startswith("input_select."):
        return float(state["attributes"]["options"].index(state["state"]))
    return float(state["state"])
