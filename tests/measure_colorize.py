"""Colorize one synthetic-size photo in a fresh process; print seconds and peak RSS as JSON.

Usage: python measure_colorize.py HEIGHT WIDTH [MODEL]. The image is scikit-image's coffee
photo, made gray and resized to HEIGHT×WIDTH (uint8), so content is real at any size.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

import tinct


def peak_rss_mb() -> float:
    """This process's peak resident memory. /proc's VmHWM belongs to this program alone;
    ru_maxrss would also count the parent's memory at fork time."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    height, width = int(sys.argv[1]), int(sys.argv[2])
    model = sys.argv[3] if len(sys.argv) > 3 else None
    colorizer = tinct.load_model(model, device="cpu")
    gray = np.asarray(Image.fromarray(data.coffee()).convert("L").resize((width, height), Image.Resampling.BILINEAR))
    baseline_rss = peak_rss_mb()
    started = time.perf_counter()
    result = colorizer.colorize(gray)
    seconds = time.perf_counter() - started
    peak_rss = peak_rss_mb()
    chroma = float(np.abs(result[::97, ::97, 0].astype(int) - result[::97, ::97, 2]).mean())
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss, "rss_before_mb": baseline_rss, "shape": list(result.shape), "red_blue_difference": chroma}))


if __name__ == "__main__":
    main()
