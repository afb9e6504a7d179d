"""Typed configurations of the behaviour-cloning stages (issue 20): the trainer's settings
(:class:`BCTrainerConfig`), the hindsight-relabeled data and the initial model shared by the low-level policy and
the goal prior (:class:`RelabeledBCConfig`), and the STEVE-1 low-level policy's (:class:`Steve1Config`; the goal
prior's :class:`goal_prior.train.GoalPriorConfig` is built on the same base).

No field has a default in code: every value comes from the stage's YAML config file (``--config``; the Minecraft
values of upstream PTGM are ``configs/minecraft/steve1.yaml`` and ``configs/minecraft/goal_prior.yaml``, the Crafter
ones ``configs/crafter/*.yaml``), and a flag of the same name overrides it (:func:`parse_stage_config`). The
mechanism is :mod:`steve1.utils.config` (one YAML loader, one check naming each value's source); the resolved
config is written with the run as ``<checkpoint_dir>/args.yaml`` by :func:`steve1.bc_trainer.run_training`.

Units: ``T``, ``trunc_t``, ``min/max_btwn_goals``, ``goal_lead`` in frames (env steps); ``n_frames``,
``warmup_frames``, ``snapshot_every_n_frames`` in frames processed; ``log_freq``, ``save_freq``, ``val_freq*`` in
window steps (one forward/backward over ``trunc_t`` frames of a batch).

Also here, the checks shared by both relabeled-BC stages before anything is written
(:func:`check_input_files`) and the wrapper that names the flag or config key behind a bad input file
(:func:`named_stage`).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from steve1.utils.checks import Range
from steve1.utils.cli import UsageError, source_of
from steve1.utils.config import StageConfig, add_flags, flag_values, load_config, read_yaml, setting

__all__ = ["BCTrainerConfig", "RelabeledBCConfig", "Steve1Config", "RunFlags", "REPO_ROOT", "build_stage_parser",
           "parse_stage_config", "check_input_files", "named_stage"]

#: The repository root: the default ``--config`` files are found relative to it.
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class BCTrainerConfig(StageConfig):
    """What the generic behaviour-cloning trainer (:func:`steve1.bc_trainer.run_training`) needs: chunk length and
    data order, optimisation, schedules, logging, validation, checkpoints and outputs (spec §6)."""

    # ---- data order and loading
    seed: int = setting("seed of the model init, data order and relabeling", Range(int))
    num_workers: int = setting("DataLoader worker processes (0: load in-process)",
                               Range(int, lo=0, note="DataLoader worker processes"))
    T: int = setting("frames per training chunk (a multiple of trunc_t)", Range(int, lo=1, note="frames per chunk"))
    # ---- optimisation
    batch_size: int = setting("chunks per batch per process", Range(int, lo=1, note="chunks per batch"))
    gradient_accumulation_steps: int = setting("window steps per optimiser step",
                                               Range(int, lo=1, note="window steps per optimiser step"))
    trunc_t: int = setting("frames per TBPTT window (T must be a multiple)",
                           Range(int, lo=1, note="frames per TBPTT window"))
    learning_rate: float = setting("peak learning rate (after the linear warm-up; cosine to 0 at 1.1 n_frames)",
                                   Range(float, lo=0, lo_open=True))
    n_frames: int = setting("train until this many frames are processed",
                            Range(int, lo=1, note="frames processed"))
    warmup_frames: int = setting("linear warm-up length in frames processed", Range(int, lo=0, note="frames"))
    weight_decay: float = setting("AdamW decay (not on biases/LayerNorm/Embedding)", Range(float, lo=0))
    max_grad_norm: float = setting("gradient-norm clipping", Range(float, lo=0, lo_open=True))
    # ---- logging, validation, checkpoints, outputs
    log_freq: int = setting("TensorBoard train logs every N window steps", Range(int, lo=1, note="window steps"))
    save_freq: int = setting("checkpoint + _latest weights every N window steps (a multiple of "
                             "gradient_accumulation_steps)", Range(int, lo=1, note="window steps"))
    snapshot_every_n_frames: int = setting("snapshot weights period, frames processed",
                                           Range(int, lo=1, note="frames"))
    val_freq: int = setting("validation period (window steps) after the switch",
                            Range(int, lo=1, note="window steps"))
    val_freq_begin: int = setting("validation period (window steps) before the switch",
                                  Range(int, lo=1, note="window steps"))
    val_freq_switch_steps: int = setting("window step of the validation period switch",
                                         Range(int, lo=0, note="window steps"))
    save_each_val: bool = setting("also save <out>_val_<step>.weights at every validation")
    out_weights: str = setting("output weights path; _latest/_best/_snapshot_<frames> are inserted before .weights")
    checkpoint_dir: str = setting("checkpoints (resumed if present)")
    restart_from_checkpoint: Optional[str] = setting(
        "when checkpoint_dir holds no checkpoint, resume from this checkpoint dir instead (null: none)", nullable=True)
    tb_dir: Optional[str] = setting("TensorBoard folder (null: <checkpoint_dir>/tb)", nullable=True)

    def check_consistency(self, sources: Mapping[str, str]) -> None:
        """``T`` a multiple of ``trunc_t``; ``save_freq`` a multiple of ``gradient_accumulation_steps`` (checkpoints
        fall on optimiser steps).

        Raises:
            UsageError: naming the flag or config key of the value.
        """
        if self.T % self.trunc_t != 0:
            raise UsageError(f"{source_of(sources, 'T')}: T must be a multiple of trunc_t = {self.trunc_t} (from "
                             f"{source_of(sources, 'trunc_t')}), got {self.T}")
        if self.save_freq % self.gradient_accumulation_steps != 0:
            raise UsageError(f"{source_of(sources, 'save_freq')}: save_freq must be a multiple of "
                             f"gradient_accumulation_steps = {self.gradient_accumulation_steps} (from "
                             f"{source_of(sources, 'gradient_accumulation_steps')}) so that checkpoints fall on "
                             f"optimiser steps, got {self.save_freq}")


@dataclass
class RelabeledBCConfig(BCTrainerConfig):
    """:class:`BCTrainerConfig` plus the data (a train/val split of episodes, chunks with hindsight-relabeled goals,
    :class:`steve1.data.minecraft_dataset.MinecraftDataset`) and the initial model: what the low-level policy and
    the goal prior share."""

    # ---- data (frames = env steps)
    sampling: str = setting("split name: <sampling_dir>/<sampling>_{train,val}.txt")
    sampling_dir: str = setting("folder of the split files")
    data_dir: Optional[str] = setting("if set, episodes are <data_dir>/<basename of each listed dir> (null: as listed)",
                                      nullable=True)
    data_limit: Optional[int] = setting("use only the first N episodes of each split (null: all)",
                                        Range(int, lo=1, optional=True, note="episodes per split"))
    val_every_nth: int = setting("keep every n-th validation chunk", Range(int, lo=1))
    min_btwn_goals: int = setting("minimum frames between hindsight goals (>= 1; upstream 15: every goal in use "
                                  "is at frame >= 15 whatever the value, steve1/data/minecraft_dataset.py)",
                                  Range(int, lo=1, note="frames"))
    max_btwn_goals: int = setting("maximum frames between hindsight goals (exclusive)",
                                  Range(int, lo=2, note="frames, exclusive"))
    goal_lead: int = setting("least frames between a frame and its hindsight goal (0: upstream, the first goal at or "
                             "after the frame; 16: the goal's 16-frame clip never overlaps frames the policy has "
                             "seen; steve1/data/minecraft_dataset.py)", Range(int, lo=0, note="frames"))
    relabeling: str = setting("hindsight: goals min..max_btwn_goals apart, goal_lead ahead (upstream); next_unlock: "
                              "the clip ending at the next first-time achievement within unlock_horizon frames, "
                              "else the hindsight goal; next_event: the same with every achievement event (Crafter; "
                              "steve1/data/minecraft_dataset.py)",
                              choices=("hindsight", "next_unlock", "next_event"))
    unlock_horizon: int = setting("relabeling next_unlock / next_event: the farthest unlock (event) that becomes a "
                                  "frame's goal",
                                  Range(int, lo=1, note="frames"))
    # ---- model
    in_model: str = setting("policy architecture: an official .model pickle or a YAML with "
                            "policy_kwargs/pi_head_kwargs")
    in_weights: Optional[str] = setting("initial weights (VPT or STEVE-1 .weights); null or '': fresh init",
                                        nullable=True)

    def check_consistency(self, sources: Mapping[str, str]) -> None:
        """``min_btwn_goals < max_btwn_goals``, then :meth:`BCTrainerConfig.check_consistency`.

        Raises:
            UsageError: naming the flag or config key of the value.
        """
        if self.min_btwn_goals >= self.max_btwn_goals:
            raise UsageError(f"{source_of(sources, 'max_btwn_goals')}: max_btwn_goals must be > min_btwn_goals = "
                             f"{self.min_btwn_goals} (from {source_of(sources, 'min_btwn_goals')}), got "
                             f"{self.max_btwn_goals}")
        super().check_consistency(sources)


@dataclass
class Steve1Config(RelabeledBCConfig):
    """The STEVE-1 low-level policy (``steve1/train.py``): :class:`RelabeledBCConfig` plus the goal dropout."""

    p_uncond: float = setting("probability of zeroing a chunk's goals (classifier-free guidance training)",
                              Range(float, lo=0, hi=1, note="probability"))
    goal_codebook: Optional[str] = setting(
        "codebook centers.pkl: replace each relabeled goal by its nearest code (cosine; the goal prior's labels) "
        "before the goal dropout (null: the clip's own embedding, upstream; steve1/data/minecraft_dataset.py, "
        "'Codebook goals')", nullable=True)
    mask_random_actions: bool = setting("leave the frames the play data flags as random actions (infos.npz "
                                        "random_action) out of the BC loss (issue 18; upstream: false, no flags)")
    action_loss_weights: Optional[dict] = setting(
        "weight of the training frames of each named env action in the BC loss, {action name: weight > 0} (others "
        "1; null: all 1; the logged training loss is weighted, validation is not; needs a simulator with named "
        "discrete actions, e.g. Crafter; not upstream)", flag=False, nullable=True)
    achievement_loss_weights: Optional[dict] = setting(
        "weight in the BC loss of the achievement_loss_frames training frames ending at each action that brings a "
        "named achievement about, {achievement name: weight >= 1} (others 1; a frame also under action_loss_weights "
        "takes the larger; null: none; needs infos.npz achievements, e.g. Crafter play data; not upstream; "
        "steve1/data/minecraft_dataset.py, 'Achievement loss weights')", flag=False, nullable=True)
    achievement_loss_frames: int = setting(
        "frames weighted per achievement by achievement_loss_weights (used only with it): the action that brought "
        "it about and the ones before it", Range(int, lo=1, note="frames"))
    keyframe_loss_weight: float = setting(
        "weight in the BC loss of the training frames whose action differs from the frame before's (keyframes, "
        "Wen et al. 2021; 1: off; a frame also under action_loss_weights or achievement_loss_weights takes the "
        "larger; needs integer actions, e.g. Crafter; not upstream; steve1/data/minecraft_dataset.py, 'Keyframe "
        "loss weight')", Range(float, lo=1, note="weight"))

    def check_consistency(self, sources: Mapping[str, str]) -> None:
        """``action_loss_weights``: string keys, numbers > 0; ``achievement_loss_weights``: string keys, numbers
        >= 1; then :meth:`RelabeledBCConfig.check_consistency`.
        Whether the names are actions of the data's simulator is checked when the data is read
        (``steve1/train.py`` ``make_steve1_datasets``).

        Raises:
            UsageError: naming the flag or config key of the value.
        """
        for key, what, least in (("action_loss_weights", "action", "> 0"),
                                 ("achievement_loss_weights", "achievement", ">= 1")):
            for name, weight in (getattr(self, key) or {}).items():
                if not isinstance(name, str) or isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                        or not math.isfinite(weight) or not (weight > 0 if least == "> 0" else weight >= 1):
                    raise UsageError(f"{source_of(sources, key)}: {key} must map {what} names to finite numbers "
                                     f"{least}, got {name!r}: {weight!r}")
        super().check_consistency(sources)


@dataclass(frozen=True)
class RunFlags:
    """The flags of a run that are not settings: the config file read and whether to delete the old checkpoint."""

    config: str
    reset_checkpoint_dir: bool


def build_stage_parser(cls: type, description: str, default_config: os.PathLike) -> argparse.ArgumentParser:
    """``--config`` (default ``default_config``), ``--reset_checkpoint_dir`` and a flag per field of ``cls``
    (:func:`steve1.utils.config.add_flags`: given flags override the config file)."""
    try:
        shown = os.path.relpath(default_config)
    except ValueError:  # another drive (Windows)
        shown = str(default_config)
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--config", default=str(default_config),
                   help=f"the stage's YAML config file: a value for every setting below (default: {shown}, the "
                        f"upstream Minecraft values); flags given on the command line override it")
    p.add_argument("--reset_checkpoint_dir", action="store_true",
                   help="delete checkpoint_dir before starting (after the inputs were checked)")
    add_flags(p.add_argument_group("settings (each overrides its config-file key)"), cls)
    return p


def parse_stage_config(cls: type, argv: Optional[Sequence[str]], description: str, default_config: os.PathLike,
                       ) -> tuple[StageConfig, dict[str, str], RunFlags]:
    """Parse ``argv``: the ``--config`` file, then the flags given; check the result once.

    Returns:
        ``(config, sources, run_flags)``: the checked ``cls`` instance, key -> where its value came from
        (``"--flag"`` or ``"<file> key 'k'"``), and the run flags.
    Raises:
        SystemExit: bad flags (argparse). steve1.utils.cli.UsageError: a missing or unreadable config file, an
            unknown or missing key, a value of the wrong type or out of range, inconsistent values (the message
            names the flag or the config file and key).
    """
    args = build_stage_parser(cls, description, default_config).parse_args(argv)
    try:
        data = read_yaml(args.config)
    except FileNotFoundError as e:
        raise UsageError(f"--config {args.config}: config file not found") from e
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [str(k) for k in data if k not in names]
    if unknown:
        raise UsageError(f"--config {args.config}: unknown flag {unknown[0]!r}; known: {', '.join(sorted(names))}")
    config, sources = load_config(cls, args.config, flag_values(args, cls))
    return config, sources, RunFlags(config=args.config, reset_checkpoint_dir=bool(args.reset_checkpoint_dir))


def check_input_files(config: RelabeledBCConfig, sources: Mapping[str, str], reset_checkpoint_dir: bool) -> None:
    """The data and model inputs of a relabeled-BC run are present and readable: ``in_model`` (parsed),
    ``in_weights`` (read when ``reset_checkpoint_dir`` will delete an old checkpoint first), the split files
    ``<sampling_dir>/<sampling>_{train,val}.txt``, ``data_dir``, ``goal_codebook`` (the low level's; read). (The
    trainer's own inputs and outputs: :func:`steve1.bc_trainer.check_run_paths`.)

    Raises:
        steve1.utils.cli.UsageError: the first problem; the message names the flag or the config file and key,
            the value and what was expected.
    """
    from steve1.utils.checks import check_input_dir, check_input_file

    check_input_file(config.in_model, source_of(sources, "in_model"),
                     "a policy architecture: a .model pickle or a YAML")
    try:
        from steve1.embed_conditioned_policy import load_model_config

        load_model_config(config.in_model)
    except ValueError as e:
        raise UsageError(f"{source_of(sources, 'in_model')}: {e}") from e
    if config.in_weights:
        check_input_file(config.in_weights, source_of(sources, "in_weights"), "a .weights file")
        if reset_checkpoint_dir and os.path.isdir(config.checkpoint_dir):
            # run_training deletes the old checkpoint before it builds the policy: make sure the weights load first
            from VPT.lib.loading import WeightsLoadError, read_state_dict

            try:
                read_state_dict(config.in_weights)
            except WeightsLoadError as e:
                raise UsageError(f"{source_of(sources, 'in_weights')}: {e}") from e
    if getattr(config, "goal_codebook", None):
        check_input_file(config.goal_codebook, source_of(sources, "goal_codebook"), "a codebook centers.pkl")
        from goal_prior.codebook import KMeansCodebook

        try:
            KMeansCodebook(config.goal_codebook)
        except Exception as e:  # noqa: BLE001 - any unreadable codebook is the user's file
            raise UsageError(f"{source_of(sources, 'goal_codebook')}: {config.goal_codebook}: not a readable "
                             f"codebook ({e})") from e
    check_input_dir(config.sampling_dir, source_of(sources, "sampling_dir"), "the folder of the split files")
    for split in ("train", "val"):
        path = os.path.join(config.sampling_dir, f"{config.sampling}_{split}.txt")
        if not os.path.isfile(path):
            raise UsageError(f"{source_of(sources, 'sampling')}: {config.sampling}: no split file {path} (write it "
                             f"with python -m steve1.data.sampling.generate_sampling)")
    if config.data_dir is not None:
        check_input_dir(config.data_dir, source_of(sources, "data_dir"), "the folder of the episodes")


def named_stage(make_datasets: Callable, make_policy: Callable, sources: Mapping[str, str],
                ) -> tuple[Callable, Callable]:
    """``make_datasets`` and ``make_policy`` whose errors about the user's files (an unusable episode of the split,
    weights that cannot be read or do not fit) become :class:`~steve1.utils.cli.UsageError` naming the flag or config
    key that gave the file (issue 17 item 4); a dataset error that starts with ``action_loss_weights`` (an action the
    data's simulator does not have) or ``goal_codebook`` (codes of another size than the goals) names that key
    instead."""
    from VPT.lib.loading import WeightsLoadError

    def datasets(c):
        try:
            return make_datasets(c)
        except UsageError:
            raise
        except (ValueError, KeyError, FileNotFoundError) as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else e
            # an action or achievement the data lacks, codes of another size
            for key in ("action_loss_weights", "achievement_loss_weights", "goal_codebook"):
                if str(msg).startswith(key):
                    raise UsageError(f"{source_of(sources, key)}: {msg}") from e
            raise UsageError(f"{source_of(sources, 'sampling')} {c.sampling} (in {c.sampling_dir}): {msg}") from e

    def policy(c, train_dataset):
        try:
            return make_policy(c, train_dataset)
        except UsageError:
            raise
        except (WeightsLoadError, ValueError, FileNotFoundError) as e:
            key = "in_weights" if c.in_weights else "in_model"
            raise UsageError(f"{source_of(sources, key)}: {e}") from e

    return datasets, policy
