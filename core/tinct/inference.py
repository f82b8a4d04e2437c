"""Colorizing whole images at full resolution with bounded memory.

`Colorizer.colorize` runs five stages, each a method of its own:

1. input (`_Input`): the pixels validated; L* at full resolution (the input's colour, if
   any, is discarded) and resized to the working resolution (long side ``working_size``);
2. network input (`Colorizer._network_input`): L* and the hints rasterized beside it
   (`tinct.hints`), padded to the network's input multiple;
3. chroma at working resolution (`Colorizer._chroma`): the scene's global context,
   computed once from the whole image at `CONTEXT_SIZE` (from L* alone, not the hints); then a*b* at the network's output
   stride, in one pass or on overlapping tiles sharing that context when the working size
   exceeds ``tile``.  A tile that runs out of memory is split into smaller tiles and the
   run carries on, so progress never goes backwards;
4. hints (`tinct.hints.apply_hints`): the prediction made to honour them;
5. full-resolution composition (`Colorizer._compose`), in strips of rows: a*b* upsampled
   by joint bilateral upsampling (guided by the full-resolution L*, so colour stops at
   edges), recombined with the ORIGINAL L*, desaturated where out of the sRGB gamut
   (never clipped, which would change L*), converted to the input's pixel type.

The numbers these stages need about the network (input multiple, output stride,
receptive radius, calibrated defaults, option ranges) come from its `ModelDescriptor`.
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
from .descriptor import ModelDescriptor
from .devices import inference_dtype, resolve_device
from .errors import ImageError, ModelError, TinctError
from .hints import HintMaps, Hints, apply_hints, check_hints, rasterize_hints
from .io import from_float_image, pil_to_array, to_float_image
from .models.base import LIGHTNESS_SCALE, ColorizationNetwork, encode_input
from .models.registry import build_network
from .threads import map_in_threads
from .tiling import TilePlan, run_tiled
from .upsampling import bilinear_axis, guided_upsampling_coefficients, sample_bilinear

__all__ = ["Colorizer", "load_model", "create_model", "colorize", "default_model_path"]

ImageLike = Union[np.ndarray, Image.Image]
Progress = Callable[[float], None]

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
    def descriptor(self) -> ModelDescriptor:
        """What this model is: its geometry, calibrated defaults and option ranges."""
        return ModelDescriptor.of(self.network, self.calibration)

    @property
    def default_working_size(self) -> int:
        """The working size used when none is given: the model's calibrated one."""
        return self.descriptor.working_size

    def save(self, path: str | os.PathLike[str], *, training: dict[str, Any] | None = None, calibration: dict[str, Any] | None = None) -> Path:
        """Write the model (float16 safetensors + metadata) atomically to ``path``."""
        return save_network(
            self.network,
            path,
            training=training if training is not None else self.training,
            calibration=calibration if calibration is not None else self.calibration,
        )

    def check_options(self, *, working_size: int | None = None, tile: int | None = None, saturation: float = 1.0) -> tuple[int, int]:
        """Check `colorize`'s options against the model's ranges (`descriptor`); returns the
        working size and tile to use (the model's defaults where None).

        Raises `TinctError`; the command line calls it once, before its first file.
        """
        descriptor = self.descriptor
        working_size = descriptor.working_size if working_size is None else working_size
        tile = descriptor.tile if tile is None else tile
        descriptor.check_options(working_size=working_size, saturation=saturation, tile=tile)
        return working_size, tile

    def _pad(self, maps: torch.Tensor) -> torch.Tensor:
        """``maps`` ``(1, C, h, w)`` padded (replicated edges) at the bottom and right to the input multiple."""
        multiple = self.network.input_multiple
        height, width = maps.shape[-2:]
        pad_bottom, pad_right = -height % multiple, -width % multiple
        return F.pad(maps, (0, pad_right, 0, pad_bottom), mode="replicate") if pad_bottom or pad_right else maps

    def _network_input(self, lightness: torch.Tensor, hints: HintMaps | None) -> torch.Tensor:
        """Stage 2: the ``(1, 4, H, W)`` network input, H and W padded to the input multiple, on the device."""
        network_input = encode_input(lightness, *(hints if hints is not None else (None, None)))
        return self._pad(network_input).to(self.device, self.dtype)

    def _context(self, lightness: torch.Tensor) -> torch.Tensor:
        """The scene's global context from the whole image downscaled to `CONTEXT_SIZE`: ``(1, C)``.

        It reads the photo alone, never the hints: given them, the network's scene-wide
        modulation carries one dot's colour over the whole photo (a red dot on a coat
        turned a whole portrait orange), where a user means that coat.  Hints steer
        colour through the local features and `tinct.hints.apply_hints`.
        """
        height, width = lightness.shape[-2:]
        scale = min(1.0, CONTEXT_SIZE / max(height, width))
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        small = F.interpolate(lightness, size=size, mode="area")
        return self.network.global_context(self._network_input(small, None))

    def _predict_tiles(self, batch: torch.Tensor, context: torch.Tensor, tile: int) -> torch.Tensor:
        """a*b* of a batch of network inputs; on out-of-memory each input is split into tiles of half the side."""
        try:
            return self.network.predict_chroma(batch, context.expand(batch.shape[0], -1)).float()
        except torch.OutOfMemoryError:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
        smaller = tile // 2
        if smaller < self.descriptor.minimum_tile:
            raise TinctError(f"out of memory on {self.device.type} even with {tile}-pixel tiles; lower --working-size or use --device cpu")
        return torch.cat([self._predict_region(one[None], context, smaller) for one in batch])

    def _predict_region(self, region: torch.Tensor, context: torch.Tensor, tile: int, progress: Progress | None = None) -> torch.Tensor:
        """a*b* of ``region`` ``(1, 4, H, W)``: one pass if it fits in ``tile``, else blended tiles."""
        height, width = region.shape[-2:]
        if height <= tile and width <= tile:
            chroma = self._predict_tiles(region, context, tile)
            if progress:
                progress(1.0)
            return chroma
        plan = TilePlan.for_image(
            height,
            width,
            tile=tile,
            receptive_radius=self.network.receptive_radius,
            multiple=self.network.input_multiple,
            output_stride=self.network.output_stride,
        )
        return run_tiled(lambda batch: self._predict_tiles(batch, context, tile), region, plan, batch_size=TILE_BATCH, progress=progress)

    def _chroma(self, lightness: torch.Tensor, network_input: torch.Tensor, tile: int, progress: Progress) -> torch.Tensor:
        """Stage 3: a*b* ``(2, H / s, W / s)`` float32 on the CPU, on the output grid of the padded input."""
        with torch.inference_mode():
            context = self._context(lightness)
            return self._predict_region(network_input, context, tile, progress)[0].cpu()

    def _compose(self, source: _Input, chroma: torch.Tensor, guide: torch.Tensor, work_size: tuple[int, int], progress: Progress) -> np.ndarray:
        """Stage 5: the full-resolution result, strip by strip, from the final a*b* on the chroma grid."""
        height, width = source.height, source.width
        stride = self.network.output_stride
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
            progress(bottom / height)
        return result

    def colorize(
        self,
        image: ImageLike,
        *,
        working_size: int | None = None,
        tile: int | None = None,
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
            default: the model's calibrated size (``descriptor.working_size``)
        tile : largest network input side, in pixels; larger working sizes run on
            overlapping tiles (default ``descriptor.tile``)
        saturation : multiplies the predicted chroma (0 gives gray, 1 the model's calibrated colour)
        hints : optional colour hints — a list of ``(x, y, (r, g, b))`` points in image pixels
            (r, g, b whole numbers 0..255 or fractions 0..1), or an RGBA array or PIL image of
            the image's size whose opaque pixels are hints (see `tinct.hints.check_hints`)
        progress : called with the fraction done, 0..1, never decreasing

        Option ranges are the model's (``descriptor.working_size_range`` and so on).

        Returns
        -------
        The same kind as ``image``: an array of the same dtype, RGB ``(H, W, 3)`` (RGBA with
        the input's alpha untouched), or a PIL image (8-bit RGB or RGBA).  Its L* is the input's.
        """
        descriptor = self.descriptor
        working_size, tile = self.check_options(working_size=working_size, tile=tile, saturation=saturation)
        source = _Input(image)
        valid_hints = check_hints(hints, (source.height, source.width))
        report = progress or (lambda fraction: None)
        report(0.0)

        scale = working_size / max(source.height, source.width)
        work_size = (max(1, round(source.height * scale)), max(1, round(source.width * scale)))
        lightness = source.working_lightness(work_size)
        hint_maps = rasterize_hints(valid_hints, (source.height, source.width), work_size)
        network_input = self._network_input(lightness, hint_maps)
        chroma = self._chroma(lightness, network_input, tile, lambda fraction: report(NETWORK_SHARE * fraction))
        chroma = chroma * (float(saturation) * descriptor.chroma_scale)
        # L* on the chroma grid, from the (padded) network input the chroma came from.
        guide = F.avg_pool2d(network_input[:, :1].float().cpu(), descriptor.output_stride)[0, 0] * LIGHTNESS_SCALE + LIGHTNESS_SCALE
        if hint_maps is not None:
            chroma = apply_hints(chroma, guide, HintMaps(*map(self._pad, hint_maps)), saturation)
        result = self._compose(source, chroma, guide, work_size, lambda fraction: report(NETWORK_SHARE + (1.0 - NETWORK_SHARE) * fraction))
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

