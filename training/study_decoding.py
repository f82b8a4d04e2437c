"""Decoding study: ΔE00 and PSNR at equal colourfulness, for cheap inference-time decoding variants.

    python training/study_decoding.py MODEL VALIDATION [--cache DIR] [--out training/pilots/decoding-study.md] [--sheet PNG]

A bin classifier's colour depends on how its bin probabilities are decoded, and raising
one global chroma scale to reach the truth's colourfulness also raises the colour error.
So each decoding variant is traced as a curve — mean CIEDE2000 (and PSNR) against the
colourfulness ratio to the truth, over global chroma scales chosen to land near ratios
0.6 … 0.9 — and variants are compared by their values interpolated at ratios 0.75 and
0.85, not by single points.

Everything runs at working size 320, as the shipped pipeline does (`Colorizer._compose`:
guided upsampling, gamut fitting), from the network's logits, which are computed once per
photo (and once for its mirror image) and cached under ``--cache``, as are the scored
points.  Every choice (each family's parameter) is made on the first half of the
validation photos; the second half is scored afterwards at the same parameters, its curves
traced with scales of their own.  ``--sheet`` renders coffee, the astronaut and four
validation photos with the baseline and the best variants at equal colourfulness, to look
at.  Notes written above the marker line of ``--out`` are kept when it is rewritten.

Variants (all after the optional spatial smoothing of the probabilities, ``radius``):

* ``annealed`` — the existing decoding: annealed mean at temperature T;
* ``confidence`` — the annealed mean times ``exp(k·(c − ½))``, c = 1 − entropy / log Q of
  the (smoothed) bin distribution: confident pixels are saturated more than hesitant ones;
* ``entropy-T`` — a per-pixel temperature ``T·exp(k·(h − ½))``, h = entropy / log Q;
* ``reweight`` — saturation in the probability domain: the annealed distribution times
  the model's class-rebalancing weights to the power α (rare, vivid bins favoured);
* ``chroma-power`` — the annealed mean's chroma raised to the power 1 + γ (pivot 20);
* ``hue-agreement`` — the annealed mean times ``R^β``, R = |mean| / E|c| (1 where the
  likely bins share one hue, small where they disagree, e.g. green against red): the global
  scale then saturates pixels that hesitate only between gray and one colour more than
  pixels that hesitate between hues (whose mean is the blotch- and cast-prone guess);
  β = −1 is the opposite: the mean's hue with the expected chroma E|c| as its magnitude;
* ``agreement-power`` — both: the hue-agreement factor, then the chroma power;
* ``+flip`` — the bin probabilities averaged with those of the mirrored photo (2× network).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from skimage.color import deltaE_ciede2000

import tinct
from tinct.colour import rgb_to_lab
from tinct.evaluation import gray_version
from tinct.inference import Colorizer, _Input
from tinct.io import to_float_image
from tinct.metrics import colourfulness, psnr_8bit
from tinct.models.base import LIGHTNESS_SCALE
from tinct.training.data_cache import list_images

sys.path.insert(0, str(Path(__file__).parent))
from ship_default_model import HUE_AGREEMENTS  # noqa: E402 - the calibration's choices, beside this script

torch.set_num_threads(1)

WORKING_SIZE = 320
TEMPERATURE = 0.38
TARGET_RATIOS = (0.6, 0.75, 0.9)
COMPARE_AT = (0.75, 0.85)
CHROMA_PIVOT = 20.0


# ---------------------------------------------------------------------------------------
# Photos and their cached logits


@dataclass
class Photo:
    name: str
    truth: np.ndarray
    gray: np.ndarray
    truth_colourfulness: float
    truth_lab: np.ndarray = field(repr=False)
    guide: torch.Tensor = field(repr=False)
    work_size: tuple[int, int] = (0, 0)
    logits_path: Path = Path()
    flipped_path: Path = Path()

    def logits(self, flip: bool) -> torch.Tensor:
        """``(1, Q, h, w)`` float32 logits (of the mirrored photo, mirrored back, when ``flip``)."""
        return torch.load(self.flipped_path if flip else self.logits_path)


def _model_key(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read())
    return digest.hexdigest()[:16]


def network_pass(colorizer: Colorizer, gray: np.ndarray, working_size: int = WORKING_SIZE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Logits of the photo and of its mirror (mirrored back), the guide L* on the chroma grid, and the working size.

    Stages 1–3 of `Colorizer.colorize` (no hints, one tile): the padded network input is
    mirrored as a whole, so both passes share one output grid.
    """
    source = _Input(gray)
    scale = working_size / max(source.height, source.width)
    work_size = (max(1, round(source.height * scale)), max(1, round(source.width * scale)))
    lightness = source.working_lightness(work_size)
    network_input = colorizer._network_input(lightness, None)
    network = colorizer.network
    with torch.inference_mode():
        logits = network.logits(network_input, colorizer._context(lightness)).float()
        flipped = network.logits(network_input.flip(-1), colorizer._context(lightness.flip(-1))).float().flip(-1)
    guide = F.avg_pool2d(network_input[:, :1].float(), network.output_stride)[0, 0] * LIGHTNESS_SCALE + LIGHTNESS_SCALE
    return logits, flipped, guide, work_size


def load_photos(colorizer: Colorizer, model_path: Path, paths: list[Path], cache: Path) -> list[Photo]:
    folder = cache / f"{_model_key(model_path)}-{WORKING_SIZE}"
    folder.mkdir(parents=True, exist_ok=True)
    photos = []
    started = time.time()
    for index, path in enumerate(paths):
        truth = to_float_image(tinct.load_image(path))[..., :3].astype(np.float32)
        gray = gray_version(truth)
        logits_path, flipped_path, guide_path = (folder / f"{path.stem}.{kind}.pt" for kind in ("logits", "flipped", "guide"))
        if not guide_path.is_file():
            logits, flipped, guide, work_size = network_pass(colorizer, gray)
            torch.save(logits, logits_path)
            torch.save(flipped, flipped_path)
            torch.save({"guide": guide, "work_size": work_size}, guide_path)
        saved = torch.load(guide_path)
        photos.append(Photo(path.name, truth, gray, colourfulness(truth), rgb_to_lab(truth.astype(np.float64)), saved["guide"], tuple(saved["work_size"]), logits_path, flipped_path))
        if index % 25 == 24:
            print(f"  {index + 1}/{len(paths)} photos ready ({time.time() - started:.0f} s)", flush=True)
    return photos


# ---------------------------------------------------------------------------------------
# Decoders: bin probabilities (1, Q, h, w) -> a*b* (1, 2, h, w)


def _entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """Normalised entropy in [0, 1], ``(1, 1, h, w)``."""
    return -(probabilities * probabilities.clamp_min(1e-12).log()).sum(dim=1, keepdim=True) / math.log(probabilities.shape[1])


def _annealed(probabilities: torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
    return (probabilities.clamp_min(1e-12).log() / temperature).softmax(dim=1)


def _mean(annealed: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    return torch.einsum("bqhw,qc->bchw", annealed, centres)


def decode_annealed(probabilities, centres, weights, temperature=TEMPERATURE):
    return _mean(_annealed(probabilities, temperature), centres)


def decode_confidence(probabilities, centres, weights, k, temperature=TEMPERATURE):
    confidence = 1.0 - _entropy(probabilities)
    return _mean(_annealed(probabilities, temperature), centres) * torch.exp(k * (confidence - 0.5))


def decode_entropy_temperature(probabilities, centres, weights, k, temperature=TEMPERATURE):
    return _mean(_annealed(probabilities, temperature * torch.exp(k * (_entropy(probabilities) - 0.5))), centres)


def decode_reweight(probabilities, centres, weights, alpha, temperature=TEMPERATURE):
    annealed = _annealed(probabilities, temperature) * weights[None, :, None, None] ** alpha
    return _mean(annealed / annealed.sum(dim=1, keepdim=True), centres)


def decode_chroma_power(probabilities, centres, weights, gamma, temperature=TEMPERATURE):
    ab = _mean(_annealed(probabilities, temperature), centres)
    chroma = ab.norm(dim=1, keepdim=True).clamp_min(1e-6)
    return ab * (chroma / CHROMA_PIVOT) ** gamma


def decode_hue_agreement(probabilities, centres, weights, beta, temperature=TEMPERATURE):
    annealed = _annealed(probabilities, temperature)
    ab = _mean(annealed, centres)
    expected = torch.einsum("bqhw,q->bhw", annealed, centres.norm(dim=1))[:, None]
    agreement = ab.norm(dim=1, keepdim=True) / expected.clamp_min(1e-6)
    return ab * agreement.clamp(1e-6, 1.0) ** beta


def decode_agreement_power(probabilities, centres, weights, beta, gamma, temperature=TEMPERATURE):
    ab = decode_hue_agreement(probabilities, centres, weights, beta, temperature)
    chroma = ab.norm(dim=1, keepdim=True).clamp_min(1e-6)
    return ab * (chroma / CHROMA_PIVOT) ** gamma


DECODERS: dict[str, Callable[..., torch.Tensor]] = {
    "annealed": decode_annealed,
    "confidence": decode_confidence,
    "entropy-T": decode_entropy_temperature,
    "reweight": decode_reweight,
    "chroma-power": decode_chroma_power,
    "hue-agreement": decode_hue_agreement,
    "agreement-power": decode_agreement_power,
}


@dataclass(frozen=True)
class Variant:
    family: str
    params: tuple[tuple[str, float], ...] = ()
    radius: int = 0
    flip: bool = False

    @property
    def label(self) -> str:
        return self.family + ("+flip" if self.flip else "")

    @property
    def parameters(self) -> str:
        return ", ".join([f"r={self.radius}", *(f"{name}={value:g}" for name, value in self.params)])

    def chroma(self, photo: Photo, centres: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """a*b* ``(2, h, w)`` at chroma scale 1."""
        return self.decode(photo.logits(False), photo.logits(True) if self.flip else None, centres, weights)

    def decode(self, logits: torch.Tensor, flipped: torch.Tensor | None, centres: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        probabilities = logits.softmax(dim=1)
        if self.flip:
            probabilities = 0.5 * (probabilities + flipped.softmax(dim=1))
        if self.radius > 0:
            probabilities = F.avg_pool2d(probabilities, 2 * self.radius + 1, stride=1, padding=self.radius, count_include_pad=False)
        return DECODERS[self.family](probabilities, centres, weights, **dict(self.params))[0]


# ---------------------------------------------------------------------------------------
# Scoring


@dataclass
class Point:
    scale: float
    ratio: float
    psnr: float
    ciede2000: float


def render(colorizer: Colorizer, photo_gray: np.ndarray, chroma: torch.Tensor, guide: torch.Tensor, work_size: tuple[int, int]) -> np.ndarray:
    """Stage 5 of `Colorizer.colorize`: full-resolution RGB from a*b* on the chroma grid."""
    return colorizer._compose(_Input(photo_gray), chroma, guide, work_size, lambda fraction: None)


class Study:
    def __init__(self, colorizer: Colorizer, photos: list[Photo]) -> None:
        self.colorizer = colorizer
        self.photos = photos
        self.centres = colorizer.network.bin_centres.float()
        self.weights = colorizer.network.bin_weights.float()
        self.truth_colourfulness = float(np.mean([photo.truth_colourfulness for photo in photos]))
        self._chroma: dict[Variant, list[torch.Tensor]] = {}

    def chromas(self, variant: Variant) -> list[torch.Tensor]:
        if variant not in self._chroma:
            self._chroma.clear()  # one variant at a time: bounded memory
            self._chroma[variant] = [variant.chroma(photo, self.centres, self.weights) for photo in self.photos]
        return self._chroma[variant]

    def point(self, variant: Variant, scale: float) -> Point:
        psnrs, errors, colours = [], [], []
        for photo, chroma in zip(self.photos, self.chromas(variant)):
            rgb = render(self.colorizer, photo.gray, chroma * scale, photo.guide, photo.work_size)
            psnrs.append(psnr_8bit(rgb, photo.truth))
            # = tinct.metrics.mean_ciede2000(rgb, photo.truth), with the truth's Lab computed once
            errors.append(float(deltaE_ciede2000(photo.truth_lab, rgb_to_lab(rgb.astype(np.float64))).mean()))
            colours.append(colourfulness(rgb))
        return Point(scale, float(np.mean(colours)) / self.truth_colourfulness, float(np.mean(psnrs)), float(np.mean(errors)))


def at_ratio(points: list[Point], ratio: float, metric: str) -> tuple[float, bool]:
    """``metric`` interpolated at colourfulness ``ratio`` (linearly extrapolated from the two
    nearest points outside the curve; the flag says so)."""
    ratios = np.array([point.ratio for point in points])
    values = np.array([getattr(point, metric) for point in points])
    if ratios[0] <= ratio <= ratios[-1]:
        return float(np.interp(ratio, ratios, values)), False
    ends = slice(-2, None) if ratio > ratios[-1] else slice(0, 2)
    slope = (values[ends][1] - values[ends][0]) / max(ratios[ends][1] - ratios[ends][0], 1e-9)
    return float(values[ends][0] + slope * (ratio - ratios[ends][0])), True


# ---------------------------------------------------------------------------------------
# The study


FAMILY_GRIDS: dict[str, list[tuple[tuple[str, float], ...]]] = {
    "hue-agreement": [(("beta", -1.0),), (("beta", 0.5),), (("beta", 1.0),), (("beta", 2.0),), (("beta", 3.0),), (("beta", 4.0),), (("beta", 6.0),)],
    "reweight": [(("alpha", 0.25),), (("alpha", 0.5),), (("alpha", 1.0),)],
    "confidence": [(("k", 1.0),), (("k", 2.0),), (("k", 4.0),)],
    "chroma-power": [(("gamma", -0.3),), (("gamma", 0.3),), (("gamma", 0.6),), (("gamma", 1.0),), (("gamma", 1.5),)],
    "agreement-power": [(("beta", 1.0), ("gamma", 0.6)), (("beta", 2.0), ("gamma", 0.3)), (("beta", 2.0), ("gamma", 0.6)), (("beta", 1.0), ("gamma", 1.0))],
    "entropy-T": [(("k", -1.0),), (("k", 1.0),), (("k", 2.0),)],
}
TEMPERATURE_SWEEP = (0.25, 0.3, 0.5)
GENERATED_MARKER = "<!-- generated by training/study_decoding.py below this line -->"


class PointCache:
    """Scored points kept on disk, so a rerun (or a study grown by a variant) recomputes nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.points: dict[str, dict[str, float]] = json.loads(path.read_text()) if path.is_file() else {}

    def get(self, study: Study, half: str, variant: Variant, scale: float) -> Point:
        key = f"{half}|{variant.label}|{variant.parameters}|{scale:.4f}"
        if key not in self.points:
            started = time.time()
            self.points[key] = asdict(study.point(variant, scale))
            self.path.write_text(json.dumps(self.points, indent=0))
            point = Point(**self.points[key])
            print(f"  [{half}] {variant.label} {variant.parameters} scale {scale:.3f}: ratio {point.ratio:.3f}, ΔE00 {point.ciede2000:.2f}, PSNR {point.psnr:.2f} ({time.time() - started:.0f} s)", flush=True)
        return Point(**self.points[key])

    def curve(self, study: Study, half: str, variant: Variant) -> list[Point]:
        """Points at scale 1 and at the scales predicted (colourfulness grows about in
        proportion to the scale) to reach `TARGET_RATIOS`, in order of ratio."""
        probe = self.get(study, half, variant, 1.0)
        points = [probe]
        for target in TARGET_RATIOS:
            if abs(target - probe.ratio) > 0.03:
                points.append(self.get(study, half, variant, round(target / probe.ratio, 3)))
        return sorted(points, key=lambda point: point.ratio)


def error_at(points: list[Point], ratio: float = COMPARE_AT[-1]) -> float:
    return at_ratio(points, ratio, "ciede2000")[0]


def markdown(results: dict[str, dict[Variant, list[Point]]], grays: dict[str, Point], choices: list[str], baseline: Variant) -> str:
    halves = list(results)
    lines = [
        "## Results",
        "",
        "Produced by `training/study_decoding.py` (working size 320; the pipeline's guided upsampling and gamut fitting).",
        "Each variant's curve is traced over global chroma scales; ΔE00 and PSNR are interpolated at colourfulness ratios",
        f"{' and '.join(f'{r:g}' for r in COMPARE_AT)} (* extrapolated from the curve's two nearest points); gain: the annealed mean's",
        f"ΔE00 @{COMPARE_AT[-1]:g} minus the variant's.  Parameters are chosen on the first half of the validation photos; the",
        "second half is scored at the same parameters, its curves traced with scales of their own (its photos are more",
        "colourful at a given scale).",
        "",
        "Gray (a* = b* = 0): " + "; ".join(f"{half}: PSNR {grays[half].psnr:.2f}, ΔE00 {grays[half].ciede2000:.2f}" for half in halves),
        "",
        "### Choices (first half)",
        "",
        *[f"* {choice}" for choice in choices],
        "",
        "### Summary",
        "",
    ]
    names = [*(f"{name} @{ratio:g}" for ratio in COMPARE_AT for name in ("ΔE00", "PSNR")), "gain"]
    header = "| variant | parameters | " + " | ".join(f"{half}: {name}" for half in halves for name in names) + " |"
    lines += [header, "|" + "---|" * (2 + len(names) * len(halves))]
    for variant in results[halves[0]]:
        cells = []
        for half in halves:
            points = results[half].get(variant)
            if points is None:
                cells += ["–"] * len(names)
                continue
            for ratio in COMPARE_AT:
                for metric in ("ciede2000", "psnr"):
                    value, extrapolated = at_ratio(points, ratio, metric)
                    cells.append(f"{value:.2f}{'*' if extrapolated else ''}")
            cells.append(f"{round(error_at(results[half][baseline]) - error_at(points), 2) + 0.0:+.2f}")
        lines.append(f"| {variant.label} | {variant.parameters} | " + " | ".join(cells) + " |")
    lines += ["", "### Curves", "", "| variant | parameters | half | chroma scale | ratio | PSNR | ΔE00 |", "|---|---|---|---|---|---|---|"]
    for variant in results[halves[0]]:
        for half in halves:
            for point in results[half].get(variant, []):
                lines.append(f"| {variant.label} | {variant.parameters} | {half} | {point.scale:.3f} | {point.ratio:.3f} | {point.psnr:.2f} | {point.ciede2000:.2f} |")
    return "\n".join(lines) + "\n"


def gray_point(photos: list[Photo]) -> Point:
    psnrs = [psnr_8bit(photo.gray, photo.truth) for photo in photos]
    errors = [float(deltaE_ciede2000(photo.truth_lab, rgb_to_lab(photo.gray.astype(np.float64))).mean()) for photo in photos]
    return Point(0.0, 0.0, float(np.mean(psnrs)), float(np.mean(errors)))


def scale_at(points: list[Point], ratio: float) -> float:
    """The chroma scale at which a curve reaches colourfulness ``ratio`` (interpolated)."""
    ratios = np.array([point.ratio for point in points])
    scales = np.array([point.scale for point in points])
    if ratios[0] <= ratio <= ratios[-1]:
        return float(np.interp(ratio, ratios, scales))
    ends = slice(-2, None) if ratio > ratios[-1] else slice(0, 2)
    return float(scales[ends][0] + (scales[ends][1] - scales[ends][0]) / (ratios[ends][1] - ratios[ends][0]) * (ratio - ratios[ends][0]))


def colorize_variant(colorizer: Colorizer, gray: np.ndarray, variant: Variant, scale: float) -> np.ndarray:
    """The whole pipeline (working size 320, no hints) with ``variant``'s decoding at chroma ``scale``."""
    logits, flipped, guide, work_size = network_pass(colorizer, gray)
    chroma = variant.decode(logits, flipped, colorizer.network.bin_centres.float(), colorizer.network.bin_weights.float())
    return render(colorizer, gray, chroma * scale, guide, work_size)


def comparison_sheet(colorizer: Colorizer, columns: list[tuple[str, Variant, float]], truths: list[np.ndarray], out: Path, height: int = 256) -> Path:
    """One PNG: per photo a row of gray, each (label, variant, scale) column, and the truth."""
    from PIL import Image, ImageDraw

    from tinct.evaluation import contact_sheet
    from tinct.io import save_image

    rows = []
    for truth in truths:
        gray = gray_version(truth)
        rows.append((gray, *(colorize_variant(colorizer, gray, variant, scale) for _, variant, scale in columns), truth))
    sheet = contact_sheet(rows, height=height)
    header = Image.new("RGB", (sheet.shape[1], 18), "white")
    draw = ImageDraw.Draw(header)
    widths = [round(row.shape[1] * height / row.shape[0]) for row in rows[0]]
    for x, label in zip(np.cumsum([0, *widths[:-1]]), ["gray", *(f"{label} (scale {scale:.2f})" for label, _, scale in columns), "truth"]):
        draw.text((int(x) + 4, 3), label, fill="black")
    save_image(np.concatenate((np.asarray(header), sheet), axis=0), out)
    return out


SHEET_PHOTOS = ("camvid_00003.jpg", "intel_00005.jpg", "facemask_00003.jpg", "dreambooth_00003.jpg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("validation", type=Path)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "tinct-decode-study")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "pilots" / "decoding-study.md")
    parser.add_argument("--sheet", type=Path, help="also render coffee, astronaut and four validation photos, the baseline against the best variants at equal colourfulness, into this PNG")
    parser.add_argument("--sheet-photos", nargs="*", default=list(SHEET_PHOTOS), help="validation photos (file names) for --sheet")
    parser.add_argument("--families", nargs="*", default=list(FAMILY_GRIDS), help="decoding families to study beside the baseline")
    args = parser.parse_args()

    colorizer = tinct.load_model(args.model, device="cpu")
    paths = list_images(args.validation)
    halves = {"first half": paths[: len(paths) // 2], "second half": paths[len(paths) // 2 :]}
    cache = PointCache(args.cache / f"{_model_key(args.model)}-{WORKING_SIZE}" / "points.json")
    print("network passes (cached) …", flush=True)
    studies = {half: Study(colorizer, load_photos(colorizer, args.model, half_paths, args.cache)) for half, half_paths in halves.items()}
    first = "first half"
    results: dict[str, dict[Variant, list[Point]]] = {half: {} for half in halves}
    choices = []

    def trace(variant: Variant) -> list[Point]:
        results[first][variant] = cache.curve(studies[first], first, variant)
        return results[first][variant]

    # 1. The existing decoding, each smoothing radius; the temperature as the lever instead of the scale.
    baselines = {radius: Variant("annealed", radius=radius) for radius in (0, 1, 2)}
    for variant in baselines.values():
        trace(variant)
    radius = min(baselines, key=lambda r: error_at(results[first][baselines[r]]))
    baseline = baselines[radius]
    choices.append(f"smoothing radius {radius} (lowest ΔE00 @{COMPARE_AT[-1]:g} of the annealed mean)")
    sweep = [(t, cache.get(studies[first], first, Variant("annealed", radius=radius, params=(("temperature", t),)), 1.0)) for t in TEMPERATURE_SWEEP]
    choices.append(
        "the temperature as the lever (scale 1, r=%d): " % radius
        + "; ".join(f"T {t:g}: ratio {p.ratio:.3f}, ΔE00 {p.ciede2000:.2f}, PSNR {p.psnr:.2f}" for t, p in sweep)
    )

    # 2–4. Each family at that radius; its best parameter by ΔE00 at the higher ratio.
    best: dict[str, Variant] = {}
    for family in args.families:
        candidates = {Variant(family, params, radius): None for params in FAMILY_GRIDS[family]}
        for variant in candidates:
            trace(variant)
        best[family] = min(candidates, key=lambda v: error_at(results[first][v]))
        choices.append(f"{family}: {best[family].parameters} (ΔE00 @{COMPARE_AT[-1]:g} {error_at(results[first][best[family]]):.2f})")
    winner = min([baseline, *best.values()], key=lambda v: error_at(results[first][v]))
    choices.append(f"best variant: {winner.label} {winner.parameters}")
    flips = [Variant(baseline.family, baseline.params, baseline.radius, flip=True)]
    if winner != baseline:
        flips.append(Variant(winner.family, winner.params, winner.radius, flip=True))
    for variant in flips:
        trace(variant)

    # The second half: every variant, at the first half's parameters.  Its photos are more
    # colourful at a given scale, so its curves are traced with scales of their own.
    second = "second half"
    for variant in list(results[first]):
        results[second][variant] = cache.curve(studies[second], second, variant)
    grays = {half: gray_point(study.photos) for half, study in studies.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Notes written by hand above the marker are kept; the rest is rewritten.
    notes = args.out.read_text().split(GENERATED_MARKER)[0] if args.out.is_file() and GENERATED_MARKER in args.out.read_text() else ""
    args.out.write_text(notes + GENERATED_MARKER + "\n\n" + markdown(results, grays, choices, baseline))
    print(args.out.read_text())
    if args.sheet:
        from skimage import data

        ratio = COMPARE_AT[-1]
        # The baseline, the hue agreement at the calibration's largest power, every family's best
        # that beats the baseline clearly, and the overall best.
        calibrated = Variant("hue-agreement", (("beta", max(HUE_AGREEMENTS)),), radius)
        clear = [v for v in best.values() if error_at(results[first][v]) <= error_at(results[first][baseline]) - 0.15]
        shown = [baseline, *([calibrated] if calibrated in results[first] else []), *clear, winner]
        columns = [(f"{v.label} {v.parameters}", v, scale_at(results[first][v], ratio)) for v in dict.fromkeys(shown)]
        truths = [data.coffee() / 255.0, data.astronaut() / 255.0]
        truths += [to_float_image(tinct.load_image(args.validation / name))[..., :3] for name in args.sheet_photos]
        print(f"sheet at colourfulness ratio {ratio:g}: {comparison_sheet(colorizer, columns, [t.astype(np.float32) for t in truths], args.sheet)}")


if __name__ == "__main__":
    main()
