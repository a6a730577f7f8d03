"""How often each signal gets a reading, over the last hour.

Clarify asks for an average of at most one reading a minute per signal. This
counts the readings Clarify confirmed per input key, minute by minute (so
nothing is added to the state-change path), for diagnostics to name the
signals above that average.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from .buffer import Readings

# The hour the average is over, in minutes.
WINDOW_MINUTES: Final = 60


class RateWatch:
    """Readings per input key per minute, for the last hour."""

    def __init__(self) -> None:
        """Start with nothing counted."""
        # Per key: (minute, readings in it), oldest first.
        self._minutes: dict[str, deque[tuple[int, int]]] = {}

    def add(self, minute: int, appended: list[Readings]) -> None:
        """Count readings delivered in `minute` (minutes since the epoch)."""
        for readings in appended:
            counts = self._minutes.setdefault(readings.key, deque())
            if counts and counts[-1][0] == minute:
                counts[-1] = (minute, counts[-1][1] + len(readings.times))
            else:
                counts.append((minute, len(readings.times)))
            while counts and counts[0][0] <= minute - WINDOW_MINUTES:
                counts.popleft()

    def above_one_a_minute(self, minute: int) -> dict[str, float]:
        """The keys above one reading a minute on average over the last hour."""
        result: dict[str, float] = {}
        for key, counts in self._minutes.items():
            total = sum(count for at, count in counts if at > minute - WINDOW_MINUTES)
            if total > WINDOW_MINUTES:
                result[key] = round(total / WINDOW_MINUTES, 2)
        return dict(sorted(result.items()))
