"""Baselines and ablations of PTGM's high-level PPO, as presets of ``ppo_highlevel.py --method`` (PTGM paper §5).

``--method`` names (the benchmark's method names, ``bench/sample_efficiency.py``):

==================  =================================================================================================
``ptgm``            PTGM: high-level PPO over the goal codebook with the goal prior's KL reward (the config as is)
``ptgm_no_prior``   PTGM without the goal prior: ``goal_prior: false``, ``kl_reward: 0`` (paper's "w/o prior")
``ptgm_continuous`` PTGM without the codebook: the high level outputs goal embeddings ``Box(-goal_bound, goal_bound,
                    (D,))`` (``discrete: false``; no prior, which needs codes)
``ppo``             flat PPO from scratch on the raw frames and actions, the field's PPO-ResNet recipe for Crafter
                    (Moon et al. 2023; IMPALA ResNet trunk, value normalization, gamma 0.95, lambda 0.65, 8 envs x
                    512 steps, 3 epochs): :mod:`hierarchical.flat_ppo`, hyperparameters in
                    ``configs/crafter/ppo.yaml`` (:data:`hierarchical.flat_ppo.RECIPE_PATH`)
``ppo_sb3``         flat PPO from scratch with SB3's defaults: ``stable_baselines3.PPO('CnnPolicy')`` (NatureCNN) on
                    the raw 64x64 frames (:func:`make_flat_ppo`); every run before issue 19 that was called ``ppo``
``bc_ppo``          the behaviour-cloned low-level policy fine-tuned with PPO on the raw action space (the
                    VPT-finetune analogue; :class:`FlatTrunkVecEnv` + :func:`make_bc_ppo`)
``steve1_prompt``   the goal-conditioned low-level policy following the task prompt's text goal embedding, no RL
                    (:func:`run_prompt_evaluation`)
==================  =================================================================================================

Every method writes the same run directory as PTGM (``stats.csv`` with one row per PPO iteration or evaluation
window, ``tb/``, ``checkpoints/``, ``results.json``, and ``episodes.jsonl``: one line per ended episode with its
unlocked Crafter achievements, :class:`EpisodeLog`), counts **env steps** (every low-level step) and reports the
success rate of the episodes that ended in each row, so the curves compare directly.

Design choices (documented where they differ from a literal reading of the paper):

* ``ppo`` lays ``configs/crafter/ppo.yaml`` (the recipe, :func:`hierarchical.flat_ppo.load_recipe`) over the task's
  high-level config, under the given flags (:func:`method_overrides`); its network is narrower than published
  (``impala_chans`` [8, 16, 16] instead of [64, 128, 128]: the widest measured that trains 1M env steps in <= ~5 h
  on one CPU core, ``bench/results/flat_ppo_throughput.json``).
* ``ppo_sb3`` uses SB3's defaults (``n_steps=2048`` per env, ``batch_size=64``, ``n_epochs=10``, ``lr=3e-4``,
  ``gamma=0.99``, ``gae_lambda=0.95``, ``clip_range=0.2``, ``ent_coef=0``) on ``CnnPolicy`` (NatureCNN): the
  well-tested flat baseline, not weakened and not tuned against PTGM. The high-level config's PPO keys are *not*
  used (they are per-goal-step values).
* ``bc_ppo`` is goal-free: the STEVE-1 policy with the unconditional (zero) goal, i.e. the behaviour-cloned play
  policy (classifier-free guidance training drops the goal in ``p_uncond`` of the chunks, so that branch is a
  trained goal-free BC policy; no separate flat BC model is needed). As for PTGM's high level, its image encoder
  and transformer are frozen and run inside the VecEnv (:class:`FlatTrunkVecEnv`, one SB3 step = one env step);
  the trainable head (``lastlayer``, ``final_ln``, the ``Discrete(17)`` ``pi_head``) is initialised from the BC
  policy, so PPO starts from exactly the BC policy's action distribution; the value head is fresh. PPO uses SB3's
  defaults, like ``ppo_sb3``.
* ``steve1_prompt``: the text embedding of the task's ``prompt`` by its simulator's goal embedder (the registry's
  ``tasks.SIMULATORS[sim].goal_embedders``; Crafter: CrafterCLIP) (``tasks/task_specs.yaml``), rescaled to
  the mean norm of the codebook's goal embeddings (text and video embeddings share directions, not norms, and the
  policy was trained on video-embedding norms; there is no Crafter text->goal VAE prior), executed by the low-level
  policy with the config's ``cond_scale`` through the same :class:`~hierarchical.high_level_wrapper.HighlevelVecEnv`
  as PTGM (a one-code codebook).
"""
from __future__ import annotations

import json
import math
import os
import pickle
import time
from pathlib import Path
from typing import Any, Mapping, Optional

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

__all__ = ["METHODS", "METHOD_PRESETS", "method_overrides", "algorithm_class", "run_method",
           "EpisodeFrames", "EpisodeLog", "make_logged_envs",
           "FlatFrameWrapper", "make_flat_venv",
           "make_flat_ppo", "GoalFreeTrunk", "FlatTrunkVecEnv", "make_bc_ppo", "prompt_goal_embedding",
           "run_prompt_evaluation"]

#: Method names accepted by ``ppo_highlevel.py --method``.
METHODS = ("ptgm", "ppo", "ppo_sb3", "bc_ppo", "ptgm_no_prior", "ptgm_continuous", "steve1_prompt")
#: Config values each method sets (given command-line flags still override them).
METHOD_PRESETS: dict[str, dict[str, Any]] = {
    "ptgm": {},
    "ptgm_no_prior": {"goal_prior": False, "kl_reward": 0.0, "initialize_with_prior": False},
    "ptgm_continuous": {"discrete": False, "goal_prior": False, "kl_reward": 0.0, "initialize_with_prior": False},
    "ppo": {"goal_prior": False, "kl_reward": 0.0, "initialize_with_prior": False},  # + configs/crafter/ppo.yaml
    "ppo_sb3": {"goal_prior": False, "kl_reward": 0.0, "initialize_with_prior": False},
    "bc_ppo": {"goal_prior": False, "kl_reward": 0.0, "initialize_with_prior": False},
    "steve1_prompt": {"goal_prior": False, "kl_reward": 0.0, "initialize_with_prior": False},
}


def method_overrides(method: Optional[str], given: Mapping[str, Any]) -> dict[str, Any]:
    """The config overrides of ``method``'s preset, under the explicitly given flags ``given``.

    For ``ppo`` the preset also holds every key of the recipe file (:func:`hierarchical.flat_ppo.load_recipe`,
    ``configs/crafter/ppo.yaml``), so the recipe's PPO values replace the high-level config's and a given flag
    still wins.

    Raises:
        ValueError: unknown method; a bad recipe file.
        FileNotFoundError: the recipe file is missing.
    """
    method = method or "ptgm"
    if method not in METHOD_PRESETS:
        raise ValueError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    preset = dict(METHOD_PRESETS[method])
    if method == "ppo":
        from hierarchical.flat_ppo import load_recipe

        preset.update(load_recipe())
    return {**preset, **{k: v for k, v in given.items() if v is not None}, "method": method}


def algorithm_class(method: Optional[str]):
    """The SB3 algorithm class that saves and loads ``method``'s checkpoints: :class:`hierarchical.flat_ppo.FlatPPO`
    for ``ppo`` (its value normalization lives in the rollout hook), ``stable_baselines3.PPO`` otherwise."""
    if method == "ppo":
        from hierarchical.flat_ppo import FlatPPO

        return FlatPPO
    from stable_baselines3 import PPO

    return PPO


def run_method(cfg: Mapping[str, Any]) -> str:
    """The method of a run's resolved config (``config.yaml``), with the legacy rule of issue 19: a run made before
    ``ppo`` became the PPO-ResNet recipe says ``method: ppo`` but has no recipe keys (``impala_chans``); it is an
    SB3-defaults run and is ``ppo_sb3``. No ``method`` key (the oldest runs) is ``ptgm``."""
    method = cfg.get("method") or "ptgm"
    return "ppo_sb3" if method == "ppo" and "impala_chans" not in cfg else method


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


def make_logged_envs(cfg: Mapping[str, Any], run_dir: os.PathLike, device: torch.device,
                     n_envs: Optional[int] = None) -> list:
    """``n_envs`` task envs (``hierarchical.build.make_envs``), each wrapped in :class:`EpisodeLog` writing
    ``<run_dir>/episodes.jsonl``."""
    from hierarchical.build import make_envs

    envs = make_envs(cfg, int(n_envs or cfg["n_envs"]), device)
    return [EpisodeLog(env, Path(run_dir) / "episodes.jsonl", i) for i, env in enumerate(envs)]


# ---- flat PPO from scratch -------------------------------------------------------------------------------------
class FlatFrameWrapper(gymnasium.Wrapper):
    """A task env (``tasks.make``) for flat RL: observation = the ``pov`` frame ``uint8 [H, W, 3]``; ``info`` gets
    ``env_steps = 1`` (for :class:`sb3_vpt.logging.HighLevelLogger`), ``reward_env`` and, at the end of an episode,
    ``is_success`` (the task's success at any step of the episode); the env's ``death_cause`` and ``episode_frames``
    (:class:`EpisodeFrames`) are passed on when present."""

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


def make_flat_venv(cfg: Mapping[str, Any], run_dir: os.PathLike, device: torch.device,
                   n_envs: Optional[int] = None):
    """``n_envs`` (default ``cfg['n_envs']``) task envs (:func:`make_logged_envs`) as an SB3 ``DummyVecEnv`` of
    :class:`FlatFrameWrapper`, with ``VecMonitor`` (``info['episode']``)."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    envs = make_logged_envs(cfg, run_dir, device, n_envs)
    return VecMonitor(DummyVecEnv([(lambda e=e: FlatFrameWrapper(e)) for e in envs]))


def make_flat_ppo(venv, seed: int, device: torch.device):
    """SB3 ``PPO('CnnPolicy', venv)`` with SB3's default hyperparameters (module docstring)."""
    from stable_baselines3 import PPO

    return PPO("CnnPolicy", venv, seed=seed, device=device, verbose=0)


# ---- BC policy fine-tuned with PPO -----------------------------------------------------------------------------
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
    policy. Actions are the env's (``Discrete(17)`` for Crafter). ``info`` as :class:`FlatFrameWrapper` (with
    ``death_cause`` / ``episode_frames`` at an episode end when the env gives them) plus
    ``terminal_observation`` (features of the last frame) at an episode end. Auto-reset as SB3 VecEnvs.

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
        from hierarchical.high_level_wrapper import state_put, state_take

        img = torch.as_tensor(frames, device=self.device)[:, None]
        first_t = torch.as_tensor(first, device=self.device)[:, None]
        if rows is None:
            feats, self._state = self.trunk(img, first_t, self._state)
        else:
            idx = torch.as_tensor(rows, device=self.device)
            feats, sub = self.trunk(img, first_t, state_take(self._state, idx))
            self._state = state_put(self._state, idx, sub)
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


def load_bc_policy(cfg: Mapping[str, Any], device: torch.device):
    """The goal-conditioned low-level policy of the run (``in_model``/``in_weights``), frozen, on ``device``."""
    from hierarchical.build import _plugin_actions, load_low_level, make_envs

    env = make_envs(cfg, 1, device)[0]
    action_space, _ = _plugin_actions(cfg, env)
    env.close()
    return load_low_level(cfg, action_space, cfg.get("goal_dim"), device)


def make_bc_trunk_venv(cfg: Mapping[str, Any], run_dir: os.PathLike, device: torch.device,
                       n_envs: Optional[int] = None, envs: Optional[list] = None):
    """``(VecMonitor(FlatTrunkVecEnv), bc_policy)`` for ``bc_ppo``: the BC policy's frozen goal-free trunk; over
    ``envs`` when given, else over :func:`make_logged_envs` (``<run_dir>/episodes.jsonl``)."""
    from stable_baselines3.common.vec_env import VecMonitor

    from goal_prior.load_prior import load_part_vpt_weights
    from sb3_vpt.policy import TRUNK_PREFIXES, VPTTrunk
    from steve1.embed_conditioned_policy import load_model_config  # the model config may hold goal_dim
    from VPT.lib.policy import MinecraftPolicy

    bc = load_bc_policy(cfg, device)
    policy_kwargs, _ = load_model_config(cfg["in_model"])
    policy_kwargs.pop("goal_dim", None)
    trunk = VPTTrunk(MinecraftPolicy(**policy_kwargs))
    load_part_vpt_weights(trunk, cfg["in_weights"], prefixes=TRUNK_PREFIXES)
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


# ---- STEVE-1 with a text prompt ---------------------------------------------------------------------------------
def prompt_goal_embedding(prompt: str, embedder_path: str, codebook_path: Optional[str] = None, *,
                          sim: str) -> np.ndarray:
    """The goal embedding of a text prompt: float32 (1, D) (module docstring for the rescaling).

    Args:
        prompt: the task prompt (``tasks/task_specs.yaml`` ``prompt``).
        embedder_path: the weights of the simulator's goal embedder (the config's ``goal_embedder``; Crafter:
            ``downloads/crafter/crafterclip.pt``).
        codebook_path: a ``centers.pkl``; when given, the embedding is rescaled to its codes' mean L2 norm.
        sim: the task's simulator, whose default goal embedder (``tasks.SIMULATORS[sim].goal_embedders``) embeds
            the prompt.
    Raises:
        FileNotFoundError: a missing file.
    """
    import tasks
    from steve1.utils.embed_utils import text_goal_embedding

    if not Path(embedder_path).is_file():
        raise FileNotFoundError(f"goal embedder not found: {embedder_path} -- train it with the simulator's pipeline "
                                "(Crafter: tasks/crafter/train_pipeline.sh) or pass --goal_embedder PATH")
    _, spec = tasks.SIMULATORS[sim].goal_embedder()
    goal = text_goal_embedding(prompt, spec.build(embedder_path))
    if codebook_path:
        from goal_prior.codebook import KMeansCodebook

        codes = np.asarray(KMeansCodebook(codebook_path).codes, np.float32)
        goal = goal / max(float(np.linalg.norm(goal)), 1e-8) * float(np.linalg.norm(codes, axis=1).mean())
    return goal.astype(np.float32)


def run_prompt_evaluation(cfg: dict[str, Any], run_dir: Path, device: torch.device,
                          window_env_steps: int = 4096) -> dict[str, Any]:
    """``steve1_prompt``: run the low-level policy on the prompt's goal for ``cfg['env_steps']`` env steps.

    Writes ``stats.csv`` (a row per ``window_env_steps`` env steps: the success rate of the episodes that ended in
    it), ``results.json``, ``prompt_goal/centers.pkl`` (the one-code codebook). Resumes after the last row of an
    existing ``stats.csv`` (episodes running at the interruption are lost; no learning state exists).

    Returns:
        the results dict.
    """
    from hierarchical.build import make_highlevel_env
    from sb3_vpt.logging import read_stats, write_stats

    goal_dir = run_dir / "prompt_goal"
    goal_dir.mkdir(parents=True, exist_ok=True)
    import tasks

    prompt = tasks.get_specs(cfg["config"])["prompt"]
    goal = prompt_goal_embedding(prompt, cfg["goal_embedder"], cfg.get("codebook"), sim=cfg["sim"])
    tmp = goal_dir / "centers.pkl.tmp"
    with open(tmp, "wb") as f:
        pickle.dump([goal.astype(np.float64)], f)
    os.replace(tmp, goal_dir / "centers.pkl")
    run_cfg = dict(cfg, codebook=str(goal_dir / "centers.pkl"), discrete=True, goal_prior=False, kl_reward=0.0)
    venv, _ = make_highlevel_env(run_cfg, device, envs=make_logged_envs(cfg, run_dir, device))
    venv.seed(int(cfg["seed"]))
    rows = read_stats(run_dir / "stats.csv")
    env_steps = int(float(rows[-1]["env_steps"])) if rows else 0
    high_steps = int(float(rows[-1]["high_level_steps"])) if rows else 0
    budget = int(cfg["env_steps"])
    venv.reset()
    actions = np.zeros(venv.num_envs, np.int64)
    from tqdm.auto import tqdm

    pbar = tqdm(total=budget, initial=env_steps, unit="env step", desc="steve1_prompt")
    ended, recent, t0, steps0 = [], [], time.time(), env_steps
    while env_steps < budget:
        _, _, _, infos = venv.step(actions)
        high_steps += venv.num_envs
        for info in infos:
            env_steps += int(info.get("env_steps", 0))
            pbar.update(int(info.get("env_steps", 0)))
            if "episode" in info:
                ended.append((float(bool(info.get("is_success"))), float(info["episode"]["l"]),
                              float(info["episode"]["r_env"])))
        if env_steps - steps0 >= window_env_steps or env_steps >= budget:
            succ = [e[0] for e in ended]
            rows.append({"iteration": len(rows) + 1, "env_steps": env_steps, "high_level_steps": high_steps,
                         "episodes": len(ended), "success_rate": float(np.mean(succ)) if succ else float("nan"),
                         "episode_reward": float(np.mean([e[2] for e in ended])) if ended else float("nan"),
                         "reward_env": float(np.mean([e[2] for e in ended])) if ended else float("nan"),
                         "reward_kl": 0.0, "episode_length": float(np.mean([e[1] for e in ended])) if ended else
                         float("nan"), "fps": (env_steps - steps0) / max(time.time() - t0, 1e-9),
                         "wall_time": time.time()})
            write_stats(run_dir / "stats.csv", rows)
            recent = (recent + succ)[-100:]
            pbar.write(f"env steps {env_steps}/{budget} | success rate (last {len(recent)} episodes) "
                       f"{np.mean(recent) if recent else float('nan'):.3f}")
            ended, t0, steps0 = [], time.time(), env_steps
    pbar.close()
    venv.close()
    rate = float(np.mean(recent)) if recent else float("nan")
    results = {"task": cfg["config"], "method": "steve1_prompt", "prompt": prompt,
               "final_success_rate": rate, "final_success_rate_episodes": len(recent), "env_steps": env_steps,
               "high_level_steps": high_steps}
    tmp = run_dir / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=2))
    os.replace(tmp, run_dir / "results.json")
    print(f"final success rate: {'n/a' if math.isnan(rate) else f'{rate:.3f}'} (last {len(recent)} episodes) "
          f"after {env_steps} env steps\nlogs: {run_dir}/stats.csv", flush=True)
    return results
