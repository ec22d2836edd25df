"""Geometry for the server-rendered SVG charts (templates/attendance/_*.svg.html draw it).

No chart library: a histogram and a line over 0–100 % are a few rectangles and a polyline,
and SVG made on the server works offline, prints, and needs no script (the CSP forbids
inline script and style; colours come from classes in app.css)."""
from __future__ import annotations

WIDTH, HEIGHT, PAD = 320, 120, 20


def bars(bins: list[dict], width: int = WIDTH, height: int = HEIGHT) -> dict:
    """Bars for arrivals per time slot; each keeps its count and label for the text beside."""
    top = max((b["count"] for b in bins), default=0) or 1
    inner_h = height - 2 * PAD
    step = (width - PAD) / max(len(bins), 1)
    out = []
    for i, b in enumerate(bins):
        h = round(inner_h * b["count"] / top, 1)
        out.append({"x": round(PAD / 2 + i * step + 1, 1), "y": round(PAD + inner_h - h, 1),
                    "w": round(max(step - 2, 1), 1), "h": h, "count": b["count"], "label": b["label"],
                    "show_label": i % max(len(bins) // 6, 1) == 0})
    return {"width": width, "height": height, "bars": out, "base": height - PAD, "top": top}


def line(values: list[float | None], targets: tuple[int, int, int], width: int = WIDTH, height: int = HEIGHT) -> dict:
    """A polyline of rates over evenly spaced days, with the target levels as rules.

    The scale runs from a round ten below the lowest rate or target up to 100 %, so a village
    moving between 80 and 90 % is seen moving (the rules and their labels keep it honest)."""
    inner_w, inner_h = width - 2 * PAD, height - 2 * PAD
    known = [float(v) for v in values if v is not None]
    low = max(0, int(min(known + [float(targets[0])]) - 5) // 10 * 10)

    def y(rate: float) -> float:
        return round(PAD + inner_h * (1 - (rate - low) / (100 - low)), 1)

    n = len(values)
    points = []
    for i, v in enumerate(values):
        if v is None:
            continue
        x = round(PAD + (inner_w * i / (n - 1) if n > 1 else inner_w / 2), 1)
        points.append({"x": x, "y": y(float(v)), "value": v})
    return {"width": width, "height": height, "points": points, "low": low, "low_y": y(low), "top_y": y(100),
            "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
            "rules": [{"y": y(t), "label": t, "kind": kind}
                      for t, kind in zip(targets, ("floor", "aim", "high"), strict=True)],
            "left": PAD, "right": width - PAD}
