"""Image-quality metrics for colorization, on float sRGB images ``(H, W, 3)`` in [0, 1]."""

from __future__ import annotations

import numpy as np
from skimage.color import deltaE_ciede2000
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .colour import rgb_to_lab


def to_8bit(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def psnr_8bit(prediction: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB between two images after quantizing both to 8-bit RGB."""
    return float(peak_signal_noise_ratio(to_8bit(truth), to_8bit(prediction), data_range=255))


def ssim_8bit(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Structural similarity (mean over RGB channels) of the 8-bit images."""
    return float(structural_similarity(to_8bit(truth), to_8bit(prediction), channel_axis=-1, data_range=255))


def mean_ciede2000(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference (ΔE00 units)."""
    return float(deltaE_ciede2000(rgb_to_lab(truth.astype(np.float64)), rgb_to_lab(prediction.astype(np.float64))).mean())


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk's colourfulness M (2003), on 0..255 sRGB; 0 for a gray image."""
    values = rgb.astype(np.float64) * 255.0
    red_green = values[..., 0] - values[..., 1]
    yellow_blue = 0.5 * (values[..., 0] + values[..., 1]) - values[..., 2]
    spread = np.hypot(red_green.std(), yellow_blue.std())
    mean = np.hypot(red_green.mean(), yellow_blue.mean())
    return float(spread + 0.3 * mean)
