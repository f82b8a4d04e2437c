"""User colour hints: all of their arithmetic, from the user's points or layer to the corrected chroma.

A hint is either a point — ``(x, y, colour)`` in image pixels, colour an sRGB triple in
[0, 1] (floats) or 0..255 (ints) — or an RGBA hint image (array or PIL image) of the
image's size whose opaque pixels are hints (the shape a hint layer in GIMP or Krita has).

The stages, in the order the pipeline (`tinct.inference`) calls them:

1. `parse_hint_point` — a point as the command line writes it (``x,y,#rrggbb``);
2. `check_hints` — validation at the boundary, before any work;
3. `rasterize_hints` — points or hint image → `HintMaps` at the working resolution (the
   network's hint channels);
4. `apply_hints` — after the network: the prediction made to honour the hints on the
   chroma grid (`propagate_hint_corrections`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .colour import rgb_to_lab
from .errors import TinctError

HintPoint = tuple[float, float, Sequence[float]]
Hints = Union[Sequence[HintPoint], np.ndarray, Image.Image, None]
# A point hint covers this many pixels square at the network's working resolution.
HINT_POINT_SIZE = 3
# A hint-image pixel counts as a hint where its alpha is at least this (0..1).
HINT_ALPHA_THRESHOLD = 0.5
# Hint propagation (`propagate_hint_corrections`).  Hinted cells closer than about this
# fraction of the long side count as one site: a point, a painted dot or a short stroke
# weighs about one site, whatever number of cells it covers.
HINT_SITE_RADIUS = 0.1
# How global the correction is grows with the number of sites, from none up to this many
# (a user's dot or two: they mean those spots, the rest of the photo keeps its colour) ...
LOCAL_HINT_SITES = 2.0
# ... to full from this many: hints scattered over the photo are evidence about all of it (a
# wrong cast, a wrong hue).  5 and 10 hints sampled from the truth make about 4 and 7 sites.
GLOBAL_HINT_SITES = 5.0
# Spatial reach (Gaussian σ, fraction of the long side) of the local spreading: with local
# hints it fades to the prediction within about 0.3 of the long side (a dot recolours its
# surroundings, nothing half a photo away); with global hints it grows to the wide reach.
HINT_LOCAL_REACH = 0.1
HINT_WIDE_REACH = 0.3
# L* similarity width of the spreading, in L* units: colour follows regions of like lightness.
HINT_LIGHTNESS_SIGMA = 8.0
# The weight of the network's own prediction against the corrections, relative to one site's
# weight: where no hint is near, the prediction wins; at a hint, the hint does (about 95 %).
HINT_PRIOR_WEIGHT = 0.05
# The global chroma map fitted to the hints (weighted ridge regression, one unit of weight
# per site): the weight of the prior "keep the prediction as it is", in Lab² × sites, and
# the variance of the prediction's error per site, in Lab² (it shrinks colours the hints do
# not confirm towards gray).
HINT_IDENTITY_PRIOR = 150.0
HINT_PREDICTION_VARIANCE = 75.0
# The site and reach constants above were chosen on the first 150 validation photos with
# docs/measure_hint_locality.py (see docs/model-card.md).
# At most this many hint cells steer the correction field (a hint layer can have many).
MAX_HINT_CELLS = 1024


class HintMaps(NamedTuple):
    """Hints on a pixel grid: ``ab`` ``(1, 2, h, w)`` float32 a*b* in Lab units (0 where no
    hint), ``mask`` ``(1, 1, h, w)`` float32 in [0, 1], the fraction of each pixel hinted."""

    ab: torch.Tensor
    mask: torch.Tensor


_HINT_POINT_PATTERN = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*#([0-9a-fA-F]{6})\s*$")


def parse_hint_point(text: str) -> HintPoint:
    """A hint point written ``x,y,#rrggbb`` (x, y in image pixels from the top left) → ``(x, y, (r, g, b))``, r, g, b floats in [0, 1].

    Raises `TinctError` saying the expected form if ``text`` is not one.
    """
    match = _HINT_POINT_PATTERN.match(text)
    if match is None:
        raise TinctError(f"a hint must be written x,y,#rrggbb (pixels from the top left, a hex colour), e.g. 120,80,#2a5db0; got {text!r}")
    x, y, colour = match.groups()
    return int(x), int(y), tuple(int(colour[index : index + 2], 16) / 255.0 for index in (0, 2, 4))


ValidHints = Union[list[tuple[float, float, np.ndarray]], np.ndarray, None]


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _hint_colour(colour: object) -> np.ndarray:
    """A point's colour as float64 sRGB ``(3,)`` in [0, 1]: whole numbers are 0..255, fractions 0..1."""
    if isinstance(colour, np.ndarray) and colour.shape == (3,) and colour.dtype.kind in "iuf":
        values = list(colour)
    elif isinstance(colour, (list, tuple)) and len(colour) == 3:
        values = list(colour)
    else:
        raise TinctError(f"a hint colour must be an (r, g, b) triple of numbers, got {colour!r}")
    if not all(_is_real(value) for value in values):
        raise TinctError(f"a hint colour must be an (r, g, b) triple of numbers, got {colour!r}")
    rgb = np.asarray(values, dtype=np.float64)
    if not np.isfinite(rgb).all():
        raise TinctError(f"hint colour {colour!r} holds NaN or infinity")
    whole = all(isinstance(value, (int, np.integer)) for value in values)
    if whole:
        rgb = rgb / 255.0
    if rgb.min() < 0 or rgb.max() > 1:
        raise TinctError(f"hint colour {colour!r} is outside {'0..255 (whole numbers)' if whole else '0..1 (fractions)'}")
    return rgb


def _hint_image(hints: np.ndarray, width: int, height: int) -> np.ndarray:
    if hints.ndim != 3 or hints.shape[2] != 4 or hints.shape[:2] != (height, width):
        raise TinctError(f"a hint image must be RGBA of the image's size {width}×{height}, got shape {hints.shape}")
    if hints.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise TinctError(f"a hint image must hold uint8, uint16 or float pixels in 0..1, got {hints.dtype}")
    if hints.dtype.kind == "f":
        if not np.isfinite(hints).all():
            raise TinctError("the hint image holds NaN or infinite values")
        if hints.min() < 0 or hints.max() > 1:
            raise TinctError(f"the hint image's float pixels run from {hints.min():g} to {hints.max():g}; they must lie in 0..1")
    from .io import to_float_image

    return to_float_image(hints)


def check_hints(hints: object, image_size: tuple[int, int]) -> ValidHints:
    """Validate hints as `Colorizer.colorize` takes them, before any work; raises `TinctError`.

    Parameters
    ----------
    hints : None; a list of ``(x, y, (r, g, b))`` points (x, y in image pixels, inside the
        image; r, g, b whole numbers 0..255 or fractions 0..1); or a hint image of the image's
        size with alpha — an ``(H, W, 4)`` array (uint8, uint16 or float in [0, 1]) or a PIL
        image with alpha
    image_size : ``(height, width)`` of the image

    Returns
    -------
    None (no hints), a float32 RGBA array ``(H, W, 4)`` in [0, 1], or a list of
    ``(x, y, rgb)`` with ``rgb`` float64 ``(3,)`` in [0, 1]
    """
    if hints is None:
        return None
    height, width = image_size
    if isinstance(hints, Image.Image):
        from .io import pil_to_array

        if hints.mode not in ("RGBA", "RGBa", "LA", "La", "PA") and not (hints.mode in ("P", "L", "RGB") and "transparency" in hints.info):
            raise TinctError(f"a hint image needs alpha (its opaque pixels are the hints); got a PIL image of mode {hints.mode}")
        hints = pil_to_array(hints, "the hint image")
    if isinstance(hints, np.ndarray):
        return _hint_image(hints, width, height)
    if isinstance(hints, (str, bytes, Mapping)) or not isinstance(hints, Sequence):
        raise TinctError(f"hints must be a list of (x, y, (r, g, b)) points or an RGBA hint image, got {type(hints).__name__}")
    points = []
    for point in hints:
        if not isinstance(point, (list, tuple)) or len(point) != 3:
            raise TinctError(f"a hint point must be (x, y, (r, g, b)), got {point!r}")
        x, y, colour = point
        if not (_is_real(x) and _is_real(y)) or not (math.isfinite(x) and math.isfinite(y)):
            raise TinctError(f"a hint point's x and y must be numbers of pixels, got {x!r}, {y!r}")
        if not (0 <= x < width and 0 <= y < height):
            raise TinctError(f"hint point ({x}, {y}) lies outside the {width}×{height} image")
        points.append((float(x), float(y), _hint_colour(colour)))
    return points or None


def rasterize_hints(hints: ValidHints, image_size: tuple[int, int], working_size: tuple[int, int]) -> HintMaps | None:
    """Turn validated hints (see `check_hints`) into the network's hint channels at the working resolution.

    Parameters
    ----------
    hints : what `check_hints` returns
    image_size : ``(height, width)`` of the full-resolution image
    working_size : ``(height, width)`` of the network input

    Returns
    -------
    `HintMaps` of size ``working_size`` (mask 0 or 1), or None when there are no hints
    """
    if hints is None:
        return None
    height, width = image_size
    work_height, work_width = working_size
    hint_ab = torch.zeros(1, 2, work_height, work_width)
    hint_mask = torch.zeros(1, 1, work_height, work_width)
    if isinstance(hints, np.ndarray):
        rgba = torch.from_numpy(hints).permute(2, 0, 1)[None]
        # Area-average colour and coverage down to the working size, then keep covered cells.
        small = torch.nn.functional.interpolate(
            torch.cat((rgba[:, :3] * rgba[:, 3:], rgba[:, 3:]), dim=1), size=working_size, mode="area"
        )
        coverage = small[:, 3:]
        covered = coverage >= HINT_ALPHA_THRESHOLD
        rgb = (small[:, :3] / coverage.clamp_min(1e-6)).clamp(0, 1)
        hint_ab = rgb_to_lab(rgb.double())[:, 1:].float() * covered
        hint_mask = covered.float()
        return HintMaps(hint_ab, hint_mask) if covered.any() else None
    half = HINT_POINT_SIZE // 2
    for x, y, rgb in hints:
        column = int(x * work_width / width)
        row = int(y * work_height / height)
        ab = torch.from_numpy(rgb_to_lab(rgb)[1:]).float()
        rows = slice(max(row - half, 0), row + half + 1)
        columns = slice(max(column - half, 0), column + half + 1)
        hint_ab[0, :, rows, columns] = ab[:, None, None]
        hint_mask[0, 0, rows, columns] = 1.0
    return HintMaps(hint_ab, hint_mask)


def apply_hints(chroma: torch.Tensor, guide: torch.Tensor, hints: HintMaps, saturation: float) -> torch.Tensor:
    """The predicted chroma made to honour the hints (see `propagate_hint_corrections`).

    Parameters
    ----------
    chroma : ``(2, h, w)`` float32 predicted a*b* on the chroma grid, already scaled by ``saturation``
    guide : ``(h, w)`` float32 L* on the chroma grid
    hints : `HintMaps` at the padded working resolution, a whole multiple of the chroma grid
    saturation : the user's chroma multiplier; the hints are scaled by it too, so that
        "less colour" applies to hinted colours as well

    Returns
    -------
    ``(2, h, w)`` float32 a*b*
    """
    stride = hints.mask.shape[-1] // chroma.shape[-1]
    grid_mask = F.avg_pool2d(hints.mask, stride)[0]
    grid_ab = F.avg_pool2d(hints.ab * hints.mask, stride)[0] / grid_mask.clamp_min(1e-6)
    return propagate_hint_corrections(chroma, guide, grid_ab * float(saturation), grid_mask[0])


def sample_hint_points(image_rgb: np.ndarray, count: int, seed: int) -> list[HintPoint]:
    """``count`` hint points drawn (seeded) from a colour image's own pixels, as `tinct eval` uses.

    Each point's colour is the mean sRGB of the 5×5 block around it in ``image_rgb``
    (float array ``(H, W, 3)`` in [0, 1]).
    """
    generator = np.random.default_rng(seed)
    height, width = image_rgb.shape[:2]
    points: list[HintPoint] = []
    for _ in range(count):
        y = int(generator.integers(0, height))
        x = int(generator.integers(0, width))
        block = image_rgb[max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3].reshape(-1, 3)
        points.append((x, y, tuple(float(v) for v in block.mean(axis=0))))
    return points


def hint_site_shares(cells: torch.Tensor, mass: torch.Tensor, long_side: int) -> torch.Tensor:
    """Each hinted cell's share of its site: its mass over the mass of hints within about `HINT_SITE_RADIUS`.

    The shares of the cells of one isolated dot or stroke sum to about 1, so their sum is
    the number of independent sites the hints make, however many cells each covers.

    Parameters
    ----------
    cells : ``(n, 2)`` long, (row, column) of the hinted cells on the chroma grid
    mass : ``(n,)`` float32 in (0, 1], the fraction of each cell covered by hints
    long_side : the chroma grid's long side, in cells

    Returns
    -------
    ``(n,)`` float64, positive
    """
    positions = cells.double()
    radius = HINT_SITE_RADIUS * long_side
    closeness = torch.exp(-torch.cdist(positions, positions) ** 2 / (2 * radius**2))
    return mass.double() / (closeness @ mass.double())


def global_strength(sites: float) -> float:
    """How much of the hints' correction is global, in [0, 1], for ``sites`` independent hint sites.

    0 up to `LOCAL_HINT_SITES`, rising linearly to 1 at `GLOBAL_HINT_SITES`.
    """
    return min(max((sites - LOCAL_HINT_SITES) / (GLOBAL_HINT_SITES - LOCAL_HINT_SITES), 0.0), 1.0)


def fit_global_chroma_map(chroma: torch.Tensor, hint_ab: torch.Tensor, cells: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The 2×2 linear map of a*b* that best carries the prediction to the hints, over the whole image.

    Weighted ridge regression ``A = (H W Pᵀ + κ I)(P W Pᵀ + (κ + w σ²) I)⁻¹`` over the
    hinted cells, with ``P`` the predicted and ``H`` the hinted a*b*, ``W`` the diagonal of
    ``weights`` and ``w`` their sum: the prior κ (`HINT_IDENTITY_PRIOR`) keeps the
    prediction when hints are few; the prediction-error variance σ²
    (`HINT_PREDICTION_VARIANCE`) tones down colours the hints do not confirm.  Hints that
    contradict the prediction everywhere (a wrong cast, over-saturation, a hue shift) can
    thus correct it everywhere, not only near the hints.

    Parameters
    ----------
    chroma : ``(2, h, w)`` float32 predicted a*b*
    hint_ab : ``(2, h, w)`` float32 hint a*b*
    cells : ``(n, 2)`` long, (row, column) of the hinted cells
    weights : ``(n,)`` float, positive: each cell's weight as an observation (its site share,
        `hint_site_shares`; 1 for independent cells)

    Returns
    -------
    ``(2, 2)`` float32 map, applied as ``A @ ab``
    """
    weights = weights.double()
    predicted = chroma[:, cells[:, 0], cells[:, 1]].double()
    hinted = hint_ab[:, cells[:, 0], cells[:, 1]].double()
    identity = torch.eye(2, dtype=torch.float64)
    normal = (predicted * weights) @ predicted.T + (HINT_IDENTITY_PRIOR + float(weights.sum()) * HINT_PREDICTION_VARIANCE) * identity
    return (((hinted * weights) @ predicted.T + HINT_IDENTITY_PRIOR * identity) @ torch.linalg.inv(normal)).float()


def propagate_hint_corrections(chroma: torch.Tensor, guide: torch.Tensor, hint_ab: torch.Tensor, hint_mask: torch.Tensor) -> torch.Tensor:
    """Make the prediction agree with the hints: locally for a dot or two, globally too for many scattered hints.

    The network already takes the hints as input; this step guarantees they are honoured.
    The hints are counted in sites (`hint_site_shares`), and their `global_strength` sets
    how global the correction is.  First the whole prediction goes that fraction of the way
    through the linear a*b* map that best fits the hints (`fit_global_chroma_map`): none for
    one dot, all of it for hints scattered over the photo.  Then the remaining correction
    (hint minus prediction) at each hinted cell is spread with a weight that falls with
    distance and with L* difference (`HINT_LIGHTNESS_SIGMA`), as in edge-aware colour
    propagation (Levin et al. 2004, simplified to a normalised convolution), and fades to
    the prediction where no hint is near (`HINT_PRIOR_WEIGHT`).  The spatial reach grows
    with the same strength from `HINT_LOCAL_REACH` to `HINT_WIDE_REACH` of the long side.

    Parameters
    ----------
    chroma : ``(2, h, w)`` float32 predicted a*b* on the chroma grid
    guide : ``(h, w)`` float32 L* on the same grid
    hint_ab : ``(2, h, w)`` float32 hint a*b* (meaningful where ``hint_mask`` > 0)
    hint_mask : ``(h, w)`` float32 in [0, 1], the fraction of each cell covered by hints

    Returns
    -------
    ``(2, h, w)`` float32 corrected a*b*
    """
    cells = (hint_mask > 0).nonzero()
    if len(cells) == 0:
        return chroma
    if len(cells) > MAX_HINT_CELLS:
        cells = cells[torch.linspace(0, len(cells) - 1, MAX_HINT_CELLS).long()]
    rows, columns = cells[:, 0], cells[:, 1]
    height, width = guide.shape
    shares = hint_site_shares(cells, hint_mask[rows, columns], max(height, width))
    strength = global_strength(float(shares.sum()))
    global_map = torch.lerp(torch.eye(2), fit_global_chroma_map(chroma, hint_ab, cells, shares), strength)
    chroma = torch.einsum("ij,jhw->ihw", global_map, chroma)
    corrections = hint_ab[:, rows, columns] - chroma[:, rows, columns]
    reach = (HINT_LOCAL_REACH + strength * (HINT_WIDE_REACH - HINT_LOCAL_REACH)) * max(height, width)
    grid_rows = torch.arange(height, dtype=torch.float32)[None, :, None]
    grid_columns = torch.arange(width, dtype=torch.float32)[None, None, :]
    distance = ((grid_rows - rows[:, None, None]) ** 2 + (grid_columns - columns[:, None, None]) ** 2) / (2 * reach**2)
    similarity = (guide[None] - guide[rows, columns][:, None, None]) ** 2 / (2 * HINT_LIGHTNESS_SIGMA**2)
    weights = torch.exp(-distance - similarity) * shares.float()[:, None, None]
    field = torch.einsum("ck,khw->chw", corrections, weights) / (weights.sum(dim=0) + HINT_PRIOR_WEIGHT)
    return chroma + field
