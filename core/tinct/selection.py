"""Applying a selection to a colorized result, as painting programs do with a filter's output."""

from __future__ import annotations

import numpy as np

from .errors import ImageError

__all__ = ["blend_selection", "scale_alpha"]


def _checked(selection: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if selection.shape != shape[:2]:
        raise ImageError(f"the selection mask is {selection.shape[1]}×{selection.shape[0]} pixels, the image {shape[1]}×{shape[0]}")
    return np.clip(selection.astype(np.float32, copy=False), 0.0, 1.0)[..., None]


def _as_pixels(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "f":
        return values.astype(dtype, copy=False)
    return np.rint(values).astype(dtype)


def blend_selection(original: np.ndarray, colorized: np.ndarray, selection: np.ndarray) -> np.ndarray:
    """The colorized colour where selected, the original where not, mixed in between.

    Parameters
    ----------
    original, colorized : ``(H, W, C)`` arrays of one dtype (uint8, uint16 or float in
        [0, 1]), C = 3 or 4; a fourth channel is alpha and is taken from ``original``
    selection : ``(H, W)`` float in [0, 1], 1 = fully selected

    Returns
    -------
    ``(H, W, C)`` of the inputs' dtype; exactly ``original`` where the selection is 0 and
    exactly ``colorized`` (colour) where it is 1
    """
    weight = _checked(selection, original.shape)
    colour = colorized[..., :3] * weight + original[..., :3] * (1.0 - weight)
    result = original.copy()
    result[..., :3] = _as_pixels(colour, original.dtype)
    return result


def scale_alpha(colorized: np.ndarray, selection: np.ndarray) -> np.ndarray:
    """``colorized`` ``(H, W, 4)`` with its alpha multiplied by ``selection`` ``(H, W)`` in [0, 1]:
    laid over the original as a new layer, it shows the colour only where selected."""
    weight = _checked(selection, colorized.shape)[..., 0]
    result = colorized.copy()
    result[..., 3] = _as_pixels(colorized[..., 3] * weight, colorized.dtype)
    return result
