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
from tools.realserver.logs import LogRecord

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


@dataclass(frozen=True, slots=True)
class KnownBug:
    """A bug of the integration this journey sees but does not own.

    The code under custom_components/ is another branch's work; a journey that
    sees one of these reports it (the stage ends "N passed, 1 xfailed") instead
    of failing, and says when it is no longer seen.
    """

    key: str
    summary: str
    log_pattern: re.Pattern[str] | None = None


# The integration's exporter removes its own one-time stop listener after
# Home Assistant has already removed it (it fired): every graceful stop logs
# an ERROR naming the exporter.
STOP_LISTENER: Final = KnownBug(
    "stop-listener",
    "exporter.py: on Home Assistant's stop, async_stop() calls the remover of"
    " its async_listen_once(EVENT_HOMEASSISTANT_STOP) listener, which has already"
    " fired; Home Assistant logs ERROR 'Unable to remove unknown job listener'",
    re.compile(r"Unable to remove unknown job listener.*ClarifyExporter"),
)
# round(last_updated_timestamp * 1e6) differs from the microseconds of
# last_updated for about 12% of real clock values (a float cannot hold them).
TIME_ROUNDING: Final = KnownBug(
    "time-rounding",
    "exporter.py: a reading's time is round(state.last_updated_timestamp *"
    " 1_000_000), which is 1 µs off the state's last_updated for about one"
    " state in eight",
)
# Changing an input key before the first send leaves the old key's metadata
# queued: saveSignals then creates an empty signal under the old key.
STALE_METADATA: Final = KnownBug(
    "stale-metadata",
    "exporter.py: _pending_metadata keeps the entry of an input key that is no"
    " longer mapped (_async_track never drops it), so an empty signal is created"
    " in Clarify under the old key after the key was changed",
)
KNOWN_BUGS: Final = (STOP_LISTENER, TIME_ROUNDING, STALE_METADATA)


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
    # What the browser reported, as (step, message).
    console_errors: list[tuple[str, str]] = field(default_factory=list)
    failed_requests: list[tuple[str, str]] = field(default_factory=list)
    known_bugs_seen: dict[str, list[str]] = field(default_factory=dict)

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
        """Fail on a log record that names this integration, unless a known bug."""
        report = self.installation.hass.log_report()
        unknown: list[LogRecord] = []
        for record in report.about_domain:
            bug = next(
                (
                    bug
                    for bug in KNOWN_BUGS
                    if bug.log_pattern and bug.log_pattern.search(record.text)
                ),
                None,
            )
            if bug is None:
                unknown.append(record)
            else:
                self.known_bug(
                    bug, f"{record.source} {record.time} {record.message[:60]}..."
                )
        assert not unknown, (
            "Home Assistant's log has errors naming this integration:\n"
            + "\n".join(record.text for record in unknown)
        )

    def known_bug(self, bug: KnownBug, evidence: str) -> None:
        """Note an occurrence of a known bug (reported at the journey's end)."""
        seen = self.known_bugs_seen.setdefault(bug.key, [])
        if evidence not in seen:
            seen.append(evidence)

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
        and time, or not. A time exactly 1 µs off with the right value is the
        known rounding bug: noted, not failed.
        """
        problems: list[str] = []
        for key, wanted in expected.items():
            got = dict(actual.get(key, {}))
            for moment, value in (optional or {}).get(key, {}).items():
                if got.get(moment) == value:
                    del got[moment]
            if got == wanted:
                continue
            if self._only_rounding(key, dict(wanted), got):
                continue
            problems.append(
                f"{key}: expected {sorted(wanted.items())}\n  got {sorted(got.items())}"
            )
        assert not problems, "Clarify's points differ:\n" + "\n".join(problems)

    def _only_rounding(
        self, key: str, wanted: dict[str, float], got: dict[str, float]
    ) -> bool:
        """Whether the only differences are times 1 µs off (the known bug)."""
        if len(wanted) != len(got):
            return False
        evidence: list[str] = []
        for (want_time, want_value), (got_time, got_value) in zip(
            sorted(wanted.items(), key=lambda item: item[0]),
            sorted(got.items(), key=lambda item: item[0]),
            strict=True,
        ):
            if want_value != got_value:
                return False
            if want_time != got_time:
                if abs(microseconds(want_time) - microseconds(got_time)) != 1:
                    return False
                evidence.append(f"{key}: state at {want_time}, sent as {got_time}")
        for line in evidence:
            self.known_bug(TIME_ROUNDING, line)
        return True


def state_value(state: Mapping[str, Any]) -> float:
    """What the integration sends for one of the journey's entities' states."""
    entity_id: str = state["entity_id"]
    if entity_id.startswith("input_boolean."):
        return {"off": 0.0, "on": 1.0}[state["state"]]
    if entity_id.startswith("input_select."):
        return float(state["attributes"]["options"].index(state["state"]))
    return float(state["state"])
