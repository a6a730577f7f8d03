"""Reading Home Assistant's log: records, problems, and whose they are."""

from pathlib import Path
import re

import pytest

from tools.realserver import HomeAssistantServer
from tools.realserver.logs import LogReport, parse_log

LOG = """\
2026-12-02 03:58:52.307+00:00 WARNING (SyncWorker_0) [homeassistant.loader] We found a custom integration clarify which has not been tested
2026-12-02 03:58:58.219+00:00 ERROR (MainThread) [haffmpeg.core] FFmpeg fails
Traceback (most recent call last):
  File "/opt/env/haffmpeg/core.py", line 130, in open
FileNotFoundError: [Errno 2] No such file or directory: 'ffmpeg'
2026-12-02 03:59:00.000+00:00 DEBUG (MainThread) [custom_components.clarify.api] Clarify integration.insert failed: HTTP 401
2026-12-02 03:59:01.000+00:00 ERROR (MainThread) [custom_components.clarify.exporter] Unexpected answer
2026-12-02 03:59:02.000+00:00 WARNING (MainThread) [homeassistant.core] Error doing job
Traceback (most recent call last):
  File "/config/custom_components/clarify/exporter.py", line 1, in f
ValueError: boom
2026-12-02 03:59:03.000+00:00 ERROR (MainThread) [homeassistant.core] Unable to remove listener <Job custom_components.clarify.exporter:x>
2026-12-02 03:59:04.000+00:00 ERROR (MainThread) [metno] Access to https://api.met.no/weatherapi/locationforecast/2.0/complete returned error 'ClientConnectorDNSError'
2026-12-02 03:59:05.000+00:00 DEBUG (MainThread) [custom_components.clarify.api] Clarify is unreachable: Cannot connect to host 127.0.0.1:8124 ssl:default [Connect call failed ('127.0.0.1', 8124)]
"""


def test_records_keep_their_continuation_lines() -> None:
    records = parse_log("junk before the first record\n" + LOG, source="x.log")
    assert [record.level for record in records] == [
        "WARNING",
        "ERROR",
        "DEBUG",
        "ERROR",
        "WARNING",
        "ERROR",
        "ERROR",
        "DEBUG",
    ]
    ffmpeg = records[1]
    assert ffmpeg.logger == "haffmpeg.core"
    assert ffmpeg.thread == "MainThread"
    assert ffmpeg.more[-1].startswith("FileNotFoundError")
    assert ffmpeg.text.splitlines()[0].endswith("FFmpeg fails")
    assert ffmpeg.source == "x.log"


def test_problems_are_errors_and_tracebacks_split_by_domain(tmp_path: Path) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_text(LOG, encoding="utf-8")
    report = LogReport.from_files([first, second], "clarify")  # b.log is missing
    # Its own error, a traceback through its code at WARNING, and an error
    # from Home Assistant that names it; not the DEBUG line nor the warning
    # that merely mentions the word in passing... which it does name.
    assert [record.message for record in report.about_domain] == [
        "Unexpected answer",
        "Error doing job",
        "Unable to remove listener <Job custom_components.clarify.exporter:x>",
    ]
    assert report.other_loggers() == ["haffmpeg.core", "metno"]
    # Apart, at any level: met's failed lookup, not Clarify's failed connection
    # to the emulator on 127.0.0.1.
    assert [record.logger for record in report.outside] == ["metno"]
    summary = report.summary()
    assert summary.startswith("3 problems naming clarify:")
    # Others are listed by their first line only.
    assert "FileNotFoundError" not in summary
    assert "2 other problems" in summary


def test_requests_beyond_the_loopback_address_are_found_at_any_level() -> None:
    # A failed name lookup, or a failed connection to a host that is not
    # 127.0.0.1; the integration failing to reach the emulator is neither.
    lines = [
        "[metno] Access to https://api.met.no/ returned error 'ClientConnectorDNSError'",
        "[radios] Cannot connect to host all.api.radio-browser.info:443 ssl:default",
        "[aiohttp] [Errno -3] Temporary failure in name resolution",
        "[clarify] Cannot connect to host 127.0.0.1:8124 ssl:default",
        "[clarify] Cannot connect to host localhost:8124 ssl:default",
    ]
    records = parse_log(
        "\n".join(
            f"2026-12-02 03:59:04.000+00:00 WARNING (MainThread) {line}"
            for line in lines
        )
    )
    assert [record.reaches_outside for record in records] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_a_server_log_check_fails_on_requests_beyond_the_loopback_address(
    tmp_path: Path,
) -> None:
    server = HomeAssistantServer(tmp_path, port=8123)
    server.runs = 1
    log = tmp_path / "home-assistant.1.log"
    log.write_text(LOG, encoding="utf-8")
    with pytest.raises(AssertionError, match=r"beyond 127\.0\.0\.1:\n.*\[metno\]"):
        server.assert_stayed_on_loopback()
    log.write_text(LOG.replace("ClientConnectorDNSError", "HTTP 500"), encoding="utf-8")
    assert server.assert_stayed_on_loopback().outside == []


def test_a_clean_log() -> None:
    report = LogReport("clarify")
    assert report.summary() == "no problems"


def test_a_server_log_check_lets_known_records_through(tmp_path: Path) -> None:
    server = HomeAssistantServer(tmp_path, port=8123)
    server.runs = 1  # as after one start
    (tmp_path / "home-assistant.1.log").write_text(LOG, encoding="utf-8")
    with pytest.raises(AssertionError, match="3 problems naming clarify"):
        server.assert_log_clean()
    report = server.assert_log_clean(
        allow=[re.compile("Unexpected answer|Error doing job|Unable to remove")]
    )
    assert report.about_domain == []
    assert len(report.others) == 2
