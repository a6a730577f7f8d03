"""The reliability suite's report and its scan of every log record for secrets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
import logging
import traceback

import pytest

from tools.clarify_emulator import ClarifyEmulator, IntegrationCredentials


@dataclass
class ScenarioReport:
    """What one scenario produced, and what became of it."""

    scenario: str
    produced: int = 0
    delivered: int = 0
    # Refused by Clarify and kept for a resend.
    set_aside: int = 0
    # Dropped, oldest first, by a full buffer.
    dropped: int = 0
    lost: int = 0
    requests: int = 0
    peak_buffer: int = 0


_REPORTS: list[ScenarioReport] = []


@pytest.fixture
def report(request: pytest.FixtureRequest) -> ScenarioReport:
    """A row of the table printed at the end of the run."""
    row = ScenarioReport(request.node.name.removeprefix("test_"))
    _REPORTS.append(row)
    return row


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print one row per scenario that ran."""
    if not _REPORTS:
        return
    names = [field.name for field in fields(ScenarioReport)]
    terminalreporter.section("reliability scenarios")
    terminalreporter.write_line(" | ".join(names))
    for row in _REPORTS:
        terminalreporter.write_line(
            " | ".join(str(getattr(row, name)) for name in names)
        )


@pytest.fixture(autouse=True)
def no_secret_in_logs(
    caplog: pytest.LogCaptureFixture,
    emulator: ClarifyEmulator,
    integration: IntegrationCredentials,
) -> Iterator[None]:
    """Scenario 8: neither a secret nor a token appears in any log record."""
    caplog.set_level(logging.DEBUG)
    yield
    secrets = {
        integration.password,
        integration.client_secret,
        *emulator.issued_tokens,
    }
    records = caplog.get_records("setup") + caplog.get_records("call")
    assert records, "nothing was logged: the scan would prove nothing"
    for record in records:
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        for secret in secrets:
            assert secret not in text, f"a secret is in a log record of {record.name}"
