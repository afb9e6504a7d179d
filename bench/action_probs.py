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
probability of the player's action); and on the ``keyframes`` (frames whose action differs from the frame before's,
``steve1/data/minecraft_dataset.py`` "Keyframe loss weight") and the ``repeats`` (the others, the first frame of an
episode in neither) the mean probability of the player's action and of the previous frame's action.

``by_event`` (issue 18, session 39: the competence failures show the low level next to coal or iron that does not
turn to it and press ``do``): the same probabilities on the frames that led to each achievement: lag 0 is the
frame whose action brought the achievement about (the ``do`` that mines coal, the craft), lag 1 the one before (the
turn that faces the material), and so on to ``--lags``; with ``player_actions``, what the player did there.
``--goal_code K`` feeds the config's codebook code K on every frame instead of the zero goal (e.g. a link's best
code in the report), as the low level runs at the config's ``cond_scale`` 0 (no guidance); ``--no_memory`` feeds
each frame alone (no history: does the low level copy the last action from its memory?). ``by_approach``: on
the frames where the player pursues a collecting sub-goal beside its material, how often it turns to the material
(or mines it, when facing it) and what probability the low level gives that move (or ``do``).

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

from pretraining_report import APPROACH_TARGETS, MOVES, approach_frames  # noqa: F401  (re-exported)


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
    p.add_argument("--goal_code", type=int, default=None,
                   help="feed this codebook code (of the config's codebook) as the goal instead of the zero goal")
    p.add_argument("--lags", type=int, default=3,
                   help="by_event: the frames 0 .. lags-1 before each achievement's action")
    p.add_argument("--no_memory", action="store_true",
                   help="feed each frame alone (a fresh memory): what the low level does from the image only")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--out", default="bench/results/action_probs.json", help="result JSON")
    return p


def action_probs(policy, episode_dirs: Sequence[str], action_names: Sequence[str], goal_dim: int,
                 window: int, achievement_names: Optional[Sequence[str]] = None,
                 lags: int = 3, goal: Optional[np.ndarray] = None,
                 semantic_names: Optional[Sequence[str]] = None, no_memory: bool = False) -> dict[str, Any]:
    """The table of the module docstring from the low level ``policy`` (a STEVE-1 policy, eval) over the episodes.

    ``window``: frames per forward pass (the model's ``timesteps``); the recurrent state is carried across windows.
    ``goal``: float ``[goal_dim]`` fed on every frame (e.g. a codebook code); None: the zero goal.
    ``no_memory``: each frame is fed alone (a fresh recurrent state, ``first`` set): the policy sees no history.
    Probabilities: float64 sums of ``exp(log_softmax)`` per frame, over the 17 (``len(action_names)``) actions.
    With ``achievement_names`` (the columns of the episodes' ``infos.npz`` ``achievements`` [L, A]), also
    ``by_event``: for each achievement and lag ``0 .. lags - 1``, the frames ``t - lag`` where action ``t``
    brought the achievement about (its count is higher at ``t + 1``), random-action frames left out; per lag
    ``frames``, ``p_player_action``, ``top`` (as the table) and ``player_actions`` (the player's 3 most frequent
    actions there, with their share); per achievement ``events`` and ``random_action_events`` (those whose action
    was one of the player's random actions). Episodes without ``achievements`` add nothing to it.
    With ``semantic_names`` (the ids of ``infos.npz`` ``view``), also ``by_approach``: per collecting sub-goal, on
    its ``turn`` frames (:func:`approach_frames`, random-action frames left out) ``teacher_turns`` (the share on
    which the player moved toward the material), ``p_turn`` (the low level's mean probability of that move) and
    ``p_do_at_turn`` (of ``do``, which does nothing there), ``p_ahead_at_turn`` (of the move the player faces,
    i.e. walking on) and ``top_at_turn``; on its ``facing`` frames ``teacher_do`` and ``p_do``; on the frames with
    the material so placed while the player pursues another sub-goal, ``turn_frames_not_pursued``,
    ``teacher_turns_not_pursued`` and ``p_turn_not_pursued``. Episodes without
    ``view``, ``facing`` and ``subgoal`` add nothing to it. ``keyframes`` and ``repeats``: the module docstring."""
    import torch
    from pretraining_report import event_frames

    from steve1.data.EpisodeStorage import EpisodeStorage

    n = len(action_names)
    psum, count, nll = np.zeros((n, n)), np.zeros(n, np.int64), 0.0
    ev: dict[tuple[str, int], dict[str, Any]] = {}
    key = {"keyframes": np.zeros(3), "repeats": np.zeros(3)}   # frames, p player action, p previous action
    n_ev: dict[str, np.ndarray] = {}   # achievement -> [events, events whose action was a random one]
    appr: dict[str, np.ndarray] = {}   # sub-goal -> [turn frames, teacher turned, p turn, facing frames, do, p do,
    #                                    p do on turn frames, p of the move ahead there, p of each action there]
    move_ids = [list(action_names).index(m) if m in action_names else -1 for m in MOVES]
    goal_vec = None if goal is None else torch.as_tensor(np.asarray(goal, np.float32)).reshape(1, 1, goal_dim)
    with torch.inference_mode():
        for d in tqdm(episode_dirs, desc="action probabilities", unit="episode", dynamic_ncols=True):
            st = EpisodeStorage(d)
            actions = np.asarray(st.load_actions(), np.int64)
            length = len(actions)
            frames = st.load_frame_array((0, length))
            infos = st.load_infos()
            random = np.asarray(infos.get("random_action", np.zeros(length, bool)), bool)
            state = policy.initial_state(1)
            probs = np.zeros((length, n))
            for t0 in range(0, length, 256) if no_memory else ():   # each frame alone: a batch of 1-frame sequences
                t1 = min(t0 + 256, length)
                img = torch.as_tensor(frames[t0:t1][:, None])
                goal = (torch.zeros(t1 - t0, 1, goal_dim) if goal_vec is None
                        else goal_vec.expand(t1 - t0, 1, goal_dim))
                (pd, _, _), _ = policy({"img": img, "mineclip_embed": goal}, torch.ones(t1 - t0, 1, dtype=torch.bool),
                                       policy.initial_state(t1 - t0))
                probs[t0:t1] = torch.as_tensor(pd).float().exp().reshape(t1 - t0, n).double().numpy()
            for t0 in range(0, length, window) if not no_memory else ():
                t1 = min(t0 + window, length)
                img = torch.as_tensor(frames[t0:t1][None])
                first = torch.zeros(1, t1 - t0, dtype=torch.bool)
                first[0, 0] = t0 == 0
                goal = (torch.zeros(1, t1 - t0, goal_dim) if goal_vec is None
                        else goal_vec.expand(1, t1 - t0, goal_dim))
                (pd, _, _), state = policy({"img": img, "mineclip_embed": goal}, first, state)
                probs[t0:t1] = torch.as_tensor(pd).float().exp().reshape(t1 - t0, n).double().numpy()
            keep = ~random
            prev = np.r_[-1, actions[:-1]]
            for name, sel in (("keyframes", keep & (prev >= 0) & (actions != prev)),
                              ("repeats", keep & (prev >= 0) & (actions == prev))):
                f = np.flatnonzero(sel)
                key[name] += (len(f), float(probs[f, actions[f]].sum()), float(probs[f, prev[f]].sum()))
            acts = actions[keep]
            np.add.at(psum, acts, probs[keep])
            np.add.at(count, acts, 1)
            nll -= float(np.log(probs[keep][np.arange(len(acts)), acts]).sum())
            if semantic_names is not None and {"view", "facing", "subgoal"} <= set(infos) and min(move_ids) >= 0:
                do = list(action_names).index("do")
                names = list(st.load_metadata().get("subgoal_names") or [])
                for name, fr in approach_frames(infos["view"], infos["facing"], infos["subgoal"], names,
                                                semantic_names).items():
                    t_keep = ~random[fr["turn"]]
                    turn, move = fr["turn"][t_keep], np.asarray(move_ids)[fr["move"][t_keep]]
                    face = fr["facing"][~random[fr["facing"]]]
                    ahead = np.asarray([move_ids[list(MOVES.values()).index((int(x), int(y)))]
                                        for x, y in np.asarray(infos["facing"])[turn]], np.int64)
                    o_keep = ~random[fr["turn_not_pursued"]]
                    other = fr["turn_not_pursued"][o_keep]
                    o_move = np.asarray(move_ids)[fr["move_not_pursued"][o_keep]]
                    appr.setdefault(name, np.zeros(11 + n))[:] += (
                        len(turn), float((actions[turn] == move).sum()), float(probs[turn, move].sum()),
                        len(face), float((actions[face] == do).sum()), float(probs[face, do].sum()),
                        float(probs[turn, do].sum()), float(probs[turn, ahead].sum()),
                        len(other), float((actions[other] == o_move).sum()), float(probs[other, o_move].sum()),
                        *probs[turn].sum(0))
            ach = infos.get("achievements") if achievement_names is not None else None
            if ach is not None:
                for f, keys in event_frames(ach, achievement_names, lags).items():
                    for name, lag in keys:
                        if lag == 0:
                            n_ev[name] = n_ev.get(name, np.zeros(2)) + (1, random[f])
                        if random[f]:
                            continue
                        e = ev.setdefault((name, lag), {"psum": np.zeros(n), "p": 0.0, "acts": np.zeros(n, np.int64)})
                        e["psum"] += probs[f]
                        e["p"] += probs[f, actions[f]]
                        e["acts"][actions[f]] += 1
    total = int(count.sum())
    table = {}
    for a in np.flatnonzero(count):
        mean = psum[a] / count[a]
        table[action_names[a]] = {"frames": int(count[a]), "share_of_frames": round(float(count[a] / total), 5),
                                  "p_player_action": round(float(mean[a]), 4),
                                  "top": [[action_names[b], round(float(mean[b]), 4)] for b in np.argsort(-mean)[:3]]}
    out = {"frames": total, "nll": round(nll / max(total, 1), 4), "by_player_action": table,
           **{name: {"frames": int(k[0]), "p_player_action": round(k[1] / k[0], 4) if k[0] else None,
                     "p_previous_action": round(k[2] / k[0], 4) if k[0] else None} for name, k in key.items()}}
    if achievement_names is not None:
        by_event: dict[str, dict[str, Any]] = {}
        for (name, lag), e in sorted(ev.items()):
            c = int(e["acts"].sum())
            mean = e["psum"] / c
            by_event.setdefault(name, {})[f"lag_{lag}"] = {
                "frames": c, "p_player_action": round(e["p"] / c, 4),
                "top": [[action_names[b], round(float(mean[b]), 4)] for b in np.argsort(-mean)[:3]],
                "player_actions": [[action_names[b], round(float(e["acts"][b] / c), 4)]
                                   for b in np.argsort(-e["acts"], kind="stable")[:3] if e["acts"][b]]}
        for name, (total, rnd) in n_ev.items():
            by_event.setdefault(name, {}).update(events=int(total), random_action_events=int(rnd))
        out["by_event"] = by_event
    if semantic_names is not None:
        out["by_approach"] = {name: {
            "turn_frames": int(a[0]), "teacher_turns": round(a[1] / a[0], 4) if a[0] else None,
            "p_turn": round(a[2] / a[0], 4) if a[0] else None,
            "p_do_at_turn": round(a[6] / a[0], 4) if a[0] else None,
            "p_ahead_at_turn": round(a[7] / a[0], 4) if a[0] else None,
            "top_at_turn": [[action_names[b], round(float(a[11 + b] / a[0]), 4)]
                            for b in np.argsort(-a[11:])[:3]] if a[0] else [],
            "facing_frames": int(a[3]), "teacher_do": round(a[4] / a[3], 4) if a[3] else None,
            "p_do": round(a[5] / a[3], 4) if a[3] else None,
            "turn_frames_not_pursued": int(a[8]), "teacher_turns_not_pursued": round(a[9] / a[8], 4) if a[8] else None,
            "p_turn_not_pursued": round(a[10] / a[8], 4) if a[8] else None} for name, a in appr.items()}
    return out


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    p = build_parser()
    args = p.parse_args(argv)
    from pretraining_report import check_flags

    check_flags(p, args, positive=("episodes", "max_episode_len", "threads", "lags"), non_negative=("seed",),
                files=("highlevel_config",), json_out=("out",))
    if args.goal_code is not None and args.goal_code < 0:
        p.exit(2, f"{p.prog}: error: --goal_code {args.goal_code}: expected an integer >= 0\n")
    import torch

    import tasks
    from hierarchical.build import load_low_level
    from hierarchical_throughput import task_config
    from pretraining_report import generate_player_episodes
    from steve1.utils.checks import run_main
    from steve1.utils.io import atomic_write_json
    from tasks.crafter.env import ACHIEVEMENTS, ACTION_NAMES, SEMANTIC_NAMES
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
        goal = None
        if args.goal_code is not None:
            from hierarchical.build import load_codebook

            codes = np.asarray(load_codebook(cfg).codes, np.float32)
            if args.goal_code >= len(codes):
                from steve1.utils.cli import UsageError

                raise UsageError(f"--goal_code {args.goal_code}: the codebook {cfg.codebook} has {len(codes)} codes")
            goal = codes[args.goal_code]
        t0 = time.time()
        with tempfile.TemporaryDirectory(prefix="action_probs_") as tmp:
            where = args.episodes_dir or tmp
            from tasks.crafter.generate_play_data import episode_name

            dirs = [os.path.join(where, episode_name(args.seed, i)) for i in range(args.episodes)]
            if not all(os.path.isfile(os.path.join(d, "len.txt")) for d in dirs):
                dirs = generate_player_episodes(where, args.seed, args.episodes, args.max_episode_len, size)
            table = action_probs(policy, dirs, ACTION_NAMES, goal_dim, window, ACHIEVEMENTS, args.lags, goal,
                                 SEMANTIC_NAMES, args.no_memory)
        result = {"command": command.strip(), "highlevel_config": args.highlevel_config,
                  "in_weights": cfg.in_weights, "episodes": args.episodes, "seed": args.seed,
                  "max_episode_len": args.max_episode_len, "goal_code": args.goal_code,
                  "no_memory": args.no_memory, **table,
                  "seconds": round(time.time() - t0, 1)}
        atomic_write_json(args.out, result)
        rows = sorted(table["by_player_action"].items(), key=lambda kv: kv[1]["share_of_frames"])
        for name, row in rows:
            print(f"{name:20s} frames {row['frames']:6d}  p(player action) {row['p_player_action']:.3f}", flush=True)
        return result

    return run_main("action_probs.py", body)


if __name__ == "__main__":
    main()
