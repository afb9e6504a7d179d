"""The behaviour-cloning trainer: THE trainer of the low-level policy (STEVE-1, ``steve1/train.py``) and of the
goal prior (``goal_prior/train.py``) (spec §6, §8.3; STEVE-1 §3, PTGM §3.1). Its settings are
:class:`steve1.train_config.BCTrainerConfig`; the stages' entry points read them from their config files.

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
  processed, i.e. env steps of data; train losses are averaged over processes); the resolved config (every
  setting, plus ``config``: the file read, and ``reset_checkpoint_dir``) in ``<checkpoint_dir>/args.yaml``.

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
* Every setting comes from the stage's YAML config file (``--config``; flags override it; no values in code),
  ``data_dir`` (re-roots the episode lists), ``tb_dir``.

Use (the stages call it with their own config class, dataset and policy)::

    config, sources, run = parse_stage_config(Steve1Config, argv, "...", "configs/minecraft/steve1.yaml")
    check_run_paths(config, sources, run.reset_checkpoint_dir)
    run_training(config, make_datasets, make_policy, reset_checkpoint_dir=run.reset_checkpoint_dir,
                 config_path=run.config)

where ``config`` is a :class:`~steve1.train_config.BCTrainerConfig` (or a subclass: the stage's config),
``make_datasets(config) -> (train_dataset, val_dataset)`` returns map-style datasets of ``(obs, actions, firsts)``
items (``firsts`` bool ``[T, 1]``; optional ``set_epoch(epoch)``), and ``make_policy(config, train_dataset) ->
nn.Module`` returns a policy with ``initial_state(B)``, ``forward(obs, first [B, t], state_in) ->
((pd, vpred, _), state_out)`` and an action head ``pi_head`` with ``logprob(action, pd) -> [B, t]`` (VPT's
``MinecraftAgentPolicy`` and its subclasses, any action space).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from steve1.data.minecraft_dataset import LOSS_MASK_KEY
from steve1.train_config import BCTrainerConfig
from steve1.utils.cli import UsageError, source_of
from steve1.utils.config import write_config
from steve1.utils.io import atomic_torch_save, atomic_write_text, rng_state, set_rng_state
from VPT.lib.policy import tree_map

# ----------------------------------------------------------------------------------------------------------------
# Pieces: loss, optimiser, schedules
# ----------------------------------------------------------------------------------------------------------------


class BehaviourCloningLoss(nn.Module):
    """Wraps a policy so DDP sees one module whose forward returns the loss (upstream ``DDPPolicy``).

    ``forward(obs, first, actions, state_in) -> (loss, state_out)`` with ``obs`` leaves ``[B, t, ...]``, ``first``
    bool ``[B, t]``, ``actions`` as ``policy.pi_head.logprob`` takes them (int64 ``[B, t, 1]`` per categorical
    head, the official ``(1,)``-shaped action; float ``[B, t, d]`` for a Gaussian head);
    ``loss = -mean_b sum_t log pi(a_bt)``, a float32 scalar (spec §6). When ``obs`` holds ``"loss_mask"`` (float
    ``[B, t]``, :data:`steve1.data.minecraft_dataset.LOSS_MASK_KEY`; datasets built with ``mask_random_actions``)
    it is taken out of ``obs`` and weights each frame's term: ``-mean_b sum_t m_bt log pi(a_bt)`` (issue 18: the
    play data's random actions are left out; upstream has no mask).
    """

    def __init__(self, policy: nn.Module):
        super().__init__()
        self.policy = policy

    def forward(self, obs, first, actions, state_in):
        mask = None
        if isinstance(obs, dict) and LOSS_MASK_KEY in obs:
            obs = dict(obs)
            mask = obs.pop(LOSS_MASK_KEY)
        (pd, _vpred, _), state_out = self.policy(obs, first, state_in)
        log_prob = self.policy.pi_head.logprob(actions, pd)  # [B, t], summed over heads and action axes
        if tuple(log_prob.shape) != tuple(first.shape):
            raise ValueError(f"log-likelihood of shape {list(log_prob.shape)} for a window {list(first.shape)}: "
                             f"actions must be per head [B, t, 1] (int64) or [B, t, d] (Box)")
        log_prob = log_prob.float()
        if mask is not None:
            log_prob = log_prob * mask.to(log_prob.dtype)
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
    """Whether ``checkpoint_dir`` holds a checkpoint of :func:`save_checkpoint` (its ``checkpoint.json``)."""
    return bool(checkpoint_dir) and os.path.isfile(os.path.join(checkpoint_dir, CHECKPOINT_INDEX))


def check_run_paths(config: BCTrainerConfig, sources: Mapping[str, str], reset_checkpoint_dir: bool) -> None:
    """The trainer's paths are usable before anything is written: ``out_weights`` (a writable ``.weights`` path),
    ``checkpoint_dir`` and ``tb_dir`` (folders that can be made), and a ``restart_from_checkpoint`` holds a
    checkpoint when the run will not resume its own.

    Args:
        sources: where each value came from (key -> ``"--flag"`` or ``"<file> key 'k'"``); default the flag.
    Raises:
        steve1.utils.cli.UsageError: the first problem, naming the flag or config key, the value and what was
            expected.
    """
    from steve1.utils.checks import check_output_dir, check_output_path

    where = functools.partial(source_of, sources)

    check_output_path(config.out_weights, where("out_weights"), suffix=".weights")
    check_output_dir(config.checkpoint_dir, where("checkpoint_dir"))
    if config.tb_dir:
        check_output_dir(config.tb_dir, where("tb_dir"))
    resumes_own = has_checkpoint(config.checkpoint_dir) and not reset_checkpoint_dir
    if config.restart_from_checkpoint and not resumes_own and not has_checkpoint(config.restart_from_checkpoint):
        raise UsageError(f"{where('restart_from_checkpoint')}: {config.restart_from_checkpoint} holds no "
                         f"{CHECKPOINT_INDEX} (expected a checkpoint_dir of an earlier run)")


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
def evaluate(model: nn.Module, dataset, accelerator, batch_size: int, trunc_t: int, num_workers: int) -> float:
    """Mean loss over every ``trunc_t`` window of every chunk of ``dataset`` (eval mode, no gradient; spec §6).

    Chunks are dealt round-robin to the processes and batched by ``batch_size`` in index order (the last batch of
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
    batches = [mine[i:i + batch_size] for i in range(0, len(mine), batch_size)]
    sums = torch.zeros(2, device=accelerator.device)  # (sum of window losses, number of windows)
    state = None
    for obs, actions, firsts in _loader(dataset, batches, num_workers):
        obs, actions, firsts = _to_device((obs, actions, firsts[..., 0]), accelerator.device)
        if state is None or _state_batch(state) != firsts.shape[0]:
            state = policy.initial_state(firsts.shape[0])
        for t0 in range(0, firsts.shape[1], trunc_t):
            t1 = t0 + trunc_t
            loss, state = model(_window(obs, t0, t1), firsts[:, t0:t1], _window(actions, t0, t1), state)
            sums += torch.stack([loss.detach().float(), torch.ones((), device=sums.device)])
    sums = accelerator.gather(sums.reshape(1, 2)).sum(dim=0)
    model.train(was_training)
    return (sums[0] / sums[1]).item()


def _state_batch(state: Any) -> int:
    """Batch size of a VPT recurrent state (list over blocks of ``(mask, (K, V))``)."""
    return int(state[0][1][0].shape[0])


def run_training(config: BCTrainerConfig, make_datasets: Callable, make_policy: Callable, *,
                 reset_checkpoint_dir: bool = False, config_path: Optional[str] = None, accelerator=None,
                 command: Optional[Sequence[str]] = None) -> dict:
    """Train a policy by behaviour cloning with TBPTT (see the module docstring).

    Ctrl-C (SIGINT) or SIGTERM: after the current window step (the next optimiser step with gradient
    accumulation) the ``_latest`` weights and a checkpoint are saved in ``checkpoint_dir``, the checkpoint and the
    command that resumes it (the same command: a run resumes from its ``--checkpoint_dir``) are printed, and
    :class:`steve1.utils.interrupt.Interrupted` is raised (a ``SystemExit``: exit code 130, or 143 for SIGTERM).
    The resumed run ends exactly as an uninterrupted one (see "Exact resume" in the module docstring). A second
    Ctrl-C raises ``KeyboardInterrupt`` at once, without saving.

    Args:
        config: the run's settings (the stage's config class, a :class:`~steve1.train_config.BCTrainerConfig`);
            checked again here (:meth:`~steve1.utils.config.StageConfig.check`, :func:`check_run_paths`).
        make_datasets: ``make_datasets(config) -> (train_dataset, val_dataset)``.
        make_policy: ``make_policy(config, train_dataset) -> nn.Module`` (initialised, on CPU).
        reset_checkpoint_dir: delete ``config.checkpoint_dir`` before starting (a fresh run).
        config_path: the config file the settings were read from (recorded in ``args.yaml``).
        accelerator: an ``accelerate.Accelerator``; default: one built here (mixed precision and processes from
            ``accelerate launch``/config; plain ``python`` = one process, fp32).
        command: the command line of this run, printed as the resume command on an interrupt (default:
            ``python`` + ``sys.argv``); ``--reset_checkpoint_dir`` is left out of it.

    Returns:
        dict with ``n_steps``, ``frames``, ``best_val_loss``, ``final_val_loss``, ``train_losses`` (list of
        ``(n_steps, mean train loss since the previous log)``) and ``val_losses`` (list of ``(n_steps, loss)``).

    Raises:
        ValueError: inconsistent settings, a dataset smaller than one batch, or a checkpoint made with other
            data-position settings (the message names them).
        steve1.utils.interrupt.Interrupted: stopped by SIGINT/SIGTERM after saving a checkpoint.
    """
    from steve1.utils.interrupt import catch_interrupts

    with catch_interrupts("saving a checkpoint after this window step") as interrupt:
        return _run_training(config, make_datasets, make_policy, reset_checkpoint_dir, config_path, accelerator,
                             interrupt, command)


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


def _run_training(config: BCTrainerConfig, make_datasets: Callable, make_policy: Callable,
                  reset_checkpoint_dir: bool, config_path: Optional[str], accelerator, interrupt,
                  command: Optional[Sequence[str]]) -> dict:
    """:func:`run_training` with the stop-request flag ``interrupt`` (an ``InterruptFlag``)."""
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.utils import set_seed
    from torch.utils.tensorboard import SummaryWriter
    from tqdm.auto import tqdm

    config.check()
    check_run_paths(config, {}, reset_checkpoint_dir)
    if accelerator is None:
        accelerator = Accelerator(kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    is_main = accelerator.is_main_process
    num_processes = accelerator.num_processes

    if reset_checkpoint_dir and is_main and os.path.isdir(config.checkpoint_dir):
        shutil.rmtree(config.checkpoint_dir)
    accelerator.wait_for_everyone()
    resume_dir = None
    if has_checkpoint(config.checkpoint_dir):
        resume_dir = config.checkpoint_dir
    elif config.restart_from_checkpoint:
        if not has_checkpoint(config.restart_from_checkpoint):
            raise FileNotFoundError(f"--restart_from_checkpoint {config.restart_from_checkpoint}: no "
                                    f"{CHECKPOINT_INDEX} there")
        resume_dir = config.restart_from_checkpoint

    set_seed(config.seed)
    train_dataset, val_dataset = make_datasets(config)
    policy = make_policy(config, train_dataset)
    model = BehaviourCloningLoss(policy)
    model.to(accelerator.device)
    optimizer = configure_optimizer(model, config.learning_rate, config.weight_decay)
    model, optimizer = accelerator.prepare(model, optimizer)
    policy = accelerator.unwrap_model(model).policy

    position_args = {k: getattr(config, k) for k in _POSITION_ARGS}
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
        state = TrainerState(next_snapshot_frames=config.snapshot_every_n_frames, num_processes=num_processes,
                             position_args=position_args)

    frames_per_step = config.trunc_t * config.batch_size * num_processes
    n_windows = config.T // config.trunc_t
    n_batches = len(train_dataset) // (config.batch_size * num_processes)  # per epoch, the same on every process
    if n_batches == 0:
        raise UsageError(f"training set has {len(train_dataset)} chunks, fewer than one batch of "
                         f"{config.batch_size * num_processes}")
    total_steps = math.ceil(config.n_frames / frames_per_step)
    tb_dir = config.tb_dir or os.path.join(config.checkpoint_dir, "tb")
    writer = None
    if is_main:
        os.makedirs(config.checkpoint_dir, exist_ok=True)
        write_config(os.path.join(config.checkpoint_dir, "args.yaml"), config,
                     extra={"config": config_path, "reset_checkpoint_dir": reset_checkpoint_dir})
        writer = SummaryWriter(tb_dir, purge_step=state.n_steps * frames_per_step if resume_dir else None)
        n_params = sum(p.numel() for p in policy.parameters() if p.requires_grad)
        print(f"[train] {n_params / 1e6:.2f}M trainable parameters; {len(train_dataset)} train / "
              f"{len(val_dataset)} val chunks of {config.T} frames; {frames_per_step} frames per window step, "
              f"{frames_per_step * config.gradient_accumulation_steps} per optimiser step; "
              f"{'resuming from ' + resume_dir + ' at step ' + str(state.n_steps) if resume_dir else 'fresh start'}",
              flush=True)

    def save_weights(tag: str) -> str:
        path = weights_path(config.out_weights, tag)
        if is_main:
            atomic_torch_save(policy.state_dict(), path)
        return path

    def validate() -> float:
        val_loss = evaluate(model, val_dataset, accelerator, config.batch_size, config.trunc_t, config.num_workers)
        val_losses.append((state.n_steps, val_loss))
        if is_main:
            writer.add_scalar("losses/val_loss", val_loss, state.n_steps * frames_per_step)
        if config.save_each_val:
            save_weights(f"val_{state.n_steps}")
        if val_loss < state.best_val_loss:
            state.best_val_loss = val_loss
            save_weights("best")
            if is_main:
                atomic_write_text(weights_path(config.out_weights, "best")[:-len(".weights")] + ".json",
                                   json.dumps({"best_val_loss": val_loss, "n_steps": state.n_steps,
                                               "frames": state.n_steps * frames_per_step,
                                               "epoch": state.epoch}, indent=4))
        return val_loss

    train_losses, val_losses = [], []
    sum_loss, n_loss = 0.0, 0
    last_log_time, last_log_frames = time.time(), state.n_steps * frames_per_step
    accum = config.gradient_accumulation_steps
    progress = tqdm(total=total_steps, initial=state.n_steps, disable=not is_main, desc="window steps",
                    dynamic_ncols=True)
    model.train()
    done = state.n_steps * frames_per_step >= config.n_frames
    while not done:
        if hasattr(train_dataset, "set_epoch"):
            train_dataset.set_epoch(state.epoch)
        batches = epoch_batches(len(train_dataset), config.batch_size, config.seed, state.epoch, num_processes,
                                accelerator.process_index)
        for obs, actions, firsts in _loader(train_dataset, batches[state.batch:], config.num_workers):
            obs, actions, firsts = _to_device((obs, actions, firsts[..., 0]), accelerator.device)
            if firsts.shape[1] != config.T:
                raise ValueError(f"dataset chunks have {firsts.shape[1]} frames, T is {config.T}")
            if agent_state is None:
                agent_state = policy.initial_state(firsts.shape[0])
            for w in range(state.window, n_windows):
                frames = state.n_steps * frames_per_step
                lr = lr_at(frames, config.learning_rate, config.warmup_frames, config.n_frames)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                t0, t1 = w * config.trunc_t, (w + 1) * config.trunc_t
                sync = (state.n_steps + 1) % accum == 0
                ctx = contextlib.nullcontext() if sync or num_processes == 1 else accelerator.no_sync(model)
                with ctx:
                    loss, new_state = model(_window(obs, t0, t1), firsts[:, t0:t1], _window(actions, t0, t1),
                                            agent_state)
                    accelerator.backward(loss / accum)
                if sync:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                agent_state = tree_map(lambda x: x.detach(), new_state)
                state.n_steps += 1
                state.window = w + 1
                sum_loss += loss.item()
                n_loss += 1
                progress.update(1)
                frames = state.n_steps * frames_per_step

                if (state.n_steps - 1) % config.log_freq == 0:
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
                    state.next_snapshot_frames += config.snapshot_every_n_frames
                if validation_due(state.n_steps, config.val_freq, config.val_freq_begin, config.val_freq_switch_steps):
                    val_start = time.time()
                    validate()
                    last_log_time += time.time() - val_start  # frames/s counts training time only
                done = frames >= config.n_frames
                if state.n_steps % config.save_freq == 0:
                    save_weights("latest")
                    save_checkpoint(config.checkpoint_dir, accelerator, policy, optimizer,
                                    _next_position(state, n_windows, n_batches), agent_state)
                if not done and state.n_steps % accum == 0 and (stop := _stop_signal(interrupt, accelerator)):
                    # Ctrl-C / SIGTERM: a safe point (no partial gradient); save, say how to resume, exit
                    if state.n_steps % config.save_freq != 0:  # (else just saved)
                        save_weights("latest")
                        save_checkpoint(config.checkpoint_dir, accelerator, policy, optimizer,
                                        _next_position(state, n_windows, n_batches), agent_state)
                    progress.close()
                    if is_main:
                        writer.close()
                    if not interrupt:  # another process received the signal
                        interrupt.set(stop)
                    interrupt.exit(config.checkpoint_dir, _resume_command(command), quiet=not is_main,
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
    if state.n_steps % accum == 0 and state.n_steps % config.save_freq != 0:  # (else just saved)
        save_checkpoint(config.checkpoint_dir, accelerator, policy, optimizer,
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

