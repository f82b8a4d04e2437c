"""Writes tests/data/pre-refactor-reference.npz: outputs of the pipeline as of commit 66a086c (before the
model-descriptor refactor), kept so tests/test_reference_outputs.py can show the automatic results unchanged.
(Hinted results changed on purpose afterwards: hints no longer enter the scene's global context. The
shipped model's result, once kept here too, is now in shipped-model-reference.npz, rewritten whenever the
shipped model changes.)

Run from the repository root with that commit checked out: python tests/data/make_pre_refactor_reference.py
"""
import numpy as np
from skimage import data
from skimage.transform import resize
import tinct

photo = np.rint(resize(data.coffee(), (200, 300), anti_aliasing=True) * 255).astype(np.uint8)
lightness = tinct.rgb_to_lightness(photo.astype(np.float32) / 255.0)
neutral = tinct.lab_to_rgb(np.stack([lightness, np.zeros_like(lightness), np.zeros_like(lightness)], axis=-1))
gray = np.rint(neutral[..., 0] * 255).astype(np.uint8)
small = gray[::4, ::4].copy()  # 50×75
untrained = tinct.create_model(seed=0, device="cpu")
image = small
refs = {
    "untrained_256_saturation": untrained.colorize(image, working_size=256, saturation=0.7),
}
np.savez_compressed("tests/data/pre-refactor-reference.npz", input=small, **refs)
for name, array in refs.items():
    print(name, array.shape, array.dtype)
