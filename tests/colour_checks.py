"""What "coloured, with its lightness unchanged" means in the plug-in and worker tests."""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2lab

# A gray image has a mean C*ab of about 0; 5 is twice the just-noticeable colour difference.
MIN_MEAN_CHROMA = 5.0
GRAY_MAX_CHROMA = 0.5
# Rounding each channel to the nearest 8-bit level moves L* by at most 0.26 (the sum of
# |dL*/dV'| over the sRGB cube peaks at 134 per unit, in dark tones); 16-bit levels by at
# most 0.001. Either bound is given a little room for tinct's own float error.
EIGHT_BIT_LIGHTNESS_TOLERANCE = 0.3
HIGH_PRECISION_LIGHTNESS_TOLERANCE = 0.002


def lab(pixels: np.ndarray) -> np.ndarray:
    """CIE L*a*b* of float sRGB pixels ``(..., 3 or 4)`` in [0, 1] (alpha ignored): ``(..., 3)``."""
    return rgb2lab(pixels[..., :3].astype(np.float64))


def mean_chroma(pixels: np.ndarray) -> float:
    """Mean C*ab of float sRGB pixels ``(..., 3 or 4)``."""
    values = lab(pixels)
    return float(np.hypot(values[..., 1], values[..., 2]).mean())


def assert_coloured_with_same_lightness(before: np.ndarray, after: np.ndarray, tolerance: float) -> None:
    """``before`` is gray, ``after`` clearly coloured, their L* within ``tolerance`` everywhere."""
    assert mean_chroma(before) < GRAY_MAX_CHROMA, "the input should be gray"
    assert mean_chroma(after) > MIN_MEAN_CHROMA
    lightness_change = np.abs(lab(after)[..., 0] - lab(before)[..., 0])
    assert lightness_change.max() < tolerance
