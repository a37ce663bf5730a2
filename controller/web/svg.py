"""Small SVG plots drawn on the server: no JavaScript library, nothing to download. Pure."""

from __future__ import annotations

from datetime import datetime
from html import escape

W, H, PAD = 640, 180, 34


def line_chart(
    points: list[tuple[datetime, float]],
    label: str,
    unit: str = "",
    bounds: tuple[float, float] | None = None,
) -> str:
    """A time series as a polyline with min/max labels; empty data gives an empty frame.
    ``bounds`` fixes the vertical scale (e.g. 0–100 %) instead of the data's own range."""
    head = (
        f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}" '
        f'class="chart"><title>{escape(label)}</title>'
    )
    frame = f'<rect x="{PAD}" y="8" width="{W - PAD - 8}" height="{H - PAD - 8}" class="frame"/>'
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
        head + frame + f'<polyline points="{line}" class="series"/>'
        f'<text x="2" y="16" class="axis">{hi:g}{escape(unit)}</text>'
        f'<text x="2" y="{H - PAD}" class="axis">{lo:g}{escape(unit)}</text>'
        f'<text x="{PAD}" y="{H - 8}" class="axis">{points[0][0]:%d/%m %H:%M}</text>'
        f'<text x="{W - 8}" y="{H - 8}" class="axis" text-anchor="end">'
        f"{points[-1][0]:%d/%m %H:%M}</text></svg>"
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
        parts.append(f'<text x="0" y="{y + 16}" class="axis">{escape(name)}</text>')
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
        f'<rect x="0" y="0" width="{W}" height="{H + 80}" class="frame"/>'
    ]
    if placed:
        lats, lons = [d[1] for d in placed], [d[2] for d in placed]
        la0, la1, lo0, lo1 = min(lats), max(lats), min(lons), max(lons)
        for name, lat, lon, status in placed:
            x = 30 + ((lon - lo0) / ((lo1 - lo0) or 1)) * (W - 240)
            y = 20 + (1 - (lat - la0) / ((la1 - la0) or 1)) * (H + 40)
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" class="dot {status}">'
                f"<title>{escape(name)}</title></circle>"
                f'<text x="{x + 10:.1f}" y="{y + 4:.1f}" class="axis">{escape(name)}'
                f"</text>"
            )
    return "".join(parts) + "</svg>"
