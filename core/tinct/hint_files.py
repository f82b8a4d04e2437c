"""Hint images as files: which file holds a photo's hints, and reading it.

A hint image is an RGBA image of its photo's size whose opaque pixels are colour hints
(see `tinct.hints`).  A hint folder mirrors the photos: the hint image of the photo at
``a/b.jpg`` (its path relative to the folder it was found in, or just its name) is
``a/b`` with any image suffix tinct reads in the hint folder — ``a/b.png`` painted in
GIMP over a JPEG scan, say.  Both the command line's photos and folder batches find
and read hint images here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import ImageError, TinctError
from .io import DEFAULT_MAX_PIXELS, READ_SUFFIXES, load_image

__all__ = ["HintFolder", "load_hint_image"]


class HintFolder:
    """A folder of hint images named like the photos; each of its folders is listed once."""

    def __init__(self, path: Path) -> None:
        if not path.is_dir():
            raise TinctError(f"the hint folder {path} {'is not a folder' if path.exists() else 'does not exist'}")
        self.path = path
        self._listings: dict[Path, dict[str, list[Path]]] = {}

    def _images_by_stem(self, folder: Path) -> dict[str, list[Path]]:
        """The image files directly in ``self.path / folder`` by name without suffix (none if it is missing)."""
        if folder not in self._listings:
            try:
                entries = sorted(os.scandir(self.path / folder), key=lambda entry: entry.name)
            except (FileNotFoundError, NotADirectoryError):
                entries = []
            except OSError as error:
                raise TinctError(f"cannot read the hint folder {self.path / folder}: {error.strerror or error}") from None
            listing: dict[str, list[Path]] = {}
            for entry in entries:
                path = Path(entry.path)
                # Dot files include the atomic writer's temporaries and macOS's ._ resource forks.
                if not entry.name.startswith(".") and path.suffix.lower() in READ_SUFFIXES and entry.is_file():
                    listing.setdefault(path.stem, []).append(path)
            self._listings[folder] = listing
        return self._listings[folder]

    def find(self, photo: Path, relative: Path | None = None) -> Path | None:
        """The hint image of ``photo``, found at ``relative`` (default: the photo's name), or None if it has none.

        Raises `ImageError` if two files could be it (``b.png`` and ``b.tif`` for ``b.jpg``).
        """
        relative = Path(photo.name) if relative is None else relative
        candidates = self._images_by_stem(relative.parent).get(relative.stem, [])
        if len(candidates) > 1:
            names = " and ".join(str(path) for path in candidates)
            raise ImageError(f"{photo} has {len(candidates)} hint images, {names}; keep one of them")
        return candidates[0] if candidates else None


def load_hint_image(path: Path, photo: Path, photo_size: tuple[int, int], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read the hint image ``path`` of ``photo``, whose ``(height, width)`` is ``photo_size``.

    Returns RGBA ``(height, width, 4)`` in uint8, uint16 or float32 (0..1), as the file
    stores it.  Raises `ImageError` if the file cannot be read, has no alpha channel or is
    not the photo's size.
    """
    layer = load_image(path, max_pixels=max_pixels)
    if layer.ndim != 3 or layer.shape[2] != 4:
        raise ImageError(f"the hint image {path} has no alpha channel: paint the hints on a transparent image (RGBA PNG)")
    if layer.shape[:2] != tuple(photo_size):
        height, width = photo_size
        raise ImageError(
            f"the hint image {path} is {layer.shape[1]}×{layer.shape[0]} pixels but {photo} is {width}×{height}; "
            "a hint image must be the photo's size"
        )
    return layer
