"""sRGB ⇄ CIELab against scikit-image and against the CIE definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import color as skcolor

import tinct
from tinct.colour import CIE_EPSILON, CIE_KAPPA, D65_WHITE

TOLERANCE = {np.float64: 1e-4, np.float32: 2e-3}


def dense_cube(steps: int = 48) -> np.ndarray:
    axis = np.linspace(0.0, 1.0, steps)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)


def random_colours(count: int = 20000, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((count, 3))


def cie_reference_lab(rgb: np.ndarray) -> np.ndarray:
    """Lab from scikit-image's XYZ and the CIE definition of f with its exact constants."""
    xyz = skcolor.rgb2xyz(rgb.astype(np.float64)) / np.array(D65_WHITE)
    f = np.where(xyz > CIE_EPSILON, np.cbrt(xyz), (CIE_KAPPA * xyz + 16.0) / 116.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], axis=-1)


def outside_skimage_rounding_band(rgb: np.ndarray) -> np.ndarray:
    """Colours whose X/Xn, Y/Yn and Z/Zn all exceed ε: there scikit-image's rounded constants
    (0.008856, 7.787) play no part, so it must agree with the exact CIE formula."""
    xyz = skcolor.rgb2xyz(rgb.astype(np.float64)) / np.array(D65_WHITE)
    return (xyz > CIE_EPSILON * 1.001).all(axis=-1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("colours", [dense_cube, random_colours], ids=["dense-grid", "random"])
def test_rgb_to_lab_matches_scikit_image(dtype, colours):
    rgb = colours().astype(dtype)
    ours = tinct.rgb_to_lab(rgb)
    assert ours.dtype == dtype and ours.shape == rgb.shape
    mask = outside_skimage_rounding_band(rgb)
    assert mask.mean() > 0.9
    np.testing.assert_allclose(ours[mask], skcolor.rgb2lab(rgb)[mask], atol=TOLERANCE[dtype], rtol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rgb_to_lab_matches_cie_definition_everywhere(dtype):
    rgb = dense_cube().astype(dtype)
    np.testing.assert_allclose(tinct.rgb_to_lab(rgb), cie_reference_lab(rgb), atol=TOLERANCE[dtype], rtol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lab_to_rgb_matches_scikit_image_in_lab_units(dtype):
    rgb = dense_cube().astype(dtype)
    lab = skcolor.rgb2lab(rgb.astype(np.float64))
    ours = tinct.lab_to_rgb(lab.astype(dtype))
    assert ours.dtype == dtype
    np.testing.assert_allclose(skcolor.rgb2lab(ours.astype(np.float64)), lab, atol=TOLERANCE[dtype] * 5, rtol=0)
    np.testing.assert_allclose(ours, skcolor.lab2rgb(lab), atol=TOLERANCE[dtype], rtol=0)


def test_lab_to_rgb_clips_out_of_gamut_colours():
    lab = np.array([[50.0, 120.0, -120.0], [100.0, 80.0, 80.0], [0.0, -90.0, 90.0]])
    rgb = tinct.lab_to_rgb(lab)
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    np.testing.assert_allclose(rgb, np.clip(skcolor.lab2rgb(lab), 0, 1), atol=1e-6)


def test_round_trip_is_identity():
    rgb = random_colours()
    np.testing.assert_allclose(tinct.lab_to_rgb(tinct.rgb_to_lab(rgb)), rgb, atol=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_channels_first_matches_numpy(dtype):
    tensor = torch.rand(2, 3, 17, 23, dtype=dtype)
    lab = tinct.rgb_to_lab(tensor)
    assert isinstance(lab, torch.Tensor) and lab.dtype == dtype and lab.shape == tensor.shape
    expected = skcolor.rgb2lab(tensor.permute(0, 2, 3, 1).double().numpy())
    mask = outside_skimage_rounding_band(tensor.permute(0, 2, 3, 1).double().numpy())
    tolerance = 1e-4 if dtype == torch.float64 else 2e-3
    np.testing.assert_allclose(lab.permute(0, 2, 3, 1).double().numpy()[mask], expected[mask], atol=tolerance)
    back = tinct.lab_to_rgb(lab)
    torch.testing.assert_close(back, tensor, atol=tolerance, rtol=0)


def test_lightness_matches_scikit_image():
    rgb = random_colours()
    np.testing.assert_allclose(tinct.rgb_to_lightness(rgb), skcolor.rgb2lab(rgb)[..., 0], atol=1e-4)


def test_fit_chroma_to_gamut_keeps_lightness_and_hue():
    lab = torch.tensor([[50.0, 90.0, -100.0], [90.0, -80.0, 90.0], [30.0, 60.0, 60.0], [60.0, 5.0, 5.0]], dtype=torch.float64)
    rgb = tinct.fit_chroma_to_gamut(lab).numpy()
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    back = skcolor.rgb2lab(rgb)
    np.testing.assert_allclose(back[:, 0], lab[:, 0].numpy(), atol=0.01)
    hue = np.arctan2(lab[:, 2].numpy(), lab[:, 1].numpy())
    np.testing.assert_allclose(np.arctan2(back[:, 2], back[:, 1]), hue, atol=0.05)
    # An in-gamut colour passes unchanged.
    np.testing.assert_allclose(back[3], lab[3].numpy(), atol=1e-3)


@pytest.mark.parametrize(
    "bad, error",
    [(np.zeros((4, 2)), ValueError), (np.zeros((4, 3), dtype=np.uint8), TypeError), (torch.zeros(2, 4, 4), ValueError), ([0.1, 0.2, 0.3], TypeError)],
    ids=["two-channels", "uint8", "tensor-without-channel-axis", "list"],
)
def test_bad_input_is_refused(bad, error):
    with pytest.raises(error):
        tinct.rgb_to_lab(bad)
