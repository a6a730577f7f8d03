"""Draw the integration's brand images: custom_components/clarify/brand/*.png.

    python3 scripts/brand_images.py           write every image
    python3 scripts/brand_images.py --check   fail if a committed image differs

Standard library only (zlib for PNG), so that anyone can regenerate the images
with any python3 >= 3.11 and get the same pixels: shapes are drawn from exact
distances (no trigonometry, whose last bits vary between C libraries), with a
one-pixel ramp for anti-aliasing. Home Assistant 2026.3 and later serve these
files from the integration's brand/ folder: the icon 256x256 and 512x512, the
logo at most 256 px high (512 for @2x), and a dark_ variant of anything that
does not read on a dark background. The icon's tile reads on both, so only the
logo, whose word is dark, has a dark variant.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
import itertools
import math
from pathlib import Path
import struct
import sys
from typing import Protocol, TypeAlias
import zlib

BRAND = Path(__file__).resolve().parent.parent / "custom_components/clarify/brand"

# TypeAlias, not `type`: the host python3 may be 3.11 (Debian 12).
RGB: TypeAlias = tuple[float, float, float]  # noqa: UP040

# The tile: a diagonal gradient from Clarify-like blue to teal.
TILE_FROM: RGB = (0x1E, 0x3A, 0xB3)
TILE_TO: RGB = (0x00, 0x8F, 0xA7)
TILE_RADIUS = 0.22  # of the icon's side
WHITE: RGB = (0xFF, 0xFF, 0xFF)
# The chart line across the tile, in fractions of the icon's side.
CHART = (
    (0.160, 0.658),
    (0.339, 0.440),
    (0.499, 0.578),
    (0.660, 0.300),
    (0.838, 0.398),
)
CHART_HALF_WIDTH = 0.0273
CHART_DOT = 0.048
# The word "Clarify" next to the tile in the logo.
INK_LIGHT: RGB = (0x17, 0x20, 0x33)  # on light backgrounds
INK_DARK: RGB = (0xFF, 0xFF, 0xFF)  # on dark backgrounds
CAP_HEIGHT = 0.46  # of the logo's height
WORD_GAP = 0.25  # between tile and word, of the logo's height


class Shape(Protocol):
    """A filled shape, known by its signed distance (negative inside)."""

    def distance(self, x: float, y: float) -> float:
        """Signed distance in pixels from (x, y) to the shape's edge."""
        ...


@dataclass(frozen=True, slots=True)
class Disc:
    """A filled circle."""

    cx: float
    cy: float
    r: float

    def distance(self, x: float, y: float) -> float:
        """Signed distance to the circle's edge."""
        return math.hypot(x - self.cx, y - self.cy) - self.r


@dataclass(frozen=True, slots=True)
class Stroke:
    """A straight stroke with round ends: every point within r of a segment."""

    ax: float
    ay: float
    bx: float
    by: float
    r: float

    def distance(self, x: float, y: float) -> float:
        """Signed distance to the stroke's edge."""
        dx, dy = self.bx - self.ax, self.by - self.ay
        px, py = x - self.ax, y - self.ay
        t = max(0.0, min(1.0, (px * dx + py * dy) / (dx * dx + dy * dy)))
        return math.hypot(px - t * dx, py - t * dy) - self.r


@dataclass(frozen=True, slots=True)
class Ring:
    """A round stroke along a whole circle."""

    cx: float
    cy: float
    radius: float
    r: float

    def distance(self, x: float, y: float) -> float:
        """Signed distance to the stroke's edge."""
        return abs(math.hypot(x - self.cx, y - self.cy) - self.radius) - self.r


@dataclass(frozen=True, slots=True)
class ArcStroke:
    """A round stroke along a circular arc; build it with `arc_stroke`.

    The arc is the set of directions whose angle to the bisector (bx, by) is at
    most the half sweep, tested with a dot product against its cosine, so no
    angle is ever computed.
    """

    cx: float
    cy: float
    radius: float
    start: tuple[float, float]  # unit direction of one end
    end: tuple[float, float]  # unit direction of the other
    bisector: tuple[float, float]
    cos_half: float
    r: float

    def distance(self, x: float, y: float) -> float:
        """Signed distance to the stroke's edge."""
        px, py = x - self.cx, y - self.cy
        length = math.hypot(px, py)
        bx, by = self.bisector
        if length > 0 and (px * bx + py * by) >= self.cos_half * length:
            return abs(length - self.radius) - self.r
        (sx, sy), (ex, ey), radius = self.start, self.end, self.radius
        ends = (
            math.hypot(px - sx * radius, py - sy * radius),
            math.hypot(px - ex * radius, py - ey * radius),
        )
        return min(ends) - self.r


def _unit(x: float, y: float) -> tuple[float, float]:
    length = math.hypot(x, y)
    return x / length, y / length


def arc_stroke(
    cx: float,
    cy: float,
    radius: float,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    large: bool,
    r: float,
) -> ArcStroke:
    """The arc from one direction to the other: the larger way round if `large`."""
    s, e = _unit(*start), _unit(*end)
    bx, by = _unit(s[0] + e[0], s[1] + e[1])
    if large:
        bx, by = -bx, -by
    return ArcStroke(cx, cy, radius, s, e, (bx, by), s[0] * bx + s[1] * by, r)


@dataclass(frozen=True, slots=True)
class RoundedSquare:
    """A square with rounded corners."""

    x0: float
    y0: float
    size: float
    radius: float

    def distance(self, x: float, y: float) -> float:
        """Signed distance to the square's edge (exact, inside and out)."""
        half = self.size / 2
        inner = half - self.radius
        qx = abs(x - self.x0 - half) - inner
        qy = abs(y - self.y0 - half) - inner
        outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
        return outside + min(max(qx, qy), 0.0) - self.radius


@dataclass(frozen=True, slots=True)
class Paint:
    """A color, or a gradient from the top-left to the bottom-right of a square."""

    start: RGB
    end: RGB | None = None  # None: one color
    x0: float = 0.0
    y0: float = 0.0
    size: float = 1.0

    def at(self, x: float, y: float) -> RGB:
        """The color at a point, in 0..1."""
        if self.end is None:
            t = 0.0
        else:
            t = min(1.0, max(0.0, ((x - self.x0) + (y - self.y0)) / (2 * self.size)))
        end = self.end or self.start
        return (
            (self.start[0] + (end[0] - self.start[0]) * t) / 255,
            (self.start[1] + (end[1] - self.start[1]) * t) / 255,
            (self.start[2] + (end[2] - self.start[2]) * t) / 255,
        )


@dataclass(frozen=True, slots=True)
class Layer:
    """Shapes filled with one paint, as one union (no seams where they overlap)."""

    shapes: tuple[Shape, ...]
    paint: Paint


class Canvas:
    """Premultiplied RGBA in floats; layers are composited over one another."""

    BLOCK = 8

    def __init__(self, width: int, height: int) -> None:
        """A transparent canvas."""
        self.width = width
        self.height = height
        self.pixels = [[0.0, 0.0, 0.0, 0.0] for _ in range(width * height)]

    def draw(self, layer: Layer) -> None:
        """Composite a layer over what is drawn, block by block.

        A block far from every shape is skipped and one deep inside is filled
        without per-pixel distances: the distances are exact, so the distance
        at a block's centre bounds them over the whole block.
        """
        block, pixels, width = self.BLOCK, self.pixels, self.width
        paint = layer.paint
        color = paint.at(0, 0) if paint.end is None else None
        for by in range(0, self.height, block):
            for bx in range(0, self.width, block):
                bw = min(block, self.width - bx)
                bh = min(block, self.height - by)
                cx, cy = bx + bw / 2, by + bh / 2
                reach = math.hypot(bw, bh) / 2 + 1
                centre = [shape.distance(cx, cy) for shape in layer.shapes]
                near = [
                    s for s, d in zip(layer.shapes, centre, strict=True) if d <= reach
                ]
                if not near:
                    continue
                full = min(centre) <= -reach
                for y in range(by, by + bh):
                    for x in range(bx, bx + bw):
                        px, py = x + 0.5, y + 0.5
                        if full:
                            alpha = 1.0
                        else:
                            d = min(shape.distance(px, py) for shape in near)
                            alpha = min(1.0, max(0.0, 0.5 - d))
                            if alpha == 0.0:
                                continue
                        r, g, b = color if color is not None else paint.at(px, py)
                        pixel = pixels[y * width + x]
                        if alpha == 1.0:
                            pixel[:] = (r, g, b, 1.0)
                            continue
                        keep = 1.0 - alpha
                        pixel[0] = r * alpha + pixel[0] * keep
                        pixel[1] = g * alpha + pixel[1] * keep
                        pixel[2] = b * alpha + pixel[2] * keep
                        pixel[3] = alpha + pixel[3] * keep

    def rows(self) -> list[bytes]:
        """The image as 8-bit straight-alpha RGBA rows."""
        rows = []
        for y in range(self.height):
            row = bytearray()
            for r, g, b, a in self.pixels[y * self.width : (y + 1) * self.width]:
                alpha = int(a * 255 + 0.5)
                if alpha == 0:
                    row += b"\0\0\0\0"
                else:
                    # Straight alpha: the color divided by the coverage.
                    row += bytes(
                        (
                            min(255, int(r / a * 255 + 0.5)),
                            min(255, int(g / a * 255 + 0.5)),
                            min(255, int(b / a * 255 + 0.5)),
                            alpha,
                        )
                    )
            rows.append(bytes(row))
        return rows


def icon_layers(x0: float, y0: float, size: float) -> list[Layer]:
    """The tile with the chart line, as a square of `size` pixels at (x0, y0)."""
    tile = RoundedSquare(x0, y0, size, TILE_RADIUS * size)
    points = [(x0 + u * size, y0 + v * size) for u, v in CHART]
    line: list[Shape] = [
        Stroke(ax, ay, bx, by, CHART_HALF_WIDTH * size)
        for (ax, ay), (bx, by) in itertools.pairwise(points)
    ]
    line += [Disc(x, y, CHART_DOT * size) for x, y in points]
    return [
        Layer((tile,), Paint(TILE_FROM, TILE_TO, x0, y0, size)),
        Layer(tuple(line), Paint(WHITE)),
    ]


# ------------------------------------------------------------------ the word

# Glyphs of a geometric, round-ended sans in font units: cap height 1, baseline
# 0, y up. Each is a list of strokes and its advance width.
STEM = 0.16
HALF = STEM / 2
X_HEIGHT = 0.74
LETTER_GAP = 0.12
# Pairs whose shapes leave a visible hole at the usual gap.
KERNING = {("f", "y"): -0.10}

GlyphPart: TypeAlias = tuple[str, tuple[float, ...]]  # noqa: UP040


def _glyphs() -> dict[str, tuple[float, list[GlyphPart]]]:
    h, xh = HALF, X_HEIGHT
    bowl = xh / 2 - h  # centre-line radius of the bowl of "a"
    shoulder = 0.26  # of "r"
    hook = 0.22  # of "f"
    f_stem = 0.22
    return {
        "C": (
            0.90,
            [("arc", (0.5, 0.5, 0.5 - h, 1.0, 0.84, 1.0, -0.84, 1.0))],
        ),
        "l": (STEM, [("line", (h, h, h, 1 - h))]),
        "a": (
            h + 2 * bowl + h,
            [
                ("ring", (h + bowl, xh / 2, bowl)),
                ("line", (h + 2 * bowl, h, h + 2 * bowl, xh - h)),
            ],
        ),
        "r": (
            h + shoulder * 1.5 + h,
            [
                ("line", (h, h, h, xh - h)),
                (
                    "arc",
                    (
                        h + shoulder,
                        xh - h - shoulder,
                        shoulder,
                        1.0,
                        1.732,
                        -1.0,
                        0.0,
                        0.0,
                    ),
                ),
            ],
        ),
        "i": (
            STEM,
            [("line", (h, h, h, xh - h)), ("dot", (h, xh + 0.2, 0.095))],
        ),
        "f": (
            f_stem + hook * 1.7 + h,
            [
                ("line", (f_stem, h, f_stem, 1 - h - hook)),
                ("arc", (f_stem + hook, 1 - h - hook, hook, 1.0, 1.0, -1.0, 0.0, 0.0)),
                ("line", (h, xh - h, f_stem + 0.22, xh - h)),
            ],
        ),
        "y": (
            0.66,
            [
                ("line", (0.58, xh - h, 0.18, -0.30 + h)),
                ("line", (h, xh - h, 0.307, 0.06)),
            ],
        ),
    }


def word_shapes(text: str, x0: float, baseline: float, scale: float) -> list[Shape]:
    """The word's strokes in pixels: `scale` pixels per font unit, y down."""
    glyphs = _glyphs()
    shapes: list[Shape] = []
    pen = x0
    for i, char in enumerate(text):
        advance, parts = glyphs[char]
        for kind, values in parts:
            shapes.append(_to_pixels(kind, values, pen, baseline, scale))
        pen += _step(text, i, advance) * scale
    return shapes


def _step(text: str, i: int, advance: float) -> float:
    """How far the pen moves after the i-th letter, in font units."""
    return advance + LETTER_GAP + KERNING.get((text[i], text[i + 1 : i + 2]), 0.0)


def _to_pixels(
    kind: str, values: tuple[float, ...], pen: float, baseline: float, scale: float
) -> Shape:
    def px(u: float) -> float:
        return pen + u * scale

    def py(v: float) -> float:
        return baseline - v * scale

    if kind == "line":
        ax, ay, bx, by = values
        return Stroke(px(ax), py(ay), px(bx), py(by), HALF * scale)
    if kind == "dot":
        cx, cy, r = values
        return Disc(px(cx), py(cy), r * scale)
    if kind == "ring":
        cx, cy, radius = values
        return Ring(px(cx), py(cy), radius * scale, HALF * scale)
    cx, cy, radius, sx, sy, ex, ey, large = values
    # Directions flip with the y axis; the arc between them stays the same arc.
    return arc_stroke(
        px(cx),
        py(cy),
        radius * scale,
        (sx, -sy),
        (ex, -ey),
        large=large > 0,
        r=HALF * scale,
    )


def word_right_edge(text: str, x0: float, scale: float) -> float:
    """Where the word's ink ends, in pixels (the strokes' rightmost extent)."""
    glyphs = _glyphs()
    pen = x0
    for i, char in enumerate(text[:-1]):
        pen += _step(text, i, glyphs[char][0]) * scale
    return pen + glyphs[text[-1]][0] * scale


# ------------------------------------------------------------------ images


def icon(size: int) -> Canvas:
    """The icon: the tile, filling the square."""
    canvas = Canvas(size, size)
    for layer in icon_layers(0, 0, size):
        canvas.draw(layer)
    return canvas


def logo(height: int, ink: RGB) -> Canvas:
    """The tile and the word, trimmed to the ink; `ink` colors the word."""
    scale = CAP_HEIGHT * height
    x_word = height * (1 + WORD_GAP)
    baseline = height / 2 + scale / 2
    width = math.ceil(word_right_edge("Clarify", x_word, scale))
    canvas = Canvas(width, height)
    for layer in icon_layers(0, 0, height):
        canvas.draw(layer)
    canvas.draw(
        Layer(tuple(word_shapes("Clarify", x_word, baseline, scale)), Paint(ink))
    )
    return canvas


IMAGES: dict[str, Callable[[], Canvas]] = {
    "icon.png": lambda: icon(256),
    "icon@2x.png": lambda: icon(512),
    "logo.png": lambda: logo(128, INK_LIGHT),
    "logo@2x.png": lambda: logo(256, INK_LIGHT),
    "dark_logo.png": lambda: logo(128, INK_DARK),
    "dark_logo@2x.png": lambda: logo(256, INK_DARK),
}


# ------------------------------------------------------------------ PNG


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _filtered(rows: list[bytes], method: int) -> bytes:
    """Rows with one PNG filter: 0 none, 1 sub (left), 2 up (above)."""
    out = bytearray()
    previous = bytes(len(rows[0]))
    for row in rows:
        out.append(method)
        if method == 0:
            out += row
        elif method == 1:
            out += bytes(
                (a - b) & 0xFF for a, b in zip(row, bytes(4) + row[:-4], strict=True)
            )
        else:
            out += bytes((a - b) & 0xFF for a, b in zip(row, previous, strict=True))
        previous = row
    return bytes(out)


def encode_png(width: int, height: int, rows: list[bytes]) -> bytes:
    """An 8-bit RGBA PNG with no metadata, so the bytes depend on pixels only.

    The whole image gets the one filter that compresses best; gradients favour
    "up", flat areas "none".
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    data = min(
        (zlib.compress(_filtered(rows, method), 9) for method in (0, 1, 2)),
        key=len,
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"bad CRC in {kind!r}")
        yield kind, body
        offset += 12 + length


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGBA rows of an 8-bit RGBA, non-interlaced PNG."""
    chunks = list(_chunks(data))
    width, height, depth, color, _, _, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    if (depth, color, interlace) != (8, 6, 0):
        raise ValueError("not 8-bit RGBA without interlacing")
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = 4 * width
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        method, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - 4] if i >= 4 else 0
            up = previous[i]
            corner = previous[i - 4] if i >= 4 else 0
            if method == 1:
                line[i] = (line[i] + left) & 0xFF
            elif method == 2:
                line[i] = (line[i] + up) & 0xFF
            elif method == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif method == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
            elif method != 0:
                raise ValueError(f"unknown filter {method}")
        rows.append(bytes(line))
        previous = rows[-1]
    return width, height, rows


def render(name: str) -> tuple[int, int, list[bytes]]:
    """Width, height and RGBA rows of one brand image."""
    canvas = IMAGES[name]()
    return canvas.width, canvas.height, canvas.rows()


def main(argv: list[str] | None = None) -> int:
    """Write the images, or with --check compare them with what is committed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name in IMAGES:
        width, height, rows = render(name)
        path = BRAND / name
        if args.check:
            if not path.exists() or decode_png(path.read_bytes()) != (
                width,
                height,
                rows,
            ):
                stale.append(name)
            continue
        path.write_bytes(encode_png(width, height, rows))
        print(f"{path.relative_to(BRAND.parent.parent.parent)}: {width}x{height}")
    if stale:
        print(f"out of date: {', '.join(stale)} (run python3 scripts/brand_images.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
