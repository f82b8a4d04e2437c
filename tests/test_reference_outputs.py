"""Automatic results against stored references (8-bit, so one level of rounding may differ).

- tests/data/pre-refactor-reference.npz: an untrained model's result with options, written by
  tests/data/make_pre_refactor_reference.py with the code of commit 66a086c, before the
  model-descriptor refactor.
- tests/data/shipped-model-reference.npz: the shipped model's result with default options and the
  SHA-256 of the model file, written by tests/data/make_shipped_model_reference.py when the shipped
  model last changed on purpose.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

import tinct

from conftest import shipped_model_or_skip

REFERENCE = np.load(Path(__file__).parent / "data" / "pre-refactor-reference.npz")
SHIPPED_REFERENCE = np.load(Path(__file__).parent / "data" / "shipped-model-reference.npz")


def assert_matches(result: np.ndarray, name: str, references: Mapping[str, np.ndarray] = REFERENCE) -> None:
    expected = references[name]
    assert result.shape == expected.shape and result.dtype == expected.dtype
    difference = np.abs(result.astype(int) - expected)
    assert difference.max() <= 1, f"{name}: {np.count_nonzero(difference > 1)} pixels differ by more than one level"


def test_shipped_model_default_options_unchanged():
    colorizer = shipped_model_or_skip()
    digest = hashlib.sha256(Path(colorizer.path).read_bytes()).hexdigest()
    assert digest == str(SHIPPED_REFERENCE["model_sha256"]), (
        "the shipped model file changed: check it with tinct eval and by eye, then rewrite the reference with python tests/data/make_shipped_model_reference.py"
    )
    assert_matches(colorizer.colorize(SHIPPED_REFERENCE["input"]), "shipped_default", SHIPPED_REFERENCE)


def test_untrained_model_with_options_unchanged():
    colorizer = tinct.create_model(seed=0, device="cpu")
    assert_matches(colorizer.colorize(REFERENCE["input"], working_size=256, saturation=0.7), "untrained_256_saturation")


def test_the_reference_comparison_can_fail():
    """A different saturation is caught: the comparison above is not vacuous."""
    colorizer = tinct.create_model(seed=0, device="cpu")
    with pytest.raises(AssertionError):
        assert_matches(colorizer.colorize(REFERENCE["input"], working_size=256, saturation=0.6), "untrained_256_saturation")
