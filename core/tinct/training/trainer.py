"""The training loop: resumable at any moment, single-process or `torch.distributed`.

A run lives in one folder::

    RUN/config.json         the configuration it was started with
    RUN/state.pt            model, optimizer, scheduler and counters (tensors and plain types only)
    RUN/model.safetensors   the latest network in tinct's model format (float16)
    RUN/log.jsonl           one line per validation: images seen, wall time, metrics

The batch drawn at step ``n`` depends only on ``(seed, rank, n)``, so a resumed run sees
exactly the data an uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from ..atomic import write_atomically
from ..checkpoint import load_network, save_network
from ..colour import lab_to_rgb
from ..devices import bf16_training_supported, resolve_device
from ..errors import ModelError, TrainingError
from ..metrics import colourfulness, mean_ciede2000, psnr_8bit
from ..models.base import ColorizationNetwork, encode_input
from ..models.chroma_bins import REBALANCE_UNIFORM_MIX, rebalancing_weights
from ..models.registry import build_network, network_class
from .batches import lab_from_bytes, training_batch
from .data_cache import TrainingSet, list_images, load_training_set
from .loss import TrainingObjective

STATE_FILE = "state.pt"
MODEL_FILE = "model.safetensors"
LOG_FILE = "log.jsonl"
CONFIG_FILE = "config.json"


@dataclass
class TrainingConfig:
    """Everything that defines a training run (saved as ``config.json`` in the run folder)."""

    data: str
    validation_data: str | None = None
    architecture: str = "tinct-unet"
    network_config: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    total_images: int = 200_000
    warmup_images: int = 4_000
    crop_size: int = 160
    final_crop_size: int = 224
    final_fraction: float = 0.25
    min_crop_scale: float = 0.6
    hints: bool = True
    rebalance_uniform_mix: float = REBALANCE_UNIFORM_MIX
    # Weight of the L1 term on decoded a*b* (per 110 Lab units) beside the cross-entropy.
    chroma_l1_weight: float = 0.0
    initial_model: str | None = None
    precision: str = "auto"
    seed: int = 0
    checkpoint_minutes: float = 5.0
    validation_minutes: float = 10.0
    validation_images: int = 64

    @classmethod
    def from_dict(cls, values: Any) -> "TrainingConfig":
        """A validated configuration from settings as a JSON file holds them; raises `TrainingError`."""
        if not isinstance(values, dict):
            raise TrainingError(f"training settings must be a JSON object of names and values, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainingError(f"unknown training settings: {', '.join(map(str, unknown))}")
        if "data" not in values:
            raise TrainingError("the training settings lack data (a folder of colour photos)")
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Check every setting's type and range (see `SETTING_RULES`); raises `TrainingError` naming the first bad one."""
        for name, (kinds, low, high) in SETTING_RULES.items():
            value = getattr(self, name)
            if not _has_kind(value, kinds):
                names = " or ".join("null" if kind is type(None) else {int: "a whole number", float: "a number", bool: "true or false", str: "text", dict: "an object"}[kind] for kind in kinds)
                raise TrainingError(f"training setting {name} must be {names}, got {value!r}")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not (low <= value <= high):
                raise TrainingError(f"training setting {name} must be from {low:g} to {high:g}, got {value!r}")
        if self.precision not in PRECISIONS:
            raise TrainingError(f"training setting precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        try:
            network = network_class(self.architecture)
            network.validate_config(self.network_config)
        except ModelError as error:
            raise TrainingError(f"training settings architecture/network_config: {error}") from None
        for name in ("crop_size", "final_crop_size"):
            if getattr(self, name) % network.input_multiple:
                raise TrainingError(f"training setting {name} must be a multiple of {network.input_multiple} for {self.architecture}, got {getattr(self, name)}")


# Each setting's accepted types and inclusive range (ranges apply to numbers): a new
# setting is one line here.
SETTING_RULES: dict[str, tuple[tuple[type, ...], float, float]] = {
    "data": ((str,), 0, 0),
    "validation_data": ((str, type(None)), 0, 0),
    "architecture": ((str,), 0, 0),
    "network_config": ((dict,), 0, 0),
    "batch_size": ((int,), 1, 4096),
    "learning_rate": ((float,), 0.0, 10.0),
    "weight_decay": ((float,), 0.0, 1.0),
    "total_images": ((int,), 1, 10**10),
    "warmup_images": ((int,), 0, 10**10),
    "crop_size": ((int,), 16, 1024),
    "final_crop_size": ((int,), 16, 1024),
    "final_fraction": ((float,), 0.0, 1.0),
    "min_crop_scale": ((float,), 0.01, 1.0),
    "hints": ((bool,), 0, 0),
    "rebalance_uniform_mix": ((float,), 0.0, 1.0),
    "chroma_l1_weight": ((float,), 0.0, 100.0),
    "initial_model": ((str, type(None)), 0, 0),
    "precision": ((str,), 0, 0),
    "seed": ((int,), 0, 2**63 - 1),
    "checkpoint_minutes": ((float,), 0.0, 10**6),
    "validation_minutes": ((float,), 0.0, 10**6),
    "validation_images": ((int,), 1, 10**6),
}
PRECISIONS = ("auto", "bf16", "fp32")


def _has_kind(value: Any, kinds: tuple[type, ...]) -> bool:
    """JSON-minded type check: bools are not numbers, ints are floats, floats must be finite."""
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and (int in kinds or float in kinds):
        return True
    if isinstance(value, float) and float in kinds:
        return math.isfinite(value)
    return any(kind not in (int, float, bool) and isinstance(value, kind) for kind in kinds)


def read_settings(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Training settings from a JSON file (a ``--config`` or a run's ``config.json``); raises `TrainingError`."""
    path = Path(path)
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingError(f"training settings file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise TrainingError(f"training settings file {path} cannot be read as JSON ({' '.join(str(error).split())})") from None
    if not isinstance(settings, dict):
        raise TrainingError(f"training settings file {path} must hold a JSON object of names and values, not {type(settings).__name__}")
    return settings


def _load_state(path: Path, device: torch.device) -> dict[str, Any]:
    """A run's saved state, refusing anything that is not what `_save_state` wrote."""
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles on stderr; the error below says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # noqa: BLE001 - a pickle with code, a foreign or damaged file: never run it, say so
        raise TrainingError(f"cannot resume: {path} is not a training state tinct wrote ({type(error).__name__}: {' '.join(str(error).split())[:200]})") from None
    keys = {"network", "optimizer", "scheduler", "counters", "torch_rng"}
    if not isinstance(state, dict) or not keys <= set(state):
        raise TrainingError(f"cannot resume: {path} is not a training state tinct wrote (it lacks {', '.join(sorted(keys - set(state) if isinstance(state, dict) else keys))})")
    return state


def _learning_rate_factor(step: int, config: TrainingConfig, world_size: int) -> float:
    images = step * config.batch_size * world_size
    if images < config.warmup_images:
        return max(images / config.warmup_images, 1e-3)
    progress = min((images - config.warmup_images) / max(config.total_images - config.warmup_images, 1), 1.0)
    return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * progress))


def _crop_size(step: int, config: TrainingConfig, world_size: int) -> int:
    images = step * config.batch_size * world_size
    return config.final_crop_size if images >= (1.0 - config.final_fraction) * config.total_images else config.crop_size


VALIDATION_SIDE = 224


def validation_crops(data: TrainingSet, count: int) -> torch.Tensor:
    """The centre squares of the first ``count`` photos at `VALIDATION_SIDE`: float Lab ``(N, 3, S, S)``."""
    crops = [lab_from_bytes(torch.from_numpy(np.array(data.centre_square(index)[None]))) for index in range(min(count, len(data)))]
    return torch.cat([F.interpolate(crop, size=(VALIDATION_SIDE, VALIDATION_SIDE), mode="bilinear", align_corners=False, antialias=True) for crop in crops])


@torch.inference_mode()
def validate(network: ColorizationNetwork, data: TrainingSet, count: int, device: torch.device) -> dict[str, float]:
    """Colorize the centre crops of ``count`` validation photos from L* alone; mean metrics against the truth."""
    network.eval()
    results: dict[str, list[float]] = {"psnr": [], "ciede2000": [], "colourfulness": [], "colourfulness_truth": []}
    crops = validation_crops(data, count)
    for start in range(0, len(crops), 16):
        lab = crops[start : start + 16]
        ab = network.predict_chroma(encode_input(lab[:, :1]).to(device)).float().cpu()
        ab = F.interpolate(ab, size=lab.shape[-2:], mode="bilinear", align_corners=False)
        predicted = lab_to_rgb(torch.cat((lab[:, :1], ab), dim=1)).permute(0, 2, 3, 1).numpy()
        truth = lab_to_rgb(lab).permute(0, 2, 3, 1).numpy()
        for prediction, reference in zip(predicted, truth):
            results["psnr"].append(psnr_8bit(prediction, reference))
            results["ciede2000"].append(mean_ciede2000(prediction, reference))
            results["colourfulness"].append(colourfulness(prediction))
            results["colourfulness_truth"].append(colourfulness(reference))
    network.train()
    summary = {name: float(np.mean(values)) for name, values in results.items()}
    summary["colourfulness_ratio"] = summary["colourfulness"] / max(summary["colourfulness_truth"], 1e-9)
    return summary


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag the loop checks between steps."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_StopRequest":
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


def _distributed_setup(device_name: str) -> tuple[int, int, torch.device]:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1, resolve_device(device_name)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world_size, device


def _write_json_atomically(path: Path, payload: Any) -> None:
    write_atomically(path, lambda temporary: temporary.write_text(json.dumps(payload, indent=2)))


def _save_state(run: Path, network: ColorizationNetwork, optimizer: torch.optim.Optimizer, scheduler: Any, counters: dict[str, Any]) -> None:
    state = {
        "network": network.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "counters": counters,
        "torch_rng": torch.random.get_rng_state(),
    }
    write_atomically(run / STATE_FILE, lambda temporary: torch.save(state, temporary))


def train(config: TrainingConfig, run: str | os.PathLike[str], *, resume: bool = False, device: str = "auto", max_steps: int | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Train (or resume) a run in folder ``run``; returns the final counters.

    ``max_steps`` stops after that many steps in this call (tests and time-boxed sessions);
    SIGINT or SIGTERM stops after the current step.  Either way a checkpoint is saved first.
    """
    run = Path(run)
    rank, world_size, torch_device = _distributed_setup(device)
    is_main = rank == 0
    if resume:
        if not (run / STATE_FILE).is_file():
            raise TrainingError(f"cannot resume: {run / STATE_FILE} does not exist (start without --resume)")
        config = TrainingConfig.from_dict(read_settings(run / CONFIG_FILE))
    elif (run / STATE_FILE).exists():
        raise TrainingError(f"run folder {run} already holds a training state; pass --resume to continue it or choose another folder")
    config.validate()
    network = build_network(config.architecture, config.network_config, seed=config.seed)
    if config.initial_model and not resume:
        # Fine-tuning: start from a trained model's weights, with this run's own schedule.
        initial, metadata = load_network(config.initial_model)
        if metadata["architecture"] != config.architecture:
            raise TrainingError(f"initial model {config.initial_model} is a {metadata['architecture']!r} network, not {config.architecture!r}")
        network.load_state_dict(initial.state_dict())
    photo_count = len(list_images(config.data))  # checked before the cache is built: a start-up error shows no progress
    if config.batch_size > photo_count:
        raise TrainingError(f"batch size {config.batch_size} is larger than the {photo_count} photos in {config.data}; lower batch_size or add photos")
    data = load_training_set(config.data, show_progress=show_progress and is_main)
    validation = load_training_set(config.validation_data, show_progress=show_progress and is_main) if config.validation_data and is_main else None
    network = network.to(torch_device).train()
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and bf16_training_supported(torch_device))
    channels_last = torch_device.type == "cpu"
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _learning_rate_factor(step, config, world_size))
    counters: dict[str, Any] = {"step": 0, "images_seen": 0, "wall_seconds": 0.0}
    if resume:
        state = _load_state(run / STATE_FILE, torch_device)
        try:
            network.load_state_dict(state["network"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            counters = dict(state["counters"])
            torch.random.set_rng_state(state["torch_rng"])
        except (RuntimeError, ValueError, KeyError, TypeError) as error:
            raise TrainingError(f"cannot resume: {run / STATE_FILE} does not fit this run's configuration ({' '.join(str(error).split())[:200]})") from None
    if hasattr(network, "bin_weights"):
        weights = rebalancing_weights(data.bin_counts, network.bin_centres.cpu().numpy(), config.rebalance_uniform_mix)
        network.bin_weights.copy_(torch.from_numpy(weights))
    if not resume and is_main:
        run.mkdir(parents=True, exist_ok=True)
        _write_json_atomically(run / CONFIG_FILE, asdict(config))
    trained: torch.nn.Module = TrainingObjective(network, config.chroma_l1_weight)
    if world_size > 1:
        trained = torch.nn.parallel.DistributedDataParallel(trained)
    total_steps = math.ceil(config.total_images / (config.batch_size * world_size))
    if max_steps is not None:
        total_steps = min(total_steps, counters["step"] + max_steps)

    def save(with_model: bool) -> None:
        if not is_main:
            return
        _save_state(run, network, optimizer, scheduler, counters)
        if with_model:
            record = {"config": asdict(config), **counters, "data": os.path.basename(os.path.normpath(config.data)), "images": len(data)}
            save_network(network, run / MODEL_FILE, training=record)

    last_checkpoint = last_validation = time.monotonic()
    progress = tqdm(total=total_steps, initial=counters["step"], desc="training", unit="step", disable=not (show_progress and is_main), dynamic_ncols=True)
    autocast = torch.autocast(torch_device.type, dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()
    with _StopRequest() as stop:
        while counters["step"] < total_steps and not stop.requested:
            started = time.monotonic()
            generator = np.random.default_rng([config.seed, rank, counters["step"]])
            size = _crop_size(counters["step"], config, world_size)
            network_input, target_ab = training_batch(
                data, config.batch_size, size, network.output_stride, generator, min_scale=config.min_crop_scale, hints=config.hints
            )
            network_input, target_ab = network_input.to(torch_device), target_ab.to(torch_device)
            if channels_last:
                network_input = network_input.contiguous(memory_format=torch.channels_last)
            with autocast:
                # Through __call__, so DistributedDataParallel can synchronise gradients.
                loss = trained(network_input, target_ab)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            elapsed = time.monotonic() - started
            counters["step"] += 1
            counters["images_seen"] += config.batch_size * world_size
            counters["wall_seconds"] += elapsed
            progress.update(1)
            progress.set_postfix(loss=f"{loss.item():.3f}", images_per_s=f"{config.batch_size * world_size / elapsed:.1f}", size=size)
            now = time.monotonic()
            if is_main and validation is not None and now - last_validation >= config.validation_minutes * 60:
                metrics = validate(network, validation, config.validation_images, torch_device)
                with (run / LOG_FILE).open("a") as log:
                    log.write(json.dumps({**counters, "loss": loss.item(), **metrics}) + "\n")
                progress.write(f"step {counters['step']}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
                last_validation = now
            if now - last_checkpoint >= config.checkpoint_minutes * 60:
                save(with_model=True)
                last_checkpoint = now
    progress.close()
    if counters["step"] == 0:
        raise TrainingError(f"training stopped before its first step; no model was written to {run}")
    save(with_model=True)
    if is_main and stop.requested:
        print(f"training stopped at step {counters['step']}; checkpoint saved in {run} (continue with --resume)")
    if world_size > 1:
        dist.destroy_process_group()
    return counters
