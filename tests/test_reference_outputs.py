"""The automatic results are those of the pipeline before the model-descriptor refactor.

tests/data/pre-refactor-reference.npz was written by tests/data/make_pre_refactor_reference.py
with the code of commit 66a086c; it holds 8-bit results, so one level of rounding may differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tinct

from conftest import shipped_model_or_skip

REFERENCE = np.load(Path(__file__).parent / "data" / "pre-refactor-reference.npz")


def assert_matches(result: np.ndarray, name: str) -> None:
    expected = REFERENCE[name]
    assert result.shape == expected.shape and result.dtype == expected.dtype
    difference = np.abs(result.astype(int) - expected)
    assert difference.max() <= 1, f"{name}: {np.count_nonzero(difference > 1)} pixels differ by more than one level"


def test_shipped_model_default_options_unchanged():
    assert_matches(shipped_model_or_skip().colorize(REFERENCE["input"]), "shipped_default")


def test_untrained_model_with_options_unchanged():
    colorizer = tinct.create_model(seed=0, device="cpu")
    assert_matches(colorizer.colorize(REFERENCE["input"], working_size=256, saturation=0.7), "untrained_256_saturation")


def test_the_reference_comparison_can_fail():
    """A different saturation is caught: the comparison above is not vacuous."""
    colorizer = tinct.create_model(seed=0, device="cpu")
    with pytest.raises(AssertionError):
        assert_matches(colorizer.colorize(REFERENCE["input"], working_size=256, saturation=0.6), "untrained_256_saturation")
