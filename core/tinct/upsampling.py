"""Bringing chroma from the network's low-resolution grid to full resolution, guided by lightness.

The guided filter's local linear model (He et al., "Fast Guided Filter", 2015): on the
low-resolution grid, chroma is fitted in small windows as a linear function of L*; the
fit's coefficients are interpolated to full resolution and applied to the full-resolution
L*, so colour edges land on the lightness edges the low-resolution grid cannot place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["guided_upsampling_coefficients", "bilinear_axis", "sample_bilinear"]

# Guided upsampling: window radius (chroma-grid pixels) and regularisation (L* units squared).
GUIDED_RADIUS = 2
GUIDED_EPSILON = 25.0


def guided_upsampling_coefficients(chroma: torch.Tensor, guide: torch.Tensor, radius: int = GUIDED_RADIUS, epsilon: float = GUIDED_EPSILON) -> torch.Tensor:
    """Fit chroma as a local linear function of lightness on the low-resolution grid.

    Parameters
    ----------
    chroma : ``(2, h, w)`` float32, a*b* in Lab units
    guide : ``(h, w)`` float32, L* on the same grid
    radius : half-width of the square window, in grid pixels
    epsilon : regularisation in L*² units (larger: smoother, less edge-following)

    Returns
    -------
    ``(4, h, w)`` float32 coefficients ``(slope_a, slope_b, offset_a, offset_b)``: at any
    resolution, ``a*b* = slope · L* + offset`` with the coefficients interpolated bilinearly.
    """

    def box(values: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(values, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)

    guide = guide[None]
    mean_guide = box(guide)
    mean_chroma = box(chroma)
    covariance = box(guide * chroma) - mean_guide * mean_chroma
    variance = box(guide * guide) - mean_guide * mean_guide
    slope = covariance / (variance + epsilon)
    offset = mean_chroma - slope * mean_guide
    return torch.cat((box(slope), box(offset)), dim=0)


def bilinear_axis(positions: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lower and upper grid indices and the fraction between them for sample positions."""
    clamped = positions.clamp(0, size - 1)
    lower = clamped.floor().long()
    return lower, (lower + 1).clamp(max=size - 1), clamped - lower


def sample_bilinear(grid: torch.Tensor, rows: tuple[torch.Tensor, ...], columns: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Sample ``grid`` ``(C, h, w)`` at the outer product of row and column positions given
    by `bilinear_axis`; returns ``(C, R, W)``."""
    row_lower, row_upper, row_fraction = rows
    column_lower, column_upper, column_fraction = columns
    along_rows = torch.lerp(grid[:, row_lower], grid[:, row_upper], row_fraction[None, :, None])
    return torch.lerp(along_rows[:, :, column_lower], along_rows[:, :, column_upper], column_fraction[None, None, :])
