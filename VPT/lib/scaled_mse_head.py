"""The VPT value head: a linear layer whose target is normalised by :class:`NormalizeEwma` (spec §4.5)."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from VPT.lib.normalize_ewma import NormalizeEwma

__all__ = ["ScaledMSEHead"]


class ScaledMSEHead(nn.Module):
    """Value head predicting a *normalised* value; :meth:`denormalize` maps it back to reward units.

    State-dict keys: ``linear.{weight,bias}``, ``normalizer.{running_mean,running_mean_sq,debiasing_term}``.

    Args:
        input_size: latent size (``hidsize``).
        output_size: number of value outputs (1).
        norm_type: only ``"ewma"`` (the official and only supported normaliser).
        norm_kwargs: extra :class:`NormalizeEwma` arguments.

    Raises:
        ValueError: unknown ``norm_type``.
    """

    def __init__(self, input_size: int, output_size: int, norm_type: str = "ewma", norm_kwargs: Optional[dict] = None):
        super().__init__()
        if norm_type != "ewma":
            raise ValueError(f"ScaledMSEHead: unsupported norm_type {norm_type!r} (only 'ewma')")
        self.linear = nn.Linear(input_size, output_size)
        self.normalizer = NormalizeEwma(output_size, **(norm_kwargs or {}))

    def reset_parameters(self) -> None:
        """Orthogonal weight rows rescaled to unit L2 norm, zero bias, zeroed normaliser (spec §4.5)."""
        with torch.no_grad():
            nn.init.orthogonal_(self.linear.weight)
            self.linear.weight.mul_(1.0 / self.linear.weight.norm(dim=1, keepdim=True))
            nn.init.zeros_(self.linear.bias)
        self.normalizer.reset_parameters()

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """``latent`` float ``[..., input_size]`` -> normalised value prediction ``[..., output_size]``."""
        return self.linear(latent)

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Elementwise squared error between ``prediction`` and the normalised ``target`` (updates the normaliser
        statistics in training mode)."""
        return F.mse_loss(prediction, self.normalizer(target), reduction="none")

    def normalize(self, value: torch.Tensor) -> torch.Tensor:
        """Reward units -> normalised units (updates the statistics in training mode)."""
        return self.normalizer(value)

    def denormalize(self, prediction: torch.Tensor) -> torch.Tensor:
        """Normalised prediction -> reward units: ``prediction * sqrt(var) + mean``."""
        return self.normalizer.denormalize(prediction)
