"""Model files: round trips for every architecture, and every way a file can be bad."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import tinct
from tinct.checkpoint import read_model_file
from tinct.models.registry import ARCHITECTURES


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_save_and_load_round_trip(tmp_path, architecture, gray_photo):
    original = tinct.create_model(architecture, seed=3, device="cpu")
    path = original.save(tmp_path / "model.safetensors", training={"note": "random init"})
    loaded = tinct.load_model(path, device="cpu")
    assert loaded.architecture == architecture
    assert loaded.training == {"note": "random init"}
    for name, tensor in original.network.state_dict().items():
        expected = tensor.half().float() if tensor.is_floating_point() else tensor
        torch.testing.assert_close(loaded.network.state_dict()[name], expected)
    np.testing.assert_array_equal(loaded.colorize(gray_photo), tinct.load_model(path, device="cpu").colorize(gray_photo))


def test_different_seeds_give_different_models():
    first = tinct.create_model(seed=0, device="cpu").network.state_dict()
    second = tinct.create_model(seed=1, device="cpu").network.state_dict()
    assert any(not torch.equal(first[name], second[name]) for name in first if first[name].is_floating_point())


def test_metadata_records_conventions(untrained_model_file):
    metadata, _ = read_model_file(untrained_model_file)
    assert metadata["format"] == "tinct-model"
    assert metadata["architecture"] == "tinct-unet"
    assert metadata["tinct_version"] == tinct.__version__
    assert metadata["output"]["stride"] == 4


def test_missing_file(tmp_path):
    with pytest.raises(tinct.ModelError, match="nothing.safetensors does not exist"):
        tinct.load_model(tmp_path / "nothing.safetensors")


def test_truncated_file(tmp_path, untrained_model_file):
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(untrained_model_file.read_bytes()[:5000])
    with pytest.raises(tinct.ModelError, match="truncated.safetensors is truncated or corrupt"):
        tinct.load_model(truncated)


def test_flipped_weight_byte_is_detected(tmp_path, untrained_model_file):
    data = bytearray(untrained_model_file.read_bytes())
    data[-100] ^= 0x40
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(tinct.ModelError, match="corrupt.safetensors is corrupt: its weights do not match the checksum"):
        tinct.load_model(corrupt)


def test_foreign_safetensors_file(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(3, 3)}, str(foreign), metadata={"format": "pt"})
    with pytest.raises(tinct.ModelError, match="foreign.safetensors is a safetensors file but not a tinct model"):
        tinct.load_model(foreign)


def test_not_safetensors_at_all(tmp_path):
    pickle_like = tmp_path / "model.safetensors"
    torch.save({"weight": torch.zeros(2)}, pickle_like)
    with pytest.raises(tinct.ModelError, match="truncated or corrupt"):
        tinct.load_model(pickle_like)


def _rewrite_metadata(source, target, change) -> None:
    """Copy a model file with its JSON metadata edited by ``change`` (tensors untouched)."""
    data = source.read_bytes()
    header_length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + header_length])
    metadata = json.loads(header["__metadata__"]["tinct"])
    change(metadata)
    header["__metadata__"]["tinct"] = json.dumps(metadata)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    target.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data[8 + header_length :])


def test_unknown_architecture(tmp_path, untrained_model_file):
    target = tmp_path / "unknown.safetensors"
    _rewrite_metadata(untrained_model_file, target, lambda m: m.update(architecture="mystery-net"))
    with pytest.raises(tinct.ModelError, match="unknown architecture 'mystery-net'"):
        tinct.load_model(target)


def test_architecture_mismatch(tmp_path, untrained_model_file):
    target = tmp_path / "mismatch.safetensors"
    _rewrite_metadata(untrained_model_file, target, lambda m: m["config"].update(widths=[16, 32, 64]))
    with pytest.raises(tinct.ModelError, match="mismatch.safetensors does not match its architecture"):
        tinct.load_model(target)


def test_newer_format_version(tmp_path, untrained_model_file):
    target = tmp_path / "future.safetensors"
    _rewrite_metadata(untrained_model_file, target, lambda m: m.update(format_version=99))
    with pytest.raises(tinct.ModelError, match="format version 99"):
        tinct.load_model(target)


def test_non_finite_weights_are_refused(tmp_path):
    colorizer = tinct.create_model(seed=0, device="cpu")
    with torch.no_grad():
        next(colorizer.network.parameters()).fill_(float("nan"))
    path = colorizer.save(tmp_path / "nan.safetensors")
    with pytest.raises(tinct.ModelError, match="non-finite weights"):
        tinct.load_model(path)


def test_default_model_environment_override(monkeypatch, tmp_path):
    monkeypatch.setenv("TINCT_MODEL", str(tmp_path / "absent.safetensors"))
    with pytest.raises(tinct.ModelError, match="no default model is installed"):
        tinct.load_model()


def test_device_choice_errors():
    with pytest.raises(tinct.DeviceError, match="unknown device"):
        tinct.create_model(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(tinct.DeviceError, match="no CUDA GPU"):
            tinct.create_model(device="cuda")


def test_calibration_is_stored_and_used(tmp_path, gray_photo):
    colorizer = tinct.create_model(seed=0, device="cpu")
    path = colorizer.save(tmp_path / "calibrated.safetensors", calibration={"working_size": 128, "chroma_scale": 0.5})
    calibrated = tinct.load_model(path, device="cpu")
    assert calibrated.default_working_size == 128
    plain = tinct.load_model(colorizer.save(tmp_path / "plain.safetensors"), device="cpu")
    np.testing.assert_array_equal(calibrated.colorize(gray_photo), plain.colorize(gray_photo, working_size=128, saturation=0.5))


def test_decoding_temperature_is_saved_with_the_model(tmp_path, gray_photo):
    colorizer = tinct.create_model(seed=0, device="cpu")
    before = colorizer.colorize(gray_photo, working_size=128)
    colorizer.network.set_temperature(0.9)
    reloaded = tinct.load_model(colorizer.save(tmp_path / "warm.safetensors"), device="cpu")
    assert reloaded.network.temperature == 0.9
    # Equal up to the float16 rounding of the saved weights.
    assert np.abs(reloaded.colorize(gray_photo, working_size=128).astype(int) - colorizer.colorize(gray_photo, working_size=128)).max() <= 1
    assert np.abs(reloaded.colorize(gray_photo, working_size=128).astype(int) - before).max() > 0


def test_decode_hue_agreement_is_saved_with_the_model(tmp_path, gray_photo):
    colorizer = tinct.create_model("tinct-unet-v3", seed=0, device="cpu")
    colorizer.network.set_decode_hue_agreement(2.5)
    before = colorizer.colorize(gray_photo, working_size=128)
    reloaded = tinct.load_model(colorizer.save(tmp_path / "agreeing.safetensors"), device="cpu")
    assert reloaded.network.decode_hue_agreement == 2.5 and reloaded.descriptor.decode_hue_agreement == 2.5
    assert reloaded.descriptor.to_dict()["decode_hue_agreement"] == 2.5
    assert np.abs(reloaded.colorize(gray_photo, working_size=128).astype(int) - before).max() <= 1


def _with_config(source, target, **changes):
    """A copy of a model file with its config edited (``None`` drops a key)."""
    from safetensors import safe_open

    with safe_open(str(source), framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        metadata = json.loads(handle.metadata()["tinct"])
    for name, value in changes.items():
        if value is None:
            metadata["config"].pop(name)
        else:
            metadata["config"][name] = value
    save_file(tensors, str(target), metadata={"tinct": json.dumps(metadata)})
    return target


def test_model_files_from_before_hue_agreement_decode_as_before(tmp_path, untrained_model_file, gray_photo):
    old = _with_config(untrained_model_file, tmp_path / "old.safetensors", decode_hue_agreement=None)
    loaded = tinct.load_model(old, device="cpu")
    assert loaded.network.decode_hue_agreement == 0.0 and loaded.descriptor.decode_hue_agreement == 0.0
    np.testing.assert_array_equal(loaded.colorize(gray_photo, working_size=128), tinct.load_model(untrained_model_file, device="cpu").colorize(gray_photo, working_size=128))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (-0.5, "decode_hue_agreement must be from 0 to 8, got -0.5"),
        (9, "decode_hue_agreement must be from 0 to 8, got 9"),
        (float("nan"), "decode_hue_agreement must be a finite number, got nan"),
        (True, "decode_hue_agreement must be a finite number, got True"),
        ("2", "decode_hue_agreement must be a finite number, got '2'"),
    ],
)
def test_bad_hue_agreement_is_a_model_error(tmp_path, untrained_model_file, value, problem):
    path = _with_config(untrained_model_file, tmp_path / "bad.safetensors", decode_hue_agreement=value)
    with pytest.raises(tinct.ModelError, match=problem):
        tinct.load_model(path, device="cpu")
    with pytest.raises(tinct.ModelError, match=problem):
        tinct.create_model(device="cpu", decode_hue_agreement=value)
    with pytest.raises(tinct.ModelError, match=problem):
        tinct.create_model(device="cpu").network.set_decode_hue_agreement(value)
