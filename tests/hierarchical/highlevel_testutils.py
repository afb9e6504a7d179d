"""Tiny random models, envs and files for the high-level tests (hierarchical/, sb3_vpt/, ppo_highlevel.py).

A module with a unique name (not ``conftest``, which clashes between test folders) so test modules can import it:
``from highlevel_testutils import ...``.

Everything is a shrunk configuration of the real architecture (64x64 frames, hidsize 32, one transformer block,
memory 8 frames) with random weights, so the real code paths run in well under a second per high-level step.

The low-level policy is the real ``steve1.embed_conditioned_policy.GoalConditionedAgentPolicy`` (tiny config).
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Optional

import gymnasium
import numpy as np
import torch
import yaml
from gymnasium import spaces

from steve1.embed_conditioned_policy import GoalConditionedAgentPolicy
from VPT.lib.policy import MinecraftAgentPolicy

TINY_POLICY_KWARGS = dict(
    attention_heads=2, attention_mask_style="clipped_causal", attention_memory_size=16, diff_mlp_embedding=False,
    hidsize=32, img_shape=[64, 64, 3], impala_chans=[8, 16, 16], impala_kwargs={"post_pool_groups": 1},
    impala_width=1, init_norm_kwargs={"batch_norm": False, "group_norm_groups": 1}, n_recurrence_layers=1,
    only_img_input=True, pointwise_ratio=2, pointwise_use_activation=False, recurrence_is_residual=True,
    recurrence_type="transformer", timesteps=8, use_pointwise_layer=True, use_pre_lstm_ln=False)
GOAL_DIM = 8
N_CODES = 5
N_ACTIONS = 17


class StandInEnv(gymnasium.Env):
    """A tiny gymnasium env with Crafter's interface ({'pov': uint8 64x64x3}, Discrete(17)): the frame encodes the
    step count; at env step ``success_at`` reward 1, success and termination; truncated after ``max_steps``; reward
    0.25 for action 0 otherwise. Counts every step and reset."""

    def __init__(self, max_steps: int = 7, success_at: Optional[int] = None, seed_offset: int = 0):
        self.observation_space = spaces.Dict({"pov": spaces.Box(0, 255, (64, 64, 3), np.uint8)})
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.max_steps = max_steps
        self.success_at = success_at
        self.t = 0
        self.n_steps = 0
        self.n_resets = 0
        self.seed_offset = seed_offset
        self.render_mode = None

    def _obs(self):
        frame = np.zeros((64, 64, 3), np.uint8)
        frame[..., 0] = (self.t * 37 + self.seed_offset * 101) % 256
        frame[: (5 * self.t) % 64, :, 1] = 255
        return {"pov": frame}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.n_resets += 1
        return self._obs(), {}

    def step(self, action):
        assert self.action_space.contains(action)
        self.t += 1
        self.n_steps += 1
        success = self.success_at is not None and self.t == self.success_at
        truncated = not success and self.t >= self.max_steps
        reward = 1.0 if success else (0.25 if action == 0 else 0.0)
        return self._obs(), reward, success, truncated, {"success": success}


def discrete_to_env(agent_action):
    return int(np.asarray(agent_action).reshape(-1)[0])


def tiny_agent(action_space, goal_dim=None, temperature=2.0, seed=0) -> MinecraftAgentPolicy:
    """A tiny VPT policy (``GoalConditionedAgentPolicy`` when ``goal_dim``) with random, non-flat heads."""
    torch.manual_seed(seed)
    if goal_dim is not None:
        policy = GoalConditionedAgentPolicy(action_space, TINY_POLICY_KWARGS, {"temperature": temperature},
                                            goal_dim=goal_dim)
    else:
        policy = MinecraftAgentPolicy(action_space, TINY_POLICY_KWARGS, {"temperature": temperature})
    with torch.no_grad():  # not-flat heads so distributions differ
        for p in policy.pi_head.parameters():
            p.normal_(0, 0.5)
    return policy.eval()


class TinyCodebook:
    def __init__(self, n=N_CODES, d=GOAL_DIM, seed=0):
        self.codes = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
        self.N = n


def write_tiny_files(root: Path) -> dict[str, Path]:
    """Tiny model config (YAML), low-level/VPT/prior weights and codebook files under ``root``."""
    from goal_prior.load_prior import GoalPriorPolicy

    root.mkdir(parents=True, exist_ok=True)
    paths = {"model": root / "tiny.yaml", "low_level_model": root / "tiny_goal.yaml",
             "in_weights": root / "low_level.weights", "weights": root / "vpt.weights",
             "prior_weights": root / "prior.weights", "codebook": root / "centers.pkl"}
    paths["model"].write_text(yaml.safe_dump({"policy_kwargs": TINY_POLICY_KWARGS,
                                              "pi_head_kwargs": {"temperature": 2.0}}))
    paths["low_level_model"].write_text(yaml.safe_dump({"policy_kwargs": {**TINY_POLICY_KWARGS, "goal_dim": GOAL_DIM},
                                                        "pi_head_kwargs": {"temperature": 2.0}}))
    torch.save(tiny_agent(spaces.Discrete(N_ACTIONS), goal_dim=GOAL_DIM, seed=1).state_dict(), paths["in_weights"])
    torch.save(tiny_agent(spaces.Discrete(N_ACTIONS), seed=4).state_dict(), paths["weights"])
    torch.manual_seed(2)
    prior = GoalPriorPolicy(N_CODES, TINY_POLICY_KWARGS, {"temperature": 2.0})
    with torch.no_grad():
        for p in prior.pi_head.parameters():
            p.normal_(0, 0.5)
    torch.save(prior.state_dict(), paths["prior_weights"])
    with open(paths["codebook"], "wb") as f:
        pickle.dump([c[None].astype(np.float64) for c in TinyCodebook().codes], f)
    return paths


#: The PPO settings of the tiny high-level configs: 2 envs x 3 decisions x 3 env steps per PPO iteration, episodes
#: of at most 8 env steps, a checkpoint after every iteration.
TINY_HIGHLEVEL = dict(low_level_steps=3, steps_per_iter=3, batch_size=6, n_epochs=1, n_envs=2, steps=None,
                      save_freq=1, print_freq=1, env_overrides={"max_steps": 8})


def write_tiny_highlevel_config(root: Path, **overrides) -> tuple[Path, dict[str, Path]]:
    """``configs/crafter/highlevel.yaml`` with the tiny files of :func:`write_tiny_files` (under ``root/files``), the
    settings of :data:`TINY_HIGHLEVEL` and ``overrides`` laid over it, written to ``root/highlevel.yaml``; returns
    ``(config path, files)``."""
    files = write_tiny_files(root / "files")
    repo = Path(__file__).resolve().parents[2]
    cfg = yaml.safe_load((repo / "configs/crafter/highlevel.yaml").read_text())
    cfg.update(in_model=str(files["low_level_model"]), in_weights=str(files["in_weights"]),
               weights=str(files["weights"]), prior_weights=str(files["prior_weights"]),
               codebook=str(files["codebook"]), **{**TINY_HIGHLEVEL, **overrides})
    config = root / "highlevel.yaml"
    config.write_text(yaml.safe_dump(cfg))
    return config, files
