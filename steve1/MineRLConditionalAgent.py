"""``MineRLConditionalAgent``: the goal-conditioned policy (STEVE-1) wrapped with observation/action conversion and
classifier-free guidance (spec §5.2-§5.3), plus building and weight loading of the conditional policy.

    from steve1.utils.load_agent import make_agent

    agent = make_agent("downloads/2x.model", "downloads/steve1/steve1.weights", cond_scale=7.0)
    agent.reset(cond_scale=7.0)                      # at every episode start
    minerl_action = agent.get_action({"pov": frame}, goal_embed)   # goal_embed float32 (1, 512)

The same agent drives Crafter with ``sim="crafter"`` (action space and action conversion from the simulator
plugin ``tasks/crafter``; 64x64 frames, ``Discrete(17)``).

Where we deliberately differ from upstream:

* :meth:`MineRLConditionalAgent.load_weights` loads **strictly** (upstream ignored ``strict`` and loaded with
  ``strict=False``, spec §12.1.12): plain VPT weights raise a clear error instead of running with a random
  ``mineclip_embed_linear``. Starting behaviour cloning from VPT weights is the explicit
  :func:`load_conditional_policy_weights` ``(..., allow_missing_goal_linear=True)`` (used by ``steve1/train.py``).
  Only a leading ``policy.``/``module.policy.`` is stripped from keys (upstream removed the substring anywhere).
* ``device=None`` means CUDA when available, else CPU (upstream: always CUDA).
* The goal must be float ``(1, goal_dim)``; anything else raises (a ``(512,)`` goal silently broke guidance
  upstream, spec §12.1.2).
* As upstream, the hidden state is reset only by :meth:`MineRLConditionalAgent.reset` (``first`` is always False),
  not when the goal changes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np
import torch

from VPT.agent import default_device
from VPT.lib.action_mapping import CameraHierarchicalMapping, agent_action_to_env
from VPT.lib.frames import resize_for_agent
from VPT.lib.loading import PathLike, WeightsLoadError, load_policy_weights, read_state_dict
from steve1.embed_conditioned_policy import (DEFAULT_GOAL_DIM, GOAL_KEY, GOAL_KEY_PREFIX, GoalConditionedAgentPolicy,
                                             load_model_config)

__all__ = ["MineRLConditionalAgent", "build_conditional_policy", "load_conditional_policy_weights"]


def build_conditional_policy(in_model: PathLike, action_space: Any = None,
                             goal_dim: int = DEFAULT_GOAL_DIM) -> GoalConditionedAgentPolicy:
    """A :class:`GoalConditionedAgentPolicy` with the architecture of ``in_model`` (an official ``.model`` pickle or
    a YAML with ``policy_kwargs``/``pi_head_kwargs``, which may hold ``goal_dim``), freshly initialised, on the CPU.

    Args:
        in_model: model config file.
        action_space: gymnasium action space; default the MineRL joint space ``Dict(camera=Discrete(121),
            buttons=Discrete(8641))``.
        goal_dim: goal-embedding size.

    Raises:
        FileNotFoundError, ValueError: see :func:`steve1.embed_conditioned_policy.load_model_config`; a config
            ``goal_dim`` that contradicts ``goal_dim``.
    """
    policy_kwargs, pi_head_kwargs = load_model_config(in_model)
    if action_space is None:
        action_space = CameraHierarchicalMapping(n_camera_bins=11).get_action_space_update()
    return GoalConditionedAgentPolicy(action_space, policy_kwargs, pi_head_kwargs, goal_dim=goal_dim)


def load_conditional_policy_weights(policy: torch.nn.Module, path: PathLike,
                                    allow_missing_goal_linear: bool = False,
                                    state_dict: Optional[dict] = None) -> str:
    """Load a weights file into a goal-conditioned policy, strictly.

    Keys lose a leading ``policy.``/``module.policy.``. With ``allow_missing_goal_linear``, a plain VPT file (every
    key of the policy except ``net.mineclip_embed_linear.*``, nothing else) is accepted: all VPT tensors are
    loaded and ``mineclip_embed_linear`` keeps its initialisation (how STEVE-1 training starts from VPT, spec §5.3).

    ``state_dict``: the file's tensors when the caller already read them (``VPT.lib.loading.read_state_dict``),
    so that a large file is read once.

    Returns:
        a one-line description of what was loaded.

    Raises:
        FileNotFoundError: no such file.
        VPT.lib.loading.WeightsLoadError: unreadable file; plain VPT weights without ``allow_missing_goal_linear``
            (the message says so); any other key or shape mismatch (with the likely cause).
    """
    path = Path(path)
    state_dict = read_state_dict(path) if state_dict is None else state_dict
    own = policy.state_dict()
    goal_keys = {k for k in own if k.startswith(GOAL_KEY_PREFIX)}
    missing = set(own) - set(state_dict)
    unexpected = set(state_dict) - set(own)
    shapes_ok = all(tuple(state_dict[k].shape) == tuple(own[k].shape) for k in own if k in state_dict)
    if not missing and not unexpected and shapes_ok:
        policy.load_state_dict(state_dict, strict=True)
        return f"loaded all {len(own)} tensors strictly"
    if goal_keys and missing == goal_keys and not unexpected and shapes_ok:
        if not allow_missing_goal_linear:
            raise WeightsLoadError(
                f"{path}: these are plain VPT weights (no {GOAL_KEY_PREFIX}*), not goal-conditioned (STEVE-1) "
                "weights: the agent would follow goals through a random projection (upstream loaded them silently, "
                "spec §12.1.12). Load weights trained by steve1/train.py (or the official steve1.weights); to start "
                "goal-conditioned training from VPT, pass them as steve1/train.py --in_weights.")
        policy.load_state_dict(state_dict, strict=False)
        return (f"loaded {len(state_dict)} VPT tensors; {', '.join(sorted(goal_keys))} left at initialisation "
                f"(plain VPT weights, spec §5.3)")
    # raises with a diagnosis of the mismatch (the goal-specific causes come from the policy's explain method)
    load_policy_weights(policy, path, strict=True, state_dict=state_dict)
    raise AssertionError("unreachable: load_policy_weights accepted mismatching weights")


class MineRLConditionalAgent:
    """A goal-conditioned policy acting in an environment: env observation + goal embedding -> env action.

    Args:
        env: optional env, kept as ``self.env`` (not validated).
        device: torch device; ``None`` = CUDA if available, else CPU.
        policy_kwargs, pi_head_kwargs: VPT architecture (from :func:`steve1.embed_conditioned_policy.load_model_config`).
        goal_dim: goal-embedding size (512 for MineCLIP).
        sim: simulator plugin (``tasks.SIMULATORS`` key) that gives the action space (``ACTION_SPACE``) and the
            agent->env action conversion (``agent_action_to_env``); ``None`` = Minecraft through VPT's action mapping
            (``Dict(camera=Discrete(121), buttons=Discrete(8641))`` -> MineRL action dict).

    Attributes:
        policy: the :class:`GoalConditionedAgentPolicy` (eval mode); ``policy.act(..., cond_scale=...)`` is the
            batched entry point (row layout in :mod:`steve1.embed_conditioned_policy`).
        hidden_state: recurrent state of the current episode: 1 row, or 2 rows ``[cond; uncond]`` with guidance.
        cond_scale: the guidance scale set by :meth:`reset` (``None``: no guidance).
    """

    def __init__(self, env: Any = None, device: Union[str, torch.device, None] = None,
                 policy_kwargs: Optional[Mapping[str, Any]] = None, pi_head_kwargs: Optional[Mapping[str, Any]] = None,
                 goal_dim: int = DEFAULT_GOAL_DIM, sim: Optional[str] = None):
        if policy_kwargs is None:
            raise ValueError("MineRLConditionalAgent: policy_kwargs is required (load_model_config(<.model or YAML>))")
        self.env = env
        self.device = default_device(device)
        self.sim = sim
        if sim is None:
            action_space = CameraHierarchicalMapping(n_camera_bins=11).get_action_space_update()
            self._to_env: Callable[[Any], Any] = agent_action_to_env
        else:
            from steve1.data.minecraft_dataset import sim_plugin

            plugin = sim_plugin(sim)
            action_space, self._to_env = plugin.ACTION_SPACE, plugin.agent_action_to_env
        self.policy = GoalConditionedAgentPolicy(action_space, policy_kwargs, pi_head_kwargs, goal_dim=goal_dim)
        self.policy.to(self.device).eval()
        height, width, _ = self.policy.net.img_shape
        self.resolution = (height, width)
        self.goal_dim = int(goal_dim)
        self.cond_scale: Optional[float] = None
        self.reset(None)

    def load_weights(self, path: PathLike) -> str:
        """Load goal-conditioned weights strictly (prefixes ``policy.``/``module.policy.`` stripped) and reset.

        Raises:
            FileNotFoundError, VPT.lib.loading.WeightsLoadError: see :func:`load_conditional_policy_weights`
                (plain VPT weights are refused with a message saying so).
        """
        info = load_conditional_policy_weights(self.policy, path, allow_missing_goal_linear=False)
        self.reset(self.cond_scale)
        return info

    def reset(self, cond_scale: Optional[float] = None) -> None:
        """Start an episode: empty memory, 2 rows ``[cond; uncond]`` when ``cond_scale`` is given, else 1 row."""
        self.cond_scale = None if cond_scale is None else float(cond_scale)
        self.hidden_state = self.policy.initial_state(1 if cond_scale is None else 2)
        self._first = torch.zeros((1,), dtype=torch.bool, device=self.device)

    def _env_obs_to_agent(self, obs: Mapping[str, Any]) -> torch.Tensor:
        if "pov" not in obs:
            raise KeyError(f"MineRLConditionalAgent: the observation has no 'pov' frame (keys: {sorted(obs)})")
        frame = resize_for_agent(obs["pov"], self.resolution)
        return torch.from_numpy(np.ascontiguousarray(frame))[None].to(self.device)

    def _goal_to_agent(self, goal_embed: Any) -> torch.Tensor:
        goal = torch.as_tensor(np.asarray(goal_embed.detach().cpu() if torch.is_tensor(goal_embed) else goal_embed))
        if tuple(goal.shape) != (1, self.goal_dim) or not torch.is_floating_point(goal):
            raise ValueError(f"MineRLConditionalAgent.get_action: goal_embed must be float32 (1, {self.goal_dim}), "
                             f"got {goal.dtype} {tuple(goal.shape)}")
        return goal.to(self.device, torch.float32)

    def get_action(self, minerl_obs: Mapping[str, Any], goal_embed: Any) -> Any:
        """Sample the next env action for ``{"pov": uint8 [H, W, 3]}`` and a goal embedding float32
        ``(1, goal_dim)`` (all zeros = no goal), with the guidance scale of the last :meth:`reset`.

        Returns:
            the env action (Minecraft: MineRL action dict; otherwise the plugin's ``agent_action_to_env``).

        Raises:
            KeyError: no ``pov``. ValueError: a goal of another shape.
        """
        obs = {"img": self._env_obs_to_agent(minerl_obs), GOAL_KEY: self._goal_to_agent(goal_embed)}
        agent_action, self.hidden_state, _ = self.policy.act(obs, self._first, self.hidden_state, stochastic=True,
                                                             cond_scale=self.cond_scale)
        return self._to_env(tree_to_numpy(agent_action))


def tree_to_numpy(x: Any) -> Any:
    """Tensors (nested in dicts) -> numpy arrays on the CPU."""
    if isinstance(x, Mapping):
        return {k: tree_to_numpy(v) for k, v in x.items()}
    return x.detach().cpu().numpy() if torch.is_tensor(x) else x
