"""TinctNet v3: the v2 design with its capacity moved to where semantics live.

What changed from `tinct.models.tinct_net.TinctNet` (v2), and why:

* a fourth encoder stage at 1/32 of the input and wider, deeper 1/16 and 1/32 stages with
  growing dilation: the receptive field covers a whole working-size photo, and scene
  semantics (sky, road, vegetation, skin) are what decides colour.  At 1/16 and 1/32 a
  3×3 convolution costs little, so the extra capacity is cheap on a CPU;
* the global-context branch reads the 1/32 features and modulates both the 1/32 and the
  1/16 decoder stages (FiLM), so every tile of a large photo follows one scene reading;
* the full-resolution end stays as narrow as v2's (1/4 is where the pixels are);
* decoding can smooth the bin probabilities spatially (``decode_smoothing``) before the
  annealed mean, and mute pixels whose likely bins disagree in hue (``decode_hue_agreement``,
  shared with v2), and training adds an L1 term on the decoded a*b* (see
  `tinct.training.loss.training_loss`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import INPUT_CHANNELS, ConfigField
from .chroma_bins import DEFAULT_TEMPERATURE
from .tinct_net import DECODING_FIELDS, BinClassifierNetwork, ResidualBlock, conv_norm_relu


def _stage(channels: int, dilations: tuple[int, ...]) -> nn.Sequential:
    return nn.Sequential(*(ResidualBlock(channels, dilation) for dilation in dilations))


def _upsample_to(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=reference.shape[-2:], mode="bilinear", align_corners=False)


class TinctNetV3(BinClassifierNetwork):
    """U-Net bin classifier, encoder down to 1/32, global context, hint input.

    Tensor contract: input ``(B, 4, H, W)`` (see `tinct.models.base.encode_input`), H and W
    multiples of 32; `predict_chroma` returns ``(B, 2, H/4, W/4)`` float32 a*b* in Lab units;
    `logits` returns ``(B, Q, H/4, W/4)`` over `bin_centres` ``(Q, 2)``; `global_context`
    returns ``(B, context_width)``.

    ``widths`` are the channel counts at 1/4, 1/8, 1/16 and 1/32 of the input.
    """

    architecture = "tinct-unet-v3"
    input_multiple = 32
    output_stride = 4
    receptive_radius = 160
    config_fields = {
        "widths": ConfigField(int, 1, 1024, length=4),
        "context_width": ConfigField(int, 1, 4096),
        **DECODING_FIELDS,
    }

    def __init__(
        self,
        widths: tuple[int, int, int, int] = (32, 64, 128, 192),
        context_width: int = 192,
        temperature: float = DEFAULT_TEMPERATURE,
        decode_smoothing: int = 0,
        decode_hue_agreement: float = 0.0,
    ) -> None:
        super().__init__(
            widths=list(widths),
            context_width=context_width,
            temperature=temperature,
            decode_smoothing=decode_smoothing,
            decode_hue_agreement=decode_hue_agreement,
        )
        quarter, eighth, sixteenth, thirty_second = widths
        self.stem = nn.Sequential(conv_norm_relu(INPUT_CHANNELS, 24, stride=2), conv_norm_relu(24, quarter, stride=2))
        self.quarter = ResidualBlock(quarter)
        self.down_eighth = conv_norm_relu(quarter, eighth, stride=2)
        self.eighth = _stage(eighth, (1, 2))
        self.down_sixteenth = conv_norm_relu(eighth, sixteenth, stride=2)
        self.sixteenth = _stage(sixteenth, (1, 2, 4))
        self.down_thirty_second = conv_norm_relu(sixteenth, thirty_second, stride=2)
        self.thirty_second = _stage(thirty_second, (1, 2, 4))
        self.context_features = nn.Sequential(conv_norm_relu(thirty_second, thirty_second, stride=2), conv_norm_relu(thirty_second, thirty_second, stride=2))
        self.context_head = nn.Sequential(nn.Linear(thirty_second, context_width), nn.ReLU(inplace=True))
        self.film_thirty_second = nn.Linear(context_width, 2 * thirty_second)
        self.film_sixteenth = nn.Linear(context_width, 2 * sixteenth)
        self.fused = _stage(thirty_second, (1, 2))
        self.up_sixteenth = conv_norm_relu(thirty_second + sixteenth, sixteenth)
        self.sixteenth_out = ResidualBlock(sixteenth)
        self.up_eighth = conv_norm_relu(sixteenth + eighth, eighth)
        self.eighth_out = ResidualBlock(eighth)
        self.up_quarter = conv_norm_relu(eighth + quarter, 64)
        self.classifier = nn.Conv2d(64, len(self.bin_centres), 1)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        quarter = self.quarter(self.stem(x))
        eighth = self.eighth(self.down_eighth(quarter))
        sixteenth = self.sixteenth(self.down_sixteenth(eighth))
        thirty_second = self.thirty_second(self.down_thirty_second(sixteenth))
        return quarter, eighth, sixteenth, thirty_second

    def _context_from_features(self, thirty_second: torch.Tensor) -> torch.Tensor:
        return self.context_head(self.context_features(thirty_second).mean(dim=(2, 3)))

    def global_context(self, x: torch.Tensor) -> torch.Tensor:
        return self._context_from_features(self._encode(x)[3])

    @staticmethod
    def _modulate(features: torch.Tensor, film: nn.Linear, context: torch.Tensor) -> torch.Tensor:
        scale, shift = film(context.to(features.dtype))[:, :, None, None].chunk(2, dim=1)
        return features * (1 + scale) + shift

    def logits(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        quarter, eighth, sixteenth, thirty_second = self._encode(x)
        if context is None:
            context = self._context_from_features(thirty_second)
        y = self.fused(self._modulate(thirty_second, self.film_thirty_second, context))
        y = self.up_sixteenth(torch.cat((_upsample_to(y, sixteenth), sixteenth), dim=1))
        y = self.sixteenth_out(self._modulate(y, self.film_sixteenth, context))
        y = self.eighth_out(self.up_eighth(torch.cat((_upsample_to(y, eighth), eighth), dim=1)))
        return self.classifier(self.up_quarter(torch.cat((_upsample_to(y, quarter), quarter), dim=1)))
