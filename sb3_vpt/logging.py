"""Logging, checkpointing and the env-step budget of the high-level PPO, as one SB3 callback (spec §9.5).

:class:`HighLevelLogger` reads what :class:`hierarchical.high_level_wrapper.HighlevelVecEnv` puts in each env's
``info`` (``env_steps`` of the segment, ``reward_env``, ``reward_kl``, and at episode end ``episode`` and
``is_success``) and writes, once per PPO iteration (rollout):

* ``<log_dir>/stats.csv``, one row per rollout (columns :data:`STATS_COLUMNS`), rewritten atomically;
* TensorBoard scalars under ``<log_dir>/tb`` against **env steps**: ``charts/episodic_return`` (task return:
  summed env rewards, MineCLIP shaping included, KL term excluded), ``charts/success_rate``,
  ``charts/episodic_length`` (env steps), ``charts/episodic_reward_kl``, ``charts/high_level_steps``,
  ``charts/fps`` (env steps per second), and SB3's PPO losses re-tagged ``losses/<name>`` (``losses/value_loss``,
  ``losses/policy_gradient_loss``, ``losses/approx_kl``, ``losses/clip_fraction``, ``losses/entropy_loss``,
  ``losses/explained_variance``, ...); with a ``Discrete`` action space (PTGM's goal codes; a flat policy's raw
  actions) also which actions the rollout chose: ``actions/chosen`` (a histogram of the indices),
  ``actions/usage_entropy`` (nats, of the rollout's empirical action distribution; ln n for uniform use of n
  actions) and ``actions/top_share`` (the most chosen action's share), to see whether and where the policy
  concentrates;
* a checkpoint every ``save_freq`` iterations, written after that iteration's PPO update (:func:`save_checkpoint`:
  SB3 ``.zip`` with the optimizer, plus a ``.state.pkl`` sidecar with the env-step counters and the RNG states);
* a tqdm progress bar over env steps and every ``print_freq`` iterations a printed line with the recent success
  rate.

Training stops once ``env_steps >= env_step_budget``: the check happens at the start of a rollout, and the first
``on_step`` of that rollout returns False, so every finished rollout is trained on. That one high-level step per env,
taken before the stop, is counted in the env steps (they were spent) but is not trained on. This keeps
``stable_baselines3.PPO``'s own loop untouched.

**Ctrl-C / SIGTERM** (``interrupt``: the flag of :func:`steve1.utils.interrupt.catch_interrupts`): the next
``on_step`` returns False, which makes SB3 abandon the rollout in progress and end ``learn()``. The parameters and
optimizer are then those of the last finished PPO update, so ``on_training_end`` saves them with the counters of the
last finished rollout (env steps, iterations, episodes, and the model's ``num_timesteps`` set back to that rollout's
end) as ``checkpoints/iter_<iteration>_envsteps_<env steps>.zip`` (:attr:`HighLevelLogger.interrupted` is True and
:attr:`HighLevelLogger.last_checkpoint` names it). The abandoned partial rollout is neither trained on nor counted:
a resumed run (``--load``) takes those env steps again from a fresh reset.

Differences from upstream's ``LoggingCallback``: env-step x-axis and stable ``charts/``/``losses/`` tags instead of
``custom/*``; one row per rollout for the rollout's ended episodes (upstream: cumulative counters); checkpoints that
``--load`` can resume (upstream saves only some heads and cannot load); dead tower/subgoal hooks left out.
"""
from __future__ import annotations

import csv
import io
import math
import os
import pickle
import time
from collections import deque
from pathlib import Path
from typing import Any, Optional, Union

import gymnasium
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from steve1.utils.io import atomic_output, atomic_write_bytes as _atomic_write_bytes, rng_state, set_rng_state

__all__ = ["STATS_COLUMNS", "HighLevelLogger", "save_checkpoint", "load_checkpoint_state", "rng_state",
           "set_rng_state", "read_stats", "write_stats"]

#: Columns of ``stats.csv``. ``env_steps``/``high_level_steps`` are totals at the end of the rollout;
#: ``success_rate``, ``episode_reward`` (PPO's reward: env reward + KL term), ``reward_env``, ``reward_kl`` and
#: ``episode_length`` (env steps) are means over the episodes that ended in the rollout (empty when none did).
STATS_COLUMNS = ("iteration", "env_steps", "high_level_steps", "episodes", "success_rate", "episode_reward",
                 "reward_env", "reward_kl", "episode_length", "fps", "wall_time")


def save_checkpoint(model: BaseAlgorithm, path: Union[str, os.PathLike], counters: dict[str, Any]) -> Path:
    """Save ``model`` (SB3 zip: policy parameters, optimizer state, ``num_timesteps``...) and a sidecar, atomically.

    Args:
        model: the PPO model.
        path: ``.../name.zip``.
        counters: JSON-like dict (e.g. ``env_steps``, ``iteration``) stored with the RNG states in
            ``.../name.state.pkl``.
    Returns:
        the zip path.
    """
    path = Path(path)
    if path.suffix != ".zip":
        path = path.with_name(path.name + ".zip")
    with atomic_output(path, suffix=".zip") as tmp:  # SB3 appends ".zip" to a name without it
        model.save(tmp)
    sidecar = pickle.dumps({"counters": dict(counters), "rng": rng_state()})
    _atomic_write_bytes(path.with_name(path.stem + ".state.pkl"), sidecar)
    return path


def load_checkpoint_state(path: Union[str, os.PathLike]) -> dict[str, Any]:
    """The sidecar of checkpoint ``path`` (``{'counters': ..., 'rng': ...}``).

    Raises:
        FileNotFoundError: the zip or its ``.state.pkl`` sidecar is missing.
    """
    path = Path(path)
    sidecar = path.with_name(path.stem + ".state.pkl")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if not sidecar.is_file():
        raise FileNotFoundError(f"checkpoint {path} has no sidecar {sidecar.name} (env-step counters, RNG states); "
                                "it was not written by sb3_vpt.logging.save_checkpoint")
    with open(sidecar, "rb") as f:
        return pickle.load(f)


def read_stats(path: Union[str, os.PathLike]) -> list[dict[str, str]]:
    """Rows of a ``stats.csv`` (empty list when the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_stats(path: Union[str, os.PathLike], rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` to ``path`` (columns :data:`STATS_COLUMNS`) atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=STATS_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                         for k, v in row.items()})
    _atomic_write_bytes(Path(path), buf.getvalue().encode())


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


class HighLevelLogger(BaseCallback):
    """SB3 callback for the high-level PPO: stats.csv, TensorBoard, checkpoints, progress, env-step budget.

    Args:
        log_dir: run directory (``stats.csv``, ``tb/``, ``checkpoints/`` go there).
        env_step_budget: stop once this many env steps were taken in total (None: no env-step limit; SB3's
            ``total_timesteps`` in high-level steps still applies).
        save_freq: checkpoint every this many PPO iterations (0: never; upstream 100).
        print_freq: print a status line every this many iterations (0: never).
        success_window: episodes in the printed recent success rate.
        env_steps: env steps already taken (resuming a run).
        iteration: PPO iterations already done (resuming a run).
        episodes: episodes already ended (resuming a run).
        progress_bar: show a tqdm bar over env steps.
        interrupt: a stop request (truthy once set; :class:`steve1.utils.interrupt.InterruptFlag`), checked at every
            step; None: never.
    """

    def __init__(self, log_dir: Union[str, os.PathLike], *, save_freq: int, print_freq: int,
                 env_step_budget: Optional[int] = None, success_window: int = 100, env_steps: int = 0,
                 iteration: int = 0, episodes: int = 0, progress_bar: bool = True, verbose: int = 0,
                 interrupt: Any = None):
        super().__init__(verbose)
        self.log_dir = Path(log_dir)
        self.env_step_budget = None if env_step_budget is None else int(env_step_budget)
        self.save_freq = int(save_freq)
        self.print_freq = int(print_freq)
        self.env_steps = int(env_steps)
        self.iteration = int(iteration)
        self.show_progress = bool(progress_bar)
        self.recent_success: deque = deque(maxlen=int(success_window))
        self.stats_path = self.log_dir / "stats.csv"
        self.checkpoint_dir = self.log_dir / "checkpoints"
        self.rows: list[dict[str, Any]] = []
        self.writer = None
        self.pbar = None
        self.last_checkpoint: Optional[Path] = None
        self.episodes_total = int(episodes)
        self._stop = False
        self._pending_name: Optional[str] = None
        self.interrupt = interrupt
        #: True once training stopped on ``interrupt`` (the checkpoint is :attr:`last_checkpoint`)
        self.interrupted = False
        self._safe: dict[str, int] = {}  # counters at the end of the last finished rollout

    # ---- SB3 hooks ---------------------------------------------------------------------------------------------
    def _on_training_start(self) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir.mkdir(parents=True, exist_ok=True)
        # resuming: keep the rows up to the checkpoint's env steps
        self.rows = [r for r in read_stats(self.stats_path) if int(float(r["env_steps"])) <= self.env_steps]
        self.writer = SummaryWriter(str(self.log_dir / "tb"), purge_step=self.env_steps if self.env_steps else None)
        if self.show_progress:
            from tqdm.auto import tqdm

            self.pbar = tqdm(total=self.env_step_budget, initial=self.env_steps, unit="env step", dynamic_ncols=True,
                             desc="high-level PPO")
        n = self.training_env.num_envs
        self._ep_env = np.zeros(n)
        self._ep_kl = np.zeros(n)
        space = self.training_env.action_space
        self._n_actions = int(space.n) if isinstance(space, gymnasium.spaces.Discrete) else None
        self._mark_safe()

    def budget_reached(self) -> bool:
        return self.env_step_budget is not None and self.env_steps >= self.env_step_budget

    def _on_rollout_start(self) -> None:
        self._save_pending()  # after the previous iteration's update
        self._stop = self.budget_reached()
        self._t0 = time.time()
        self._steps0 = self.env_steps
        self._ended: list[dict[str, float]] = []
        self._action_counts = None if self._n_actions is None else np.zeros(self._n_actions, np.int64)

    def _on_step(self) -> bool:
        if self._action_counts is not None and self.locals.get("actions") is not None:
            chosen = np.asarray(self.locals["actions"]).reshape(-1).astype(np.int64)
            np.add.at(self._action_counts, chosen, 1)
        for i, info in enumerate(self.locals["infos"]):
            steps = int(info.get("env_steps", 0))
            self.env_steps += steps
            if self.pbar is not None:
                self.pbar.update(steps)
            self._ep_env[i] += float(info.get("reward_env", 0.0))
            self._ep_kl[i] += float(info.get("reward_kl", 0.0))
            if "episode" in info:
                success = float(bool(info.get("is_success", False)))
                self._ended.append({"r": float(info["episode"]["r"]), "l": float(info["episode"]["l"]),
                                    "r_env": self._ep_env[i], "r_kl": self._ep_kl[i], "success": success})
                self.recent_success.append(success)
                self._ep_env[i] = self._ep_kl[i] = 0.0
        if self._stop:
            return False
        if self.interrupt:  # abandon this rollout; on_training_end saves the last update (see the module docstring)
            self.interrupted = True
            return False
        return True

    def _on_rollout_end(self) -> None:
        self.iteration += 1
        self.episodes_total += len(self._ended)
        elapsed = max(time.time() - self._t0, 1e-9)
        ended = self._ended
        row = {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "high_level_steps": self.num_timesteps,
            "episodes": len(ended),
            "success_rate": _mean([e["success"] for e in ended]),
            "episode_reward": _mean([e["r"] for e in ended]),
            "reward_env": _mean([e["r_env"] for e in ended]),
            "reward_kl": _mean([e["r_kl"] for e in ended]),
            "episode_length": _mean([e["l"] for e in ended]),
            "fps": (self.env_steps - self._steps0) / elapsed,
            "wall_time": time.time(),
        }
        self.rows.append(row)
        write_stats(self.stats_path, self.rows)
        self._write_tensorboard(row)
        if self.save_freq > 0 and self.iteration % self.save_freq == 0:
            self._pending_name = f"iter_{self.iteration:06d}_envsteps_{self.env_steps}"
        if self.print_freq > 0 and self.iteration % self.print_freq == 0:
            self._print_status(row)
        self._mark_safe()

    def _on_training_end(self) -> None:
        self._save_pending()
        if self.interrupted:
            self._save_interrupted()
        if self.pbar is not None:
            self.pbar.close()
            self.pbar = None
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            self.writer = None

    # ---- helpers -----------------------------------------------------------------------------------------------
    def _mark_safe(self) -> None:
        """Remember the counters of this point (training start, end of a rollout): what the parameters after the
        next PPO update correspond to."""
        self._safe = {"env_steps": self.env_steps, "iteration": self.iteration, "episodes": self.episodes_total,
                      "num_timesteps": int(self.model.num_timesteps)}

    def _save_interrupted(self) -> None:
        """Set the counters (and the model's ``num_timesteps``) back to the end of the last finished rollout and
        checkpoint the model: the parameters and optimizer of the last finished update."""
        self.env_steps = self._safe["env_steps"]
        self.iteration = self._safe["iteration"]
        self.episodes_total = self._safe["episodes"]
        self.model.num_timesteps = self._safe["num_timesteps"]
        self.save(f"iter_{self.iteration:06d}_envsteps_{self.env_steps}")

    def _save_pending(self) -> None:
        """Write the checkpoint of the last finished iteration once its PPO update is done (SB3 calls
        ``on_rollout_end`` before ``train()``; the checkpoint must hold the updated parameters and optimizer)."""
        if self._pending_name is not None:
            self.save(self._pending_name)
            self._pending_name = None

    def counters(self) -> dict[str, Any]:
        """The counters a resumed run needs (stored in the checkpoint sidecar)."""
        return {"env_steps": self.env_steps, "iteration": self.iteration,
                "high_level_steps": int(self.model.num_timesteps), "episodes": self.episodes_total}

    def save(self, name: str) -> Path:
        """Checkpoint the model to ``<log_dir>/checkpoints/<name>.zip`` (see :func:`save_checkpoint`)."""
        self.last_checkpoint = save_checkpoint(self.model, self.checkpoint_dir / f"{name}.zip", self.counters())
        return self.last_checkpoint

    def _write_tensorboard(self, row: dict[str, Any]) -> None:
        step = self.env_steps
        w = self.writer
        for tag, key in (("charts/success_rate", "success_rate"), ("charts/episodic_return", "reward_env"),
                         ("charts/episodic_reward_kl", "reward_kl"), ("charts/episodic_reward", "episode_reward"),
                         ("charts/episodic_length", "episode_length")):
            if not math.isnan(row[key]):
                w.add_scalar(tag, row[key], step)
        w.add_scalar("charts/high_level_steps", row["high_level_steps"], step)
        w.add_scalar("charts/env_steps", row["env_steps"], step)
        w.add_scalar("charts/fps", row["fps"], step)
        w.add_scalar("charts/episodes", row["episodes"], step)
        counts = self._action_counts
        if counts is not None and counts.sum() > 0:
            share = counts / counts.sum()
            nz = share[share > 0]
            w.add_scalar("actions/usage_entropy", float(-(nz * np.log(nz)).sum()), step)
            w.add_scalar("actions/top_share", float(share.max()), step)
            w.add_histogram("actions/chosen", np.repeat(np.arange(len(counts)), counts), step,
                            bins=np.arange(len(counts) + 1) - 0.5)
        # SB3's PPO losses of the previous update (recorded by PPO.train, dumped after this rollout)
        for key, value in getattr(self.model.logger, "name_to_value", {}).items():
            if key.startswith("train/") and isinstance(value, (int, float, np.floating)):
                w.add_scalar("losses/" + key[len("train/"):], float(value), step)
        w.flush()

    def _print_status(self, row: dict[str, Any]) -> None:
        recent = _mean(list(self.recent_success))
        budget = f"/{self.env_step_budget}" if self.env_step_budget else ""
        line = (f"iter {self.iteration} | env steps {self.env_steps}{budget} | high-level steps {row['high_level_steps']}"
                f" | success rate (last {len(self.recent_success)} episodes) {recent:.3f} | {row['fps']:.1f} env steps/s")
        if self.pbar is not None:
            self.pbar.write(line)
        else:
            print(line, flush=True)
