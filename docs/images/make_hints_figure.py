"""Draws docs/images/hints-before-after.jpg: a photo made gray, colorized automatically, and with three hints.

Run from the repository root: python docs/images/make_hints_figure.py
"""
import numpy as np
from PIL import Image, ImageDraw
from skimage import data
from skimage.transform import resize
import tinct

photo = np.rint(resize(data.coffee(), (267, 400), anti_aliasing=True) * 255).astype(np.uint8)
lightness = tinct.rgb_to_lightness(photo.astype(np.float32) / 255.0)
gray = np.rint(tinct.lab_to_rgb(np.stack([lightness, 0 * lightness, 0 * lightness], -1))[..., 0] * 255).astype(np.uint8)
model = tinct.load_model(device="cpu")
hints = [(120, 220, "#2a5db0"), (360, 150, "#8a6440"), (30, 40, "#8a6440")]
points = [(x, y, tuple(int(c[i:i + 2], 16) / 255 for i in (1, 3, 5))) for x, y, c in hints]
automatic = model.colorize(gray)
hinted = model.colorize(gray, hints=points)
panel = Image.fromarray(np.concatenate([np.repeat(gray[..., None], 3, 2), automatic, hinted], axis=1))
draw = ImageDraw.Draw(panel)
for x, y, colour in hints:
    draw.ellipse((800 + x - 5, y - 5, 800 + x + 5, y + 5), fill=colour, outline="white")
panel.save("docs/images/hints-before-after.jpg", quality=88)
print(panel.size)
