"""Train the goal prior ``p(code | frames so far)`` by behaviour cloning on code labels (spec §8.3; PTGM §4.3).

Run (one process, CPU or one GPU)::

    python goal_prior/train.py --config configs/crafter/goal_prior.yaml
    bash goal_prior/train_goal_prior.sh            # the upstream Minecraft command (accelerate, bf16)

The recipe is the goal-conditioned BC recipe of ``steve1/train.py`` -- the same trainer (:func:`steve1.train.
run_training`: truncated BPTT with carried transformer memory, AdamW groups, warm-up + cosine learning rate,
validation, checkpoints, exact resume, TensorBoard tags ``losses/train_loss``, ``losses/val_loss``,
``charts/learning_rate``, ``charts/frames_per_second``) -- with:

* **Data:** :class:`goal_prior.dataset.MinecraftGoalPriorDataset`: the same chunks and hindsight relabeling, the
  label of frame t being the codebook index nearest (cosine) to its relabelled goal embedding
  (``--codebook_path``; ``--label_space kmeans`` for the clustering's own partition, see the dataset); no goal
  dropout.
* **Model:** :class:`goal_prior.load_prior.GoalPriorPolicy`, the ``--in_model`` architecture (image encoder +
  transformer, no goal input) with a categorical head over the N codes at the config's temperature; only the image
  encoder and the transformer are initialised from ``--in_weights`` (VPT or STEVE-1 weights; spec §8.2).
* **Loss:** ``-mean_over_batch(sum_{t in window} log p(label_t))``.

Outputs as ``steve1/train.py``: ``<out>_latest/_best/_snapshot_<frames>.weights`` (plain ``state_dict``, which
includes the prior's N and temperature as ``goal_prior_n_codes``/``goal_prior_temperature``, see
:mod:`goal_prior.load_prior`), ``<out>_best.json``, checkpoints in ``--checkpoint_dir`` (resumed if present).

Where we deliberately differ from upstream: see ``steve1/train.py`` (real booleans, exact resume, TensorBoard
instead of wandb, ...); ``--label_space`` is new.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from torch import nn

from steve1.train import (build_parser, check_args, check_input_files, named_stage, parse_args_and_sources,
                          run_training)

#: The upstream ``goal_prior/train.py`` defaults where they differ from ``steve1/train.py``'s (spec §8.3 table).
PRIOR_DEFAULTS = dict(
    seed=1,
    sampling="seed1",
    sampling_dir="downloads/samplings/",
    in_model="downloads/2x.model",
    in_weights="downloads/rl-from-foundation-2x.weights",
    out_weights="results/goal_prior/weights/trained_with_script.weights",
    T=640,
    min_btwn_goals=15,
    max_btwn_goals=200,
    batch_size=1,
    gradient_accumulation_steps=4,
    trunc_t=64,
    learning_rate=4e-5,
    n_frames=100_000_000,
    warmup_frames=10_000_000,
    snapshot_every_n_frames=10_000_000,
    checkpoint_dir="results/goal_prior/training_checkpoint",
    save_freq=1000,
)


def build_prior_parser() -> argparse.ArgumentParser:
    """The shared BC flags of :func:`steve1.train.build_parser` with the goal-prior defaults, plus
    ``--codebook_path`` and ``--label_space``."""
    parser = build_parser("Train the PTGM goal prior (code of the hindsight goal | frames) with truncated BPTT.")
    parser.set_defaults(**PRIOR_DEFAULTS)
    parser.add_argument("--codebook_path", default="downloads/codebook/tsne_n100_s1/centers.pkl",
                        help="codebook (centers.pkl from goal_prior/generate_codebook.py): N codes = N classes")
    parser.add_argument("--label_space", default="cosine", choices=["cosine", "kmeans"],
                        help="cosine: nearest code by cosine of the goal embedding (upstream); kmeans: nearest "
                             "k-means centroid of [goal embedding ; action history] (needs an --embedding none "
                             "codebook)")
    return parser


def make_prior_datasets(args: argparse.Namespace):
    """Train/val :class:`MinecraftGoalPriorDataset` of the split ``--sampling`` (val keeps every
    ``--val_every_nth`` chunk), labelled with the codebook ``--codebook_path``."""
    from goal_prior.dataset import MinecraftGoalPriorDataset
    from goal_prior.codebook import KMeansCodebook
    from steve1.data.minecraft_dataset import load_sampling

    codebook = KMeansCodebook(args.codebook_path)
    train_dirs, val_dirs = load_sampling(args.sampling_dir, args.sampling, args.data_dir)
    common = dict(T=args.T, min_btwn_goals=args.min_btwn_goals, max_btwn_goals=args.max_btwn_goals,
                  goal_lead=args.goal_lead, codebook=codebook, label_space=args.label_space, limit=args.data_limit,
                  seed=args.seed)
    return (MinecraftGoalPriorDataset(train_dirs, **common),
            MinecraftGoalPriorDataset(val_dirs, every_nth=args.val_every_nth, **common))


def make_prior_policy(args: argparse.Namespace, train_dataset) -> nn.Module:
    """The goal prior over the dataset's N codes with the ``--in_model`` architecture; image encoder and transformer
    copied from ``--in_weights`` when given (spec §8.2)."""
    from goal_prior.load_prior import build_prior_policy, load_part_vpt_weights

    policy = build_prior_policy(args.in_model, train_dataset.n_codes)
    if args.in_weights:
        copied = load_part_vpt_weights(policy, args.in_weights)
        print(f"[goal_prior] {len(copied)} image-encoder/transformer tensors initialised from {args.in_weights}",
              flush=True)
    print(f"[goal_prior] {policy.n_codes} codes from {args.codebook_path}, temperature {policy.temperature}, "
          f"label space {args.label_space}", flush=True)
    return policy


def check_prior_args(args: argparse.Namespace, sources: Optional[dict] = None) -> None:
    """:func:`steve1.train.check_args` and :func:`~steve1.train.check_input_files` plus the codebook: ``--codebook_path`` must be a readable ``centers.pkl``
    (and, with ``--label_space kmeans``, have its ``kmeans.npz`` beside it).

    Raises:
        steve1.utils.cli.UsageError: naming the flag or the config file and key, the value and what was expected.
    """
    from goal_prior.codebook import read_codebook_file
    from steve1.utils.checks import check_input_file
    from steve1.utils.cli import UsageError

    where = (sources or {}).get("codebook_path", "--codebook_path")
    check_args(args, sources)
    check_input_files(args, sources)
    check_input_file(args.codebook_path, where, "a codebook centers.pkl from goal_prior/generate_codebook.py")
    try:
        read_codebook_file(args.codebook_path)
    except ValueError as e:
        raise UsageError(f"{where}: {e}") from e
    if args.label_space == "kmeans":
        kmeans = os.path.join(os.path.dirname(os.path.abspath(args.codebook_path)), "kmeans.npz")
        if not os.path.isfile(kmeans):
            raise UsageError(f"{(sources or {}).get('label_space', '--label_space')}: label_space kmeans needs "
                             f"{kmeans} beside the codebook (made by generate_codebook.py --embedding none)")


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a flag or config value out of range, a missing or unreadable
    input file or codebook, an unusable output path) ends the program with one line on stderr naming the flag or
    the config file and key, and exit code 2, before anything is written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    def body():
        args, sources = parse_args_and_sources(build_prior_parser(), argv)
        check_prior_args(args, sources)
        datasets, policy = named_stage(make_prior_datasets, make_prior_policy, args, sources)
        return run_training(args, datasets, policy)

    return run_main("train.py", body)


if __name__ == "__main__":
    main(sys.argv[1:])
