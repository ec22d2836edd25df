#!/usr/bin/env python3
"""Draw Doorstep's app icons (a white house with a door on the brand green) as PNG files.

Pure Python (zlib + struct), so no image library is needed:

    python3 scripts/make_icons.py          # writes static/icons/icon-192.png and icon-512.png

The SVG icon (static/icons/icon.svg) is the same drawing, kept by hand.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

BRAND = (0x1D, 0x5C, 0x4D)  # --brand in static/css/app.css
WHITE = (0xFF, 0xFF, 0xFF)
OUT = Path(__file__).resolve().parent.parent / "static" / "icons"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, rows: list[bytes]) -> bytes:
    """An 8-bit RGB PNG; each row is width*3 bytes."""
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every scanline
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def house_pixel(x: float, y: float) -> tuple[int, int, int]:
    """Colour at (x, y) in a 0..1 square. The house sits inside the maskable safe zone
    (the middle 80 %), so launchers may crop the icon to a circle."""
    roof = 0.30 <= y <= 0.50 and abs(x - 0.5) <= (y - 0.30) * 1.25  # triangle, apex at (0.5, 0.30)
    walls = 0.48 <= y <= 0.74 and 0.30 <= x <= 0.70
    door = 0.58 <= y <= 0.74 and 0.45 <= x <= 0.55
    return WHITE if (roof or walls) and not door else BRAND


def icon(size: int) -> bytes:
    rows = []
    for j in range(size):
        row = bytearray()
        for i in range(size):
            row.extend(house_pixel((i + 0.5) / size, (j + 0.5) / size))
        rows.append(bytes(row))
    return png(size, size, rows)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        (OUT / f"icon-{size}.png").write_bytes(icon(size))
        print(f"wrote {OUT / f'icon-{size}.png'}")


if __name__ == "__main__":
    main()
