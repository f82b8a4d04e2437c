"""Hints of the wrong kind (issue class 6): a `TinctError` naming the problem, or the right result."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

import tinct

SIDE = (40, 60)  # height, width


@pytest.fixture(scope="module")
def colorizer() -> tinct.Colorizer:
    return tinct.create_model(seed=0, device="cpu")


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    return np.tile(np.linspace(40, 200, SIDE[1]).astype(np.uint8), (SIDE[0], 1))


@pytest.mark.parametrize(
    ("hints", "problem"),
    [
        (5, "hints must be a list of .* points or an RGBA hint image, got int"),
        ("10,10,red", "hints must be a list .* got str"),
        ({"x": 1, "y": 2, "colour": (1, 0, 0)}, "hints must be a list .* got dict"),
        ([5], r"a hint point must be \(x, y, \(r, g, b\)\), got 5"),
        ([(1, 2)], "a hint point must be"),
        ([("10", 5, (255, 0, 0))], "x and y must be numbers of pixels, got '10', 5"),
        ([(None, 5, (255, 0, 0))], "x and y must be numbers of pixels, got None"),
        ([(True, 5, (255, 0, 0))], "x and y must be numbers of pixels, got True"),
        ([(math.nan, 5, (255, 0, 0))], "x and y must be numbers of pixels, got nan"),
        ([(10, math.inf, (255, 0, 0))], "x and y must be numbers of pixels"),
        ([(-1, 5, (255, 0, 0))], r"hint point \(-1, 5\) lies outside the 60×40 image"),
        ([(60, 5, (255, 0, 0))], "lies outside"),
        ([(10, 5, "red")], "a hint colour must be an .* triple of numbers, got 'red'"),
        ([(10, 5, {"r": 255, "g": 0, "b": 0})], "a hint colour must be an .* triple of numbers, got {'r'"),
        ([(10, 5, (255, 0))], "a hint colour must be an .* triple"),
        ([(10, 5, ("255", 0, 0))], "a hint colour must be an .* triple of numbers"),
        ([(10, 5, (None, 0, 0))], "a hint colour must be an .* triple of numbers"),
        ([(10, 5, (math.nan, 0.0, 0.0))], "holds NaN or infinity"),
        ([(10, 5, (256, 0, 0))], r"outside 0..255 \(whole numbers\)"),
        ([(10, 5, (-1, 0, 0))], r"outside 0..255"),
        ([(10, 5, (1.5, 0.0, 0.0))], r"outside 0..1 \(fractions\)"),
        ([(10, 5, (255.0, 0.0, 0.0))], r"outside 0..1 \(fractions\)"),
        (np.zeros((40, 60, 3), np.uint8), "hint image must be RGBA of the image's size 60×40"),
        (np.zeros((20, 30, 4), np.uint8), "hint image must be RGBA of the image's size"),
        (np.zeros((40, 60, 4), np.int32), "must hold uint8, uint16 or float pixels"),
        (np.full((40, 60, 4), np.nan, np.float32), "hint image holds NaN or infinite values"),
        (np.full((40, 60, 4), 2.0, np.float32), "float pixels run from 2 to 2"),
        (Image.new("RGB", (60, 40)), "a hint image needs alpha .* mode RGB"),
        (Image.new("RGBA", (30, 20)), "hint image must be RGBA of the image's size"),
    ],
)
def test_bad_hints_are_a_tinct_error(colorizer: tinct.Colorizer, gray: np.ndarray, hints: object, problem: str) -> None:
    progress: list[float] = []
    with pytest.raises(tinct.TinctError, match=problem):
        colorizer.colorize(gray, working_size=64, hints=hints, progress=progress.append)
    assert progress == [], "hints are checked before any work starts"


def test_one_nan_in_a_hint_image_is_refused_not_a_black_image(colorizer: tinct.Colorizer, gray: np.ndarray) -> None:
    layer = np.zeros(SIDE + (4,), np.float32)
    layer[10:14, 10:14] = (0.9, 0.1, 0.1, 1.0)
    layer[30, 50, 0] = np.nan
    with pytest.raises(tinct.TinctError, match="NaN"):
        colorizer.colorize(gray, working_size=64, hints=layer)


def test_pil_hint_image_acts_like_the_numpy_one(colorizer: tinct.Colorizer, gray: np.ndarray) -> None:
    layer = np.zeros(SIDE + (4,), np.uint8)
    layer[8:16, 8:16] = (230, 30, 30, 255)
    layer[25:33, 40:48] = (30, 60, 220, 255)
    from_array = colorizer.colorize(gray, working_size=64, hints=layer)
    from_pil = colorizer.colorize(gray, working_size=64, hints=Image.fromarray(layer, "RGBA"))
    np.testing.assert_array_equal(from_array, from_pil)
    plain = colorizer.colorize(gray, working_size=64)
    assert rgb2lab(from_pil[8:16, 8:16] / 255.0)[..., 1].mean() > rgb2lab(plain[8:16, 8:16] / 255.0)[..., 1].mean() + 10


@pytest.mark.parametrize(
    "colour",
    [(230, 30, 30), (0.9, 30 / 255, 30 / 255), np.array([230, 30, 30], np.uint8), np.array([0.9, 30 / 255, 30 / 255], np.float32), [230, 30, 30]],
)
def test_equivalent_colour_spellings_give_the_same_result(colorizer: tinct.Colorizer, gray: np.ndarray, colour: object) -> None:
    reference = colorizer.colorize(gray, working_size=64, hints=[(20, 10, (230, 30, 30))])
    result = colorizer.colorize(gray, working_size=64, hints=[(np.int64(20), 10.0, colour)])
    np.testing.assert_allclose(result.astype(int), reference.astype(int), atol=1)


def test_whole_numbers_are_eight_bit_levels_even_when_small(colorizer: tinct.Colorizer, gray: np.ndarray) -> None:
    """(1, 0, 0) is a nearly black red (whole numbers are 0..255), not the pure red (1.0, 0.0, 0.0)."""
    faint = rgb2lab(colorizer.colorize(gray, working_size=64, hints=[(30, 20, (1, 0, 0))]) / 255.0)[18:23, 28:33, 1].mean()
    red = rgb2lab(colorizer.colorize(gray, working_size=64, hints=[(30, 20, (1.0, 0.0, 0.0))]) / 255.0)[18:23, 28:33, 1].mean()
    assert red > faint + 20


def test_empty_hints_mean_none(colorizer: tinct.Colorizer, gray: np.ndarray) -> None:
    plain = colorizer.colorize(gray, working_size=64)
    np.testing.assert_array_equal(colorizer.colorize(gray, working_size=64, hints=[]), plain)
    np.testing.assert_array_equal(colorizer.colorize(gray, working_size=64, hints=np.zeros(SIDE + (4,), np.uint8)), plain)
