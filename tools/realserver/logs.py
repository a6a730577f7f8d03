"""Read Home Assistant's log file: records, and the problems among them.

A problem is an ERROR or CRITICAL record, or any record that carries a
traceback. Problems that name the integration under test fail a test; the
others (Home Assistant's own, on a machine without ffmpeg) are reported.
Records of any level that show a request beyond 127.0.0.1 are collected apart:
no test may send one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
import re
from typing import Final

# "2026-12-02 03:58:58.219+00:00 ERROR (MainThread) [haffmpeg.core] FFmpeg fails"
_RECORD: Final = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d)?) "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"\((?P<thread>[^)]*)\) \[(?P<logger>[^\]]*)\] (?P<message>.*)$"
)
_TRACEBACK: Final = "Traceback (most recent call last)"
# Signs of a request beyond 127.0.0.1: a failed name lookup (the loopback
# address needs none), or a failed connection to another host (aiohttp's
# words). met's "Access to https://api.met.no/... returned error
# 'ClientConnectorDNSError'" is one; a request that succeeds leaves no sign.
_OUTSIDE: Final = re.compile(
    r"ClientConnectorDNSError|Temporary failure in name resolution"
    r"|Name or service not known|No address associated with hostname"
    r"|Domain name not found"
    r"|Cannot connect to host (?!(?:127\.0\.0\.1|localhost|\[::1\]):)"
)


@dataclass(slots=True)
class LogRecord:
    """One record: its first line's fields and every line that follows it."""

    time: str
    level: str
    thread: str
    logger: str
    message: str
    more: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def text(self) -> str:
        """The whole record as it stands in the file."""
        first = (
            f"{self.time} {self.level} ({self.thread}) [{self.logger}] {self.message}"
        )
        return "\n".join([first, *self.more])

    @property
    def is_problem(self) -> bool:
        """An error, or anything with a traceback."""
        return self.level in ("ERROR", "CRITICAL") or any(
            _TRACEBACK in line for line in self.more
        )

    @property
    def reaches_outside(self) -> bool:
        """Whether it shows a request beyond 127.0.0.1 (one that failed)."""
        return _OUTSIDE.search(self.text) is not None

    def names(self, domain: str) -> bool:
        """Whether the record is about an integration: its logger, a word, a path."""
        if self.logger.startswith((f"custom_components.{domain}", f"{domain}.")):
            return True
        return (
            re.search(rf"\b{re.escape(domain)}\b", self.text, re.IGNORECASE) is not None
        )


def parse_log(text: str, source: str = "") -> list[LogRecord]:
    """Split a log into records (lines before the first record are dropped)."""
    records: list[LogRecord] = []
    for line in text.splitlines():
        if match := _RECORD.match(line):
            records.append(
                LogRecord(
                    match["time"],
                    match["level"],
                    match["thread"],
                    match["logger"],
                    match["message"],
                    source=source,
                )
            )
        elif records:
            records[-1].more.append(line)
    return records


@dataclass(slots=True)
class LogReport:
    """The problems in one or more log files, split by whether they name `domain`.

    And, apart, the records of any level that show a request beyond 127.0.0.1.
    """

    domain: str
    about_domain: list[LogRecord] = field(default_factory=list)
    others: list[LogRecord] = field(default_factory=list)
    outside: list[LogRecord] = field(default_factory=list)

    @classmethod
    def from_files(cls, paths: Iterable[Path], domain: str) -> LogReport:
        """Read the files (missing ones count as empty)."""
        report = cls(domain)
        for path in paths:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                continue
            for record in parse_log(text, source=path.name):
                if record.reaches_outside:
                    report.outside.append(record)
                if not record.is_problem:
                    continue
                if record.names(domain):
                    report.about_domain.append(record)
                else:
                    report.others.append(record)
        return report

    def summary(self, *, limit: int = 20) -> str:
        """The problems naming the domain in full, then the others' first lines.

        Then the records that show a request beyond 127.0.0.1, in full.
        """
        parts: list[str] = []
        for title, records, whole in (
            (f"problems naming {self.domain}", self.about_domain, True),
            ("other problems (not this integration's)", self.others, False),
            ("records of requests beyond 127.0.0.1", self.outside, True),
        ):
            if not records:
                continue
            parts.append(f"{len(records)} {title}:")
            for record in records[:limit]:
                text = record.text if whole else record.text.split("\n", 1)[0]
                parts.append(f"  [{record.source}] {text}".replace("\n", "\n    "))
            if len(records) > limit:
                parts.append(f"  ... and {len(records) - limit} more")
        return "\n".join(parts) or "no problems"

    def other_loggers(self) -> list[str]:
        """Which loggers the other problems came from, each once."""
        return sorted({record.logger for record in self.others})
