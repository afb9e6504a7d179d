"""Fixtures of the high-level tests; the helpers live in ``highlevel_testutils`` (importable by test modules)."""
from __future__ import annotations

import pytest
import torch
from gymnasium import spaces

from highlevel_testutils import (GOAL_DIM, N_ACTIONS, N_CODES, TINY_POLICY_KWARGS, TinyCodebook, discrete_to_env,
                                 tiny_agent)
from VPT.lib.policy import MinecraftPolicy


@pytest.fixture
def tiny_low_level():
    return tiny_agent(spaces.Discrete(N_ACTIONS), goal_dim=GOAL_DIM, seed=1)


@pytest.fixture
def tiny_prior():
    from goal_prior.load_prior import GoalPriorPolicy

    torch.manual_seed(2)
    prior = GoalPriorPolicy(N_CODES, TINY_POLICY_KWARGS, {"temperature": 2.0})
    with torch.no_grad():
        for p in prior.pi_head.parameters():
            p.normal_(0, 0.5)
    return prior.eval()


@pytest.fixture
def tiny_trunk():
    from sb3_vpt.policy import VPTTrunk

    torch.manual_seed(3)
    return VPTTrunk(MinecraftPolicy(**TINY_POLICY_KWARGS))


@pytest.fixture
def tiny_codebook():
    return TinyCodebook()


@pytest.fixture
def make_venv(tiny_low_level, tiny_trunk, tiny_prior, tiny_codebook):
    """``make_venv(envs, **kwargs)`` -> a HighlevelVecEnv over the tiny models (prior and codebook by default)."""
    from hierarchical.high_level_wrapper import HighlevelVecEnv

    def make(envs, **kwargs):
        kwargs.setdefault("codebook", tiny_codebook)
        kwargs.setdefault("prior", tiny_prior if kwargs["codebook"] is not None else None)
        kwargs.setdefault("low_level_steps", 3)
        kwargs.setdefault("cond_scale", 7.0)
        kwargs.setdefault("kl_reward", 0.0)
        kwargs.setdefault("kl_direction", "forward")
        kwargs.setdefault("bootstrap_truncation", False)
        kwargs.setdefault("goal_bound", 10.0)
        return HighlevelVecEnv(envs, tiny_low_level, tiny_trunk, discrete_to_env, **kwargs)

    return make
