"""CrafterCLIP's evaluation measures as functions (caption retrieval, prompt retrieval), shared by ``train.py`` (at
the end of training) and ``evaluate.py`` (the command line); see ``evaluate.py`` for what each measure is.
"""
from __future__ import annotations

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
