"""Split an episode dataset into train and val episode lists (spec §3.7).

Writes ``<output_dir>/<name>_train.txt`` and ``<name>_val.txt``: one episode directory per line, as
``os.path.join(data_dir, episode_name)`` (relative to the working directory when ``--data_dir`` is relative).

    python -m steve1.data.sampling.generate_sampling --data_dir downloads/dataset_crafter --name crafter_seed1 \
        --train_frames -1 --val_frames 20000 --T 160 --allow_missing_embeds

Algorithm: list the valid episodes of ``--data_dir`` (long enough for training: ``len >= max(min_btwn_goals + 15,
T + 15)``) sorted by name, shuffle them with ``random.Random(seed)``, take val episodes until they hold
``--val_frames`` frames, then train episodes until they hold ``--train_frames`` (-1: all the rest).
With ``--val_from X`` the val list is ``X_val.txt`` (from ``--output_dir``) and those episodes are removed from the
candidates before train is drawn.

Where we deliberately differ from upstream (spec §12.1.10):

* the listing is sorted, so a seed gives the same split on any filesystem (upstream: ``os.listdir`` order);
* ``--val_from`` really removes the val episodes from train (upstream compared paths with tuples: a train/val leak);
* ``--output_dir`` defaults to ``downloads/samplings`` (upstream: ``/downloads/samplings`` at the filesystem root)
  and ``--data_dir`` is an argument (upstream: hard-coded contractor folder);
* val is drawn before train, so ``--val_frames`` is always met and ``--train_frames -1`` means "everything else";
  too few frames raise an error instead of an assert;
* the lists are written atomically (temporary file + ``os.replace``);
* ``--allow_missing_embeds`` lets a dataset be split before its goal embeddings exist (Crafter: the goal embedder
  is trained on the train split); by default, as upstream, episodes need ``embeds_attn.pkl``.
"""
from __future__ import annotations

import argparse
import os
import random
from typing import Optional, Sequence

from steve1.data.EpisodeStorage import list_valid_episodes
from steve1.utils.io import atomic_write_text

Episodes = list[tuple[str, int]]


def _take(episodes: Episodes, frames: int) -> tuple[Episodes, Episodes]:
    """Take episodes from the front until they hold >= ``frames`` frames (-1: all). Returns (taken, rest)."""
    if frames < 0:
        return list(episodes), []
    taken, total = [], 0
    for i, (path, length) in enumerate(episodes):
        if total >= frames:
            return taken, list(episodes[i:])
        taken.append((path, length))
        total += length
    return taken, []


def generate_train_val_split(episodes: Episodes, train_frames: int, val_frames: int, seed: int,
                             val_episodes: Optional[Sequence[str]] = None) -> tuple[Episodes, Episodes]:
    """Split ``episodes`` = [(episode_dir, length in frames)] into (train, val) lists of the same form.

    ``val_episodes`` (from ``--val_from``) fixes the val set: those directories (compared after
    ``os.path.normpath``) are removed from the candidates and returned as val with their lengths (0 if not listed).

    Raises:
        ValueError: fewer frames than ``train_frames + val_frames`` (or than ``train_frames`` with ``val_episodes``).
    """
    rng = random.Random(seed)
    candidates = sorted(episodes)
    total = sum(length for _, length in candidates)
    if val_episodes is not None:
        val_set = {os.path.normpath(p) for p in val_episodes}
        lengths = {os.path.normpath(p): length for p, length in candidates}
        val = [(p, lengths.get(os.path.normpath(p), 0)) for p in val_episodes]
        candidates = [(p, length) for p, length in candidates if os.path.normpath(p) not in val_set]
        remaining = sum(length for _, length in candidates)
        if train_frames > remaining:
            raise ValueError(f"train_frames={train_frames} but only {remaining} frames remain outside the "
                             f"{len(val)} val episodes")
        rng.shuffle(candidates)
        train, _ = _take(candidates, train_frames)
        return train, val
    if val_frames < 0:
        raise ValueError(f"val_frames must be >= 0, got {val_frames}")
    needed = val_frames + max(train_frames, 0)
    if total < needed or (train_frames < 0 and total <= val_frames):
        raise ValueError(f"the dataset holds {total} frames in {len(candidates)} valid episodes, but "
                         f"train_frames + val_frames = {train_frames} + {val_frames}")
    rng.shuffle(candidates)
    val, rest = _take(candidates, val_frames)
    train, _ = _take(rest, train_frames)
    if train_frames > 0 and sum(length for _, length in train) < train_frames:
        raise ValueError(f"only {sum(length for _, length in train)} train frames left after the val split "
                         f"(train_frames={train_frames}); lower --train_frames or --val_frames")
    return train, val


def write_episode_list(path: str, episodes: Episodes) -> None:
    """Write one episode directory per line, atomically."""
    atomic_write_text(path, "".join(f"{p}\n" for p, _ in episodes))


def read_episode_list(path: str) -> list[str]:
    """Episode directories listed in a ``*_train.txt`` / ``*_val.txt`` file.

    Raises:
        FileNotFoundError: the file does not exist.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"episode list not found: {path}")
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--type", default="default", choices=["default"], help="split type (only 'default')")
    p.add_argument("--name", default="seed1", help="output name: <name>_train.txt and <name>_val.txt")
    p.add_argument("--data_dir", default="downloads/dataset_contractor", help="folder of episode directories")
    p.add_argument("--output_dir", default="downloads/samplings", help="where the lists are written")
    p.add_argument("--val_frames", type=int, default=1_300_000, help="frames in the val split")
    p.add_argument("--val_from", default=None, help="reuse <output_dir>/<val_from>_val.txt as the val split")
    p.add_argument("--train_frames", type=int, default=11_000_000, help="frames in the train split (-1: all the rest)")
    p.add_argument("--min_btwn_goals", type=int, default=15, help="minimum env steps between hindsight goals")
    p.add_argument("--T", type=int, default=640, help="training chunk length in frames")
    p.add_argument("--seed", type=int, default=1, help="shuffle seed")
    p.add_argument("--allow_missing_embeds", action="store_true",
                   help="keep episodes without embeds_attn.pkl (split before the embedding step)")
    return p.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Check the flags before anything is read at length or written: numbers in range, ``--data_dir`` a folder,
    ``--output_dir`` usable, ``--name`` a plain file-name prefix, ``--val_from``'s list present.

    Raises:
        steve1.utils.cli.UsageError: naming the flag, the value and what was expected.
    """
    from steve1.utils.checks import Range, check_input_dir, check_output_dir, check_ranges
    from steve1.utils.cli import UsageError

    check_ranges(args, {
        "val_frames": Range(int, lo=0, note="frames"),
        "train_frames": Range(int, lo=1, allowed=(-1,), note="frames; -1: all the rest"),
        "min_btwn_goals": Range(int, lo=1, note="env steps"),
        "T": Range(int, lo=1, note="frames"),
        "seed": Range(int),
    })
    if not args.name or os.sep in args.name or args.name in (".", ".."):
        raise UsageError(f"--name: expected a file-name prefix without '{os.sep}', got {args.name!r}")
    check_input_dir(args.data_dir, "--data_dir", "a folder of episode directories")
    check_output_dir(args.output_dir, "--output_dir")
    if args.val_from is not None:
        path = os.path.join(args.output_dir, f"{args.val_from}_val.txt")
        if not os.path.isfile(path):
            raise UsageError(f"--val_from {args.val_from}: no such episode list {path} (expected the val list of an "
                             f"earlier split in --output_dir)")


def main(argv: Optional[Sequence[str]] = None) -> tuple[Episodes, Episodes]:
    """Entry point (see ``--help``). A user's mistake (a flag out of range, a missing folder or list, a dataset too
    small for the requested frames) ends the program with one line on stderr naming the flag, and exit code 2,
    before anything is written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("generate_sampling.py", lambda: _main(argv))


def _main(argv: Optional[Sequence[str]]) -> tuple[Episodes, Episodes]:
    from steve1.utils.cli import UsageError

    args = parse_args(argv)
    check_args(args)
    min_frames_training = max(args.min_btwn_goals + 15, args.T + 15)
    episodes = list_valid_episodes(args.data_dir, for_training=True, min_frames_training=min_frames_training,
                                   require_embeds=not args.allow_missing_embeds)
    if not episodes:
        raise UsageError(f"--data_dir {args.data_dir}: no valid episodes of >= {min_frames_training} frames"
                         + ("" if args.allow_missing_embeds else " (with embeds_attn.pkl; see --allow_missing_embeds)"))
    val_episodes = None
    if args.val_from is not None:
        val_episodes = read_episode_list(os.path.join(args.output_dir, f"{args.val_from}_val.txt"))
    try:
        train, val = generate_train_val_split(episodes, args.train_frames, args.val_frames, args.seed, val_episodes)
    except ValueError as e:  # the dataset is smaller than --train_frames + --val_frames
        raise UsageError(f"--train_frames/--val_frames: {e}") from e
    os.makedirs(args.output_dir, exist_ok=True)
    write_episode_list(os.path.join(args.output_dir, f"{args.name}_train.txt"), train)
    write_episode_list(os.path.join(args.output_dir, f"{args.name}_val.txt"), val)
    print(f"{len(episodes)} valid episodes ({sum(n for _, n in episodes)} frames) in {args.data_dir}")
    print(f"train: {len(train)} episodes, {sum(n for _, n in train) / 1e6:.3f}M frames")
    print(f"val:   {len(val)} episodes, {sum(n for _, n in val) / 1e6:.3f}M frames")
    print(f"wrote {args.output_dir}/{args.name}_train.txt and {args.name}_val.txt")
    return train, val


if __name__ == "__main__":
    main()
