"""Small SVG plots drawn on the server, for the pages and the monthly report's PDF alike: no
JavaScript library, nothing to download. Pure. Every part carries its presentation attributes
(fpdf2 draws SVG without a style sheet); a page's CSS overrides them by class."""

from __future__ import annotations

from datetime import datetime
from html import escape

W, H, PAD = 640, 180, 34
FONT = 'font-family="DejaVu, sans-serif"'  # the name the PDF registers it under
FRAME = 'class="frame" fill="#fafafa" stroke="#cccccc"'
SERIES = 'class="series" fill="none" stroke="#1565c0" stroke-width="2"'
AXIS = f'class="axis" font-size="12" fill="#555555" {FONT}'


def line_chart(
    points: list[tuple[datetime, float]],
    label: str,
    unit: str = "",
    bounds: tuple[float, float] | None = None,
    time_format: str = "%d/%m %H:%M",
) -> str:
    """A time series as a polyline with min/max labels; empty data gives an empty frame.
    ``bounds`` fixes the vertical scale (e.g. 0–100 %) instead of the data's own range."""
    head = (
        f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}" '
        f'class="chart" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}">'
        f"<title>{escape(label)}</title>"
    )
    frame = f'<rect x="{PAD}" y="8" width="{W - PAD - 8}" height="{H - PAD - 8}" {FRAME}/>'
    if len(points) < 2:
        return head + frame + "</svg>"
    t0, t1 = points[0][0].timestamp(), points[-1][0].timestamp()
    values = [v for _, v in points]
    lo, hi = bounds or (min(values), max(values))
    if hi == lo:  # a flat series is drawn mid-height, not on the frame's edge
        lo, hi = lo - 1, hi + 1
    span_t, span_v = (t1 - t0) or 1.0, (hi - lo) or 1.0

    def xy(t: datetime, v: float) -> str:
        x = PAD + (t.timestamp() - t0) / span_t * (W - PAD - 8)
        y = 8 + (1 - (v - lo) / span_v) * (H - PAD - 8)
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(t, v) for t, v in points)
    return (
        head + frame + f'<polyline points="{line}" {SERIES}/>'
        f'<text x="2" y="16" {AXIS}>{hi:g}{escape(unit)}</text>'
        f'<text x="2" y="{H - PAD}" {AXIS}>{lo:g}{escape(unit)}</text>'
        f'<text x="{PAD}" y="{H - 8}" {AXIS}>{points[0][0].strftime(time_format)}</text>'
        f'<text x="{W - 8}" y="{H - 8}" {AXIS} text-anchor="end">'
        f"{points[-1][0].strftime(time_format)}</text></svg>"
    )


def stacked_bars(
    rows: list[tuple[str, dict[str, int]]], colours: dict[str, str], label: str
) -> str:
    """One horizontal bar per row (a village), split by state (played / failed / missed)."""
    row_h = 26
    height = max(1, len(rows)) * row_h + 10
    parts = [
        f'<svg viewBox="0 0 {W} {height}" role="img" aria-label="{escape(label)}" '
        f'class="chart"><title>{escape(label)}</title>'
    ]
    for i, (name, counts) in enumerate(rows):
        total = sum(counts.values()) or 1
        y = 5 + i * row_h
        parts.append(f'<text x="0" y="{y + 16}" {AXIS}>{escape(name)}</text>')
        x = 160.0
        for state, colour in colours.items():
            n = counts.get(state, 0)
            if not n:
                continue
            w = n / total * (W - 170)
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" '
                f'fill="{colour}"><title>{escape(state)}: {n}</title></rect>'
            )
            x += w
    return "".join(parts) + "</svg>"


def cluster_map(devices: list[tuple[str, float, float, str]], label: str) -> str:
    """Devices placed by latitude/longitude (no tiles: the station may be offline)."""
    placed = [d for d in devices if d[1] is not None and d[2] is not None]
    parts = [
        f'<svg viewBox="0 0 {W} {H + 80}" role="img" aria-label="{escape(label)}" '
        f'class="chart map"><title>{escape(label)}</title>'
        f'<rect x="0" y="0" width="{W}" height="{H + 80}" {FRAME}/>'
    ]
    if placed:
        lats, lons = [d[1] for d in placed], [d[2] for d in placed]
        la0, la1, lo0, lo1 = min(lats), max(lats), min(lons), max(lons)
        for name, lat, lon, status in placed:
            x = 30 + ((lon - lo0) / ((lo1 - lo0) or 1)) * (W - 60)
            y = 20 + (1 - (lat - la0) / ((la1 - la0) or 1)) * (H + 40)
            # the name on the side with room: a dot in the right half has it on its left,
            # so no name runs off the picture (a phone's narrow screen cut them)
            right = x > W / 2
            anchor = ' text-anchor="end"' if right else ""
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" class="dot {status}">'
                f"<title>{escape(name)}</title></circle>"
                f'<text x="{x - 10 if right else x + 10:.1f}" y="{y + 4:.1f}" {AXIS}'
                f"{anchor}>{escape(name)}</text>"
            )
    return "".join(parts) + "</svg>"


def bar_chart(
    labels: list[str],
    values: list[float],
    label: str,
    unit: str = "",
    bounds: tuple[float, float] = (0.0, 100.0),
    colour: str = "#2e7d32",
) -> str:
    """One vertical bar per label (a village's share of bulletins played), its value above it
    and the label below; labels turn when there are many."""
    height = H + 40
    parts = [
        f'<svg viewBox="0 0 {W} {height}" role="img" aria-label="{escape(label)}" '
        f'class="chart" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}">'
        f"<title>{escape(label)}</title>"
        f'<rect x="{PAD}" y="8" width="{W - PAD - 8}" height="{H - PAD - 8}" {FRAME}/>'
        f'<text x="2" y="16" {AXIS}>{bounds[1]:g}{escape(unit)}</text>'
        f'<text x="2" y="{H - PAD}" {AXIS}>{bounds[0]:g}{escape(unit)}</text>'
    ]
    if labels:
        slot = (W - PAD - 8) / len(labels)
        turn = len(labels) > 6
        lo, hi = bounds
        for i, (name, value) in enumerate(zip(labels, values, strict=True)):
            share = (min(max(value, lo), hi) - lo) / ((hi - lo) or 1)
            bar_h = share * (H - PAD - 8)
            x = PAD + i * slot + slot * 0.15
            y = 8 + (H - PAD - 8) - bar_h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{bar_h:.1f}" '
                f'fill="{colour}"><title>{escape(name)}: {value:g}{escape(unit)}</title></rect>'
                f'<text x="{x + slot * 0.35:.1f}" y="{y - 3:.1f}" {AXIS} '
                f'text-anchor="middle">{value:.0f}</text>'
            )
            lx, ly = PAD + (i + 0.5) * slot, H - PAD + 14
            rotate = f' transform="rotate(30 {lx:.1f} {ly:.1f})"' if turn else ""
            anchor = "start" if turn else "middle"
            parts.append(
                f'<text x="{lx:.1f}" y="{ly:.1f}" {AXIS} text-anchor="{anchor}"{rotate}>'
                f"{escape(name)}</text>"
            )
    return "".join(parts) + "</svg>"
