"""Charts drawn on the server as inline SVG: no script, no third-party request."""

from __future__ import annotations

from markupsafe import Markup, escape

from backend.services.stats import METHOD_LABELS, PaperUse, Series
from protocol.events import EVENT_METHODS

# Colour-blind-safe palette (Okabe-Ito), one colour per method.
COLOURS = {
    "qr": "#0072B2",
    "code": "#56B4E9",
    "face": "#D55E00",
    "voucher": "#009E73",
    "unrestricted": "#CC79A7",
}
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 44, 28, 12


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1
    step = 1.0
    while step * 10 < value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def _axis(top_value: float, unit: str = "") -> list[str]:
    parts = []
    plot_h = HEIGHT - BOTTOM - TOP
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        label = f"{top_value * fraction:g}{unit}"
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{label}</text>'
        )
    return parts


def _svg(title: str, body: list[str], legend: list[tuple[str, str]]) -> Markup:
    keys = "".join(
        f'<rect x="{LEFT + i * 120}" y="{HEIGHT + 8}" width="10" height="10" fill="{colour}"/>'
        f'<text x="{LEFT + i * 120 + 14}" y="{HEIGHT + 17}" font-size="11">{escape(name)}</text>'
        for i, (name, colour) in enumerate(legend)
    )
    return Markup(  # noqa: S704  (every text part is escaped; the rest are numbers and fixed colours)
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 24}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(body)}{keys}</svg>"
    )


def stacked_bars(series: Series, title: str) -> Markup:
    """Bars per time slot, stacked by method, with a legend and a labelled y axis."""
    totals = [sum(bar.values()) for bar in series.values]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(1, len(series.labels))
    body = _axis(top)
    every = max(1, len(series.labels) // 12)
    for index, (label, bar) in enumerate(zip(series.labels, series.values, strict=True)):
        x = LEFT + index * slot + slot * 0.15
        y = float(TOP + plot_h)
        for method in EVENT_METHODS:
            count = bar.get(method, 0)
            if not count:
                continue
            height = plot_h * count / top
            y -= height
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}" '
                f'fill="{COLOURS[method]}"><title>{escape(label)}: {count} '
                f"{escape(METHOD_LABELS[method])}</title></rect>"
            )
        if index % every == 0:
            body.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
                f'font-size="11">{escape(label)}</text>'
            )
    legend = [(METHOD_LABELS[m], COLOURS[m]) for m in EVENT_METHODS]
    return _svg(title, body, legend)


def paper_chart(use: PaperUse, title: str) -> Markup:
    """Metres used per day as bars, with the baseline as a dashed line."""
    top = _nice_max(max([*use.used_m, use.baseline_m or 0], default=0))
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(1, len(use.labels))
    body = _axis(top, " m")
    for index, (label, metres) in enumerate(zip(use.labels, use.used_m, strict=True)):
        x = LEFT + index * slot + slot * 0.15
        height = plot_h * metres / top
        body.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{height:.1f}" fill="#0072B2"><title>{escape(label)}: {metres:.1f} m'
            f"</title></rect>"
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
            f'font-size="11">{escape(label)}</text>'
        )
    legend = [("paper used (m)", "#0072B2")]
    if use.baseline_m:
        y = TOP + plot_h * (1 - use.baseline_m / top)
        body.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}" stroke="#D55E00" '
            f'stroke-width="2" stroke-dasharray="6 4"><title>baseline {use.baseline_m:g} m a day'
            f"</title></line>"
        )
        legend.append(("baseline before rationing", "#D55E00"))
    return _svg(title, body, legend)
