"""Architecture registry: names in model files map to network classes."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ModelError
from .base import ColorizationNetwork
from .seed_autoencoder import SeedAutoencoder
from .tinct_net import TinctNet
from .tinct_net_v3 import TinctNetV3

DEFAULT_ARCHITECTURE = TinctNet.architecture
ARCHITECTURES: dict[str, type[ColorizationNetwork]] = {}


def register_architecture(network_class: type[ColorizationNetwork]) -> None:
    """Make ``network_class`` loadable by its ``architecture`` name; a name is registered once."""
    name = network_class.architecture
    if name in ARCHITECTURES and ARCHITECTURES[name] is not network_class:
        raise ValueError(f"architecture {name!r} is already registered to {ARCHITECTURES[name].__name__}")
    ARCHITECTURES[name] = network_class


for _network_class in (TinctNet, TinctNetV3, SeedAutoencoder):
    register_architecture(_network_class)


def network_class(architecture: str | None = None) -> type[ColorizationNetwork]:
    """The registered class of ``architecture`` (None: the default); raises `ModelError` if unknown."""
    name = architecture or DEFAULT_ARCHITECTURE
    if not isinstance(name, str) or name not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[name]


def build_network(architecture: str | None = None, config: dict[str, Any] | None = None, seed: int = 0) -> ColorizationNetwork:
    """An untrained network of a registered architecture, initialised from ``seed``.

    ``config`` is checked by the class's `ColorizationNetwork.validate_config` first.
    """
    cls = network_class(architecture)
    arguments = cls.validate_config({} if config is None else config)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        network = cls(**arguments)
    finally:
        torch.random.set_rng_state(generator_state)
    return network.eval()
