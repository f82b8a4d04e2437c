"""TinctNet: tinct's own colorization network, designed for quality per CPU-second.

Ideas it combines, each from the literature:

* chroma as a distribution over quantized a*b* bins, class rebalancing and annealed-mean
  decoding (Zhang et al., "Colorful Image Colorization", ECCV 2016);
* a global-context branch fused into the local features (Iizuka et al., "Let there be
  Color!", SIGGRAPH 2016) — here as a FiLM scale and shift, computed once per image so
  that the tiles of a large image agree on colour;
* sparse user hints (a*b* plus mask) as extra input channels, trained with random hints
  sampled from the ground truth (Zhang et al., "Real-Time User-Guided Image
  Colorization", SIGGRAPH 2017), so one set of weights serves automatic and guided use.

The network is a small U-Net: stride-4 stem, residual stages at 1/4, 1/8 and 1/16 of the
input, and a bin classifier at 1/4 resolution (the core upsamples chroma, guided by the
full-resolution lightness).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..options import HUE_AGREEMENT_RANGE
from .base import INPUT_CHANNELS, ColorizationNetwork, ConfigField
from .chroma_bins import DEFAULT_TEMPERATURE, annealed_mean, in_gamut_bin_centres


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and an identity shortcut."""

    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.norm1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)), inplace=True)
        return F.relu(x + self.norm2(self.conv2(y)), inplace=True)


def conv_norm_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


# Model files from before decode smoothing existed lack it, and decode without it.
DECODE_SMOOTHING_FIELD = ConfigField(int, 0, 8, required=False)
# Likewise the hue-agreement power (`annealed_mean`'s ``hue_agreement``): absent is 0, off.
DECODE_HUE_AGREEMENT_FIELD = ConfigField(float, *HUE_AGREEMENT_RANGE, required=False)
# The decoding settings that every bin classifier's config holds (read by `BinClassifierNetwork`).
DECODING_FIELDS = {
    "temperature": ConfigField(float, 0.0, 1.0, low_open=True),
    "decode_smoothing": DECODE_SMOOTHING_FIELD,
    "decode_hue_agreement": DECODE_HUE_AGREEMENT_FIELD,
}


class BinClassifierNetwork(ColorizationNetwork):
    """Shared by tinct's bin classifiers: the bins, their loss weights and decoding (temperature, smoothing, hue agreement).

    Subclasses define `logits` ``(B, Q, H/s, W/s)`` over the buffer ``bin_centres`` ``(Q, 2)``.
    Config keys read here: ``temperature`` (annealed-mean sharpness, in (0, 1]),
    ``decode_smoothing`` (radius in output pixels of the box that averages bin
    probabilities before decoding, so a region settles on one colour; 0 is off) and
    ``decode_hue_agreement`` (power β of the hue agreement that mutes pixels whose likely
    bins disagree in hue, see `annealed_mean`; 0 is off).
    """

    def __init__(self, **config: Any) -> None:
        config.setdefault("temperature", DEFAULT_TEMPERATURE)
        config.setdefault("decode_smoothing", 0)
        config.setdefault("decode_hue_agreement", 0.0)
        super().__init__(**config)
        self.temperature = float(config["temperature"])
        self.decode_smoothing = int(config["decode_smoothing"])
        self.decode_hue_agreement = float(config["decode_hue_agreement"])
        centres = torch.from_numpy(in_gamut_bin_centres())
        self.register_buffer("bin_centres", centres)
        self.register_buffer("bin_weights", torch.ones(len(centres)))

    def logits(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def set_temperature(self, temperature: float) -> None:
        """Set the annealed-mean decoding temperature (1 is the plain mean, towards 0 the mode); saved with the model."""
        self.temperature = temperature
        self.config["temperature"] = temperature

    def set_decode_smoothing(self, radius: int) -> None:
        """Set the probability-smoothing radius (output pixels) used when decoding; saved with the model."""
        self.decode_smoothing = int(radius)
        self.config["decode_smoothing"] = int(radius)

    def set_decode_hue_agreement(self, power: float) -> None:
        """Set the hue-agreement power β used when decoding (0 is off); saved with the model.

        Raises `ModelError` outside `tinct.options.HUE_AGREEMENT_RANGE`.
        """
        power = DECODE_HUE_AGREEMENT_FIELD.check("decode_hue_agreement", power)
        self.decode_hue_agreement = power
        self.config["decode_hue_agreement"] = power

    def predict_chroma(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return annealed_mean(
            self.logits(x, context), self.bin_centres, self.temperature, smoothing_radius=self.decode_smoothing, hue_agreement=self.decode_hue_agreement
        )



class TinctNet(BinClassifierNetwork):
    """U-Net bin classifier with global context and hint input.

    Tensor contract: input ``(B, 4, H, W)`` (see `tinct.models.base.encode_input`), H and W
    multiples of 16; `predict_chroma` returns ``(B, 2, H/4, W/4)`` float32 a*b* in Lab units;
    `logits` returns ``(B, Q, H/4, W/4)`` over `bin_centres` ``(Q, 2)``.
    """

    architecture = "tinct-unet"
    input_multiple = 16
    output_stride = 4
    receptive_radius = 96
    config_fields = {
        "widths": ConfigField(int, 1, 1024, length=3),
        "context_width": ConfigField(int, 1, 4096),
        **DECODING_FIELDS,
    }

    def __init__(
        self,
        widths: tuple[int, int, int] = (32, 64, 128),
        context_width: int = 128,
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
        quarter, eighth, sixteenth = widths
        self.stem = nn.Sequential(conv_norm_relu(INPUT_CHANNELS, 24, stride=2), conv_norm_relu(24, quarter, stride=2))
        self.quarter = ResidualBlock(quarter)
        self.down_eighth = conv_norm_relu(quarter, eighth, stride=2)
        self.eighth = nn.Sequential(ResidualBlock(eighth), ResidualBlock(eighth, dilation=2))
        self.down_sixteenth = conv_norm_relu(eighth, sixteenth, stride=2)
        self.sixteenth = nn.Sequential(ResidualBlock(sixteenth), ResidualBlock(sixteenth, dilation=2))
        self.context_features = nn.Sequential(conv_norm_relu(sixteenth, sixteenth, stride=2), conv_norm_relu(sixteenth, sixteenth, stride=2))
        self.context_head = nn.Sequential(nn.Linear(sixteenth, context_width), nn.ReLU(inplace=True))
        self.film = nn.Linear(context_width, 2 * sixteenth)
        self.fused = ResidualBlock(sixteenth, dilation=2)
        self.up_eighth = conv_norm_relu(sixteenth + eighth, eighth)
        self.eighth_out = ResidualBlock(eighth)
        self.up_quarter = conv_norm_relu(eighth + quarter, 64)
        self.classifier = nn.Conv2d(64, len(self.bin_centres), 1)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        quarter = self.quarter(self.stem(x))
        eighth = self.eighth(self.down_eighth(quarter))
        sixteenth = self.sixteenth(self.down_sixteenth(eighth))
        return quarter, eighth, sixteenth

    def _context_from_features(self, sixteenth: torch.Tensor) -> torch.Tensor:
        pooled = self.context_features(sixteenth).mean(dim=(2, 3))
        return self.context_head(pooled)

    def global_context(self, x: torch.Tensor) -> torch.Tensor:
        return self._context_from_features(self._encode(x)[2])

    def logits(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        quarter, eighth, sixteenth = self._encode(x)
        if context is None:
            context = self._context_from_features(sixteenth)
        scale, shift = self.film(context.to(sixteenth.dtype))[:, :, None, None].chunk(2, dim=1)
        y = self.fused(sixteenth * (1 + scale) + shift)
        y = F.interpolate(y, size=eighth.shape[-2:], mode="bilinear", align_corners=False)
        y = self.eighth_out(self.up_eighth(torch.cat((y, eighth), dim=1)))
        y = F.interpolate(y, size=quarter.shape[-2:], mode="bilinear", align_corners=False)
        return self.classifier(self.up_quarter(torch.cat((y, quarter), dim=1)))
