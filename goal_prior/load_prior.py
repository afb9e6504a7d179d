"""The goal prior network and its loading (spec §8.2, §8.4; PTGM §4.3).

The goal prior ``p(code | frames so far)`` is a VPT-shaped network (image encoder + transformer, no goal input)
with a categorical head over the N codes of the codebook: :class:`GoalPriorPolicy`, a
:class:`VPT.lib.policy.MinecraftAgentPolicy` with action space ``Discrete(N)`` and the softmax temperature of the
model config (2.0 for the official ``2x.model``). Its ``pd`` is float32 log-probs ``[B, T, 1, N]``.

* Before training, only ``net.img_process.*`` and ``net.recurrent_layer.*`` are copied from VPT (or STEVE-1)
  weights (:func:`load_part_vpt_weights`); ``net.lastlayer``, ``net.final_ln``, ``pi_head`` and ``value_head`` keep
  their fresh initialisation (spec §8.2).
* For RL, :func:`make_prior_model` builds the prior and loads a trained weights file **strictly** (a leading
  ``policy.``/``module.policy.`` is stripped), in eval mode.

**The checkpoint knows its N and temperature.** :class:`GoalPriorPolicy` registers two scalar buffers,
``goal_prior_n_codes`` (int64) and ``goal_prior_temperature`` (float32), so every weights file the trainer writes
(``policy.state_dict()``) carries them; :func:`read_prior_info` reads them without building the network (the high
level needs the prior's temperature to compare distributions, spec §12.1.3). Upstream prior weights lack the two
keys: they load too, N is then read from the head's shape and the temperature from the model config.

Where we deliberately differ from upstream (spec §8.4): the device is an argument (upstream hard-codes ``cuda``);
the codebook size is given as ``n_codes`` (upstream: a gym3 action space) and a size mismatch with the weights is a
:class:`PriorSizeMismatchError` naming both sizes and both files (upstream: a shape error inside
``load_state_dict``); the two metadata buffers above are new.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

import torch
from gymnasium import spaces

from steve1.embed_conditioned_policy import load_model_config  # a STEVE-1 model config may hold goal_dim
from VPT.lib.loading import WeightsLoadError, load_policy_weights, read_state_dict
from VPT.lib.policy import MinecraftAgentPolicy

__all__ = [
    "GoalPriorPolicy", "PriorInfo", "PriorSizeMismatchError", "PRIOR_META_KEYS", "VPT_INIT_PREFIXES",
    "build_prior_policy", "load_part_vpt_weights", "make_prior_model", "read_prior_info", "read_prior_weights",
]

N_CODES_KEY = "goal_prior_n_codes"
TEMPERATURE_KEY = "goal_prior_temperature"
#: State-dict keys of the metadata buffers (not network weights).
PRIOR_META_KEYS = (N_CODES_KEY, TEMPERATURE_KEY)
#: The parts of the network initialised from VPT before prior training (spec §8.2 ``load_part_vpt_weights``).
VPT_INIT_PREFIXES = ("net.img_process.", "net.recurrent_layer.")
HEAD_WEIGHT_KEY = "pi_head.linear_layer.weight"

PathLike = Union[str, os.PathLike]


class PriorSizeMismatchError(ValueError):
    """The goal prior's number of codes differs from the codebook's (the message names both sizes and files)."""


@dataclass(frozen=True)
class PriorInfo:
    """What a prior weights file says about itself.

    Attributes:
        n_codes: N, outputs of the categorical head.
        temperature: softmax temperature it was trained with; None for upstream files (use the model config's).
    """

    n_codes: int
    temperature: Optional[float]


class GoalPriorPolicy(MinecraftAgentPolicy):
    """VPT trunk + categorical head over ``n_codes`` codes (spec §8.2), plus the metadata buffers.

    Args:
        n_codes: N, the codebook size (action space ``Discrete(N)``).
        policy_kwargs: :class:`VPT.lib.policy.MinecraftPolicy` arguments without ``goal_dim`` (the prior sees
            frames only).
        pi_head_kwargs: ``{"temperature": float}``.

    ``forward(obs={"img": uint8 [B, T, H, W, 3]}, first bool [B, T], state_in) -> ((pd float32 [B, T, 1, N], vpred,
    None), state_out)``.

    Raises:
        ValueError: ``n_codes < 1`` or ``policy_kwargs`` has a goal input.
    """

    def __init__(self, n_codes: int, policy_kwargs: Mapping[str, Any], pi_head_kwargs: Optional[Mapping[str, Any]] = None):
        if int(n_codes) < 1:
            raise ValueError(f"a goal prior needs at least one code, got n_codes={n_codes}")
        if dict(policy_kwargs).get("goal_dim"):
            raise ValueError("the goal prior has no goal input: remove goal_dim from its policy_kwargs")
        super().__init__(spaces.Discrete(int(n_codes)), policy_kwargs, pi_head_kwargs)
        self.register_buffer(N_CODES_KEY, torch.tensor(int(n_codes), dtype=torch.int64))
        self.register_buffer(TEMPERATURE_KEY, torch.tensor(float(self.pi_head.temperature), dtype=torch.float32))

    @property
    def n_codes(self) -> int:
        return int(self.pi_head.num_actions)

    @property
    def temperature(self) -> float:
        return float(self.pi_head.temperature)

    def get_logprob_of_action(self, pd: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Log-probability of code labels.

        Args:
            pd: float32 ``[B, T, 1, N]`` from :meth:`forward`.
            action: int64 ``[B, T, 1]`` (a chunk, as the BC trainer passes it) -> returns ``[B, T]``; or ``[B, 1]``
                (one step, ``T = 1``, the official convention) -> returns ``[B]``.
        Raises:
            ValueError: NaN log-probability (a label outside ``[0, N)``).
        """
        if action.dim() == pd.dim() - 1:  # a chunk: [B, T, 1] with pd [B, T, 1, N]
            log_prob = self.pi_head.logprob(action, pd)
            if torch.isnan(log_prob).any():
                raise ValueError("get_logprob_of_action: NaN log-probability (code label out of range?)")
            return log_prob
        return super().get_logprob_of_action(pd, action)


def build_prior_policy(in_model: PathLike, n_codes: int, temperature: Optional[float] = None) -> GoalPriorPolicy:
    """A fresh :class:`GoalPriorPolicy` with the architecture of ``in_model`` (official ``.model`` pickle or YAML with
    ``policy_kwargs``/``pi_head_kwargs``); ``temperature`` overrides the config's pi-head temperature.

    Raises:
        FileNotFoundError, ValueError: bad config (see :func:`VPT.lib.loading.load_model_config`).
    """
    policy_kwargs, pi_head_kwargs = load_model_config(in_model)
    policy_kwargs.pop("goal_dim", None)  # a STEVE-1 config may be reused: the prior has no goal input
    if temperature is not None:
        pi_head_kwargs["temperature"] = float(temperature)
    return GoalPriorPolicy(n_codes, policy_kwargs, pi_head_kwargs)


def load_part_vpt_weights(policy: torch.nn.Module, weights: PathLike,
                          prefixes: tuple[str, ...] = VPT_INIT_PREFIXES) -> list[str]:
    """Copy the image encoder and the transformer (keys starting with ``prefixes``) from a VPT or STEVE-1 weights
    file into ``policy``; every other parameter keeps its initialisation (spec §8.2).

    Returns:
        The keys copied.
    Raises:
        FileNotFoundError: no such file.
        WeightsLoadError: the file lacks some of those keys, or their shapes differ (e.g. 2x weights for a 1x
            config); the message names the file.
    """
    state_dict = read_state_dict(weights)
    own = policy.state_dict()
    wanted = [k for k in own if k.startswith(prefixes)]
    missing = [k for k in wanted if k not in state_dict]
    if missing:
        raise WeightsLoadError(f"{weights}: lacks {len(missing)} of the {len(wanted)} image-encoder/transformer "
                               f"tensors of the goal prior (e.g. {missing[:3]}): not VPT weights of this architecture")
    bad = [(k, tuple(state_dict[k].shape), tuple(own[k].shape)) for k in wanted
           if tuple(state_dict[k].shape) != tuple(own[k].shape)]
    if bad:
        k, a, b = bad[0]
        raise WeightsLoadError(f"{weights}: {len(bad)} tensors have other shapes than the goal prior's (e.g. {k}: "
                               f"{list(a)} in the file, {list(b)} in the model): the --in_model config does not match "
                               f"these weights")
    policy.load_state_dict({k: state_dict[k] for k in wanted}, strict=False)
    return wanted


def _info_from_state_dict(state_dict: Mapping[str, torch.Tensor], path: PathLike) -> PriorInfo:
    if HEAD_WEIGHT_KEY not in state_dict:
        raise WeightsLoadError(f"{path}: no {HEAD_WEIGHT_KEY}: not a goal prior (a categorical head over codes)")
    n_head = int(state_dict[HEAD_WEIGHT_KEY].shape[0])
    temperature = None
    if N_CODES_KEY in state_dict:
        n_meta = int(state_dict[N_CODES_KEY])
        if n_meta != n_head:
            raise WeightsLoadError(f"{path}: inconsistent file: {N_CODES_KEY}={n_meta} but the head has {n_head} "
                                   f"outputs")
    if TEMPERATURE_KEY in state_dict:
        temperature = float(state_dict[TEMPERATURE_KEY])
    return PriorInfo(n_codes=n_head, temperature=temperature)


def read_prior_weights(weights: PathLike) -> tuple[dict[str, torch.Tensor], PriorInfo]:
    """Read a goal-prior weights file: ``(state dict without the metadata buffers, PriorInfo)``.

    The state dict then fits a plain ``MinecraftAgentPolicy`` with ``Discrete(N)`` (e.g. to initialise the high
    level from the prior, spec §9.1 ``--initialize_with_prior``).

    Raises:
        FileNotFoundError: no such file. WeightsLoadError: unreadable, or not a goal prior.
    """
    state_dict = read_state_dict(weights)
    info = _info_from_state_dict(state_dict, weights)
    return {k: v for k, v in state_dict.items() if k not in PRIOR_META_KEYS}, info


def read_prior_info(weights: PathLike) -> PriorInfo:
    """N and temperature of a goal-prior weights file (see :func:`read_prior_weights`)."""
    return read_prior_weights(weights)[1]


def make_prior_model(in_model: PathLike, weights: PathLike, n_codes: Optional[int] = None,
                     device: Union[str, torch.device] = "cpu", codebook_path: Optional[PathLike] = None,
                     strict: bool = True) -> GoalPriorPolicy:
    """Build the goal prior for RL and load trained weights (spec §8.4), in eval mode on ``device``.

    Args:
        in_model: the architecture (official ``.model`` or YAML), as used for training.
        weights: the trained prior (``<out>_best.weights``; ``policy.``/``module.policy.`` prefixes stripped).
        n_codes: the codebook size N the prior must have (None: take the file's).
        device: torch device.
        codebook_path: the codebook N came from, named in the error message on a mismatch.
        strict: every key must match (spec: strict).
    Returns:
        :class:`GoalPriorPolicy` with ``.n_codes`` and ``.temperature`` (the file's when stored, else the config's).
        Get the initial recurrent state with ``initial_state(1)``.
    Raises:
        PriorSizeMismatchError: the file's N differs from ``n_codes`` (names both sizes and files).
        FileNotFoundError: a file is missing. WeightsLoadError: unreadable weights, or keys/shapes that do not fit
            the config (with the likely cause).
    """
    state_dict = read_state_dict(weights)
    info = _info_from_state_dict(state_dict, weights)
    if n_codes is not None and int(n_codes) != info.n_codes:
        where = f"the codebook {os.fspath(codebook_path)!r}" if codebook_path is not None else "the codebook"
        raise PriorSizeMismatchError(
            f"goal prior {os.fspath(weights)!r} predicts {info.n_codes} codes but {where} has {int(n_codes)} codes: "
            f"train the prior on this codebook (goal_prior/train.py --codebook_path) or pass the codebook it was "
            f"trained with")
    _, config_head = load_model_config(in_model)
    temperature = info.temperature
    config_t = config_head.get("temperature", 1.0)
    if temperature is not None and abs(temperature - float(config_t)) > 1e-6:
        warnings.warn(f"goal prior {os.fspath(weights)!r} was trained with temperature {temperature}, the model config "
                      f"{os.fspath(in_model)!r} says {config_t}: using the checkpoint's {temperature}", stacklevel=2)
    policy = build_prior_policy(in_model, info.n_codes, temperature)
    own = policy.state_dict()
    state_dict = dict(state_dict)
    for key in PRIOR_META_KEYS:  # upstream files have no metadata buffers: keep the values just built
        state_dict.setdefault(key, own[key])
    shapes_ok = all(tuple(state_dict[k].shape) == tuple(own[k].shape) for k in own if k in state_dict)
    if not shapes_ok or (strict and set(state_dict) != set(own)):
        load_policy_weights(policy, weights, strict=True)  # raises WeightsLoadError with a diagnosis
    policy.load_state_dict({k: v for k, v in state_dict.items() if k in own}, strict=False)
    return policy.to(device).eval()
