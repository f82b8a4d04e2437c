"""A tiny network with a small, known receptive field, for testing the tiler exactly."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tinct.models.base import INPUT_CHANNELS, ColorizationNetwork


class LocalNetwork(ColorizationNetwork):
    """Two 3×3 convolutions and a 4×4 average: each output sees at most 6 input pixels away.

    Tensor contract: input ``(B, 4, H, W)``, H and W multiples of 16; output ``(B, 2, H/4, W/4)``;
    the context ``(B, 2)`` (mean of the input's first channels) is added to every output.
    """

    architecture = "test-local"
    input_multiple = 16
    output_stride = 4
    receptive_radius = 6

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(INPUT_CHANNELS, 8, 3, padding=1)
        self.second = nn.Conv2d(8, 2, 3, padding=1)

    def global_context(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :2].mean(dim=(2, 3))

    def predict_chroma(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if context is None:
            context = self.global_context(x)
        y = self.second(torch.tanh(self.first(x)))
        return F.avg_pool2d(y, 4) * 40.0 + context[:, :, None, None]
