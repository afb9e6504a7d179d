"""Train the goal prior ``p(code | frames so far)`` by behaviour cloning on code labels (spec §8.3; PTGM §4.3).

Run (one process, CPU or one GPU)::

    python goal_prior/train.py --config configs/crafter/goal_prior.yaml
    bash goal_prior/train_goal_prior.sh            # the upstream Minecraft command (accelerate, bf16)

Without ``--config`` the upstream Minecraft values are read from ``configs/minecraft/goal_prior.yaml``; the
settings are :class:`GoalPriorConfig` (every value from the config file, flags override it).

The recipe is the goal-conditioned BC recipe of ``steve1/train.py`` -- the same trainer (:func:`steve1.bc_trainer.
run_training`: truncated BPTT with carried transformer memory, AdamW groups, warm-up + cosine learning rate,
validation, checkpoints, exact resume, TensorBoard tags ``losses/train_loss``, ``losses/val_loss``,
``charts/learning_rate``, ``charts/frames_per_second``) -- with:

* **Data:** :class:`goal_prior.dataset.MinecraftGoalPriorDataset`: the same chunks and hindsight relabeling, the
  label of frame t being the codebook index nearest (cosine) to its relabelled goal embedding
  (``codebook_path``; ``label_space: kmeans`` for the clustering's own partition, see the dataset); no goal
  dropout.
* **Model:** :class:`goal_prior.load_prior.GoalPriorPolicy`, the ``in_model`` architecture (image encoder +
  transformer, no goal input) with a categorical head over the N codes at the config's temperature; only the image
  encoder and the transformer are initialised from ``in_weights`` (VPT or STEVE-1 weights; spec §8.2).
* **Loss:** ``-mean_over_batch(sum_{t in window} log p(label_t))``.

Outputs as ``steve1/train.py``: ``<out>_latest/_best/_snapshot_<frames>.weights`` (plain ``state_dict``, which
includes the prior's N and temperature as ``goal_prior_n_codes``/``goal_prior_temperature``, see
:mod:`goal_prior.load_prior`), ``<out>_best.json``, checkpoints in ``checkpoint_dir`` (resumed if present), the
resolved config ``<checkpoint_dir>/args.yaml``.

Where we deliberately differ from upstream: see ``steve1/train.py`` (real booleans, exact resume, TensorBoard
instead of wandb, ...); ``label_space`` is new; ``relabeling: next_unlock`` (shared with the low level,
:mod:`steve1.data.minecraft_dataset`) labels a frame with the code of the next first-time achievement's clip instead
of its hindsight goal's.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from torch import nn

from steve1.bc_trainer import check_run_paths, run_training
from steve1.train_config import REPO_ROOT, RelabeledBCConfig, check_input_files, named_stage, parse_stage_config
from steve1.utils.cli import UsageError
from steve1.utils.config import setting

#: The config file read when ``--config`` is not given: the upstream Minecraft values (spec §8.3 table).
DEFAULT_CONFIG = REPO_ROOT / "configs" / "minecraft" / "goal_prior.yaml"


@dataclass
class GoalPriorConfig(RelabeledBCConfig):
    """The goal prior's settings: :class:`steve1.train_config.RelabeledBCConfig` (the trainer, the relabeled data,
    the initial model) plus the codebook whose codes are the classes."""

    codebook_path: str = setting("codebook (centers.pkl from goal_prior/generate_codebook.py): N codes = N classes")
    label_space: str = setting("cosine: nearest code by cosine of the goal embedding (upstream); kmeans: nearest "
                               "k-means centroid of [goal embedding ; action history] (needs an --embedding none "
                               "codebook)", choices=("cosine", "kmeans"))


def parse_config(argv: Optional[Sequence[str]] = None):
    """``argv`` -> ``(GoalPriorConfig, sources, run_flags)``: the ``--config`` file (default
    :data:`DEFAULT_CONFIG`), then the flags given; checked (:func:`steve1.train_config.parse_stage_config`).

    Raises:
        SystemExit: bad flags (argparse). steve1.utils.cli.UsageError: a bad config file or value (naming the flag
            or the config file and key).
    """
    return parse_stage_config(GoalPriorConfig, argv, "Train the PTGM goal prior (code of the hindsight goal | "
                              "frames) with truncated BPTT.", DEFAULT_CONFIG)


def make_prior_datasets(config: GoalPriorConfig):
    """Train/val :class:`MinecraftGoalPriorDataset` of the split ``sampling`` (val keeps every ``val_every_nth``
    chunk), labelled with the codebook ``codebook_path``."""
    from goal_prior.dataset import MinecraftGoalPriorDataset
    from goal_prior.codebook import KMeansCodebook
    from steve1.data.minecraft_dataset import load_sampling

    codebook = KMeansCodebook(config.codebook_path)
    train_dirs, val_dirs = load_sampling(config.sampling_dir, config.sampling, config.data_dir)
    common = dict(T=config.T, min_btwn_goals=config.min_btwn_goals, max_btwn_goals=config.max_btwn_goals,
                  goal_lead=config.goal_lead, codebook=codebook, label_space=config.label_space,
                  relabeling=config.relabeling, unlock_horizon=config.unlock_horizon,
                  limit=config.data_limit, seed=config.seed)
    return (MinecraftGoalPriorDataset(train_dirs, **common),
            MinecraftGoalPriorDataset(val_dirs, every_nth=config.val_every_nth, **common))


def make_prior_policy(config: GoalPriorConfig, train_dataset) -> nn.Module:
    """The goal prior over the dataset's N codes with the ``in_model`` architecture; image encoder and transformer
    copied from ``in_weights`` when given (spec §8.2)."""
    from goal_prior.load_prior import build_prior_policy, load_part_vpt_weights

    policy = build_prior_policy(config.in_model, train_dataset.n_codes)
    if config.in_weights:
        copied = load_part_vpt_weights(policy, config.in_weights)
        print(f"[goal_prior] {len(copied)} image-encoder/transformer tensors initialised from {config.in_weights}",
              flush=True)
    print(f"[goal_prior] {policy.n_codes} codes from {config.codebook_path}, temperature {policy.temperature}, "
          f"label space {config.label_space}, relabeling {config.relabeling}", flush=True)
    return policy


def check_codebook(config: GoalPriorConfig, sources: Mapping[str, str]) -> None:
    """``codebook_path`` must be a readable ``centers.pkl`` (and, with ``label_space: kmeans``, have its
    ``kmeans.npz`` beside it).

    Raises:
        steve1.utils.cli.UsageError: naming the flag or the config file and key, the value and what was expected.
    """
    from goal_prior.codebook import read_codebook_file
    from steve1.utils.checks import check_input_file

    where = sources.get("codebook_path", "--codebook_path")
    check_input_file(config.codebook_path, where, "a codebook centers.pkl from goal_prior/generate_codebook.py")
    try:
        read_codebook_file(config.codebook_path)
    except ValueError as e:
        raise UsageError(f"{where}: {e}") from e
    if config.label_space == "kmeans":
        kmeans = os.path.join(os.path.dirname(os.path.abspath(config.codebook_path)), "kmeans.npz")
        if not os.path.isfile(kmeans):
            raise UsageError(f"{sources.get('label_space', '--label_space')}: label_space kmeans needs "
                             f"{kmeans} beside the codebook (made by generate_codebook.py --embedding none)")


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a flag or config value out of range, a missing or unreadable
    input file or codebook, an unusable output path) ends the program with one line on stderr naming the flag or
    the config file and key, and exit code 2, before anything is written (``steve1.utils.cli``).

    Returns:
        :func:`steve1.bc_trainer.run_training`'s summary (steps, frames, losses).
    """
    from steve1.utils.checks import run_main

    def body():
        config, sources, run = parse_config(argv)
        check_run_paths(config, sources, run.reset_checkpoint_dir)
        check_input_files(config, sources, run.reset_checkpoint_dir)
        check_codebook(config, sources)
        datasets, policy = named_stage(make_prior_datasets, make_prior_policy, sources)
        return run_training(config, datasets, policy, reset_checkpoint_dir=run.reset_checkpoint_dir,
                            config_path=run.config)

    return run_main("train.py", body)


if __name__ == "__main__":
    main(sys.argv[1:])
