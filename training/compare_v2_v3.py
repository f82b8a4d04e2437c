"""Score v2 (as it shipped before hue agreement) and a v3 model on both halves of the validation photos, at the
decodings compared in docs/model-card.md (v3 at scale 1, with smoothing, and at v2's
colourfulness; v2 with hue agreement at its own colourfulness).

    git show 12741f6:core/tinct/default_model/tinct-default.safetensors > v2.safetensors
    python training/compare_v2_v3.py ../shared/data/val training/runs/tinct-unet-v3/model.safetensors v2.safetensors

(v2's file as it shipped before hue agreement; the shipped model now has it.)

Prints one line per decoding and half: PSNR dB, mean CIEDE2000, colourfulness ratio.
"""

from __future__ import annotations

import sys
from pathlib import Path

import tinct
from tinct.evaluation import gray_version, score_method
from tinct.io import to_float_image
from tinct.training.data_cache import list_images

# v2 with the shipped hue agreement; the saturation multiplies v2's calibrated chroma scale back to its colourfulness.
from ship_v2_hue_agreement import HUE_AGREEMENT, SATURATION  # this folder: run as python training/compare_v2_v3.py

# (label, decoding smoothing radius or None for the model's own, chroma scale or None for the model's calibrated one)
V3_DECODINGS = (
    ("scale 1", 0, 1.0),
    ("smoothing 2, scale 1", 2, 1.0),
    ("scale 1.19 (v2's colourfulness)", 0, 1.19),
    ("smoothing 2, scale 1.322 (v2's colourfulness)", 2, 1.322),
)
WORKING_SIZE = 320


def main(validation: Path, v3_path: Path, v2_path: Path) -> None:
    paths = list_images(validation)
    truths = [to_float_image(tinct.load_image(path))[..., :3] for path in paths]
    grays = [gray_version(truth) for truth in truths]
    half = len(paths) // 2
    halves = {f"first {half}": slice(0, half), f"last {len(paths) - half}": slice(half, None)}

    def report(name: str, colorizer: tinct.Colorizer, **options: float) -> None:
        for label, part in halves.items():
            scores = score_method([colorizer.colorize(gray, working_size=WORKING_SIZE, **options) for gray in grays[part]], truths[part])
            print(f"{name} | {label} | PSNR {scores.psnr:.2f} | ΔE00 {scores.ciede2000:.2f} | ratio {scores.colourfulness_ratio:.3f}", flush=True)

    v2 = tinct.load_model(v2_path, device="cpu")
    report("v2 as shipped before", v2)
    v2.network.set_decode_hue_agreement(HUE_AGREEMENT)
    report(f"v2, hue agreement {HUE_AGREEMENT:g}, saturation {SATURATION}", v2, saturation=SATURATION)
    v3 = tinct.load_model(v3_path, device="cpu")
    for label, smoothing, scale in V3_DECODINGS:
        v3.network.set_decode_smoothing(smoothing)
        report(f"v3, {label}", v3, saturation=scale)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
