"""The high-level policy network of PTGM split in its frozen and trainable halves (spec §9.1).

PTGM's high-level policy is VPT-2x-shaped: image encoder -> 4-block transformer (both **frozen**, loaded from VPT)
-> ReLU -> ``lastlayer`` -> ``final_ln`` -> policy head (categorical over the N codes, or Gaussian over goal
embeddings) and value head (trained). Upstream (spec §9.4) forks sb3-contrib's RecurrentPPO to store the
transformer's key/value caches in the rollout buffer and rebuild them at training time, with an off-by-one in the
rebuilt cache (§12.1.4) and a truncated context for sequences that start a buffer (§12.1.5).

We use that the frozen half is a deterministic function of the episode's decision frames:

* :class:`VPTTrunk` (frozen; run by :class:`hierarchical.high_level_wrapper.HighlevelVecEnv`, which carries its
  recurrent state per env) maps each decision frame to a feature vector ``float32 [hidsize]`` = ReLU(transformer
  output), exactly the input of VPT's ``lastlayer``;
* :class:`VPTHeadPolicy` (trainable; an SB3 ``ActorCriticPolicy``) maps that feature vector, which SB3 sees as the
  observation, to the action distribution and value with VPT's own modules.

Plain ``stable_baselines3.PPO`` then trains the head feed-forward: every stored observation already carries the
exact rollout-time transformer context, so there are no stored caches, no rebuilt caches, and the objective is the
one upstream optimises (minus its two context bugs).

Module names follow SB3; they are VPT's modules and initialisation (spec §4.5, §9.1, §14.8):

==============================  =============================  ===============================================
here (SB3 name)                 VPT / upstream name            module and init
==============================  =============================  ===============================================
``mlp_extractor.lastlayer``     ``net.lastlayer``              LayerNorm -> Linear(no bias) -> ReLU, fan-in init
``mlp_extractor.final_ln``      ``net.final_ln``               LayerNorm
``action_net``                  ``pi_head``                    categorical: orthogonal rows of norm 0.01, zero
                                                               bias, logits / temperature; Gaussian: mean
                                                               Linear (orthogonal gain 0.01) + free log_std
``value_net``                   ``value_head``                 ScaledMSEHead: orthogonal rows of norm 1, zero
                                                               bias; its **raw** output is the value (reward
                                                               units; the EWMA normaliser is unused, as upstream)
==============================  =============================  ===============================================

Deliberate differences from upstream ``PPOPolicy``:

* the softmax temperature is a constructor argument (upstream hard-codes 1.0). With ``--initialize_with_prior``
  the head is copied from the goal prior **and** uses the prior's temperature, so the initial policy reproduces
  the prior's distribution exactly (fix §12.1.3); the frozen trunk then also comes from the prior's weights,
  as upstream's strict load of the whole prior does;
* SB3's unused LSTM/MLP networks (about 101M dead parameters) do not exist;
* the entropy of the distribution is available, so ``ent_coef`` works (it is 0 by default, as upstream).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution, Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from VPT.lib.action_head import CategoricalActionHead, make_action_head
from VPT.lib.scaled_mse_head import ScaledMSEHead
from VPT.lib.util import FanInInitReLULayer

__all__ = ["VPTLatent", "VPTHeadPolicy", "VPTTrunk", "TRUNK_PREFIXES", "VALUE_INITS"]

#: Initialisations of the value head (:class:`VPTHeadPolicy` ``value_init``; config key ``value_init``).
VALUE_INITS = ("vpt", "zero")

#: State-dict prefixes of the frozen trunk in VPT/STEVE-1/goal-prior weight files (spec §9.1), copied with
#: ``goal_prior.load_prior.load_part_vpt_weights``. ``pre_lstm_ln`` exists only in configs with ``use_pre_lstm_ln``
#: (not VPT-2x, whose trunk is exactly upstream's two prefixes).
TRUNK_PREFIXES = ("net.img_process.", "net.pre_lstm_ln.", "net.recurrent_layer.")


class VPTLatent(nn.Module):
    """VPT's trunk end, ``final_ln(lastlayer(x))``, as SB3's ``mlp_extractor``: shared by policy and value (VPT's and
    upstream's layout), or with ``own_value_latent`` a second ``lastlayer``/``final_ln`` for the value head alone.

    Args:
        hidsize: feature size (2048 for VPT-2x).
        own_value_latent: give the value head its own copy (``value_lastlayer``, ``value_final_ln``), so that the
            value loss does not move the policy's latent (deliberate difference from upstream, see
            :class:`VPTHeadPolicy`).
    """

    def __init__(self, hidsize: int, own_value_latent: bool = False):
        super().__init__()
        self.latent_dim_pi = self.latent_dim_vf = int(hidsize)
        self.lastlayer = FanInInitReLULayer(hidsize, hidsize, layer_type="linear", layer_norm=True)
        self.final_ln = nn.LayerNorm(hidsize)
        self.own_value_latent = bool(own_value_latent)
        if self.own_value_latent:
            self.value_lastlayer = FanInInitReLULayer(hidsize, hidsize, layer_type="linear", layer_norm=True)
            self.value_final_ln = nn.LayerNorm(hidsize)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.final_ln(self.lastlayer(features))

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        if self.own_value_latent:
            return self.value_final_ln(self.value_lastlayer(features))
        return self.final_ln(self.lastlayer(features))


class VPTHeadPolicy(ActorCriticPolicy):
    """The trainable half of PTGM's high-level policy as an SB3 ``ActorCriticPolicy`` (module docstring).

    Observation: the frozen trunk's features, ``Box(-inf, inf, (hidsize,), float32)``. Action: ``Discrete(N)``
    (code index) or ``Box((D,))`` (continuous goal embedding).

    Args:
        observation_space, action_space, lr_schedule: as SB3.
        temperature: softmax temperature of the categorical head (upstream 1.0; the goal prior's, 2.0 for the
            VPT-2x config, with ``--initialize_with_prior``). Ignored for a Gaussian head.
        value_init: ``"vpt"`` (VPT's and upstream's: orthogonal rows of unit norm, zero bias, so the first values
            are of order 1 on the layer-normed latent) or ``"zero"`` (weights and bias 0: the value is 0 everywhere
            until the value loss moves it, so the first advantages are the returns, not the noise of a random value
            function; deliberate difference from upstream, measured in ``bench/results/bc_ppo_drift/``).
        value_latent: ``"shared"`` (upstream and VPT: the value head reads the policy's ``final_ln(lastlayer(x))``,
            so the value loss also moves the policy) or ``"own"`` (its own ``lastlayer``/``final_ln``, copied from
            the same source by :meth:`copy_head_from`; deliberate difference from upstream, a diagnostic: on
            ``bc_ppo``'s first PPO update it did not reduce the drift from the BC policy, 2.17 vs 1.75 nats per env
            step, ``bench/results/bc_ppo_drift/drift.json``).
        **kwargs: other ``ActorCriticPolicy`` arguments (``optimizer_class``, ``optimizer_kwargs``; Adam with
            ``eps=1e-5`` by default, as SB3). ``net_arch``/``activation_fn``/``ortho_init`` are ignored.

    Raises:
        ValueError: the observation space is not a 1-D Box, or the action space is not Discrete / 1-D Box, or
            ``value_latent`` is not shared / own, or ``value_init`` not vpt / zero.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule: Schedule,
                 temperature: float = 1.0, value_init: str = "vpt", value_latent: str = "shared", **kwargs):
        if value_latent not in ("shared", "own"):
            raise ValueError(f"VPTHeadPolicy: value_latent must be 'shared' or 'own', got {value_latent!r}")
        if value_init not in VALUE_INITS:
            raise ValueError(f"VPTHeadPolicy: value_init must be one of {VALUE_INITS}, got {value_init!r}")
        self.value_latent = value_latent
        self.value_init = value_init
        if not (isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 1):
            raise ValueError(f"VPTHeadPolicy: observation space must be Box((hidsize,)), got {observation_space}")
        if not (isinstance(action_space, spaces.Discrete)
                or (isinstance(action_space, spaces.Box) and len(action_space.shape) == 1)):
            raise ValueError(f"VPTHeadPolicy: action space must be Discrete(N) or Box((D,)), got {action_space}")
        self.temperature = float(temperature)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    @property
    def hidsize(self) -> int:
        return int(self.observation_space.shape[0])

    def _build(self, lr_schedule: Schedule) -> None:
        self.mlp_extractor = VPTLatent(self.hidsize, own_value_latent=self.value_latent == "own")
        temperature = self.temperature if isinstance(self.action_space, spaces.Discrete) else 1.0
        self.action_net = make_action_head(self.action_space, self.hidsize, temperature=temperature)
        self.value_net = ScaledMSEHead(self.hidsize, 1)
        self.action_net.reset_parameters()
        self.value_net.reset_parameters()
        if self.value_init == "zero":
            with torch.no_grad():
                self.value_net.linear.weight.zero_()
                self.value_net.linear.bias.zero_()
        params = [p for p in self.parameters() if p.requires_grad]
        self.optimizer = self.optimizer_class(params, lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_action_dist_from_latent(self, latent_pi: torch.Tensor) -> Distribution:
        pd = self.action_net(latent_pi)
        if isinstance(self.action_dist, CategoricalDistribution):
            # tempered log-softmax [B, 1, N] -> normalised logits [B, N]
            return self.action_dist.proba_distribution(action_logits=pd[..., 0, :])
        if isinstance(self.action_dist, DiagGaussianDistribution):
            return self.action_dist.proba_distribution(pd[..., 0], pd[..., 1])
        raise ValueError(f"VPTHeadPolicy: unsupported distribution {self.action_dist}")

    def action_log_probs(self, features: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of every code: features float [B, hidsize] -> float32 [B, N] (Discrete only).

        Raises:
            TypeError: the action space is not Discrete.
        """
        if not isinstance(self.action_space, spaces.Discrete):
            raise TypeError("action_log_probs needs a Discrete (codebook) action space")
        return self.action_net(self.mlp_extractor.forward_actor(features))[..., 0, :]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(temperature=self.temperature, value_init=self.value_init, value_latent=self.value_latent)
        return data

    @torch.no_grad()
    def copy_head_from(self, source: nn.Module) -> None:
        """Copy ``net.lastlayer``, ``net.final_ln`` and ``pi_head`` from a VPT-shaped policy (the goal prior).

        The value head keeps its fresh init; with ``value_latent="own"`` its latent is a copy of the same two
        layers. The temperature must already match ``source.pi_head.temperature`` (pass it to the constructor), so
        that this policy then reproduces ``source``'s distribution on the same trunk features (fix of spec §12.1.3).

        Args:
            source: a ``MinecraftAgentPolicy`` (attributes ``net.lastlayer``, ``net.final_ln``, ``pi_head``).
        Raises:
            ValueError: mismatched shapes, action spaces or temperatures.
        """
        head = source.pi_head
        if not isinstance(head, CategoricalActionHead) or not isinstance(self.action_net, CategoricalActionHead):
            raise ValueError("copy_head_from: both policies need a categorical (codebook) head")
        if head.num_actions != self.action_net.num_actions:
            raise ValueError(f"copy_head_from: the prior has {head.num_actions} codes, this policy "
                             f"{self.action_net.num_actions}")
        if float(head.temperature) != self.temperature:
            raise ValueError(f"copy_head_from: prior temperature {head.temperature} != policy temperature "
                             f"{self.temperature}; build the policy with temperature={head.temperature}")
        self.mlp_extractor.lastlayer.load_state_dict(source.net.lastlayer.state_dict())
        self.mlp_extractor.final_ln.load_state_dict(source.net.final_ln.state_dict())
        if self.mlp_extractor.own_value_latent:
            self.mlp_extractor.value_lastlayer.load_state_dict(source.net.lastlayer.state_dict())
            self.mlp_extractor.value_final_ln.load_state_dict(source.net.final_ln.state_dict())
        self.action_net.load_state_dict(head.state_dict())


class VPTTrunk(nn.Module):
    """The frozen half of the high-level policy: image encoder + transformer + ReLU (spec §9.1).

    Wraps a VPT ``MinecraftPolicy`` network (``VPT.lib.policy``) built from the high-level model config and uses
    only its ``img_preprocess``, ``img_process``, ``pre_lstm_ln`` (if any) and ``recurrent_layer``; its
    ``lastlayer``/``final_ln`` are the trainable half's business (:class:`VPTHeadPolicy`) and are deleted here. All parameters are frozen
    (``requires_grad=False``) and the module stays in eval mode.

    Args:
        net: a ``VPT.lib.policy.MinecraftPolicy`` (no goal input).
    Raises:
        ValueError: ``net`` is goal-conditioned.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        if getattr(net, "goal_dim", None) is not None:
            raise ValueError("VPTTrunk: the high-level trunk takes no goal input; build the net without goal_dim")
        self.net = net
        for name in ("lastlayer", "final_ln"):
            if hasattr(self.net, name):
                delattr(self.net, name)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VPTTrunk":
        return super().train(False)

    @property
    def hidsize(self) -> int:
        return int(self.net.hidsize)

    def initial_state(self, batch_size: int) -> Any:
        """Recurrent state for ``batch_size`` rows: list over blocks of ``(mask, (K, V))``."""
        device = next(self.net.img_process.parameters()).device
        return self.net.initial_state(batch_size, device=device)

    def forward(self, img: torch.Tensor, first: torch.Tensor, state_in: Any) -> tuple[torch.Tensor, Any]:
        """Trunk features of a chunk of frames.

        Args:
            img: uint8 [B, T, H, W, 3] frames.
            first: bool [B, T], True at the first frame of an episode (honoured at any frame).
            state_in: recurrent state from :meth:`initial_state` or a previous call.
        Returns:
            ``(features float32 [B, T, hidsize], state_out)``.
        """
        x = self.net.img_process(self.net.img_preprocess(img))
        if self.net.pre_lstm_ln is not None:
            x = self.net.pre_lstm_ln(x)
        x, state_out = self.net.recurrent_layer(x, first, state_in)
        return F.relu(x).float(), state_out
