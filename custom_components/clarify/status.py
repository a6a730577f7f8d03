"""What the exporter has done so far, for status entities, repairs and diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class SetAsideSeries:
    """Readings of one input key that Clarify refused, kept on disk to resend."""

    count: int
    reason: str
    # The registry id of the entity that fed the key, so the readings can
    # follow it to a new input key.
    entity: str | None = None


@dataclass(slots=True)
class ExporterStatus:
    """Counters and the latest outcome; written by the exporter's parts, read by views."""

    connected: bool | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    sent_readings: int = 0
    skipped_readings: int = 0
    requests: int = 0
    failed_requests: int = 0
    auth_failed: bool = False
    # Per input key: readings Clarify refused, kept until the user resends them.
    set_aside: dict[str, SetAsideSeries] = field(default_factory=dict)

    @property
    def set_aside_readings(self) -> int:
        """How many refused readings wait to be sent again."""
        return sum(series.count for series in self.set_aside.values())
