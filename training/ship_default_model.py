"""Calibrate a trained run's model and ship it as tinct's default model.

    python training/ship_default_model.py training/runs/tinct-unet-v3 ../shared/data/val [--colourfulness-ratio R] [--dry-run]

Calibration uses the first half of the validation photos, in stages, each keeping what
gives the lowest mean CIEDE2000: the working size (at the default decoding), then the
radius of the probability smoothing (`annealed_mean`'s ``smoothing_radius``), then the
hue-agreement power, then the temperature with its chroma scale.  The last two stages
compare at equal colourfulness: for each setting it finds the chroma scale that brings
colourfulness to `MINIMUM_COLOURFULNESS_RATIO` of the truth's (a margin above the quality
bar's 0.85): colourfulness grows about in proportion to the scale, so one probe at scale 1
predicts it, and the scale is then nudged up until the ratio holds.  Of these, the setting
with the lowest mean CIEDE2000 wins (PSNR varies little between them).  The chosen setting
is then scored once on the held-out last half and printed.

The hue agreement (`annealed_mean`'s ``hue_agreement`` β, saved in the network's config as
``decode_hue_agreement``) mutes pixels whose likely bins disagree in hue, so the chroma
scale saturates what the classifier agrees on instead of painting its hesitations as casts
and blotches (training/pilots/decoding-study.md: at equal colourfulness, tinct-unet-v3's
ΔE00 fell by about 0.5 at β = 2 and 0.65 at β = 3, and coffee lost its blue saucer and
green table).  Larger β lowers ΔE00 further but gathers the colour into fewer patches and
grays skin (the astronaut's face at β = 4 and 6), so `HUE_AGREEMENTS` stops at 3.

Temperatures below Zhang et al.'s 0.38 are left out: nearer the mode, regions where the
classifier hesitates between two colours break into red and blue blotches (seen at 0.15 on
a T-shirt and a road of the validation set, although its ΔE00 was lower).  The
temperature, smoothing and hue agreement are saved in the network's config.

The model is then written, float16, to ``core/tinct/default_model/`` with its training
record (a fine-tuned run's includes the record of the model it started from), and the
seed-style baseline beside it.  `tinct eval` on all photos gives the figures reported in
docs/model-card.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import tinct
from tinct.evaluation import SEED_BASELINE_MODEL, MethodScores, gray_version, score_method
from tinct.inference import PACKAGE_MODEL
from tinct.io import to_float_image
from tinct.training.data_cache import list_images

# The quality bar asks for 0.85 of the truth's colourfulness; calibrate with a small margin
# (``--colourfulness-ratio`` calibrates to another target, e.g. a shipped model's, to compare
# two models at equal colourfulness).
MINIMUM_COLOURFULNESS_RATIO = 0.87
WORKING_SIZES = (320, 448)
SMOOTHING_RADII = (0, 1, 2)
TEMPERATURES = (0.38, 0.5)
HUE_AGREEMENTS = (0.0, 1.0, 2.0, 3.0)
SCALE_NUDGE = 1.03


def main(run: Path, validation: Path, target_ratio: float = MINIMUM_COLOURFULNESS_RATIO, dry_run: bool = False) -> None:
    colorizer = tinct.load_model(run / "model.safetensors", device="cpu")
    paths = list_images(validation)
    truths = [to_float_image(tinct.load_image(path))[..., :3] for path in paths[: len(paths) // 2]]
    grays = [gray_version(truth) for truth in truths]
    held_out_truths = [to_float_image(tinct.load_image(path))[..., :3] for path in paths[len(paths) // 2 :]]

    network = colorizer.network
    settings = {"working_size": WORKING_SIZES[0], "smoothing": 0}
    scored: dict[tuple[int, int, float, float, float], MethodScores] = {}

    def score(temperature: float, chroma_scale: float, hue_agreement: float = 0.0) -> MethodScores:
        key = (settings["working_size"], settings["smoothing"], temperature, hue_agreement, chroma_scale)
        if key in scored:
            return scored[key]
        network.set_temperature(temperature)
        network.set_decode_smoothing(settings["smoothing"])
        network.set_decode_hue_agreement(hue_agreement)
        scores = score_method([colorizer.colorize(gray, working_size=settings["working_size"], saturation=chroma_scale) for gray in grays], truths)
        print(
            f"{settings}, temperature {temperature}, hue agreement {hue_agreement:g}, chroma scale {chroma_scale:.3f}: "
            f"PSNR {scores.psnr:.2f}, ΔE00 {scores.ciede2000:.2f}, colourfulness ratio {scores.colourfulness_ratio:.3f}",
            flush=True,
        )
        scored[key] = scores
        return scores

    def at_target(temperature: float, hue_agreement: float) -> tuple[MethodScores, float]:
        """The scores at the chroma scale that reaches the colourfulness target, and that scale."""
        chroma_scale = round(target_ratio / max(score(temperature, 1.0, hue_agreement).colourfulness_ratio, 1e-3), 3)
        while (scores := score(temperature, chroma_scale, hue_agreement)).colourfulness_ratio < target_ratio:
            chroma_scale = round(chroma_scale * SCALE_NUDGE, 3)
        return scores, chroma_scale

    for setting, values in (("working_size", WORKING_SIZES), ("smoothing", SMOOTHING_RADII)):
        errors = {}
        for value in values:
            settings[setting] = value
            errors[value] = score(TEMPERATURES[0], 1.0).ciede2000
        settings[setting] = min(errors, key=errors.__getitem__)
    agreement_errors = {power: at_target(TEMPERATURES[0], power)[0].ciede2000 for power in HUE_AGREEMENTS}
    hue_agreement = min(agreement_errors, key=agreement_errors.__getitem__)
    candidates = []
    for temperature in TEMPERATURES:
        scores, chroma_scale = at_target(temperature, hue_agreement)
        candidates.append((scores.ciede2000, temperature, chroma_scale))
    _, temperature, chroma_scale = min(candidates)
    network.set_temperature(temperature)
    network.set_decode_smoothing(settings["smoothing"])
    network.set_decode_hue_agreement(hue_agreement)
    held_out = score_method(
        [colorizer.colorize(gray_version(truth), working_size=settings["working_size"], saturation=chroma_scale) for truth in held_out_truths], held_out_truths
    )
    print(
        f"held out ({len(held_out_truths)} photos) at the chosen setting: PSNR {held_out.psnr:.2f}, ΔE00 {held_out.ciede2000:.2f}, "
        f"colourfulness ratio {held_out.colourfulness_ratio:.3f}",
        flush=True,
    )
    if dry_run:
        print(
            f"dry run: would ship temperature {temperature}, smoothing {settings['smoothing']}, hue agreement {hue_agreement:g}, "
            f"working size {settings['working_size']}, chroma scale {chroma_scale}"
        )
        return
    calibration = {"working_size": settings["working_size"], "chroma_scale": chroma_scale, "calibrated_on": f"{len(truths)} photos of {validation.name}"}
    training = colorizer.training | {"run": run.name, "log": [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]}
    initial_model = colorizer.training.get("config", {}).get("initial_model")
    if initial_model and Path(initial_model).is_file():
        training["initial_model_training"] = tinct.load_model(initial_model, device="cpu").training
    colorizer.save(PACKAGE_MODEL, training=training, calibration=calibration)
    print(
        f"shipped {PACKAGE_MODEL} ({PACKAGE_MODEL.stat().st_size / 1e6:.1f} MB) with temperature {temperature}, "
        f"smoothing {settings['smoothing']}, hue agreement {hue_agreement:g}, {calibration}"
    )
    # The seed-style baseline ships too, when its run's model was rebuilt here.
    baseline_path = run.parent / "seed-autoencoder" / "model.safetensors"
    if baseline_path.is_file():
        tinct.load_model(baseline_path, device="cpu").save(SEED_BASELINE_MODEL)
        print(f"shipped the baseline {SEED_BASELINE_MODEL}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Calibrate a run's model on the first half of the validation photos and ship it as the default model.")
    parser.add_argument("run", type=Path, help="training run folder holding model.safetensors and log.jsonl")
    parser.add_argument("validation", type=Path, help="folder of validation photos")
    parser.add_argument("--colourfulness-ratio", type=float, default=MINIMUM_COLOURFULNESS_RATIO, help="colourfulness to calibrate to, as a fraction of the truth's")
    parser.add_argument("--dry-run", action="store_true", help="calibrate and print, write nothing")
    arguments = parser.parse_args()
    main(arguments.run, arguments.validation, arguments.colourfulness_ratio, arguments.dry_run)
