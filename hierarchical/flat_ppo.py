"""Flat PPO from scratch at the strength the field knows for Crafter: the PPO-ResNet recipe on stable-baselines3.

The recipe (Moon et al. 2023, the PPO baseline of Achievement Distillation, 15.6 +- 1.6 Crafter score at 1M env
steps; ``/work/shared/docs/crafter_benchmark.md`` section 6), with every value in ``configs/crafter/ppo.yaml``:

* 8 envs x 512 env steps per update, 3 epochs of minibatches of 512, gamma 0.95, GAE lambda 0.65, clip 0.2,
  entropy 0.01, vf_coef 0.5, Adam 3e-4 constant, grad-norm 0.5, advantages normalized, observations / 255 (SB3's
  preprocessing of image spaces), no reward normalization: plain SB3 ``PPO`` arguments. SB3 normalizes the advantages
  per minibatch (512), the recipe over the whole 4096-step batch: a small difference, kept to use SB3's loop as is.
* Network (:class:`ImpalaResNetExtractor`): VPT's IMPALA ResNet (``VPT/lib/impala_cnn.py``: per stage a 3x3 conv,
  max-pool 3 / stride 2, ``impala_blocks`` residual blocks ``x + relu(conv(relu(conv(x))))``; then flatten ->
  LayerNorm -> linear to 256 -> ReLU), then a dense layer of ``hidsize`` (1024): LayerNorm -> linear -> ReLU. SB3's
  ``share_features_extractor=True`` and ``net_arch=[]``: the policy logits and the value are linear heads on the
  shared 1024-d features. The channel widths are the one deviation (``impala_chans``; the published [64, 128, 128]
  is too slow on 2 CPU cores, ``bench/flat_ppo_throughput.py``).
* Value normalization (SB3 has none; added by :class:`ValueNormPolicy` + :class:`FlatPPO`, without touching SB3's
  training loop): the value head predicts values in *normalized* units. :class:`EwmaNormalizer` keeps EWMA
  estimates (decay ``value_norm_beta`` = 0.99 per update) of the mean and mean square of the value targets.

  - Where the values are used in reward units -- acting (``forward``: ``rollout_buffer.values``, hence GAE) and
    bootstrapping (``predict_values``: the last value of a rollout, truncated episodes) -- the policy returns
    ``denormalize(v) = v * std + mean``. So the advantages and returns are computed in reward units by SB3 as usual.
  - After each rollout (:meth:`FlatPPO.collect_rollouts`, once SB3 has computed returns and advantages) the
    normalizer takes one EWMA step on that rollout's returns, and ``rollout_buffer.returns`` (the value targets) and
    ``rollout_buffer.values`` (the old values, used by ``clip_range_vf`` and the explained variance) are mapped to
    normalized units with the *updated* statistics. ``evaluate_actions`` (the loss) returns the normalized
    prediction, so SB3's value loss is ``mse(normalize(returns), v)``; advantages are untouched.

  The statistics are buffers of the policy, so they are saved in every SB3 checkpoint and restored by
  ``FlatPPO.load`` (a resumed run continues with the same normalizer).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Sequence, Union

import gymnasium
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticCnnPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from hierarchical.config import RECIPE_NETWORK_KEYS, HighLevelConfig

__all__ = ["RECIPE_PATH", "RECIPE_KEYS", "NETWORK_KEYS", "load_recipe", "EwmaNormalizer", "ImpalaResNetExtractor",
           "ValueNormPolicy", "FlatPPO", "make_recipe_ppo", "trunk_macs"]

#: The one file holding the recipe's hyperparameters.
RECIPE_PATH = Path(__file__).resolve().parents[1] / "configs" / "crafter" / "ppo.yaml"
#: PPO keys of the recipe file (the ppo_highlevel.py flags of the same names override them).
RECIPE_KEYS = ("n_envs", "steps_per_iter", "gamma", "gae_lambda", "n_epochs", "batch_size", "lr", "clip_range",
               "vf_coef", "ent_coef", "max_grad_norm", "normalize_advantage", "target_kl")
#: Network / normalizer keys of the recipe file.
NETWORK_KEYS = RECIPE_NETWORK_KEYS


def load_recipe(path: Union[str, Path, None] = None) -> dict[str, Any]:
    """The recipe file (None: :data:`RECIPE_PATH`) as a dict with exactly ``RECIPE_KEYS + NETWORK_KEYS``; its values
    are checked with the rest of the run's config (:class:`hierarchical.config.HighLevelConfig`).

    Raises:
        FileNotFoundError: missing file.
        ValueError: a missing, unknown or null network key (the message names the file and the keys).
    """
    from steve1.utils.config import read_yaml

    path = Path(RECIPE_PATH if path is None else path)
    cfg = read_yaml(path)
    expected = set(RECIPE_KEYS) | set(NETWORK_KEYS)
    missing, unknown = expected - set(cfg), set(cfg) - expected
    if missing or unknown:
        raise ValueError(f"{path}: missing key(s) {sorted(missing)}, unknown key(s) {sorted(unknown)}; "
                         f"expected {sorted(expected)}")
    unset = [k for k in NETWORK_KEYS if cfg[k] is None]
    if unset:  # null recipe keys would make a run the legacy SB3-defaults ppo (hierarchical.methods.run_method)
        raise ValueError(f"{path}: key(s) {unset} must be set, got null")
    return cfg


class EwmaNormalizer(nn.Module):
    """Debiased exponentially weighted moving estimates of a scalar's mean and variance (VPT's ``NormalizeEwma``,
    ``VPT/lib/normalize_ewma.py``, as the recipe uses it: one decay step per batch).

    Each :meth:`update` with a batch ``x`` does ``m <- beta m + (1 - beta) mean(x)``, ``s <- beta s + (1 - beta)
    mean(x^2)``, ``d <- beta d + (1 - beta)``; then ``mean = m / max(d, eps)``, ``var = max(s / max(d, eps) - mean^2,
    1e-2)`` (``d`` debiases the zero start). Before the first update ``mean = 0`` and ``var = 1e-2``. The three
    statistics are float64 buffers (in the state dict, not trained).

    Args:
        beta: decay per update (the recipe: 0.99).
        epsilon: floor of the debiasing term.
    Raises:
        ValueError: ``beta`` outside ``[0, 1)``.
    """

    def __init__(self, beta: float, epsilon: float = 1e-5):
        super().__init__()
        if not 0.0 <= float(beta) < 1.0:
            raise ValueError(f"EwmaNormalizer: beta must be in [0, 1), got {beta}")
        self.beta, self.epsilon = float(beta), float(epsilon)
        self.register_buffer("running_mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("running_mean_sq", torch.zeros((), dtype=torch.float64))
        self.register_buffer("debiasing_term", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """One EWMA step with the batch ``x`` (any shape, every element one sample)."""
        x = x.detach().to(self.running_mean.device, torch.float64)
        self.running_mean.mul_(self.beta).add_((1.0 - self.beta) * x.mean())
        self.running_mean_sq.mul_(self.beta).add_((1.0 - self.beta) * (x * x).mean())
        self.debiasing_term.mul_(self.beta).add_(1.0 - self.beta)

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Debiased ``(mean, var)``, float64 scalars (``var >= 1e-2``)."""
        d = self.debiasing_term.clamp(min=self.epsilon)
        mean = self.running_mean / d
        return mean, (self.running_mean_sq / d - mean * mean).clamp(min=1e-2)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / sqrt(var)``, in ``x``'s dtype (no update)."""
        mean, var = self.mean_var()
        return ((x - mean.to(x.dtype)) / var.sqrt().to(x.dtype)).to(x.dtype)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """``x * sqrt(var) + mean``, in ``x``'s dtype (no update)."""
        mean, var = self.mean_var()
        return x * var.sqrt().to(x.dtype) + mean.to(x.dtype)


class ImpalaResNetExtractor(BaseFeaturesExtractor):
    """The recipe's shared trunk as an SB3 features extractor: IMPALA ResNet -> ``outsize`` -> dense ``hidsize``.

    Input: SB3's preprocessed image observation, float32 ``[N, C, H, W]`` in [0, 1] (uint8 frames / 255; SB3's
    ``VecTransposeImage`` makes Crafter's ``[H, W, 3]`` frames channel-first). Output: float32 ``[N, hidsize]``.

    The trunk is :class:`VPT.lib.impala_cnn.ImpalaCNN` (module docstring) with ``dense_init_norm_kwargs =
    {layer_norm: True}`` and, with ``group_norm``, ``GroupNorm(1)`` on the input of every conv but the first and
    after every max-pool (the recipe's ``group_norm_groups: 1``, ``post_pool_groups: 1``); then ``LayerNorm(outsize) -> Linear(outsize, hidsize) -> ReLU`` (VPT's fan-in init throughout).

    Args:
        observation_space: ``Box`` of uint8 images ``[C, H, W]`` (channel-first, as SB3 hands them over).
        chans: channels of each stage (published: 64, 128, 128).
        nblock: residual blocks per stage (2).
        outsize: trunk output (256).
        hidsize: the dense layer (1024) = ``features_dim``.
        group_norm: the GroupNorm(1) layers (the recipe).
    Raises:
        ValueError: not a 3-d image space.
    """

    def __init__(self, observation_space: gymnasium.spaces.Box, chans: Sequence[int], nblock: int, outsize: int,
                 hidsize: int, group_norm: bool):
        if len(observation_space.shape) != 3:
            raise ValueError(f"ImpalaResNetExtractor: expected an image space [C, H, W], got {observation_space}")
        super().__init__(observation_space, int(hidsize))
        from VPT.lib.impala_cnn import ImpalaCNN
        from VPT.lib.util import FanInInitReLULayer

        c, h, w = observation_space.shape
        self.impala = ImpalaCNN((h, w, c), [int(x) for x in chans], int(outsize), int(nblock),
                                init_norm_kwargs={"group_norm_groups": 1} if group_norm else {},
                                dense_init_norm_kwargs={"layer_norm": True}, post_pool_groups=1 if group_norm else None)
        self.dense = FanInInitReLULayer(int(outsize), int(hidsize), layer_type="linear", layer_norm=True)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """float32 ``[N, C, H, W]`` -> float32 ``[N, hidsize]``."""
        x = self.impala.conv_features(obs.permute(0, 2, 3, 1))  # ImpalaCNN takes [N, H, W, C] (a view, no copy)
        return self.dense(self.impala.dense(x))


class ValueNormPolicy(ActorCriticCnnPolicy):
    """SB3's actor-critic policy whose value head predicts EWMA-normalized values (module docstring).

    ``forward`` and ``predict_values`` return values in reward units (float32 ``[N, 1]``, denormalized);
    ``evaluate_actions`` returns the raw, normalized prediction (for the loss against normalized targets).
    The features extractor keeps its own (VPT fan-in) initialization: SB3's orthogonal init is applied to the heads
    only (``action_net`` gain 0.01, ``value_net`` gain 1).

    Args:
        value_norm_beta: decay of :class:`EwmaNormalizer` per update.
        *args, **kwargs: :class:`stable_baselines3.common.policies.ActorCriticCnnPolicy`'s.
    """

    def __init__(self, *args, value_norm_beta: float, **kwargs):
        self._value_norm_beta = float(value_norm_beta)
        kwargs["ortho_init"] = False  # the trunk keeps its init; the heads get SB3's orthogonal init in _build
        super().__init__(*args, **kwargs)
        self.value_normalizer = EwmaNormalizer(self._value_norm_beta)

    def _build(self, lr_schedule) -> None:
        super()._build(lr_schedule)
        self.action_net.apply(partial(self.init_weights, gain=0.01))  # SB3's gains for the heads
        self.value_net.apply(partial(self.init_weights, gain=1.0))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "value_norm_beta": self._value_norm_beta}

    def forward(self, obs: torch.Tensor, deterministic: bool = False):
        actions, values, log_prob = super().forward(obs, deterministic)
        return actions, self.value_normalizer.denormalize(values), log_prob

    def predict_values(self, obs: torch.Tensor) -> torch.Tensor:
        return self.value_normalizer.denormalize(super().predict_values(obs))


class FlatPPO(PPO):
    """SB3 ``PPO`` with the value-target normalization of :class:`ValueNormPolicy` (module docstring).

    Only :meth:`collect_rollouts` is extended (after SB3's own, complete rollout): the normalizer update and the
    mapping of ``rollout_buffer.returns`` / ``values`` to normalized units. SB3's ``train`` is used as is.
    Save / load with SB3's ``save`` / ``FlatPPO.load`` (the normalizer is part of the policy's state dict).
    """

    def collect_rollouts(self, env, callback, rollout_buffer, n_rollout_steps: int) -> bool:
        ok = super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)
        if ok:
            norm = self.policy.value_normalizer
            returns = torch.as_tensor(rollout_buffer.returns, dtype=torch.float64)
            norm.update(returns)
            rollout_buffer.returns = norm.normalize(returns).numpy().astype(np.float32)
            values = torch.as_tensor(rollout_buffer.values, dtype=torch.float64)
            rollout_buffer.values = norm.normalize(values).numpy().astype(np.float32)
            mean, var = norm.mean_var()
            self.logger.record("train/value_norm_mean", float(mean))
            self.logger.record("train/value_norm_std", float(var.sqrt()))
        return ok


def make_recipe_ppo(venv, cfg: HighLevelConfig, seed: int, device: torch.device, verbose: int = 0) -> FlatPPO:
    """The recipe's :class:`FlatPPO` on ``venv`` (frames ``uint8 [H, W, 3]``), hyperparameters from ``cfg``.

    Args:
        venv: SB3 VecEnv of image observations (``hierarchical.flat_baselines.make_flat_venv``).
        cfg: the run's config, with ``RECIPE_KEYS`` and ``NETWORK_KEYS`` set (``configs/crafter/ppo.yaml`` via the
            ``ppo`` method preset; ``steps_per_iter`` is SB3's ``n_steps``, ``lr`` a constant learning rate).
        seed: SB3 seed.
        device: torch device.
        verbose: SB3's verbosity (0: silent).
    """
    policy_kwargs = {
        "features_extractor_class": ImpalaResNetExtractor,
        "features_extractor_kwargs": {"chans": list(cfg.impala_chans), "nblock": cfg.impala_blocks,
                                      "outsize": cfg.impala_outsize, "hidsize": cfg.hidsize,
                                      "group_norm": cfg.impala_group_norm},
        "share_features_extractor": True,
        "net_arch": [],
        "value_norm_beta": cfg.value_norm_beta,
    }
    return FlatPPO(ValueNormPolicy, venv, learning_rate=cfg.lr, n_steps=cfg.steps_per_iter,
                   batch_size=cfg.batch_size, n_epochs=cfg.n_epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda,
                   clip_range=cfg.clip_range, normalize_advantage=cfg.normalize_advantage, ent_coef=cfg.ent_coef,
                   vf_coef=cfg.vf_coef, max_grad_norm=cfg.max_grad_norm, target_kl=cfg.target_kl,
                   policy_kwargs=policy_kwargs, seed=seed, device=device, verbose=verbose)


def trunk_macs(chans: Sequence[int], nblock: int = 2, outsize: int = 256, hidsize: int = 1024,
               hw: int = 64, in_chans: int = 3) -> int:
    """Multiply-adds per frame of :class:`ImpalaResNetExtractor` (convs, trunk dense and 1024 layer; norms and
    pooling not counted). ``[64, 128, 128]`` on 64x64 gives ~0.46 G (the spec's figure)."""
    macs, c, size = 0, int(in_chans), int(hw)
    for out in chans:
        macs += size * size * out * c * 9  # first conv at the input size
        size = (size + 1) // 2  # max-pool 3, stride 2, pad 1
        macs += 2 * int(nblock) * size * size * out * out * 9
        c = out
    return macs + c * size * size * int(outsize) + int(outsize) * int(hidsize)
