"""Goal-conditioned behaviour cloning of the low-level policy (STEVE-1 recipe; spec §6; STEVE-1 §3, PTGM §3.1): the
stage's entry point. The trainer is :mod:`steve1.bc_trainer` (truncated BPTT, AdamW, schedules, validation,
checkpoints and exact resume: the recipe is described there); the settings are :class:`steve1.train_config.
Steve1Config`, read from a YAML config file.

Run (one process, CPU or one GPU)::

    python steve1/train.py --config configs/crafter/steve1.yaml
    python steve1/train.py --config configs/crafter/steve1.yaml --n_frames 200000 --batch_size 8   # flags override

Without ``--config`` the upstream Minecraft values are read from ``configs/minecraft/steve1.yaml``. Outgrow one GPU
with accelerate (bf16, several GPUs)::

    accelerate launch --num_processes 4 --mixed_precision bf16 steve1/train.py ...   # see train_goal_conditioned_policy.sh

* **Data.** Chunks of ``T`` frames with hindsight-relabeled goals (:class:`steve1.data.minecraft_dataset.
  MinecraftDataset`), a chunk's goals zeroed with probability ``p_uncond`` (classifier-free guidance); the goal
  embeddings were precomputed into the episodes, so no goal embedder runs here and the same script trains Minecraft
  (MineCLIP, VPT-2x) and Crafter (CrafterCLIP, a small VPT).
* **Model.** The ``in_model`` architecture with a goal input of the episodes' embedding size and the action space of
  their simulator plugin, initialised from ``in_weights`` (VPT or STEVE-1 weights; spec §5.3).
* **Loss** ``= -mean_over_batch( sum_{t in window} log pi(a_t | o_<=t, g_t) )`` (for the Minecraft dict action the
  log-likelihood is the sum over the ``buttons`` and ``camera`` heads).

Outputs (see :mod:`steve1.bc_trainer`): ``<out>_latest/_best/_snapshot_<frames>.weights``, ``<out>_best.json``,
checkpoints, TensorBoard and the resolved config ``args.yaml`` in ``checkpoint_dir``.
"""
from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

from torch import nn

from steve1.bc_trainer import check_run_paths, run_training
from steve1.train_config import REPO_ROOT, Steve1Config, check_input_files, named_stage, parse_stage_config

#: The config file read when ``--config`` is not given: the upstream Minecraft values (spec §6 table).
DEFAULT_CONFIG = REPO_ROOT / "configs" / "minecraft" / "steve1.yaml"


def make_steve1_datasets(config: Steve1Config):
    """Train/val :class:`MinecraftDataset` of the split ``sampling`` (val keeps every ``val_every_nth`` chunk; only
    the training set weights its loss by ``action_loss_weights``).

    Raises:
        ValueError: an unusable episode, or ``action_loss_weights`` naming no action of the data's simulator
            (:class:`MinecraftDataset`; ``steve1.train_config.named_stage`` names the split or the key)."""
    from steve1.data.minecraft_dataset import MinecraftDataset, load_sampling

    train_dirs, val_dirs = load_sampling(config.sampling_dir, config.sampling, config.data_dir)
    goal_codes = None
    if config.goal_codebook:
        from goal_prior.codebook import KMeansCodebook

        goal_codes = KMeansCodebook(config.goal_codebook).codes
    common = dict(T=config.T, min_btwn_goals=config.min_btwn_goals, max_btwn_goals=config.max_btwn_goals,
                  goal_lead=config.goal_lead, p_uncond=config.p_uncond, limit=config.data_limit, seed=config.seed,
                  mask_random_actions=config.mask_random_actions, relabeling=config.relabeling,
                  unlock_horizon=config.unlock_horizon, goal_codes=goal_codes)
    # action_loss_weights, achievement_loss_weights and keyframe_loss_weight weight the training loss only:
    # validation losses stay comparable across weightings
    return (MinecraftDataset(train_dirs, action_loss_weights=config.action_loss_weights,
                             achievement_loss_weights=config.achievement_loss_weights,
                             achievement_loss_frames=config.achievement_loss_frames,
                             keyframe_loss_weight=config.keyframe_loss_weight, **common),
            MinecraftDataset(val_dirs, every_nth=config.val_every_nth, **common))


def make_steve1_policy(config: Steve1Config, train_dataset) -> nn.Module:
    """The STEVE-1 policy: ``in_model``'s architecture with a goal input of the dataset's embedding size and the
    action space of the dataset's simulator plugin, initialised from ``in_weights`` (plain VPT weights: every VPT
    tensor loaded, ``mineclip_embed_linear`` left at its init, spec §5.3; STEVE-1 weights: strict load)."""
    from steve1.data.minecraft_dataset import sim_plugin
    from steve1.MineRLConditionalAgent import build_conditional_policy, load_conditional_policy_weights

    policy = build_conditional_policy(config.in_model, action_space=sim_plugin(train_dataset.sim).ACTION_SPACE,
                                      goal_dim=train_dataset.goal_dim)
    if config.in_weights:
        info = load_conditional_policy_weights(policy, config.in_weights, allow_missing_goal_linear=True)
        print(f"[train] initial weights {config.in_weights}: {info}", flush=True)
    return policy


def parse_config(argv: Optional[Sequence[str]] = None):
    """``argv`` -> ``(Steve1Config, sources, run_flags)``: the ``--config`` file (default :data:`DEFAULT_CONFIG`),
    then the flags given; checked (:func:`steve1.train_config.parse_stage_config`).

    Raises:
        SystemExit: bad flags (argparse). steve1.utils.cli.UsageError: a bad config file or value (naming the flag
            or the config file and key).
    """
    return parse_stage_config(Steve1Config, argv, "Goal-conditioned behaviour cloning (STEVE-1) with truncated "
                              "BPTT.", DEFAULT_CONFIG)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a flag or config value out of range, a missing or unreadable
    input file, an unusable output path) ends the program with one line on stderr naming the flag or the config file
    and key, and exit code 2, before anything is written (``steve1.utils.cli``).

    Returns:
        :func:`steve1.bc_trainer.run_training`'s summary (steps, frames, losses).
    """
    from steve1.utils.checks import run_main

    def body():
        config, sources, run = parse_config(argv)
        check_run_paths(config, sources, run.reset_checkpoint_dir)
        check_input_files(config, sources, run.reset_checkpoint_dir)
        script = os.path.relpath(os.path.abspath(__file__))
        command = None if argv is None else ["python", script if not script.startswith("..") else __file__, *argv]
        datasets, policy = named_stage(make_steve1_datasets, make_steve1_policy, sources)
        return run_training(config, datasets, policy, reset_checkpoint_dir=run.reset_checkpoint_dir,
                            config_path=run.config, command=command)

    return run_main("train.py", body)


if __name__ == "__main__":
    main(sys.argv[1:])
