"""The MineDojo wrapper stack of the five PTGM tasks (spec §10.3, §10.4), as gymnasium wrappers.

Inner to outer (spec §10.3; :func:`tasks.minedojo.make_env` assembles it)::

    MineDojo meta task (gym 0.21 API; its simulator replaced by SemifastReset when ``fast_reset``)
    -> MinedojoGymnasium   old gym API -> gymnasium API (terminated = MineDojo's done, truncated = False)
    -> TerminalWrapper      max_steps (truncation) and on_death (termination)
    -> ClipRewardWrapper    MineCLIP dense shaping (all five tasks)
    -> VPTActionWrapper     obs {'pov': uint8 128x128x3}; MineRL env action -> MineDojo action dict
    -> RestartOnCrash       a simulator exception rebuilds the whole stack and the run goes on

Everything here is written against MineDojo's *interface* only (observation dict with ``rgb`` (3, 160, 256)
uint8, ``inventory``, ``life_stats``, ``location_stats``; action handlers with ``to_string()`` and
``space.no_op()``; ``is_successful``), so it imports without MineDojo and is tested against a stand-in env.

Where we deliberately differ from upstream:

* gymnasium API instead of gym 0.21. Reaching ``max_steps`` *truncates* the episode and death or success
  *terminates* it (upstream folds both into ``done``). The high-level VecEnv treats both as an episode end, as
  upstream does (see :mod:`hierarchical.high_level_wrapper` for bootstrapping).
* ``VPTActionWrapper.step`` takes only the MineRL env-format action (what the low-level policy emits through
  ``VPT.lib.action_mapping.agent_action_to_env``); upstream's unused ``MultiDiscrete`` path is left out. Values are
  passed per handler as scalars (buttons) and a ``(2,)`` float array (camera) instead of ``(1,)``/``(1, 2)`` arrays.
* :class:`RestartOnCrash` is new: upstream dies with the simulator.
* The MineCLIP reward's ``minedojo_obs``/``clip_video_feats`` side channels (dead MineAgent hook) are dropped.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Any, Callable, Optional, Sequence

import gymnasium
import numpy as np
import torch
from gymnasium import spaces

from VPT.lib.actions import Buttons
from VPT.lib.frames import AGENT_RESOLUTION, resize_for_agent

__all__ = [
    "FROZEN_EQUIPMENT_KEYS",
    "MinedojoGymnasium",
    "TerminalWrapper",
    "ClipRewardWrapper",
    "VPTActionWrapper",
    "SemifastReset",
    "RestartOnCrash",
    "mineclip_score",
]

logger = logging.getLogger(__name__)

#: Keys removed from the action when ``freeze_equipped`` (spec §10.4): the agent cannot drop, swap or change the
#: held item.
FROZEN_EQUIPMENT_KEYS: tuple[str, ...] = ("drop", "swap_slot", "pickItem") + tuple(f"hotbar.{i}" for i in range(1, 10))


class MinedojoGymnasium(gymnasium.Env):
    """A MineDojo task env (gym 0.21 API) in the gymnasium API.

    ``reset`` returns ``(obs, {})``; ``step`` returns ``(obs, reward, terminated=done, truncated=False, info)``.
    ``obs`` is MineDojo's observation dict unchanged. Observation and action spaces are MineDojo's own (gym
    spaces); the outer :class:`VPTActionWrapper` declares gymnasium spaces.

    MineDojo seeds its world when the task is made (``seed`` in ``sim_specs``), so ``reset(seed=...)`` only seeds
    this wrapper's ``np_random``.

    Args:
        task_env: the MineDojo meta-task env (``minedojo.tasks._meta_task_make(...)``) or a stand-in with the same
            interface: ``reset() -> obs``, ``step(action) -> (obs, reward, done, info)``, ``is_successful``,
            ``unwrapped._sim_spec.actionables`` (handlers with ``to_string()`` and ``space.no_op()``), ``close()``.
    """

    metadata = {"render_modes": []}

    def __init__(self, task_env: Any):
        self.task_env = task_env
        self.observation_space = getattr(task_env, "observation_space", None)
        self.action_space = getattr(task_env, "action_space", None)
        self.render_mode = None

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        return self.task_env.reset(), {}

    def step(self, action: dict):
        obs, reward, done, info = self.task_env.step(action)
        return obs, float(reward), bool(done), False, dict(info)

    @property
    def is_successful(self) -> bool:
        """MineDojo's success check of the meta task (target reached)."""
        return bool(getattr(self.task_env, "is_successful", False))

    def action_handlers(self) -> list[tuple[str, Any]]:
        """``[(name, no_op value)]`` of the simulator's action handlers (``unwrapped._sim_spec.actionables``)."""
        sim = getattr(self.task_env, "unwrapped", self.task_env)
        return [(h.to_string(), h.space.no_op()) for h in sim._sim_spec.actionables]

    def close(self):
        self.task_env.close()


class TerminalWrapper(gymnasium.Wrapper):
    """Episode end on a step budget and on death (DECKARD ``TerminalWrapper``, spec §10.4).

    After every env step ``t += 1``; ``truncated |= t >= max_steps``; with ``on_death``, ``terminated |=
    obs['life_stats']['life'] == 0``. ``info['TimeLimit.truncated']`` is not set here (the VecEnv decides).

    Args:
        env: gymnasium env whose observations are MineDojo observation dicts.
        max_steps: episode length limit in env steps (frames), > 0. Default 500 as upstream.
        on_death: end the episode when the agent dies.
    Raises:
        ValueError: ``max_steps <= 0``.
    """

    def __init__(self, env: gymnasium.Env, max_steps: int = 500, on_death: bool = True):
        super().__init__(env)
        if int(max_steps) <= 0:
            raise ValueError(f"TerminalWrapper: max_steps must be > 0, got {max_steps}")
        self.max_steps = int(max_steps)
        self.on_death = bool(on_death)
        self.t = 0

    def reset(self, **kwargs):
        self.t = 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.t += 1
        if self.t >= self.max_steps:
            truncated = True
        if self.on_death and float(np.asarray(obs["life_stats"]["life"]).reshape(-1)[0]) == 0:
            terminated = True
            info["dead"] = True
        return obs, reward, terminated, truncated, info


def mineclip_score(logit_buffer: Sequence[float], clip_min: float, clip_target: float) -> float:
    """DECKARD's MineCLIP progress score: ``max(mean(buffer) - clip_min, 0) / (clip_target - clip_min)``.

    No upper clip (a mean logit above ``clip_target`` gives a score above 1), as upstream.
    """
    return max(float(np.mean(np.asarray(logit_buffer, dtype=np.float64))) - clip_min, 0.0) / (clip_target - clip_min)


class ClipRewardWrapper(gymnasium.Wrapper):
    """MineCLIP dense reward shaping (DECKARD ``ClipWrapper``; spec §10.4; active on all five tasks).

    Every env step:

    1. the current frame's MineCLIP image feature is pooled with the previous 15 (zeros at episode start; the
       reset frame is not part of the history, as upstream) into a video feature;
    2. its reward-head logit against the **first** prompt (logit scale x cosine, about 20-30) enters a FIFO of at
       most ``smoothing`` values;
    3. ``score = max(mean(FIFO) - clip_min, 0) / (clip_target - clip_min)``;
    4. if ``score`` exceeds the best score so far in the episode, ``reward += dense_reward * score`` (the score
       itself, not its increment) and the best score is updated.

    ``info['clip_reward']`` holds the shaping term added at this step (0.0 when none).

    Args:
        env: gymnasium env with MineDojo observation dicts (``rgb`` uint8 (3, 160, 256)).
        scorer: object with ``image_features(rgb uint8 [3, H, W]) -> float tensor [F]`` and
            ``logits(window float [16, F]) -> float tensor [P]`` (one logit per prompt);
            :class:`tasks.minedojo.clip_reward.MineCLIPPromptScorer` is the MineCLIP one.
        prompts: the task's prompts (``clip_specs.prompts``); the scorer was built for them. Must be non-empty.
        dense_reward: shaping scale (0.01).
        clip_target, clip_min: logit band mapped to score 1 and 0 (23, 21).
        smoothing: FIFO length of the running mean, in env steps (50).
    Raises:
        ValueError: empty prompts, ``clip_target <= clip_min`` or ``smoothing < 1``.
    """

    WINDOW = 16

    def __init__(self, env: gymnasium.Env, scorer: Any, prompts: Sequence[str], dense_reward: float = 0.01,
                 clip_target: float = 23.0, clip_min: float = 21.0, smoothing: int = 50):
        super().__init__(env)
        if not prompts:
            raise ValueError("ClipRewardWrapper: prompts must be a non-empty list of strings")
        if clip_target <= clip_min:
            raise ValueError(f"ClipRewardWrapper: clip_target ({clip_target}) must exceed clip_min ({clip_min})")
        if int(smoothing) < 1:
            raise ValueError(f"ClipRewardWrapper: smoothing must be >= 1, got {smoothing}")
        self.scorer = scorer
        self.prompts = list(prompts)
        self.dense_reward = float(dense_reward)
        self.clip_target = float(clip_target)
        self.clip_min = float(clip_min)
        self.smoothing = int(smoothing)
        self._past: Optional[torch.Tensor] = None  # float [15, F] image features before the current frame
        self._buffer: deque = deque(maxlen=self.smoothing)
        self.best_score = 0.0

    def reset(self, **kwargs):
        self._past = None
        self._buffer.clear()
        self.best_score = 0.0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        feature = torch.as_tensor(self.scorer.image_features(obs["rgb"])).reshape(-1).float()
        past = self._past if self._past is not None else torch.zeros(self.WINDOW - 1, feature.shape[0])
        window = torch.cat([past, feature[None]], dim=0)
        logits = torch.as_tensor(self.scorer.logits(window)).reshape(-1)
        self._past = window[1:]
        self._buffer.append(float(logits[0]))
        score = mineclip_score(self._buffer, self.clip_min, self.clip_target)
        shaping = 0.0
        if score > self.best_score:
            shaping = self.dense_reward * score
            self.best_score = score
        info["clip_reward"] = shaping
        return obs, reward + shaping, terminated, truncated, info


class VPTActionWrapper(gymnasium.Wrapper):
    """Agent-facing observation and action for the VPT/STEVE-1 low-level policy (DECKARD ``VPTWrapper``, spec §10.4).

    Observation: ``{'pov': uint8 [128, 128, 3]}``, MineDojo's ``rgb`` transposed to HWC and resized with
    ``cv2.INTER_LINEAR`` (``VPT.lib.frames.resize_for_agent``).

    Action: a MineRL env-format dict (the 20 ``Buttons.ALL`` keys as 0/1 scalars or ``(1,)`` arrays, ``camera``
    ``[pitch, yaw]`` degrees as ``(2,)`` or ``(1, 2)``), as produced by ``VPT.lib.action_mapping.agent_action_to_env``.
    With ``freeze_equipped`` the keys of :data:`FROZEN_EQUIPMENT_KEYS` are removed. The result is filtered over
    the simulator's action handlers: each handler gets the provided value or its no-op, so keys MineDojo lacks
    (``inventory``) are dropped silently, as upstream.

    ``info['success'] = info.get('success', False) or is_successful`` and ``info['is_success']`` the same.

    Args:
        env: gymnasium env over a :class:`MinedojoGymnasium` (``env.unwrapped`` has ``action_handlers()`` and
            ``is_successful``).
        freeze_equipped: remove the equipment-changing keys.
        resolution: (height, width) of ``pov``; the VPT agent's 128x128.
    """

    def __init__(self, env: gymnasium.Env, freeze_equipped: bool = False,
                 resolution: tuple[int, int] = AGENT_RESOLUTION):
        super().__init__(env)
        self.freeze_equipped = bool(freeze_equipped)
        self.resolution = (int(resolution[0]), int(resolution[1]))
        self.observation_space = spaces.Dict({"pov": spaces.Box(0, 255, self.resolution + (3,), np.uint8)})
        button_spaces = {name: spaces.Discrete(2) for name in Buttons.ALL}
        self.action_space = spaces.Dict({**button_spaces,
                                         "camera": spaces.Box(-180.0, 180.0, (2,), np.float32)})

    def _pov(self, obs: dict) -> dict:
        frame = np.ascontiguousarray(np.transpose(np.asarray(obs["rgb"]), (1, 2, 0)))
        return {"pov": resize_for_agent(frame, self.resolution)}

    def to_minedojo_action(self, action: dict) -> dict:
        """MineRL env-format action -> MineDojo action dict over the simulator's handlers (see class doc)."""
        action = dict(action)
        if self.freeze_equipped:
            for key in FROZEN_EQUIPMENT_KEYS:
                action.pop(key, None)
        out = {}
        for name, no_op in self.env.unwrapped.action_handlers():
            if name not in action:
                out[name] = no_op
            elif name == "camera":
                out[name] = np.asarray(action[name], dtype=np.float32).reshape(2)
            else:
                value = np.asarray(action[name])
                out[name] = value.reshape(-1)[0].item() if value.size == 1 else value
        return out

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return self._pov(obs), info

    def step(self, action: dict):
        obs, reward, terminated, truncated, info = self.env.step(self.to_minedojo_action(action))
        success = bool(info.pop("success", False)) or bool(self.env.unwrapped.is_successful)
        info["success"] = success
        info["is_success"] = success
        return self._pov(obs), reward, terminated, truncated, info


class SemifastReset:
    """Semi-fast reset of the MineDojo simulator (spec §10.4): ``reset_freq`` fast resets, then one hard reset.

    Sits *inside* the meta task in place of the simulator (so the meta task's reset hooks, e.g. mob spawning, run
    after every reset), in the simulator's gym 0.21 API. ``fast_env`` is MCEnv's ``FastResetWrapper`` around the same
    simulator (``/kill``, ``/time set``, ``/weather``, inventory refill, entity cleanup, teleport back to the birth
    position and a random ``/spreadplayers`` within ``random_teleport_range`` = 200 blocks); its own first reset is
    a real one. Reset ``k`` (0-based) is fast unless ``k % (reset_freq + 1) == reset_freq``, which hard-resets the
    simulator. Everything else is delegated to ``fast_env``.

    Args:
        sim: the MineDojo simulator (``MineDojoSim``).
        fast_env: the fast-reset wrapper around ``sim``.
        reset_freq: fast resets between hard resets (20 for the five tasks), >= 1.
    """

    def __init__(self, sim: Any, fast_env: Any, reset_freq: int = 100):
        if int(reset_freq) < 1:
            raise ValueError(f"SemifastReset: reset_freq must be >= 1, got {reset_freq}")
        self.sim = sim
        self.fast_env = fast_env
        self.reset_freq = int(reset_freq)
        self.reset_count = 0
        self.n_hard_resets = 0

    def reset(self, *args, **kwargs):
        if self.reset_count < self.reset_freq:
            self.reset_count += 1
            return self.fast_env.reset(*args, **kwargs)
        self.reset_count = 0
        self.n_hard_resets += 1
        return self.sim.reset(*args, **kwargs)

    def __getattr__(self, name: str):
        # only called for attributes not found on self: step, close, spaces, _sim_spec, ...
        if name in ("sim", "fast_env"):
            raise AttributeError(name)
        return getattr(self.fast_env, name)


class RestartOnCrash(gymnasium.Wrapper):
    """Rebuild the environment when the simulator raises, so a long run survives a Minecraft crash.

    If ``step`` raises, the event is logged (``logging`` warning with the traceback), the broken env is closed
    (errors ignored), a fresh one is built with ``make_env()`` and reset, and ``step`` returns that reset
    observation with reward 0, ``terminated=False``, ``truncated=True`` and ``info['sim_restarted'] = True``: the
    episode ends as truncated. The next ``reset`` then returns the already-reset observation instead of resetting
    a second time. If ``reset`` raises, the env is rebuilt and reset again. After ``max_restarts`` restarts in a row
    without a successful step or reset the last exception is re-raised.

    Attributes:
        n_restarts: restarts so far (all episodes).

    Args:
        make_env: builds the wrapped env stack (a ``gymnasium.Env``).
        max_restarts: consecutive restarts allowed before giving up, >= 1.
        env: an already-built env (default ``make_env()``).
    """

    def __init__(self, make_env: Callable[[], gymnasium.Env], max_restarts: int = 5,
                 env: Optional[gymnasium.Env] = None):
        super().__init__(env if env is not None else make_env())
        self.make_env = make_env
        self.max_restarts = int(max_restarts)
        self.n_restarts = 0
        self._consecutive = 0
        self._pending_reset: Optional[tuple] = None

    def _rebuild(self, exc: BaseException, where: str) -> None:
        self._consecutive += 1
        self.n_restarts += 1
        logger.warning("simulator raised in %s (%s: %s); restarting the environment (restart %d, %d in a row)",
                       where, type(exc).__name__, exc, self.n_restarts, self._consecutive, exc_info=exc)
        if self._consecutive > self.max_restarts:
            raise RuntimeError(f"RestartOnCrash: the simulator failed {self._consecutive} times in a row "
                               f"(last in {where}); giving up") from exc
        try:
            self.env.close()
        except Exception:  # the broken simulator may fail to close; that is fine
            pass
        self.env = self.make_env()

    def reset(self, **kwargs):
        if self._pending_reset is not None:
            out, self._pending_reset = self._pending_reset, None
            return out
        while True:
            try:
                out = self.env.reset(**kwargs)
                self._consecutive = 0
                return out
            except Exception as exc:
                self._rebuild(exc, "reset")

    def step(self, action):
        try:
            out = self.env.step(action)
            self._consecutive = 0
            return out
        except Exception as exc:
            self._rebuild(exc, "step")
        obs, info = self.reset()
        self._pending_reset = (obs, dict(info))
        info = dict(info, sim_restarted=True, success=False, is_success=False)
        return obs, 0.0, False, True, info
