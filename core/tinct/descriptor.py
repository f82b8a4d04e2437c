"""What a loaded model is: the one owner of its contract, read by the pipeline, the worker and the plug-ins.

After spandrel's model descriptor: a frozen `ModelDescriptor` holds the facts of one
loaded network — its geometry (input multiple, output stride, receptive radius, from
which the tile overlap follows), its calibrated defaults (working size, chroma scale and
decoding: temperature, smoothing, hue agreement) and the ranges its options accept.
`Colorizer` validates options against it, the worker sends it to the plug-ins
(`ModelDescriptor.to_dict`), and nothing else keeps a copy of these numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from .errors import TinctError
from .models.base import ColorizationNetwork
from .options import SATURATION_RANGE, WORKING_SIZE_RANGE

__all__ = ["OptionRange", "ModelDescriptor"]

# Without a calibration, the network looks at this long side (pixels).
UNCALIBRATED_WORKING_SIZE = 512


class OptionRange(NamedTuple):
    """The closed interval ``minimum..maximum`` an option accepts."""

    minimum: float
    maximum: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.minimum <= value <= self.maximum


@dataclass(frozen=True)
class ModelDescriptor:
    """The contract of one loaded colorization network.

    Geometry (pixels of the network input, i.e. at the working resolution):

    * ``input_multiple`` — the input's height and width must be multiples of it (the
      pipeline pads with replicated edges);
    * ``output_stride`` — chroma comes out ``output_stride`` times smaller per side;
    * ``receptive_radius`` — input pixels of context each output depends on; the tile
      overlap follows from it (`tinct.TilePlan.for_image`), so that every blended output
      saw all of its context.

    Calibrated defaults: ``working_size`` (long side, pixels, at which the network looks
    at an image), ``chroma_scale`` (multiplies predicted a*b*; measured so colourfulness
    matches photographs) and the decoding of bin classifiers, kept in the network's config:
    ``temperature`` (annealed mean), ``decode_smoothing`` (radius of the probability
    smoothing) and ``decode_hue_agreement`` (power of the hue agreement, 0 off) — each None
    for networks that regress chroma directly.

    Option ranges (closed intervals): ``working_size_range`` (pixels), ``saturation_range``
    (the user's chroma multiplier; 0 gives gray) and ``minimum_tile`` (pixels); ``tile`` is
    the default largest network input side.
    """

    architecture: str
    input_multiple: int
    output_stride: int
    receptive_radius: int
    working_size: int
    chroma_scale: float
    temperature: float | None
    decode_smoothing: int | None = None
    decode_hue_agreement: float | None = None
    working_size_range: OptionRange = OptionRange(*WORKING_SIZE_RANGE)
    saturation_range: OptionRange = OptionRange(*SATURATION_RANGE)
    tile: int = 512
    minimum_tile: int = 128

    @classmethod
    def of(cls, network: ColorizationNetwork, calibration: dict[str, Any] | None = None) -> ModelDescriptor:
        """The descriptor of ``network`` with the calibration stored in its model file (may be empty)."""
        calibration = calibration or {}
        temperature = getattr(network, "temperature", None)
        smoothing = getattr(network, "decode_smoothing", None)
        hue_agreement = getattr(network, "decode_hue_agreement", None)
        return cls(
            architecture=network.architecture,
            input_multiple=network.input_multiple,
            output_stride=network.output_stride,
            receptive_radius=network.receptive_radius,
            working_size=int(calibration.get("working_size", UNCALIBRATED_WORKING_SIZE)),
            chroma_scale=float(calibration.get("chroma_scale", 1.0)),
            temperature=None if temperature is None else float(temperature),
            decode_smoothing=None if smoothing is None else int(smoothing),
            decode_hue_agreement=None if hue_agreement is None else float(hue_agreement),
        )

    def check_options(self, *, working_size: object, saturation: object, tile: object) -> None:
        """Raise `TinctError` saying what to pass if an option is outside its range."""
        low, high = self.working_size_range
        if not (isinstance(working_size, int) and working_size in self.working_size_range):
            raise TinctError(f"working size must be a whole number of pixels from {low:g} to {high:g}, got {working_size!r}")
        if not (isinstance(tile, int) and not isinstance(tile, bool) and tile >= self.minimum_tile):
            raise TinctError(f"tile must be a whole number of pixels of at least {self.minimum_tile}, got {tile!r}")
        if saturation not in self.saturation_range:
            low, high = self.saturation_range
            raise TinctError(f"saturation must be a number from {low:g} to {high:g}, got {saturation!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ranges as ``[minimum, maximum]``), as the worker sends it to the plug-ins."""
        facts = asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in facts.items()}
