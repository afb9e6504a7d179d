"""Split an episode dataset into train and val episode lists (spec §3.7).

Writes ``<output_dir>/<name>_train.txt`` and ``<name>_val.txt``: one episode directory per line, as
``os.path.join(data_dir, episode_name)`` (relative to the working directory when ``--data_dir`` is relative), and
``<name>_config.yaml``, the resolved :class:`SamplingConfig`.

    python -m steve1.data.sampling.generate_sampling                                        # upstream (Minecraft)
    python -m steve1.data.sampling.generate_sampling --config configs/crafter/sampling.yaml  # Crafter

Every setting lives in the stage's config file (:class:`SamplingConfig`; ``--config``, default
``configs/minecraft/sampling.yaml``, upstream's values); a flag of the same name overrides it (``--val_frames 1000``).

Algorithm: list the valid episodes of ``--data_dir`` (long enough for training: ``len >= max(min_btwn_goals + 15,
T + 15)``) sorted by name, shuffle them with ``random.Random(seed)``, take val episodes until they hold
``--val_frames`` frames, then train episodes until they hold ``--train_frames`` (-1: all the rest).
With ``--val_from X`` the val list is ``X_val.txt`` (from ``--output_dir``) and those episodes are removed from the
candidates before train is drawn.

Where we deliberately differ from upstream (spec §12.1.10):

* the listing is sorted, so a seed gives the same split on any filesystem (upstream: ``os.listdir`` order);
* ``--val_from`` really removes the val episodes from train (upstream compared paths with tuples: a train/val leak);
* ``output_dir`` is ``downloads/samplings`` in the Minecraft config (upstream: ``/downloads/samplings`` at the
  filesystem root) and ``data_dir`` a setting (upstream: hard-coded contractor folder);
* val is drawn before train, so ``--val_frames`` is always met and ``--train_frames -1`` means "everything else";
  too few frames raise an error instead of an assert;
* the lists are written atomically (temporary file + ``os.replace``);
* ``allow_missing_embeds`` lets a dataset be split before its goal embeddings exist (Crafter: the goal embedder
  is trained on the train split); in the Minecraft config, as upstream, episodes need ``embeds_attn.pkl``;
* the resolved settings are written beside the lists (``<name>_config.yaml``).
"""
from __future__ import annotations

import argparse
import functools
import os
import random
from dataclasses import dataclass
from typing import Optional, Sequence

from steve1.data.EpisodeStorage import list_valid_episodes
from steve1.utils.checks import Range
from steve1.utils.config import StageConfig, add_flags, flag_values, load_config, setting, write_config
from steve1.utils.io import atomic_write_text

Episodes = list[tuple[str, int]]

#: The config file read when ``--config`` is not given (upstream's values, spec §3.7); relative to the repository root.
DEFAULT_CONFIG = "configs/minecraft/sampling.yaml"


@dataclass
class SamplingConfig(StageConfig):
    """Settings of the train/val split (spec §3.7); the values live in ``configs/minecraft/sampling.yaml``
    (upstream) and ``configs/crafter/sampling.yaml``; a flag of the same name overrides each."""

    type: str = setting("split type (only 'default': val drawn first, then train)", choices=("default",))
    name: str = setting("output name: <output_dir>/<name>_train.txt, <name>_val.txt and <name>_config.yaml")
    data_dir: str = setting("folder of episode directories")
    output_dir: str = setting("where the lists are written")
    val_frames: int = setting("frames in the val split", Range(int, lo=0, note="frames"))
    val_from: Optional[str] = setting("reuse <output_dir>/<val_from>_val.txt as the val split (null: draw it)",
                                      nullable=True)
    train_frames: int = setting("frames in the train split (-1: all the rest)",
                                Range(int, lo=1, allowed=(-1,), note="frames; -1: all the rest"))
    min_btwn_goals: int = setting("minimum env steps between hindsight goals of the BC stage that reads the split "
                                  "(episodes need max(min_btwn_goals, T) + 15 frames)",
                                  Range(int, lo=1, note="env steps"))
    T: int = setting("training chunk length in frames of the BC stage that reads the split",
                     Range(int, lo=1, note="frames"))
    seed: int = setting("shuffle seed", Range(int))
    allow_missing_embeds: bool = setting("keep episodes without embeds_attn.pkl (split before the embedding step)")


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


def build_parser() -> argparse.ArgumentParser:
    """``--config`` and a flag per :class:`SamplingConfig` field; every flag defaults to None (= the config file's
    value)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help=f"YAML file with every setting below (default {DEFAULT_CONFIG}: upstream's values; Crafter: "
                        "configs/crafter/sampling.yaml); flags given on the command line override it")
    add_flags(p, SamplingConfig)
    return p


def parse_command_line(argv: Optional[Sequence[str]] = None) -> tuple[SamplingConfig, dict[str, str]]:
    """The config file (``--config``) with the flags applied, checked once (types, ranges, choices).

    Returns:
        ``(config, sources)``: the :class:`SamplingConfig` and key -> where its value came from (``--<key>`` or
        ``<config file> key '<key>'``).
    Raises:
        FileNotFoundError: no config file. steve1.utils.cli.UsageError: an unknown or missing key, a value of the
            wrong type or out of range (naming the flag, or the file and key).
    """
    args = build_parser().parse_args(argv)
    return load_config(SamplingConfig, args.config, flag_values(args, SamplingConfig))


def parse_args(argv: Optional[Sequence[str]] = None) -> SamplingConfig:
    """The resolved, checked config of a command line (:func:`parse_command_line`)."""
    return parse_command_line(argv)[0]


def check_args(config: SamplingConfig, sources: Optional[dict[str, str]] = None) -> None:
    """Check the paths before anything is read at length or written: ``name`` a plain file-name prefix,
    ``data_dir`` a folder, ``output_dir`` usable, ``val_from``'s list present (the numbers were checked when the
    config was loaded).

    Raises:
        steve1.utils.cli.UsageError: naming the flag or the config file and key, the value and what was expected.
    """
    from steve1.utils.checks import check_input_dir, check_output_dir
    from steve1.utils.cli import UsageError, source_of

    c, where = config, functools.partial(source_of, sources)
    if not c.name or os.sep in c.name or c.name in (".", ".."):
        raise UsageError(f"{where('name')}: expected a file-name prefix without '{os.sep}', got {c.name!r}")
    check_input_dir(c.data_dir, where("data_dir"), "a folder of episode directories")
    check_output_dir(c.output_dir, where("output_dir"))
    if c.val_from is not None:
        path = os.path.join(c.output_dir, f"{c.val_from}_val.txt")
        if not os.path.isfile(path):
            raise UsageError(f"{where('val_from')} {c.val_from}: no such episode list {path} (expected the val list "
                             f"of an earlier split in output_dir)")


def main(argv: Optional[Sequence[str]] = None) -> tuple[Episodes, Episodes]:
    """Entry point (see ``--help``). A user's mistake (a flag or config value out of range, an unknown or missing
    config key, a missing folder or list, a dataset too small for the requested frames) ends the program with one
    line on stderr naming the flag (or the config file and key), and exit code 2, before anything is written
    (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("generate_sampling.py", lambda: _main(argv))


def _main(argv: Optional[Sequence[str]]) -> tuple[Episodes, Episodes]:
    from steve1.utils.cli import UsageError

    c, sources = parse_command_line(argv)
    check_args(c, sources)
    min_frames_training = max(c.min_btwn_goals + 15, c.T + 15)
    episodes = list_valid_episodes(c.data_dir, for_training=True, min_frames_training=min_frames_training,
                                   require_embeds=not c.allow_missing_embeds)
    if not episodes:
        raise UsageError(f"{sources.get('data_dir', '--data_dir')} {c.data_dir}: no valid episodes of >= "
                         f"{min_frames_training} frames"
                         + ("" if c.allow_missing_embeds else " (with embeds_attn.pkl; see allow_missing_embeds)"))
    val_episodes = None
    if c.val_from is not None:
        val_episodes = read_episode_list(os.path.join(c.output_dir, f"{c.val_from}_val.txt"))
    try:
        train, val = generate_train_val_split(episodes, c.train_frames, c.val_frames, c.seed, val_episodes)
    except ValueError as e:  # the dataset is smaller than train_frames + val_frames
        raise UsageError(f"--train_frames/--val_frames: {e}") from e
    os.makedirs(c.output_dir, exist_ok=True)
    write_episode_list(os.path.join(c.output_dir, f"{c.name}_train.txt"), train)
    write_episode_list(os.path.join(c.output_dir, f"{c.name}_val.txt"), val)
    write_config(os.path.join(c.output_dir, f"{c.name}_config.yaml"), c)
    print(f"{len(episodes)} valid episodes ({sum(n for _, n in episodes)} frames) in {c.data_dir}")
    print(f"train: {len(train)} episodes, {sum(n for _, n in train) / 1e6:.3f}M frames")
    print(f"val:   {len(val)} episodes, {sum(n for _, n in val) / 1e6:.3f}M frames")
    print(f"wrote {c.output_dir}/{c.name}_train.txt, {c.name}_val.txt and {c.name}_config.yaml (the settings)")
    return train, val


if __name__ == "__main__":
    main()
