"""tinct: automatic colorization of grayscale photographs.

>>> import tinct
>>> colorizer = tinct.load_model()                  # the default model shipped with tinct
>>> colour = colorizer.colorize(tinct.load_image("grandparents.jpg"))
>>> tinct.save_image(colour, "grandparents-colour.png")
"""

__version__ = "0.1.0"

from .batch import BatchSettings, BatchSummary, run_batch
from .descriptor import ModelDescriptor, OptionRange
from .colour import fit_chroma_to_gamut, lab_to_rgb, rgb_to_lab, rgb_to_lightness
from .errors import DeviceError, ImageError, ModelError, TinctError, TrainingError
from .hints import sample_hint_points
from .inference import Colorizer, colorize, create_model, default_model_path, load_model
from .io import load_image, save_image
from .tiling import TilePlan

__all__ = [
    "__version__",
    "rgb_to_lab",
    "lab_to_rgb",
    "rgb_to_lightness",
    "fit_chroma_to_gamut",
    "TinctError",
    "ModelError",
    "ImageError",
    "DeviceError",
    "TrainingError",
    "Colorizer",
    "ModelDescriptor",
    "OptionRange",
    "load_model",
    "create_model",
    "colorize",
    "default_model_path",
    "load_image",
    "save_image",
    "sample_hint_points",
    "TilePlan",
    "BatchSettings",
    "BatchSummary",
    "run_batch",
]
