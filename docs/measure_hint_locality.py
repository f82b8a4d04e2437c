"""How local a hint dot is, and what hints are worth, for the shipped model (docs/model-card.md).

Run from the repository root:

    python docs/measure_hint_locality.py /work/shared/data/val [--json results.json]

For each colour photo of the folder (made gray, as `tinct eval` does) it measures:

* far ΔE00 — one dot of a strong colour unlike the photo's own there (of `DOT_COLOURS`,
  the farthest in a*b* from the truth's mean around the dot), at the point `tinct eval`'s
  one sampled hint has, given as a hint point and painted on a hint layer
  (`DOT_FORMS`): the mean CIEDE2000 between the dotted and the automatic result over the
  pixels farther than `FAR_FRACTION` of the long side from the dot.  Small: the dot
  recoloured its neighbourhood, not the photo.
  The same for two dots (at `tinct eval`'s two sampled points), far from both.
* near ΔE00 — the mean CIEDE2000, within `NEAR_RADIUS` pixels of the dot, between the
  dotted result and the dot's a*b* at the result's own L* (the result keeps the photo's
  L*, so only chroma can honour a hint); "near auto" is the same for the automatic
  result, for scale.  Small: the hint is honoured.
* PSNR (8-bit RGB) against the truth with 0, 1, 5 and 10 hint points sampled from the truth
  exactly as `tinct eval` samples them (`tinct.hints.sample_hint_points`, seeded by the
  photo's index in the folder).

The folder's photos are reported in two halves (in `tinct eval`'s order): the first was
used to choose the hint constants in `tinct.hints`, the second was not.  Last comes
scikit-image's coffee (600×400) with a blue and a red dot in the middle of the cup, far
ΔE00 also over the pixels more than `COFFEE_FAR_PIXELS` away.  One torch thread, CPU.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from skimage import data
from skimage.color import deltaE_ciede2000
from tqdm import tqdm

import tinct
from tinct.colour import rgb_to_lab
from tinct.evaluation import gray_version
from tinct.hints import HintPoint, Hints, sample_hint_points
from tinct.io import load_image, to_float_image
from tinct.metrics import psnr_8bit
from tinct.training.data_cache import list_images

# Saturated sRGB colours (0..255) a user might paint; each photo's dot is the one most unlike its truth.
DOT_COLOURS = {"red": (255, 0, 0), "blue": (0, 0, 255), "green": (0, 170, 0), "yellow": (255, 210, 0)}
# A dot is given two ways: as a hint point (``--hint``), and painted on a hint layer as a
# disc of this radius in pixels (a small brush in GIMP or Krita).
DOT_FORMS = ("point", "painted")
PAINTED_DOT_RADIUS = 4.0
# "Far from the dot": farther than this fraction of the photo's long side.
FAR_FRACTION = 0.4
# "Near the dot": within this many pixels of it (about the size of a painted dot).
NEAR_RADIUS = 2.0
# Hint points sampled from the truth, as `tinct eval` samples them.
SAMPLED_HINT_COUNTS = (0, 1, 5, 10)
# The coffee case: the dot in the middle of the cup (x, y pixels), and "far" in pixels.
COFFEE_DOT = (290, 150)
COFFEE_FAR_PIXELS = 300.0


def distance_from(shape: tuple[int, int], x: float, y: float) -> np.ndarray:
    """Distance in pixels of every pixel of an image of ``shape`` (height, width) from ``(x, y)``: float64 ``(H, W)``."""
    rows, columns = np.mgrid[: shape[0], : shape[1]]
    return np.hypot(rows - y, columns - x)


def lab_of(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (D65) of float sRGB ``(..., 3)`` in [0, 1], float64."""
    return rgb_to_lab(rgb.astype(np.float64))


def far_difference(automatic: np.ndarray, hinted: np.ndarray, distance: np.ndarray, far: float) -> float:
    """Mean CIEDE2000 between two results (float sRGB ``(H, W, 3)``) over the pixels whose ``distance`` exceeds ``far``."""
    mask = distance > far
    return float(deltaE_ciede2000(lab_of(automatic[mask]), lab_of(hinted[mask])).mean())


def near_difference(hinted: np.ndarray, distance: np.ndarray, colour: tuple[int, int, int]) -> float:
    """Mean CIEDE2000 within `NEAR_RADIUS` between a result and the hint's a*b* at the result's L*."""
    result = lab_of(hinted[distance <= NEAR_RADIUS])
    wanted = result.copy()
    wanted[:, 1:] = lab_of(np.asarray(colour, dtype=np.float64) / 255.0)[1:]
    return float(deltaE_ciede2000(result, wanted).mean())


def dot_hints(form: str, x: float, y: float, colour: tuple[int, int, int], distance: np.ndarray) -> Hints:
    """One dot of ``colour`` at ``(x, y)`` as `DOT_FORMS` ``form`` gives it; ``distance`` from `distance_from`."""
    if form == "point":
        return [(x, y, colour)]
    layer = np.zeros(distance.shape + (4,), np.uint8)
    layer[distance <= PAINTED_DOT_RADIUS] = (*colour, 255)
    return layer


def unlike_dot(point: HintPoint) -> tuple[int, int, int]:
    """The `DOT_COLOURS` colour farthest in a*b* from a sampled point's colour (the truth's 5×5 mean there)."""
    truth_ab = lab_of(np.asarray(point[2]))[1:]
    return max(DOT_COLOURS.values(), key=lambda colour: float(np.linalg.norm(lab_of(np.asarray(colour) / 255.0)[1:] - truth_ab)))


def measure_photo(colorizer: tinct.Colorizer, truth: np.ndarray, index: int) -> dict[str, float]:
    """All measures of one photo (float32 sRGB ``(H, W, 3)`` in [0, 1], as `tinct eval` reads it); ``index`` seeds the sampled hints."""
    gray = gray_version(truth)
    automatic = colorizer.colorize(gray)
    scores: dict[str, float] = {}
    for count in SAMPLED_HINT_COUNTS:
        result = automatic if count == 0 else colorizer.colorize(gray, hints=sample_hint_points(truth, count, seed=index))
        scores[f"psnr_{count}"] = psnr_8bit(result, truth)
    far = FAR_FRACTION * max(truth.shape[:2])
    (point,) = sample_hint_points(truth, 1, seed=index)
    x, y, colour = point[0], point[1], unlike_dot(point)
    distance = distance_from(truth.shape[:2], x, y)
    scores["near_automatic"] = near_difference(automatic, distance, colour)
    for form in DOT_FORMS:
        dotted = colorizer.colorize(gray, hints=dot_hints(form, x, y, colour, distance))
        scores[f"far_{form}"] = far_difference(automatic, dotted, distance, far)
        scores[f"near_{form}"] = near_difference(dotted, distance, colour)
    # Two dots (the first where the one above is), each unlike the truth there; "far" from both.
    dots = [(sampled[0], sampled[1], unlike_dot(sampled)) for sampled in sample_hint_points(truth, 2, seed=index)]
    nearest = np.minimum(*(distance_from(truth.shape[:2], x, y) for x, y, _ in dots))
    scores["far_two_points"] = far_difference(automatic, colorizer.colorize(gray, hints=dots), nearest, far)
    return scores


def measure_coffee(colorizer: tinct.Colorizer) -> dict[str, dict[str, float]]:
    """Far (beyond `COFFEE_FAR_PIXELS` and beyond `FAR_FRACTION`) and near ΔE00 of a blue and a red dot on the coffee cup, in each of `DOT_FORMS`."""
    truth = to_float_image(data.coffee())
    gray = gray_version(truth)
    automatic = colorizer.colorize(gray)
    distance = distance_from(truth.shape[:2], *COFFEE_DOT)
    results = {}
    for form in DOT_FORMS:
        for name in ("blue", "red"):
            colour = DOT_COLOURS[name]
            dotted = colorizer.colorize(gray, hints=dot_hints(form, *COFFEE_DOT, colour, distance))
            results[f"{name} {form}"] = {
                "far_pixels": far_difference(automatic, dotted, distance, COFFEE_FAR_PIXELS),
                "far": far_difference(automatic, dotted, distance, FAR_FRACTION * max(truth.shape[:2])),
                "near": near_difference(dotted, distance, colour),
            }
    return results


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


# The printed summary's columns: (key in `measure_photo`'s scores, heading).
COLUMNS = (
    ("far_point", "far point"),
    ("far_painted", "far painted"),
    ("far_two_points", "far 2 points"),
    ("near_point", "near point"),
    ("near_painted", "near painted"),
    ("near_automatic", "near auto"),
    *((f"psnr_{count}", f"PSNR {count}") for count in SAMPLED_HINT_COUNTS),
)


def table(groups: dict[str, dict[str, float]], coffee: dict[str, dict[str, float]]) -> str:
    """The summary as printed: a row per group of photos (`COLUMNS`), then a row per coffee dot."""
    lines = [f"{'photos':<12}" + "".join(f"{heading:>14}" for _, heading in COLUMNS)]
    lines += [f"{name:<12}" + "".join(f"{scores[key]:>14.2f}" for key, _ in COLUMNS) for name, scores in groups.items()]
    lines += ["", f"{'coffee dot':<16}{f'far >{COFFEE_FAR_PIXELS:g} px':>13}{f'far >{FAR_FRACTION:g}':>10}{'near':>8}"]
    lines += [f"{name:<16}{scores['far_pixels']:>13.2f}{scores['far']:>10.2f}{scores['near']:>8.2f}" for name, scores in coffee.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="validation photos (e.g. /work/shared/data/val)")
    parser.add_argument("--json", type=Path, help="also write every photo's measures here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    colorizer = tinct.load_model(device="cpu")
    photos = list_images(args.folder)
    per_photo = {}
    for index, path in enumerate(tqdm(photos, desc="measuring", unit="photo")):
        pixels = load_image(path)
        if pixels.ndim == 3:
            per_photo[path.name] = measure_photo(colorizer, to_float_image(pixels)[..., :3], index)
    names = [path.name for path in photos if path.name in per_photo]
    half = len(photos) // 2
    first = [per_photo[path.name] for path in photos[:half] if path.name in per_photo]
    last = [per_photo[path.name] for path in photos[half:] if path.name in per_photo]
    groups = {f"first {len(first)}": summary(first), f"last {len(last)}": summary(last), f"all {len(names)}": summary(first + last)}
    coffee = measure_coffee(colorizer)
    print(table(groups, coffee))
    if args.json:
        args.json.write_text(json.dumps({"groups": groups, "coffee": coffee, "photos": per_photo}, indent=2))


if __name__ == "__main__":
    main()
