"""The training loss of tinct's networks, apart from the networks (whose `forward` predicts).

Bin classifiers (networks with ``logits`` and ``bin_centres``, like `TinctNet`) learn
cross-entropy against soft-encoded a*b* targets, weighted per pixel by the rarity of the
target's bin (``bin_weights``, the class rebalancing of Zhang et al. 2016); regressors
(like `SeedAutoencoder`) learn the mean squared error of a*b* scaled to about [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models.base import AB_SCALE, ColorizationNetwork
from ..models.chroma_bins import annealed_mean, soft_targets

__all__ = ["training_loss", "TrainingObjective"]


def training_loss(network: ColorizationNetwork, x: torch.Tensor, target_ab: torch.Tensor, chroma_l1_weight: float = 0.0) -> torch.Tensor:
    """The scalar loss of ``network`` on one batch.

    Parameters
    ----------
    network : the network being trained
    x : ``(B, 4, H, W)`` network input (`tinct.models.base.encode_input`)
    target_ab : ``(B, 2, H / s, W / s)`` true a*b* in Lab units, ``s`` the network's output stride
    chroma_l1_weight : for bin classifiers, the weight of an L1 term on the decoded a*b*
        (annealed mean at the network's temperature) in units of 110 Lab, beside the
        cross-entropy: it rewards being right on average, not only the likely bin

    Returns
    -------
    scalar float32 tensor
    """
    logits = getattr(network, "logits", None)
    if logits is None:
        return F.mse_loss(network.predict_chroma(x).float() / AB_SCALE, target_ab.float() / AB_SCALE)
    scores = logits(x).float()
    targets = soft_targets(target_ab.float(), network.bin_centres)
    pixel_weights = network.bin_weights[targets.argmax(dim=1)]
    cross_entropy = -(targets * scores.log_softmax(dim=1)).sum(dim=1)
    loss = (cross_entropy * pixel_weights).mean()
    if chroma_l1_weight > 0:
        decoded = annealed_mean(scores, network.bin_centres, network.temperature)
        loss = loss + chroma_l1_weight * (decoded - target_ab.float()).abs().mean() / AB_SCALE
    return loss


class TrainingObjective(nn.Module):
    """``network`` with `training_loss` as its forward, so `DistributedDataParallel` (which
    synchronises gradients only through a module's ``__call__``) can wrap the loss."""

    def __init__(self, network: ColorizationNetwork, chroma_l1_weight: float = 0.0) -> None:
        super().__init__()
        self.network = network
        self.chroma_l1_weight = chroma_l1_weight

    def forward(self, x: torch.Tensor, target_ab: torch.Tensor) -> torch.Tensor:
        return training_loss(self.network, x, target_ab, self.chroma_l1_weight)
