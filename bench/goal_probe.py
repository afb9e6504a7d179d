"""How much of the player's sub-goal does a relabeled goal carry? A linear probe on held-out player episodes.

    python bench/goal_probe.py                                   # the shipped low level's relabeling (next_unlock)
    python bench/goal_probe.py --relabeling next_event --out bench/results/next_event/probe_next_event.json
    python bench/goal_probe.py --episodes 4 --train_episodes 2 --max_episode_len 200 --out /tmp/probe.json  # smoke

Why (issue 18, session 40): where the scripted player stands beside a material without facing it, whether it turns
to it depends on the sub-goal it pursues (always when it pursues that material, ~3% of the time otherwise), which the
image does not show; only the goal can tell the low level. This bench measures how much of the sub-goal a goal
relabeled as the low level is trained carries, before any low level is trained on it.

Held-out player episodes (run seed ``--seed``, default 9001 as the pre-training report's; kept in
``--episodes_dir`` when given, reused when there) are embedded with the goal embedder (``--embedder_weights``,
the dataset code path) and chunked and relabeled by :class:`steve1.data.minecraft_dataset.MinecraftDataset` with the
settings of the low level's args file (``--low_level_args``: ``T``, ``min_btwn_goals``, ``max_btwn_goals``,
``goal_lead``, ``relabeling``, ``unlock_horizon``), each overridable by its flag. Every frame of every chunk (an
episode's last chunk overlaps the one before, as in training, so some frames count twice) gives a pair (its goal
embedding, float32 ``[D]``; the player's recorded sub-goal, ``infos.npz`` ``subgoal``); frames of the sub-goals in
``--exclude`` (default: sheltering and sleeping, which fill most of the night and which the goal does not need to name)
and the player's random-action frames are left out. A multinomial logistic regression (scikit-learn, ``C`` = ``--C``) is
fitted on the pairs of the first ``--train_episodes`` episodes and scored on the rest: ``accuracy`` against
``majority`` (the training set's most frequent sub-goal), and per sub-goal ``frames``, ``recall`` and ``precision``.

Written (``--out``, atomically): the command, the settings, the counts and those figures.
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--low_level_args", default="downloads/crafter/steve1_crafter_args.yaml",
                   help="the low level's training args (relabeling settings)")
    p.add_argument("--embedder_weights", default="downloads/crafter/crafterclip.pt", help="goal embedder weights")
    p.add_argument("--relabeling", default=None, choices=("hindsight", "next_unlock", "next_event"),
                   help="override the args file's relabeling")
    p.add_argument("--unlock_horizon", type=int, default=None, help="override the args file's unlock_horizon")
    p.add_argument("--episodes", type=int, default=80, help="held-out scripted-player episodes")
    p.add_argument("--train_episodes", type=int, default=60, help="episodes the probe is fitted on (the rest test)")
    p.add_argument("--max_episode_len", type=int, default=10000, help="env steps after which an episode is cut")
    p.add_argument("--seed", type=int, default=9001, help="run seed of the held-out player episodes")
    p.add_argument("--episodes_dir", default=None,
                   help="keep the player episodes here (reused when they are there; default: a temporary folder)")
    p.add_argument("--exclude", nargs="*", default=["shelter", "sleeping"], help="sub-goals left out")
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the logistic regression")
    p.add_argument("--out", default="bench/results/goal_probe.json", help="result JSON")
    return p


def goal_subgoal_pairs(episode_dirs: Sequence[str], settings: dict[str, Any], seed: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Per frame of every chunk (:class:`MinecraftDataset`, ``settings`` as its keyword arguments, no goal dropout):
    its relabeled goal embedding, the player's sub-goal and the episode's index, random-action frames left out.

    Returns:
        ``(goals float32 [N, D], subgoals int64 [N], episode int64 [N], sub-goal names)``.
    Raises:
        ValueError: an episode has no ``infos.npz`` ``subgoal`` (not scripted-player data), or the sub-goal names
            differ between episodes; the dataset's own errors (too-short episodes, missing embeddings)."""
    from steve1.data.EpisodeStorage import EpisodeStorage
    from steve1.data.minecraft_dataset import MinecraftDataset

    ds = MinecraftDataset(list(episode_dirs), p_uncond=0.0, seed=seed, **settings)
    index = {d: i for i, d in enumerate(ds.episode_dirs)}
    sub, names = {}, None
    for d in ds.episode_dirs:
        st = EpisodeStorage(d)
        subgoal, random = st.load_info("subgoal"), st.load_info("random_action")
        if subgoal is None:
            raise ValueError(f"{d}: no infos.npz 'subgoal' (scripted-player episodes expected)")
        ep_names = list(st.load_metadata().get("subgoal_names") or [])
        if names is not None and ep_names != names:
            raise ValueError(f"{d}: sub-goal names differ from the first episode's")
        names = ep_names
        sub[d] = (np.asarray(subgoal, np.int64),
                  np.zeros(len(subgoal), bool) if random is None else np.asarray(random, bool))
    goals, labels, eps = [], [], []
    for i in range(len(ds)):
        chunk = ds.load_chunk(i)
        goal = np.asarray(ds.make_item(chunk)[0]["mineclip_embed"], np.float32)
        frames = np.arange(chunk.start, chunk.start + len(goal))
        s, r = sub[chunk.episode_dir]
        keep = ~r[frames]
        goals.append(goal[keep])
        labels.append(s[frames][keep])
        eps.append(np.full(int(keep.sum()), index[chunk.episode_dir], np.int64))
    return np.concatenate(goals), np.concatenate(labels), np.concatenate(eps), names or []


def probe(goals: np.ndarray, labels: np.ndarray, train: np.ndarray, names: Sequence[str], C: float = 1.0
          ) -> dict[str, Any]:
    """Fit a multinomial logistic regression ``goal -> sub-goal`` on the rows ``train`` (bool ``[N]``) and score it
    on the others: ``accuracy``, ``majority`` (share of the test rows with the training rows' most frequent label),
    ``by_subgoal`` {name: ``frames``, ``recall``, ``precision`` (None where never predicted)}.

    Raises:
        ValueError: no training or no test rows, or fewer than 2 labels among the training rows."""
    from sklearn.linear_model import LogisticRegression

    train = np.asarray(train, bool)
    test = ~train
    if not train.any() or not test.any():
        raise ValueError(f"probe: {int(train.sum())} training and {int(test.sum())} test frames (both needed)")
    if len(np.unique(labels[train])) < 2:
        raise ValueError("probe: the training frames hold fewer than 2 sub-goals")
    clf = LogisticRegression(max_iter=2000, C=C).fit(goals[train], labels[train])
    pred, truth = clf.predict(goals[test]), labels[test]
    majority = int(np.bincount(labels[train]).argmax())
    rows = {}
    for k in np.unique(truth):
        hit, said = truth == k, pred == k
        rows[names[k]] = {"frames": int(hit.sum()), "recall": round(float((pred[hit] == k).mean()), 4),
                          "precision": round(float((truth[said] == k).mean()), 4) if said.any() else None}
    return {"train_frames": int(train.sum()), "test_frames": int(test.sum()),
            "accuracy": round(float((pred == truth).mean()), 4),
            "majority": round(float((truth == majority).mean()), 4), "majority_subgoal": names[majority],
            "by_subgoal": dict(sorted(rows.items()))}


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    p = build_parser()
    args = p.parse_args(argv)
    from pretraining_report import check_flags

    check_flags(p, args, positive=("episodes", "train_episodes", "max_episode_len"), non_negative=("seed",),
                files=("low_level_args", "embedder_weights"), json_out=("out",))
    if args.train_episodes >= args.episodes:
        p.exit(2, f"{p.prog}: error: --train_episodes {args.train_episodes}: must be below --episodes "
                  f"{args.episodes} (the rest are the test episodes)\n")
    if args.unlock_horizon is not None and args.unlock_horizon < 1:
        p.exit(2, f"{p.prog}: error: --unlock_horizon {args.unlock_horizon}: expected an integer >= 1\n")
    if not args.C > 0:
        p.exit(2, f"{p.prog}: error: --C {args.C}: expected a number > 0\n")
    from hierarchical.build import read_yaml
    from pretraining_report import embed_episodes, generate_player_episodes
    from steve1.utils.checks import run_main
    from steve1.utils.io import atomic_write_json
    from tasks.crafter.generate_play_data import episode_name
    from VPT.lib.loading import load_model_config

    command = "python bench/goal_probe.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))

    def body() -> dict[str, Any]:
        train_args = read_yaml(args.low_level_args)
        settings = {"T": int(train_args["T"]), "min_btwn_goals": int(train_args["min_btwn_goals"]),
                    "max_btwn_goals": int(train_args["max_btwn_goals"]),
                    "goal_lead": int(train_args.get("goal_lead") or 0),
                    "relabeling": args.relabeling or train_args.get("relabeling") or "hindsight",
                    "unlock_horizon": int(args.unlock_horizon or train_args.get("unlock_horizon") or 100)}
        t0 = time.time()
        with tempfile.TemporaryDirectory(prefix="goal_probe_") as tmp:
            where = args.episodes_dir or tmp
            dirs = [os.path.join(where, episode_name(args.seed, i)) for i in range(args.episodes)]
            if not all(os.path.isfile(os.path.join(d, "len.txt")) for d in dirs):
                size = int(load_model_config(train_args["in_model"])[0]["img_shape"][0])
                dirs = generate_player_episodes(where, args.seed, args.episodes, args.max_episode_len, size)
            embed_episodes(where, args.embedder_weights)
            goals, labels, eps, names = goal_subgoal_pairs(dirs, settings, args.seed)
        unknown = sorted(set(args.exclude) - set(names))
        if unknown:
            from steve1.utils.cli import UsageError

            raise UsageError(f"--exclude {' '.join(unknown)}: not sub-goals of these episodes ({', '.join(names)})")
        keep = ~np.isin(labels, [names.index(n) for n in args.exclude])
        train = eps[keep] < args.train_episodes
        figures = probe(goals[keep], labels[keep], train, names, args.C)
        result = {"command": command.strip(), "low_level_args": args.low_level_args,
                  "embedder_weights": args.embedder_weights, "settings": settings, "episodes": args.episodes,
                  "train_episodes": args.train_episodes, "seed": args.seed, "exclude": args.exclude, "C": args.C,
                  "frames": int(len(labels)), "frames_excluded": int((~keep).sum()), **figures,
                  "seconds": round(time.time() - t0, 1)}
        atomic_write_json(args.out, result)
        print(f"relabeling {settings['relabeling']}: accuracy {figures['accuracy']:.3f} "
              f"(majority {figures['majority']:.3f}, {figures['majority_subgoal']})", flush=True)
        return result

    return run_main("goal_probe.py", body)


if __name__ == "__main__":
    main()
