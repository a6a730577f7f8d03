"""The journey's servers and browser, and what a failed step prints."""

from __future__ import annotations

from collections.abc import Generator, Iterator
import shutil

from playwright.sync_api import sync_playwright
import pytest

from tools.realserver import EmulatorServer, RealInstallation

from . import ui
from .journey import ARTEFACTS, CONFIGURATION, Journey

_JOURNEY = pytest.StashKey[Journey]()


@pytest.fixture(scope="session")
def journey(request: pytest.FixtureRequest) -> Iterator[Journey]:
    """Start everything once; the steps run in order against it."""
    run_dir = ARTEFACTS.resolve()
    shutil.rmtree(run_dir, ignore_errors=True)
    screenshots = run_dir / "screenshots"
    screenshots.mkdir(parents=True)
    installation = RealInstallation(run_dir, CONFIGURATION, check_log_on_exit=False)
    second = EmulatorServer(run_dir / "second-emulator")
    with installation, sync_playwright() as playwright:
        second.start()
        browser = playwright.chromium.launch(
            executable_path=ui.CHROMIUM, args=list(ui.CHROMIUM_ARGS)
        )
        page = browser.new_page(viewport=ui.VIEWPORT)  # type: ignore[arg-type]
        # Home Assistant's dialogs wait on the server; a slow machine gets time.
        page.set_default_timeout(60_000)
        started = Journey(installation, second, browser, page, screenshots)
        request.config.stash[_JOURNEY] = started
        try:
            yield started
        finally:
            browser.close()
            second.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed step: the step, a screenshot of the moment, the log's tail."""
    report = yield
    journey = item.funcargs.get("journey") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and isinstance(journey, Journey):
        try:
            path = journey.shot(f"FAILED-{item.name}")
        except Exception as err:  # noqa: BLE001  # the report matters more
            path_text = f"(no screenshot: {err})"
        else:
            path_text = str(path)
        hass = journey.installation.hass
        text = (
            f"step: {item.name}\nscreenshot: {path_text}\n"
            f"Home Assistant's log ({hass.log_file}) ends:\n{hass.log_tail(40)}\n\n"
            f"{hass.log_report().summary(limit=10)}"
        )
        report.sections.append(("end-to-end step", text))
    return report


@pytest.fixture(autouse=True)
def current_step(request: pytest.FixtureRequest, journey: Journey) -> None:
    """Tag what the browser reports with the step it happened in."""
    journey.step = request.node.name


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """What else Home Assistant's log said (not this integration's), and where it is."""
    journey = config.stash.get(_JOURNEY, None)
    if journey is None:
        return
    hass = journey.installation.hass
    report = hass.log_report()
    terminalreporter.write_sep("-", "Home Assistant's log, besides this integration")
    terminalreporter.write_line(
        "\n".join(
            f"[{record.source}] {record.time} {record.level} [{record.logger}]"
            f" {record.message[:100]}"
            for record in report.others
        )
        or "no other errors"
    )
    terminalreporter.write_line(
        f"logs: {hass.config_dir}/home-assistant.*.log;"
        f" screenshots: {journey.screenshots}"
    )
