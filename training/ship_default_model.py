"""Calibrate a trained run's model and ship it as tinct's default model.

    python training/ship_default_model.py training/runs/tinct-unet-v1 ../shared/data/val

Calibration picks, on the first half of the validation photos, the decoding temperature
and the chroma scale that give the best PSNR while keeping colourfulness at least
`MINIMUM_COLOURFULNESS_RATIO` of the truth's (the classifier with class rebalancing is
more vivid than the photos; a higher temperature and a smaller scale trade vividness for
accuracy).  The ratio keeps a margin above the 0.75 the quality bar asks for.
The model is then written, float16, to ``core/tinct/default_model/`` with its training
record, and the seed-style baseline beside it. `tinct eval` on all photos gives the
figures reported in docs/model-card.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tinct
from tinct.evaluation import SEED_BASELINE_MODEL, score_method, gray_version
from tinct.inference import PACKAGE_MODEL
from tinct.io import to_float_image
from tinct.training.data_cache import list_images

MINIMUM_COLOURFULNESS_RATIO = 0.78
# Working size 320 beat 256 for the first model (PSNR and colourfulness); it stays fixed.
WORKING_SIZE = 320
TEMPERATURES = (0.38, 0.5, 0.65)
CHROMA_SCALES = (0.7, 0.75, 0.8, 0.85, 0.9)


def main(run: Path, validation: Path) -> None:
    colorizer = tinct.load_model(run / "model.safetensors", device="cpu")
    paths = list_images(validation)
    truths = [to_float_image(tinct.load_image(path))[..., :3] for path in paths[: len(paths) // 2]]
    grays = [gray_version(truth) for truth in truths]
    candidates = []
    for temperature in TEMPERATURES:
        colorizer.network.set_temperature(temperature)
        for chroma_scale in CHROMA_SCALES:
            scores = score_method([colorizer.colorize(gray, working_size=WORKING_SIZE, saturation=chroma_scale) for gray in grays], truths)
            print(f"temperature {temperature}, chroma scale {chroma_scale}: PSNR {scores.psnr:.2f}, ΔE00 {scores.ciede2000:.2f}, colourfulness ratio {scores.colourfulness_ratio:.2f}", flush=True)
            candidates.append((scores, temperature, chroma_scale))
    vivid = [candidate for candidate in candidates if candidate[0].colourfulness_ratio >= MINIMUM_COLOURFULNESS_RATIO] or candidates
    scores, temperature, chroma_scale = max(vivid, key=lambda candidate: candidate[0].psnr)
    colorizer.network.set_temperature(temperature)
    calibration = {"working_size": WORKING_SIZE, "chroma_scale": chroma_scale, "temperature": temperature, "calibrated_on": f"{len(truths)} photos of {validation.name}"}
    training = colorizer.training | {"run": run.name, "log": [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]}
    colorizer.save(PACKAGE_MODEL, training=training, calibration=calibration)
    baseline = tinct.load_model(run.parent / "seed-autoencoder" / "model.safetensors", device="cpu")
    baseline.save(SEED_BASELINE_MODEL)
    print(f"shipped {PACKAGE_MODEL} ({PACKAGE_MODEL.stat().st_size / 1e6:.1f} MB) with {calibration}; baseline {SEED_BASELINE_MODEL}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
