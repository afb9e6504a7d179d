"""CrafterCLIP's evaluation measures as functions (caption retrieval, prompt retrieval, the stage probe), shared by
``train.py`` (at the end of training) and ``evaluate.py`` (the command line); see ``evaluate.py`` for what each
measure is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

import tasks
from steve1.data.EpisodeStorage import EpisodeStorage
from steve1.data.generation.window_embedding import embed_episode_windows
from tasks.crafter.crafterclip.captions import (ACHIEVEMENT_CAPTIONS, CAPTION_INDEX, CAPTIONS, FINAL_STATE_PARTS,
                                                HOLD_PHRASES, NEAR_INDEX, ClipCaptions)
from tasks.crafter.crafterclip.data import ClipSet, clip_labels
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


@dataclass
class PoolClips:
    """The natural pool of held-out clips (every ``stride``-th clip of every episode) with their embeddings.

    Attributes:
        video: float32 [N, D] clip embeddings.
        captions: bool [N, len(CAPTIONS)] caption rows; ``primary`` int64 [N] primary captions.
        final_state: int8 [N, N_FINAL_STATE_PARTS] final-state parts; ``in_view`` int8 [N, len(NEAR_THINGS)]
            (1/0, -1 for episodes without ``view``), see :class:`.data.ClipSet`.
        episode: int64 [N] index of each clip's episode (the groups of the stage probe's folds).
    """

    video: torch.Tensor
    captions: np.ndarray
    primary: np.ndarray
    final_state: np.ndarray
    in_view: np.ndarray
    episode: np.ndarray

    def __len__(self) -> int:
        return len(self.primary)


@torch.no_grad()
def embed_pool(embedder: CrafterCLIPEmbedder, episode_dirs: Sequence[str], captions: Sequence[ClipCaptions],
               stride: int, batch_size: int = 64, progress: bool = True) -> PoolClips:
    """Embed every ``stride``-th clip (end frames 15, 15 + stride, ...) of the episodes, with their labels."""
    window = embedder.window
    embeds, clips = [], []
    for e, (path, caps) in enumerate(tqdm(list(zip(episode_dirs, captions)), desc="embedding pool",
                                          unit="episode", disable=not progress)):
        if len(caps) < window:
            continue
        frames = EpisodeStorage(path).load_frame_array()
        rows_t = embed_episode_windows(embedder, frames, batch_size=batch_size)  # entry t = clip ending at t
        ends = np.arange(window - 1, len(caps), stride)
        embeds.append(torch.from_numpy(np.concatenate([rows_t[t] for t in ends])))
        clips.append(np.stack([np.full(len(ends), e), ends], axis=1))
    clips_arr = np.concatenate(clips).astype(np.int64) if clips else np.zeros((0, 2), np.int64)
    labels = clip_labels(captions, clips_arr)
    video = torch.cat(embeds) if embeds else torch.zeros(0, embedder.embed_dim)
    return PoolClips(video, labels["captions"], labels["primary"], labels["final_state"], labels["in_view"],
                     clips_arr[:, 0])


# ---------------------------------------------------------------------- the stage probe
#: Class names of the ``pickaxe`` probe (the ``hold`` final-state part: best pickaxe held).
PICKAXE_CLASSES: tuple[str, ...] = ("none", "wood", "stone", "iron")
#: The things of the ``near_<thing>`` probes (in view at the clip's last frame or not).
PROBE_NEAR: tuple[str, ...] = ("water", "tree", "stone")


def stage_labels(final_state: np.ndarray, in_view: np.ndarray) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    """The labels of the stage probes: ``{name: (int64 [N] class per clip, -1 unknown; class names)}``.

    ``pickaxe``: the best pickaxe held at the clip's last frame (:data:`PICKAXE_CLASSES`); ``near_water``,
    ``near_tree``, ``near_stone``: the thing is in the last frame's view window ("no"/"yes"; unknown for episodes
    without ``view``).

    Args:
        final_state: int8 [N, N_FINAL_STATE_PARTS]; in_view: int8 [N, len(NEAR_THINGS)] (see :class:`PoolClips`).
    """
    out = {"pickaxe": (np.asarray(final_state[:, FINAL_STATE_PARTS.index("hold")], np.int64), PICKAXE_CLASSES)}
    for thing in PROBE_NEAR:
        out[f"near_{thing}"] = (np.asarray(in_view[:, NEAR_INDEX[thing]], np.int64), ("no", "yes"))
    return out


def nearest_centroid_probe(embeds: torch.Tensor, labels: np.ndarray, groups: np.ndarray,
                           classes: Sequence[str], max_folds: int = 5, seed: int = 0) -> dict:
    """Grouped k-fold nearest-centroid classification of clips from their embeddings (cosine to the class means of
    the L2-normalised training embeddings): does the embedding space put clips of one class together, as a k-means
    goal codebook would need?

    Groups (episodes) are dealt into ``min(max_folds, #groups)`` folds (seeded), so no episode is in both the fitted
    and the tested part. Clips with label -1 are left out; a class missing from a fold's training part cannot be
    predicted there.

    Args:
        embeds: float [N, D] clip embeddings.
        labels: int [N] class index in [0, len(classes)) or -1 (unknown).
        groups: int [N] group (episode) of each clip.
        classes: class names.
        max_folds: folds at most.
        seed: the seed of the group-to-fold deal.

    Returns:
        ``{"n_clips", "n_groups", "n_folds", "accuracy", "balanced_accuracy" (mean recall over the classes
        present), "chance_balanced" (1 / classes present), "majority_baseline" (accuracy of predicting each training
        part's most common class), "per_class": {name: {"n", "recall"}}, "confusion" (rows: true, columns:
        predicted, in ``classes`` order)}``, or ``{"n_clips", "n_groups", "skipped": reason}`` with fewer than two
        groups or classes.
    """
    labels = np.asarray(labels, np.int64)
    keep = labels >= 0
    x = _normalize(embeds[torch.from_numpy(keep)]) if len(labels) else embeds
    y, g = labels[keep], np.asarray(groups)[keep]
    unique_groups = np.unique(g)
    present = np.unique(y)
    base = {"n_clips": int(len(y)), "n_groups": int(len(unique_groups))}
    if len(unique_groups) < 2 or len(present) < 2:
        return {**base, "skipped": f"needs clips of >= 2 episodes and >= 2 classes (classes present: "
                                   f"{[classes[k] for k in present]})"}
    n_folds = min(max_folds, len(unique_groups))
    fold_of_group = dict(zip(np.random.default_rng(seed).permutation(unique_groups),
                             np.arange(len(unique_groups)) % n_folds))
    fold = np.array([fold_of_group[v] for v in g])
    n_classes = len(classes)
    predicted = np.full(len(y), -1, np.int64)
    majority_correct = 0
    for f in range(n_folds):
        train, test = fold != f, fold == f
        if not test.any():
            continue
        fitted = [k for k in range(n_classes) if (y[train] == k).any()]
        centroids = torch.stack([x[torch.from_numpy(train & (y == k))].mean(0) for k in fitted])
        sims = x[torch.from_numpy(test)] @ _normalize(centroids).T  # [n_test, n_fitted]
        predicted[test] = np.asarray(fitted)[sims.argmax(1).numpy()]
        majority = np.bincount(y[train], minlength=n_classes).argmax()
        majority_correct += int((y[test] == majority).sum())
    confusion = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(confusion, (y, predicted), 1)
    per_class = {classes[k]: {"n": int((y == k).sum()), "recall": float(confusion[k, k] / (y == k).sum())}
                 for k in present}
    return {**base, "n_folds": n_folds,
            "accuracy": float((predicted == y).mean()),
            "balanced_accuracy": float(np.mean([v["recall"] for v in per_class.values()])),
            "chance_balanced": 1.0 / len(present),
            "majority_baseline": majority_correct / len(y),
            "per_class": per_class,
            "confusion": confusion.tolist()}


def text_probe(embeds: torch.Tensor, phrase_text: torch.Tensor, labels: np.ndarray,
               classes: Sequence[str]) -> dict:
    """Zero-shot classification from the text side: each clip gets the class of its most similar phrase (cosine).

    Args:
        embeds: float [N, D] clip embeddings; phrase_text: float [len(classes), D] text embeddings of one phrase per
            class (e.g. :data:`.captions.HOLD_PHRASES`); labels: int [N] (-1 unknown, left out).

    Returns:
        ``{"n_clips", "accuracy", "balanced_accuracy", "chance_balanced"}`` (chance: 1 / phrases, every class can be
        predicted; ``{"n_clips": 0}`` without labels).
    """
    labels = np.asarray(labels, np.int64)
    keep = labels >= 0
    if not keep.any():
        return {"n_clips": 0}
    y = labels[keep]
    predicted = (_normalize(embeds[torch.from_numpy(keep)]) @ _normalize(phrase_text).T).argmax(1).numpy()
    present = np.unique(y)
    return {"n_clips": int(len(y)), "accuracy": float((predicted == y).mean()),
            "balanced_accuracy": float(np.mean([(predicted[y == k] == k).mean() for k in present])),
            "chance_balanced": 1.0 / len(phrase_text)}


def stage_probe(pool: PoolClips, hold_text: Optional[torch.Tensor] = None, max_folds: int = 5) -> dict:
    """The stage probe of a pool: a :func:`nearest_centroid_probe` per label of :func:`stage_labels`, grouped by
    episode, and (given the text embeddings of :data:`.captions.HOLD_PHRASES`) the zero-shot pickaxe
    :func:`text_probe` under ``pickaxe_from_text``."""
    out: dict = {"method": f"nearest centroid (cosine), <= {max_folds} folds grouped by episode, on the natural pool"}
    for name, (labels, classes) in stage_labels(pool.final_state, pool.in_view).items():
        out[name] = nearest_centroid_probe(pool.video, labels, pool.episode, classes, max_folds)
    if hold_text is not None:
        labels, classes = stage_labels(pool.final_state, pool.in_view)["pickaxe"]
        out["pickaxe_from_text"] = text_probe(pool.video, hold_text, labels, classes)
    return out


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
    """The measures of ``evaluate.py``'s docstring. ``val_clips`` must have its frames loaded (or be None to skip the
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
        pool = embed_pool(embedder, pool_dirs, pool_captions, pool_stride, batch_size=64, progress=progress)
        pool_video, pool_rows = pool.video, pool.captions
        result["caption_retrieval_natural_pool"] = retrieval_metrics(pool_video, caption_text, pool.primary, pool_rows)
        result["caption_retrieval_natural_pool"].pop("per_caption", None)
        result["stage_probe"] = stage_probe(pool, embedder.encode_text(list(HOLD_PHRASES)).cpu())
        unknown = sorted({w for phrase in HOLD_PHRASES for w in tokenizer.unknown_words(phrase)})
        if unknown:  # a model trained before the final-state captions: the zero-shot probe reads <unk>
            result["stage_probe"]["pickaxe_from_text"]["unknown_words"] = unknown
        prompts = task_prompts()
        prompt_text = embedder.encode_text([p["prompt"] for p in prompts]).cpu()
        result["prompt_retrieval"] = {"k": k, "pool_clips": int(len(pool_video)), "pool_stride": pool_stride,
                                      "prompts": prompt_precision(pool_video, pool_rows, prompt_text, prompts, k)}
        unknown = {p["prompt"]: tokenizer.unknown_words(p["prompt"]) for p in prompts}
        result["prompt_retrieval"]["unknown_words"] = {p: w for p, w in unknown.items() if w}
        return result
    finally:
        model.train(was_training)
