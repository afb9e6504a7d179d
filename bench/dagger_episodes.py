"""DAgger episodes: the low level acts, the shadowing scripted player labels every step (issue 18, a first iteration).

    python bench/dagger_episodes.py --out_dir downloads/dagger_crafter --first_world 20001 --episodes 160
    python bench/dagger_episodes.py --out_dir /tmp/d --episodes 2 --max_steps 40        # a smoke run
    python bench/dagger_episodes.py --out_dir downloads/dagger_night/it1_replan --first_world 40001 --episodes 100 \
        --max_steps 450 --learner_from 70 --beta 0.3 --replan_off_path     # the night from the player's dusk state

Why: the low level agrees with its teacher on 60% of the teacher's states but 18% of its own
(``bench/teacher_agreement.py``): behaviour cloning's covariate shift. DAgger (Ross et al. 2011) trains on the states
the learner visits, labelled by the expert. The scripted player decides only from what the agent's image shows and
its own memory of it, so it can label any state (:class:`teacher_agreement.ShadowEnv`, learner mode).

Each episode is played in Crafter world ``--first_world + j`` (empty inventory; keep these disjoint from the held-out
evaluation worlds 9001..) by the low level of ``--highlevel_config`` with the zero goal (the unconditional policy,
through :class:`hierarchical.high_level_wrapper.HighlevelVecEnv`) until death or ``--max_steps``; it is written with
:class:`steve1.data.EpisodeStorage.EpisodeStorage` as play data the BC trainer reads: frame ``t`` is the observation
the low level acted on, action ``t`` the player's action for it (its label), ``embeds_attn.pkl`` zero vectors of the
codebook's size from frame 15 on (so that every chunk trains the unconditional, zero-goal branch: a hindsight goal of
the learner's own trajectory would not match the teacher's labels), and ``infos.npz`` ``random_action`` flags the
steps where the player was asleep or chose a random (epsilon) action (left out of the loss with
``mask_random_actions``). ``metadata.json``: ``sim``, ``policy``, ``world_seed``, ``length``, ``end``.
Episodes are named ``dagger_w<world>``; one that exists is skipped (a rerun resumes).

Variants (session 22, ``bench/results/night_dagger/``): ``--learner_from N`` lets the player play env steps
``0..N-1`` (those frames are flagged out of the loss: they are play data already) and hands over at step ``N``;
``--beta`` executes the player's action instead of the low level's with that probability per step (DAgger's mixture
policy); ``--replan_off_path`` makes the labelling player re-plan at once when the low level left its path instead of
labelling that step ``noop`` (:attr:`tasks.crafter.player.navigation.Navigation.replan_off_path`).
Session 23 (``bench/results/nav_oracle/``): ``--goal intent_oracle`` (or ``nav_oracle``) drives a low level trained
on the player's intent as its goal (``bench/subgoal_oracle.py``) with the labelling player's intent every env step
(:func:`teacher_agreement.goal_driver`) and writes those goals as the episode's ``embeds_attn.pkl``.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any, Optional, Sequence

import numpy as np


def write_episode(out_dir: str, record: dict[str, Any], goal_dim: int, learner_from: int = 0,
                  beta: float = 0.0, replan_off_path: bool = False, goal: str = "zero") -> str:
    """Write one :class:`teacher_agreement.ShadowEnv` record (with ``frames``) as a DAgger episode (module
    docstring); returns its folder. Frames before env step ``learner_from`` (the player's own opening, already
    play data) are flagged out of the loss; ``learner_from``, ``beta`` and ``replan_off_path`` (how the labelling
    player was run) are recorded in the metadata. ``goal``: the goal written for frame ``t`` >= 15: zeros of size
    ``goal_dim``, or the labelling player's intent in that state (``intent_oracle``:
    :func:`subgoal_oracle.intent_vector` of the record's ``nav_offsets[t]`` and sub-goal; ``nav_oracle``:
    :func:`subgoal_oracle.nav_vector`), the goal the low level was driven with.

    Raises:
        ValueError: an unknown ``goal``."""
    from steve1.data.EpisodeStorage import EpisodeStorage
    from subgoal_oracle import INTENT_EMBEDDER, NAV_EMBEDDER, intent_vector, nav_vector
    from tasks.crafter.player.rules import SUBGOALS

    length = int(record["length"])
    teacher = [int(t) for _, t, _, _, _ in record["steps"]]
    skip = np.array([bool(k) for _, _, k, _, _ in record["steps"]], bool)
    skip[:learner_from] = True
    if goal == "zero":
        embeds = [None if t < 15 else np.zeros((1, goal_dim), np.float32) for t in range(length)]
    elif goal in ("nav_oracle", "intent_oracle"):
        navs, subs = record["nav_offsets"], [sub for _, _, _, sub, _ in record["steps"]]
        embeds = [None if t < 15 else (nav_vector(navs[t], goal_dim) if goal == "nav_oracle" else
                                       intent_vector(navs[t], SUBGOALS.index(subs[t]), goal_dim))[None]
                  for t in range(length)]
    else:
        raise ValueError(f"goal must be zero, nav_oracle or intent_oracle, got {goal!r}")
    embedder = {"zero": "zero", "nav_oracle": NAV_EMBEDDER, "intent_oracle": INTENT_EMBEDDER}[goal]
    path = os.path.join(out_dir, f"dagger_w{int(record['world_seed'])}")
    EpisodeStorage(path).write_episode(
        record["frames"], teacher, embeds=embeds, infos={"random_action": skip},
        metadata={"sim": "crafter", "policy": f"dagger: the low level acts ({goal} goal), the scripted player labels",
                  "world_seed": int(record["world_seed"]), "length": length,
                  "end": "death" if record["dead"] else "max_steps", "embedder": embedder,
                  "learner_from": int(learner_from), "beta": float(beta), "replan_off_path": bool(replan_off_path),
                  "learner_steps": int(length - sum(bool(x) for x in record.get("teacher_executed", [])))})
    return path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out_dir", required=True, help="folder of the DAgger episodes")
    p.add_argument("--highlevel_config", default="configs/crafter/highlevel.yaml",
                   help="high-level config naming the low level that acts (in_model, in_weights, cond_scale)")
    p.add_argument("--first_world", type=int, default=20001, help="world seed of episode 0 (and its player's seed)")
    p.add_argument("--episodes", type=int, default=160, help="episodes")
    p.add_argument("--max_steps", type=int, default=1000, help="env steps after which an episode ends")
    p.add_argument("--n_envs", type=int, default=8, help="envs stepped together")
    p.add_argument("--seed", type=int, default=1, help="seed of the low level's action sampling")
    p.add_argument("--learner_from", type=int, default=0,
                   help="env step from which the low level acts: before it the player plays (e.g. 70, dusk: DAgger "
                        "on the night from the player's own dusk state); those frames are left out of the loss")
    p.add_argument("--beta", type=float, default=0.0,
                   help="from --learner_from on, probability per env step that the player's action is executed "
                        "instead of the low level's (DAgger's mixture policy)")
    p.add_argument("--replan_off_path", action="store_true",
                   help="the labelling player plans a fresh path instead of a noop after a step off its path "
                        "(Navigation.replan_off_path: without it, every deviation of the low level is labelled noop)")
    p.add_argument("--goal", choices=("zero", "nav_oracle", "intent_oracle"), default="zero",
                   help="the low level's goal while it acts, also written as the episode's goals: zero, or the "
                        "labelling player's walk destination (and sub-goal) each env step (teacher_agreement.py "
                        "--goal; for a low level trained on that goal space)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    p = build_parser()
    args = p.parse_args(argv)
    from pretraining_report import check_flags

    check_flags(p, args, positive=("episodes", "max_steps", "n_envs"), non_negative=("first_world", "learner_from"),
                files=("highlevel_config",))
    if not 0.0 <= args.beta <= 1.0:
        p.error(f"--beta must be in [0, 1], got {args.beta}")
    import torch

    from hierarchical.build import make_highlevel_env
    from hierarchical_throughput import task_config
    from pretraining_report import drive, goals_config, zero_goal
    from steve1.utils.checks import run_main
    from teacher_agreement import ShadowEnv, goal_driver
    from VPT.lib.loading import load_model_config

    torch.set_num_threads(1)

    def body() -> dict[str, Any]:
        t0 = time.time()
        cfg = task_config("crafter_score", {"n_envs": args.n_envs}, args.highlevel_config)
        size = int(load_model_config(cfg.in_model)[0]["img_shape"][0])
        dim = zero_goal(cfg).shape[1]
        worlds = [args.first_world + j for j in range(args.episodes)
                  if not os.path.isdir(os.path.join(args.out_dir, f"dagger_w{args.first_world + j}"))]
        os.makedirs(args.out_dir, exist_ok=True)
        summary = {"out_dir": args.out_dir, "written": 0, "skipped_existing": args.episodes - len(worlds), "frames": 0}
        if worlds:
            n = max(1, min(args.n_envs, len(worlds)))
            seeds = [worlds[i::n] for i in range(n)]
            with tempfile.TemporaryDirectory(prefix="dagger_") as tmp:
                envs = [ShadowEnv("learner", s, s, size, args.max_steps, keep_frames=True,
                                  learner_from=args.learner_from, beta=args.beta, beta_seed=args.seed,
                                  replan_off_path=args.replan_off_path) for s in seeds]
                table, codes, values = goal_driver(args.goal, cfg, envs)
                run_cfg = goals_config(cfg, tmp, n, table, **values)
                venv, _ = make_highlevel_env(run_cfg, torch.device("cpu"), envs=envs)
                drive(venv, envs, [len(s) for s in seeds], False, args.seed, "dagger episodes", codes=codes)
            for e, s in zip(envs, seeds):
                for record in e.records[:len(s)]:
                    write_episode(args.out_dir, record, dim, args.learner_from, args.beta, args.replan_off_path,
                                  args.goal)
                    summary["written"] += 1
                    summary["frames"] += int(record["length"])
        summary["seconds"] = round(time.time() - t0, 1)
        print(summary)
        return summary

    return run_main("dagger_episodes.py", body)


if __name__ == "__main__":
    main()
