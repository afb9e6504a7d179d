"""Low-level competence per code: what the goal-conditioned policy achieves when it follows ONE code of the codebook.

    python bench/low_level_competence.py --task crafter_wood  --horizon 100 --episodes 2
    python bench/low_level_competence.py --task crafter_stone --horizon 100 --episodes 2   # starts with a wood pickaxe

For every code k, ``--episodes`` episodes of ``--horizon`` env steps are run from the task's start state (its
``initial_inventory``; task success does not end them) with the goal ``codes[k]`` held fixed (re-issued every
``low_level_steps``, the low-level memory carried, classifier-free guidance at the config's ``cond_scale``), through
the same :class:`hierarchical.high_level_wrapper.HighlevelVecEnv` the high level uses. Episode j of every code is
played in the same Crafter world (world seed ``--seed`` + j), so codes differ only by what they do (``--codes``
measures a subset); an episode ends at ``--horizon`` or on death. Recorded per episode: the env step at which each
Crafter achievement was first unlocked. Also run: ``steve1_prompt``-style text goals (the prompts in ``--prompts``,
rescaled as in :func:`hierarchical.prompt_baseline.prompt_goal_embedding`).

Reported (``--out`` JSON, printed): for each achievement, the best code, its success rate within the horizon and
its median env steps to the unlock, and how many codes ever unlock it (codebook coverage); the same for each text
prompt. This is the evidence for ``low_level_steps`` (how long a code needs to act) and for where PTGM is limited
(a sub-goal no code reaches cannot be composed by the high level).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium
import numpy as np


class AchievementTimer(gymnasium.Wrapper):
    """Records, per episode, the env step of each achievement's first unlock into ``self.records`` (a list of
    ``{achievement: step}`` dicts, one per ended episode).

    ``world_seeds``: episode j is played in Crafter world ``world_seeds[j]`` (``reset(options={"world_seed": ...})``),
    so that every goal is measured on the same worlds; past the list, worlds come from the env's own RNG."""

    def __init__(self, env, world_seeds: list[int] | None = None):
        super().__init__(env)
        self.records: list[dict[str, int]] = []
        self.world_seeds = list(world_seeds or [])
        self._first: dict[str, int] = {}
        self._t = 0

    def reset(self, **kwargs):
        self._first, self._t = {}, 0
        if len(self.records) < len(self.world_seeds):
            options = dict(kwargs.pop("options", None) or {}, world_seed=self.world_seeds[len(self.records)])
            return self.env.reset(options=options, **kwargs)
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._t += 1
        for name, count in (info.get("achievements") or {}).items():
            if count and name not in self._first:
                self._first[name] = self._t
        if terminated or truncated:
            self.records.append(dict(self._first))
        return obs, reward, terminated, truncated, info


def run_goals(cfg, goals: np.ndarray, horizon: int, episodes: int, seed: int) -> list[list[dict]]:
    """Per goal (row of ``goals`` float [G, D]), the achievement records of ``episodes`` episodes; episode j of every
    goal is played in the same world (world seed ``seed + j``), so goals are compared on equal terms. ``cfg``: the
    task's :class:`hierarchical.config.HighLevelConfig` (``cfg.n_envs`` goals at a time); the goals are laid over it
    as a codebook of their own, without the prior (:func:`hierarchical.config.with_values`)."""
    import pickle
    import tempfile

    import torch

    from hierarchical.build import make_envs, make_highlevel_env
    from hierarchical.config import with_values

    device = torch.device("cpu")
    n = cfg.n_envs
    out: list[list[dict]] = [[] for _ in range(len(goals))]
    with tempfile.TemporaryDirectory() as tmp:
        for start in range(0, len(goals), n):
            group = goals[start:start + n]
            with open(Path(tmp) / "centers.pkl", "wb") as f:
                pickle.dump([g[None].astype(np.float64) for g in group], f)
            run_cfg = with_values(cfg, codebook=str(Path(tmp) / "centers.pkl"), discrete=True, goal_prior=False,
                                  kl_reward=0.0, n_envs=len(group),
                                  env_overrides={**cfg.env_overrides, "max_steps": horizon,
                                                 "terminate_on_success": False})
            worlds = [seed + j for j in range(episodes)]
            envs = [AchievementTimer(e, worlds) for e in make_envs(run_cfg, len(group), device)]
            venv, _ = make_highlevel_env(run_cfg, device, envs=envs)
            venv.seed(seed + start)
            venv.reset()
            actions = np.arange(len(group))
            while min(len(e.records) for e in envs) < episodes:
                venv.step(actions)
            venv.close()
            for i, e in enumerate(envs):
                out[start + i] = e.records[:episodes]
            print(f"[competence] goals {start}-{start + len(group) - 1} done", flush=True)
    return out


def summarize(records: list[list[dict]], names: list[str], horizon: int) -> dict:
    """Per achievement: the best goal (highest unlock rate, then fewest steps), its rate and median steps, and the
    number of goals that ever unlock it."""
    achievements = sorted({a for recs in records for r in recs for a in r})
    summary = {}
    for a in achievements:
        stats = []
        for name, recs in zip(names, records):
            steps = [r[a] for r in recs if a in r]
            stats.append((len(steps) / max(len(recs), 1), -float(np.median(steps)) if steps else -1e9, name, steps))
        stats.sort(reverse=True)
        rate, neg_med, name, steps = stats[0]
        summary[a] = {"best_goal": name, "success_rate": round(rate, 3),
                      "median_env_steps": None if not steps else float(np.median(steps)),
                      "goals_that_unlock_it": sum(1 for s in stats if s[0] > 0), "horizon": horizon}
    return summary


def main(argv=None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a flag out of range, an unknown task, a bad config file or
    codebook, a code index outside the codebook, an unusable ``--out``) ends the program with one line on stderr
    naming the flag or the config file and key, and exit code 2, before anything is run or written
    (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("low_level_competence.py", lambda: _main(argv))


def _main(argv) -> dict:
    from steve1.utils.checks import Range, check_output_path, check_ranges
    from steve1.utils.cli import UsageError

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--task", default="crafter_wood", help="start state (initial inventory) and config")
    p.add_argument("--horizon", type=int, default=100, help="env steps per episode")
    p.add_argument("--episodes", type=int, default=2, help="episodes per code")
    p.add_argument("--n_envs", type=int, default=10, help="codes run at a time")
    p.add_argument("--prompts", nargs="*", default=["collect wood", "place a table", "make a wood pickaxe",
                                                    "collect stone", "make a stone pickaxe", "collect iron"])
    p.add_argument("--codes", type=int, nargs="*", default=None,
                   help="only these code indices (default: every code of the codebook)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--highlevel_config", default=None, help="high-level config YAML (default: the task's)")
    p.add_argument("--out", default=None, help="JSON (default bench/results/low_level_competence_<task>.json)")
    args = p.parse_args(argv)
    check_ranges(args, {"horizon": Range(int, lo=1, note="env steps"), "episodes": Range(int, lo=1),
                        "n_envs": Range(int, lo=1), "threads": Range(int, lo=1)})
    out = args.out or f"bench/results/low_level_competence_{args.task}.json"
    check_output_path(out, "--out")
    import torch

    from goal_prior.codebook import KMeansCodebook
    from hierarchical.prompt_baseline import prompt_goal_embedding

    from hierarchical_throughput import checked_task_config  # bench/ is on the path: the script's folder

    cfg = checked_task_config(args.task, {"n_envs": args.n_envs}, args.highlevel_config)
    try:
        codes = np.asarray(KMeansCodebook(cfg.codebook).codes, np.float32)
    except ValueError as e:
        raise UsageError(f"{cfg.highlevel_config} key 'codebook': {e}") from e
    code_ids = list(range(len(codes))) if args.codes is None else list(args.codes)
    bad = [k for k in code_ids if not 0 <= k < len(codes)]
    if bad:
        raise UsageError(f"--codes {bad}: expected indices 0-{len(codes) - 1} (the codebook {cfg.codebook} has "
                         f"{len(codes)} codes)")
    if not len(code_ids) and not args.prompts:
        raise UsageError("--codes/--prompts: nothing to measure (both empty)")
    torch.set_num_threads(args.threads)
    codes = codes[code_ids]
    try:
        prompts = [prompt_goal_embedding(t, cfg.goal_embedder, cfg.codebook, sim=cfg.sim)[0] for t in args.prompts]
    except (ValueError, KeyError) as e:  # an unknown word in a prompt, a goal embedder that cannot be loaded
        raise UsageError(f"--prompts: {e.args[0] if isinstance(e, KeyError) and e.args else e}") from e
    goals = np.concatenate([codes, np.stack(prompts)]) if prompts else codes
    names = [f"code_{k}" for k in code_ids] + [f"prompt: {t}" for t in args.prompts]
    t0 = time.time()
    records = run_goals(cfg, goals, args.horizon, args.episodes, args.seed)
    result = {"task": args.task, "horizon": args.horizon, "episodes_per_goal": args.episodes,
              "low_level_steps": cfg.low_level_steps, "cond_scale": cfg.cond_scale,
              "n_codes": len(codes), "world_seeds": [args.seed + j for j in range(args.episodes)],
              "seconds": round(time.time() - t0, 1),
              "codes": summarize(records[:len(codes)], names[:len(codes)], args.horizon),
              "prompts": {n: {a: round(float(np.mean([a in r for r in recs])), 3)
                              for a in sorted({x for r in recs for x in r})}
                          for n, recs in zip(names[len(codes):], records[len(codes):])}}
    from steve1.utils.io import atomic_write_json

    atomic_write_json(out, result, indent=1)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
