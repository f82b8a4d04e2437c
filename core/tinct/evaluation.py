"""`tinct eval`: a model's colour against the truth and against two baselines, on real photos.

Each photo is reduced to its lightness and colorized three ways — by the model, by the
gray baseline (a* = b* = 0) and by the seed-style baseline (an MSE autoencoder) — and
compared with the original: PSNR and SSIM of the 8-bit RGB images, mean CIEDE2000, and
Hasler–Süsstrunk colourfulness with its ratio to the truth's.  The model is also run
with 0, 1, 5, 10 and 50 hint points sampled (seeded) from the truth.

Models are calibrated on the first half of the validation photos (sorted by name), so the
report also gives every method's scores on each half: the last half is the held-out one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from .colour import lab_to_rgb, rgb_to_lab
from .errors import TinctError
from .hints import sample_hint_points
from .inference import PACKAGE_MODEL, Colorizer, load_model
from .io import load_image, save_image, to_float_image
from .metrics import colourfulness, mean_ciede2000, psnr_8bit, ssim_8bit
from .training.data_cache import list_images

HINT_COUNTS = (0, 1, 5, 10, 50)
SEED_BASELINE_MODEL = PACKAGE_MODEL.with_name("seed-baseline.safetensors")
CONTACT_SHEET_HEIGHT = 192


@dataclass
class MethodScores:
    """Mean metrics of one method over the evaluated photos."""

    psnr: float
    ssim: float
    ciede2000: float
    colourfulness: float
    colourfulness_ratio: float


@dataclass
class EvaluationReport:
    photos: int
    working_size: int
    methods: dict[str, MethodScores]
    hints: dict[int, dict[str, float]] = field(default_factory=dict)
    model: str = ""
    baseline: str = ""
    photo_results: list[dict[str, Any]] = field(default_factory=list)
    """Per photo: its file name, `photo_scores` of each method, PSNR and CIEDE2000 per hint count."""
    halves: dict[str, dict[str, MethodScores]] = field(default_factory=dict)
    """Each method's scores on the first half of the photos (where models are calibrated) and
    on the last half (held out), keyed "first N" and "last M"; empty for fewer than 2 photos."""

    def table(self) -> str:
        def method_rows(heading: str, methods: dict[str, MethodScores]) -> list[str]:
            rows = [f"{heading:<18}{'PSNR dB':>9}{'SSIM':>8}{'ΔE00':>8}{'colourful':>11}{'ratio':>8}"]
            for name, scores in methods.items():
                rows.append(f"{name:<18}{scores.psnr:>9.2f}{scores.ssim:>8.3f}{scores.ciede2000:>8.2f}{scores.colourfulness:>11.2f}{scores.colourfulness_ratio:>8.2f}")
            return rows

        lines = [f"{self.photos} photos, working size {self.working_size}; model {self.model}", "", *method_rows("method", self.methods)]
        if self.hints:
            lines += ["", f"{'hint points':<18}{'PSNR dB':>9}{'ΔE00':>8}"]
            for count, scores in self.hints.items():
                lines.append(f"{count:<18}{scores['psnr']:>9.2f}{scores['ciede2000']:>8.2f}")
        for half, methods in self.halves.items():
            lines += ["", *method_rows(f"{half} photos", methods)]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "hints": {str(k): v for k, v in self.hints.items()}}


def gray_version(rgb: np.ndarray) -> np.ndarray:
    """The photo with a* = b* = 0: float ``(H, W, 3)`` sRGB of its lightness alone."""
    lab = rgb_to_lab(rgb.astype(np.float32))
    lab[..., 1:] = 0.0
    return lab_to_rgb(lab)


def photo_scores(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """One colorization's metrics against its true photo (float RGB in [0, 1]): psnr, ssim,
    ciede2000, colourfulness and the truth's colourfulness."""
    return {
        "psnr": psnr_8bit(prediction, truth),
        "ssim": ssim_8bit(prediction, truth),
        "ciede2000": mean_ciede2000(prediction, truth),
        "colourfulness": colourfulness(prediction),
        "colourfulness_truth": colourfulness(truth),
    }


def mean_scores(per_photo: list[dict[str, float]]) -> MethodScores:
    """The means of `photo_scores` over photos; the colourfulness ratio is of the means."""
    means = {name: float(np.mean([scores[name] for scores in per_photo])) for name in per_photo[0]}
    return MethodScores(
        psnr=means["psnr"],
        ssim=means["ssim"],
        ciede2000=means["ciede2000"],
        colourfulness=means["colourfulness"],
        colourfulness_ratio=means["colourfulness"] / max(means["colourfulness_truth"], 1e-9),
    )


def score_method(predictions: list[np.ndarray], truths: list[np.ndarray]) -> MethodScores:
    """Mean metrics of one method's colorizations against the true photos (float RGB in [0, 1])."""
    return mean_scores([photo_scores(p, t) for p, t in zip(predictions, truths)])


def contact_sheet(rows: list[tuple[np.ndarray, ...]], height: int = CONTACT_SHEET_HEIGHT) -> np.ndarray:
    """Stack rows of same-height float images (each row side by side) into one uint8 sheet."""
    rendered = []
    for images in rows:
        resized = []
        for image in images:
            width = max(1, round(image.shape[1] * height / image.shape[0]))
            pil = Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)).resize((width, height), Image.Resampling.LANCZOS)
            resized.append(np.asarray(pil))
        rendered.append(np.concatenate(resized, axis=1))
    width = max(row.shape[1] for row in rendered)
    sheet = np.full((height * len(rendered), width, 3), 255, dtype=np.uint8)
    for index, row in enumerate(rendered):
        sheet[index * height : (index + 1) * height, : row.shape[1]] = row
    return sheet


def evaluate(
    data: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    baseline: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    device: str = "auto",
    limit: int | None = None,
    working_size: int | None = None,
    contact_sheet_count: int = 12,
    hint_counts: tuple[int, ...] = HINT_COUNTS,
    compare_models: list[str | os.PathLike[str]] | None = None,
) -> EvaluationReport:
    """Evaluate a model (default: the shipped one) on the colour photos in ``data``.

    Every method runs on the same photos.  Gray, the seed-style baseline and the model run
    at one working size (``working_size``, default the model's calibrated one);
    ``compare_models`` (other tinct model files, reported under their file stem) run at
    their own calibrated working size and chroma scale, as their users get them.  The
    contact sheet's rows are gray input, the model, each compared model, and the truth.
    """
    paths = list_images(data)[:limit]
    colorizer = load_model(model, device=device)
    baseline_path = Path(baseline) if baseline else SEED_BASELINE_MODEL
    if not baseline_path.is_file():
        raise TinctError(f"seed-style baseline model {baseline_path} not found; pass --baseline PATH")
    seed_baseline: Colorizer = load_model(baseline_path, device=device)
    # One working size for every method, so the comparison is like for like.
    working_size = working_size or colorizer.default_working_size
    compared = {Path(path).stem: load_model(path, device=device) for path in compare_models or []}
    methods = ("tinct", "gray", "seed-autoencoder", *compared)
    photo_results: list[dict[str, Any]] = []
    sheet_candidates: list[tuple[np.ndarray, ...]] = []
    sheet_every = max(1, len(paths) // max(contact_sheet_count, 1))
    for index, path in enumerate(tqdm(paths, desc="evaluating", unit="photo")):
        pixels = load_image(path)
        if pixels.ndim != 3:
            continue
        truth = to_float_image(pixels)[..., :3]
        gray = gray_version(truth)
        colorized = {
            "tinct": colorizer.colorize(gray, working_size=working_size),
            "gray": gray,
            "seed-autoencoder": seed_baseline.colorize(gray, working_size=working_size),
            **{name: other.colorize(gray) for name, other in compared.items()},
        }
        result: dict[str, Any] = {"photo": Path(path).name, **{name: photo_scores(colorized[name], truth) for name in methods}, "hints": {}}
        for count in hint_counts:
            if count == 0:
                hinted = colorized["tinct"]
            else:
                hinted = colorizer.colorize(gray, working_size=working_size, hints=sample_hint_points(truth, count, seed=index))
            result["hints"][str(count)] = {"psnr": psnr_8bit(hinted, truth), "ciede2000": mean_ciede2000(hinted, truth)}
        photo_results.append(result)
        if index % sheet_every == 0 and len(sheet_candidates) < contact_sheet_count:
            sheet_candidates.append((gray, colorized["tinct"], *(colorized[name] for name in compared), truth))
    if not photo_results:
        raise TinctError(f"no colour photos in {data}")
    half = len(photo_results) // 2
    halves = {f"first {half}": photo_results[:half], f"last {len(photo_results) - half}": photo_results[half:]} if half else {}
    report = EvaluationReport(
        photos=len(photo_results),
        working_size=working_size,
        methods={name: mean_scores([result[name] for result in photo_results]) for name in methods},
        hints={
            count: {metric: float(np.mean([result["hints"][str(count)][metric] for result in photo_results])) for metric in ("psnr", "ciede2000")}
            for count in hint_counts
        },
        model=str(colorizer.path),
        baseline=str(baseline_path),
        photo_results=photo_results,
        halves={label: {name: mean_scores([result[name] for result in part]) for name in methods} for label, part in halves.items()},
    )
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report.to_json(), indent=2))
        if sheet_candidates:
            save_image(contact_sheet(sheet_candidates), out / "contact-sheet.png")
    return report


def read_training_logs(log_paths: str | os.PathLike[str] | list[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """The validation records of one run's ``log.jsonl``, or of several runs that continue one
    another (a fine-tuning after its initial run), each starting at the wall time the one
    before it ended."""
    records: list[dict[str, Any]] = []
    for log_path in [log_paths] if isinstance(log_paths, (str, os.PathLike)) else log_paths:
        offset = records[-1]["wall_seconds"] if records else 0.0
        run = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
        records += [{**record, "wall_seconds": record["wall_seconds"] + offset} for record in run]
    return records


def training_curve(
    log_paths: str | os.PathLike[str] | list[str | os.PathLike[str]], out_path: str | os.PathLike[str], metric: str = "colourfulness_ratio"
) -> Path:
    """Draw a validation metric against training wall time from runs' ``log.jsonl`` files (PNG).

    Each log line holds ``wall_seconds`` and the metrics of one validation; the chart shows
    ``metric`` (and PSNR, on its own scale) so quality per CPU-hour can be read off.  Several
    logs are chained as `read_training_logs` does.
    """
    from PIL import ImageDraw

    records = read_training_logs(log_paths)
    if not records:
        raise TinctError(f"{log_paths} holds no validation records yet")
    width, height, margin = 720, 360, 56
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    hours = [record["wall_seconds"] / 3600 for record in records]
    span = max(max(hours), 1e-6)
    draw.line([(margin, height - margin), (width - margin, height - margin)], fill="black")
    draw.line([(margin, margin / 2), (margin, height - margin)], fill="black")
    draw.text((width / 2 - 60, height - margin + 20), f"hours of training steps on the machine's cores (max {span:.2f})", fill="black")
    for name, colour in ((metric, (200, 60, 30)), ("psnr", (30, 90, 200))):
        values = [record[name] for record in records]
        low, high = min(values), max(values)
        spread = max(high - low, 1e-6)
        points = [
            (margin + (width - 2 * margin) * h / span, height - margin - (height - 1.5 * margin) * (v - low) / spread) for h, v in zip(hours, values)
        ]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        draw.text((points[-1][0] - 150, points[-1][1] - 16), f"{name}: {low:.2f} to {values[-1]:.2f}", fill=colour)
    out = Path(out_path)
    save_image(np.asarray(image), out)
    return out
