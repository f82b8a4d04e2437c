"""tinct's model file: safetensors weights plus JSON metadata, checked on every load.

A model file is one ``.safetensors`` file.  Its header metadata holds, under the key
``"tinct"``, a JSON object::

    {"format": "tinct-model", "format_version": 1,
     "architecture": "tinct-unet", "config": {...},        # how to build the network
     "input": {...}, "output": {...},                        # tensor conventions
     "tinct_version": "0.1.0", "training": {...},            # provenance
     "calibration": {"working_size": 256, "chroma_scale": 0.8},  # measured defaults
     "weights_sha256": "..."}                                # digest of all tensor bytes

Loading never unpickles anything.  A file that is missing, truncated, corrupt, foreign
(not a tinct model) or inconsistent with its metadata raises `tinct.ModelError`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .atomic import write_atomically
from .errors import ModelError
from .models.base import AB_SCALE, LIGHTNESS_SCALE, ColorizationNetwork
from .models.registry import ARCHITECTURES, build_network

FORMAT_NAME = "tinct-model"
FORMAT_VERSION = 1
METADATA_KEY = "tinct"


def _weights_digest(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def network_metadata(network: ColorizationNetwork) -> dict[str, Any]:
    """The conventions a file records so a reader knows how to feed and read the network."""
    from . import __version__

    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "architecture": network.architecture,
        "config": network.config,
        "input": {"channels": ["L*/%g-1" % LIGHTNESS_SCALE, "hint a*/%g" % AB_SCALE, "hint b*/%g" % AB_SCALE, "hint mask"], "multiple": network.input_multiple},
        "output": {"chroma": "a*b* in Lab units", "stride": network.output_stride},
        "tinct_version": __version__,
    }


def save_network(
    network: ColorizationNetwork,
    path: str | os.PathLike[str],
    *,
    training: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
    half: bool = True,
) -> Path:
    """Write ``network`` to ``path`` atomically (temporary file, then rename).

    Floating-point weights are stored as float16 when ``half`` (the shipped format) and
    float32 otherwise; ``training`` is the provenance record kept in the metadata;
    ``calibration`` holds the inference defaults measured for this model
    (``working_size``, ``chroma_scale``).
    """
    path = Path(path)
    tensors = {}
    for name, tensor in network.state_dict().items():
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.to(torch.float16 if half else torch.float32)
        tensors[name] = tensor.contiguous(memory_format=torch.contiguous_format)
    metadata = network_metadata(network) | {"training": training or {}, "calibration": calibration or {}, "weights_sha256": _weights_digest(tensors)}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda temporary: save_file(tensors, str(temporary), metadata={METADATA_KEY: json.dumps(metadata)}))
    return path


def read_model_file(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read and verify a model file's metadata and tensors; raise `ModelError` on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist; give the path of a .safetensors model written by tinct")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ModelError(f"model file {path} is truncated or corrupt ({error}); download or train it again") from None
    if METADATA_KEY not in header:
        raise ModelError(f"model file {path} is a safetensors file but not a tinct model (no tinct metadata)")
    try:
        metadata = json.loads(header[METADATA_KEY])
    except json.JSONDecodeError:
        raise ModelError(f"model file {path} has corrupt tinct metadata (not JSON)") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise ModelError(f"model file {path} is not a tinct model (format {metadata.get('format') if isinstance(metadata, dict) else None!r})")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"model file {path} has format version {metadata.get('format_version')}, this tinct reads version {FORMAT_VERSION}; upgrade tinct")
    if metadata.get("architecture") not in ARCHITECTURES:
        raise ModelError(f"model file {path} uses unknown architecture {metadata.get('architecture')!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    if metadata.get("weights_sha256") != _weights_digest(tensors):
        raise ModelError(f"model file {path} is corrupt: its weights do not match the checksum recorded in it")
    return metadata, tensors


def load_network(path: str | os.PathLike[str]) -> tuple[ColorizationNetwork, dict[str, Any]]:
    """Build the network a model file describes and load its weights (as float32, eval mode)."""
    metadata, tensors = read_model_file(path)
    network = build_network(metadata["architecture"], metadata.get("config"))
    expected = network.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelError(
            f"model file {path} does not match architecture {metadata['architecture']!r}: "
            f"missing {missing[:3]}{'…' if len(missing) > 3 else ''}, unexpected {unexpected[:3]}{'…' if len(unexpected) > 3 else ''}"
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise ModelError(f"model file {path} does not match its architecture: {name} has shape {tuple(tensor.shape)}, expected {tuple(expected[name].shape)}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ModelError(f"model file {path} holds non-finite weights in {name}; the model is broken, train or download it again")
    network.load_state_dict({name: tensor.to(expected[name].dtype) for name, tensor in tensors.items()})
    return network.eval(), metadata
