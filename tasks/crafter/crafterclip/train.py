r"""Train CrafterCLIP, the Crafter goal embedder (MineCLIP's role, spec §3.4), on the Crafter play dataset.

    python tasks/crafter/crafterclip/train.py --config configs/crafter/crafterclip.yaml \
        --sampling downloads/samplings/crafter_seed1 --out downloads/crafter/crafterclip.pt

The recipe:

1. **Split.** ``--sampling PREFIX`` reads ``PREFIX_train.txt`` / ``PREFIX_val.txt`` (written by
   ``steve1/data/sampling/generate_sampling.py``; ``--data_dir`` re-roots their paths); without it, the episodes of
   ``--data_dir`` are split as generate_sampling does (``val_frames`` of val, the rest train).
2. **Captions.** Every 16-frame clip of every episode is captioned from its per-frame infos
   (:mod:`tasks.crafter.crafterclip.captions`: "collect wood", "make a stone pickaxe", "walk left", ...), with the
   final state of its last frame ("with a wood pickaxe", "near stone", "in the dark").
3. **Clips.** ``train_clips`` training clips and ``val_clips`` held-out clips are chosen balanced over primary
   captions (:func:`.data.select_clips`) and decoded once into a frame cache in ``--cache_dir``.
4. **Training.** Each step draws ``batch_size`` clips (weight ~ count(primary caption) ^ -``caption_balance``), takes
   for each its primary caption (or, with probability ``p_full_caption``, its event caption), followed by its
   final-state phrases unless they are dropped (probability ``p_drop_final_state``), and minimises the CLIP loss of
   :func:`.model.clip_loss` between the clips and the distinct texts of the batch plus every single caption
   (true-but-not-target texts are left out of a clip's softmax). AdamW, linear warm-up then cosine to 0, gradient
   norm clipping.
5. **Evaluation** (:mod:`.evaluate`) on the held-out episodes: caption retrieval top-1 vs chance, for each
   downstream task prompt the precision of its 20 nearest pool clips, and the stage probe (does a clip's embedding
   tell the best pickaxe held, and water/trees/stone in view?). Written to ``--eval_out`` (JSON) and into the
   model file.

Outputs: the model file ``--out`` (~5 MB, :mod:`.embedder` format), ``--eval_out``, and in ``--run_dir``: a resumable
``checkpoint.pt`` every ``checkpoint_every`` steps (model, optimiser, step, RNG states; a rerun resumes from it unless
``--no_resume``), ``config.yaml`` (resolved) and TensorBoard logs in ``tb/`` (tags ``losses/clip_loss``,
``charts/learning_rate``, ``charts/logit_scale``, ``charts/clips_per_second``, ``charts/train_top1``,
``eval/caption_top1``, ``eval/caption_balanced_top1``, at the end ``eval/probe_<label>_balanced_accuracy``; x axis =
optimiser steps).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import os
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from steve1.data.EpisodeStorage import list_valid_episodes
from steve1.data.sampling.generate_sampling import generate_train_val_split
from steve1.utils.checks import Range
from steve1.utils.config import StageConfig, add_flags, config_dict, flag_values, load_config, setting, write_config
from steve1.utils.io import atomic_torch_save
from tasks.crafter.crafterclip.captions import (CAPTION_INDEX, CAPTIONS, FINAL_STATE_PARTS, MAX_CAPTION_WORDS,
                                                N_FINAL_STATE_PARTS, NEAR_THINGS, NO_FINAL_STATE, ClipCaptions,
                                                WordTokenizer, caption_text, caption_vocabulary, event_caption_ids)
from tasks.crafter.crafterclip.data import ClipCache, ClipSet, clip_set, load_episode_captions, select_clips
from tasks.crafter.crafterclip.embedder import DEFAULT_CRAFTERCLIP_PATH, save_crafterclip
from steve1.utils.io import atomic_write_json
from tasks.crafter.crafterclip.metrics import embed_clips, evaluate_model, retrieval_metrics
from tasks.crafter.crafterclip.model import CrafterCLIP, clip_loss

#: Paths used when a flag is not given (relative to the repository root); every hyperparameter is in the config.
DEFAULT_CONFIG = "configs/crafter/crafterclip.yaml"
DEFAULT_CACHE_DIR = "downloads/crafterclip_cache"
DEFAULT_RUN_DIR = "runs/crafterclip"
CHECKPOINT_NAME = "checkpoint.pt"
_NEAR = FINAL_STATE_PARTS.index("near")


# ---------------------------------------------------------------------- config and data
@dataclass
class CrafterCLIPConfig(StageConfig):
    """Hyperparameters of CrafterCLIP training; the values live in ``configs/crafter/crafterclip.yaml``, each scalar
    can be overridden by the flag of its name (``--steps 200``)."""

    model: dict = setting("CrafterCLIP constructor arguments (embed_dim, video: {...}, text: {max_len, ...})",
                          flag=False)
    train_clips: int = setting("training clips cached", Range(int, lo=1, note="clips"))
    val_clips: int = setting("held-out clips for caption retrieval", Range(int, lo=1, note="clips"))
    max_clips_per_caption: int = setting("cap of chosen clips per primary caption", Range(int, lo=1, note="clips"))
    min_gap: int = setting("frames between the end frames of two chosen clips of one episode",
                           Range(int, lo=0, note="frames"))
    val_frames: int = setting("without --sampling: frames of the val split drawn from --data_dir",
                              Range(int, lo=1, note="frames"))
    pool_stride: int = setting("prompt retrieval pool: every n-th clip of every held-out episode",
                               Range(int, lo=1, note="clips"))
    steps: int = setting("optimiser steps", Range(int, lo=1, note="optimiser steps"))
    batch_size: int = setting("clips per step", Range(int, lo=2, note="clips per step"))
    lr: float = setting("AdamW peak learning rate (linear warm-up, then cosine to 0)", Range(float, lo=0, lo_open=True))
    warmup_steps: int = setting("linear warm-up of the learning rate", Range(int, lo=0, note="optimiser steps"))
    weight_decay: float = setting("AdamW weight decay of conv/linear weight matrices", Range(float, lo=0))
    max_grad_norm: float = setting("gradient norm clipping", Range(float, lo=0, lo_open=True))
    caption_balance: float = setting("sampling weight of a clip ~ count(primary caption) ^ -caption_balance",
                                     Range(float, lo=0, note="exponent"))
    p_full_caption: float = setting("probability that a clip's text is its event caption (up to two events and the "
                                    "state) instead of its primary caption", Range(float, lo=0, hi=1))
    p_drop_final_state: float = setting("probability that a clip's text leaves out its final-state phrases (keeps "
                                        "bare event captions, the task prompts' form, among the targets)",
                                        Range(float, lo=0, hi=1))
    torch_threads: int = setting("torch CPU threads", Range(int, lo=1))
    log_every: int = setting("steps between TensorBoard scalars", Range(int, lo=1, note="steps"))
    eval_every: int = setting("steps between held-out caption retrieval evaluations (0: only at the end)",
                              Range(int, lo=0, note="steps; 0: only at the end"))
    checkpoint_every: int = setting("steps between resumable checkpoints", Range(int, lo=1, note="steps"))
    nearest_k: int = setting("prompt retrieval: pool clips retrieved per task prompt", Range(int, lo=1, note="clips"))
    seed: int = setting("seed of the split, the clip choice and training", Range(int))

    def check_consistency(self, sources: Mapping[str, str]) -> None:
        """The ``model`` block builds a CrafterCLIP (with the caption vocabulary) whose text length fits the longest
        caption.

        Raises:
            steve1.utils.cli.UsageError: naming the config file and key ``model`` and what went wrong.
        """
        from steve1.utils.cli import UsageError

        where = sources.get("model", "config key 'model'")
        max_len = (self.model.get("text") or {}).get("max_len") if isinstance(self.model, dict) else None
        if isinstance(max_len, int) and max_len < MAX_CAPTION_WORDS:
            raise UsageError(f"{where}: text max_len {max_len} is shorter than the longest caption "
                             f"({MAX_CAPTION_WORDS} words); captions would be cut")
        try:
            tokenizer = WordTokenizer(caption_vocabulary(), max_len=int(self.model["text"]["max_len"]))
            CrafterCLIP(vocab_size=len(tokenizer), **copy.deepcopy(self.model))
        except (TypeError, ValueError, KeyError, AssertionError) as e:
            raise UsageError(f"{where}: not a buildable CrafterCLIP: {type(e).__name__}: {e}") from e


def _reroot(paths: list[str], data_dir: Optional[str]) -> list[str]:
    return [os.path.join(data_dir, os.path.basename(os.path.normpath(p))) for p in paths] if data_dir else paths


def read_split(sampling: Optional[str], data_dir: Optional[str], config: dict, seed: int) -> tuple[list, list]:
    """(train episode dirs, val episode dirs) from ``PREFIX_{train,val}.txt`` or by splitting ``data_dir``.

    Raises:
        FileNotFoundError: a sampling list or the data folder is missing.
        ValueError: neither is given, or a list is empty.
    """
    if sampling:
        lists = []
        for part in ("train", "val"):
            path = Path(f"{sampling}_{part}.txt")
            if not path.is_file():
                raise FileNotFoundError(f"sampling list not found: {path} (make it with "
                                        f"steve1/data/sampling/generate_sampling.py)")
            paths = [line.strip() for line in path.read_text().splitlines() if line.strip()]
            if not paths:
                raise ValueError(f"{path}: no episodes listed")
            lists.append(_reroot(paths, data_dir))
        return lists[0], lists[1]
    if not data_dir:
        raise ValueError("give --sampling PREFIX or --data_dir")
    episodes = list_valid_episodes(data_dir, for_training=False)
    if len(episodes) < 2:
        raise ValueError(f"{data_dir}: {len(episodes)} valid episodes, need at least 2 to split train/val")
    train, val = generate_train_val_split(episodes, -1, int(config["val_frames"]), seed)
    return [p for p, _ in train], [p for p, _ in val]


def caption_episodes(episode_dirs: Sequence[str], desc: str = "captioning") -> list[ClipCaptions]:
    """Caption every clip of every episode (see :func:`.data.load_episode_captions`, same errors)."""
    return [load_episode_captions(p) for p in tqdm(episode_dirs, desc=desc, unit="episode")]


def build_clip_set(episode_dirs: Sequence[str], captions: Sequence[ClipCaptions], n_clips: int, config: dict,
                   seed: int, cache_dir: os.PathLike, desc: str) -> ClipSet:
    """Choose ``n_clips`` clips (:func:`.data.select_clips`) and load their frames through the cache."""
    clips = select_clips(captions, n_clips, int(config["max_clips_per_caption"]), int(config["min_gap"]), seed)
    if len(clips) == 0:
        raise ValueError(f"no clips of >= 16 frames in the {len(episode_dirs)} episodes ({desc})")
    return ClipCache(cache_dir).load_or_build(clip_set(list(episode_dirs), captions, clips), desc)


def summary_text(result: dict) -> str:
    """A few readable lines of an evaluation result."""
    lines = []
    r = result.get("caption_retrieval")
    if r and r.get("n_clips"):
        lines.append(f"caption retrieval on {r['n_clips']} held-out clips: top-1 {r['top1_accuracy']:.3f} "
                     f"(balanced {r['balanced_top1_accuracy']:.3f}, top-5 {r['top5_accuracy']:.3f}) vs chance "
                     f"{r['chance']:.3f} ({r['n_captions']} captions)")
    r = result.get("caption_retrieval_natural_pool")
    if r and r.get("n_clips"):
        lines.append(f"caption retrieval on the natural pool ({r['n_clips']} clips): top-1 {r['top1_accuracy']:.3f}")
    probe = result.get("stage_probe", {})
    for name, v in probe.items():
        if isinstance(v, dict) and "balanced_accuracy" in v:
            extra = (f", majority {v['majority_baseline']:.3f}, {v['n_folds']} folds" if "majority_baseline" in v
                     else "")
            lines.append(f"stage probe {name}: balanced accuracy {v['balanced_accuracy']:.3f} vs chance "
                         f"{v['chance_balanced']:.3f} (accuracy {v['accuracy']:.3f}{extra}; {v['n_clips']} clips)")
            if v.get("unknown_words"):
                lines[-1] += f" (words unknown to the model: {v['unknown_words']})"
        elif isinstance(v, dict) and "skipped" in v:
            lines.append(f"stage probe {name}: skipped ({v['skipped']})")
    pr = result.get("prompt_retrieval", {})
    for prompt, v in pr.get("prompts", {}).items():
        k = pr["k"]
        lines.append(f"  {prompt!r:28s} precision@{k} {v[f'precision_at_{k}']:.2f} (max {v['max_precision']:.2f}, "
                     f"{v['n_positive']} positives, base rate {v['base_rate']:.4f})")
    return "\n".join(lines)


# ---------------------------------------------------------------------- batches
class CaptionBatcher:
    """Draws training batches: clip indices (weighted by caption rarity), their texts, and the loss targets.

    A clip's text is its primary caption, or with probability ``p_full`` its event caption ("collect wood and walk
    left"), followed by its final-state phrases ("with a wood pickaxe near trees") unless they are dropped, with
    probability ``p_drop_final_state``. A text is *true* of a clip when each caption it names holds for the clip and
    each final-state phrase it has is the clip's, where "near <thing>" holds whenever the thing is in the clip's
    last view (not only when it is the clip's own, most telling, one); true texts other than the clip's own are
    left out of its softmax.

    Args:
        clips: the training :class:`ClipSet` (frames loaded).
        balance: weight of a clip = count(its primary caption) ^ -balance.
        p_full: probability of using the event caption instead of the primary one.
        tokenizer: the caption tokenizer.
        p_drop_final_state: probability of leaving out the final-state phrases.
    """

    def __init__(self, clips: ClipSet, balance: float, p_full: float, tokenizer: WordTokenizer,
                 p_drop_final_state: float):
        self.clips = clips
        counts = np.bincount(clips.primary, minlength=len(CAPTIONS)).astype(np.float64)
        weights = counts[clips.primary] ** -float(balance)
        self.probs = weights / weights.sum()
        self.p_full = float(p_full)
        self.p_drop_final_state = float(p_drop_final_state)
        self.tokenizer = tokenizer
        self.event_ids = [event_caption_ids(row) for row in clips.captions]
        self.final_state = (np.full((len(clips), N_FINAL_STATE_PARTS), -1, np.int8) if clips.final_state is None
                            else np.asarray(clips.final_state, np.int8))
        self.in_view = (np.full((len(clips), len(NEAR_THINGS)), -1, np.int8) if clips.in_view is None
                        else np.asarray(clips.in_view, np.int8))

    def draw(self, batch_size: int, rng: np.random.Generator) -> dict[str, Any]:
        """One batch: ``frames`` uint8 [B, 16, H, W, 3], ``tokens`` int64 [M, L] of the M distinct texts (every
        single caption first, then the batch's other texts, sorted), ``texts`` (the M texts), ``target`` int64 [B],
        ``ignore`` bool [B, M], ``primary`` int64 [B]."""
        idx = np.sort(rng.choice(len(self.probs), size=batch_size, p=self.probs))
        use_full = rng.random(batch_size) < self.p_full
        keep_state = rng.random(batch_size) >= self.p_drop_final_state
        claims: dict[str, tuple[list[int], tuple[int, ...]]] = {c: ([k], NO_FINAL_STATE)
                                                                 for k, c in enumerate(CAPTIONS)}
        texts = []
        for i, full, keep in zip(idx, use_full, keep_state):
            ids = self.event_ids[i] if full else [int(self.clips.primary[i])]
            parts = tuple(int(v) for v in self.final_state[i]) if keep else NO_FINAL_STATE
            text = caption_text(ids, parts)
            claims.setdefault(text, (ids, parts))
            texts.append(text)
        distinct = list(CAPTIONS) + sorted(set(texts) - set(CAPTIONS))
        position = {t: m for m, t in enumerate(distinct)}
        target = np.array([position[t] for t in texts], dtype=np.int64)
        text_sets = np.zeros((len(distinct), len(CAPTIONS)), dtype=bool)
        text_parts = np.full((len(distinct), N_FINAL_STATE_PARTS), -1, dtype=np.int8)
        for m, text in enumerate(distinct):
            ids, parts = claims[text]
            text_sets[m, ids] = True
            text_parts[m] = parts
        rows = self.clips.captions[idx]  # [B, C]
        clip_parts = self.final_state[idx]  # [B, P]
        holds = ~(text_sets[None] & ~rows[:, None]).any(-1)  # [B, M]: every caption of the text holds
        same = (text_parts[None] < 0) | (text_parts[None] == clip_parts[:, None])  # [B, M, P]
        near = text_parts[:, _NEAR]  # [M] thing each text says the player is near (-1: none)
        seen = np.take_along_axis(self.in_view[idx], np.broadcast_to(np.maximum(near, 0), (batch_size, len(near))),
                                  axis=1) == 1  # [B, M]: that thing is in the clip's last view
        same[:, :, _NEAR] |= (near >= 0)[None] & seen
        same_state = same.all(-1)  # [B, M]
        ignore = holds & same_state
        ignore[np.arange(batch_size), target] = False
        return {
            "frames": torch.from_numpy(np.ascontiguousarray(self.clips.frames[idx])),
            "tokens": torch.from_numpy(self.tokenizer(distinct)),
            "texts": distinct,
            "target": torch.from_numpy(target),
            "ignore": torch.from_numpy(ignore),
            "primary": torch.from_numpy(self.clips.primary[idx]),
        }


def make_optimizer(model: CrafterCLIP, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on conv/linear weight matrices only (not biases, norms, embeddings, logit scale)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        is_matrix = p.ndim >= 2 and "embed" not in name
        (decay if is_matrix else no_decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr)


def learning_rate(step: int, lr: float, warmup: int, total: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from ``lr`` to 0 at ``total`` steps."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * lr * (1 + math.cos(math.pi * min(1.0, progress)))


# ---------------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, step: int, model, optimizer, rng: np.random.Generator, config: dict) -> None:
    atomic_torch_save({"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                        "config": config}, path)


def load_checkpoint(path: Path, model, optimizer, rng: np.random.Generator, config: dict) -> int:
    """Restore a checkpoint; returns the step to continue from.

    Raises:
        ValueError: the checkpoint was made with another config (start over with --no_resume or another --run_dir).
    """
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["config"] != config:
        changed = sorted(k for k in set(config) | set(state["config"]) if config.get(k) != state["config"].get(k))
        raise ValueError(f"{path}: checkpoint made with another config (differs in {changed}); pass --no_resume or "
                         f"another --run_dir")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["numpy_rng"]
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])


# ---------------------------------------------------------------------- main
def parse_args(argv: Optional[Sequence[str]] = None) -> tuple[argparse.Namespace, CrafterCLIPConfig]:
    """Parse the command line: the paths, and the config file (``--config``) with the flags of its scalars applied,
    checked once (:func:`steve1.utils.config.load_config`).

    Returns:
        ``(args, config)``: the paths and switches, and the :class:`CrafterCLIPConfig`.
    Raises:
        FileNotFoundError: no config file. steve1.utils.cli.UsageError: an unknown or missing key, a value of the wrong
            type or out of range, a ``model`` block that does not build (naming the flag or the file and key).
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="YAML hyperparameters (flags below override)")
    parser.add_argument("--data_dir", default=None, help="dataset folder (re-roots the --sampling lists; without "
                        "--sampling it is split into train/val here)")
    parser.add_argument("--sampling", default=None, help="sampling prefix: PREFIX_train.txt and PREFIX_val.txt")
    parser.add_argument("--out", default=DEFAULT_CRAFTERCLIP_PATH, help="model file to write")
    parser.add_argument("--eval_out", default=None, help="evaluation JSON (default <out without .pt>_eval.json)")
    parser.add_argument("--run_dir", default=DEFAULT_RUN_DIR, help="checkpoint, resolved config and TensorBoard logs")
    parser.add_argument("--cache_dir", default=DEFAULT_CACHE_DIR, help="decoded clip cache (uint8 memory maps)")
    parser.add_argument("--no_resume", action="store_true", help=f"ignore <run_dir>/{CHECKPOINT_NAME}")
    parser.add_argument("--no_progress", action="store_true", help="no tqdm bars")
    add_flags(parser.add_argument_group("config overrides (default: the config file's value)"), CrafterCLIPConfig)
    args = parser.parse_args(argv)
    config, _ = load_config(CrafterCLIPConfig, args.config, flag_values(args, CrafterCLIPConfig))
    return args, config


def _path_args(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that are not config values (paths and switches), as written into ``<run_dir>/config.yaml``."""
    fields = {f.name for f in dataclasses.fields(CrafterCLIPConfig)}
    return {k: v for k, v in vars(args).items() if k not in fields}


def check_paths(args: argparse.Namespace) -> None:
    """The input folders exist and every output location can be written (``--out``, ``--eval_out``, ``--run_dir``,
    ``--cache_dir``).

    Raises:
        steve1.utils.cli.UsageError: naming the flag, the path and what was expected.
    """
    from steve1.utils.checks import check_input_dir, check_output_dir, check_output_path
    from steve1.utils.cli import UsageError

    if not args.sampling and not args.data_dir:
        raise UsageError("--sampling/--data_dir: give --sampling PREFIX (PREFIX_train.txt, PREFIX_val.txt) or "
                         "--data_dir (a dataset folder split here)")
    if args.data_dir:
        check_input_dir(args.data_dir, "--data_dir", "a dataset folder of episode directories")
    if args.sampling:
        for part in ("train", "val"):
            path = Path(f"{args.sampling}_{part}.txt")
            if not path.is_file():
                raise UsageError(f"--sampling {args.sampling}: no list {path} (make it with "
                                 f"steve1/data/sampling/generate_sampling.py)")
    check_output_path(args.out, "--out")
    if args.eval_out:
        check_output_path(args.eval_out, "--eval_out")
    check_output_dir(args.run_dir, "--run_dir")
    check_output_dir(args.cache_dir, "--cache_dir")


def check_resume(path: Path, config: dict) -> None:
    """A checkpoint in ``--run_dir`` that would be resumed is readable and of the same config.

    Raises:
        steve1.utils.cli.UsageError: unreadable, or made with another config (the message names the keys).
    """
    from steve1.utils.cli import UsageError

    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        old = state["config"]
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to remove
        raise UsageError(f"--run_dir: {path} is not a readable checkpoint ({type(e).__name__}); pass --no_resume or "
                         f"another --run_dir") from e
    if old != config:
        changed = sorted(k for k in set(config) | set(old) if config.get(k) != old.get(k))
        raise UsageError(f"--run_dir: {path}: checkpoint made with another config (differs in {changed}); pass "
                         f"--no_resume or another --run_dir")


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a config value or flag out of range, an unknown or missing
    config key, a missing sampling list or data folder, an unusable output path, a checkpoint of another config in
    ``--run_dir``) ends the program with one line on stderr naming the flag or the config file and key, and exit
    code 2, before anything is written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("train.py", lambda: _main(argv))


def _main(argv: Optional[Sequence[str]]) -> dict:
    from steve1.utils.cli import UsageError
    args, typed = parse_args(argv)
    check_paths(args)
    config = config_dict(typed)  # the resolved values, as saved in checkpoints and the model file
    run_dir = Path(args.run_dir)
    ckpt_path = run_dir / CHECKPOINT_NAME
    if ckpt_path.is_file() and not args.no_resume:
        check_resume(ckpt_path, config)
    try:
        train_dirs, val_dirs = read_split(args.sampling, args.data_dir, config, typed.seed)
    except ValueError as e:
        raise UsageError(f"{'--sampling' if args.sampling else '--data_dir'}: {e}") from e
    torch.set_num_threads(int(config["torch_threads"]))
    torch.manual_seed(typed.seed)
    rng = np.random.default_rng(typed.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir / "config.yaml", typed, extra={"args": _path_args(args)})
    t_start = time.time()

    # ---- data
    train_caps = caption_episodes(train_dirs, "captioning train episodes")
    val_caps = caption_episodes(val_dirs, "captioning val episodes")
    train_set = build_clip_set(train_dirs, train_caps, int(config["train_clips"]), config, typed.seed,
                               args.cache_dir, "caching train clips")
    val_set = build_clip_set(val_dirs, val_caps, int(config["val_clips"]), config, typed.seed + 1,
                             args.cache_dir, "caching val clips")
    train_frames = int(sum(len(c) for c in train_caps))
    print(f"train: {len(train_dirs)} episodes, {train_frames} frames, {len(train_set)} clips of "
          f"{len(np.unique(train_set.primary))} primary captions; val: {len(val_dirs)} episodes, {len(val_set)} clips")

    # ---- model
    tokenizer = WordTokenizer(caption_vocabulary(), max_len=int(config["model"]["text"]["max_len"]))
    model_kwargs = {"vocab_size": len(tokenizer), **copy.deepcopy(config["model"])}
    model = CrafterCLIP(**model_kwargs)
    optimizer = make_optimizer(model, float(config["lr"]), float(config["weight_decay"]))
    batcher = CaptionBatcher(train_set, float(config["caption_balance"]), float(config["p_full_caption"]), tokenizer,
                             float(config["p_drop_final_state"]))
    step = 0
    if ckpt_path.is_file() and not args.no_resume:
        step = load_checkpoint(ckpt_path, model, optimizer, rng, config)
        print(f"resumed from {ckpt_path} at step {step}")
    writer = SummaryWriter(str(run_dir / "tb"))

    # ---- training
    total = int(config["steps"])
    bs = int(config["batch_size"])
    model.train()
    t_log, n_log, loss_sum, acc_sum = time.time(), 0, 0.0, 0.0
    bar = tqdm(total=total, initial=step, desc="training CrafterCLIP", unit="step", disable=args.no_progress)
    while step < total:
        lr = learning_rate(step, float(config["lr"]), int(config["warmup_steps"]), total)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = batcher.draw(bs, rng)
        video = model.encode_video(batch["frames"])
        text = model.encode_text(batch["tokens"])
        loss = clip_loss(video, text, batch["target"], batch["ignore"], model.scale())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(config["max_grad_norm"]))
        optimizer.step()
        step += 1
        bar.update(1)
        with torch.no_grad():
            sims = torch.nn.functional.normalize(video, dim=-1) @ torch.nn.functional.normalize(
                text[: len(CAPTIONS)], dim=-1).T
            acc_sum += float((sims.argmax(1) == batch["primary"]).float().mean())
        loss_sum += float(loss.detach())
        n_log += 1
        if step % int(config["log_every"]) == 0 or step == total:
            elapsed = time.time() - t_log
            writer.add_scalar("losses/clip_loss", loss_sum / n_log, step)
            writer.add_scalar("charts/train_top1", acc_sum / n_log, step)
            writer.add_scalar("charts/learning_rate", lr, step)
            writer.add_scalar("charts/logit_scale", float(model.scale().detach()), step)
            writer.add_scalar("charts/clips_per_second", n_log * bs / max(elapsed, 1e-9), step)
            bar.set_postfix(loss=f"{loss_sum / n_log:.3f}", top1=f"{acc_sum / n_log:.2f}")
            t_log, n_log, loss_sum, acc_sum = time.time(), 0, 0.0, 0.0
        if int(config["eval_every"]) > 0 and step % int(config["eval_every"]) == 0 and step < total:
            model.eval()
            with torch.no_grad():
                caption_text = model.encode_text(torch.from_numpy(tokenizer(list(CAPTIONS))))
                r = retrieval_metrics(embed_clips(model, val_set.frames), caption_text, val_set.primary,
                                      val_set.captions)
            model.train()
            writer.add_scalar("eval/caption_top1", r["top1_accuracy"], step)
            writer.add_scalar("eval/caption_balanced_top1", r["balanced_top1_accuracy"], step)
        if step % int(config["checkpoint_every"]) == 0 or step == total:
            save_checkpoint(ckpt_path, step, model, optimizer, rng, config)
    bar.close()
    train_seconds = time.time() - t_start

    # ---- evaluation and the model file
    result = evaluate_model(model, tokenizer, val_set, val_dirs, val_caps, int(config["pool_stride"]),
                            k=int(config["nearest_k"]), batch_size=bs, progress=not args.no_progress)
    r = result.get("caption_retrieval", {})
    if r.get("n_clips"):
        writer.add_scalar("eval/caption_top1", r["top1_accuracy"], step)
        writer.add_scalar("eval/caption_balanced_top1", r["balanced_top1_accuracy"], step)
    for name, v in result.get("stage_probe", {}).items():
        if isinstance(v, dict) and "balanced_accuracy" in v:
            writer.add_scalar(f"eval/probe_{name}_balanced_accuracy", v["balanced_accuracy"], step)
    writer.close()
    result.update({
        "steps": step, "seed": typed.seed, "config": config,
        "train": {"episodes": len(train_dirs), "frames": train_frames, "clips": len(train_set),
                  "primary_caption_counts": {CAPTIONS[k]: int(n) for k, n in
                                             enumerate(np.bincount(train_set.primary, minlength=len(CAPTIONS))) if n}},
        "val": {"episodes": len(val_dirs), "frames": int(sum(len(c) for c in val_caps)), "clips": len(val_set)},
        "seconds_until_evaluation": round(train_seconds, 1), "seconds_total": round(time.time() - t_start, 1),
        "torch_threads": int(config["torch_threads"]),
    })
    eval_out = args.eval_out or str(Path(args.out).with_suffix("")) + "_eval.json"
    atomic_write_json(eval_out, result)
    summary = {k: result[k] for k in ("caption_retrieval", "prompt_retrieval", "stage_probe") if k in result}
    save_crafterclip(args.out, model, model_kwargs, tokenizer,
                     info={"config": config, "seed": typed.seed, "steps": step, "evaluation": summary})
    print(summary_text(result))
    print(f"wrote {args.out} and {eval_out} ({result['seconds_total']:.0f} s)")
    return result


if __name__ == "__main__":
    main()
