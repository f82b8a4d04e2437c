"""Model files whose metadata was edited (issue class 3): always a `ModelError`, nothing built.

The checksum covers the tensors, not the JSON metadata, so every file here passes it:
only the metadata validation and the tensor check stand between it and tinct.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import tinct
from hostile_models import read_metadata, with_metadata
from tinct.models.registry import ARCHITECTURES, build_network

Edit = Callable[[dict[str, Any]], Any]


def set_config(**values: Any) -> Edit:
    return lambda metadata: metadata["config"].update(values)


def drop_config(name: str) -> Edit:
    return lambda metadata: {**metadata, "config": {key: value for key, value in metadata["config"].items() if key != name}}


def set_calibration(value: Any) -> Edit:
    return lambda metadata: metadata.update(calibration=value)


HOSTILE_METADATA: dict[str, tuple[Edit, str]] = {
    "huge widths": (set_config(widths=[100000, 100000, 100000]), r"widths\[0\] must be from 1 to 1024, got 100000"),
    "one huge width": (set_config(widths=[32, 64, 5000]), r"widths\[2\] must be from 1 to 1024"),
    "negative width": (set_config(widths=[-32, 64, 128]), r"widths\[0\] must be from 1 to 1024, got -32"),
    "zero width": (set_config(widths=[0, 64, 128]), r"widths\[0\] must be from 1 to 1024, got 0"),
    "fractional width": (set_config(widths=[32.5, 64, 128]), r"widths\[0\] must be a finite whole number"),
    "string width": (set_config(widths=["32", 64, 128]), r"widths\[0\] must be a finite whole number"),
    "bool width": (set_config(widths=[True, 64, 128]), r"widths\[0\] must be a finite whole number"),
    "two widths": (set_config(widths=[32, 64]), "widths must be a list of 3 numbers"),
    "widths not a list": (set_config(widths=32), "widths must be a list of 3 numbers"),
    "missing widths": (drop_config("widths"), "config lacks widths"),
    "missing temperature": (drop_config("temperature"), "config lacks temperature"),
    "unknown setting": (set_config(depth=100), "unknown tinct-unet settings: depth"),
    "config not an object": (lambda m: m.update(config=[32, 64, 128]), "config must be an object of settings, got list"),
    "no config": (lambda m: {key: value for key, value in m.items() if key != "config"}, "config must be an object of settings, got NoneType"),
    "huge context width": (set_config(context_width=10**9), "context_width must be from 1 to 4096"),
    "temperature zero": (set_config(temperature=0), "temperature must be above 0 and at most 1, got 0"),
    "negative temperature": (set_config(temperature=-0.5), "temperature must be above 0"),
    "temperature above one": (set_config(temperature=3.0), "temperature must be above 0 and at most 1"),
    "NaN temperature": (set_config(temperature=math.nan), "temperature must be a finite number, got nan"),
    "infinite temperature": (set_config(temperature=math.inf), "temperature must be a finite number, got inf"),
    "string temperature": (set_config(temperature="0.38"), "temperature must be a finite number"),
    "negative hue agreement": (set_config(decode_hue_agreement=-1.0), "decode_hue_agreement must be from 0 to 8, got -1.0"),
    "huge hue agreement": (set_config(decode_hue_agreement=1e9), "decode_hue_agreement must be from 0 to 8"),
    "NaN hue agreement": (set_config(decode_hue_agreement=math.nan), "decode_hue_agreement must be a finite number, got nan"),
    "bool hue agreement": (set_config(decode_hue_agreement=True), "decode_hue_agreement must be a finite number, got True"),
    "calibration a string": (set_calibration("fast"), "calibration record that is not an object"),
    "calibration a list": (set_calibration([320, 1.1]), "calibration record that is not an object"),
    "calibration null": (set_calibration(None), "calibration record that is not an object"),
    "NaN chroma scale": (set_calibration({"working_size": 320, "chroma_scale": math.nan}), "bad calibrated chroma scale nan"),
    "zero chroma scale": (set_calibration({"chroma_scale": 0.0}), "bad calibrated chroma scale 0.0"),
    "negative chroma scale": (set_calibration({"chroma_scale": -1.0}), "bad calibrated chroma scale -1.0"),
    "huge chroma scale": (set_calibration({"chroma_scale": 1e30}), "bad calibrated chroma scale"),
    "string chroma scale": (set_calibration({"chroma_scale": "1.1"}), "bad calibrated chroma scale '1.1'"),
    "tiny working size": (set_calibration({"working_size": 3}), "bad calibrated working size 3"),
    "huge working size": (set_calibration({"working_size": 10**7}), "bad calibrated working size 10000000"),
    "fractional working size": (set_calibration({"working_size": 320.5}), "bad calibrated working size 320.5"),
    "training a string": (lambda m: m.update(training="lots"), "training record that is not an object"),
    "metadata a list": (lambda m: [m], "is not a tinct model"),
    "metadata not JSON": (lambda m: "{not json", "corrupt tinct metadata"),
    "metadata nested deep": (lambda m: "[" * 100_000 + "]" * 100_000, "corrupt tinct metadata|not a tinct model"),
    "architecture a list": (lambda m: m.update(architecture=["tinct-unet"]), "unknown architecture"),
    "other architecture's config": (lambda m: m.update(architecture="seed-autoencoder"), "unknown seed-autoencoder settings"),
    "format version a bool": (lambda m: m.update(format_version=True), "format version True"),
    "input multiple changed": (lambda m: m["input"].update(multiple=1), "records input multiple 1, but tinct-unet has 16"),
    "output stride missing": (lambda m: m.update(output={}), "records output stride None"),
    "checksum not text": (lambda m: m.update(weights_sha256=None), "bad weights_sha256 None"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_METADATA))
def test_edited_metadata_is_a_model_error(case: str, untrained_model_file: Path, tmp_path: Path) -> None:
    edit, problem = HOSTILE_METADATA[case]
    path = with_metadata(untrained_model_file, tmp_path / "edited.safetensors", edit)
    with pytest.raises(tinct.ModelError, match=problem) as caught:
        tinct.load_model(path, device="cpu")
    assert "edited.safetensors" in str(caught.value)


def test_widths_in_range_but_not_the_files_are_refused_before_building(untrained_model_file: Path, tmp_path: Path) -> None:
    path = with_metadata(untrained_model_file, tmp_path / "wide.safetensors", set_config(widths=[1024, 1024, 1024]))
    with pytest.raises(tinct.ModelError, match=r"config implies [\d,]+ values in \d+ tensors, the file holds [\d,]+") as caught:
        tinct.load_model(path, device="cpu")
    assert "wide.safetensors does not match its architecture 'tinct-unet'" in str(caught.value)


def test_mismatch_is_found_before_anything_is_built(untrained_model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = with_metadata(untrained_model_file, tmp_path / "wide.safetensors", set_config(widths=[1024, 1024, 1024], context_width=4096))

    def no_building(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network was built for a file whose tensors do not fit its config")

    monkeypatch.setattr(tinct.checkpoint, "build_network", no_building)
    with pytest.raises(tinct.ModelError, match="does not match its architecture"):
        tinct.load_model(path, device="cpu")


def test_tensor_of_the_wrong_kind_is_refused(untrained_model_file: Path, tmp_path: Path) -> None:
    with safe_open(str(untrained_model_file), framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        metadata = handle.metadata()
    name = next(name for name in tensors if name.endswith("num_batches_tracked"))
    tensors[name] = tensors[name].float()
    save_file(tensors, str(tmp_path / "kinds.safetensors"), metadata=metadata)
    with pytest.raises(tinct.ModelError, match=f"{name} has the wrong kind of numbers"):
        tinct.load_model(tmp_path / "kinds.safetensors", device="cpu")


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_every_architecture_round_trips_through_its_validation(architecture: str, tmp_path: Path) -> None:
    path = tinct.create_model(architecture, device="cpu").save(tmp_path / "model.safetensors", calibration={"working_size": 256, "chroma_scale": 1.1, "note": "x"})
    loaded = tinct.load_model(path, device="cpu")
    assert loaded.calibration == {"working_size": 256, "chroma_scale": 1.1, "note": "x"}
    assert read_metadata(path)["config"] == loaded.network.config


@pytest.mark.parametrize(
    ("architecture", "config", "problem"),
    [
        ("tinct-unet", {"widths": (8, 16, -1)}, r"widths\[2\] must be from 1 to 1024"),
        ("tinct-unet", {"temperature": 0}, "temperature must be above 0"),
        ("tinct-unet", {"width": 8}, "unknown tinct-unet settings: width"),
        ("seed-autoencoder", {"width": 0}, "width must be from 1 to 1024"),
        ("seed-autoencoder", {"width": 2**40}, "width must be from 1 to 1024"),
    ],
)
def test_create_model_validates_its_config_too(architecture: str, config: dict, problem: str) -> None:
    with pytest.raises(tinct.ModelError, match=problem):
        tinct.create_model(architecture, device="cpu", **config)


def test_a_valid_custom_config_still_builds() -> None:
    network = build_network("tinct-unet", {"widths": [8, 16, 32], "context_width": 16, "temperature": 1})
    assert network.config == {"widths": [8, 16, 32], "context_width": 16, "temperature": 1.0, "decode_smoothing": 0, "decode_hue_agreement": 0.0}
    assert network(torch.zeros(1, 4, 32, 32)).isfinite().all()


def test_calibration_in_range_changes_the_colour(untrained_model_file: Path, tmp_path: Path, gray_photo: np.ndarray) -> None:
    """A valid calibration is used as it says (not silently ignored by the validation)."""
    plain = with_metadata(untrained_model_file, tmp_path / "plain.safetensors", set_calibration({"chroma_scale": 1.0}))
    strong = with_metadata(untrained_model_file, tmp_path / "strong.safetensors", set_calibration({"chroma_scale": 2.0}))
    doubled = tinct.load_model(plain, device="cpu").colorize(gray_photo, working_size=64, saturation=2.0)
    scaled = tinct.load_model(strong, device="cpu").colorize(gray_photo, working_size=64, saturation=1.0)
    np.testing.assert_array_equal(doubled, scaled)



@pytest.mark.parametrize("calibration", [{"chroma_scale": math.nan}, {"working_size": 0}, {"chroma_scale": "strong"}])
def test_a_model_tinct_could_not_read_back_is_never_written(tmp_path: Path, calibration: dict) -> None:
    with pytest.raises(tinct.ModelError, match="refusing to write a model tinct could not read back"):
        tinct.create_model("seed-autoencoder", device="cpu").save(tmp_path / "model.safetensors", calibration=calibration)
    assert list(tmp_path.iterdir()) == []
