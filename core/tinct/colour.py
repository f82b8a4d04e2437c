"""sRGB ⇄ CIE L*a*b* (D65, 2° observer) on numpy arrays and torch tensors.

Both functions take either

* a numpy array, channels last: shape ``(..., 3)``, or
* a torch tensor, channels first: shape ``(..., 3, H, W)``, on any device,

in float32 or float64; the result has the input's kind, shape, dtype and device.

The sRGB transfer curve is the one of IEC 61966-2-1; the CIE constants are the exact
ones (ε = 216/24389, κ = 24389/27) rather than their rounded textbook forms.  Numpy
inputs are computed with torch on the CPU (zero-copy), which is what makes these
functions several times faster than scikit-image's on large images.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from .threads import map_in_threads

__all__ = ["rgb_to_lab", "lab_to_rgb", "rgb_to_lightness", "fit_chroma_to_gamut"]

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)

# CIE 15:2004 exact constants.
CIE_EPSILON = 216.0 / 24389.0
CIE_KAPPA = 24389.0 / 27.0
# f(t) switches branch at t = ε, i.e. at f = cbrt(ε) = 6/29.
CIE_F_THRESHOLD = 6.0 / 29.0

# sRGB (IEC 61966-2-1) transfer curve constants.
SRGB_LINEAR_THRESHOLD = 0.04045
SRGB_ENCODED_THRESHOLD = 0.0031308
SRGB_LINEAR_SLOPE = 12.92
SRGB_GAMMA = 2.4
SRGB_OFFSET = 0.055

# Linear sRGB → CIE XYZ for the sRGB primaries, and the D65 2° reference white.
XYZ_FROM_LINEAR_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
D65_WHITE = (0.95047, 1.0, 1.08883)


def _check_dtype(values: np.ndarray | torch.Tensor, name: str) -> None:
    if not isinstance(values, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(values).__name__}")
    if values.dtype not in (np.float32, np.float64, torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64, got {values.dtype}; convert it first")


def _matrix(rows: tuple[tuple[float, ...], ...], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rows, dtype=like.dtype, device=like.device)


# Each two-branch curve below is written as "curve(max(x, knee)) + line(min(x, knee) - knee)":
# the branches meet at the knee, so this equals the piecewise definition, and it avoids
# boolean masks, which are several times slower than arithmetic on the CPU.


def _power(values: torch.Tensor, exponent: float) -> torch.Tensor:
    """values ** exponent for positive values, in place (exp/log is faster than pow on CPU)."""
    return values.log_().mul_(exponent).exp_()


def _srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    curve = _power(rgb.clamp_min(SRGB_LINEAR_THRESHOLD).add_(SRGB_OFFSET).div_(1.0 + SRGB_OFFSET), SRGB_GAMMA)
    return curve.add_(rgb.clamp_max(SRGB_LINEAR_THRESHOLD).sub_(SRGB_LINEAR_THRESHOLD).div_(SRGB_LINEAR_SLOPE))


def _linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    curve = _power(linear.clamp_min(SRGB_ENCODED_THRESHOLD), 1.0 / SRGB_GAMMA).mul_(1.0 + SRGB_OFFSET).sub_(SRGB_OFFSET)
    return curve.add_(linear.clamp_max(SRGB_ENCODED_THRESHOLD).sub_(SRGB_ENCODED_THRESHOLD).mul_(SRGB_LINEAR_SLOPE))


def _cie_f(t: torch.Tensor) -> torch.Tensor:
    curve = _power(t.clamp_min(CIE_EPSILON), 1.0 / 3.0)
    return curve.add_(t.clamp_max(CIE_EPSILON).sub_(CIE_EPSILON).mul_(CIE_KAPPA / 116.0))


def _cie_f_inverse(f: torch.Tensor) -> torch.Tensor:
    curve = f.clamp_min(CIE_F_THRESHOLD).pow_(3)
    return curve.add_(f.clamp_max(CIE_F_THRESHOLD).sub_(CIE_F_THRESHOLD).mul_(116.0 / CIE_KAPPA))


def _white(like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(D65_WHITE, dtype=like.dtype, device=like.device)


def _rgb_to_lab_channels_last(rgb: torch.Tensor) -> torch.Tensor:
    matrix = _matrix(XYZ_FROM_LINEAR_RGB, rgb) / _white(rgb)[:, None]
    # F.linear is several times faster than ``@`` for an (N, 3) × (3, 3) product.
    f = _cie_f(F.linear(_srgb_to_linear(rgb), matrix))
    lab = torch.empty_like(f)
    f_y = f[..., 1]
    torch.mul(f_y, 116.0, out=lab[..., 0]).sub_(16.0)
    torch.sub(f[..., 0], f_y, out=lab[..., 1]).mul_(500.0)
    torch.sub(f_y, f[..., 2], out=lab[..., 2]).mul_(200.0)
    return lab


def _lab_to_rgb_channels_last(lab: torch.Tensor) -> torch.Tensor:
    return _linear_to_srgb(_lab_to_linear_rgb(lab)).clamp_(0.0, 1.0)


def _lightness_channels_last(rgb: torch.Tensor) -> torch.Tensor:
    luminance = _srgb_to_linear(rgb) @ _matrix(XYZ_FROM_LINEAR_RGB, rgb)[1]
    return _cie_f(luminance / D65_WHITE[1]).mul_(116.0).sub_(16.0)


# Numpy images are converted in chunks that stay in the CPU cache, one chunk per thread.
NUMPY_CHUNK_PIXELS = 65536


def _convert_numpy(values: np.ndarray, convert: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    flat = torch.from_numpy(np.ascontiguousarray(values)).reshape(-1, 3)
    result = torch.empty_like(flat)

    def convert_chunk(start: int) -> None:
        result[start : start + NUMPY_CHUNK_PIXELS] = convert(flat[start : start + NUMPY_CHUNK_PIXELS])

    for _ in map_in_threads(convert_chunk, range(0, flat.shape[0], NUMPY_CHUNK_PIXELS)):
        pass
    return result.numpy().reshape(values.shape)


def _convert(values: ArrayOrTensor, name: str, convert: Callable[[torch.Tensor], torch.Tensor]) -> ArrayOrTensor:
    _check_dtype(values, name)
    if isinstance(values, np.ndarray):
        if values.ndim < 1 or values.shape[-1] != 3:
            raise ValueError(f"{name} must have shape (..., 3), got {values.shape}")
        return _convert_numpy(values, convert)
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(values).__name__}")
    if values.ndim < 3 or values.shape[-3] != 3:
        raise ValueError(f"{name} must have shape (..., 3, H, W), got {tuple(values.shape)}")
    return convert(values.movedim(-3, -1)).movedim(-1, -3).contiguous()


def rgb_to_lab(rgb: ArrayOrTensor) -> ArrayOrTensor:
    """Convert sRGB to CIE L*a*b* (D65 white, 2° observer).

    Parameters
    ----------
    rgb : numpy array ``(..., 3)`` or torch tensor ``(..., 3, H, W)``, float32 or float64
        Gamma-encoded sRGB, nominally in [0, 1] (values outside are extrapolated, not clipped).

    Returns
    -------
    lab : same kind, shape, dtype and device as ``rgb``
        L* in [0, 100]; a* and b* roughly in [-128, 127] for in-gamut colours.
    """
    return _convert(rgb, "rgb", _rgb_to_lab_channels_last)


def lab_to_rgb(lab: ArrayOrTensor) -> ArrayOrTensor:
    """Convert CIE L*a*b* (D65 white, 2° observer) to sRGB, clipping out-of-gamut colours.

    Parameters
    ----------
    lab : numpy array ``(..., 3)`` or torch tensor ``(..., 3, H, W)``, float32 or float64
        L* in [0, 100], a* and b* in Lab units.

    Returns
    -------
    rgb : same kind, shape, dtype and device as ``lab``
        Gamma-encoded sRGB in [0, 1]; colours outside the sRGB gamut are clipped per channel
        (which changes their lightness: `tinct.Colorizer` instead reduces chroma to keep L*).
    """
    return _convert(lab, "lab", _lab_to_rgb_channels_last)




def rgb_to_lightness(rgb: ArrayOrTensor) -> ArrayOrTensor:
    """CIE L* of sRGB colours, without computing a* and b*.

    Parameters
    ----------
    rgb : numpy array ``(..., 3)`` or torch tensor ``(..., 3, H, W)``, float32 or float64, in [0, 1]

    Returns
    -------
    lightness : numpy array ``(...)`` or tensor ``(..., H, W)``, same dtype; L* in [0, 100]
    """
    _check_dtype(rgb, "rgb")
    if isinstance(rgb, np.ndarray):
        if rgb.shape[-1:] != (3,):
            raise ValueError(f"rgb must have shape (..., 3), got {rgb.shape}")
        return _lightness_channels_last(torch.from_numpy(np.ascontiguousarray(rgb))).numpy()
    return _lightness_channels_last(rgb.movedim(-3, -1))


# Bisection steps for gamut fitting: 2**-12 of the chroma is far below 8-bit resolution.
GAMUT_FIT_STEPS = 12


def _lab_to_linear_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Unclipped linear-light sRGB of Lab ``(..., 3)`` (no transfer curve)."""
    f = torch.empty_like(lab)
    torch.add(lab[..., 0], 16.0, out=f[..., 1]).div_(116.0)
    torch.add(f[..., 1], lab[..., 1], alpha=1.0 / 500.0, out=f[..., 0])
    # Negative Z has no physical meaning; clamp it as scikit-image does.
    torch.sub(f[..., 1], lab[..., 2], alpha=1.0 / 200.0, out=f[..., 2]).clamp_min_(0.0)
    xyz = _cie_f_inverse(f).mul_(_white(lab))
    return F.linear(xyz, torch.linalg.inv(_matrix(XYZ_FROM_LINEAR_RGB, lab).cpu()).to(lab.device))


def _in_gamut(linear: torch.Tensor) -> torch.Tensor:
    return (linear.amin(dim=-1) >= 0.0) & (linear.amax(dim=-1) <= 1.0)


def fit_chroma_to_gamut(lab: torch.Tensor) -> torch.Tensor:
    """sRGB of Lab colours, with out-of-gamut colours desaturated (hue and L* kept) until they fit.

    Unlike `lab_to_rgb`, which clips each channel and so changes lightness, this keeps L*:
    each out-of-gamut colour's chroma is scaled down by bisection (in linear light, where
    the gamut test needs no transfer curve) until its sRGB lies in [0, 1].

    Parameters
    ----------
    lab : float tensor ``(..., 3)``, channels last, L* in [0, 100]

    Returns
    -------
    rgb : float tensor ``(..., 3)`` in [0, 1], same dtype and device
    """
    linear = _lab_to_linear_rgb(lab)
    outside = ~_in_gamut(linear)
    if outside.any():
        chosen = lab[outside]
        low = torch.zeros(chosen.shape[:-1] + (1,), dtype=lab.dtype, device=lab.device)
        high = torch.ones_like(low)
        trial = chosen.clone()
        for _ in range(GAMUT_FIT_STEPS):
            middle = (low + high) / 2
            trial[..., 1:] = chosen[..., 1:] * middle
            fits = _in_gamut(_lab_to_linear_rgb(trial))[..., None]
            low = torch.where(fits, middle, low)
            high = torch.where(fits, high, middle)
        trial[..., 1:] = chosen[..., 1:] * low
        linear[outside] = _lab_to_linear_rgb(trial)
    return _linear_to_srgb(linear.clamp_(0.0, 1.0))
