"""Damaged image files and every PIL mode (issue classes 4 and 5).

A file a decoder chokes on is an `ImageError` naming it, and a batch goes on past it; a PIL
image of any mode is read with its value range (its L* survives colorization) or refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from skimage.color import rgb2lab

import tinct
from tinct.cli import main
from tinct.io import to_float_image

SIDE = (48, 64)  # height, width
# The output is 8-bit: L* within 0.3 of the input's (see tests/colour_checks.py), plus a
# little for inputs whose own levels are coarser than the reference's float.
LIGHTNESS_TOLERANCE = 0.35


@pytest.fixture(scope="module")
def colorizer(tmp_path_factory: pytest.TempPathFactory) -> tinct.Colorizer:
    return tinct.create_model(seed=0, device="cpu")


def ramp() -> np.ndarray:
    """A float64 gray ramp in [0, 1], ``SIDE``, every row the same."""
    return np.tile(np.linspace(0.0, 1.0, SIDE[1]), (SIDE[0], 1))


def lightness_of_gray(values: np.ndarray) -> np.ndarray:
    """L* of sRGB gray levels in [0, 1] (scikit-image as the independent reference)."""
    return rgb2lab(np.repeat(values[..., None], 3, axis=-1))[..., 0]


def lightness_of_pil(image: Image.Image) -> np.ndarray:
    """L* of an 8-bit RGB(A) PIL image."""
    return rgb2lab(np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0)[..., 0]


# --- class 4: damaged files ----------------------------------------------------------------


def tiff_writers() -> dict[str, Callable[[Path], None]]:
    generator = np.random.default_rng(4)
    gray = (generator.random(SIDE) * 255).astype(np.uint8)
    rgb16 = (generator.random(SIDE + (3,)) * 65535).astype(np.uint16)
    return {
        "tifffile zlib strips": lambda path: tifffile.imwrite(path, gray, compression="zlib", rowsperstrip=8),
        "tifffile zlib tiles 16-bit": lambda path: tifffile.imwrite(path, rgb16, compression="zlib", tile=(16, 16), photometric="rgb"),
        "pillow deflate (index at the end)": lambda path: Image.fromarray(gray).save(path, compression="tiff_deflate"),
        "pillow lzw (index at the end)": lambda path: Image.fromarray(np.dstack([gray] * 3)).save(path, compression="tiff_lzw"),
        "pillow packbits (index at the end)": lambda path: Image.fromarray(gray).save(path, compression="packbits"),
    }


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("writer", sorted(tiff_writers()))
def test_truncated_compressed_tiff_is_an_image_error_naming_the_file(tmp_path: Path, writer: str, fraction: float) -> None:
    whole = tmp_path / "whole.tif"
    tiff_writers()[writer](whole)
    data = whole.read_bytes()
    cut = tmp_path / "scan.tif"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(tinct.ImageError, match=r"scan\.tif .*(truncated|damaged)"):
        tinct.load_image(cut)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.png", b""),
        ("header-only.png", b"\x89PNG\r\n\x1a\n"),
        ("tiff-magic.tif", b"II*\x00"),
        ("tiff-bad-offset.tif", b"II*\x00\xff\xff\xff\x7f" + b"\x00" * 32),
        ("big-endian-garbage.tiff", b"MM\x00*" + bytes(range(256)) * 4),
        ("jpeg-start.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 20),
        ("text.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8),
        ("bmp-header.bmp", b"BM" + b"\xff" * 60),
    ],
)
def test_garbage_with_an_image_suffix_is_an_image_error_naming_the_file(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(tinct.ImageError, match=name.replace(".", r"\.")):
        tinct.load_image(path)


def test_truncated_tiff_in_a_batch_is_reported_and_the_rest_are_written(
    tmp_path: Path, untrained_model_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TINCT_MODEL", str(untrained_model_file))
    first = tinct.save_image(np.full(SIDE, 90, np.uint8), tmp_path / "a-first.png")
    whole = tmp_path / "whole.tif"
    Image.fromarray(np.full(SIDE, 120, np.uint8)).save(whole, compression="tiff_deflate")
    broken = tmp_path / "b-broken.tif"
    broken.write_bytes(whole.read_bytes()[:-40])
    garbage = tmp_path / "c-garbage.tif"
    garbage.write_bytes(b"II*\x00" + b"\xff" * 100)
    last = tinct.save_image(np.full(SIDE, 200, np.uint8), tmp_path / "d-last.tif")
    out = tmp_path / "out"
    status = main(["colorize", str(first), str(broken), str(garbage), str(last), "--out-dir", str(out), "--working-size", "64"])
    err = capsys.readouterr().err.splitlines()
    assert status == 1
    assert sorted(path.name for path in out.iterdir()) == ["a-first.png", "d-last.tif"]
    errors = [line for line in err if line.startswith("tinct: error:")]
    assert len(errors) == 2 and "b-broken.tif" in errors[0] and "c-garbage.tif" in errors[1]
    assert err[-1] == "tinct: 2 of 4 images failed"
    assert not any("Traceback" in line or "tifffile" in line for line in err)


# --- class 5: every PIL mode -----------------------------------------------------------------


def gray_mode_image(mode: str) -> tuple[Image.Image, np.ndarray]:
    """An image of ``mode`` holding the gray ramp, and the L* it stands for."""
    values = ramp()
    if mode == "1":
        bits = values > 0.5
        return Image.fromarray(bits), lightness_of_gray(bits.astype(np.float64))
    if mode == "L":
        levels = np.rint(values * 255).astype(np.uint8)
        return Image.fromarray(levels), lightness_of_gray(levels / 255.0)
    if mode.startswith("I;16") or mode == "I":
        levels = np.rint(values * 65535).astype(np.uint16)
        if mode == "I":
            return Image.fromarray(levels.astype(np.int32)), lightness_of_gray(levels / 65535.0)
        byte_order = ">u2" if mode == "I;16B" else "<u2"
        return Image.frombytes(mode, SIDE[::-1], levels.astype(byte_order).tobytes()), lightness_of_gray(levels / 65535.0)
    if mode == "F":
        samples = values.astype(np.float32)
        return Image.fromarray(samples), lightness_of_gray(samples.astype(np.float64))
    if mode == "LAB":  # Pillow stores L* as 0..255 and a*, b* as signed bytes: a strong colour here
        levels = np.rint(values * 255).astype(np.uint8)
        a, b = np.full(SIDE, 60, np.int8).view(np.uint8), np.full(SIDE, -70, np.int8).view(np.uint8)
        return Image.frombytes("LAB", SIDE[::-1], np.dstack([levels, a, b]).tobytes()), levels * (100.0 / 255.0)
    if mode == "HSV":
        levels = np.rint(values * 255).astype(np.uint8)
        zero = np.zeros(SIDE, np.uint8)
        return Image.frombytes("HSV", SIDE[::-1], np.dstack([zero, zero, levels]).tobytes()), lightness_of_gray(levels / 255.0)
    raise AssertionError(mode)


@pytest.mark.parametrize("mode", ["1", "L", "I;16", "I;16L", "I;16B", "I;16N", "I", "F", "LAB", "HSV"])
def test_gray_pil_modes_keep_their_value_range(colorizer: tinct.Colorizer, mode: str) -> None:
    image, expected = gray_mode_image(mode)
    assert image.mode == mode
    result = colorizer.colorize(image, working_size=64)
    assert isinstance(result, Image.Image) and result.mode == "RGB" and result.size == image.size
    np.testing.assert_allclose(lightness_of_pil(result), expected, atol=LIGHTNESS_TOLERANCE)


@pytest.mark.parametrize("mode", ["RGB", "RGBX", "CMYK", "YCbCr", "P", "RGBA", "RGBa", "LA", "La", "PA"])
def test_colour_pil_modes_are_read_as_pillow_converts_them(colorizer: tinct.Colorizer, colour_photo: np.ndarray, mode: str) -> None:
    image = Image.fromarray(colour_photo[: SIDE[0], : SIDE[1]])
    if mode in ("LA", "La", "PA"):
        image = image.convert("LA" if mode != "PA" else "P").convert(mode) if mode != "PA" else image.convert("P").convert("PA")
    else:
        image = image.convert(mode)
    assert image.mode == mode
    straight = image.convert("LA").convert("RGBA") if mode == "La" else image.convert("RGBA")
    result = colorizer.colorize(image, working_size=64)
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA")
    assert result.mode == ("RGBA" if has_alpha else "RGB")
    np.testing.assert_allclose(lightness_of_pil(result), lightness_of_pil(straight), atol=LIGHTNESS_TOLERANCE)
    if has_alpha:
        np.testing.assert_array_equal(np.asarray(result)[..., 3], np.asarray(straight)[..., 3])


def test_palette_with_a_transparent_colour_keeps_it(colorizer: tinct.Colorizer) -> None:
    levels = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (SIDE[0], 1))
    image = Image.fromarray(levels).convert("P")
    image.info["transparency"] = int(np.asarray(image)[0, 0])
    result = colorizer.colorize(image, working_size=64)
    assert result.mode == "RGBA"
    assert np.asarray(result)[0, 0, 3] == 0 and np.asarray(result)[0, -1, 3] == 255


def test_every_pil_mode_is_converted_or_refused(colorizer: tinct.Colorizer) -> None:
    """No mode Pillow knows gives a silent surprise: each is read (the tests above check how) or refused."""
    for mode in sorted(Image.MODES):
        image = Image.new(mode, SIDE[::-1])
        try:
            result = colorizer.colorize(image, working_size=64)
        except tinct.ImageError as error:
            assert mode in str(error)
            continue
        assert result.mode in ("RGB", "RGBA") and result.size == image.size


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: Image.fromarray(np.full(SIDE, 255.0, np.float32)), "float pixels from 255 to 255; tinct reads float pixels in 0..1"),
        (lambda: Image.fromarray(np.full(SIDE, -0.5, np.float32)), "float pixels from -0.5 to -0.5"),
        (lambda: Image.fromarray(np.full(SIDE, np.nan, np.float32)), "NaN or infinite"),
        (lambda: Image.fromarray(np.full(SIDE, 70000, np.int32)), "32-bit integer pixels from 70000 to 70000, outside 0..65535"),
        (lambda: Image.fromarray(np.full(SIDE, -1, np.int32)), "outside 0..65535"),
    ],
)
def test_out_of_range_pil_pixels_are_refused(colorizer: tinct.Colorizer, make: Callable[[], Image.Image], problem: str) -> None:
    with pytest.raises(tinct.ImageError, match=problem):
        colorizer.colorize(make(), working_size=64)


def test_lazily_decoded_damaged_pil_image_is_an_image_error(colorizer: tinct.Colorizer, tmp_path: Path) -> None:
    Image.fromarray(np.full(SIDE, 100, np.uint8)).save(tmp_path / "whole.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "whole.png").read_bytes()[:60])
    with Image.open(tmp_path / "cut.png") as image:
        with pytest.raises(tinct.ImageError, match="cannot be decoded"):
            colorizer.colorize(image, working_size=64)


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I", "F"])
def test_pil_mode_files_load_with_their_range(tmp_path: Path, mode: str) -> None:
    image, expected = gray_mode_image(mode)
    suffix = ".tif" if mode in ("F", "I", "I;16B") else ".png"
    try:
        image.save(tmp_path / f"gray{suffix}")
    except (OSError, KeyError, ValueError):
        pytest.skip(f"Pillow cannot write {mode} as {suffix}")
    loaded = tinct.load_image(tmp_path / f"gray{suffix}")
    assert loaded.dtype == (np.float32 if mode == "F" else np.uint16)
    np.testing.assert_allclose(lightness_of_gray(to_float_image(loaded).astype(np.float64)), expected, atol=0.01)
