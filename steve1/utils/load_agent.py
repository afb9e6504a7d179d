"""Build a ready-to-act goal-conditioned agent from a model config and weights (spec §5.3, upstream
``make_agent``)."""
from __future__ import annotations

from typing import Optional, Union

import torch

from VPT.lib.loading import PathLike
from steve1.embed_conditioned_policy import DEFAULT_GOAL_DIM, load_model_config
from steve1.MineRLConditionalAgent import MineRLConditionalAgent

__all__ = ["make_agent"]


def make_agent(in_model: PathLike, in_weights: PathLike, cond_scale: Optional[float],
               device: Union[str, torch.device, None] = None, sim: Optional[str] = None,
               goal_dim: int = DEFAULT_GOAL_DIM) -> MineRLConditionalAgent:
    """A :class:`MineRLConditionalAgent` with ``in_model``'s architecture and ``in_weights`` loaded strictly, reset
    with guidance scale ``cond_scale``.

    Args:
        in_model: ``.model`` pickle (e.g. ``downloads/2x.model``) or YAML config (``configs/crafter/vpt_small.yaml``).
        in_weights: goal-conditioned weights (``steve1.weights`` or ``<out>_best.weights`` of ``steve1/train.py``).
        cond_scale: classifier-free guidance scale (PTGM: 7.0); ``None`` = no guidance.
        device: ``None`` = CUDA if available, else CPU (upstream: always CUDA).
        sim: simulator plugin for the action space/conversion (``None`` = Minecraft; ``"crafter"``).
        goal_dim: goal-embedding size (512 for MineCLIP and the Crafter embedder).

    Raises:
        FileNotFoundError, ValueError: bad model config. VPT.lib.loading.WeightsLoadError: weights that do not fit
            (e.g. plain VPT weights).
    """
    policy_kwargs, pi_head_kwargs = load_model_config(in_model)
    agent = MineRLConditionalAgent(env=None, device=device, policy_kwargs=policy_kwargs,
                                   pi_head_kwargs=pi_head_kwargs, goal_dim=goal_dim, sim=sim)
    agent.load_weights(in_weights)
    agent.reset(cond_scale)
    return agent
