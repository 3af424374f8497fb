"""Draws the capture app's icons (a white map pin on the project's blue) as SVG and PNG, from one geometry.

Run from the repository root: `uv run python scripts/make_icons.py`. Pure Python (zlib + struct): no image
library to install, and the PNGs are committed, so the app never needs this at run time."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "services" / "api" / "web" / "static" / "icons"
BLUE = (23, 69, 110)
WHITE = (255, 255, 255)
# On a 512-unit square: the pin's head (circle), its point, the hole in the head.
HEAD = (256.0, 214.0, 124.0)
TIP = (256.0, 452.0)
HOLE = (256.0, 214.0, 52.0)
CORNER = 96.0
SAMPLES = 3  # per axis, for smooth edges


def _tangent_points(scale: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where the lines from the tip touch the head: the pin is the head plus the triangle to those points."""
    cx, cy, r = (v * scale for v in HEAD)
    tx, ty = TIP[0] * scale, TIP[1] * scale
    d = math.hypot(tx - cx, ty - cy)
    angle = math.acos(r / d)
    base = math.atan2(ty - cy, tx - cx)
    return (
        (cx + r * math.cos(base + angle), cy + r * math.sin(base + angle)),
        (cx + r * math.cos(base - angle), cy + r * math.sin(base - angle)),
    )


def _in_triangle(x: float, y: float, a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> bool:
    def side(p: tuple[float, float], q: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])

    s1, s2, s3 = side(a, b), side(b, c), side(c, a)
    return (s1 >= 0 and s2 >= 0 and s3 >= 0) or (s1 <= 0 and s2 <= 0 and s3 <= 0)


def _in_rounded_square(x: float, y: float, size: float, corner: float) -> bool:
    nx = min(max(x, corner), size - corner)
    ny = min(max(y, corner), size - corner)
    return (x - nx) ** 2 + (y - ny) ** 2 <= corner**2


def _colour(x: float, y: float, size: float, unit: float, maskable: bool) -> tuple[int, int, int, int]:
    """Colour at a point of an icon `size` wide; `unit` scales the 512-unit pin (smaller when maskable)."""
    offset = (size - 512 * unit) / 2
    px, py = (x - offset) / unit, (y - offset) / unit
    if not maskable and not _in_rounded_square(x, y, size, CORNER * size / 512):
        return (0, 0, 0, 0)
    hx, hy, hr = HEAD
    in_head = (px - hx) ** 2 + (py - hy) ** 2 <= hr**2
    left, right = _tangent_points(1.0)
    in_pin = in_head or _in_triangle(px, py, left, right, TIP)
    in_hole = (px - HOLE[0]) ** 2 + (py - HOLE[1]) ** 2 <= HOLE[2] ** 2
    return (*(WHITE if in_pin and not in_hole else BLUE), 255)


def png(size: int, *, maskable: bool) -> bytes:
    unit = size / 512 * (0.78 if maskable else 1.0)
    rows = []
    for j in range(size):
        row = bytearray([0])  # filter: none
        for i in range(size):
            total = [0, 0, 0, 0]
            for sj in range(SAMPLES):
                for si in range(SAMPLES):
                    rgba = _colour(i + (si + 0.5) / SAMPLES, j + (sj + 0.5) / SAMPLES, size, unit, maskable)
                    for k in range(4):
                        total[k] += rgba[k] * (rgba[3] if k < 3 else 255)
            alpha = total[3] / 255
            if alpha:
                row += bytes(round(total[k] / alpha) for k in range(3)) + bytes([round(alpha / SAMPLES**2)])
            else:
                row += bytes(4)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def svg() -> str:
    (lx, ly), (rx, ry) = _tangent_points(1.0)
    hx, hy, hr = HEAD
    blue = "#{:02x}{:02x}{:02x}".format(*BLUE)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">'
        f'<rect width="512" height="512" rx="{CORNER:g}" fill="{blue}"/>'
        f'<path fill="#fff" fill-rule="evenodd" d="M{TIP[0]:g} {TIP[1]:g}L{lx:.1f} {ly:.1f}'
        f"A{hr:g} {hr:g} 0 1 1 {rx:.1f} {ry:.1f}Z"
        f'M{hx:g} {hy - HOLE[2]:g}a{HOLE[2]:g} {HOLE[2]:g} 0 1 0 0.01 0Z"/></svg>\n'
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "icon.svg").write_text(svg(), encoding="utf-8")
    for size in (192, 512):
        (OUT / f"icon-{size}.png").write_bytes(png(size, maskable=False))
    (OUT / "icon-maskable-512.png").write_bytes(png(512, maskable=True))


if __name__ == "__main__":
    main()
