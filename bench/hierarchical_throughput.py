"""Rollout throughput on Crafter, in env steps per second: the raw env, flat PPO's agent, and the full PTGM agent.

    python bench/hierarchical_throughput.py                       # crafter_stone_pickaxe, 8 envs, 2 torch threads
    python bench/hierarchical_throughput.py --threads 1 --n_envs 8 --env_steps 4000

Measured (acting only, no PPO update; the training rates with updates are the ``fps`` column of each run's
``stats.csv``):

* ``raw_env``: one ``tasks.make(task)`` env stepped with random actions (resets included);
* ``flat_ppo``: SB3 ``PPO('CnnPolicy')``'s policy choosing actions for ``n_envs`` envs in a ``DummyVecEnv``
  (:func:`hierarchical.flat_baselines.make_flat_venv`), as in ``ppo_highlevel.py --method ppo_sb3``;
* ``ptgm``: the full hierarchical agent as trained by ``ppo_highlevel.py``: the high-level head choosing a code,
  the goal prior on every frame and its KL, the frozen trunk, the goal-conditioned low-level policy with classifier-
  free guidance (2 x ``n_envs`` rows), ``low_level_steps`` env steps per code, built from the task's config
  (``configs/crafter/highlevel.yaml``: the shipped models in ``downloads/crafter/``).

Writes ``--out`` (JSON) and prints it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np


def bench_raw_env(task: str, env_steps: int, seed: int) -> float:
    import tasks

    env = tasks.make(task)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    t0 = time.perf_counter()
    for _ in range(env_steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            env.reset()
    return env_steps / (time.perf_counter() - t0)


def _steps_per_second(venv, act, env_steps: int, warmup: int = 2) -> float:
    obs = venv.reset()
    for _ in range(warmup):
        obs, _, _, infos = venv.step(act(obs))
    done_steps, t0 = 0, time.perf_counter()
    while done_steps < env_steps:
        obs, _, _, infos = venv.step(act(obs))
        done_steps += sum(int(i.get("env_steps", 1)) for i in infos)
    return done_steps / (time.perf_counter() - t0)


def bench_flat_ppo(cfg, env_steps: int, seed: int) -> float:
    """Env steps per second of SB3 ``PPO('CnnPolicy')`` acting in ``cfg.n_envs`` envs (``cfg``: the task's
    :class:`hierarchical.config.HighLevelConfig`, :func:`checked_task_config`)."""
    import torch

    from hierarchical.flat_baselines import make_flat_ppo, make_flat_venv

    with tempfile.TemporaryDirectory() as tmp:
        venv = make_flat_venv(cfg, tmp, torch.device("cpu"))
        model = make_flat_ppo(venv, seed, torch.device("cpu"))
        rate = _steps_per_second(model.get_env(), lambda o: model.predict(o, deterministic=False)[0], env_steps)
        venv.close()
    return rate


def bench_ptgm(cfg, env_steps: int, seed: int) -> float:
    """Env steps per second of the full PTGM agent (``cfg``: the task's :class:`hierarchical.config.HighLevelConfig`,
    :func:`checked_task_config`)."""
    import torch
    from stable_baselines3 import PPO

    from hierarchical.build import make_highlevel_env
    from hierarchical.episode_log import make_logged_envs
    from sb3_vpt.policy import VPTHeadPolicy

    with tempfile.TemporaryDirectory() as tmp:
        device = torch.device("cpu")
        venv, _ = make_highlevel_env(cfg, device, envs=make_logged_envs(cfg, tmp, device))
        model = PPO(VPTHeadPolicy, venv, n_steps=cfg.steps_per_iter, batch_size=cfg.batch_size, seed=seed,
                    device=device, verbose=0)
        venv.attach_policy(model.policy)
        rate = _steps_per_second(venv, lambda o: model.predict(o, deterministic=False)[0], env_steps)
        venv.close()
    return rate


def task_config(task: str, overrides: dict, config_path=None):
    """The resolved high-level config of ``task``: the :class:`hierarchical.config.HighLevelConfig` that
    ``ppo_highlevel.py --config TASK [--highlevel_config config_path]`` trains with
    (:func:`hierarchical.methods.resolve_config`; ``overrides``: values of its fields, as flags). The bench scripts
    hand it to the builders, or lay their own values over it with :func:`hierarchical.config.with_values`.

    Raises:
        KeyError: an unknown task. FileNotFoundError / steve1.utils.cli.UsageError: as ``resolve_config``.
    """
    import tasks
    from hierarchical.methods import resolve_config

    return resolve_config(tasks.get_specs(task), overrides, config_path)[0]


def checked_task_config(task: str, overrides: dict, config_path=None, sim: str | None = None,
                        need_files: bool = True):
    """:func:`task_config` with every input checked, for the bench scripts: the task exists (and is of simulator
    ``sim``), ``config_path`` (``--highlevel_config``) is a readable file, every config value is in range
    (:class:`hierarchical.config.HighLevelConfig`, via ``resolve_config``), and, with ``need_files``, the model files
    the config names exist. The :class:`hierarchical.config.HighLevelConfig`, as :func:`task_config`.

    Raises:
        steve1.utils.cli.UsageError / FileNotFoundError: the first problem, naming the flag or the config file and key.
    """
    import tasks
    from hierarchical.build import check_files
    from hierarchical.methods import resolve_config
    from steve1.utils.checks import check_input_file
    from steve1.utils.cli import UsageError

    try:
        spec = tasks.get_specs(task)
    except KeyError as e:
        raise UsageError(f"--task {task}: {e.args[0] if e.args else e}") from e
    if sim is not None and spec.get("sim") != sim:
        raise UsageError(f"--task {task}: sim is {spec.get('sim')!r} in tasks/task_specs.yaml, expected a {sim!r} task")
    if config_path is not None:
        check_input_file(config_path, "--highlevel_config", "a high-level config YAML such as "
                                                            "configs/crafter/highlevel.yaml")
    try:
        cfg, sources = resolve_config(spec, overrides, config_path)
    except KeyError as e:
        raise UsageError(f"--task {task}: {e.args[0] if e.args else e}") from e
    except UsageError:
        raise
    except ValueError as e:  # the config file is not YAML / has unknown keys: the message names the file
        prefix = f"--highlevel_config {config_path}: " if config_path and str(config_path) not in str(e) else ""
        raise UsageError(f"{prefix}{type(e).__name__ + ': ' if prefix else ''}{e}") from e
    if need_files:
        check_files(cfg, sources)
    return cfg


def main(argv=None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a flag out of range, an unknown task, a bad config file, a
    missing model file, an unusable ``--out``) ends the program with one line on stderr naming the flag or the config
    file and key, and exit code 2, before anything is measured or written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("hierarchical_throughput.py", lambda: _main(argv))


def _main(argv) -> dict:
    from steve1.utils.checks import Range, check_output_path, check_ranges

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--task", default="crafter_stone_pickaxe")
    p.add_argument("--n_envs", type=int, default=8, help="parallel envs (flat PPO and PTGM)")
    p.add_argument("--env_steps", type=int, default=3000, help="env steps measured per agent")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--highlevel_config", default=None, help="high-level config YAML (default: the task's)")
    p.add_argument("--skip", nargs="*", default=[], choices=["raw_env", "flat_ppo", "ptgm"])
    p.add_argument("--out", default="bench/results/hierarchical_throughput.json")
    args = p.parse_args(argv)
    check_ranges(args, {"n_envs": Range(int, lo=1), "env_steps": Range(int, lo=1, note="env steps per agent"),
                        "threads": Range(int, lo=1)})
    check_output_path(args.out, "--out")
    cfg = checked_task_config(args.task, {"n_envs": args.n_envs}, args.highlevel_config,
                              need_files=not {"flat_ppo", "ptgm"} <= set(args.skip))
    import torch

    torch.set_num_threads(args.threads)
    result = {"task": args.task, "n_envs": args.n_envs, "torch_threads": args.threads,
              "low_level_steps": cfg.low_level_steps, "cpus": os.cpu_count(),
              "machine": platform.machine(), "env_steps_per_second": {}}
    rates = result["env_steps_per_second"]
    if "raw_env" not in args.skip:
        rates["raw_env"] = round(bench_raw_env(args.task, args.env_steps, args.seed), 1)
        print(f"raw env: {rates['raw_env']} env steps/s", flush=True)
    if "flat_ppo" not in args.skip:
        rates["flat_ppo"] = round(bench_flat_ppo(cfg, args.env_steps, args.seed), 1)
        print(f"flat PPO agent: {rates['flat_ppo']} env steps/s", flush=True)
    if "ptgm" not in args.skip:
        rates["ptgm"] = round(bench_ptgm(cfg, args.env_steps, args.seed), 1)
        print(f"PTGM agent: {rates['ptgm']} env steps/s", flush=True)
    result["measured_utc"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    from steve1.utils.io import atomic_write_json

    atomic_write_json(args.out, result, indent=2)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
