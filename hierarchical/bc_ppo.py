"""``--method bc_ppo``: the behaviour-cloned low-level policy fine-tuned with PPO on the raw action space (the
VPT-finetune analogue).

``bc_ppo`` is goal-free: the STEVE-1 policy with the unconditional (zero) goal, i.e. the behaviour-cloned play policy
(classifier-free guidance training drops the goal in ``p_uncond`` of the chunks, so that branch is a trained
goal-free BC policy; no separate flat BC model is needed). As for PTGM's high level, its image encoder and
transformer are frozen and run inside the VecEnv (:class:`FlatTrunkVecEnv`, one SB3 step = one env step); the
trainable head (``lastlayer``, ``final_ln``, the ``Discrete(17)`` ``pi_head``) is initialised from the BC policy, so
PPO starts from exactly the BC policy's action distribution; the value head is fresh. PPO uses SB3's defaults, like
``ppo_sb3``.
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

__all__ = ["GoalFreeTrunk", "FlatTrunkVecEnv", "load_bc_policy", "make_bc_trunk_venv", "make_bc_ppo"]


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

    Args:
        envs: gymnasium task envs with observations ``{'pov': uint8 [H, W, 3]}``.
        trunk: the frozen trunk, on ``device``.
        device: torch device.
    """

    def __init__(self, envs: list, trunk: torch.nn.Module, device: torch.device):
        self.envs = list(envs)
        self.trunk = trunk
        self.device = torch.device(device)
        obs_space = spaces.Box(-np.inf, np.inf, (int(trunk.hidsize),), np.float32)
        super().__init__(len(self.envs), obs_space, self.envs[0].action_space)
        self._state = None
        self._actions = None
        self._seeds: list = [None] * self.num_envs
        self._success = np.zeros(self.num_envs, bool)

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
        return self._features(np.stack(frames), np.ones(self.num_envs, bool))

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self):
        n = self.num_envs
        frames, rewards, dones, infos = [], np.zeros(n, np.float32), np.zeros(n, bool), []
        for i, env in enumerate(self.envs):
            obs, reward, terminated, truncated, info = env.step(int(self._actions[i]))
            self._success[i] |= bool(info.get("success", False))
            out = {"env_steps": 1, "reward_env": float(reward), "success": bool(info.get("success", False))}
            if terminated or truncated:
                out["is_success"] = bool(self._success[i])
                out["TimeLimit.truncated"] = False  # truncation treated as termination, as the high level
                out.update({k: info[k] for k in ("death_cause", "episode_frames") if info.get(k) is not None})
            frames.append(obs["pov"])
            rewards[i], dones[i] = reward, terminated or truncated
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


def make_bc_trunk_venv(cfg: HighLevelConfig, run_dir: Optional[os.PathLike], device: torch.device,
                       n_envs: Optional[int] = None, envs: Optional[list] = None,
                       sources: Optional[Mapping[str, str]] = None):
    """``(VecMonitor(FlatTrunkVecEnv), bc_policy)`` for ``bc_ppo``: the BC policy's frozen goal-free trunk; over
    ``envs`` when given, else over :func:`hierarchical.episode_log.make_logged_envs` (``<run_dir>/episodes.jsonl``).

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
    return VecMonitor(FlatTrunkVecEnv(envs, trunk, device)), bc


def make_bc_ppo(venv, bc_policy: torch.nn.Module, seed: int, device: torch.device):
    """SB3 ``PPO`` (default hyperparameters) with a :class:`sb3_vpt.policy.VPTHeadPolicy` whose head is copied
    from the BC policy (``lastlayer``, ``final_ln``, ``pi_head``): the initial policy is the BC policy."""
    from stable_baselines3 import PPO

    from sb3_vpt.policy import VPTHeadPolicy

    temperature = float(bc_policy.pi_head.temperature)
    model = PPO(VPTHeadPolicy, venv, policy_kwargs={"temperature": temperature}, seed=seed, device=device, verbose=0)
    model.policy.copy_head_from(bc_policy)
    return model
