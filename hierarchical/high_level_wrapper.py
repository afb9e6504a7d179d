"""The hierarchical environment of PTGM's high level: one SB3 ``VecEnv`` step = one goal executed for up to
``low_level_steps`` env steps by the frozen goal-conditioned low-level policy (paper §4.3, spec §9.2-§9.3).

Design (why this is not upstream's ``HighlevelWrapper`` + forked RecurrentPPO; see also :mod:`sb3_vpt.policy`):
the high-level policy's image encoder and transformer are frozen, so the features they give at decision ``k`` are a
deterministic function of the episode's decision frames. :class:`HighlevelVecEnv` therefore runs that frozen trunk
itself, carrying its recurrent (key/value) state per env, and returns the features ``float32 [hidsize]`` of each
decision frame as the observation. SB3 only sees a feed-forward problem over those features and trains the
trainable head (:class:`sb3_vpt.policy.VPTHeadPolicy`) with ``stable_baselines3.PPO``'s own loop: no stored
caches, the exact rollout-time context at training time (fixes spec §12.1.4 and §12.1.5), SB3 ``VecEnv`` semantics
with the auto-reset inside the VecEnv and the terminal observation in ``info`` (fixes the double reset §12.1.1).

One high-level step, for each of the ``n`` envs (all networks batched over envs, under ``torch.inference_mode``):

1. the action is a code index (``Discrete(N)``: goal = ``codebook.codes[k]``) or a goal embedding
   (``Box(D,)``, the continuous-goal ablation: a ``(1, D)`` goal per env, clipped to the bounds; fix §12.1.2);
2. the goal prior's distribution at the decision state s_k was computed after the decision frame; the KL reward
   ``-kl_reward * KL(pi_high(.|s_k) || prior(.|s_k))`` is computed in :meth:`step_async` from the attached SB3
   policy's distribution on the observation this VecEnv last returned (the same s_k, the same logits the action
   was sampled from), i.e. *before* the goal is executed (spec §9.3). ``kl_direction="reverse"`` uses
   KL(prior || pi_high) instead (mode-covering in pi_high: it penalises codes the prior likes and the policy drops;
   the default "forward" direction, as upstream, penalises codes the policy picks that the prior finds unlikely).
   Each distribution uses its own softmax temperature (the policy's; the prior's from its model config);
3. the low-level policy acts ``low_level_steps`` times with classifier-free guidance (``cond_scale``, one recurrent
   state per branch: 2n rows), each env's reward is summed, the goal prior sees **every** frame (its own
   recurrent state, spec §8.3): the segment's frames go through it as one chunk ``[n, k]`` after the segment (only
   its distribution at the last frame, the next decision state, is used; a chunk gives the same outputs as stepping
   frame by frame in one call instead of k, which costs less per frame on a CPU; deliberate difference from upstream,
   which steps it with the env);
4. an env whose episode terminates or truncates stops its segment early and waits for the others (its networks'
   rows keep running on its last frame and are ignored: every one of them restarts with ``first=True`` at the next
   episode, so nothing leaks); the low-level policy keeps its state across goals within an episode (spec §5.2);
5. the trunk is stepped once on each env's last frame (the next decision frame, or the terminal frame, whose
   features go to ``info['terminal_observation']``); ended envs are reset and the trunk and prior stepped on their
   first frame with ``first=True``; the low-level policy gets ``first=True`` on its next step.

``info`` of each env after every step: ``env_steps`` (env steps taken in this segment), ``reward_env`` (their summed
env reward), ``reward_kl`` (the KL term, <= 0), ``kl``, ``success`` (any env ``info['success']`` in the segment),
``goal`` (code index or vector), ``prior_logprobs`` (float32 [N], the prior at the new decision state; with a
prior). At an episode end also ``is_success`` (success at any step of the episode), ``death_cause`` (when the env
reports one: Crafter's ``tasks.crafter.env.death_cause``), ``episode`` =
``{'r': summed high-level reward, 'r_env': summed env reward, 'l': length in ENV steps, 'l_high': decisions,
't': seconds since construction}``, ``terminal_observation`` (trunk features of the last frame), ``terminated``,
``truncated``, ``TimeLimit.truncated`` (see ``bootstrap_truncation``), and with ``record_frames=True``
``episode_frames`` (uint8 [L + 1, H, W, 3], every frame of the episode) and ``decision_steps`` (indices of the
decision frames in it). Nothing is rendered.

Device handling: the three networks must already be on ``device`` (``ppo_highlevel.py`` picks ``cuda`` if
available unless ``--cpu``/``--device``); frames are moved there per step; rewards, observations and infos are
NumPy on the CPU. The attached SB3 policy may live on its own device.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional, Sequence, Union

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

from VPT.lib.frames import resize_for_agent

__all__ = ["HighlevelVecEnv", "categorical_kl", "kl_reward_term", "state_take", "state_put", "step_rows",
           "KL_DIRECTIONS"]

KL_DIRECTIONS = ("forward", "reverse")


def categorical_kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """``KL(p || q) = sum_j p_j (log p_j - log q_j)`` for normalised log-probabilities ``[..., N]`` -> ``[...]``."""
    return (logp.exp() * (logp - logq)).sum(dim=-1)


def kl_reward_term(policy_logp: torch.Tensor, prior_logp: torch.Tensor, kl_reward: float,
                   direction: str = "forward") -> tuple[torch.Tensor, torch.Tensor]:
    """The KL part of the high-level reward (spec §9.3): ``(-kl_reward * KL, KL)``.

    Args:
        policy_logp: float [B, N] log-probabilities of pi_high at s_k (its temperature applied).
        prior_logp: float [B, N] log-probabilities of the goal prior at s_k (its temperature applied).
        kl_reward: alpha >= 0.
        direction: ``"forward"`` = KL(pi_high || prior) (upstream), ``"reverse"`` = KL(prior || pi_high).
    Raises:
        ValueError: unknown direction or mismatched shapes.
    """
    if direction not in KL_DIRECTIONS:
        raise ValueError(f"kl_direction must be one of {KL_DIRECTIONS}, got {direction!r}")
    if policy_logp.shape != prior_logp.shape:
        raise ValueError(f"policy log-probs {tuple(policy_logp.shape)} and prior log-probs "
                         f"{tuple(prior_logp.shape)} differ: the prior must be over the same N codes")
    kl = categorical_kl(policy_logp, prior_logp) if direction == "forward" else categorical_kl(prior_logp, policy_logp)
    return -float(kl_reward) * kl, kl


def state_take(state: Sequence, rows: torch.Tensor) -> list:
    """Rows ``rows`` of a VPT recurrent state (list over blocks of ``(mask or None, (K, V))``, batch first)."""
    return [(None if m is None else m[rows], (k[rows], v[rows])) for m, (k, v) in state]


def state_put(state: Sequence, rows: torch.Tensor, sub: Sequence) -> list:
    """A new state equal to ``state`` with rows ``rows`` replaced by ``sub`` (inputs are not modified).

    A ``None`` mask means "no valid memory slot" and becomes an all-False bool ``[B, 1, maxlen]`` when merged.
    """
    out = []
    for (m, (k, v)), (sm, (sk, sv)) in zip(state, sub):
        k = k.clone()
        v = v.clone()
        k[rows] = sk
        v[rows] = sv
        if m is None and sm is None:
            mask = None
        else:
            mask = torch.zeros(k.shape[0], 1, k.shape[1], dtype=torch.bool, device=k.device) if m is None else m.clone()
            mask[rows] = False if sm is None else sm
        out.append((mask, (k, v)))
    return out


def step_rows(step, state: Sequence, rows: Optional[np.ndarray], device) -> tuple[Any, list]:
    """Run a recurrent ``step(state) -> (out, new_state)`` on every row of ``state`` (``rows`` None) or only on the
    env rows ``rows`` (int array; :func:`state_take` / :func:`state_put`, the other rows' state unchanged).

    Returns:
        ``(out, state)``: ``step``'s output (for ``rows`` only when given) and the full new state.
    """
    if rows is None:
        return step(state)
    idx = torch.as_tensor(rows, device=device)
    out, sub = step(state_take(state, idx))
    return out, state_put(state, idx, sub)


def _tree_to_numpy(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _tree_to_numpy(v) for k, v in x.items()}
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _tree_row(x: Any, i: int) -> Any:
    if isinstance(x, dict):
        return {k: _tree_row(v, i) for k, v in x.items()}
    return x[i:i + 1].reshape(1, -1)


class HighlevelVecEnv(VecEnv):
    """n raw envs + frozen low-level policy, goal prior and high-level trunk, as one SB3 ``VecEnv`` (module doc).

    Args:
        envs: n gymnasium envs (``tasks.make(name)``) with observations ``{'pov': uint8 [H, W, 3]}``.
        low_level: the frozen goal-conditioned policy, a ``steve1.embed_conditioned_policy.GoalConditionedAgentPolicy``
            (its ``act`` with ``cond_scale`` runs the 2n guidance rows), on ``device``.
        trunk: the frozen high-level trunk (:class:`sb3_vpt.policy.VPTTrunk`), on ``device``.
        agent_action_to_env: the simulator plugin's conversion of one env's agent action (batch 1: a dict of int64
            ``[1, 1]`` arrays, or an int64 ``[1, 1]`` array) to the env's action.
        codebook: the goal codebook (``goal_prior.codebook.KMeansCodebook``): ``Discrete(N)`` actions.
            ``None`` selects continuous goals (``goal_dim`` required).
        goal_dim: D of continuous goals; ``goal_bound``: their box is ``[-goal_bound, goal_bound]^D`` (10 upstream;
            required with continuous goals).
        prior: the goal prior (a ``VPT.lib.policy.MinecraftAgentPolicy`` with ``Discrete(N)`` actions), on
            ``device``; only with a codebook.
        cond_scale: classifier-free guidance scale lambda (7.0 upstream); None disables guidance.
        low_level_steps: env steps per goal, >= 1 (100 upstream).
        kl_reward: alpha of the KL term (0 disables it); needs a prior and :meth:`attach_policy`.
        kl_direction: ``"forward"`` KL(pi || prior) (upstream) or ``"reverse"`` KL(prior || pi).
        device: torch device of the networks.
        frame_size: (H, W) the networks expect; frames of another size are resized (``cv2.INTER_LINEAR``).
            None: use the env's frames as they are.
        record_frames: keep every frame of each episode for GIFs (``info['episode_frames']``).
        bootstrap_truncation: report time-limit truncation as ``info['TimeLimit.truncated']`` so SB3 bootstraps
            the value of the terminal observation (upstream: False, truncation treated as termination, spec §9.4
            step 10).

    The tunable values (``cond_scale``, ``low_level_steps``, ``kl_reward``, ``kl_direction``,
    ``bootstrap_truncation``, ``goal_bound``) have no defaults here: they come from the run's config
    (``configs/<sim>/highlevel.yaml``) through :func:`hierarchical.build.make_highlevel_env`.

    Raises:
        ValueError: inconsistent arguments (empty ``envs``, ``low_level_steps < 1`` (fix §12.1.15), a prior with
            continuous goals (fix §12.1.2: upstream fails a strict load later), a prior over a different N, a KL
            reward without a prior, an unknown ``kl_direction``).
    """

    def __init__(self, envs: Sequence[gymnasium.Env], low_level: torch.nn.Module, trunk: torch.nn.Module,
                 agent_action_to_env: Callable[[Any], Any], *, cond_scale: Optional[float], low_level_steps: int,
                 kl_reward: float, kl_direction: str, bootstrap_truncation: bool, codebook: Any = None,
                 goal_dim: Optional[int] = None, goal_bound: Optional[float] = None,
                 prior: Optional[torch.nn.Module] = None, device: Union[str, torch.device] = "cpu",
                 frame_size: Optional[tuple[int, int]] = None, record_frames: bool = False):
        if len(envs) == 0:
            raise ValueError("HighlevelVecEnv: need at least one env")
        if int(low_level_steps) < 1:
            raise ValueError(f"HighlevelVecEnv: low_level_steps must be >= 1, got {low_level_steps}")
        if kl_direction not in KL_DIRECTIONS:
            raise ValueError(f"HighlevelVecEnv: kl_direction must be one of {KL_DIRECTIONS}, got {kl_direction!r}")
        if float(kl_reward) < 0:
            raise ValueError(f"HighlevelVecEnv: kl_reward must be >= 0, got {kl_reward}")
        self.envs = list(envs)
        self.low_level = low_level
        self.trunk = trunk
        self.agent_action_to_env = agent_action_to_env
        self.codebook = codebook
        self.prior = prior
        self.cond_scale = None if cond_scale is None else float(cond_scale)
        self.low_level_steps = int(low_level_steps)
        self.kl_reward = float(kl_reward)
        self.kl_direction = kl_direction
        self.device = torch.device(device)
        self.frame_size = None if frame_size is None else (int(frame_size[0]), int(frame_size[1]))
        self.record_frames = bool(record_frames)
        self.bootstrap_truncation = bool(bootstrap_truncation)
        self.policy = None

        if codebook is not None:
            self.codes = torch.tensor(np.array(codebook.codes, dtype=np.float32), device=self.device)
            action_space: spaces.Space = spaces.Discrete(int(self.codes.shape[0]))
            self.goal_dim = int(self.codes.shape[1])
        else:
            if goal_dim is None or goal_bound is None:
                raise ValueError("HighlevelVecEnv: continuous goals (no codebook) need goal_dim and goal_bound")
            if prior is not None:
                raise ValueError("HighlevelVecEnv: a goal prior needs discrete goals (a codebook): the prior is a "
                                 "categorical distribution over the N codes (spec §12.1.2)")
            self.codes = None
            self.goal_dim = int(goal_dim)
            action_space = spaces.Box(-float(goal_bound), float(goal_bound), (self.goal_dim,), np.float32)
        if prior is not None:
            n_prior = getattr(getattr(prior, "action_space", None), "n", None)
            if n_prior is not None and int(n_prior) != action_space.n:
                raise ValueError(f"HighlevelVecEnv: the goal prior is over {n_prior} codes but the codebook has "
                                 f"{action_space.n}")
        if self.kl_reward > 0 and prior is None:
            raise ValueError("HighlevelVecEnv: kl_reward > 0 needs a goal prior")
        self.use_kl = prior is not None and self.kl_reward > 0
        hidsize = int(trunk.hidsize)
        observation_space = spaces.Box(-np.inf, np.inf, (hidsize,), np.float32)
        super().__init__(len(self.envs), observation_space, action_space)

        n = self.num_envs
        self._t_start = time.time()
        self._frames: Optional[np.ndarray] = None
        self._obs = np.zeros((n, hidsize), np.float32)
        self._goals: Optional[torch.Tensor] = None
        self._actions: Optional[np.ndarray] = None
        self._reward_kl = np.zeros(n, np.float32)
        self._kl = np.zeros(n, np.float32)
        self._prior_logp: Optional[torch.Tensor] = None
        self._ll_state = self._trunk_state = self._prior_state = None
        self._ll_first = np.ones(n, bool)
        self._ep_return = np.zeros(n)
        self._ep_return_env = np.zeros(n)
        self._ep_len = np.zeros(n, np.int64)
        self._ep_high = np.zeros(n, np.int64)
        self._ep_success = np.zeros(n, bool)
        self._ep_frames: list[list[np.ndarray]] = [[] for _ in range(n)]
        self._ep_decisions: list[list[int]] = [[] for _ in range(n)]
        self.total_env_steps = 0

    # ---- SB3 policy for the KL term ----------------------------------------------------------------------------
    def attach_policy(self, policy: Any) -> None:
        """Give the VecEnv the SB3 policy whose distribution enters the KL reward (``policy.action_log_probs``,
        e.g. :class:`sb3_vpt.policy.VPTHeadPolicy`). Call it once after building PPO (and after loading one)."""
        if not hasattr(policy, "action_log_probs"):
            raise TypeError("attach_policy: the policy needs action_log_probs(features) -> [B, N] log-probs "
                            "(sb3_vpt.policy.VPTHeadPolicy)")
        self.policy = policy

    # ---- frames and networks -------------------------------------------------------------------------------
    def _pov(self, obs: Any) -> np.ndarray:
        frame = obs["pov"] if isinstance(obs, dict) else obs
        frame = np.asarray(frame)
        if self.frame_size is not None and frame.shape[:2] != self.frame_size:
            frame = resize_for_agent(frame, self.frame_size)
        return frame

    def _img(self, frames: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)

    def _flags(self, flags: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(flags, dtype=torch.bool, device=self.device)

    def _trunk_step(self, frames: np.ndarray, first: np.ndarray, rows: Optional[np.ndarray] = None) -> np.ndarray:
        """Trunk features float32 [len(rows) or n, hidsize] of one frame per env (rows: a subset of envs)."""
        img = self._img(frames)[:, None]
        first_t = self._flags(first)[:, None]
        with torch.inference_mode():
            feats, self._trunk_state = step_rows(lambda s: self.trunk(img, first_t, s), self._trunk_state, rows,
                                                 self.device)
        return feats[:, 0].float().cpu().numpy()

    def _prior_step(self, frames: np.ndarray, first: np.ndarray, rows: Optional[np.ndarray] = None) -> torch.Tensor:
        """Goal-prior log-probs float32 [len(rows) or n, N] (CPU) after the last of the frames.

        ``frames``: uint8 [m, H, W, 3] (one frame per env) or [m, T, H, W, 3] (a chunk of T frames per env, run as
        one forward pass); ``first``: bool [m] (one flag per env, for the chunk's first frame).
        """
        img = self._img(frames)
        if img.dim() == 4:
            img = img[:, None]
        first_t = torch.zeros(img.shape[:2], dtype=torch.bool, device=self.device)
        first_t[:, 0] = self._flags(first)
        with torch.inference_mode():
            (pd, _, _), self._prior_state = step_rows(lambda s: self.prior({"img": img}, first_t, s),
                                                      self._prior_state, rows, self.device)
        return pd[:, -1, 0, :].float().cpu()

    # ---- VecEnv API --------------------------------------------------------------------------------------------
    def reset(self) -> np.ndarray:
        n = self.num_envs
        frames = []
        for i, env in enumerate(self.envs):
            options = {"options": self._options[i]} if self._options[i] else {}
            obs, self.reset_infos[i] = env.reset(seed=self._seeds[i], **options)
            frames.append(self._pov(obs))
        self._reset_seeds()
        self._reset_options()
        self._frames = np.stack(frames)
        self._ll_state = self.low_level.initial_state(n if self.cond_scale is None else 2 * n)
        self._ll_first[:] = True
        self._trunk_state = self.trunk.initial_state(n)
        first = np.ones(n, bool)
        self._obs = self._trunk_step(self._frames, first)
        if self.prior is not None:
            self._prior_state = self.prior.initial_state(n)
            self._prior_logp = self._prior_step(self._frames, first)
        self._ep_return[:] = 0
        self._ep_return_env[:] = 0
        self._ep_len[:] = 0
        self._ep_high[:] = 0
        self._ep_success[:] = False
        for i in range(n):
            self._ep_frames[i] = [self._frames[i].copy()] if self.record_frames else []
            self._ep_decisions[i] = [0] if self.record_frames else []
        return self._obs.copy()

    def _goals_from_actions(self, actions: np.ndarray) -> torch.Tensor:
        actions = np.asarray(actions)
        n = self.num_envs
        if self.codes is not None:
            idx = actions.reshape(-1).astype(np.int64)
            if idx.shape[0] != n:
                raise ValueError(f"HighlevelVecEnv: expected {n} code indices, got actions of shape {actions.shape}")
            if idx.min() < 0 or idx.max() >= self.codes.shape[0]:
                raise IndexError(f"HighlevelVecEnv: code index out of range [0, {self.codes.shape[0]}): {idx}")
            return self.codes[torch.as_tensor(idx, device=self.device)]
        goals = actions.astype(np.float32).reshape(n, -1)  # one (1, D) goal per env (fix §12.1.2)
        if goals.shape[1] != self.goal_dim:
            raise ValueError(f"HighlevelVecEnv: expected goals of shape ({n}, {self.goal_dim}), got {actions.shape}")
        goals = np.clip(goals, self.action_space.low, self.action_space.high)
        return torch.as_tensor(goals, device=self.device)

    def step_async(self, actions: np.ndarray) -> None:
        if self._frames is None:
            raise RuntimeError("HighlevelVecEnv: call reset() before step()")
        self._actions = np.asarray(actions)
        self._goals = self._goals_from_actions(actions)
        self._reward_kl[:] = 0.0
        self._kl[:] = 0.0
        if self.use_kl:
            if self.policy is None:
                raise RuntimeError("HighlevelVecEnv: kl_reward > 0 needs the SB3 policy: call attach_policy(model.policy)")
            with torch.inference_mode():
                obs = torch.as_tensor(self._obs, device=self.policy.device)
                policy_logp = self.policy.action_log_probs(obs).float().cpu()
            reward_kl, kl = kl_reward_term(policy_logp, self._prior_logp, self.kl_reward, self.kl_direction)
            self._reward_kl[:] = reward_kl.numpy()
            self._kl[:] = kl.numpy()

    def step_wait(self):
        n = self.num_envs
        active = np.ones(n, bool)
        seg_steps = np.zeros(n, np.int64)
        seg_reward = np.zeros(n, np.float64)
        seg_success = np.zeros(n, bool)
        terminated = np.zeros(n, bool)
        truncated = np.zeros(n, bool)
        env_infos: list[dict] = [{} for _ in range(n)]
        no_first = np.zeros(n, bool)
        segment_frames = []  # every env's frame after each env step: the goal prior's chunk
        for _ in range(self.low_level_steps):
            with torch.inference_mode():
                action, self._ll_state, _ = self.low_level.act(
                    {"img": self._img(self._frames), "mineclip_embed": self._goals}, self._flags(self._ll_first),
                    self._ll_state, cond_scale=self.cond_scale)
            self._ll_first[:] = False
            action = _tree_to_numpy(action)
            for i in np.flatnonzero(active):
                obs, reward, term, trunc, info = self.envs[i].step(self.agent_action_to_env(_tree_row(action, i)))
                self._frames[i] = self._pov(obs)
                seg_steps[i] += 1
                seg_reward[i] += float(reward)
                seg_success[i] |= bool(info.get("success", False))
                env_infos[i] = info
                if self.record_frames:
                    self._ep_frames[i].append(self._frames[i].copy())
                if term or trunc:
                    active[i] = False
                    terminated[i], truncated[i] = bool(term), bool(trunc)
            if self.prior is not None:
                segment_frames.append(self._frames.copy())
            if not active.any():
                break
        if self.prior is not None:
            self._prior_logp = self._prior_step(np.stack(segment_frames, axis=1), no_first)

        dones = terminated | truncated
        self.total_env_steps += int(seg_steps.sum())
        rewards = (seg_reward + self._reward_kl).astype(np.float32)
        obs = self._trunk_step(self._frames, no_first)  # next decision frame, or terminal frame
        self._ep_return += rewards
        self._ep_return_env += seg_reward
        self._ep_len += seg_steps
        self._ep_high += 1
        self._ep_success |= seg_success
        infos = []
        for i in range(n):
            info = {"env_steps": int(seg_steps[i]), "reward_env": float(seg_reward[i]),
                    "reward_kl": float(self._reward_kl[i]), "kl": float(self._kl[i]),
                    "success": bool(seg_success[i]), "goal": self._actions[i].copy(),
                    "TimeLimit.truncated": False}
            if "sim_restarted" in env_infos[i]:
                info["sim_restarted"] = True
            infos.append(info)

        ended = np.flatnonzero(dones)
        for i in ended:
            info = infos[i]
            info["terminal_observation"] = obs[i].copy()
            info["terminated"], info["truncated"] = bool(terminated[i]), bool(truncated[i])
            info["TimeLimit.truncated"] = bool(self.bootstrap_truncation and truncated[i] and not terminated[i])
            info["is_success"] = bool(self._ep_success[i])
            if env_infos[i].get("death_cause") is not None:  # Crafter: what killed the player
                info["death_cause"] = env_infos[i]["death_cause"]
            info["episode"] = {"r": float(self._ep_return[i]), "r_env": float(self._ep_return_env[i]),
                               "l": int(self._ep_len[i]), "l_high": int(self._ep_high[i]),
                               "t": round(time.time() - self._t_start, 6)}
            if self.record_frames:
                info["episode_frames"] = np.stack(self._ep_frames[i])
                info["decision_steps"] = list(self._ep_decisions[i])
            reset_obs, self.reset_infos[i] = self.envs[i].reset()
            self._frames[i] = self._pov(reset_obs)
            self._ep_return[i] = self._ep_return_env[i] = 0.0
            self._ep_len[i] = self._ep_high[i] = 0
            self._ep_success[i] = False
            self._ep_frames[i] = [self._frames[i].copy()] if self.record_frames else []
            self._ep_decisions[i] = [0] if self.record_frames else []
        for i in np.flatnonzero(~dones):
            if self.record_frames:
                self._ep_decisions[i].append(len(self._ep_frames[i]) - 1)
        if ended.size:
            first = np.ones(ended.size, bool)
            obs[ended] = self._trunk_step(self._frames[ended], first, rows=ended)
            self._ll_first[ended] = True
            if self.prior is not None:
                self._prior_logp = self._prior_logp.clone()
                self._prior_logp[torch.as_tensor(ended)] = self._prior_step(self._frames[ended], first, rows=ended)
        if self.prior is not None:
            for i in range(n):
                infos[i]["prior_logprobs"] = self._prior_logp[i].numpy().copy()
        self._obs = obs
        return obs.copy(), rewards, dones, infos

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def get_images(self) -> Sequence[Optional[np.ndarray]]:
        """The current frame of every env (uint8 [H, W, 3])."""
        if self._frames is None:
            return [None] * self.num_envs
        return [frame.copy() for frame in self._frames]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [self.envs[i].get_wrapper_attr(attr_name) for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for i in self._get_indices(indices):
            setattr(self.envs[i], attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        return [self.envs[i].get_wrapper_attr(method_name)(*method_args, **method_kwargs)
                for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gymnasium.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        from stable_baselines3.common import env_util

        return [env_util.is_wrapped(self.envs[i], wrapper_class) for i in self._get_indices(indices)]
