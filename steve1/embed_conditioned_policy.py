"""The goal-conditioned low-level policy (STEVE-1) with classifier-free guidance (spec §5.1-§5.2; STEVE-1 §3.1,
PTGM §3.1).

The network is VPT's, extended through VPT's conditioning extension point (``MinecraftPolicy.condition`` and
``MinecraftAgentPolicy.net_class``): :class:`GoalConditionedMinecraftPolicy` projects a goal embedding
``mineclip_embed`` float ``[B, T, goal_dim]`` (raw, not normalised; all zeros = no goal) with
``net.mineclip_embed_linear = Linear(goal_dim, hidsize)`` and adds it to the image embedding before the
transformer. The projection is registered after VPT's modules, so the state dict is VPT's keys followed by
``net.mineclip_embed_linear.{weight, bias}`` and then the heads, in the order of STEVE-1's official weights.
Training drops the goal of 10 % of the chunks, so the same network is also an unconditional policy, and at
inference the two are combined per head on the tempered log-softmax outputs (classifier-free guidance)::

    l_guided = (1 + cond_scale) * l_cond - cond_scale * l_uncond

which is sampled with Gumbel-max (i.e. from ``softmax(l_guided)``) or argmax. As upstream, the returned ``pd`` is
this combination, **not** renormalised (fixtures README §4), and the log-probability of the action is read from it.

Row layout of classifier-free guidance (:meth:`GoalConditionedAgentPolicy.act` with ``cond_scale``): an observation
batch of ``B`` sequences runs as ``2B`` rows, ``[cond_0, ..., cond_{B-1}, uncond_0, ..., uncond_{B-1}]``: row ``i``
is sequence ``i`` with its goal, row ``B + i`` the same frame with an all-zero goal. Each row keeps its own
recurrent state, so the state is ``initial_state(2 * B)`` and the returned ``state_out``/``vpred`` have ``2B``
rows in that order. ``first[i]`` resets both rows ``i`` and ``B + i``.

Model configs: a ``policy_kwargs`` block may hold ``goal_dim`` (VPT's keys otherwise); :func:`load_model_config`
reads such a file, and builders of plain VPT networks from it pop ``goal_dim`` first.

Where we deliberately differ from upstream (STEVE-1 ``embed_conditioned_policy.py``):

* classifier-free guidance accepts any batch ``B`` (upstream asserts ``B == 1``); ``B = 1`` is bit-for-bit the
  upstream computation (rows ``[cond; uncond]``);
* the action space is any gymnasium space (Minecraft's ``Dict(camera, buttons)``, Crafter's ``Discrete(17)``, ...),
  not only MineRL's;
* the policy takes the goal size as an argument (512 for MineCLIP) instead of hard-coding it, and
  ``act`` checks the goal and state shapes with clear errors (a ``(512,)`` goal broke guidance silently upstream,
  spec §12.1.2);
* the upstream debugging side-effect (``entropy_last`` of the buttons head) is left out.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from VPT.lib import loading as vpt_loading
from VPT.lib.loading import PathLike, ShapeError
from VPT.lib.policy import MinecraftAgentPolicy, MinecraftPolicy, tree_map

__all__ = ["GoalConditionedMinecraftPolicy", "GoalConditionedAgentPolicy", "GOAL_KEY", "GOAL_KEY_PREFIX",
           "GOAL_POLICY_KWARGS", "DEFAULT_GOAL_DIM", "explain_goal_weights_mismatch", "load_model_config"]

#: Observation key of the goal embedding (the upstream name, kept for weight and data compatibility).
GOAL_KEY = "mineclip_embed"
#: State-dict prefix of the goal projection, the only parameters a goal-conditioned policy adds to VPT's.
GOAL_KEY_PREFIX = "net.mineclip_embed_linear."
#: ``policy_kwargs`` names a goal-conditioned model config may hold besides VPT's.
GOAL_POLICY_KWARGS = frozenset({"goal_dim"})
#: MineCLIP's embedding size.
DEFAULT_GOAL_DIM = 512


def load_model_config(path: PathLike) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """:func:`VPT.lib.loading.load_model_config` that also accepts :data:`GOAL_POLICY_KWARGS` (``goal_dim``).

    ``goal_dim`` stays in the returned ``policy_kwargs`` when the file has it: :class:`GoalConditionedAgentPolicy`
    takes it (checked against its ``goal_dim`` argument); whoever builds a plain VPT network from the file pops it.

    Raises:
        FileNotFoundError, ValueError: see :func:`VPT.lib.loading.load_model_config`.
    """
    return vpt_loading.load_model_config(path, extra_keys=GOAL_POLICY_KWARGS)


class GoalConditionedMinecraftPolicy(MinecraftPolicy):
    """VPT's network with a goal input: ``condition(x) = x + mineclip_embed_linear(ob["mineclip_embed"])``.

    Args:
        goal_dim: goal-embedding size ``D`` (>= 1; 512 for MineCLIP).
        **policy_kwargs: :class:`VPT.lib.policy.MinecraftPolicy` arguments.

    ``forward(ob, state_in, context)`` as VPT's, with ``ob["mineclip_embed"]`` float ``[B, T, D]`` required (all
    zeros = the unconditional input). ``mineclip_embed_linear = Linear(D, hidsize)`` is registered after
    ``final_ln``, so its keys come last in the net's state dict, as in STEVE-1's.

    Raises:
        ValueError: ``goal_dim < 1``; and see :class:`VPT.lib.policy.MinecraftPolicy`.
    """

    def __init__(self, goal_dim: int, **policy_kwargs: Any):
        if int(goal_dim) < 1:
            raise ValueError(f"goal_dim must be >= 1, got {goal_dim}")
        super().__init__(**policy_kwargs)
        self.goal_dim = int(goal_dim)
        self.mineclip_embed_linear = nn.Linear(self.goal_dim, self.hidsize)

    def condition(self, x: torch.Tensor, ob: Mapping[str, torch.Tensor], first: torch.Tensor) -> torch.Tensor:
        """Add the projected goal to the image embedding ``x`` float ``[B, T, hidsize]``.

        Raises:
            ValueError: ``ob["mineclip_embed"]`` is missing or not ``[B, T, goal_dim]``.
        """
        goal = ob.get(GOAL_KEY)
        if goal is None or tuple(goal.shape) != (*first.shape, self.goal_dim):
            got = "nothing" if goal is None else list(goal.shape)
            raise ValueError(f"goal-conditioned policy: ob['{GOAL_KEY}'] must be float [B, T, {self.goal_dim}] = "
                             f"{[*first.shape, self.goal_dim]}, got {got}")
        return x + self.mineclip_embed_linear(goal.to(x.dtype))


def explain_goal_weights_mismatch(missing: List[str], unexpected: List[str],
                                  shape_errors: List[ShapeError]) -> List[str]:
    """Likely causes of a weights mismatch that involves the goal projection (an ``explain`` for
    :func:`VPT.lib.loading.load_policy_weights`): STEVE-1 weights into a plain VPT policy and the reverse."""
    causes = []
    if any(k.startswith(GOAL_KEY_PREFIX) for k in unexpected):
        causes.append(
            f"these look like STEVE-1 (goal-conditioned) weights (they have {GOAL_KEY_PREFIX}*): load them with "
            "steve1's MineRLConditionalAgent, or build the policy as steve1.embed_conditioned_policy."
            "GoalConditionedAgentPolicy(..., goal_dim=<goal embedding size>)")
    if any(k.startswith(GOAL_KEY_PREFIX) for k in missing):
        causes.append(
            f"these look like plain VPT weights (no {GOAL_KEY_PREFIX}*) loaded into a goal-conditioned policy: load "
            "them with VPT.agent.MineRLAgent, or pass strict=False (steve1: allow_missing_goal_linear=True) to start "
            "goal-conditioned training from VPT (mineclip_embed_linear keeps its initialisation)")
    return causes


class GoalConditionedAgentPolicy(MinecraftAgentPolicy):
    """VPT policy conditioned on a goal embedding, with classifier-free guidance in :meth:`act` (module docstring).

    Args:
        action_space: gymnasium action space (see :class:`VPT.lib.policy.MinecraftAgentPolicy`).
        policy_kwargs: VPT ``policy_kwargs`` (from :func:`load_model_config`); a ``goal_dim`` entry must agree with
            ``goal_dim``.
        pi_head_kwargs: action-head options (``temperature``).
        goal_dim: goal-embedding size ``D`` (512 for MineCLIP).

    ``net`` is a :class:`GoalConditionedMinecraftPolicy`. State-dict keys: the VPT ``net.*`` keys, then
    ``net.mineclip_embed_linear.{weight [hidsize, D], bias [hidsize]}``, then the heads (STEVE-1's order).

    Raises:
        ValueError: ``policy_kwargs['goal_dim']`` contradicts ``goal_dim``, or ``goal_dim < 1``.
    """

    net_class = GoalConditionedMinecraftPolicy

    def __init__(self, action_space: Any, policy_kwargs: Mapping[str, Any],
                 pi_head_kwargs: Optional[Mapping[str, Any]] = None, goal_dim: int = DEFAULT_GOAL_DIM):
        policy_kwargs = dict(policy_kwargs)
        given = policy_kwargs.get("goal_dim")
        if given is not None and int(given) != int(goal_dim):
            raise ValueError(f"policy_kwargs goal_dim={given} contradicts goal_dim={goal_dim}")
        if int(goal_dim) < 1:
            raise ValueError(f"goal_dim must be >= 1, got {goal_dim}")
        policy_kwargs["goal_dim"] = int(goal_dim)
        super().__init__(action_space, policy_kwargs, pi_head_kwargs)
        self.goal_dim = int(goal_dim)

    def explain_weights_mismatch(self, missing: List[str], unexpected: List[str],
                                 shape_errors: List[ShapeError]) -> List[str]:
        """:func:`explain_goal_weights_mismatch` (used by :func:`VPT.lib.loading.load_policy_weights`)."""
        return explain_goal_weights_mismatch(missing, unexpected, shape_errors)

    @staticmethod
    def state_batch_size(state: Sequence[Any]) -> int:
        """Batch size of a recurrent state (list over blocks of ``(mask, (K, V))``)."""
        return int(state[0][1][0].shape[0])

    @torch.inference_mode()
    def act(self, obs: Mapping[str, torch.Tensor], first: torch.Tensor, state_in: Sequence[Any],
            stochastic: bool = True, taken_action: Any = None, return_pd: bool = False,
            cond_scale: Optional[float] = None):
        """One step for ``B`` sequences, with classifier-free guidance when ``cond_scale`` is given (spec §5.2).

        Args:
            obs: ``{"img": uint8 [B, H, W, 3], "mineclip_embed": float [B, goal_dim]}`` (no time axis).
            first: bool ``[B]``, True at an episode start.
            state_in: recurrent state of ``B`` rows (``cond_scale is None``) or ``2B`` rows (with guidance; layout in
                the module docstring): ``initial_state(B)`` / ``initial_state(2 * B)`` at the start.
            stochastic: Gumbel-max sample instead of argmax.
            taken_action: score this action (per head int64 ``[B, 1]``) instead of choosing one.
            return_pd: also return the (guided) distribution.
            cond_scale: guidance scale ``λ`` (``None``: the plain conditional policy; ``0.0`` gives the same actions
                through the two-row path; PTGM uses 7.0).

        Returns:
            ``(action, state_out, result)``: ``action`` per head int64 ``[B, 1]``; ``state_out`` with ``B`` (or
            ``2B``) rows; ``result = {"log_prob": [B], "vpred": [B, 1] (or [2B, 1]: per row, not combined)}`` plus
            ``"pd"`` per head ``[B, 1, n]`` (the guided log-probs, not renormalised) with ``return_pd``.

        Raises:
            ValueError: a goal that is not ``[B, goal_dim]``, or a state whose batch is not ``B``/``2B``.
        """
        if cond_scale is None:
            return super().act(obs, first, state_in, stochastic=stochastic, taken_action=taken_action,
                                return_pd=return_pd)
        img, goal = obs["img"], obs.get(GOAL_KEY)
        batch = int(img.shape[0])
        if goal is None or tuple(goal.shape) != (batch, self.goal_dim):
            got = "nothing" if goal is None else list(goal.shape)
            raise ValueError(f"act: obs['{GOAL_KEY}'] must be float [B, {self.goal_dim}] = [{batch}, "
                             f"{self.goal_dim}], got {got}")
        if self.state_batch_size(state_in) != 2 * batch:
            raise ValueError(f"act with cond_scale: the state must have 2B = {2 * batch} rows ([cond; uncond], "
                             f"initial_state(2 * B)), got {self.state_batch_size(state_in)}")
        # each frame goes through the image encoder once; its features feed both rows (the goal is added after it)
        feats = self.net.encode_images(img.unsqueeze(1))
        rows = {key: torch.cat([value, value], dim=0).unsqueeze(1)
                for key, value in obs.items() if key not in ("img", GOAL_KEY)}
        rows["img_features"] = torch.cat([feats, feats], dim=0)
        rows[GOAL_KEY] = torch.cat([goal, torch.zeros_like(goal)], dim=0).unsqueeze(1)
        first_rows = torch.cat([first, first], dim=0).unsqueeze(1)
        (pd, vpred, _), state_out = self(rows, first_rows, state_in)
        pd = tree_map(lambda x: (1.0 + cond_scale) * x[:batch] - cond_scale * x[batch:], pd)
        return self._act_on_pd(pd, vpred, state_out, stochastic, taken_action, return_pd)
