"""The seed-style baseline: a small convolutional autoencoder regressing a*b* with MSE.

This is the approach of the hobby projects tinct grew from (Baldassarre et al.'s
"Deep Koalarization" and the many Keras tutorials after it, minus their classifier
branch).  It is kept as an evaluation baseline: L2 regression averages plausible colours
into sepia, which the numbers of `tinct eval` show.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import AB_SCALE, INPUT_CHANNELS, ColorizationNetwork, ConfigField


class SeedAutoencoder(ColorizationNetwork):
    """Encoder–decoder regressing a*b*.

    Tensor contract: input ``(B, 4, H, W)`` (hints are accepted but it was never trained
    to use them), H and W multiples of 8; `predict_chroma` returns ``(B, 2, H/4, W/4)``
    float a*b* in Lab units; it has no global context (``(B, 0)``).
    """

    architecture = "seed-autoencoder"
    input_multiple = 8
    output_stride = 4
    receptive_radius = 40
    config_fields = {"width": ConfigField(int, 1, 1024)}

    def __init__(self, width: int = 32) -> None:
        super().__init__(width=width)

        def block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.ReLU(inplace=True))

        self.encoder = nn.Sequential(
            block(INPUT_CHANNELS, width, 2), block(width, 2 * width, 2), block(2 * width, 4 * width, 2), block(4 * width, 4 * width)
        )
        self.decoder = nn.Sequential(block(4 * width, 2 * width), nn.Conv2d(2 * width, 2, 3, padding=1), nn.Tanh())

    def global_context(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], 0)

    def predict_chroma(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        y = self.decoder(self.encoder(x))
        return F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False) * AB_SCALE
