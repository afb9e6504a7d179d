"""``--method bc_ppo``: the behaviour-cloned low-level policy fine-tuned with PPO on the raw action space (the
VPT-finetune analogue).

``bc_ppo`` is goal-free: the STEVE-1 policy with the unconditional (zero) goal, i.e. the behaviour-cloned play policy
(classifier-free guidance training drops the goal in ``p_uncond`` of the chunks, so that branch is a trained
goal-free BC policy; no separate flat BC model is needed). As for PTGM's high level, its image encoder and
transformer are frozen and run inside the VecEnv (:class:`FlatTrunkVecEnv`, one SB3 step = one env step); the
trainable head (``lastlayer``, ``final_ln``, the ``Discrete(17)`` ``pi_head``) is initialised from the BC policy, so
PPO starts from exactly the BC policy's action distribution; the value head is fresh. PPO uses SB3's defaults, like
``ppo_sb3``.

``--method bc_ppo_kl`` is the same with a KL term to the frozen BC policy, VPT's fine-tuning recipe (Baker et al.
2022 §4.4; spec §2 ``sb3_vpt/policy.py``, "the VPT-finetune baseline with ... KL to a frozen VPT"): each env step's
reward is ``r - kl_reward * KL(pi(.|s_t) || pi_BC(.|s_t))`` (``kl_direction`` ``reverse``: ``KL(pi_BC || pi)``).
Deliberate difference from VPT, which adds the KL to the PPO loss: here it is a reward term, computed before the
action is taken from the logits it is sampled from, exactly as PTGM's KL to its goal prior (spec §9.3,
:class:`hierarchical.high_level_wrapper.HighlevelVecEnv`), so the two methods are regularised towards their
pre-trained model in the same way and SB3's PPO loop is used as it is. ``kl_reward`` is per env step here (one
decision = one env step), per high-level step in PTGM.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from hierarchical.config import HighLevelConfig, require_config
from hierarchical.episode_log import make_logged_envs

__all__ = ["GoalFreeTrunk", "FlatTrunkVecEnv", "load_bc_policy", "make_bc_reference", "make_bc_trunk_venv",
           "make_bc_ppo"]


class GoalFreeTrunk(torch.nn.Module):
    """The frozen image encoder + transformer of a goal-conditioned (STEVE-1) policy, fed the unconditional goal.

    With goal ``g = 0`` the goal input ``mineclip_embed_linear(g)`` is its bias, added to every frame's image
    embedding; so this is :class:`sb3_vpt.policy.VPTTrunk`'s computation plus that constant vector.

    Args:
        trunk: a :class:`sb3_vpt.policy.VPTTrunk` loaded with the policy's trunk weights.
        goal_bias: float32 [hidsize], the policy's ``net.mineclip_embed_linear.bias``.
    """

    def __init__(self, trunk: torch.nn.Module, goal_bias: torch.Tensor):
        super().__init__()
        self.trunk = trunk
        self.register_buffer("goal_bias", goal_bias.detach().float().clone())
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "GoalFreeTrunk":
        return super().train(False)

    @property
    def hidsize(self) -> int:
        return self.trunk.hidsize

    def initial_state(self, batch_size: int) -> Any:
        return self.trunk.initial_state(batch_size)

    def forward(self, img: torch.Tensor, first: torch.Tensor, state_in: Any) -> tuple[torch.Tensor, Any]:
        """uint8 [B, T, H, W, 3], bool [B, T], state -> (float32 [B, T, hidsize], state)."""
        net = self.trunk.net
        x = net.img_process(net.img_preprocess(img)) + self.goal_bias.to(img.device)
        if net.pre_lstm_ln is not None:
            x = net.pre_lstm_ln(x)
        x, state_out = net.recurrent_layer(x, first, state_in)
        return torch.relu(x).float(), state_out


class FlatTrunkVecEnv(VecEnv):
    """n task envs whose observation is the frozen trunk's features of the current frame (one step = one env step).

    The trunk (:class:`GoalFreeTrunk` or :class:`sb3_vpt.policy.VPTTrunk`) carries its recurrent state per env;
    the features ``float32 [hidsize]`` of frame t depend on the episode's frames up to t, exactly as in the BC
    policy. Actions are the env's (``Discrete(17)`` for Crafter). ``info`` as
    :class:`hierarchical.flat_baselines.FlatFrameWrapper` (with ``death_cause`` / ``episode_frames`` at an episode
    end when the env gives them) plus ``terminal_observation`` (features of the last frame) at an episode end.
    Auto-reset as SB3 VecEnvs.

    With ``kl_reward > 0`` (``--method bc_ppo_kl``, module docstring) each step's reward is the env reward plus
    ``-kl_reward * KL`` between the attached SB3 policy's distribution (:meth:`attach_policy`) and ``reference``'s
    on the observation this VecEnv last returned (the logits the action was sampled from), computed in
    :meth:`step_async`; ``info`` then also holds ``reward_kl`` (<= 0, reward units) and ``kl`` (nats per env step),
    as :class:`hierarchical.high_level_wrapper.HighlevelVecEnv`'s.

    Args:
        envs: gymnasium task envs with observations ``{'pov': uint8 [H, W, 3]}``.
        trunk: the frozen trunk, on ``device``.
        device: torch device.
        reference: the frozen policy the KL is taken to, with ``action_log_probs(features float32 [B, hidsize]) ->
            float32 [B, A]`` (:func:`make_bc_reference`); needed when ``kl_reward > 0``.
        kl_reward: alpha >= 0 of the KL term, per env step (0: none).
        kl_direction: ``"forward"``: KL(pi || reference); ``"reverse"``: KL(reference || pi).
    Raises:
        ValueError: ``kl_reward < 0``, ``kl_reward > 0`` without a reference, or an unknown ``kl_direction``.
    """

    def __init__(self, envs: list, trunk: torch.nn.Module, device: torch.device,
                 reference: Optional[torch.nn.Module] = None, kl_reward: float = 0.0, kl_direction: str = "forward"):
        from hierarchical.high_level_wrapper import KL_DIRECTIONS

        if float(kl_reward) < 0:
            raise ValueError(f"FlatTrunkVecEnv: kl_reward must be >= 0, got {kl_reward}")
        if float(kl_reward) > 0 and reference is None:
            raise ValueError("FlatTrunkVecEnv: kl_reward > 0 needs the reference policy (make_bc_reference)")
        if kl_direction not in KL_DIRECTIONS:
            raise ValueError(f"FlatTrunkVecEnv: kl_direction must be one of {KL_DIRECTIONS}, got {kl_direction!r}")
        self.envs = list(envs)
        self.trunk = trunk
        self.device = torch.device(device)
        obs_space = spaces.Box(-np.inf, np.inf, (int(trunk.hidsize),), np.float32)
        super().__init__(len(self.envs), obs_space, self.envs[0].action_space)
        self._state = None
        self._actions = None
        self._seeds: list = [None] * self.num_envs
        self._success = np.zeros(self.num_envs, bool)
        self.reference = reference
        self.kl_reward = float(kl_reward)
        self.kl_direction = kl_direction
        self.use_kl = self.kl_reward > 0
        self.policy = None
        self._obs: Optional[np.ndarray] = None
        self._reward_kl = np.zeros(self.num_envs, np.float32)
        self._kl = np.zeros(self.num_envs, np.float32)

    def attach_policy(self, policy: Any) -> None:
        """Give the VecEnv the SB3 policy whose distribution enters the KL term (``policy.action_log_probs``,
        :class:`sb3_vpt.policy.VPTHeadPolicy`). Call it once after building PPO (and after loading one).

        Raises:
            TypeError: the policy has no ``action_log_probs``.
        """
        if not hasattr(policy, "action_log_probs"):
            raise TypeError("attach_policy: the policy needs action_log_probs(features) -> [B, A] log-probs "
                            "(sb3_vpt.policy.VPTHeadPolicy)")
        self.policy = policy

    @torch.inference_mode()
    def _features(self, frames: np.ndarray, first: np.ndarray, rows: Optional[np.ndarray] = None) -> np.ndarray:
        from hierarchical.high_level_wrapper import step_rows

        img = torch.as_tensor(frames, device=self.device)[:, None]
        first_t = torch.as_tensor(first, device=self.device)[:, None]
        feats, self._state = step_rows(lambda s: self.trunk(img, first_t, s), self._state, rows, self.device)
        return feats[:, 0].cpu().numpy()

    def reset(self):
        frames = []
        for i, env in enumerate(self.envs):
            obs, _ = env.reset(seed=self._seeds[i])
            self._seeds[i] = None
            frames.append(obs["pov"])
        self._state = self.trunk.initial_state(self.num_envs)
        self._success[:] = False
        self._obs = self._features(np.stack(frames), np.ones(self.num_envs, bool))
        return self._obs  # a new array every step, never written after it is returned

    def step_async(self, actions: np.ndarray) -> None:
        from hierarchical.high_level_wrapper import kl_reward_term

        if self._obs is None:
            raise RuntimeError("FlatTrunkVecEnv: call reset() before step()")
        self._actions = np.asarray(actions).reshape(self.num_envs)
        self._reward_kl[:] = 0.0
        self._kl[:] = 0.0
        if self.use_kl:
            if self.policy is None:
                raise RuntimeError("FlatTrunkVecEnv: kl_reward > 0 needs the SB3 policy: call "
                                   "attach_policy(model.policy)")
            with torch.inference_mode():
                obs = torch.as_tensor(self._obs)
                policy_logp = self.policy.action_log_probs(obs.to(self.policy.device)).float().cpu()
                ref_logp = self.reference.action_log_probs(obs.to(self.reference.device)).float().cpu()
            reward_kl, kl = kl_reward_term(policy_logp, ref_logp, self.kl_reward, self.kl_direction)
            self._reward_kl[:] = reward_kl.numpy()
            self._kl[:] = kl.numpy()

    def step_wait(self):
        n = self.num_envs
        frames, rewards, dones, infos = [], np.zeros(n, np.float32), np.zeros(n, bool), []
        for i, env in enumerate(self.envs):
            obs, reward, terminated, truncated, info = env.step(int(self._actions[i]))
            self._success[i] |= bool(info.get("success", False))
            out = {"env_steps": 1, "reward_env": float(reward), "success": bool(info.get("success", False))}
            if self.use_kl:
                out.update(reward_kl=float(self._reward_kl[i]), kl=float(self._kl[i]))
            if terminated or truncated:
                out["is_success"] = bool(self._success[i])
                out["TimeLimit.truncated"] = False  # truncation treated as termination, as the high level
                out.update({k: info[k] for k in ("death_cause", "episode_frames") if info.get(k) is not None})
            frames.append(obs["pov"])
            rewards[i], dones[i] = float(reward) + float(self._reward_kl[i]), terminated or truncated
            infos.append(out)
        obs = self._features(np.stack(frames), np.zeros(n, bool))
        ended = np.flatnonzero(dones)
        if len(ended):
            reset_frames = []
            for i in ended:
                infos[i]["terminal_observation"] = obs[i].copy()
                o, _ = self.envs[i].reset(seed=self._seeds[i])
                self._seeds[i] = None
                self._success[i] = False
                reset_frames.append(o["pov"])
            obs[ended] = self._features(np.stack(reset_frames), np.ones(len(ended), bool), rows=ended)
        self._obs = obs
        return obs, rewards, dones, infos

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def seed(self, seed: Optional[int] = None):
        self._seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        return self._seeds

    def get_attr(self, attr_name, indices=None):
        return [getattr(self.envs[i], attr_name) for i in self._get_indices(indices)]

    def set_attr(self, attr_name, value, indices=None):
        for i in self._get_indices(indices):
            setattr(self.envs[i], attr_name, value)

    def env_method(self, method_name, *method_args, indices=None, **method_kwargs):
        return [getattr(self.envs[i], method_name)(*method_args, **method_kwargs) for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False for _ in self._get_indices(indices)]

    def _get_indices(self, indices):
        if indices is None:
            return range(self.num_envs)
        return [indices] if isinstance(indices, int) else indices


def load_bc_policy(cfg: HighLevelConfig, device: torch.device):
    """The goal-conditioned low-level policy of the run (``in_model``/``in_weights``), frozen, on ``device``."""
    from hierarchical.build import _plugin_actions, load_low_level, make_envs

    env = make_envs(cfg, 1, device)[0]
    action_space, _ = _plugin_actions(cfg, env)
    env.close()
    return load_low_level(cfg, action_space, cfg.goal_dim, device)


def make_bc_reference(bc_policy: torch.nn.Module, observation_space: spaces.Box, action_space: spaces.Discrete,
                      device: torch.device):
    """The frozen BC policy's head as a :class:`sb3_vpt.policy.VPTHeadPolicy` (``lastlayer``, ``final_ln`` and
    ``pi_head`` copied, the BC policy's temperature): ``action_log_probs(features float32 [B, hidsize]) -> float32
    [B, A]`` is the BC policy's distribution on the goal-free trunk's features, the same computation as the
    ``bc_ppo`` policy's at its start (:func:`make_bc_ppo`), so their KL starts at 0.

    Raises:
        ValueError: mismatched shapes or a non-categorical head (:meth:`VPTHeadPolicy.copy_head_from`).
    """
    from sb3_vpt.policy import VPTHeadPolicy

    ref = VPTHeadPolicy(observation_space, action_space, lambda _: 0.0,
                        temperature=float(bc_policy.pi_head.temperature))
    ref.copy_head_from(bc_policy)
    ref.requires_grad_(False)
    return ref.eval().to(device)


def make_bc_trunk_venv(cfg: HighLevelConfig, run_dir: Optional[os.PathLike], device: torch.device,
                       n_envs: Optional[int] = None, envs: Optional[list] = None,
                       sources: Optional[Mapping[str, str]] = None, with_kl: bool = True):
    """``(VecMonitor(FlatTrunkVecEnv), bc_policy)`` for ``bc_ppo`` and ``bc_ppo_kl``: the BC policy's frozen
    goal-free trunk; over ``envs`` when given, else over :func:`hierarchical.episode_log.make_logged_envs`
    (``<run_dir>/episodes.jsonl``). For ``bc_ppo_kl`` (and ``with_kl``; evaluation passes False) the VecEnv adds the
    KL term to the BC policy, ``cfg.kl_reward`` per env step in ``cfg.kl_direction`` (:func:`make_bc_reference`).

    Raises:
        TypeError: ``cfg`` is not a :class:`hierarchical.config.HighLevelConfig`.
        FileNotFoundError: a model file of the run is missing (:func:`hierarchical.build.check_files`, naming where
            its path came from, ``sources``).
    """
    from stable_baselines3.common.vec_env import VecMonitor

    from goal_prior.load_prior import load_part_vpt_weights
    from hierarchical.build import check_files
    from sb3_vpt.policy import TRUNK_PREFIXES, VPTTrunk
    from steve1.embed_conditioned_policy import load_model_config  # the model config may hold goal_dim
    from VPT.lib.policy import MinecraftPolicy

    require_config(cfg, "hierarchical.bc_ppo.make_bc_trunk_venv")
    check_files(cfg, sources)
    bc = load_bc_policy(cfg, device)
    policy_kwargs, _ = load_model_config(cfg.in_model)
    policy_kwargs.pop("goal_dim", None)
    trunk = VPTTrunk(MinecraftPolicy(**policy_kwargs))
    load_part_vpt_weights(trunk, cfg.in_weights, prefixes=TRUNK_PREFIXES)
    bias = bc.net.mineclip_embed_linear.bias
    trunk = GoalFreeTrunk(trunk, bias).to(device)
    envs = envs if envs is not None else make_logged_envs(cfg, run_dir, device, n_envs)
    kl_reward = float(cfg.kl_reward or 0.0) if with_kl and cfg.method == "bc_ppo_kl" else 0.0
    reference = None
    if kl_reward > 0:
        obs_space = spaces.Box(-np.inf, np.inf, (int(trunk.hidsize),), np.float32)
        reference = make_bc_reference(bc, obs_space, envs[0].action_space, device)
    venv = FlatTrunkVecEnv(envs, trunk, device, reference=reference, kl_reward=kl_reward,
                           kl_direction=cfg.kl_direction)
    return VecMonitor(venv), bc


def make_bc_ppo(venv, bc_policy: torch.nn.Module, seed: int, device: torch.device,
                ppo_kwargs: Optional[Mapping[str, Any]] = None):
    """SB3 ``PPO`` (default hyperparameters) with a :class:`sb3_vpt.policy.VPTHeadPolicy` whose head is copied
    from the BC policy (``lastlayer``, ``final_ln``, ``pi_head``): the initial policy is the BC policy.

    Args:
        ppo_kwargs: SB3 ``PPO`` keyword arguments over its defaults (``bench/bc_ppo_drift.py``), and
            ``value_init`` / ``value_latent`` (:class:`sb3_vpt.policy.VPTHeadPolicy`); None: the defaults.
    """
    from stable_baselines3 import PPO

    from sb3_vpt.policy import VPTHeadPolicy

    kwargs = dict(ppo_kwargs or {})
    policy_kwargs = {"temperature": float(bc_policy.pi_head.temperature),
                     "value_latent": kwargs.pop("value_latent", "shared"),
                     "value_init": kwargs.pop("value_init", "vpt")}
    model = PPO(VPTHeadPolicy, venv, policy_kwargs=policy_kwargs, seed=seed, device=device, verbose=0, **kwargs)
    model.policy.copy_head_from(bc_policy)
    return model
