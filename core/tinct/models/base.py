"""The contract every tinct colorization network meets, whatever its architecture."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

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


class ColorizationNetwork(nn.Module):
    """Base class of tinct's networks.

    Tensor contract (all float, on the network's device):

    * input ``x``: ``(B, 4, H, W)`` from `encode_input`; H and W multiples of `input_multiple`.
    * `global_context(x)`: ``(B, C)`` — what the network knows of the whole scene.  The
      tiler computes it once from the whole (downscaled) image and gives it to every tile.
    * `predict_chroma(x, context)` (and `forward`): ``(B, 2, H / output_stride, W / output_stride)``,
      a*b* in Lab units.  The training loss is not the network's: see `tinct.training.loss`.

    Class attributes: ``architecture`` (registry name), ``input_multiple``, ``output_stride``,
    ``receptive_radius`` (input pixels of context each output needs, for tile overlap).
    """

    architecture: ClassVar[str]
    input_multiple: ClassVar[int] = 1
    output_stride: ClassVar[int] = 1
    receptive_radius: ClassVar[int] = 0

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
