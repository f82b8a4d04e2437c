"""A pre-decoded training set: every image once as a 256×256 Lab crop in a memory-mapped file.

Decoding JPEGs costs more CPU than a small network's training step, so a folder is
decoded once into ``(N, 256, 256, 3)`` uint8 Lab (L* scaled to 0..255, a* and b* offset
by 128) and kept in a cache folder; later runs map it in a fraction of a second.
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

CACHE_SIDE = 256
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


def centre_square_lab(path: Path, side: int = CACHE_SIDE) -> np.ndarray:
    """The centre square of an image, resized to ``side``, as uint8 Lab ``(side, side, 3)``."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        short = min(image.size)
        left = (image.width - short) // 2
        top = (image.height - short) // 2
        image = image.resize((side, side), Image.Resampling.LANCZOS, box=(left, top, left + short, top + short))
        rgb = np.asarray(image, dtype=np.float32) / 255.0
    lab = rgb_to_lab(rgb)
    encoded = np.empty(lab.shape, dtype=np.uint8)
    encoded[..., 0] = np.clip(np.rint(lab[..., 0] * LIGHTNESS_TO_BYTE), 0, 255)
    encoded[..., 1:] = np.clip(np.rint(lab[..., 1:] + AB_OFFSET), 0, 255)
    return encoded


def decode_lab(encoded: np.ndarray) -> np.ndarray:
    """Inverse of the cache encoding: uint8 ``(..., 3)`` to float32 Lab."""
    lab = encoded.astype(np.float32)
    lab[..., 0] /= LIGHTNESS_TO_BYTE
    lab[..., 1:] -= AB_OFFSET
    return lab


@dataclass(frozen=True)
class TrainingSet:
    """A mapped cache: ``images`` is ``(N, 256, 256, 3)`` uint8 Lab; ``bin_counts`` ``(Q,)``."""

    images: np.ndarray
    bin_counts: np.ndarray
    sources: list[str]


def load_training_set(folder: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None, show_progress: bool = True) -> TrainingSet:
    """Map the cache of ``folder``, building it first if it is missing or stale."""
    images = list_images(folder)
    listing = "\n".join(f"{p.name}:{p.stat().st_size}" for p in images)
    key = hashlib.sha256(f"{CACHE_SIDE}\n{listing}".encode()).hexdigest()[:16]
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    data_path = cache / f"{key}.u8"
    info_path = cache / f"{key}.json"
    shape = (len(images), CACHE_SIDE, CACHE_SIDE, 3)
    if not info_path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        centres = in_gamut_bin_centres()
        counts = np.zeros(len(centres), dtype=np.int64)
        partial = data_path.with_suffix(".partial")
        array = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
        for index, path in enumerate(tqdm(images, desc=f"caching {Path(folder).name}", unit="img", disable=not show_progress)):
            try:
                array[index] = centre_square_lab(path)
            except Exception as error:  # noqa: BLE001 - any decoder failure, a decompression bomb included, is about this file
                raise TrainingError(f"cannot read training image {path}: {' '.join(str(error).split()) or type(error).__name__}") from None
            ab = decode_lab(array[index, ::8, ::8])[..., 1:].reshape(-1, 2)
            nearest = np.square(ab[:, None, :] - centres[None]).sum(-1).argmin(1)
            counts += np.bincount(nearest, minlength=len(centres))
        array.flush()
        del array
        os.replace(partial, data_path)
        info_path.write_text(json.dumps({"folder": str(folder), "count": len(images), "bin_counts": counts.tolist()}))
    info = json.loads(info_path.read_text())
    array = np.load(data_path, mmap_mode="r")
    return TrainingSet(images=array, bin_counts=np.asarray(info["bin_counts"]), sources=[p.name for p in images])
