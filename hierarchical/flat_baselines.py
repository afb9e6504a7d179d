"""Flat PPO from scratch on the raw frames and actions (``--method ppo_sb3``: SB3's ``PPO('CnnPolicy')`` with
SB3's defaults; ``--method ppo`` uses the same envs with the recipe of :mod:`hierarchical.flat_ppo`)."""
from __future__ import annotations

import os
from typing import Optional

import gymnasium
import torch

from hierarchical.config import HighLevelConfig, require_config
from hierarchical.episode_log import make_logged_envs

__all__ = ["FlatFrameWrapper", "make_flat_venv", "make_flat_ppo"]


class FlatFrameWrapper(gymnasium.Wrapper):
    """A task env (``tasks.make``) for flat RL: observation = the ``pov`` frame ``uint8 [H, W, 3]``; ``info`` gets
    ``env_steps = 1`` (for :class:`sb3_vpt.logging.HighLevelLogger`), ``reward_env`` and, at the end of an episode,
    ``is_success`` (the task's success at any step of the episode); the env's ``death_cause`` and ``episode_frames``
    (:class:`hierarchical.episode_log.EpisodeFrames`) are passed on when present."""

    def __init__(self, env: gymnasium.Env):
        super().__init__(env)
        self.observation_space = env.observation_space["pov"]
        self._success = False

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._success = False
        return obs["pov"], info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(int(action))
        self._success = self._success or bool(info.get("success", False))
        info = {k: info[k] for k in ("success", "episode_step", "dead", "achievements", "death_cause",
                                     "episode_frames") if k in info}
        info["env_steps"] = 1
        info["reward_env"] = float(reward)
        if terminated or truncated:
            info["is_success"] = self._success
        return obs["pov"], reward, terminated, truncated, info


def make_flat_venv(cfg: HighLevelConfig, run_dir: os.PathLike, device: torch.device,
                   n_envs: Optional[int] = None):
    """``n_envs`` (None: ``cfg.n_envs``) task envs (:func:`make_logged_envs`) as an SB3 ``DummyVecEnv`` of
    :class:`FlatFrameWrapper`, with ``VecMonitor`` (``info['episode']``)."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    require_config(cfg, "hierarchical.flat_baselines.make_flat_venv")
    envs = make_logged_envs(cfg, run_dir, device, n_envs)
    return VecMonitor(DummyVecEnv([(lambda e=e: FlatFrameWrapper(e)) for e in envs]))


def make_flat_ppo(venv, seed: int, device: torch.device):
    """SB3 ``PPO('CnnPolicy', venv)`` with SB3's default hyperparameters (``hierarchical.methods``)."""
    from stable_baselines3 import PPO

    return PPO("CnnPolicy", venv, seed=seed, device=device, verbose=0)
