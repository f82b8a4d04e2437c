"""Reading and writing image files: formats, bit depths, orientation, bad files."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile
from PIL import Image

import tinct
from tinct.io import from_float_image, to_float_image


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [None, 3, 4])
def test_lossless_round_trip(tmp_path, suffix, dtype, channels):
    rng = np.random.default_rng(0)
    shape = (13, 17) if channels is None else (13, 17, channels)
    array = rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    path = tinct.save_image(array, tmp_path / f"image{suffix}")
    loaded = tinct.load_image(path)
    assert loaded.dtype == dtype and loaded.shape == shape
    np.testing.assert_array_equal(loaded, array)


def test_sixteen_bit_png_is_readable_by_pillow_as_sixteen_bit_gray(tmp_path):
    array = np.arange(0, 65536, 257, dtype=np.uint16).reshape(16, 16)
    tinct.save_image(array, tmp_path / "gray16.png")
    with Image.open(tmp_path / "gray16.png") as image:
        assert image.mode.startswith("I")
        np.testing.assert_array_equal(np.asarray(image), array)


def test_float_tiff_round_trip(tmp_path):
    array = np.random.default_rng(1).random((9, 11, 3), dtype=np.float32)
    tinct.save_image(array, tmp_path / "float.tif")
    np.testing.assert_array_equal(tinct.load_image(tmp_path / "float.tif"), array)


def test_jpeg_is_written_and_read(tmp_path, colour_photo):
    tinct.save_image(colour_photo, tmp_path / "photo.jpg")
    loaded = tinct.load_image(tmp_path / "photo.jpg")
    assert loaded.shape == colour_photo.shape and loaded.dtype == np.uint8
    assert np.abs(loaded.astype(int) - colour_photo).mean() < 4


def test_exif_orientation_is_applied(tmp_path, colour_photo):
    image = Image.fromarray(colour_photo)
    exif = image.getexif()
    exif[0x0112] = 6  # stored rotated: display needs a 90° clockwise turn
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    loaded = tinct.load_image(tmp_path / "rotated.jpg")
    assert loaded.shape == (colour_photo.shape[1], colour_photo.shape[0], 3)
    expected = np.rot90(colour_photo, k=-1)
    assert np.abs(loaded.astype(int) - expected).mean() < 4


def test_tiff_orientation_is_applied(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    tifffile.imwrite(tmp_path / "oriented.tif", array, extratags=[(274, "H", 1, 3, True)])
    np.testing.assert_array_equal(tinct.load_image(tmp_path / "oriented.tif"), array[::-1, ::-1])


def test_missing_file(tmp_path):
    with pytest.raises(tinct.ImageError, match="does not exist"):
        tinct.load_image(tmp_path / "nothing.png")


def test_not_an_image(tmp_path):
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(tinct.ImageError, match="not an image"):
        tinct.load_image(tmp_path / "notes.png")


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_truncated_image(tmp_path, colour_photo, suffix):
    path = tinct.save_image(colour_photo, tmp_path / f"photo{suffix}")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(tinct.ImageError, match="damaged or truncated"):
        tinct.load_image(path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    Image.new("L", (3000, 3000)).save(tmp_path / "big.png")
    with pytest.raises(tinct.ImageError, match="3000×3000 = 9,000,000 pixels, over the limit of 1,000,000 pixels"):
        tinct.load_image(tmp_path / "big.png", max_pixels=1_000_000)
    assert tinct.load_image(tmp_path / "big.png", max_pixels=10_000_000).shape == (3000, 3000)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output(tmp_path, colour_photo):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(tinct.ImageError, match="cannot write"):
        tinct.save_image(colour_photo, locked / "out.png")


def test_write_into_missing_folder_fails_cleanly(tmp_path, colour_photo):
    with pytest.raises(tinct.ImageError, match="cannot write"):
        tinct.save_image(colour_photo, tmp_path / "no" / "such" / "folder" / "out.png")


def test_failed_write_leaves_nothing_behind(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    with pytest.raises(tinct.ImageError, match="JPEG cannot hold transparency"):
        tinct.save_image(rgba, tmp_path / "out.jpg")
    assert list(tmp_path.iterdir()) == []


def test_unknown_output_format(tmp_path, colour_photo):
    with pytest.raises(tinct.ImageError, match="unknown format"):
        tinct.save_image(colour_photo, tmp_path / "out.xyz")


def test_float_conversions_round_trip():
    levels = np.arange(65536, dtype=np.uint16)
    np.testing.assert_array_equal(from_float_image(to_float_image(levels), np.uint16), levels)
    levels8 = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(from_float_image(to_float_image(levels8), np.uint8), levels8)


def test_written_files_get_ordinary_permissions(tmp_path, colour_photo):
    path = tinct.save_image(colour_photo, tmp_path / "photo.png")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["photo.png"]


def test_a_crash_mid_write_leaves_the_old_file(tmp_path, colour_photo, monkeypatch):
    target = tinct.save_image(colour_photo, tmp_path / "photo.png")
    before = target.read_bytes()

    def crash(array, path, suffix):
        path.write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(tinct.io, "_write_file", crash)
    with pytest.raises(KeyboardInterrupt):
        tinct.save_image(colour_photo[::2], target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["photo.png"]
