"""Running (EWMA) mean/variance normaliser of the VPT value head (spec §4.5).

The statistics are ``nn.Parameter(requires_grad=False)`` so that they live in the state dict under the official
names ``running_mean``, ``running_mean_sq`` and ``debiasing_term``; official weight files store them and the value
prediction depends on them (``value = vpred * sqrt(var) + mean``).
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
from torch import nn

__all__ = ["NormalizeEwma"]


class NormalizeEwma(nn.Module):
    """Normalise a quantity with debiased exponentially weighted moving estimates of its mean and variance.

    ``mean = running_mean / max(debiasing_term, eps)``, ``var = max(running_mean_sq / max(debiasing_term, eps)
    - mean**2, 1e-2)``. In training mode, :meth:`forward` first folds the batch into the running estimates
    (weight ``beta`` per call, or ``beta**n_samples`` with ``per_element_update``); :meth:`denormalize` never
    updates them.

    Args:
        input_shape: shape of one sample's value (``1`` for a scalar value head).
        norm_axes: number of leading axes that index samples (2 for ``[B, T, ...]``).
        beta: EWMA decay per update.
        per_element_update: decay by ``beta**(number of samples)`` instead of ``beta`` per call.
        epsilon: floor of the debiasing term.
    """

    def __init__(
        self,
        input_shape: Union[int, Sequence[int]],
        norm_axes: int = 2,
        beta: float = 0.99999,
        per_element_update: bool = False,
        epsilon: float = 1e-5,
    ):
        super().__init__()
        self.input_shape = input_shape
        self.norm_axes = norm_axes
        self.beta = beta
        self.per_element_update = per_element_update
        self.epsilon = epsilon
        self.running_mean = nn.Parameter(torch.zeros(input_shape, dtype=torch.float32), requires_grad=False)
        self.running_mean_sq = nn.Parameter(torch.zeros(input_shape, dtype=torch.float32), requires_grad=False)
        self.debiasing_term = nn.Parameter(torch.tensor(0.0, dtype=torch.float32), requires_grad=False)

    def reset_parameters(self) -> None:
        """Zero the running statistics (so ``mean = 0`` and ``var = 1e-2`` until the first update)."""
        with torch.no_grad():
            self.running_mean.zero_()
            self.running_mean_sq.zero_()
            self.debiasing_term.zero_()

    def running_mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Debiased ``(mean, var)``, each float32 of shape ``input_shape``; ``var`` is clamped to >= 1e-2."""
        debias = self.debiasing_term.clamp(min=self.epsilon)
        mean = self.running_mean / debias
        mean_sq = self.running_mean_sq / debias
        var = (mean_sq - mean**2).clamp(min=1e-2)
        return mean, var

    def _broadcast(self, stat: torch.Tensor) -> torch.Tensor:
        return stat[(None,) * self.norm_axes]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` (float, ``[*sample_axes, *input_shape]``); in training mode update the statistics first.

        Returns:
            float32 tensor shaped like ``x``: ``(x - mean) / sqrt(var)``.
        """
        x = x.to(torch.float32)
        if self.training:
            batch = x.detach()
            sample_axes = tuple(range(self.norm_axes))
            batch_mean = batch.mean(dim=sample_axes)
            batch_mean_sq = (batch**2).mean(dim=sample_axes)
            if self.per_element_update:
                n_samples = 1
                for axis in sample_axes:
                    n_samples *= batch.shape[axis]
                weight = self.beta**n_samples
            else:
                weight = self.beta
            with torch.no_grad():
                self.running_mean.mul_(weight).add_(batch_mean * (1.0 - weight))
                self.running_mean_sq.mul_(weight).add_(batch_mean_sq * (1.0 - weight))
                self.debiasing_term.mul_(weight).add_(1.0 - weight)
        mean, var = self.running_mean_var()
        return (x - self._broadcast(mean)) / torch.sqrt(self._broadcast(var))

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map a normalised prediction back to reward units: ``x * sqrt(var) + mean`` (no statistics update)."""
        mean, var = self.running_mean_var()
        return x * torch.sqrt(self._broadcast(var)) + self._broadcast(mean)
