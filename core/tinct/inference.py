"""Colorizing whole images at full resolution with bounded memory.

The pipeline of `Colorizer.colorize`:

1. L* of the input at full resolution (the input's colour, if any, is discarded).
2. L* resized to the working resolution (long side ``working_size``), padded to the
   network's multiple; hints rasterized beside it.
3. The scene's global context, computed once from the whole image at `CONTEXT_SIZE`.
4. The network predicts a*b* at a quarter of the working resolution — in one pass, or on
   overlapping tiles sharing that context when the working size exceeds ``tile``.
5. At full resolution, in strips of rows: a*b* upsampled by joint bilateral upsampling
   (guided by the full-resolution L*, so colour stops at edges), scaled by ``saturation``,
   recombined with the ORIGINAL L*, desaturated where out of the sRGB gamut (never
   clipped, which would change L*), converted to the input's pixel type.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checkpoint import load_network, save_network
from .colour import fit_chroma_to_gamut, rgb_to_lightness
from .devices import inference_dtype, resolve_device
from .errors import ImageError, ModelError, TinctError
from .hints import Hints, check_hints, propagate_hint_corrections, rasterize_hints
from .io import from_float_image, pil_to_array, to_float_image
from .models.base import AB_SCALE, LIGHTNESS_SCALE, ColorizationNetwork, encode_input
from .models.registry import build_network
from .options import SATURATION_RANGE, WORKING_SIZE_RANGE
from .threads import map_in_threads
from .tiling import TilePlan, run_tiled
from .upsampling import bilinear_axis, guided_upsampling_coefficients, sample_bilinear

__all__ = ["Colorizer", "load_model", "create_model", "colorize", "default_model_path"]

ImageLike = Union[np.ndarray, Image.Image]
Progress = Callable[[float], None]

DEFAULT_WORKING_SIZE = 512
DEFAULT_TILE = 512
TILE_OVERLAP = 128
MINIMUM_TILE = 128
TILE_BATCH = 4
# The global context is computed at about the scale the network was trained at.
CONTEXT_SIZE = 256
# Full-resolution work happens in strips of about this many pixels: cache-sized, and
# memory stays bounded whatever the image size.
STRIP_PIXELS = 1 << 17
# Progress shares of the pipeline's stages.
NETWORK_SHARE = 0.4
PACKAGE_MODEL = Path(__file__).parent / "default_model" / "tinct-default.safetensors"


def default_model_path() -> Path:
    """The model `load_model()` uses with no path: ``$TINCT_MODEL`` if set, else the packaged one."""
    return Path(os.environ.get("TINCT_MODEL") or PACKAGE_MODEL)


@functools.lru_cache(maxsize=2)
def _gray_lightness_table(levels: int) -> np.ndarray:
    """L* of every gray level 0..levels-1 (R = G = B), float32 ``(levels,)``."""
    gray = np.linspace(0.0, 1.0, levels, dtype=np.float64)
    return rgb_to_lightness(np.repeat(gray[:, None], 3, axis=1)).astype(np.float32)


class _Input:
    """A validated input image: its pixels, layout and how to give the result back."""

    def __init__(self, image: ImageLike) -> None:
        self.pil_mode: str | None = None
        if isinstance(image, Image.Image):
            self.pil_mode = image.mode
            try:
                image = pil_to_array(image, f"the PIL image ({image.mode}, {image.width}×{image.height})")
            except ImageError:
                raise
            except Exception as error:  # noqa: BLE001 - a lazily decoded PIL image can fail here in any way
                raise ImageError(f"the PIL image cannot be decoded ({error or type(error).__name__})") from None
        if not isinstance(image, np.ndarray):
            raise ImageError(f"expected a numpy array or PIL image, got {type(image).__name__}")
        if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
            raise ImageError(f"unsupported pixel type {image.dtype}; use uint8, uint16 or float32 in 0..1")
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[..., 0]
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
            raise ImageError(f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {image.shape}")
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ImageError(f"the image is empty (shape {image.shape})")
        if image.dtype.kind == "f" and not np.isfinite(image).all():
            raise ImageError("the image holds NaN or infinite values")
        self.pixels = image
        self.height, self.width = image.shape[:2]

    def lightness_rows(self, top: int, bottom: int) -> np.ndarray:
        """L* of rows ``top..bottom``, float32 ``(rows, W)``."""
        rows = self.pixels[top:bottom]
        if rows.ndim == 2 and rows.dtype in (np.uint8, np.uint16):
            return _gray_lightness_table(256 if rows.dtype == np.uint8 else 65536)[rows]
        values = to_float_image(rows)
        if values.ndim == 2:
            values = np.repeat(values[..., None], 3, axis=2)
        return rgb_to_lightness(np.ascontiguousarray(values[..., :3]))

    def working_lightness(self, size: tuple[int, int]) -> torch.Tensor:
        """L* of the image resized to ``size`` (height, width): ``(1, 1, h, w)`` float32.

        Resizing happens on the pixels (box filter down, bilinear up) one channel at a
        time, so no full-resolution float copy of the whole image is ever made.
        """
        height, width = size
        resample = Image.Resampling.BOX if height * width < self.height * self.width else Image.Resampling.BILINEAR
        planes = [self.pixels] if self.pixels.ndim == 2 else [self.pixels[..., channel] for channel in range(3)]
        resized = []
        for plane in planes:
            if plane.dtype == np.uint8:
                small = np.asarray(Image.fromarray(np.ascontiguousarray(plane)).resize((width, height), resample), dtype=np.float32) / 255.0
            else:
                small = np.asarray(Image.fromarray(to_float_image(plane)).resize((width, height), resample))
            resized.append(np.clip(small, 0.0, 1.0))
        rgb = np.stack(resized * 3 if len(resized) == 1 else resized, axis=-1)
        return torch.from_numpy(rgb_to_lightness(rgb))[None, None]

    def output_array(self) -> np.ndarray:
        channels = 4 if self.pixels.ndim == 3 and self.pixels.shape[2] == 4 else 3
        return np.empty((self.height, self.width, channels), dtype=self.pixels.dtype)

    def finish(self, result: np.ndarray) -> ImageLike:
        if self.pil_mode is None:
            return result
        eight_bit = result if result.dtype == np.uint8 else from_float_image(to_float_image(result), np.uint8)
        return Image.fromarray(eight_bit)


def _strip_rows(width: int) -> int:
    return max(1, STRIP_PIXELS // max(width, 1))


class Colorizer:
    """A loaded colorization network, ready to colorize images.

    Make one with `load_model` (a trained model file) or `create_model` (untrained).
    """

    def __init__(self, network: ColorizationNetwork, *, device: str | torch.device = "auto", metadata: dict[str, Any] | None = None, path: Path | None = None) -> None:
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.dtype = inference_dtype(self.device)
        self.network = network.eval().to(device=self.device, dtype=self.dtype)
        self.metadata = metadata or {}
        self.path = path

    @property
    def architecture(self) -> str:
        return self.network.architecture

    @property
    def training(self) -> dict[str, Any]:
        """The training record stored with the model (empty for an untrained one)."""
        return dict(self.metadata.get("training", {}))

    @property
    def calibration(self) -> dict[str, Any]:
        """Inference defaults measured for this model on validation photos (may be empty)."""
        return dict(self.metadata.get("calibration", {}))

    @property
    def default_working_size(self) -> int:
        return int(self.calibration.get("working_size", DEFAULT_WORKING_SIZE))

    def save(self, path: str | os.PathLike[str], *, training: dict[str, Any] | None = None, calibration: dict[str, Any] | None = None) -> Path:
        """Write the model (float16 safetensors + metadata) atomically to ``path``."""
        return save_network(
            self.network,
            path,
            training=training if training is not None else self.training,
            calibration=calibration if calibration is not None else self.calibration,
        )

    def check_options(self, *, working_size: int | None = None, tile: int = DEFAULT_TILE, saturation: float = 1.0) -> int:
        """Check `colorize`'s options (ranges in `tinct.options`); returns the working size to use.

        Raises `TinctError`; the command line calls it once, before its first file.
        """
        if working_size is None:
            working_size = self.default_working_size
        low, high = WORKING_SIZE_RANGE
        if not (isinstance(working_size, int) and not isinstance(working_size, bool) and low <= working_size <= high):
            raise TinctError(f"working size must be a whole number of pixels from {low} to {high}, got {working_size!r}")
        if not (isinstance(tile, int) and not isinstance(tile, bool) and tile >= MINIMUM_TILE):
            raise TinctError(f"tile must be a whole number of pixels of at least {MINIMUM_TILE}, got {tile!r}")
        low, high = SATURATION_RANGE
        if not (isinstance(saturation, (int, float)) and not isinstance(saturation, bool) and low <= saturation <= high):
            raise TinctError(f"saturation must be a number from {low:g} to {high:g}, got {saturation!r}")
        return working_size

    def _network_input(self, lightness: torch.Tensor, hint_maps: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """``(1, 4, H, W)`` input padded (replicated edges) to the network's multiple."""
        hint_ab, hint_mask = hint_maps if hint_maps is not None else (None, None)
        network_input = encode_input(lightness, hint_ab, hint_mask)
        multiple = self.network.input_multiple
        height, width = network_input.shape[-2:]
        pad_bottom = -height % multiple
        pad_right = -width % multiple
        if pad_bottom or pad_right:
            network_input = F.pad(network_input, (0, pad_right, 0, pad_bottom), mode="replicate")
        return network_input.to(self.device, self.dtype)

    def _context(self, lightness: torch.Tensor, hint_maps: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        height, width = lightness.shape[-2:]
        scale = min(1.0, CONTEXT_SIZE / max(height, width))
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        small = F.interpolate(lightness, size=size, mode="area")
        small_hints = None
        if hint_maps is not None:
            hint_ab, hint_mask = hint_maps
            coverage = F.interpolate(hint_mask, size=size, mode="area")
            covered = (coverage > 0).float()
            small_hints = (F.interpolate(hint_ab * hint_mask, size=size, mode="area") / coverage.clamp_min(1e-6) * covered, covered)
        return self.network.global_context(self._network_input(small, small_hints))

    def _predict(self, network_input: torch.Tensor, context: torch.Tensor, tile: int, progress: Progress | None) -> torch.Tensor:
        """a*b* on the quarter-resolution grid of the padded input, retrying smaller tiles on GPU out-of-memory."""
        while True:
            try:
                with torch.inference_mode():
                    height, width = network_input.shape[-2:]
                    if height <= tile and width <= tile:
                        chroma = self.network.predict_chroma(network_input, context)
                        if progress:
                            progress(1.0)
                        return chroma.float()
                    plan = TilePlan.for_image(
                        height, width, tile=tile, overlap=TILE_OVERLAP, multiple=self.network.input_multiple, output_stride=self.network.output_stride
                    )
                    return run_tiled(
                        lambda batch: self.network.predict_chroma(batch, context.expand(batch.shape[0], -1)),
                        network_input,
                        plan,
                        batch_size=TILE_BATCH,
                        progress=progress,
                    )
            except torch.OutOfMemoryError:
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                if tile // 2 < MINIMUM_TILE:
                    raise TinctError(
                        f"out of memory on {self.device.type} even with {tile}-pixel tiles; lower --working-size or use --device cpu"
                    ) from None
                tile //= 2

    def colorize(
        self,
        image: ImageLike,
        *,
        working_size: int | None = None,
        tile: int = DEFAULT_TILE,
        saturation: float = 1.0,
        hints: Hints = None,
        progress: Progress | None = None,
    ) -> ImageLike:
        """Colorize a grayscale (or colour, whose colour is discarded) image.

        Parameters
        ----------
        image : numpy array — gray ``(H, W)`` or ``(H, W, 1)``, RGB ``(H, W, 3)`` or RGBA
            ``(H, W, 4)``, uint8, uint16 or float32 in [0, 1] — or a PIL image
        working_size : long side, in pixels, at which the network looks at the image
            (a "render factor"; larger sees finer detail, smaller sees more context);
            default: the model's calibrated size, else 512
        tile : largest network input side; larger working sizes run on overlapping tiles
        saturation : multiplies the predicted chroma (0 gives gray, 1 the model's calibrated colour)
        hints : optional colour hints — a list of ``(x, y, (r, g, b))`` points in image pixels
            (r, g, b whole numbers 0..255 or fractions 0..1), or an RGBA array or PIL image of
            the image's size whose opaque pixels are hints (see `tinct.hints.check_hints`)
        progress : called with the fraction done, 0..1

        Returns
        -------
        The same kind as ``image``: an array of the same dtype, RGB ``(H, W, 3)`` (RGBA with
        the input's alpha untouched), or a PIL image (8-bit RGB or RGBA, whatever the input
        mode: PIL has no 16-bit or float colour modes; `tinct.io.pil_to_array` says how each
        mode is read).  Its L* is the input's.
        """
        working_size = self.check_options(working_size=working_size, tile=tile, saturation=saturation)
        source = _Input(image)
        height, width = source.height, source.width
        valid_hints = check_hints(hints, (height, width))
        report = progress or (lambda fraction: None)
        report(0.0)

        scale = working_size / max(height, width)
        work_size = (max(1, round(height * scale)), max(1, round(width * scale)))
        work_lightness = source.working_lightness(work_size)
        hint_maps = rasterize_hints(valid_hints, (height, width), work_size)
        network_input = self._network_input(work_lightness, hint_maps)
        context = self._context(work_lightness, hint_maps)
        chroma = self._predict(network_input, context, tile, lambda fraction: report(NETWORK_SHARE * fraction))[0].cpu()
        chroma = chroma * (float(saturation) * float(self.calibration.get("chroma_scale", 1.0)))

        stride = self.network.output_stride
        guide = F.avg_pool2d(network_input[:, :1].float().cpu(), stride)[0, 0] * LIGHTNESS_SCALE + LIGHTNESS_SCALE
        if hint_maps is not None:
            grid_mask = F.avg_pool2d(network_input[:, 3:4].float().cpu(), stride)[0]
            grid_ab = F.avg_pool2d(network_input[:, 1:3].float().cpu() * AB_SCALE, stride)[0] / grid_mask.clamp_min(1e-6)
            chroma = propagate_hint_corrections(chroma, guide, grid_ab * float(saturation), grid_mask[0])
        coefficients = guided_upsampling_coefficients(chroma, guide)
        # Full-resolution pixel centres on the chroma grid: image → working → chroma.
        row_positions = ((torch.arange(height, dtype=torch.float32) + 0.5) * work_size[0] / height) / stride - 0.5
        column_positions = ((torch.arange(width, dtype=torch.float32) + 0.5) * work_size[1] / width) / stride - 0.5
        columns = bilinear_axis(column_positions, coefficients.shape[2])
        result = source.output_array()
        rows_per_strip = _strip_rows(width)

        def compose_strip(top: int) -> int:
            bottom = min(top + rows_per_strip, height)
            lightness = torch.from_numpy(source.lightness_rows(top, bottom))
            local = sample_bilinear(coefficients, bilinear_axis(row_positions[top:bottom], coefficients.shape[1]), columns)
            ab = local[:2] * lightness + local[2:]
            rgb = fit_chroma_to_gamut(torch.stack((lightness, ab[0], ab[1]), dim=-1))
            result[top:bottom, :, :3] = from_float_image(rgb.numpy(), result.dtype)
            if result.shape[2] == 4:
                result[top:bottom, :, 3] = source.pixels[top:bottom, :, 3]
            return bottom

        for bottom in map_in_threads(compose_strip, range(0, height, rows_per_strip)):
            report(NETWORK_SHARE + (1.0 - NETWORK_SHARE) * bottom / height)
        return source.finish(result)


def load_model(path: str | os.PathLike[str] | None = None, device: str = "auto") -> Colorizer:
    """Load a tinct model file (``None``: the default model) onto ``device`` (auto, cpu, cuda, mps)."""
    model_path = Path(path) if path is not None else default_model_path()
    if path is None and not model_path.is_file():
        raise ModelError(
            f"no default model is installed (looked for {model_path}); pass a model path, or set TINCT_MODEL to a model file"
        )
    network, metadata = load_network(model_path)
    return Colorizer(network, device=device, metadata=metadata, path=model_path)


def create_model(arch: str | None = None, seed: int = 0, device: str = "auto", **config: Any) -> Colorizer:
    """An untrained `Colorizer` of the default (or named) architecture, initialised from ``seed``."""
    return Colorizer(build_network(arch, config, seed=seed), device=device)


_default_colorizers: dict[str, Colorizer] = {}


def colorize(image: ImageLike, *, model: str | os.PathLike[str] | None = None, device: str = "auto", **options: Any) -> ImageLike:
    """Colorize ``image`` with the default model (or ``model``); options as `Colorizer.colorize`.

    The model is loaded once per (path, device) and kept for later calls.
    """
    key = f"{model}|{device}"
    if key not in _default_colorizers:
        _default_colorizers[key] = load_model(model, device=device)
    return _default_colorizers[key].colorize(image, **options)

