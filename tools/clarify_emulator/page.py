"""The emulator's overview page: integrations, signals and a chart per signal.

Input keys, names and every other metadata value are user data: all of it goes
through `html.escape` before it reaches the page.
"""

from datetime import datetime
from html import escape
import json

from .model import EmulatorState, Integration, Signal, format_time

CHART_WIDTH = 320
CHART_HEIGHT = 64
# Older points add little to a thumbnail and cost page size.
CHART_POINTS = 500

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: .4rem .6rem; text-align: left;
         vertical-align: top; }
code, pre { font-size: .85rem; }
pre { margin: .3rem 0 0; white-space: pre-wrap; }
.muted { color: #57606a; }
.revoked { color: #b3261e; font-weight: bold; }
svg { background: #f6f8fa; }
"""


def render_page(state: EmulatorState, base_url: str | None, now: datetime) -> str:
    """Render the whole page (refreshes itself every 5 seconds)."""
    api = f"<p>API URL: <code>{escape(base_url)}v1/</code></p>" if base_url else ""
    sections = "".join(
        _render_integration(integration) for integration in state.integrations.values()
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="5">'
        "<title>Clarify emulator</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>Clarify emulator</h1>"
        f'{api}<p class="muted">Rendered {escape(format_time(now))}</p>'
        f"{sections or '<p>No integrations.</p>'}"
        "</body></html>\n"
    )


def _render_integration(integration: Integration) -> str:
    integration_id = integration.credentials.integration_id
    revoked = ' <span class="revoked">revoked</span>' if integration.revoked else ""
    rows = "".join(
        _render_signal(signal) for _, signal in sorted(integration.signals.items())
    )
    body = (
        "<table><thead><tr><th>Input key</th><th>Metadata</th><th>Points</th>"
        "<th>Last value</th><th>Chart</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if rows
        else "<p>No signals yet.</p>"
    )
    return (
        f"<section><h2>{escape(integration.name)} <code>{escape(integration_id)}</code>"
        f"{revoked}</h2>{body}</section>"
    )


def _render_signal(signal: Signal) -> str:
    metadata = signal.metadata
    points = sorted(signal.points.items())
    if points:
        last_time, last_value = points[-1]
        label = metadata["enumValues"].get(_enum_key(last_value))
        shown = f"{last_value:g}" + (f" ({label})" if label is not None else "")
        unit = f" {metadata['engUnit']}" if metadata["engUnit"] else ""
        last = (
            f"{escape(shown + unit)}<br>"
            f'<span class="muted">{escape(format_time(last_time))}</span>'
        )
    else:
        last = '<span class="muted">none</span>'
    details = escape(json.dumps(metadata, indent=2, ensure_ascii=False))
    chart = render_chart(
        points[-CHART_POINTS:],
        step=metadata["valueType"] == "enum",
        title=signal.input_key,
    )
    return (
        f"<tr><td><code>{escape(signal.input_key)}</code><br>"
        f'<span class="muted">{escape(signal.id)}</span></td>'
        f"<td><details><summary>{escape(metadata['name'])}</summary>"
        f"<pre>{details}</pre></details></td>"
        f"<td>{len(points)}</td><td>{last}</td>"
        f"<td>{chart}</td></tr>"
    )


def _enum_key(value: float) -> str | None:
    return str(int(value)) if value.is_integer() else None


def render_chart(
    points: list[tuple[datetime, float]], *, step: bool, title: str
) -> str:
    """Render sorted points as a small SVG line chart.

    Enum signals are drawn as steps: a state holds until the next one.
    """
    if not points:
        return '<span class="muted">no data</span>'
    first, last = points[0][0], points[-1][0]
    span = (last - first).total_seconds()
    low = min(value for _, value in points)
    high = max(value for _, value in points)
    margin = 4

    def x_of(moment: datetime) -> float:
        if span == 0:
            return CHART_WIDTH / 2
        offset = (moment - first).total_seconds()
        return margin + offset / span * (CHART_WIDTH - 2 * margin)

    def y_of(value: float) -> float:
        if high == low:
            return CHART_HEIGHT / 2
        return (
            CHART_HEIGHT
            - margin
            - (value - low) / (high - low) * (CHART_HEIGHT - 2 * margin)
        )

    coordinates: list[str] = []
    previous_y: float | None = None
    for moment, value in points:
        x, y = x_of(moment), y_of(value)
        if step and previous_y is not None:
            coordinates.append(f"{x:.1f},{previous_y:.1f}")
        coordinates.append(f"{x:.1f},{y:.1f}")
        previous_y = y
    if len(points) == 1:
        # A line needs two points; one reading still deserves a mark.
        shape = (
            f'<circle cx="{x_of(first):.1f}" cy="{y_of(points[0][1]):.1f}" '
            'r="2.5" fill="#0969da"/>'
        )
    else:
        shape = (
            f'<polyline points="{" ".join(coordinates)}" fill="none" '
            'stroke="#0969da" stroke-width="1.5"/>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" '
        f'height="{CHART_HEIGHT}" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" '
        f'role="img"><title>{escape(title)}: {low:g} to {high:g}</title>'
        f"{shape}</svg>"
    )
