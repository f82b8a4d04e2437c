"""Ranges of tinct's user-facing colorization options: the one place they are defined.

`Colorizer.colorize` checks its arguments against them, and a model file's calibration
(the defaults measured for it) must lie within them too.
"""

from __future__ import annotations

WORKING_SIZE_RANGE = (16, 16384)
"""Long side, in pixels, at which the network looks at an image (inclusive)."""
SATURATION_RANGE = (0.0, 4.0)
"""Chroma multiplier (inclusive); 1 is the model's calibrated colour."""
CHROMA_SCALE_RANGE = (0.0, 4.0)
"""A model's calibrated chroma scale: above 0, at most 4."""
HUE_AGREEMENT_RANGE = (0.0, 8.0)
"""A bin classifier's hue-agreement power (``decode_hue_agreement``, inclusive); 0 is off."""
