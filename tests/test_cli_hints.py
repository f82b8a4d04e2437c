"""Colour hints on the command line: --hint points, --hints images and folders, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage import color as skcolor

import tinct
from tinct.cli import main

HINT = (60, 50, "#cc3326")
HINT_RGB = (0xCC / 255, 0x33 / 255, 0x26 / 255)


@pytest.fixture(scope="module")
def colorizer(untrained_model_file) -> tinct.Colorizer:
    return tinct.load_model(untrained_model_file, device="cpu")


def hint_layer(shape: tuple[int, int]) -> np.ndarray:
    layer = np.zeros(shape + (4,), np.uint8)
    layer[45:56, 55:66] = (0xCC, 0x33, 0x26, 255)
    return layer


def test_hint_points_follow_the_python_api(model_env, photo_file, gray_photo, colorizer, tmp_path):
    out = tmp_path / "out.png"
    x, y, colour = HINT
    assert main(["colorize", str(photo_file), "-o", str(out), "--working-size", "256", "--hint", f"{x},{y},{colour}", "--hint", "240,150,#2a5db0"]) == 0
    expected = colorizer.colorize(gray_photo, working_size=256, hints=[(x, y, HINT_RGB), (240, 150, (0x2A / 255, 0x5D / 255, 0xB0 / 255))])
    result = tinct.load_image(out)
    np.testing.assert_array_equal(result, expected)
    near = skcolor.rgb2lab(result[y - 1 : y + 2, x - 1 : x + 2] / 255.0)[..., 1:].reshape(-1, 2).mean(axis=0)
    plain = skcolor.rgb2lab(colorizer.colorize(gray_photo, working_size=256)[y - 1 : y + 2, x - 1 : x + 2] / 255.0)[..., 1:].reshape(-1, 2).mean(axis=0)
    wanted = skcolor.rgb2lab(np.array(HINT_RGB))[1:]
    assert np.linalg.norm(near - wanted) < 0.5 * np.linalg.norm(plain - wanted)


def test_hint_image_follows_the_python_api(model_env, photo_file, gray_photo, colorizer, tmp_path):
    layer = hint_layer(gray_photo.shape)
    hints = tinct.save_image(layer, tmp_path / "hints.png")
    out = tmp_path / "out.png"
    assert main(["colorize", str(photo_file), "-o", str(out), "--working-size", "256", "--hints", str(hints)]) == 0
    np.testing.assert_array_equal(tinct.load_image(out), colorizer.colorize(gray_photo, working_size=256, hints=layer))


def test_batch_matches_hint_images_by_file_name(model_env, gray_photo, colorizer, tmp_path):
    photos = tmp_path / "photos"
    hint_folder = tmp_path / "hints"
    photos.mkdir(), hint_folder.mkdir()
    first = tinct.save_image(gray_photo, photos / "first.png")
    second = tinct.save_image(gray_photo[::-1].copy(), photos / "second.png")
    tinct.save_image(hint_layer(gray_photo.shape), hint_folder / "first.png")
    out_dir = tmp_path / "out"
    assert main(["colorize", str(first), str(second), "--out-dir", str(out_dir), "--working-size", "256", "--hints", str(hint_folder)]) == 0
    np.testing.assert_array_equal(tinct.load_image(out_dir / "first.png"), colorizer.colorize(gray_photo, working_size=256, hints=hint_layer(gray_photo.shape)))
    np.testing.assert_array_equal(tinct.load_image(out_dir / "second.png"), colorizer.colorize(gray_photo[::-1].copy(), working_size=256))


def make_wrong_size(folder: Path) -> list[str]:
    return ["--hints", str(tinct.save_image(np.zeros((10, 10, 4), np.uint8), folder / "small.png"))]


def make_opaque(folder: Path) -> list[str]:
    return ["--hints", str(tinct.save_image(np.zeros((200, 300, 3), np.uint8), folder / "rgb.png"))]


@pytest.mark.parametrize(
    "make_options, message",
    [
        (lambda d: ["--hint", "900,80,#2a5db0"], "hint point (900, 80) lies outside the 300×200 image"),
        (lambda d: ["--hint", "120,80,#2a5db"], "a hint must be written x,y,#rrggbb"),
        (lambda d: ["--hint", "120,80,blue"], "a hint must be written x,y,#rrggbb"),
        (lambda d: ["--hint=-5,80,#2a5db0"], "a hint must be written x,y,#rrggbb"),
        (make_wrong_size, "is 10×10 pixels but"),
        (make_opaque, "has no alpha channel"),
        (lambda d: ["--hints", str(d / "nowhere.png")], "nowhere.png does not exist"),
        (lambda d: ["--hint", "1,1,#000000", "--hints", str(d)], "not both"),
    ],
    ids=["outside", "short-colour", "named-colour", "negative", "wrong-size", "no-alpha", "missing", "both"],
)
def test_bad_hints_give_one_line_errors(model_env, photo_file, tmp_path, make_options, message):
    env = dict(os.environ, TINCT_MODEL=str(model_env))
    out = tmp_path / "out.png"
    completed = subprocess.run(
        [sys.executable, "-m", "tinct.cli", "colorize", str(photo_file), "-o", str(out), "--working-size", "128", *make_options(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert lines[0].startswith("tinct: error: ") and message in lines[0], completed.stderr
    assert "Traceback" not in completed.stderr and not out.exists()


def test_hint_points_with_a_batch_are_refused(model_env, photo_file, tmp_path, capsys):
    assert main(["colorize", str(photo_file), str(photo_file), "--out-dir", str(tmp_path / "out"), "--hint", "1,1,#ffffff"]) == 1
    assert "--hints FOLDER" in capsys.readouterr().err
