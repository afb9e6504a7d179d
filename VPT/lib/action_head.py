"""Action heads of the VPT policy: categorical, diagonal Gaussian and dict-of-heads (spec §4.5).

The head is chosen from a gymnasium action space by :func:`make_action_head`:

=================================  =====================================  =========================================
action space                        head                                   probability-distribution tensor ``pd``
=================================  =====================================  =========================================
``spaces.Discrete(n)``              :class:`CategoricalActionHead`         log-probs ``[..., 1, n]`` (float32)
``spaces.Box`` of shape ``(d,)``    :class:`DiagGaussianActionHead`        ``[..., d, 2]`` = ``[mean, log_std]``
``spaces.Dict`` / mapping           :class:`DictActionHead`                dict ``{key: sub-head pd}``
=================================  =====================================  =========================================

``Discrete(n)`` keeps the official ``TensorType((1,), Discrete(n))`` convention: the logits carry a singleton
action axis, an action is int64 ``[..., 1]``, and log-probs, entropies and KLs are summed over that axis. The
MineRL action space is ``Dict(camera=Discrete(121), buttons=Discrete(8641))``; the sub-heads are created in the
space's key order, which is the state-dict order (``pi_head.camera.*`` then ``pi_head.buttons.*``).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import nn

__all__ = [
    "ActionHead",
    "CategoricalActionHead",
    "DiagGaussianActionHead",
    "DictActionHead",
    "make_action_head",
]


class ActionHead(nn.Module):
    """Interface of an action head: latent -> distribution parameters ``pd``, plus operations on ``pd``."""

    def forward(self, latent: torch.Tensor, mask: Optional[torch.Tensor] = None) -> Any:
        raise NotImplementedError

    def logprob(self, action: Any, pd: Any) -> torch.Tensor:
        raise NotImplementedError

    def entropy(self, pd: Any) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, pd: Any, deterministic: bool = False) -> Any:
        raise NotImplementedError

    def kl_divergence(self, pd_q: Any, pd_p: Any) -> torch.Tensor:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        raise NotImplementedError


def _fan_in_init_(linear: nn.Linear, scale: float) -> None:
    """Orthogonal init with gain ``scale``, then each output row rescaled to L2 norm ``scale``; zero bias."""
    with torch.no_grad():
        nn.init.orthogonal_(linear.weight, gain=scale)
        linear.weight.mul_(scale / linear.weight.norm(dim=1, keepdim=True))
        if linear.bias is not None:
            nn.init.zeros_(linear.bias)


class CategoricalActionHead(ActionHead):
    """Categorical distribution(s) over ``num_actions`` classes, with a softmax temperature.

    ``pd = log_softmax(linear(latent).reshape(..., *shape, n) / temperature)`` in float32 (spec §4.5).

    Args:
        input_dim: latent size.
        shape: shape of one action, ``(1,)`` for a single choice (the official convention).
        num_actions: number of classes ``n``.
        builtin_linear_layer: own the ``linear_layer`` (state-dict key ``linear_layer.*``); if False the input
            already holds the logits.
        temperature: divides the logits; the official VPT models use 2.0.

    Raises:
        ValueError: ``temperature`` <= 0 or ``num_actions`` < 1.
    """

    def __init__(
        self,
        input_dim: int,
        shape: Tuple[int, ...],
        num_actions: int,
        builtin_linear_layer: bool = True,
        temperature: float = 1.0,
    ):
        super().__init__()
        temperature = float(temperature)
        if not temperature > 0:
            raise ValueError(f"CategoricalActionHead: temperature must be > 0, got {temperature}")
        if num_actions < 1:
            raise ValueError(f"CategoricalActionHead: num_actions must be >= 1, got {num_actions}")
        self.input_dim = input_dim
        self.num_actions = num_actions
        self.output_shape = tuple(shape) + (num_actions,)
        self.temperature = temperature
        self.builtin_linear_layer = builtin_linear_layer
        if builtin_linear_layer:
            self.linear_layer = nn.Linear(input_dim, math.prod(self.output_shape))
        elif input_dim != math.prod(self.output_shape):
            raise ValueError(
                f"CategoricalActionHead: without a linear layer the input size {input_dim} must equal "
                f"prod{self.output_shape}"
            )

    def reset_parameters(self) -> None:
        """Orthogonal (gain 0.01) weight rows rescaled to norm 0.01, zero bias (spec §4.5)."""
        if self.builtin_linear_layer:
            _fan_in_init_(self.linear_layer, 0.01)

    def forward(self, latent: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``latent`` float ``[..., input_dim]`` -> float32 log-probs ``[..., *shape, n]``.

        ``mask`` (bool, broadcastable to the logits) marks allowed classes; disallowed ones get logit -1e8.
        """
        logits = self.linear_layer(latent) if self.builtin_linear_layer else latent
        logits = logits.reshape(logits.shape[:-1] + self.output_shape) / self.temperature
        if mask is not None:
            logits = logits.masked_fill(~mask, -1e8)
        return F.log_softmax(logits.float(), dim=-1)

    def _sum_action_axes(self, x: torch.Tensor) -> torch.Tensor:
        n_axes = len(self.output_shape) - 1
        return x.sum(dim=tuple(range(-n_axes, 0))) if n_axes else x

    def logprob(self, action: torch.Tensor, pd: torch.Tensor) -> torch.Tensor:
        """Log-probability of ``action`` (int ``[..., *shape]``) under ``pd``, summed over the action axes: ``[...]``."""
        index = action.long().unsqueeze(-1)
        index, log_pmf = torch.broadcast_tensors(index, pd)
        return self._sum_action_axes(log_pmf.gather(-1, index[..., :1]).squeeze(-1))

    def entropy(self, pd: torch.Tensor) -> torch.Tensor:
        """Entropy in nats, summed over the action axes: ``[...]``."""
        return self._sum_action_axes(-(pd.exp() * pd).sum(dim=-1))

    def sample(self, pd: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Argmax (``deterministic``) or a Gumbel-max sample: int64 ``[..., *shape]``."""
        if deterministic:
            return pd.argmax(dim=-1)
        u = torch.rand_like(pd)
        u = u.masked_fill(u == 1.0, 0.999)
        return (pd - torch.log(-torch.log(u))).argmax(dim=-1)

    def kl_divergence(self, pd_q: torch.Tensor, pd_p: torch.Tensor) -> torch.Tensor:
        """``KL(q || p) = sum exp(q) (q - p)``, summed over classes and action axes, keeping one axis: ``[..., 1]``."""
        kl = (pd_q.exp() * (pd_q - pd_p)).sum(dim=-1, keepdim=True)
        for _ in self.output_shape[:-1]:
            kl = kl.sum(dim=-2)
        return kl


class DiagGaussianActionHead(ActionHead):
    """Diagonal Gaussian over ``R^d``: linear mean and a state-independent learned ``log_std`` (init 0).

    ``pd`` is float ``[..., d, 2]`` holding ``[mean, log_std]`` (spec §4.5); used for ``Box((d,))`` action
    spaces.

    Args:
        input_dim: latent size.
        num_dimensions: ``d``.
    """

    LOG2PI = math.log(2.0 * math.pi)

    def __init__(self, input_dim: int, num_dimensions: int):
        super().__init__()
        self.input_dim = input_dim
        self.num_dimensions = num_dimensions
        self.linear_layer = nn.Linear(input_dim, num_dimensions)
        self.log_std = nn.Parameter(torch.zeros(num_dimensions))

    def reset_parameters(self) -> None:
        """Orthogonal mean weights with gain 0.01, zero bias (``log_std`` is left as is)."""
        with torch.no_grad():
            nn.init.orthogonal_(self.linear_layer.weight, gain=0.01)
            nn.init.zeros_(self.linear_layer.bias)

    def forward(self, latent: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``latent`` ``[..., input_dim]`` -> ``pd`` ``[..., d, 2]``.

        Raises:
            ValueError: a ``mask`` is given (masks only make sense for categorical heads).
        """
        if mask is not None:
            raise ValueError("DiagGaussianActionHead: action masks are not supported for a Gaussian head")
        mean = self.linear_layer(latent)
        mean, log_std = torch.broadcast_tensors(mean, self.log_std)
        return torch.stack([mean, log_std], dim=-1)

    def logprob(self, action: torch.Tensor, pd: torch.Tensor) -> torch.Tensor:
        """Log-density of ``action`` (float ``[..., d]``), summed over the ``d`` dimensions: ``[...]``."""
        mean, log_std = pd[..., 0], pd[..., 1]
        z = (action - mean) / log_std.exp()
        return -(0.5 * (z**2 + self.LOG2PI).sum(dim=-1) + log_std.sum(dim=-1))

    def entropy(self, pd: torch.Tensor) -> torch.Tensor:
        """Differential entropy in nats: ``[...]``."""
        return (pd[..., 1] + 0.5 * (self.LOG2PI + 1.0)).sum(dim=-1)

    def sample(self, pd: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """The mean (``deterministic``) or a reparameterised sample: float ``[..., d]``."""
        mean, log_std = pd[..., 0], pd[..., 1]
        if deterministic:
            return mean
        return torch.randn_like(mean) * log_std.exp() + mean

    def kl_divergence(self, pd_q: torch.Tensor, pd_p: torch.Tensor) -> torch.Tensor:
        """Closed-form ``KL(q || p)`` summed over dimensions: ``[..., 1]``."""
        mean_q, log_std_q = pd_q[..., 0], pd_q[..., 1]
        mean_p, log_std_p = pd_p[..., 0], pd_p[..., 1]
        var_q, var_p = (2 * log_std_q).exp(), (2 * log_std_p).exp()
        kl = log_std_p - log_std_q + (var_q + (mean_q - mean_p) ** 2) / (2.0 * var_p) - 0.5
        return kl.sum(dim=-1, keepdim=True)


class DictActionHead(nn.ModuleDict, ActionHead):
    """One sub-head per key of a dict action space; log-probs, entropies and KLs are summed over sub-heads.

    Actions and ``pd`` are dicts with the same keys (iteration order = the action space's key order).
    """

    def reset_parameters(self) -> None:
        for head in self.values():
            head.reset_parameters()

    def forward(self, latent: torch.Tensor, mask: Optional[Mapping[str, torch.Tensor]] = None) -> Dict[str, Any]:
        """``latent`` ``[..., input_dim]`` -> ``{key: pd}``; ``mask`` is an optional dict of per-key masks."""
        mask = mask or {}
        return {key: head(latent, mask=mask.get(key)) for key, head in self.items()}

    def logprob(self, action: Mapping[str, Any], pd: Mapping[str, Any]) -> torch.Tensor:
        return sum(head.logprob(action[key], pd[key]) for key, head in self.items())

    def entropy(self, pd: Mapping[str, Any]) -> torch.Tensor:
        return sum(head.entropy(pd[key]) for key, head in self.items())

    def sample(self, pd: Mapping[str, Any], deterministic: bool = False) -> Dict[str, Any]:
        return {key: head.sample(pd[key], deterministic=deterministic) for key, head in self.items()}

    def kl_divergence(self, pd_q: Mapping[str, Any], pd_p: Mapping[str, Any]) -> torch.Tensor:
        return sum(head.kl_divergence(pd_q[key], pd_p[key]) for key, head in self.items())


def make_action_head(action_space: Any, pi_out_size: int, temperature: float = 1.0) -> ActionHead:
    """Build the action head for a gymnasium action space (table in the module docstring).

    Args:
        action_space: ``spaces.Discrete``, ``spaces.Box`` of shape ``(d,)``, ``spaces.Dict`` or a mapping of those
            (a plain mapping keeps its key order; note that ``spaces.Dict`` built from a plain ``dict`` sorts its
            keys, so build the MineRL space from an ``OrderedDict``).
        pi_out_size: latent size.
        temperature: softmax temperature of every categorical sub-head (official ``pi_head_opts``); ignored with a
            warning for a Gaussian head.

    Raises:
        TypeError: an unsupported space (e.g. ``MultiDiscrete``, a Box of rank != 1).
    """
    if isinstance(action_space, spaces.Discrete):
        if int(action_space.start) != 0:
            raise TypeError(f"make_action_head: Discrete spaces must start at 0, got start={action_space.start}")
        return CategoricalActionHead(pi_out_size, (1,), int(action_space.n), temperature=temperature)
    if isinstance(action_space, spaces.Box):
        if len(action_space.shape) != 1:
            raise TypeError(f"make_action_head: only Box spaces of shape (d,) are supported, got {action_space.shape}")
        if float(temperature) != 1.0:
            warnings.warn(f"make_action_head: temperature={temperature} is ignored by the Gaussian head", stacklevel=2)
        return DiagGaussianActionHead(pi_out_size, int(action_space.shape[0]))
    if isinstance(action_space, (spaces.Dict, Mapping)):
        items = action_space.spaces.items() if isinstance(action_space, spaces.Dict) else action_space.items()
        return DictActionHead({key: make_action_head(sub, pi_out_size, temperature) for key, sub in items})
    raise TypeError(
        f"make_action_head: unsupported action space {action_space!r}; expected Discrete(n), Box of shape (d,), "
        "or a Dict of those"
    )
