"""Reading and writing image files, and converting pixel arrays to and from float.

Arrays are channels last: gray ``(H, W)``, RGB ``(H, W, 3)`` or RGBA ``(H, W, 4)``, in
uint8 (0..255), uint16 (0..65535) or float32 (0..1).  Files: PNG (8- and 16-bit),
TIFF (8-, 16-bit and float), JPEG and WebP (8-bit).  EXIF orientation is applied on
reading.  Writes are atomic: a temporary file in the target folder, then a rename.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import png
import tifffile
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import write_atomically
from .colour import lab_to_rgb
from .errors import ImageError

__all__ = ["load_image", "save_image", "to_float_image", "from_float_image", "pil_to_array", "DEFAULT_MAX_PIXELS"]

# Larger than a 16k×16k scan; a larger image needs --max-pixels to guard against decompression bombs.
DEFAULT_MAX_PIXELS = 400_000_000
TIFF_SUFFIXES = {".tif", ".tiff"}
PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
READ_SUFFIXES = WRITE_SUFFIXES = TIFF_SUFFIXES | PIL_SUFFIXES
SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour types that hold RGB (2) or RGBA (6).
PNG_COLOUR_TYPES = {2: 3, 6: 4}
# Pillow's decompression-bomb limit is a process-wide global; tinct applies its own limit.
_pillow_limit_lock = threading.Lock()
# tifffile logs its complaints about a damaged file to stderr; tinct reports the file itself (ImageError).
logging.getLogger("tifffile").setLevel(logging.CRITICAL)


def to_float_image(array: np.ndarray) -> np.ndarray:
    """uint8, uint16 or float pixels as float32 in [0, 1] (same shape)."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if array.dtype in (np.float32, np.float64):
        return np.clip(array, 0.0, 1.0, dtype=np.float32) if array.dtype == np.float32 else np.clip(array, 0.0, 1.0).astype(np.float32)
    raise ImageError(f"unsupported pixel type {array.dtype}; use uint8, uint16 or float32 in 0..1")


def from_float_image(values: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """Float pixels in [0, 1] to ``dtype`` (uint8, uint16 rounded; floats as they are)."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)
    if dtype == np.uint16:
        return np.rint(np.clip(values, 0.0, 1.0) * 65535.0).astype(np.uint16)
    return np.clip(values, 0.0, 1.0).astype(dtype)


def _png_header(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) of a PNG file, or None if it is not a PNG."""
    with path.open("rb") as handle:
        head = handle.read(33)
    if len(head) < 33 or not head.startswith(PNG_SIGNATURE):
        return None
    return head[24], head[25]


def pixel_limit_message(name: str, width: int, height: int, max_pixels: int) -> str:
    """``"NAME is 64×48 = 3,072 pixels, over the limit of 1,000 pixels"``: exact counts, whatever the size."""
    return f"{name} is {width}×{height} = {width * height:,} pixels, over the limit of {max_pixels:,} pixels"


def _check_size(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"{pixel_limit_message(str(path), width, height, max_pixels)} (a guard against decompression bombs); "
            "raise it with --max-pixels if the image is genuine"
        )


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF/TIFF orientation tag (1..8) to an ``(H, W, ...)`` array."""
    operations = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1], 5: lambda a: np.swapaxes(a, 0, 1),
                  6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1], 7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1], 8: lambda a: np.swapaxes(a, 0, 1)[::-1]}
    return np.ascontiguousarray(operations[orientation](array)) if orientation in operations else array


def _load_tiff(path: Path, max_pixels: int) -> np.ndarray:
    with tifffile.TiffFile(path) as tiff:
        if not len(tiff.pages):
            raise ImageError(f"{path} holds no readable image: the TIFF is truncated or damaged (its index is missing)")
        page = tiff.pages[0]
        shape = page.shape
        height, width = (shape[1], shape[2]) if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4) else shape[:2]
        _check_size(path, width, height, max_pixels)
        array = page.asarray()
        orientation_tag = page.tags.get("Orientation")
        orientation = int(orientation_tag.value) if orientation_tag is not None else 1
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 3 and array.shape[-1] > 4:
        raise ImageError(f"{path} has {array.shape[-1]} channels; tinct reads gray, RGB and RGBA")
    if array.dtype.kind in "iu" and array.dtype not in SUPPORTED_DTYPES:
        array = _integer_levels(array, str(path))
    if array.dtype not in SUPPORTED_DTYPES:
        raise ImageError(f"{path} has {array.dtype} pixels; tinct reads 8- and 16-bit and float TIFF")
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return _orient(array, orientation)


def _load_png_16bit_colour(path: Path, max_pixels: int) -> np.ndarray:
    reader = png.Reader(filename=str(path))
    width, height, rows, info = reader.asDirect()
    _check_size(path, width, height, max_pixels)
    channels = info["planes"]
    array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, channels)
    with Image.open(path) as image:
        orientation = image.getexif().get(0x0112, 1)
    return _orient(array, orientation)


_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_RGBA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
# Colour modes Pillow converts to sRGB itself.
_RGB_MODES = ("RGB", "RGBX", "CMYK", "YCbCr", "HSV", "P")


def _integer_levels(values: np.ndarray, name: str) -> np.ndarray:
    """Integer samples other than uint8/uint16 as uint16 levels, if they lie in 0..65535."""
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise ImageError(f"{name} has {values.dtype.itemsize * 8}-bit integer pixels from {values.min()} to {values.max()}, outside 0..65535; save it as 16-bit")
    return values.astype(np.uint16)


def _gray_of_lightness(lightness: np.ndarray) -> np.ndarray:
    """float32 sRGB gray levels with the given L* (0..100): what tinct colorizes an L*a*b* image from."""
    lab = np.stack([lightness.astype(np.float64), np.zeros_like(lightness, np.float64), np.zeros_like(lightness, np.float64)], axis=-1)
    return lab_to_rgb(lab)[..., 0].astype(np.float32)


def pil_to_array(image: Image.Image, name: str) -> np.ndarray:
    """A PIL image's pixels as tinct's arrays, keeping their precision; ``name`` is used in errors.

    Modes ``1`` and ``L`` give uint8 gray; ``I;16`` (any byte order) and ``I`` (values in
    0..65535) give uint16 gray; ``F`` (values in [0, 1]) gives float32 gray; ``LAB`` gives
    float32 gray of the same L* (its a*b* would be discarded anyway); modes with
    alpha (``RGBA``, ``RGBa``, ``LA``, ``La``, ``PA``, or ``P``/``L``/``RGB`` with a
    transparent colour) give uint8 RGBA; the other colour modes (``RGB``, ``RGBX``,
    ``CMYK``, ``YCbCr``, ``HSV``, ``P``) give uint8 RGB. Other modes, and ``I``
    or ``F`` pixels outside those ranges, raise `ImageError`.
    """
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        return np.asarray(image).astype(np.uint16)
    if mode == "I":
        return _integer_levels(np.asarray(image), name)
    if mode == "LAB":  # only L* matters to tinct; Pillow stores it as 0..255 for 0..100
        return _gray_of_lightness(np.asarray(image)[..., 0] * (100.0 / 255.0))
    if mode == "F":
        values = np.asarray(image, dtype=np.float32)
        if not np.isfinite(values).all():
            raise ImageError(f"{name} has float pixels that are NaN or infinite")
        if values.size and (values.min() < 0.0 or values.max() > 1.0):
            raise ImageError(f"{name} has float pixels from {values.min():g} to {values.max():g}; tinct reads float pixels in 0..1, scale them first")
        return values.copy()
    if mode in ("1", "L") and "transparency" not in image.info:
        return np.asarray(image.convert("L")).copy()
    if mode in _RGBA_MODES or (mode in ("P", "L", "RGB") and "transparency" in image.info):
        return np.asarray((image.convert("LA") if mode == "La" else image).convert("RGBA")).copy()
    if mode in _RGB_MODES:
        return np.asarray(image.convert("RGB")).copy()
    raise ImageError(f"{name} has the PIL mode {mode!r}, which tinct cannot read; convert it to L, I;16, RGB or RGBA")


def _load_with_pillow(path: Path, max_pixels: int) -> np.ndarray:
    with _pillow_limit_lock:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            image = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = previous
    with image:
        _check_size(path, image.width, image.height, max_pixels)
        image.load()
        return pil_to_array(ImageOps.exif_transpose(image), str(path))


def load_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file into an array, EXIF orientation applied.

    Returns gray ``(H, W)``, RGB ``(H, W, 3)`` or RGBA ``(H, W, 4)`` in uint8, uint16 or
    float32 (0..1), as the file stores it.  Raises `tinct.ImageError` for a missing file, a
    file that is not an image, a truncated image or one over ``max_pixels`` pixels.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            return _load_tiff(path, max_pixels)
        header = _png_header(path)
        if header is not None and header[0] == 16 and header[1] in PNG_COLOUR_TYPES:
            return _load_png_16bit_colour(path, max_pixels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _load_with_pillow(path, max_pixels)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path} is not an image tinct can read (PNG, TIFF, JPEG, WebP, BMP)") from None
    except MemoryError:
        raise ImageError(f"{path} needs more memory to decode than this machine has free") from None
    except Exception as error:  # noqa: BLE001 - whatever a decoder raises on a bad file (IndexError, KeyError, ...) is about the file
        detail = str(error) or type(error).__name__
        raise ImageError(f"{path} is damaged or truncated ({detail}); check the file or save it again") from None


def _write_file(array: np.ndarray, path: Path, suffix: str) -> None:
    if suffix in TIFF_SUFFIXES:
        tifffile.imwrite(path, array, photometric="minisblack" if array.ndim == 2 else "rgb", compression="zlib")
        return
    if array.dtype == np.uint16 and suffix == ".png" and array.ndim == 3:
        height, width, channels = array.shape
        writer = png.Writer(width, height, greyscale=False, alpha=channels == 4, bitdepth=16, compression=6)
        with path.open("wb") as handle:
            writer.write_array(handle, array.reshape(-1))
        return
    if array.dtype == np.uint16 and suffix == ".png":
        Image.fromarray(array).save(path, format="PNG")
        return
    eight_bit = from_float_image(to_float_image(array), np.uint8) if array.dtype != np.uint8 else array
    options = {"quality": 95} if suffix in (".jpg", ".jpeg", ".webp") else {}
    Image.fromarray(eight_bit).save(path, format=Image.registered_extensions()[suffix], **options)


def save_image(array: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write an array (layouts and types as `load_image` returns) atomically to ``path``.

    The format follows the suffix: ``.png`` and ``.tif`` keep 16-bit (and ``.tif`` float32)
    precision; ``.jpg`` and ``.webp`` are 8-bit.  Nothing is left at ``path`` if writing fails.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise ImageError(f"cannot write {path}: unknown format {suffix!r}; use .png, .tif, .jpg or .webp")
    if suffix in (".jpg", ".jpeg") and array.ndim == 3 and array.shape[2] == 4:
        raise ImageError(f"cannot write {path}: JPEG cannot hold transparency; write {path.with_suffix('.png').name} instead")
    if array.dtype == np.float32 and suffix not in TIFF_SUFFIXES:
        array = from_float_image(array, np.uint16 if suffix == ".png" else np.uint8)
    try:
        write_atomically(path, lambda temporary: _write_file(array, temporary, suffix))
    except OSError as error:
        raise ImageError(f"cannot write {path}: {error.strerror or error}") from None
    except (ValueError, TypeError, KeyError) as error:  # an encoder refusing these pixels; the message is about the target
        raise ImageError(f"cannot write {path}: {error}") from None
    return path
