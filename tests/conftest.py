"""Shared fixtures: real photographs from scikit-image and small tinct models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data
from skimage.transform import resize

import tinct

REPO_ROOT = Path(__file__).resolve().parents[1]


def gray_of(rgb: np.ndarray) -> np.ndarray:
    """uint8 gray with the L* of an sRGB uint8 photo (what a B&W print of it holds)."""
    lightness = tinct.rgb_to_lightness(rgb[..., :3].astype(np.float32) / 255.0)
    neutral = tinct.lab_to_rgb(np.stack([lightness, np.zeros_like(lightness), np.zeros_like(lightness)], axis=-1))
    return np.rint(neutral[..., 0] * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def colour_photo() -> np.ndarray:
    """scikit-image's coffee cup, 200×300 uint8 RGB."""
    return np.rint(resize(data.coffee(), (200, 300), anti_aliasing=True) * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def gray_photo(colour_photo: np.ndarray) -> np.ndarray:
    return gray_of(colour_photo)


@pytest.fixture(scope="session")
def untrained_colorizer() -> tinct.Colorizer:
    return tinct.create_model(seed=0, device="cpu")


@pytest.fixture(scope="session")
def untrained_model_file(tmp_path_factory: pytest.TempPathFactory, untrained_colorizer: tinct.Colorizer) -> Path:
    return untrained_colorizer.save(tmp_path_factory.mktemp("models") / "untrained.safetensors")


@pytest.fixture()
def model_env(monkeypatch: pytest.MonkeyPatch, untrained_model_file: Path) -> Path:
    """The untrained model as the command line's model ($TINCT_MODEL)."""
    monkeypatch.setenv("TINCT_MODEL", str(untrained_model_file))
    return untrained_model_file


@pytest.fixture()
def photo_file(tmp_path: Path, gray_photo: np.ndarray) -> Path:
    """The gray photo as a PNG file."""
    return tinct.save_image(gray_photo, tmp_path / "grandma.png")


def shipped_model_or_skip() -> tinct.Colorizer:
    try:
        return tinct.load_model(device="cpu")
    except tinct.ModelError as error:
        pytest.skip(f"no default model shipped yet: {error}")
