"""A pre-decoded training set: every photo once, in Lab, at its own aspect, in a memory-mapped file.

Decoding JPEGs and WebPs costs more CPU than a training step, so a folder is decoded once
into uint8 Lab (L* scaled to 0..255, a* and b* offset by 128) and kept in a cache folder;
later runs map it in a fraction of a second.  Each photo keeps its aspect: its short side
is resized to `CACHE_SHORT_SIDE` and its long side centre-cropped to at most
`CACHE_LONG_SIDE`, so a wide road or landscape keeps its sky and its verge instead of
losing both to a centre square.  The photos lie one after the other in one flat
``(total pixels, 3)`` array; ``offsets`` and ``shapes`` say where each one is.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..colour import rgb_to_lab
from ..errors import TrainingError
from ..models.chroma_bins import in_gamut_bin_centres

CACHE_SHORT_SIDE = 224
CACHE_LONG_SIDE = 448
# Part of the cache key: a cache built by another layout version is rebuilt, never misread.
CACHE_LAYOUT = "aspect-v1"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}
LIGHTNESS_TO_BYTE = 255.0 / 100.0
AB_OFFSET = 128.0


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "tinct" / "training-cache"


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingError(f"training data folder {folder} does not exist")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise TrainingError(f"training data folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return images


def cached_shape(width: int, height: int) -> tuple[int, int]:
    """``(height, width)`` a photo of ``width`` × ``height`` pixels takes in the cache."""
    scale = CACHE_SHORT_SIDE / min(width, height)
    resized_width, resized_height = max(round(width * scale), CACHE_SHORT_SIDE), max(round(height * scale), CACHE_SHORT_SIDE)
    return min(resized_height, CACHE_LONG_SIDE), min(resized_width, CACHE_LONG_SIDE)


def encode_lab(rgb: np.ndarray) -> np.ndarray:
    """float sRGB ``(H, W, 3)`` in [0, 1] to the cache's uint8 Lab ``(H, W, 3)``."""
    lab = rgb_to_lab(rgb)
    encoded = np.empty(lab.shape, dtype=np.uint8)
    encoded[..., 0] = np.clip(np.rint(lab[..., 0] * LIGHTNESS_TO_BYTE), 0, 255)
    encoded[..., 1:] = np.clip(np.rint(lab[..., 1:] + AB_OFFSET), 0, 255)
    return encoded


def cached_lab(path: Path) -> np.ndarray:
    """A photo as the cache stores it: uint8 Lab ``(h, w, 3)`` with ``(h, w)`` from `cached_shape`."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        height, width = cached_shape(*image.size)
        # The crop box in source pixels that maps onto the cached (height, width) at one scale.
        scale = min(image.size) / CACHE_SHORT_SIDE
        # Rounding in cached_shape can make the box a fraction of a pixel larger than the photo.
        box_width, box_height = min(width * scale, image.width), min(height * scale, image.height)
        left, top = (image.width - box_width) / 2, (image.height - box_height) / 2
        image = image.resize((width, height), Image.Resampling.LANCZOS, box=(left, top, left + box_width, top + box_height))
        return encode_lab(np.asarray(image, dtype=np.float32) / 255.0)


def decode_lab(encoded: np.ndarray) -> np.ndarray:
    """Inverse of the cache encoding: uint8 ``(..., 3)`` to float32 Lab."""
    lab = encoded.astype(np.float32)
    lab[..., 0] /= LIGHTNESS_TO_BYTE
    lab[..., 1:] -= AB_OFFSET
    return lab


@dataclass(frozen=True)
class TrainingSet:
    """A mapped cache.

    ``pixels`` is ``(total pixels, 3)`` uint8 Lab; photo ``i`` is rows
    ``offsets[i] : offsets[i] + h * w`` with ``(h, w) = shapes[i]``; ``bin_counts`` ``(Q,)``
    counts training pixels per a*b* bin; ``sources`` are the file names.
    """

    pixels: np.ndarray
    offsets: np.ndarray
    shapes: np.ndarray
    bin_counts: np.ndarray
    sources: list[str]

    def __len__(self) -> int:
        return len(self.sources)

    def image(self, index: int) -> np.ndarray:
        """Photo ``index`` as uint8 Lab ``(h, w, 3)`` (a view into the mapped file)."""
        height, width = (int(side) for side in self.shapes[index])
        start = int(self.offsets[index])
        return self.pixels[start : start + height * width].reshape(height, width, 3)

    def centre_square(self, index: int) -> np.ndarray:
        """The centre square of photo ``index``, ``(s, s, 3)`` uint8 Lab with s its short side."""
        image = self.image(index)
        side = min(image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        return image[top : top + side, left : left + side]


def _unreadable(path: Path, error: Exception) -> TrainingError:
    return TrainingError(f"cannot read training image {path}: {' '.join(str(error).split()) or type(error).__name__}")


def _build_cache(images: list[Path], data_path: Path, info_path: Path, label: str, show_progress: bool) -> None:
    shapes = []
    for path in images:
        try:
            with Image.open(path) as image:
                shapes.append(cached_shape(*image.size))
        except Exception as error:  # noqa: BLE001 - any decoder failure, a decompression bomb included, is about this file
            raise _unreadable(path, error) from None
    sizes = np.array([height * width for height, width in shapes], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    centres = in_gamut_bin_centres()
    counts = np.zeros(len(centres), dtype=np.int64)
    partial = data_path.with_suffix(".partial")
    array = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=(int(sizes.sum()), 3))
    for index, path in enumerate(tqdm(images, desc=f"caching {label}", unit="img", disable=not show_progress)):
        try:
            encoded = cached_lab(path)
        except Exception as error:  # noqa: BLE001 - as above
            raise _unreadable(path, error) from None
        array[offsets[index] : offsets[index] + sizes[index]] = encoded.reshape(-1, 3)
        ab = decode_lab(encoded[::8, ::8])[..., 1:].reshape(-1, 2)
        nearest = np.square(ab[:, None, :] - centres[None]).sum(-1).argmin(1)
        counts += np.bincount(nearest, minlength=len(centres))
    array.flush()
    del array
    os.replace(partial, data_path)
    info = {"count": len(images), "offsets": offsets.tolist(), "shapes": shapes, "bin_counts": counts.tolist()}
    info_path.write_text(json.dumps(info))


def load_training_set(folder: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None, show_progress: bool = True) -> TrainingSet:
    """Map the cache of ``folder``, building it first if it is missing or stale."""
    images = list_images(folder)
    listing = "\n".join(f"{p.name}:{p.stat().st_size}" for p in images)
    key = hashlib.sha256(f"{CACHE_LAYOUT}:{CACHE_SHORT_SIDE}:{CACHE_LONG_SIDE}\n{listing}".encode()).hexdigest()[:16]
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    data_path = cache / f"{key}.u8"
    info_path = cache / f"{key}.json"
    if not info_path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        _build_cache(images, data_path, info_path, Path(folder).name, show_progress)
    info = json.loads(info_path.read_text())
    return TrainingSet(
        pixels=np.load(data_path, mmap_mode="r"),
        offsets=np.asarray(info["offsets"], dtype=np.int64),
        shapes=np.asarray(info["shapes"], dtype=np.int64),
        bin_counts=np.asarray(info["bin_counts"]),
        sources=[p.name for p in images],
    )
