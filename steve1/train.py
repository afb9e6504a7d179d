"""Goal-conditioned behaviour cloning: THE trainer of the low-level policy (STEVE-1) and of the goal prior (spec §6,
§8.3; STEVE-1 §3, PTGM §3.1).

Run (one process, CPU or one GPU)::

    python steve1/train.py --config configs/crafter/steve1.yaml
    python steve1/train.py --config configs/crafter/steve1.yaml --n_frames 200000 --batch_size 8   # flags override

Outgrow one GPU with accelerate (bf16, several GPUs)::

    accelerate launch --num_processes 4 --mixed_precision bf16 steve1/train.py ...   # see train_goal_conditioned_policy.sh

The recipe (one window step ``n`` = one forward/backward over ``trunc_t`` frames of a batch of ``B`` chunks):

* **Data.** Chunks of ``T`` frames with hindsight-relabeled goals (:class:`steve1.data.minecraft_dataset.
  MinecraftDataset`); the goal embeddings were precomputed into the episodes, so no goal embedder runs here and the
  same script trains Minecraft (MineCLIP, VPT-2x) and Crafter (CrafterCLIP, a small VPT).
* **Truncated BPTT.** Each batch ``[B, T]`` is cut into ``T / trunc_t`` windows; the transformer memory (the
  recurrent state) is carried across windows *and* batches and detached between windows; each chunk starts with
  ``first=True``, which masks the memory of the previous chunk.
* **Loss** ``= -mean_over_batch( sum_{t in window} log pi(a_t | o_<=t, g_t) )`` (spec §6; for the Minecraft dict
  action the log-likelihood is the sum over the ``buttons`` and ``camera`` heads).
* **Optimiser.** AdamW; no weight decay for biases, LayerNorm and Embedding weights, ``--weight_decay`` for
  everything else (conv and GroupNorm weights included, as upstream). Gradient norm clipped to
  ``--max_grad_norm``; ``--gradient_accumulation_steps`` windows per optimiser step.
* **Learning rate** per window step from the frames processed ``f = n * trunc_t * B * num_processes``: linear
  warm-up ``lr * f / warmup_frames``, then cosine from ``lr`` to 0 over ``[warmup_frames, 1.1 * n_frames]``;
  training stops at ``f >= n_frames``.
* **Validation** (mean loss over every window of the validation chunks, state carried, goals fixed across
  evaluations) at window steps ``n`` with ``(n - 1) % freq == 0``, ``freq = --val_freq_begin`` before
  ``--val_freq_switch_steps`` and ``--val_freq`` after, and once at the end.
* **Outputs.** ``<out>_latest.weights`` (with every checkpoint), ``<out>_best.weights`` + ``<out>_best.json`` (on a
  new best validation loss), ``<out>_snapshot_<frames>.weights`` (every ``--snapshot_every_n_frames``): plain
  ``policy.state_dict()`` without prefix, loadable by :meth:`steve1.MineRLConditionalAgent.MineRLConditionalAgent.
  load_weights`. A checkpoint every ``--save_freq`` window steps in ``--checkpoint_dir``; TensorBoard in
  ``--tb_dir`` (tags ``losses/train_loss``, ``losses/val_loss``, ``charts/learning_rate``,
  ``charts/frames_per_second`` (training frames per second of wall time, validation excluded); the x axis is frames
  processed, i.e. env steps of data; train losses are averaged over processes); the resolved arguments in
  ``<checkpoint_dir>/args.yaml``.

Where we deliberately differ from upstream (spec §6, §12.1.8):

* **Real booleans** (``--save_each_val/--no-save_each_val``, ``--reset_checkpoint_dir``): upstream's
  ``type=bool`` parsed ``"False"`` as True. ``--save_each_val`` now does what it says (weights
  ``<out>_val_<n>.weights`` at every validation; upstream never used it).
* **Exact resume.** A checkpoint holds the policy, the optimiser, the counters (window step, epoch, batch and window
  position), the best validation loss, the carried recurrent state and every RNG, and the data order is a pure
  function of ``(seed, epoch)`` and the relabeling of ``(seed, epoch, index)``: a resumed run reproduces the
  uninterrupted one (upstream resumed at a batch boundary through accelerate's dataloader RNG). Checkpoints are
  written atomically (upstream overwrote files in place). ``--save_freq`` must be a multiple of
  ``--gradient_accumulation_steps`` so that no partial gradient is ever checkpointed. Ctrl-C or SIGTERM saves a
  checkpoint after the current window step (optimiser step), prints it and the command that resumes it, and exits
  with code 130 (143).
* **Gradient accumulation** is done here (loss / steps, ``no_sync`` between optimiser steps, clipping once on the
  accumulated gradient) instead of through ``accelerator.accumulate``, whose per-micro-step clipping clipped
  partial sums.
* TensorBoard instead of wandb; weights are saved without the ``policy.`` prefix on any number of processes
  (upstream kept it on one process); validation and logging counters start at step 1 as upstream, checkpoints at
  multiples of ``--save_freq`` (upstream also at step 1).
* ``--config FILE`` (YAML of flag values; command-line flags override it), ``--data_dir`` (re-roots the episode
  lists), ``--tb_dir``.

Reusable core (the goal prior's ``goal_prior/train.py`` calls it with its own dataset and policy)::

    parser = build_parser("...")            # the shared BC flags, upstream defaults
    parser.set_defaults(seed=1, ...)        # the stage's own defaults; parser.add_argument(...) for extra flags
    args = parse_args(parser)               # --config YAML + command line
    run_training(args, make_datasets, make_policy)

where ``make_datasets(args) -> (train_dataset, val_dataset)`` returns map-style datasets of ``(obs, actions,
firsts)`` items (``firsts`` bool ``[T, 1]``; optional ``set_epoch(epoch)``), and ``make_policy(args,
train_dataset) -> nn.Module`` returns a policy with ``initial_state(B)``, ``forward(obs, first [B, t], state_in) ->
((pd, vpred, _), state_out)`` and an action head ``pi_head`` with ``logprob(action, pd) -> [B, t]`` (VPT's
``MinecraftAgentPolicy`` and its subclasses, any action space).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader

from steve1.utils.cli import UsageError
from steve1.utils.io import atomic_torch_save, atomic_write_text, rng_state, set_rng_state
from VPT.lib.policy import tree_map

# ----------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------


def build_parser(description: str = "Goal-conditioned behaviour cloning (STEVE-1) with truncated BPTT.",
                 ) -> argparse.ArgumentParser:
    """The shared behaviour-cloning flags with the upstream ``steve1/train.py`` defaults (spec §6 table).

    Units: ``--T``, ``--trunc_t``, ``--min/max_btwn_goals`` in frames (env steps); ``--n_frames``,
    ``--warmup_frames``, ``--snapshot_every_n_frames`` in frames processed; ``--log_freq``, ``--save_freq``,
    ``--val_freq*`` in window steps.
    """
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", default=None, help="YAML file of flag values (flag name: value); flags given on the "
                                                   "command line override it")
    g = p.add_argument_group("data")
    g.add_argument("--seed", type=int, default=42, help="seed of the model init, data order and relabeling")
    g.add_argument("--sampling", default="seed0", help="split name: <sampling_dir>/<sampling>_{train,val}.txt")
    g.add_argument("--sampling_dir", default="data/samplings/", help="folder of the split files")
    g.add_argument("--data_dir", default=None, help="if set, episodes are <data_dir>/<basename of each listed dir>")
    g.add_argument("--data_limit", type=int, default=None, help="use only the first N episodes of each split")
    g.add_argument("--val_every_nth", type=int, default=10, help="keep every n-th validation chunk")
    g.add_argument("--num_workers", type=int, default=4, help="DataLoader worker processes (0: load in-process)")
    g.add_argument("--T", type=int, default=300, help="frames per training chunk")
    g.add_argument("--min_btwn_goals", type=int, default=30, help="minimum frames between hindsight goals (>= 15)")
    g.add_argument("--goal_lead", type=int, default=0,
                   help="least frames between a frame and its hindsight goal (0: upstream, the first goal at or after "
                        "the frame; 16: the goal's 16-frame clip never overlaps frames the policy has seen; "
                        "steve1/data/minecraft_dataset.py)")
    g.add_argument("--max_btwn_goals", type=int, default=100, help="maximum frames between hindsight goals "
                                                                   "(exclusive)")
    g = p.add_argument_group("model")
    g.add_argument("--in_model", default="data/weights/vpt/2x.model",
                   help="policy architecture: an official .model pickle or a YAML with policy_kwargs/pi_head_kwargs")
    g.add_argument("--in_weights", default=None, help="initial weights (VPT or STEVE-1 .weights); none: fresh init")
    g.add_argument("--out_weights", default="data/weights/steve1/trained_with_script.weights",
                   help="output weights path; _latest/_best/_snapshot_<frames> are inserted before .weights")
    g = p.add_argument_group("optimisation")
    g.add_argument("--batch_size", type=int, default=4, help="chunks per batch per process")
    g.add_argument("--gradient_accumulation_steps", type=int, default=1, help="window steps per optimiser step")
    g.add_argument("--trunc_t", type=int, default=10, help="frames per TBPTT window (T must be a multiple)")
    g.add_argument("--learning_rate", type=float, default=1e-6, help="peak learning rate")
    g.add_argument("--n_frames", type=int, default=100_000_000, help="train until this many frames are processed")
    g.add_argument("--warmup_frames", type=int, default=10_000_000, help="linear warm-up length in frames")
    g.add_argument("--weight_decay", type=float, default=0.039428, help="AdamW decay (not on biases/LayerNorm/Embedding)")
    g.add_argument("--max_grad_norm", type=float, default=5.0, help="gradient-norm clipping")
    g = p.add_argument_group("logging, validation and checkpoints")
    g.add_argument("--log_freq", type=int, default=100, help="TensorBoard train logs every N window steps")
    g.add_argument("--save_freq", type=int, default=1000, help="checkpoint + _latest weights every N window steps "
                                                              "(a multiple of --gradient_accumulation_steps)")
    g.add_argument("--snapshot_every_n_frames", type=int, default=10_000_000, help="snapshot weights period, frames")
    g.add_argument("--val_freq", type=int, default=3500, help="validation period (window steps) after the switch")
    g.add_argument("--val_freq_begin", type=int, default=3500, help="validation period before the switch")
    g.add_argument("--val_freq_switch_steps", type=int, default=3500, help="window step of the period switch")
    g.add_argument("--save_each_val", action=argparse.BooleanOptionalAction, default=False,
                   help="also save <out>_val_<step>.weights at every validation")
    g.add_argument("--checkpoint_dir", default="data/training_checkpoint", help="checkpoints (resumed if present)")
    g.add_argument("--restart_from_checkpoint", default=None,
                   help="when --checkpoint_dir holds no checkpoint, resume from this checkpoint dir instead")
    g.add_argument("--reset_checkpoint_dir", action="store_true", help="delete --checkpoint_dir before starting")
    g.add_argument("--tb_dir", default=None, help="TensorBoard folder (default: <checkpoint_dir>/tb)")
    return p


def _coerce(action: argparse.Action, value: Any, where: str) -> Any:
    """Convert a YAML value to what the flag's parser would produce."""
    if value is None:
        return None
    if isinstance(action, (argparse.BooleanOptionalAction, argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise UsageError(f"{where}: {action.dest} must be true or false, got {value!r}")
        return value
    typ = action.type
    if typ is None:
        return value if isinstance(value, str) else str(value)
    if typ is int and isinstance(value, float):
        if not value.is_integer():
            raise UsageError(f"{where}: {action.dest} must be an integer, got {value!r}")
        return int(value)
    if typ is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) or not isinstance(value, typ):
        try:
            return typ(value)
        except (TypeError, ValueError) as e:
            raise UsageError(f"{where}: {action.dest}={value!r} is not a valid {typ.__name__}: {e}") from e
    return value


def load_config_file(parser: argparse.ArgumentParser, path: str, spelled: Optional[dict] = None) -> dict:
    """Read a YAML config of flag values for ``parser`` (keys are flag names without ``--``; ``spelled``, if given,
    receives each destination's key as the file spells it).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a mapping, an unknown flag, or a value of the wrong type (the message names the file).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--config {path}: config file not found")
    with open(path) as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise UsageError(f"--config {path}: not valid YAML: {' '.join(str(e).split())}") from e
    if not isinstance(data, dict):
        raise UsageError(f"--config {path}: expected a mapping of flag name -> value, got {type(data).__name__}")
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    out = {}
    for key, value in data.items():
        dest = str(key).lstrip("-").replace("-", "_")
        if dest not in actions:
            raise UsageError(f"--config {path}: unknown flag {key!r}; known: {', '.join(sorted(actions))}")
        out[dest] = _coerce(actions[dest], value, f"{path} key '{key}'")
        if spelled is not None:
            spelled[dest] = str(key)
    return out


def parse_args(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``argv``: defaults < ``--config`` YAML values < command-line flags.

    Raises:
        SystemExit: bad flags (argparse). FileNotFoundError / steve1.utils.cli.UsageError (a ValueError): bad
            config file (the message names the file and key).
    """
    return parse_args_and_sources(parser, argv)[0]


def parse_args_and_sources(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None
                           ) -> tuple[argparse.Namespace, dict[str, str]]:
    """:func:`parse_args` plus where each value came from: ``{dest: "--flag"}``, or ``"<config file> key 'k'"`` for
    the values that the ``--config`` file sets and the command line does not override (issue 17 item 4)."""
    from steve1.utils.checks import flag_sources

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    spelled: dict = {}
    if known.config is not None:
        parser.set_defaults(**load_config_file(parser, known.config, spelled))
    args = parser.parse_args(argv)
    return args, flag_sources(parser, argv, known.config, spelled)


def _ranges() -> dict:
    """What each number flag must be (units in :func:`build_parser`); checked by :func:`check_args`."""
    from steve1.utils.checks import Range

    return {
        "seed": Range(int),
        "data_limit": Range(int, lo=1, optional=True, note="episodes per split"),
        "val_every_nth": Range(int, lo=1),
        "num_workers": Range(int, lo=0, note="DataLoader worker processes"),
        "T": Range(int, lo=1, note="frames per chunk"),
        "min_btwn_goals": Range(int, lo=15, note="frames; the first goal embedding is at frame 15"),
        "max_btwn_goals": Range(int, lo=16, note="frames, exclusive"),
        "goal_lead": Range(int, lo=0, note="frames"),
        "batch_size": Range(int, lo=1, note="chunks per batch"),
        "gradient_accumulation_steps": Range(int, lo=1, note="window steps per optimiser step"),
        "trunc_t": Range(int, lo=1, note="frames per TBPTT window"),
        "learning_rate": Range(float, lo=0, lo_open=True),
        "n_frames": Range(int, lo=1, note="frames processed"),
        "warmup_frames": Range(int, lo=0, note="frames"),
        "weight_decay": Range(float, lo=0),
        "max_grad_norm": Range(float, lo=0, lo_open=True),
        "log_freq": Range(int, lo=1, note="window steps"),
        "save_freq": Range(int, lo=1, note="window steps"),
        "snapshot_every_n_frames": Range(int, lo=1, note="frames"),
        "val_freq": Range(int, lo=1, note="window steps"),
        "val_freq_begin": Range(int, lo=1, note="window steps"),
        "val_freq_switch_steps": Range(int, lo=0, note="window steps"),
        "p_uncond": Range(float, lo=0, hi=1, note="probability"),
    }


def check_args(args: argparse.Namespace, sources: Optional[dict] = None) -> None:
    """Check the shared flags before anything is written: every number in range (:func:`_ranges`), the flags
    consistent, the output paths usable. (:func:`run_training` calls it; the scripts also call
    :func:`check_input_files`, which assumes the data comes from ``--sampling``.)

    Args:
        sources: where each value came from (:func:`parse_args_and_sources`); default: the flag.

    Raises:
        steve1.utils.cli.UsageError (a ValueError): the first problem; the message names the flag or the config file
            and key, the value and what was expected.
    """
    from steve1.utils.checks import check_output_dir, check_output_path, check_value

    def where(key: str) -> str:
        return (sources or {}).get(key, f"--{key}")

    for name, rule in _ranges().items():
        if hasattr(args, name):
            check_value(getattr(args, name), name, rule, where(name))
    if args.min_btwn_goals >= args.max_btwn_goals:
        raise UsageError(f"{where('max_btwn_goals')}: max_btwn_goals must be > min_btwn_goals = {args.min_btwn_goals} "
                         f"(from {where('min_btwn_goals')}), got {args.max_btwn_goals}")
    if args.T % args.trunc_t != 0:
        raise UsageError(f"{where('T')}: T must be a multiple of trunc_t = {args.trunc_t} (from {where('trunc_t')}), "
                         f"got {args.T}")
    if args.save_freq % args.gradient_accumulation_steps != 0:
        raise UsageError(f"{where('save_freq')}: save_freq must be a multiple of gradient_accumulation_steps = "
                         f"{args.gradient_accumulation_steps} (from {where('gradient_accumulation_steps')}) so that "
                         f"checkpoints fall on optimiser steps, got {args.save_freq}")
    check_output_path(args.out_weights, where("out_weights"), suffix=".weights")
    check_output_dir(args.checkpoint_dir, where("checkpoint_dir"))
    if args.tb_dir:
        check_output_dir(args.tb_dir, where("tb_dir"))


def check_input_files(args: argparse.Namespace, sources: Optional[dict] = None) -> None:
    """The input files of a script run are present and readable: ``--in_model`` (parsed), ``--in_weights``, the
    split files ``<sampling_dir>/<sampling>_{train,val}.txt``, ``--data_dir``, a ``--restart_from_checkpoint``.

    Raises:
        steve1.utils.cli.UsageError (a ValueError): the first problem; the message names the flag or the config file
            and key, the value and what was expected.
    """
    from steve1.utils.checks import check_input_dir, check_input_file

    def where(key: str) -> str:
        return (sources or {}).get(key, f"--{key}")

    check_input_file(args.in_model, where("in_model"), "a policy architecture: a .model pickle or a YAML")
    try:
        from steve1.embed_conditioned_policy import load_model_config

        load_model_config(args.in_model)
    except ValueError as e:
        raise UsageError(f"{where('in_model')}: {e}") from e
    if args.in_weights:
        check_input_file(args.in_weights, where("in_weights"), "a .weights file")
        if args.reset_checkpoint_dir and os.path.isdir(args.checkpoint_dir):
            # run_training deletes the old checkpoint before it builds the policy: make sure the weights load first
            from VPT.lib.loading import WeightsLoadError, read_state_dict

            try:
                read_state_dict(args.in_weights)
            except WeightsLoadError as e:
                raise UsageError(f"{where('in_weights')}: {e}") from e
    check_input_dir(args.sampling_dir, where("sampling_dir"), "the folder of the split files")
    for split in ("train", "val"):
        path = os.path.join(args.sampling_dir, f"{args.sampling}_{split}.txt")
        if not os.path.isfile(path):
            raise UsageError(f"{where('sampling')}: {args.sampling}: no split file {path} (write it with "
                             f"python -m steve1.data.sampling.generate_sampling)")
    if args.data_dir is not None:
        check_input_dir(args.data_dir, where("data_dir"), "the folder of the episodes")
    resumes_own = has_checkpoint(args.checkpoint_dir) and not args.reset_checkpoint_dir
    if args.restart_from_checkpoint and not resumes_own and not has_checkpoint(args.restart_from_checkpoint):
        raise UsageError(f"{where('restart_from_checkpoint')}: {args.restart_from_checkpoint} holds no "
                         f"{CHECKPOINT_INDEX} (expected a --checkpoint_dir of an earlier run)")


# ----------------------------------------------------------------------------------------------------------------
# Pieces: loss, optimiser, schedules
# ----------------------------------------------------------------------------------------------------------------


class BehaviourCloningLoss(nn.Module):
    """Wraps a policy so DDP sees one module whose forward returns the loss (upstream ``DDPPolicy``).

    ``forward(obs, first, actions, state_in) -> (loss, state_out)`` with ``obs`` leaves ``[B, t, ...]``, ``first``
    bool ``[B, t]``, ``actions`` as ``policy.pi_head.logprob`` takes them (int64 ``[B, t, 1]`` per categorical
    head, the official ``(1,)``-shaped action; float ``[B, t, d]`` for a Gaussian head);
    ``loss = -mean_b sum_t log pi(a_bt)``, a float32 scalar (spec §6).
    """

    def __init__(self, policy: nn.Module):
        super().__init__()
        self.policy = policy

    def forward(self, obs, first, actions, state_in):
        (pd, _vpred, _), state_out = self.policy(obs, first, state_in)
        log_prob = self.policy.pi_head.logprob(actions, pd)  # [B, t], summed over heads and action axes
        if tuple(log_prob.shape) != tuple(first.shape):
            raise ValueError(f"log-likelihood of shape {list(log_prob.shape)} for a window {list(first.shape)}: "
                             f"actions must be per head [B, t, 1] (int64) or [B, t, d] (Box)")
        log_prob = log_prob.float()
        return -log_prob.sum(dim=1).mean(), state_out


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups (spec §6): no decay for biases and LayerNorm/Embedding weights, ``weight_decay`` for every other
    trainable parameter (conv, Linear, GroupNorm weights, ``b_nd``, ...). Frozen parameters are left out."""
    no_decay_modules = (nn.LayerNorm, nn.Embedding)
    no_decay_ids = set()
    for module in model.modules():
        for pname, param in module.named_parameters(recurse=False):
            if pname.endswith("bias") or isinstance(module, no_decay_modules):
                no_decay_ids.add(id(param))
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if id(param) in no_decay_ids else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def configure_optimizer(model: nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups` (fused on CUDA, as upstream with torch 2)."""
    fused = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=learning_rate, fused=fused or None)


def lr_at(frames: int, learning_rate: float, warmup_frames: int, n_frames: int) -> float:
    """Learning rate after ``frames`` frames processed (spec §6): linear warm-up, cosine to 0 at ``1.1 * n_frames``."""
    if frames < warmup_frames:
        return learning_rate * frames / warmup_frames
    end = 1.1 * n_frames
    if frames > end:
        return 0.0
    ratio = (frames - warmup_frames) / max(end - warmup_frames, 1e-12)
    return 0.5 * (1.0 + math.cos(math.pi * ratio)) * learning_rate


def validation_due(n_steps: int, val_freq: int, val_freq_begin: int, val_freq_switch_steps: int) -> bool:
    """Whether to validate after window step ``n_steps`` (1-based; spec §6): ``(n-1) % freq == 0`` with ``freq =
    val_freq_begin`` while ``n - 1 < val_freq_switch_steps``, else ``val_freq``."""
    m = n_steps - 1
    freq = val_freq if m >= val_freq_switch_steps else val_freq_begin
    return m % freq == 0


def epoch_batches(n_items: int, batch_size: int, seed: int, epoch: int, num_processes: int = 1,
                  process_index: int = 0) -> list[list[int]]:
    """This process's batches of dataset indices for ``epoch``: a permutation seeded by ``(seed, epoch)``, cut into
    ``n_items // (batch_size * num_processes)`` global batches (the incomplete tail is dropped: the recurrent state
    is carried across batches, so B is fixed); process ``k`` takes the ``k``-th ``batch_size`` slice of each."""
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    perm = torch.randperm(n_items, generator=gen).tolist()
    per_global = batch_size * num_processes
    out = []
    for b in range(n_items // per_global):
        lo = b * per_global + process_index * batch_size
        out.append(perm[lo:lo + batch_size])
    return out


def weights_path(out_weights: str, tag: str) -> str:
    """``results/x.weights`` + ``best`` -> ``results/x_best.weights``."""
    return f"{out_weights[:-len('.weights')]}_{tag}.weights"


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------------------

CHECKPOINT_INDEX = "checkpoint.json"
#: Arguments that fix the meaning of a checkpoint's data position; a resume must not change them.
_POSITION_ARGS = ("seed", "T", "trunc_t", "batch_size", "gradient_accumulation_steps")


@dataclass
class TrainerState:
    """Counters restored on resume. ``n_steps``: window steps done; the next window is window ``window`` of batch
    ``batch`` of ``epoch`` (this process's batch list)."""

    n_steps: int = 0
    epoch: int = 0
    batch: int = 0
    window: int = 0
    best_val_loss: float = float("inf")
    next_snapshot_frames: int = 0
    num_processes: int = 1
    position_args: dict = field(default_factory=dict)


def has_checkpoint(checkpoint_dir: Optional[str]) -> bool:
    return bool(checkpoint_dir) and os.path.isfile(os.path.join(checkpoint_dir, CHECKPOINT_INDEX))


def save_checkpoint(checkpoint_dir: str, accelerator, policy: nn.Module, optimizer, state: TrainerState,
                    agent_state: Any) -> None:
    """Write a checkpoint atomically: ``trainer_<n>.pt`` (policy, optimiser, counters; main process),
    ``process<k>_<n>.pt`` (carried recurrent state and RNG states; every process), then ``checkpoint.json``
    pointing at step ``n``; older files are deleted afterwards."""
    n = state.n_steps
    os.makedirs(checkpoint_dir, exist_ok=True)
    accelerator.wait_for_everyone()
    atomic_torch_save({"agent_state": tree_map(lambda x: x.detach().cpu().clone(), agent_state),
                       "rng": rng_state()},
                      os.path.join(checkpoint_dir, f"process{accelerator.process_index}_{n}.pt"))
    if accelerator.is_main_process:
        atomic_torch_save({"policy": policy.state_dict(), "optimizer": optimizer.state_dict(),
                           "trainer_state": asdict(state)}, os.path.join(checkpoint_dir, f"trainer_{n}.pt"))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        atomic_write_text(os.path.join(checkpoint_dir, CHECKPOINT_INDEX), json.dumps({"n_steps": n}, indent=4))
        keep = {f"trainer_{n}.pt"} | {f"process{k}_{n}.pt" for k in range(accelerator.num_processes)}
        for path in glob.glob(os.path.join(checkpoint_dir, "trainer_*.pt")) + \
                glob.glob(os.path.join(checkpoint_dir, "process*_*.pt")):
            if os.path.basename(path) not in keep:
                os.remove(path)
    accelerator.wait_for_everyone()


def load_checkpoint(checkpoint_dir: str, accelerator, policy: nn.Module, optimizer) -> tuple[TrainerState, Any]:
    """Restore a checkpoint written by :func:`save_checkpoint` into ``policy`` and ``optimizer`` (already on their
    device), set this process's RNG states, and return ``(trainer_state, agent_state)``.

    Raises:
        FileNotFoundError: a checkpoint file is missing (the message names it).
    """
    with open(os.path.join(checkpoint_dir, CHECKPOINT_INDEX)) as f:
        n = int(json.load(f)["n_steps"])
    main_path = os.path.join(checkpoint_dir, f"trainer_{n}.pt")
    proc_path = os.path.join(checkpoint_dir, f"process{accelerator.process_index}_{n}.pt")
    for path in (main_path, proc_path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"checkpoint file missing: {path} (the checkpoint in {checkpoint_dir} is "
                                    f"incomplete, or was written by a different number of processes)")
    main = torch.load(main_path, map_location="cpu", weights_only=False)
    proc = torch.load(proc_path, map_location="cpu", weights_only=False)
    policy.load_state_dict(main["policy"])
    optimizer.load_state_dict(main["optimizer"])
    set_rng_state(proc["rng"])
    device = next(policy.parameters()).device
    agent_state = tree_map(lambda x: x.to(device), proc["agent_state"])
    return TrainerState(**main["trainer_state"]), agent_state


# ----------------------------------------------------------------------------------------------------------------
# The training loop
# ----------------------------------------------------------------------------------------------------------------


def _ignore_sigint(worker_id: int) -> None:
    """DataLoader workers ignore Ctrl-C (the terminal sends it to every process of the job): the main process saves
    a checkpoint at its next safe point and then shuts the workers down (a worker ended by Ctrl-C would fail the
    batch the main process is waiting for)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _loader(dataset, batches: list[list[int]], num_workers: int) -> DataLoader:
    return DataLoader(dataset, batch_sampler=batches, num_workers=num_workers,
                      pin_memory=torch.cuda.is_available(), persistent_workers=False,
                      worker_init_fn=_ignore_sigint if num_workers > 0 else None)


def _to_device(batch, device):
    return tree_map(lambda x: x.to(device, non_blocking=True), batch)


def _window(x, t0: int, t1: int):
    return tree_map(lambda v: v[:, t0:t1], x)


@torch.no_grad()
def evaluate(model: nn.Module, dataset, args: argparse.Namespace, accelerator) -> float:
    """Mean loss over every ``trunc_t`` window of every chunk of ``dataset`` (eval mode, no gradient; spec §6).

    Chunks are dealt round-robin to the processes and batched by ``--batch_size`` in index order (the last batch of
    a process may be smaller: every chunk counts). The recurrent state is carried across windows and batches as in
    training (a chunk starts with ``first=True``, so the previous chunk's memory is masked); the result is the mean
    over all windows of all processes of the per-window batch-mean loss.

    Raises:
        ValueError: fewer chunks than processes.
    """
    if len(dataset) < accelerator.num_processes:
        raise ValueError(f"validation set has {len(dataset)} chunks, fewer than the {accelerator.num_processes} "
                         f"processes")
    was_training = model.training
    model.eval()
    policy = accelerator.unwrap_model(model).policy
    mine = list(range(accelerator.process_index, len(dataset), accelerator.num_processes))
    batches = [mine[i:i + args.batch_size] for i in range(0, len(mine), args.batch_size)]
    sums = torch.zeros(2, device=accelerator.device)  # (sum of window losses, number of windows)
    state = None
    for obs, actions, firsts in _loader(dataset, batches, args.num_workers):
        obs, actions, firsts = _to_device((obs, actions, firsts[..., 0]), accelerator.device)
        if state is None or _state_batch(state) != firsts.shape[0]:
            state = policy.initial_state(firsts.shape[0])
        for t0 in range(0, firsts.shape[1], args.trunc_t):
            t1 = t0 + args.trunc_t
            loss, state = model(_window(obs, t0, t1), firsts[:, t0:t1], _window(actions, t0, t1), state)
            sums += torch.stack([loss.detach().float(), torch.ones((), device=sums.device)])
    sums = accelerator.gather(sums.reshape(1, 2)).sum(dim=0)
    model.train(was_training)
    return (sums[0] / sums[1]).item()


def _state_batch(state: Any) -> int:
    """Batch size of a VPT recurrent state (list over blocks of ``(mask, (K, V))``)."""
    return int(state[0][1][0].shape[0])


def run_training(args: argparse.Namespace, make_datasets: Callable, make_policy: Callable,
                 accelerator=None, command: Optional[Sequence[str]] = None) -> dict:
    """Train a policy by behaviour cloning with TBPTT (see the module docstring).

    Ctrl-C (SIGINT) or SIGTERM: after the current window step (the next optimiser step with gradient
    accumulation) the ``_latest`` weights and a checkpoint are saved in ``--checkpoint_dir``, the checkpoint and the
    command that resumes it (the same command: a run resumes from its ``--checkpoint_dir``) are printed, and
    :class:`steve1.utils.interrupt.Interrupted` is raised (a ``SystemExit``: exit code 130, or 143 for SIGTERM).
    The resumed run ends exactly as an uninterrupted one (see "Exact resume" in the module docstring). A second
    Ctrl-C raises ``KeyboardInterrupt`` at once, without saving.

    Args:
        args: parsed flags of :func:`build_parser` (plus the stage's own).
        make_datasets: ``make_datasets(args) -> (train_dataset, val_dataset)``.
        make_policy: ``make_policy(args, train_dataset) -> nn.Module`` (initialised, on CPU).
        accelerator: an ``accelerate.Accelerator``; default: one built here (mixed precision and processes from
            ``accelerate launch``/config; plain ``python`` = one process, fp32).
        command: the command line of this run, printed as the resume command on an interrupt (default:
            ``python`` + ``sys.argv``); ``--reset_checkpoint_dir`` is left out of it.

    Returns:
        dict with ``n_steps``, ``frames``, ``best_val_loss``, ``final_val_loss``, ``train_losses`` (list of
        ``(n_steps, mean train loss since the previous log)``) and ``val_losses`` (list of ``(n_steps, loss)``).

    Raises:
        ValueError: inconsistent flags, a dataset smaller than one batch, or a checkpoint made with other
            data-position flags (the message names them).
        steve1.utils.interrupt.Interrupted: stopped by SIGINT/SIGTERM after saving a checkpoint.
    """
    from steve1.utils.interrupt import catch_interrupts

    with catch_interrupts("saving a checkpoint after this window step") as interrupt:
        return _run_training(args, make_datasets, make_policy, accelerator, interrupt, command)


def _resume_command(command: Optional[Sequence[str]]) -> list[str]:
    """The command that resumes an interrupted run: ``command`` (default ``python`` + ``sys.argv``) without
    ``--reset_checkpoint_dir`` (which would delete the checkpoint)."""
    command = list(command) if command is not None else ["python", *sys.argv]
    return [c for c in command if c != "--reset_checkpoint_dir"]


def _stop_signal(interrupt, accelerator) -> int:
    """The signal number of a stop request on any process (0: none); a collective with several processes, so every
    process must call it at the same window step."""
    signum = int(interrupt.signum or 0)
    if accelerator.num_processes > 1:
        signum = int(accelerator.reduce(torch.tensor(signum, device=accelerator.device), "sum").item())
        signum = signum and int(interrupt.signum or 2)  # another process got it: stop here too (as SIGINT if unknown)
    return signum


def _run_training(args: argparse.Namespace, make_datasets: Callable, make_policy: Callable, accelerator,
                  interrupt, command: Optional[Sequence[str]]) -> dict:
    """:func:`run_training` with the stop-request flag ``interrupt`` (an ``InterruptFlag``)."""
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.utils import set_seed
    from torch.utils.tensorboard import SummaryWriter
    from tqdm.auto import tqdm

    check_args(args)
    if accelerator is None:
        accelerator = Accelerator(kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    is_main = accelerator.is_main_process
    num_processes = accelerator.num_processes

    if args.reset_checkpoint_dir and is_main and os.path.isdir(args.checkpoint_dir):
        shutil.rmtree(args.checkpoint_dir)
    accelerator.wait_for_everyone()
    resume_dir = None
    if has_checkpoint(args.checkpoint_dir):
        resume_dir = args.checkpoint_dir
    elif args.restart_from_checkpoint:
        if not has_checkpoint(args.restart_from_checkpoint):
            raise FileNotFoundError(f"--restart_from_checkpoint {args.restart_from_checkpoint}: no "
                                    f"{CHECKPOINT_INDEX} there")
        resume_dir = args.restart_from_checkpoint

    set_seed(args.seed)
    train_dataset, val_dataset = make_datasets(args)
    policy = make_policy(args, train_dataset)
    model = BehaviourCloningLoss(policy)
    model.to(accelerator.device)
    optimizer = configure_optimizer(model, args.learning_rate, args.weight_decay)
    model, optimizer = accelerator.prepare(model, optimizer)
    policy = accelerator.unwrap_model(model).policy

    position_args = {k: getattr(args, k) for k in _POSITION_ARGS}
    agent_state = None
    if resume_dir is not None:
        state, agent_state = load_checkpoint(resume_dir, accelerator, policy, optimizer)
        changed = {k: (state.position_args.get(k), v) for k, v in position_args.items()
                   if state.position_args.get(k) != v}
        if changed or state.num_processes != num_processes:
            raise UsageError(f"checkpoint {resume_dir} was made with other data-position settings "
                             f"{changed or ''} (num_processes {state.num_processes} vs {num_processes}); "
                             f"use a new --checkpoint_dir or --reset_checkpoint_dir")
    else:
        state = TrainerState(next_snapshot_frames=args.snapshot_every_n_frames, num_processes=num_processes,
                             position_args=position_args)

    frames_per_step = args.trunc_t * args.batch_size * num_processes
    n_windows = args.T // args.trunc_t
    n_batches = len(train_dataset) // (args.batch_size * num_processes)  # per epoch, the same on every process
    if n_batches == 0:
        raise UsageError(f"training set has {len(train_dataset)} chunks, fewer than one batch of "
                         f"{args.batch_size * num_processes}")
    total_steps = math.ceil(args.n_frames / frames_per_step)
    tb_dir = args.tb_dir or os.path.join(args.checkpoint_dir, "tb")
    writer = None
    if is_main:
        os.makedirs(args.checkpoint_dir, exist_ok=True)
        atomic_write_text(os.path.join(args.checkpoint_dir, "args.yaml"), yaml.safe_dump(vars(args), sort_keys=True))
        writer = SummaryWriter(tb_dir, purge_step=state.n_steps * frames_per_step if resume_dir else None)
        n_params = sum(p.numel() for p in policy.parameters() if p.requires_grad)
        print(f"[train] {n_params / 1e6:.2f}M trainable parameters; {len(train_dataset)} train / "
              f"{len(val_dataset)} val chunks of {args.T} frames; {frames_per_step} frames per window step, "
              f"{frames_per_step * args.gradient_accumulation_steps} per optimiser step; "
              f"{'resuming from ' + resume_dir + ' at step ' + str(state.n_steps) if resume_dir else 'fresh start'}",
              flush=True)

    def save_weights(tag: str) -> str:
        path = weights_path(args.out_weights, tag)
        if is_main:
            atomic_torch_save(policy.state_dict(), path)
        return path

    def validate() -> float:
        val_loss = evaluate(model, val_dataset, args, accelerator)
        val_losses.append((state.n_steps, val_loss))
        if is_main:
            writer.add_scalar("losses/val_loss", val_loss, state.n_steps * frames_per_step)
        if args.save_each_val:
            save_weights(f"val_{state.n_steps}")
        if val_loss < state.best_val_loss:
            state.best_val_loss = val_loss
            save_weights("best")
            if is_main:
                atomic_write_text(weights_path(args.out_weights, "best")[:-len(".weights")] + ".json",
                                   json.dumps({"best_val_loss": val_loss, "n_steps": state.n_steps,
                                               "frames": state.n_steps * frames_per_step,
                                               "epoch": state.epoch}, indent=4))
        return val_loss

    train_losses, val_losses = [], []
    sum_loss, n_loss = 0.0, 0
    last_log_time, last_log_frames = time.time(), state.n_steps * frames_per_step
    accum = args.gradient_accumulation_steps
    progress = tqdm(total=total_steps, initial=state.n_steps, disable=not is_main, desc="window steps",
                    dynamic_ncols=True)
    model.train()
    done = state.n_steps * frames_per_step >= args.n_frames
    while not done:
        if hasattr(train_dataset, "set_epoch"):
            train_dataset.set_epoch(state.epoch)
        batches = epoch_batches(len(train_dataset), args.batch_size, args.seed, state.epoch, num_processes,
                                accelerator.process_index)
        for obs, actions, firsts in _loader(train_dataset, batches[state.batch:], args.num_workers):
            obs, actions, firsts = _to_device((obs, actions, firsts[..., 0]), accelerator.device)
            if firsts.shape[1] != args.T:
                raise ValueError(f"dataset chunks have {firsts.shape[1]} frames, --T is {args.T}")
            if agent_state is None:
                agent_state = policy.initial_state(firsts.shape[0])
            for w in range(state.window, n_windows):
                frames = state.n_steps * frames_per_step
                lr = lr_at(frames, args.learning_rate, args.warmup_frames, args.n_frames)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                t0, t1 = w * args.trunc_t, (w + 1) * args.trunc_t
                sync = (state.n_steps + 1) % accum == 0
                ctx = contextlib.nullcontext() if sync or num_processes == 1 else accelerator.no_sync(model)
                with ctx:
                    loss, new_state = model(_window(obs, t0, t1), firsts[:, t0:t1], _window(actions, t0, t1),
                                            agent_state)
                    accelerator.backward(loss / accum)
                if sync:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                agent_state = tree_map(lambda x: x.detach(), new_state)
                state.n_steps += 1
                state.window = w + 1
                sum_loss += loss.item()
                n_loss += 1
                progress.update(1)
                frames = state.n_steps * frames_per_step

                if (state.n_steps - 1) % args.log_freq == 0:
                    now = time.time()
                    fps = (frames - last_log_frames) / max(now - last_log_time, 1e-9)
                    mean_loss = sum_loss / n_loss
                    if num_processes > 1:  # the same steps on every process: average their losses
                        mean_loss = accelerator.reduce(torch.tensor(mean_loss, device=accelerator.device),
                                                       "mean").item()
                    train_losses.append((state.n_steps, mean_loss))
                    if is_main:
                        writer.add_scalar("losses/train_loss", mean_loss, frames)
                        writer.add_scalar("charts/learning_rate", lr, frames)
                        writer.add_scalar("charts/frames_per_second", fps, frames)
                        progress.set_postfix(loss=f"{mean_loss:.3f}", lr=f"{lr:.2e}", fps=f"{fps:.0f}")
                    sum_loss, n_loss = 0.0, 0
                    last_log_time, last_log_frames = now, frames
                if frames >= state.next_snapshot_frames:
                    save_weights(f"snapshot_{frames}")
                    state.next_snapshot_frames += args.snapshot_every_n_frames
                if validation_due(state.n_steps, args.val_freq, args.val_freq_begin, args.val_freq_switch_steps):
                    val_start = time.time()
                    validate()
                    last_log_time += time.time() - val_start  # frames/s counts training time only
                done = frames >= args.n_frames
                if state.n_steps % args.save_freq == 0:
                    save_weights("latest")
                    save_checkpoint(args.checkpoint_dir, accelerator, policy, optimizer,
                                    _next_position(state, n_windows, n_batches), agent_state)
                if not done and state.n_steps % accum == 0 and (stop := _stop_signal(interrupt, accelerator)):
                    # Ctrl-C / SIGTERM: a safe point (no partial gradient); save, say how to resume, exit
                    if state.n_steps % args.save_freq != 0:  # (else just saved)
                        save_weights("latest")
                        save_checkpoint(args.checkpoint_dir, accelerator, policy, optimizer,
                                        _next_position(state, n_windows, n_batches), agent_state)
                    progress.close()
                    if is_main:
                        writer.close()
                    if not interrupt:  # another process received the signal
                        interrupt.set(stop)
                    interrupt.exit(args.checkpoint_dir, _resume_command(command), quiet=not is_main,
                                   detail=f"window step {state.n_steps}, {frames} frames")
                if done:
                    break
            if done:
                break
            state.window = 0
            state.batch += 1
        if not done:
            state.batch = 0
            state.epoch += 1
    progress.close()

    final_val_loss = validate()
    save_weights("latest")
    if state.n_steps % accum == 0 and state.n_steps % args.save_freq != 0:  # (else just saved)
        save_checkpoint(args.checkpoint_dir, accelerator, policy, optimizer,
                        _next_position(state, n_windows, n_batches), agent_state)
    if is_main:
        writer.close()
        print(f"[train] done: {state.n_steps} window steps, {state.n_steps * frames_per_step} frames, "
              f"final val loss {final_val_loss:.4f}, best {state.best_val_loss:.4f}", flush=True)
    return {"n_steps": state.n_steps, "frames": state.n_steps * frames_per_step,
            "best_val_loss": state.best_val_loss, "final_val_loss": final_val_loss,
            "train_losses": train_losses, "val_losses": val_losses}


def _next_position(state: TrainerState, n_windows: int, n_batches: int) -> TrainerState:
    """A copy of ``state`` whose (epoch, batch, window) names the next window to run (what a checkpoint stores)."""
    state = dataclasses.replace(state)
    if state.window >= n_windows:
        state.window = 0
        state.batch += 1
    if state.batch >= n_batches:
        state.batch = 0
        state.epoch += 1
    return state


# ----------------------------------------------------------------------------------------------------------------
# STEVE-1: the goal-conditioned low-level policy
# ----------------------------------------------------------------------------------------------------------------


def make_steve1_datasets(args: argparse.Namespace):
    """Train/val :class:`MinecraftDataset` of the split ``--sampling`` (val keeps every ``--val_every_nth``
    chunk)."""
    from steve1.data.minecraft_dataset import MinecraftDataset, load_sampling

    train_dirs, val_dirs = load_sampling(args.sampling_dir, args.sampling, args.data_dir)
    common = dict(T=args.T, min_btwn_goals=args.min_btwn_goals, max_btwn_goals=args.max_btwn_goals,
                  goal_lead=args.goal_lead, p_uncond=args.p_uncond, limit=args.data_limit, seed=args.seed)
    return (MinecraftDataset(train_dirs, **common),
            MinecraftDataset(val_dirs, every_nth=args.val_every_nth, **common))


def make_steve1_policy(args: argparse.Namespace, train_dataset) -> nn.Module:
    """The STEVE-1 policy: ``--in_model``'s architecture with a goal input of the dataset's embedding size and the
    action space of the dataset's simulator plugin, initialised from ``--in_weights`` (plain VPT weights: every VPT
    tensor loaded, ``mineclip_embed_linear`` left at its init, spec §5.3; STEVE-1 weights: strict load)."""
    from steve1.data.minecraft_dataset import sim_plugin
    from steve1.MineRLConditionalAgent import build_conditional_policy, load_conditional_policy_weights

    policy = build_conditional_policy(args.in_model, action_space=sim_plugin(train_dataset.sim).ACTION_SPACE,
                                      goal_dim=train_dataset.goal_dim)
    if args.in_weights:
        info = load_conditional_policy_weights(policy, args.in_weights, allow_missing_goal_linear=True)
        print(f"[train] initial weights {args.in_weights}: {info}", flush=True)
    return policy


def build_steve1_parser() -> argparse.ArgumentParser:
    """:func:`build_parser` plus the STEVE-1 flag ``--p_uncond``."""
    parser = build_parser()
    parser.add_argument("--p_uncond", type=float, default=0.1,
                        help="probability of zeroing a chunk's goals (classifier-free guidance training)")
    return parser


def named_stage(make_datasets: Callable, make_policy: Callable, args: argparse.Namespace,
                sources: Optional[dict] = None) -> tuple[Callable, Callable]:
    """``make_datasets`` and ``make_policy`` whose errors about the user's files (an unusable episode of the split,
    weights that cannot be read or do not fit) become :class:`~steve1.utils.cli.UsageError` naming the flag or config
    key that gave the file (issue 17 item 4)."""
    from VPT.lib.loading import WeightsLoadError

    def where(key: str) -> str:
        return (sources or {}).get(key, f"--{key}")

    def datasets(a):
        try:
            return make_datasets(a)
        except UsageError:
            raise
        except (ValueError, KeyError, FileNotFoundError) as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else e
            raise UsageError(f"{where('sampling')} {a.sampling} (in {a.sampling_dir}): {msg}") from e

    def policy(a, train_dataset):
        try:
            return make_policy(a, train_dataset)
        except UsageError:
            raise
        except (WeightsLoadError, ValueError, FileNotFoundError) as e:
            key = "in_weights" if a.in_weights else "in_model"
            raise UsageError(f"{where(key)}: {e}") from e

    return datasets, policy


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a flag or config value out of range, a missing or unreadable
    input file, an unusable output path) ends the program with one line on stderr naming the flag or the config file
    and key, and exit code 2, before anything is written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    def body():
        parser = build_steve1_parser()
        args, sources = parse_args_and_sources(parser, argv)
        check_args(args, sources)
        check_input_files(args, sources)
        script = os.path.relpath(os.path.abspath(__file__))
        command = None if argv is None else ["python", script if not script.startswith("..") else __file__, *argv]
        datasets, policy = named_stage(make_steve1_datasets, make_steve1_policy, args, sources)
        return run_training(args, datasets, policy, command=command)

    return run_main("train.py", body)


if __name__ == "__main__":
    main(sys.argv[1:])
