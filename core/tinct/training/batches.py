"""Random training batches from a `TrainingSet`: crops, scales, flips and sampled hints."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..models.base import encode_input
from .data_cache import AB_OFFSET, LIGHTNESS_TO_BYTE, TrainingSet

# Hint sampling, after Zhang et al. 2017: often none, else a geometric number of patches
# whose colour is the ground truth's mean over the patch.
NO_HINT_PROBABILITY = 0.5
HINT_COUNT_GEOMETRIC_P = 1.0 / 8.0
MAX_HINTS = 64
MAX_HINT_PATCH = 9


def lab_from_bytes(encoded: torch.Tensor) -> torch.Tensor:
    """uint8 cache crops ``(B, H, W, 3)`` to float Lab ``(B, 3, H, W)``."""
    lab = encoded.permute(0, 3, 1, 2).float()
    lab[:, 0] /= LIGHTNESS_TO_BYTE
    lab[:, 1:] -= AB_OFFSET
    return lab


def random_crop(image: np.ndarray, size: int, min_scale: float, generator: np.random.Generator) -> torch.Tensor:
    """One random square crop of a cached photo, flipped at random, resampled to ``size``.

    ``image`` is uint8 Lab ``(h, w, 3)``; the crop's side is ``min_scale``..1 of the short
    side, anywhere in the photo.  Returns float Lab ``(3, size, size)``.
    """
    height, width = image.shape[:2]
    side = max(int(round(generator.uniform(min_scale, 1.0) * min(height, width))), 1)
    top = int(generator.integers(0, height - side + 1))
    left = int(generator.integers(0, width - side + 1))
    crop = lab_from_bytes(torch.from_numpy(np.array(image[None, top : top + side, left : left + side])))
    if generator.random() < 0.5:
        crop = crop.flip(-1)
    return F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=side > size)[0]


def sample_hints(lab: torch.Tensor, generator: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random hints from the ground truth: ``(hint_ab (B, 2, H, W), hint_mask (B, 1, H, W))``."""
    batch, _, height, width = lab.shape
    hint_ab = torch.zeros(batch, 2, height, width)
    hint_mask = torch.zeros(batch, 1, height, width)
    for index in range(batch):
        if generator.random() < NO_HINT_PROBABILITY:
            continue
        count = min(int(generator.geometric(HINT_COUNT_GEOMETRIC_P)), MAX_HINTS)
        for _ in range(count):
            patch = int(generator.integers(1, MAX_HINT_PATCH + 1))
            top = int(generator.integers(0, height - patch + 1))
            left = int(generator.integers(0, width - patch + 1))
            window = (index, slice(None), slice(top, top + patch), slice(left, left + patch))
            hint_ab[window] = lab[index, 1:, top : top + patch, left : left + patch].mean(dim=(1, 2))[:, None, None]
            hint_mask[window] = 1.0
    return hint_ab, hint_mask


def training_batch(
    data: TrainingSet, batch_size: int, size: int, output_stride: int, generator: np.random.Generator, *, min_scale: float = 0.6, hints: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch ``(network input (B, 4, size, size), target a*b* (B, 2, size/s, size/s))``."""
    indices = np.sort(generator.choice(len(data), batch_size, replace=False))
    lab = torch.stack([random_crop(data.image(index), size, min_scale, generator) for index in indices])
    hint_ab, hint_mask = sample_hints(lab, generator) if hints else (None, None)
    network_input = encode_input(lab[:, :1], hint_ab, hint_mask)
    target_ab = F.avg_pool2d(lab[:, 1:], output_stride)
    return network_input, target_ab
