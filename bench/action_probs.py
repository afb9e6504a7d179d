"""Which of its teacher's actions does the low level give probability to? Per action, on held-out player frames.

    python bench/action_probs.py --episodes 30                              # the shipped low level
    python bench/action_probs.py --episodes 2 --max_episode_len 200 --out /tmp/p.json   # a smoke run

Why (issue 18): the unconditional low level places a table in 69% of its episodes but makes a wood pickaxe in 9%
(``bench/results/pretraining.json`` ``unconditional_bc_detail``), and its tech tree stops there. The crafting and
placing actions (``place_table``, ``place_furnace``, ``make_*``) are each chosen on about one frame of the scripted
player's episode (0.7% of the held-out player frames together; ``place_stone`` another 0.7%), so behaviour
cloning's cross-entropy gives them little weight (``action_loss_weights`` in ``configs/crafter/steve1.yaml``).
This bench measures how much probability the low level puts on each action on the frames where the player chose
it.

Held-out player episodes (run seed ``--seed``, default 9001 as the pre-training report's; empty start inventory;
:func:`pretraining_report.generate_player_episodes`) are fed to the low level of ``--highlevel_config`` frame by
frame with the zero goal (the unconditional policy), in windows of its ``timesteps`` with the recurrent state
carried through the episode. For every frame whose action was not one of the player's random (epsilon) actions,
the low level's action distribution is recorded under the player's action. Reported per player action: ``frames``,
``p_player_action`` (the mean probability of the player's action on those frames), ``top`` (the 3 actions with
the highest mean probability there), and ``share_of_frames``; overall ``nll`` (nats/frame, mean negative log
probability of the player's action).

Written (``--out``, default ``bench/results/action_probs.json``, atomically): the command, the counts and the table.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from typing import Any, Optional, Sequence

import numpy as np
from tqdm import tqdm


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--highlevel_config", default="configs/crafter/highlevel.yaml",
                   help="high-level config naming the low level (in_model, in_weights)")
    p.add_argument("--episodes", type=int, default=30, help="held-out scripted-player episodes")
    p.add_argument("--max_episode_len", type=int, default=10000, help="env steps after which an episode is cut")
    p.add_argument("--seed", type=int, default=9001, help="run seed of the held-out player episodes")
    p.add_argument("--episodes_dir", default=None,
                   help="keep the player episodes here (reused when they are there; default: a temporary folder)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--out", default="bench/results/action_probs.json", help="result JSON")
    return p


def action_probs(policy, episode_dirs: Sequence[str], action_names: Sequence[str], goal_dim: int,
                 window: int) -> dict[str, Any]:
    """The table of the module docstring from the low level ``policy`` (a STEVE-1 policy, eval) over the episodes.

    ``window``: frames per forward pass (the model's ``timesteps``); the recurrent state is carried across windows.
    Probabilities: float64 sums of ``exp(log_softmax)`` per frame, over the 17 (``len(action_names)``) actions."""
    import torch

    from steve1.data.EpisodeStorage import EpisodeStorage

    n = len(action_names)
    psum, count, nll = np.zeros((n, n)), np.zeros(n, np.int64), 0.0
    with torch.inference_mode():
        for d in tqdm(episode_dirs, desc="action probabilities", unit="episode", dynamic_ncols=True):
            st = EpisodeStorage(d)
            actions = np.asarray(st.load_actions(), np.int64)
            length = len(actions)
            frames = st.load_frame_array((0, length))
            random = np.asarray(st.load_infos().get("random_action", np.zeros(length, bool)), bool)
            state = policy.initial_state(1)
            for t0 in range(0, length, window):
                t1 = min(t0 + window, length)
                img = torch.as_tensor(frames[t0:t1][None])
                first = torch.zeros(1, t1 - t0, dtype=torch.bool)
                first[0, 0] = t0 == 0
                goal = torch.zeros(1, t1 - t0, goal_dim)
                (pd, _, _), state = policy({"img": img, "mineclip_embed": goal}, first, state)
                probs = torch.as_tensor(pd).float().exp().reshape(t1 - t0, n).double().numpy()
                keep = ~random[t0:t1]
                acts = actions[t0:t1][keep]
                np.add.at(psum, acts, probs[keep])
                np.add.at(count, acts, 1)
                nll -= float(np.log(probs[keep][np.arange(len(acts)), acts]).sum())
    total = int(count.sum())
    table = {}
    for a in np.flatnonzero(count):
        mean = psum[a] / count[a]
        table[action_names[a]] = {"frames": int(count[a]), "share_of_frames": round(float(count[a] / total), 5),
                                  "p_player_action": round(float(mean[a]), 4),
                                  "top": [[action_names[b], round(float(mean[b]), 4)] for b in np.argsort(-mean)[:3]]}
    return {"frames": total, "nll": round(nll / max(total, 1), 4), "by_player_action": table}


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    p = build_parser()
    args = p.parse_args(argv)
    from pretraining_report import check_flags

    check_flags(p, args, positive=("episodes", "max_episode_len", "threads"), non_negative=("seed",),
                files=("highlevel_config",), json_out=("out",))
    import torch

    import tasks
    from hierarchical.build import load_low_level
    from hierarchical_throughput import task_config
    from pretraining_report import generate_player_episodes
    from steve1.utils.checks import run_main
    from steve1.utils.io import atomic_write_json
    from tasks.crafter.env import ACTION_NAMES
    from VPT.lib.loading import load_model_config

    torch.set_num_threads(args.threads)
    command = "python bench/action_probs.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))

    def body() -> dict[str, Any]:
        cfg = task_config("crafter_score", {"n_envs": 1}, args.highlevel_config)
        model_config = load_model_config(cfg.in_model)[0]
        size, window = int(model_config["img_shape"][0]), int(model_config.get("timesteps") or 32)
        policy = load_low_level(cfg, tasks.get_plugin(cfg.sim).ACTION_SPACE, None, torch.device("cpu"))
        goal_dim = int(policy.goal_dim)
        t0 = time.time()
        with tempfile.TemporaryDirectory(prefix="action_probs_") as tmp:
            where = args.episodes_dir or tmp
            from tasks.crafter.generate_play_data import episode_name

            dirs = [os.path.join(where, episode_name(args.seed, i)) for i in range(args.episodes)]
            if not all(os.path.isfile(os.path.join(d, "len.txt")) for d in dirs):
                dirs = generate_player_episodes(where, args.seed, args.episodes, args.max_episode_len, size)
            table = action_probs(policy, dirs, ACTION_NAMES, goal_dim, window)
        result = {"command": command.strip(), "highlevel_config": args.highlevel_config,
                  "in_weights": cfg.in_weights, "episodes": args.episodes, "seed": args.seed,
                  "max_episode_len": args.max_episode_len, **table, "seconds": round(time.time() - t0, 1)}
        atomic_write_json(args.out, result)
        rows = sorted(table["by_player_action"].items(), key=lambda kv: kv[1]["share_of_frames"])
        for name, row in rows:
            print(f"{name:20s} frames {row['frames']:6d}  p(player action) {row['p_player_action']:.3f}", flush=True)
        return result

    return run_main("action_probs.py", body)


if __name__ == "__main__":
    main()
