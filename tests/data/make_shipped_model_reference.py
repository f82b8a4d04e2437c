"""Writes tests/data/shipped-model-reference.npz: the shipped model's automatic result on the small gray
coffee of pre-refactor-reference.npz, with the SHA-256 of the model file that made it.

tests/test_reference_outputs.py compares today's pipeline with it, so a change that alters what users
get from the shipped model shows up. Rewrite it only when the shipped model changes on purpose (after
`tinct eval` and a look at its results), from the repository root:
python tests/data/make_shipped_model_reference.py
"""
import hashlib
from pathlib import Path

import numpy as np

import tinct

data = Path(__file__).parent
gray = np.load(data / "pre-refactor-reference.npz")["input"]
shipped = tinct.load_model(device="cpu")
np.savez_compressed(
    data / "shipped-model-reference.npz",
    input=gray,
    shipped_default=shipped.colorize(gray),
    model_sha256=hashlib.sha256(Path(shipped.path).read_bytes()).hexdigest(),
)
print(f"wrote {data / 'shipped-model-reference.npz'} from {shipped.path}")
