"""Colorize one synthetic-size photo in a fresh process; print seconds and peak RSS as JSON.

Usage: python measure_colorize.py HEIGHT WIDTH [MODEL]. The image is scikit-image's coffee
photo, made gray and resized to HEIGHT×WIDTH (uint8), so content is real at any size.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np
from PIL import Image
from skimage import data

import tinct


def main() -> None:
    height, width = int(sys.argv[1]), int(sys.argv[2])
    model = sys.argv[3] if len(sys.argv) > 3 else None
    colorizer = tinct.load_model(model, device="cpu")
    gray = np.asarray(Image.fromarray(data.coffee()).convert("L").resize((width, height), Image.Resampling.BILINEAR))
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = colorizer.colorize(gray)
    seconds = time.perf_counter() - started
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    chroma = float(np.abs(result[::97, ::97, 0].astype(int) - result[::97, ::97, 2]).mean())
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss / 1024, "rss_before_mb": baseline_rss / 1024, "shape": list(result.shape), "red_blue_difference": chroma}))


if __name__ == "__main__":
    main()
