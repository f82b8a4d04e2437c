"""Pixel rectangles between Krita layers and the worker's sample layout.

The worker takes float32 RGBA samples, channels last, gamma-encoded sRGB in [0, 1] with
straight alpha. Krita layers hold RGBA at any depth (U8 and U16 store B, G, R, A; F16 and
F32 store R, G, B, A) in any profile, and Krita's default profile for U16 and float
documents is *linear* sRGB. Rather than decode each layout here, a rectangle goes through
a scratch document: the layer's bytes go in, Krita's own colour engine
(``Node.setColorSpace``) converts them to :data:`WORKING_SPACE`, and results come back the
same way. Nothing is rounded to 8 bits on the way.

Samples are ``array.array("f")`` of ``width * height * 4`` values, rows top to bottom.
Selection masks are ``bytes`` of one value per pixel, 0 (unselected) to 255 (selected), as
the worker protocol takes them: the worker applies the selection, not this plugin.
"""

from __future__ import annotations

import array
import re
import sys
from typing import NamedTuple

from krita import Document, Krita, Node

__all__ = [
    "ConversionError",
    "Bounds",
    "ColourSpace",
    "WORKING_SPACE",
    "CHANNELS",
    "work_region",
    "selection_mask",
    "read_samples",
    "write_samples",
    "to_little_endian",
    "from_little_endian",
    "keep_unselected",
]

CHANNELS = 4
_UNSELECTED_RUN = re.compile(rb"\x00+")
# Resolution of scratch documents; it has no effect on pixels.
_SCRATCH_PPI = 72.0


class ConversionError(Exception):
    """Krita could not convert a layer's pixels to or from the working colour space."""


class Bounds(NamedTuple):
    """A rectangle of canvas pixels: top-left corner and size."""

    x: int
    y: int
    width: int
    height: int

    @property
    def pixel_count(self) -> int:
        return self.width * self.height

    def intersected(self, other: Bounds) -> Bounds | None:
        """The overlap of two rectangles; None if they do not overlap."""
        left, top = max(self.x, other.x), max(self.y, other.y)
        right = min(self.x + self.width, other.x + other.width)
        bottom = min(self.y + self.height, other.y + other.height)
        if right <= left or bottom <= top:
            return None
        return Bounds(left, top, right - left, bottom - top)


class ColourSpace(NamedTuple):
    """A Krita colour space: model (``"RGBA"``), depth (``"U8"``, ``"F32"``…) and profile name."""

    model: str
    depth: str
    profile: str

    @classmethod
    def of(cls, node: Node) -> ColourSpace:
        return cls(node.colorModel(), node.colorDepth(), node.colorProfile())


WORKING_SPACE = ColourSpace("RGBA", "F32", "sRGB-elle-V2-srgbtrc.icc")
"""What the worker reads and writes: float32 R, G, B, A with the sRGB tone curve."""


def work_region(document: Document) -> Bounds | None:
    """The canvas, or the part of it the selection covers; None if the selection is empty."""
    canvas = Bounds(0, 0, document.width(), document.height())
    selection = document.selection()
    if selection is None:
        return canvas
    return canvas.intersected(Bounds(selection.x(), selection.y(), selection.width(), selection.height()))


def selection_mask(document: Document, bounds: Bounds) -> bytes | None:
    """How selected each pixel of ``bounds`` is (one byte per pixel); None without a selection."""
    selection = document.selection()
    if selection is None:
        return None
    return bytes(selection.pixelData(*bounds))


def _convert(data: bytes, bounds: Bounds, source: ColourSpace, target: ColourSpace) -> bytes:
    """Pixels of ``bounds``' size converted from one colour space to another by Krita."""
    if source == target:
        return data
    scratch = Krita.instance().createDocument(bounds.width, bounds.height, "tinct scratch", *source, _SCRATCH_PPI)
    try:
        layer = scratch.rootNode().childNodes()[0]
        layer.setPixelData(data, 0, 0, bounds.width, bounds.height)
        if not layer.setColorSpace(*target):
            raise ConversionError(f"Krita could not convert pixels from {'/'.join(source)} to {'/'.join(target)}.")
        return bytes(layer.pixelData(0, 0, bounds.width, bounds.height))
    finally:
        scratch.close()


def read_samples(node: Node, bounds: Bounds) -> array.array:
    """The layer's pixels in ``bounds`` as working samples (float32 sRGB-encoded RGBA)."""
    data = _convert(bytes(node.pixelData(*bounds)), bounds, ColourSpace.of(node), WORKING_SPACE)
    samples = array.array("f")
    samples.frombytes(data)
    return samples


def write_samples(node: Node, bounds: Bounds, samples: array.array, *, keep: tuple[bytes, bytes] | None = None) -> None:
    """Write working samples into the layer's ``bounds``, converted to the layer's colour space.

    ``keep`` is ``(mask, original)``: the pixels whose mask byte is 0 get the layer's
    ``original`` bytes back, bit for bit, instead of a round trip through float.
    """
    data = _convert(samples.tobytes(), bounds, WORKING_SPACE, ColourSpace.of(node))
    if keep is not None:
        data = keep_unselected(data, keep[1], keep[0])
    node.setPixelData(data, *bounds)


def to_little_endian(samples: array.array) -> memoryview:
    """Working samples as the protocol's little-endian float32 bytes (no copy on little-endian machines)."""
    if sys.byteorder == "big":
        samples = array.array(samples.typecode, samples)
        samples.byteswap()
    return memoryview(samples).cast("B")


def from_little_endian(data: bytes | bytearray) -> array.array:
    """The protocol's little-endian float32 bytes as working samples."""
    samples = array.array("f")
    samples.frombytes(data)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def keep_unselected(new: bytes, original: bytes, mask: bytes) -> bytes:
    """``new`` pixel bytes, with the unselected pixels (mask byte 0) taken from ``original``."""
    pixel_size = len(new) // len(mask)
    merged = bytearray(new)
    for run in _UNSELECTED_RUN.finditer(mask):
        start, end = run.start() * pixel_size, run.end() * pixel_size
        merged[start:end] = original[start:end]
    return bytes(merged)
