"""Per-episode wrappers of the task envs shared by every method: the achievement log of a run (``episodes.jsonl``,
the Crafter score's input) and the frame recorder of the evaluation GIFs."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import gymnasium
import numpy as np
import torch

from hierarchical.config import HighLevelConfig, require_config

__all__ = ["EpisodeFrames", "EpisodeLog", "make_logged_envs"]


class EpisodeFrames(gymnasium.Wrapper):
    """Records the ``pov`` frames of the current episode; at its end ``info['episode_frames']`` = uint8
    ``[L + 1, H, W, 3]`` (the reset frame and the frame after each of the ``L`` env steps), as
    :class:`~hierarchical.high_level_wrapper.HighlevelVecEnv` with ``record_frames`` (for evaluation GIFs)."""

    def __init__(self, env: gymnasium.Env):
        super().__init__(env)
        self._frames: list = []

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._frames = [np.array(obs["pov"], copy=True)]
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._frames.append(np.array(obs["pov"], copy=True))
        if terminated or truncated:
            info = dict(info, episode_frames=np.stack(self._frames))
        return obs, reward, terminated, truncated, info


# ---- per-episode achievement log (Crafter score) ------------------------------------------------------------------
class EpisodeLog(gymnasium.Wrapper):
    """Appends one JSON line per ended episode to ``path``: ``{"env": index, "length": env steps, "return": summed
    env reward, "success": task success, "achievements": [names unlocked at least once], "end": "success" | "death"
    | "limit", "death_cause": info["death_cause"] or null}`` (the Crafter score is computed from these,
    ``bench/sample_efficiency.py``; ``death_cause`` comes from ``tasks.crafter.env.death_cause``). Lines are
    appended and flushed at each episode end, so a crashed run keeps what it logged. Envs without
    ``info['achievements']`` log an empty list."""

    def __init__(self, env: gymnasium.Env, path: os.PathLike, index: int = 0):
        super().__init__(env)
        self.path = Path(path)
        self.index = int(index)
        self._length, self._return, self._success = 0, 0.0, False

    def reset(self, **kwargs):
        self._length, self._return, self._success = 0, 0.0, False
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._length += 1
        self._return += float(reward)
        self._success = self._success or bool(info.get("success", False))
        if terminated or truncated:
            unlocked = sorted(k for k, v in (info.get("achievements") or {}).items() if v)
            end = "death" if info.get("dead") else "success" if terminated and self._success else "limit"
            line = json.dumps({"env": self.index, "length": self._length, "return": round(self._return, 4),
                               "success": self._success, "achievements": unlocked, "end": end,
                               "death_cause": info.get("death_cause")})
            with open(self.path, "a") as f:
                f.write(line + "\n")
        return obs, reward, terminated, truncated, info


def make_logged_envs(cfg: HighLevelConfig, run_dir: os.PathLike, device: torch.device,
                     n_envs: Optional[int] = None) -> list:
    """``n_envs`` task envs (None: ``cfg.n_envs``; ``hierarchical.build.make_envs``), each wrapped in
    :class:`EpisodeLog` writing ``<run_dir>/episodes.jsonl``."""
    from hierarchical.build import make_envs

    require_config(cfg, "hierarchical.episode_log.make_logged_envs")
    envs = make_envs(cfg, cfg.n_envs if n_envs is None else n_envs, device)
    return [EpisodeLog(env, Path(run_dir) / "episodes.jsonl", i) for i, env in enumerate(envs)]
