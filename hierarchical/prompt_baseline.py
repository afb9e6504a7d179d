"""``--method steve1_prompt``: the goal-conditioned low-level policy following the task prompt's text goal, no RL.

The text embedding of the task's ``prompt`` by its simulator's goal embedder (the registry's
``tasks.SIMULATORS[sim].goal_embedders``; Crafter: CrafterCLIP) (``tasks/task_specs.yaml``), rescaled to the mean norm
of the codebook's goal embeddings (text and video embeddings share directions, not norms, and the policy was trained
on video-embedding norms; there is no Crafter text->goal VAE prior), executed by the low-level policy with the
config's ``cond_scale`` through the same :class:`~hierarchical.high_level_wrapper.HighlevelVecEnv` as PTGM (a
one-code codebook).
"""
from __future__ import annotations

import dataclasses
import math
import pickle
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from hierarchical.config import HighLevelConfig, require_config
from hierarchical.episode_log import make_logged_envs
from steve1.utils.io import atomic_write_bytes, atomic_write_json

__all__ = ["prompt_goal_embedding", "run_prompt_evaluation", "WINDOW_ENV_STEPS"]

#: Env steps per ``stats.csv`` row of a ``steve1_prompt`` run (the success rate of the episodes ended in it).
WINDOW_ENV_STEPS = 4096


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


def run_prompt_evaluation(cfg: HighLevelConfig, run_dir: Path, device: torch.device,
                          window_env_steps: int = WINDOW_ENV_STEPS) -> dict[str, Any]:
    """``steve1_prompt``: run the low-level policy on the prompt's goal for ``cfg.env_steps`` env steps.

    Writes ``stats.csv`` (a row per ``window_env_steps`` env steps: the success rate of the episodes that ended in
    it), ``results.json``, ``prompt_goal/centers.pkl`` (the one-code codebook). Resumes after the last row of an
    existing ``stats.csv`` (episodes running at the interruption are lost; no learning state exists).

    Returns:
        the results dict.
    """
    from hierarchical.build import make_highlevel_env
    from sb3_vpt.logging import read_stats, write_stats

    require_config(cfg, "hierarchical.prompt_baseline.run_prompt_evaluation")
    goal_dir = run_dir / "prompt_goal"
    goal_dir.mkdir(parents=True, exist_ok=True)
    import tasks

    prompt = tasks.get_specs(cfg.config)["prompt"]
    if cfg.goal_embedder is None:
        from steve1.utils.cli import UsageError

        raise UsageError(f"{cfg.highlevel_config} key 'goal_embedder': steve1_prompt needs a goal embedder file, "
                         "got null (or pass --goal_embedder PATH)")
    goal = prompt_goal_embedding(prompt, cfg.goal_embedder, cfg.codebook, sim=cfg.sim)
    atomic_write_bytes(goal_dir / "centers.pkl", pickle.dumps([goal.astype(np.float64)]))
    run_cfg = dataclasses.replace(cfg, codebook=str(goal_dir / "centers.pkl"), discrete=True, goal_prior=False,
                                  kl_reward=0.0)
    venv, _ = make_highlevel_env(run_cfg, device, envs=make_logged_envs(cfg, run_dir, device))
    venv.seed(cfg.seed)
    rows = read_stats(run_dir / "stats.csv")
    env_steps = int(float(rows[-1]["env_steps"])) if rows else 0
    high_steps = int(float(rows[-1]["high_level_steps"])) if rows else 0
    budget = cfg.env_steps
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
    results = {"task": cfg.config, "method": "steve1_prompt", "prompt": prompt,
               "final_success_rate": rate, "final_success_rate_episodes": len(recent), "env_steps": env_steps,
               "high_level_steps": high_steps}
    atomic_write_json(run_dir / "results.json", results)
    print(f"final success rate: {'n/a' if math.isnan(rate) else f'{rate:.3f}'} (last {len(recent)} episodes) "
          f"after {env_steps} env steps\nlogs: {run_dir}/stats.csv", flush=True)
    return results
