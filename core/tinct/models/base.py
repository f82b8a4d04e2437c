"""The contract every tinct colorization network meets, whatever its architecture."""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import ModelError

# Network input: L* and optional user hints, stacked as channels.
INPUT_CHANNELS = 4
# Scales that bring L* (0..100) and a*b* (about -110..110) to roughly [-1, 1].
LIGHTNESS_SCALE = 50.0
AB_SCALE = 110.0


def encode_input(lightness: torch.Tensor, hint_ab: torch.Tensor | None = None, hint_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Stack L* and hints into the network input.

    Parameters
    ----------
    lightness : float tensor ``(B, 1, H, W)``, L* in [0, 100]
    hint_ab : float tensor ``(B, 2, H, W)``, a*b* of the hints in Lab units (ignored where the mask is 0)
    hint_mask : float tensor ``(B, 1, H, W)``, 1 where a hint is given, else 0

    Returns
    -------
    float tensor ``(B, 4, H, W)``: L*/50 - 1, hint a*b*/110 (zero where no hint), mask
    """
    batch, _, height, width = lightness.shape
    if hint_ab is None or hint_mask is None:
        hints = lightness.new_zeros(batch, 3, height, width)
    else:
        hints = torch.cat((hint_ab / AB_SCALE * hint_mask, hint_mask), dim=1)
    return torch.cat((lightness / LIGHTNESS_SCALE - 1.0, hints), dim=1)


@dataclass(frozen=True)
class ConfigField:
    """What one constructor argument of a network accepts: its type and inclusive range.

    ``kind`` is ``int`` or ``float`` (bools are never accepted; a float must be finite);
    ``length`` makes it a list of that many such values (a tuple is accepted too).
    ``low_open`` excludes ``low`` itself (a temperature must be above 0).
    ``required=False`` lets a model file omit it (a setting added after files were
    shipped: the constructor's default applies).
    """

    kind: type
    low: float
    high: float
    length: int | None = None
    low_open: bool = False
    required: bool = True

    def check(self, name: str, value: Any) -> Any:
        """``value`` as the plain type the network stores; raises `ModelError` naming ``name``."""
        if self.length is not None:
            if not isinstance(value, (list, tuple)) or len(value) != self.length:
                raise ModelError(f"config {name} must be a list of {self.length} numbers, got {value!r}")
            return [ConfigField(self.kind, self.low, self.high, low_open=self.low_open).check(f"{name}[{index}]", item) for index, item in enumerate(value)]
        accepted = (int,) if self.kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, accepted) or (isinstance(value, float) and not math.isfinite(value)):
            raise ModelError(f"config {name} must be a finite {'whole number' if self.kind is int else 'number'}, got {value!r}")
        if not ((self.low < value if self.low_open else self.low <= value) and value <= self.high):
            bounds = f"above {self.low:g} and at most {self.high:g}" if self.low_open else f"from {self.low:g} to {self.high:g}"
            raise ModelError(f"config {name} must be {bounds}, got {value!r}")
        return self.kind(value)


class ColorizationNetwork(nn.Module):
    """Base class of tinct's networks.

    Tensor contract (all float, on the network's device):

    * input ``x``: ``(B, 4, H, W)`` from `encode_input`; H and W multiples of `input_multiple`.
    * `global_context(x)`: ``(B, C)`` — what the network knows of the whole scene.  The
      tiler computes it once from the whole (downscaled) image and gives it to every tile.
    * `predict_chroma(x, context)` (and `forward`): ``(B, 2, H / output_stride, W / output_stride)``,
      a*b* in Lab units.  The training loss is not the network's: see `tinct.training.loss`.

    Class attributes: ``architecture`` (registry name), ``input_multiple``, ``output_stride``,
    ``receptive_radius`` (input pixels of context each output needs, for tile overlap),
    ``config_fields`` (what each constructor argument accepts; see `validate_config`).
    """

    architecture: ClassVar[str]
    input_multiple: ClassVar[int] = 1
    output_stride: ClassVar[int] = 1
    receptive_radius: ClassVar[int] = 0
    config_fields: ClassVar[dict[str, ConfigField]] = {}

    @classmethod
    def validate_config(cls, config: Any, *, complete: bool = False) -> dict[str, Any]:
        """The constructor arguments ``config`` describes, checked; raises `ModelError`.

        ``config`` is a mapping of constructor argument names (from a model file or a
        user); every argument must be declared in `config_fields` and be in its range.
        Missing arguments take the constructor's defaults, unless ``complete`` (a model
        file records them all). Subclasses with constraints between arguments override
        this, calling ``super().validate_config`` first.
        """
        if not isinstance(config, Mapping):
            raise ModelError(f"the {cls.architecture} config must be an object of settings, got {type(config).__name__}")
        unknown = sorted(str(name) for name in set(config) - set(cls.config_fields))
        if unknown:
            raise ModelError(f"unknown {cls.architecture} settings: {', '.join(unknown)} (known: {', '.join(cls.config_fields) or 'none'})")
        missing = [name for name, field in cls.config_fields.items() if field.required and name not in config]
        if complete and missing:
            raise ModelError(f"the {cls.architecture} config lacks {', '.join(missing)}")
        defaults = {name: parameter.default for name, parameter in inspect.signature(cls.__init__).parameters.items()}
        return {name: field.check(name, config[name] if name in config else defaults[name]) for name, field in cls.config_fields.items()}

    def __init__(self, **config: Any) -> None:
        super().__init__()
        self.config = dict(config)

    def global_context(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def predict_chroma(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Predict a*b*: the same as `predict_chroma`."""
        return self.predict_chroma(x, context)
