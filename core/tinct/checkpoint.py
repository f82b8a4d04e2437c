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
(not a tinct model) or inconsistent with its metadata raises `tinct.ModelError`.  The
checksum covers the tensors only, so the metadata is validated as a whole (see
`validate_metadata`) and the tensors it implies are checked before anything is built.
"""

from __future__ import annotations

import hashlib
import json
import math
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
from .options import CHROMA_SCALE_RANGE, WORKING_SIZE_RANGE

# safetensors' names of floating-point dtypes.
_FLOAT_DTYPES = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}

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
    try:
        validate_metadata(path, metadata)
    except ModelError as error:
        raise ModelError(f"refusing to write a model tinct could not read back: {error}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda temporary: save_file(tensors, str(temporary), metadata={METADATA_KEY: json.dumps(metadata)}))
    return path


def _check_number(path: Path, name: str, value: Any, kind: type, low: float, high: float, *, low_open: bool = False) -> None:
    accepted = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, accepted) or not math.isfinite(value) or not ((low < value) if low_open else (low <= value)) or value > high:
        bounds = f"above {low:g} and at most {high:g}" if low_open else f"from {low:g} to {high:g}"
        raise ModelError(f"model file {path} has a bad {name} {value!r}: it must be a {'whole number' if kind is int else 'number'} {bounds}; use a model written by tinct")


def validate_metadata(path: Path, metadata: Any) -> dict[str, Any]:
    """Check a model file's whole tinct metadata; returns the network's validated constructor arguments.

    The weights' checksum does not cover the metadata, so nothing in it is trusted:
    format, version, architecture, the architecture's config (through the class's
    `ColorizationNetwork.validate_config`), the recorded tensor conventions, the
    calibration (``working_size`` and ``chroma_scale`` within the option ranges of
    `tinct.options`; other keys are free-form provenance) and the training record (an
    object). Raises `ModelError`.
    """
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise ModelError(f"model file {path} is not a tinct model (format {metadata.get('format') if isinstance(metadata, dict) else None!r})")
    if metadata.get("format_version") != FORMAT_VERSION or isinstance(metadata.get("format_version"), bool):
        raise ModelError(f"model file {path} has format version {metadata.get('format_version')!r}, this tinct reads version {FORMAT_VERSION}; upgrade tinct")
    architecture = metadata.get("architecture")
    if not isinstance(architecture, str) or architecture not in ARCHITECTURES:
        raise ModelError(f"model file {path} uses unknown architecture {architecture!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    cls = ARCHITECTURES[architecture]
    try:
        arguments = cls.validate_config(metadata.get("config"), complete=True)
    except ModelError as error:
        raise ModelError(f"model file {path} has a bad network configuration: {error}") from None
    recorded = {"input": ("multiple", cls.input_multiple), "output": ("stride", cls.output_stride)}
    for section, (key, expected) in recorded.items():
        value = metadata.get(section)
        if not isinstance(value, dict) or value.get(key) != expected:
            raise ModelError(f"model file {path} records {section} {key} {value.get(key) if isinstance(value, dict) else value!r}, but {architecture} has {expected}; use a model written by tinct")
    for key in ("tinct_version", "weights_sha256"):
        if not isinstance(metadata.get(key), str):
            raise ModelError(f"model file {path} has a bad {key} {metadata.get(key)!r} (expected text); use a model written by tinct")
    for key in ("training", "calibration"):
        if not isinstance(metadata.get(key, {}), dict):
            raise ModelError(f"model file {path} has a {key} record that is not an object ({type(metadata[key]).__name__}); use a model written by tinct")
    calibration = metadata.get("calibration", {})
    if "working_size" in calibration:
        _check_number(path, "calibrated working size", calibration["working_size"], int, *WORKING_SIZE_RANGE)
    if "chroma_scale" in calibration:
        _check_number(path, "calibrated chroma scale", calibration["chroma_scale"], float, *CHROMA_SCALE_RANGE, low_open=True)
    return arguments


def _meta_network(architecture: str, arguments: dict[str, Any]) -> ColorizationNetwork:
    """The network a config describes, on the meta device: its tensor shapes without any memory."""
    with torch.device("meta"):
        return ARCHITECTURES[architecture](**arguments)


def _check_tensors_fit(path: Path, architecture: str, expected: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]], dtypes: dict[str, bool]) -> None:
    """The file's tensors (names, shapes, whether floating point) are exactly those the config implies."""
    implied = sum(math.prod(tensor.shape) for tensor in expected.values())
    present = sum(math.prod(shape) for shape in shapes.values())
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    if missing or unexpected or implied != present:
        raise ModelError(
            f"model file {path} does not match its architecture {architecture!r}: its config implies {implied:,} values in "
            f"{len(expected)} tensors, the file holds {present:,} in {len(shapes)} (missing {missing[:3]}{'…' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'…' if len(unexpected) > 3 else ''})"
        )
    for name, tensor in expected.items():
        if shapes[name] != tuple(tensor.shape):
            raise ModelError(f"model file {path} does not match its architecture: {name} has shape {shapes[name]}, expected {tuple(tensor.shape)}")
        if dtypes[name] != tensor.is_floating_point():
            raise ModelError(f"model file {path} does not match its architecture: {name} has the wrong kind of numbers (floating point: {dtypes[name]})")


def read_model_file(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read and verify a model file's metadata and tensors; raise `ModelError` on any problem.

    Everything is checked before any tensor is loaded: the metadata (`validate_metadata`),
    and the names and shapes of the tensors against those the config implies; then the
    tensors' checksum.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist; give the path of a .safetensors model written by tinct")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            if METADATA_KEY not in header:
                raise ModelError(f"model file {path} is a safetensors file but not a tinct model (no tinct metadata)")
            try:
                metadata = json.loads(header[METADATA_KEY])
            except (json.JSONDecodeError, RecursionError):
                raise ModelError(f"model file {path} has corrupt tinct metadata (not JSON)") from None
            arguments = validate_metadata(path, metadata)
            expected = _meta_network(metadata["architecture"], arguments).state_dict()
            shapes = {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
            floating = {name: handle.get_slice(name).get_dtype() in _FLOAT_DTYPES for name in handle.keys()}
            _check_tensors_fit(path, metadata["architecture"], expected, shapes, floating)
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ModelError(f"model file {path} is truncated or corrupt ({error}); download or train it again") from None
    if metadata["weights_sha256"] != _weights_digest(tensors):
        raise ModelError(f"model file {path} is corrupt: its weights do not match the checksum recorded in it")
    metadata["config"] = arguments
    return metadata, tensors


def load_network(path: str | os.PathLike[str]) -> tuple[ColorizationNetwork, dict[str, Any]]:
    """Build the network a model file describes and load its weights (as float32, eval mode)."""
    metadata, tensors = read_model_file(path)
    network = build_network(metadata["architecture"], metadata["config"])
    expected = network.state_dict()
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ModelError(f"model file {path} holds non-finite weights in {name}; the model is broken, train or download it again")
    network.load_state_dict({name: tensor.to(expected[name].dtype) for name, tensor in tensors.items()})
    return network.eval(), metadata
