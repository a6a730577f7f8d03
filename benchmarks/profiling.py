"""Where time goes: pyinstrument sessions boiled down to their top frames.

pyinstrument (a sampling profiler from PyPI) is installed only in the
benchmark overlay that `scripts/bench` builds; without it, profiles are
skipped and say so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
import contextlib
from typing import Any

INTERVAL = 0.0002


def available() -> bool:
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        return False
    return True


class Profile:
    """One profiled operation, possibly run several times (sessions combine)."""

    def __init__(self, title: str, *, asynchronous: bool = False) -> None:
        from pyinstrument import Profiler

        self.title = title
        self.runs = 0
        self._profiler = Profiler(
            interval=INTERVAL, async_mode="enabled" if asynchronous else "disabled"
        )

    @contextlib.contextmanager
    def run(self) -> Iterator[None]:
        self._profiler.start()
        try:
            yield
        finally:
            self._profiler.stop()
            self.runs += 1

    async def run_async(self, operation: Callable[[], Awaitable[Any]]) -> None:
        self._profiler.start()
        try:
            await operation()
        finally:
            self._profiler.stop()
            self.runs += 1

    def summary(self, top: int = 12) -> dict[str, Any]:
        """The top frames by self time and by inclusive time, with percentages."""
        session = self._profiler.last_session
        root = session.root_frame() if session is not None else None
        if root is None or root.time <= 0:
            return {"title": self.title, "runs": self.runs, "empty": True}
        total = root.time
        self_times: dict[str, float] = {}
        inclusive: dict[str, float] = {}

        def visit(frame: Any, ancestors: frozenset[str]) -> None:
            if frame.is_synthetic:
                return
            key = _describe(frame)
            self_times[key] = self_times.get(key, 0.0) + frame.total_self_time
            if key not in ancestors:
                inclusive[key] = inclusive.get(key, 0.0) + frame.time
            for child in frame.children:
                visit(child, ancestors | {key})

        visit(root, frozenset())
        text = self._profiler.output_text(
            unicode=False, color=False, show_all=False, timeline=False
        )
        return {
            "title": self.title,
            "runs": self.runs,
            "seconds": total,
            "self": [
                (key, seconds / total * 100)
                for key, seconds in sorted(
                    self_times.items(), key=lambda item: item[1], reverse=True
                )[:top]
            ],
            "inclusive": [
                (key, seconds / total * 100)
                for key, seconds in sorted(
                    inclusive.items(), key=lambda item: item[1], reverse=True
                )[: top * 2]
            ],
            "tree": _trim(text),
        }


def _describe(frame: Any) -> str:
    path = frame.file_path_short or frame.file_path or "?"
    for marker in ("custom_components/", "homeassistant/", "site-packages/"):
        if marker in path:
            path = path[path.index(marker) :]
            break
    return f"{frame.function} ({path}:{frame.line_no})"


def _trim(text: str, lines: int = 80) -> str:
    kept = text.splitlines()
    if len(kept) > lines:
        kept = [*kept[:lines], f"... ({len(kept) - lines} more lines)"]
    return "\n".join(kept)
