"""The statistics page's charts, drawn on the server as SVG: rows of horizontal bars and a ring.

Each chart is an image to assistive technology (`role="img"` named by its `<title>` and
described by its `<desc>`); the page gives the same figures as a table too. Text is drawn on
white in the page's ink and muted colours (both above 4.5:1), never on a stage's colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
from markupsafe import Markup, escape

from crm_http.web.format import NBSP

# Bars are laid out in percentages of the chart's width and text in pixels, so that text
# keeps its size from a phone to a desktop (a viewBox would scale it with the width).
ROW = 48  # a bar's line of text above it, then the bar
DETAIL_ROW = 18  # a line under the bar, when the bars have one
BAR_HEIGHT = 16
BAR_SPACE = 62.0  # the longest bar, in % of the width; its figure is written after it
LABEL_CHARS = 48
INK = "#1d2430"
MUTED = "#4f5b6b"
TRACK = "#e6eaf0"
OUTLINE = "#8a95a5"
SUCCESS = "#1a7f37"


@attrs.frozen
class Bar:
    """One row: `label` and `note` on its first line, the bar (as long as `value` is to the
    longest) and `figure` on the second, `detail` on a third."""

    label: str
    value: float
    figure: str
    color: str
    note: str = ""
    detail: str = ""


def percent(rate: float | None) -> str:
    """A fraction 0..1 as the page writes it: `42,9 %`, `50 %`; `—` when there is none."""
    if rate is None:
        return "—"
    text = f"{rate * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text.replace('.', ',')}{NBSP}%"


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1].rstrip() + "…"


def _text(x: float, y: float, content: str, **attributes: str) -> str:
    extra = "".join(
        f' {name.replace("_", "-")}="{escape(value)}"' for name, value in attributes.items()
    )
    return f'<text x="{x:g}" y="{y:g}"{extra}>{escape(content)}</text>'


def _image(chart_id: str, kind: str, title: str, description: str, size: str, body: str) -> Markup:
    name = escape(chart_id)
    return Markup(
        f'<svg class="chart {kind}" id="{name}" role="img" '
        f'aria-labelledby="{name}-title {name}-desc" {size} xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{name}-title">{escape(title)}</title>'
        f'<desc id="{name}-desc">{escape(description)}</desc>'
        f"{body}</svg>"
    )


def bar_chart(chart_id: str, title: str, description: str, bars: Sequence[Bar]) -> Markup:
    """Horizontal bars, one per row, scaled to the longest; an empty chart says so."""
    if not bars:
        body = _text(0, 20, "Нет данных", fill=MUTED, font_size="14")
        return _image(chart_id, "bars", title, description, 'width="100%" height="32"', body)
    longest = max(bar.value for bar in bars)
    row = ROW + (DETAIL_ROW if any(bar.detail for bar in bars) else 0)
    parts = []
    for index, bar in enumerate(bars):
        top = index * row
        length = BAR_SPACE * bar.value / longest if longest > 0 else 0.0
        if bar.value > 0:
            length = max(length, 0.5)  # a small value stays visible
        note = (
            f'<tspan fill="{MUTED}" font-weight="400" font-size="13">'
            f"{escape(' · ' + bar.note)}</tspan>"
            if bar.note
            else ""
        )
        parts.append(
            f'<text x="0" y="{top + 15}" fill="{INK}" font-size="14" font-weight="600">'
            f"{escape(_short(bar.label))}{note}</text>"
        )
        parts.append(
            f'<rect x="0" y="{top + 22}" width="{BAR_SPACE:g}%" height="{BAR_HEIGHT}" '
            f'fill="{TRACK}" rx="3"/>'
        )
        if length:
            parts.append(
                f'<rect x="0" y="{top + 22}" width="{length:.2f}%" height="{BAR_HEIGHT}" '
                f'fill="{escape(bar.color)}" stroke="{OUTLINE}" stroke-width="0.5" rx="3"/>'
            )
        parts.append(
            f'<text x="{BAR_SPACE:g}%" dx="8" y="{top + 35}" fill="{INK}" font-size="14" '
            f'font-weight="600">{escape(bar.figure)}</text>'
        )
        if bar.detail:
            parts.append(_text(0, top + 54, bar.detail, fill=MUTED, font_size="13"))
    size = f'width="100%" height="{row * len(bars) - 4}"'
    return _image(chart_id, "bars", title, description, size, "".join(parts))


def ring(chart_id: str, title: str, description: str, rate: float | None) -> Markup:
    """A ring filled to `rate` (0..1) with the percentage in its middle; an empty ring and
    `—` when there is no rate."""
    radius, stroke, centre = 42, 14, 60
    circumference = 2 * math.pi * radius
    parts = [
        f'<circle cx="{centre}" cy="{centre}" r="{radius}" fill="none" stroke="{TRACK}" '
        f'stroke-width="{stroke}"/>'
    ]
    if rate:
        filled = circumference * min(max(rate, 0.0), 1.0)
        parts.append(
            f'<circle cx="{centre}" cy="{centre}" r="{radius}" fill="none" stroke="{SUCCESS}" '
            f'stroke-width="{stroke}" stroke-dasharray="{filled:.2f} {circumference:.2f}" '
            f'transform="rotate(-90 {centre} {centre})"/>'
        )
    parts.append(
        _text(
            centre,
            centre + 7,
            percent(rate),
            fill=INK,
            font_size="18",
            font_weight="700",
            text_anchor="middle",
        )
    )
    size = f'viewBox="0 0 {2 * centre} {2 * centre}"'
    return _image(chart_id, "ring", title, description, size, "".join(parts))
