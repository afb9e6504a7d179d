r"""Evaluate a CrafterCLIP model on held-out Crafter episodes and write the figures to JSON.

    python tasks/crafter/crafterclip/evaluate.py --weights downloads/crafter/crafterclip.pt \
        --sampling downloads/samplings/crafter_seed1 --out downloads/crafter/crafterclip_eval.json

Two measures (the same ones ``train.py`` writes at the end of training):

* **Caption retrieval** on held-out clips chosen as for training (balanced over primary captions, see
  :func:`.data.select_clips`): the clip's video embedding is compared by cosine with the text embeddings of every
  caption in :data:`.captions.CAPTIONS`; top-1 is correct when the best caption is the clip's primary caption.
  Reported: top-1 accuracy over clips, balanced top-1 (mean over captions of the per-caption recall), top-5, the rate
  at which the best caption is *any* true caption of the clip, and chance = 1 / #captions. The same top-1 is also
  given on the natural pool below (where most clips are "walk ..." or "stand still").
* **Prompt retrieval** on a natural pool: every ``pool_stride``-th clip of every held-out episode. For each
  downstream Crafter task of ``tasks/task_specs.yaml`` with an achievement (its ``prompt``: "collect wood", "make a
  stone pickaxe", ...), the ``k`` = 20 pool clips nearest to the prompt's text embedding (cosine) are taken and the
  share of them that contain the task's achievement event is reported, with the number of pool clips that contain
  it (``n_positive``; precision cannot exceed ``n_positive / k``) and its base rate in the pool.
"""
from __future__ import annotations

import argparse
import json
import os
import uuid
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

import tasks
from steve1.data.EpisodeStorage import EpisodeStorage
from steve1.data.generation.window_embedding import embed_episode_windows
from tasks.crafter.crafterclip.captions import ACHIEVEMENT_CAPTIONS, CAPTION_INDEX, CAPTIONS, ClipCaptions
from tasks.crafter.crafterclip.data import ClipSet
from tasks.crafter.crafterclip.embedder import CrafterCLIPEmbedder
from tasks.crafter.crafterclip.model import CrafterCLIP
from tasks.crafter.crafterclip.captions import WordTokenizer


def task_prompts(sim: str = "crafter") -> list[dict]:
    """The downstream tasks of ``sim`` with an achievement: ``[{"task", "prompt", "achievement", "caption"}]``, where
    ``caption`` is the event caption of the achievement (the event a retrieved clip must contain)."""
    out = []
    for name in tasks.task_names(sim):
        spec = tasks.get_specs(name)
        achievement = spec.get("task_id")
        if achievement in ACHIEVEMENT_CAPTIONS and spec.get("prompt"):
            out.append({"task": name, "prompt": spec["prompt"], "achievement": achievement,
                        "caption": ACHIEVEMENT_CAPTIONS[achievement]})
    return out


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), dim=-1)


@torch.no_grad()
def embed_clips(model: CrafterCLIP, frames: np.ndarray, batch_size: int = 128) -> torch.Tensor:
    """Video embeddings of cached clips: uint8 [N, 16, H, W, 3] (e.g. a memory map) -> float32 [N, D]."""
    out = [model.encode_video(torch.from_numpy(np.array(frames[i:i + batch_size]))).float()
           for i in range(0, len(frames), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, model.embed_dim)


def retrieval_metrics(video: torch.Tensor, caption_text: torch.Tensor, primary: np.ndarray,
                      caption_rows: np.ndarray) -> dict:
    """Caption retrieval figures (see the module docstring).

    Args:
        video: float [N, D] clip embeddings.
        caption_text: float [len(CAPTIONS), D] text embeddings of :data:`CAPTIONS`.
        primary: int [N] primary caption index per clip.
        caption_rows: bool [N, len(CAPTIONS)] true captions per clip.
    """
    n = len(primary)
    if n == 0:
        return {"n_clips": 0}
    sims = _normalize(video) @ _normalize(caption_text).T  # [N, C]
    ranked = sims.argsort(dim=1, descending=True).numpy()
    top1 = ranked[:, 0]
    correct = top1 == primary
    per_caption = {}
    for k in np.unique(primary):
        sel = primary == k
        per_caption[CAPTIONS[k]] = {"n": int(sel.sum()), "top1": float(correct[sel].mean())}
    return {
        "n_clips": int(n),
        "n_captions": len(CAPTIONS),
        "chance": 1.0 / len(CAPTIONS),
        "top1_accuracy": float(correct.mean()),
        "balanced_top1_accuracy": float(np.mean([v["top1"] for v in per_caption.values()])),
        "top5_accuracy": float(np.mean([primary[i] in ranked[i, :5] for i in range(n)])),
        "top1_is_true_caption": float(caption_rows[np.arange(n), top1].mean()),
        "per_caption": per_caption,
    }


@torch.no_grad()
def embed_pool(embedder: CrafterCLIPEmbedder, episode_dirs: Sequence[str], captions: Sequence[ClipCaptions],
               stride: int, batch_size: int = 64, progress: bool = True) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Embed every ``stride``-th clip (end frames 15, 15 + stride, ...) of the episodes.

    Returns:
        (float32 [N, D] video embeddings, bool [N, len(CAPTIONS)] caption rows, int64 [N] primary captions).
    """
    window = embedder.window
    embeds, rows, primary = [], [], []
    for path, caps in tqdm(list(zip(episode_dirs, captions)), desc="embedding pool", unit="episode",
                           disable=not progress):
        if len(caps) < window:
            continue
        frames = EpisodeStorage(path).load_frame_array()
        rows_t = embed_episode_windows(embedder, frames, batch_size=batch_size)  # entry t = clip ending at t
        ends = np.arange(window - 1, len(caps), stride)
        embeds.append(torch.from_numpy(np.concatenate([rows_t[t] for t in ends])))
        rows.append(caps.captions[ends])
        primary.append(caps.primary[ends])
    if not embeds:
        return torch.zeros(0, embedder.embed_dim), np.zeros((0, len(CAPTIONS)), bool), np.zeros(0, np.int64)
    return torch.cat(embeds), np.concatenate(rows), np.concatenate(primary)


def prompt_precision(pool_video: torch.Tensor, pool_rows: np.ndarray, prompt_text: torch.Tensor,
                     prompts: Sequence[dict], k: int = 20) -> dict:
    """Share of the ``k`` pool clips nearest to each prompt that contain the prompt's event (module docstring)."""
    out = {}
    if len(pool_video) == 0:
        return out
    sims = _normalize(prompt_text) @ _normalize(pool_video).T  # [P, N]
    kk = min(k, len(pool_video))
    top = sims.topk(kk, dim=1).indices.numpy()
    for p, prompt in enumerate(prompts):
        has_event = pool_rows[:, CAPTION_INDEX[prompt["caption"]]]
        n_pos = int(has_event.sum())
        out[prompt["prompt"]] = {
            "task": prompt["task"],
            "event": prompt["caption"],
            f"precision_at_{k}": float(has_event[top[p]].mean()),
            "n_positive": n_pos,
            "max_precision": min(n_pos, kk) / kk,
            "base_rate": n_pos / len(pool_rows),
        }
    return out


@torch.no_grad()
def evaluate_model(model: CrafterCLIP, tokenizer: WordTokenizer, val_clips: Optional[ClipSet],
                   pool_dirs: Sequence[str], pool_captions: Sequence[ClipCaptions], pool_stride: int,
                   k: int = 20, batch_size: int = 128, progress: bool = True) -> dict:
    """Both measures of the module docstring. ``val_clips`` must have its frames loaded (or be None to skip the
    balanced retrieval). The model is evaluated in eval mode and left in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        embedder = CrafterCLIPEmbedder(model, tokenizer)
        caption_text = embedder.encode_text(list(CAPTIONS)).cpu()
        result: dict = {"captions": list(CAPTIONS)}
        if val_clips is not None and len(val_clips):
            video = embed_clips(model, val_clips.frames, batch_size).cpu()
            result["caption_retrieval"] = retrieval_metrics(video, caption_text, val_clips.primary, val_clips.captions)
        pool_video, pool_rows, pool_primary = embed_pool(embedder, pool_dirs, pool_captions, pool_stride,
                                                         batch_size=64, progress=progress)
        result["caption_retrieval_natural_pool"] = retrieval_metrics(pool_video, caption_text, pool_primary, pool_rows)
        result["caption_retrieval_natural_pool"].pop("per_caption", None)
        prompts = task_prompts()
        prompt_text = embedder.encode_text([p["prompt"] for p in prompts]).cpu()
        result["prompt_retrieval"] = {"k": k, "pool_clips": int(len(pool_video)), "pool_stride": pool_stride,
                                      "prompts": prompt_precision(pool_video, pool_rows, prompt_text, prompts, k)}
        unknown = {p["prompt"]: tokenizer.unknown_words(p["prompt"]) for p in prompts}
        result["prompt_retrieval"]["unknown_words"] = {p: w for p, w in unknown.items() if w}
        return result
    finally:
        model.train(was_training)


def write_json(path: os.PathLike, data: dict) -> None:
    """Write ``data`` as indented JSON atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a missing or unreadable model file or config, a missing
    sampling list or data folder, an unusable ``--out``) ends the program with one line on stderr naming the flag, and
    exit code 2, before anything is written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("evaluate.py", lambda: _main(argv))


def _main(argv: Optional[Sequence[str]]) -> dict:
    # Imported here: train.py imports this module for evaluate_model.
    from steve1.utils.checks import check_input_file, check_output_path
    from steve1.utils.cli import UsageError
    from tasks.crafter.crafterclip import train as train_lib
    from tasks.crafter.crafterclip.embedder import DEFAULT_CRAFTERCLIP_PATH, load_crafterclip

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=DEFAULT_CRAFTERCLIP_PATH, help="CrafterCLIP model file")
    parser.add_argument("--config", default=train_lib.DEFAULT_CONFIG,
                        help="config with the held-out clip selection (val_clips, max_clips_per_caption, min_gap, "
                             "pool_stride, nearest_k)")
    parser.add_argument("--data_dir", default=None, help="dataset folder (re-roots the --sampling lists; or, "
                        "without --sampling, the folder split as in train.py)")
    parser.add_argument("--sampling", default=None, help="sampling prefix: reads PREFIX_val.txt")
    parser.add_argument("--cache_dir", default=train_lib.DEFAULT_CACHE_DIR, help="clip frame cache")
    parser.add_argument("--seed", type=int, default=1, help="seed of the held-out clip selection (as in training)")
    parser.add_argument("--out", default=None, help="JSON output (default: <weights without .pt>_eval.json)")
    args = parser.parse_args(argv)

    config = train_lib.load_config(args.config)
    train_lib.check_config(config, {k: f"{args.config} key '{k}'" for k in config})
    check_input_file(args.weights, "--weights", "a CrafterCLIP model file from tasks/crafter/crafterclip/train.py")
    out = args.out or str(Path(args.weights).with_suffix("")) + "_eval.json"
    check_output_path(out, "--out")
    # the same input checks as train.py, without its output paths
    check = argparse.Namespace(sampling=args.sampling, data_dir=args.data_dir, out=out, eval_out=None,
                               run_dir=os.path.dirname(os.path.abspath(out)), cache_dir=args.cache_dir)
    train_lib.check_paths(check)
    try:
        model, tokenizer, _ = load_crafterclip(args.weights)
    except ValueError as e:  # CrafterCLIPFileError: not a CrafterCLIP file, another version, weights that do not fit
        raise UsageError(f"--weights: {e}") from e
    torch.manual_seed(args.seed)
    try:
        _, val_dirs = train_lib.read_split(args.sampling, args.data_dir, config, args.seed)
    except ValueError as e:
        raise UsageError(f"{'--sampling' if args.sampling else '--data_dir'}: {e}") from e
    val_caps = train_lib.caption_episodes(val_dirs, "captioning val episodes")
    val_set = train_lib.build_clip_set(val_dirs, val_caps, config["val_clips"], config, args.seed + 1,
                                       args.cache_dir, "caching val clips")
    result = evaluate_model(model, tokenizer, val_set, val_dirs, val_caps, config["pool_stride"],
                            k=config["nearest_k"], batch_size=config["batch_size"])
    result["weights"] = str(args.weights)
    result["val_episodes"] = len(val_dirs)
    write_json(out, result)
    print(train_lib.summary_text(result))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
