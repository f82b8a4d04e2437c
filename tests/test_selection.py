"""Applying a selection to a result: exact at the ends, linear between, alpha kept or scaled."""

from __future__ import annotations

import numpy as np
import pytest

import tinct
from tinct.selection import blend_selection, scale_alpha


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_blend_is_exact_at_the_ends_and_linear_between(dtype):
    generator = np.random.default_rng(0)
    top = 1.0 if dtype == np.float32 else np.iinfo(dtype).max
    original = (generator.random((4, 5, 4)) * top).astype(dtype)
    colorized = (generator.random((4, 5, 4)) * top).astype(dtype)
    selection = np.array([0.0, 1.0, 0.5, 0.25, 0.0], np.float32)[None].repeat(4, axis=0)
    result = blend_selection(original, colorized, selection)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result[:, 0], original[:, 0])
    np.testing.assert_array_equal(result[:, 1, :3], colorized[:, 1, :3])
    np.testing.assert_array_equal(result[..., 3], original[..., 3])
    middle = (original[:, 2, :3].astype(np.float64) + colorized[:, 2, :3]) / 2
    assert np.abs(result[:, 2, :3] - middle).max() <= (1e-6 if dtype == np.float32 else 0.5)


def test_scale_alpha_multiplies_alpha_only():
    colorized = np.full((2, 3, 4), 0.8, np.float32)
    result = scale_alpha(colorized, np.array([[0.0, 0.5, 1.0]] * 2, np.float32))
    np.testing.assert_array_equal(result[..., :3], colorized[..., :3])
    np.testing.assert_allclose(result[0, :, 3], [0.0, 0.4, 0.8])


def test_a_mask_of_another_size_is_refused():
    with pytest.raises(tinct.ImageError, match="selection mask is 2×2 pixels, the image 3×2"):
        blend_selection(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), np.zeros((2, 2)))
