"""The model descriptor: one owner of a model's contract, read by the pipeline and the worker."""

from __future__ import annotations

import json

import pytest
import torch

import tinct
from tinct.models.registry import ARCHITECTURES, build_network
from tinct.training.loss import training_loss

from local_network import LocalNetwork


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_descriptor_states_the_networks_geometry(architecture):
    network = build_network(architecture)
    descriptor = tinct.ModelDescriptor.of(network)
    x = torch.zeros(1, 4, 3 * descriptor.input_multiple, 5 * descriptor.input_multiple)
    with torch.no_grad():
        chroma = network(x)
    assert chroma.shape == (1, 2, x.shape[2] // descriptor.output_stride, x.shape[3] // descriptor.output_stride)
    assert descriptor.receptive_radius == network.receptive_radius > 0


def test_calibration_sets_the_defaults():
    network = build_network()
    uncalibrated = tinct.ModelDescriptor.of(network)
    calibrated = tinct.ModelDescriptor.of(network, {"working_size": 320, "chroma_scale": 1.1})
    assert (calibrated.working_size, calibrated.chroma_scale) == (320, 1.1)
    assert uncalibrated.working_size != 320 and uncalibrated.chroma_scale == 1.0
    assert calibrated.temperature == network.temperature
    assert (calibrated.decode_smoothing, calibrated.decode_hue_agreement) == (0, 0.0)  # decoding as before unless a model sets it


def test_decoding_settings_come_from_the_network_and_regressors_have_none():
    network = build_network("tinct-unet-v3", {"decode_smoothing": 1, "decode_hue_agreement": 3})
    descriptor = tinct.ModelDescriptor.of(network)
    assert (descriptor.temperature, descriptor.decode_smoothing, descriptor.decode_hue_agreement) == (network.temperature, 1, 3.0)
    regressor = tinct.ModelDescriptor.of(build_network("seed-autoencoder"))
    assert (regressor.temperature, regressor.decode_smoothing, regressor.decode_hue_agreement) == (None, None, None)


def test_colorizer_reads_its_descriptor(tmp_path):
    path = tinct.create_model(device="cpu").save(tmp_path / "model.safetensors", calibration={"working_size": 160, "chroma_scale": 0.9})
    descriptor = tinct.load_model(path, device="cpu").descriptor
    assert (descriptor.working_size, descriptor.chroma_scale, descriptor.architecture) == (160, 0.9, "tinct-unet")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"working_size": 15}, "working size must be a whole number of pixels from 16 to 16384"),
        ({"working_size": 16385}, "from 16 to 16384"),
        ({"working_size": 300.0}, "working size"),
        ({"saturation": 4.5}, "saturation must be a number from 0 to 4"),
        ({"saturation": True}, "saturation"),
        ({"tile": 64}, "tile must be a whole number of pixels of at least 128"),
    ],
)
def test_options_outside_the_ranges_are_refused(options, message):
    descriptor = tinct.ModelDescriptor.of(build_network())
    checked = {"working_size": 320, "saturation": 1.0, "tile": 512} | options
    with pytest.raises(tinct.TinctError, match=message):
        descriptor.check_options(**checked)


def test_ranges_include_their_ends():
    descriptor = tinct.ModelDescriptor.of(build_network())
    for working_size in descriptor.working_size_range:
        for saturation in descriptor.saturation_range:
            descriptor.check_options(working_size=int(working_size), saturation=saturation, tile=descriptor.minimum_tile)


def test_dictionary_form_is_json_and_complete():
    descriptor = tinct.ModelDescriptor.of(build_network(), {"working_size": 320, "chroma_scale": 1.1})
    facts = json.loads(json.dumps(descriptor.to_dict()))
    assert facts["working_size"] == 320 and facts["working_size_range"] == [16, 16384] and facts["saturation_range"] == [0.0, 4.0]
    assert tinct.ModelDescriptor(**{key: tuple(value) if isinstance(value, list) else value for key, value in facts.items()}) == descriptor


def test_tiles_overlap_by_the_receptive_radius():
    plan = tinct.TilePlan.for_image(1024, 1024, tile=512, receptive_radius=LocalNetwork.receptive_radius * 10, multiple=16, output_stride=4)
    assert plan.margin == 60


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_training_loss_is_apart_from_forward_and_trains(architecture):
    network = build_network(architecture).train()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 32, 32, generator=generator)
    target = torch.randn(2, 2, 8, 8, generator=generator) * 30
    loss = training_loss(network, x, target)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    assert any(parameter.grad is not None and parameter.grad.abs().sum() > 0 for parameter in network.parameters())
