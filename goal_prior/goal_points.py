"""Goal points of the codebook: sampled from the episodes of a training split (paper §4.2, spec §7 "Per episode"
and "Subsampling"), clustered by :mod:`goal_prior.clustering`, written by ``goal_prior/generate_codebook.py``.

A goal point is a frame ``t >= FIRST_USABLE_FRAME`` (15) of an episode: its goal embedding ``embeds[t]`` (the
embedding of the 16-frame clip ``[t-15, t]``) and its clustering feature ``[embedding ; action_scale * action
history]``, where the action history is the sum of the features of the current and 15 previous actions
(``action_features`` of the episode's simulator plugin, chosen by ``"sim"`` in its ``metadata.json``: 25 numbers per
MineRL action dict, a 17-d one-hot per Crafter action), unnormalised as upstream.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from steve1.data.minecraft_dataset import FIRST_USABLE_FRAME

#: Actions summed into the action history of frame t: t-15 .. t (spec §7, ``history_act='add'``).
ACTION_HISTORY = 16

__all__ = ["ACTION_HISTORY", "GoalPoints", "action_history", "get_action_features", "episode_goal_points",
           "sample_goal_points"]


@dataclass
class GoalPoints:
    """Sampled goal points (spec §7 "Per episode" + "Subsampling").

    Attributes:
        embeds: float64 [M, D] goal embeddings (the candidate codes).
        features: float64 [M, F] clustering features ``[embedding ; action_scale * action history]`` (F = D when
            action features are off).
        episode_dirs: M episode directories.
        frames: int64 [M] frame index t of each embedding (it embeds the clip ``[t-15, t]``).
        chosen_episodes: the episodes read, in the order read.
    """

    embeds: np.ndarray
    features: np.ndarray
    episode_dirs: list[str]
    frames: np.ndarray
    chosen_episodes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.embeds.shape[0])


def action_history(action_feats: np.ndarray, history: int = ACTION_HISTORY) -> np.ndarray:
    """Sum of each frame's action features with those of the ``history - 1`` previous frames.

    Args:
        action_feats: float [L, A], row t = features of the action taken on frame t.
        history: number of actions summed (16: the current and 15 previous ones, spec §7).
    Returns:
        float64 [L, A]; row t = ``sum_{k=max(0, t-history+1)}^{t} action_feats[k]`` (rows t < history-1 sum fewer
        actions; upstream's ``np.roll`` wrapped around there, but those rows are never goal points).
    """
    a = np.asarray(action_feats, dtype=np.float64)
    c = np.cumsum(a, axis=0)
    out = c.copy()
    out[history:] -= c[:-history]
    return out


def _sim_of(storage) -> str:
    from steve1.data.minecraft_dataset import DEFAULT_SIM

    return (storage.load_metadata() or {}).get("sim", DEFAULT_SIM)


def get_action_features(sim: str) -> Callable[[Any], np.ndarray]:
    """The ``action_features(env_action) -> float vector`` of simulator ``sim``'s plugin (``tasks/<sim>/``).

    Raises:
        KeyError: ``sim`` is not a registered simulator.
        AttributeError: the plugin has no ``action_features``.
    """
    from steve1.data.minecraft_dataset import plugin_function

    return plugin_function(sim, "action_features", "; pass --no-action-features to cluster goal embeddings alone")


def episode_goal_points(storage, action_features: Optional[Callable[[Any], np.ndarray]],
                        action_scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All goal points of one episode: frames ``t = 15 .. L-1``.

    Args:
        storage: an :class:`steve1.data.EpisodeStorage.EpisodeStorage` with embeddings.
        action_features: the plugin's per-action feature function; None = no action history.
        action_scale: multiplies the action history in the feature (1.0 = upstream).
    Returns:
        ``(embeds float64 [L-15, D], features float64 [L-15, F], frames int64 [L-15])``.
    Raises:
        ValueError: the episode has fewer than 16 frames, a frame ``t >= 15`` has no embedding, embeddings of
            different sizes, or action and embedding counts differ from ``len.txt`` (the message names the file).
    """
    where = str(storage.episode_dirpath)
    length = storage.get_len()
    if length <= FIRST_USABLE_FRAME:
        raise ValueError(f"{where}: {length} frames, need more than {FIRST_USABLE_FRAME} for a goal point")
    embeds = storage.load_embeds()
    if len(embeds) != length:
        raise ValueError(f"{where}: embeds_attn.pkl has {len(embeds)} entries, len.txt says {length}")
    rows = []
    for t in range(FIRST_USABLE_FRAME, length):
        e = embeds[t]
        if e is None:
            raise ValueError(f"{where}: embeds_attn.pkl entry {t} is None (frames t >= {FIRST_USABLE_FRAME} need "
                             f"an embedding; re-run the embedding step)")
        rows.append(np.asarray(e, dtype=np.float64).reshape(-1))
    dims = {r.shape[0] for r in rows}
    if len(dims) != 1:
        raise ValueError(f"{where}: embeds_attn.pkl holds embeddings of several sizes {sorted(dims)}")
    E = np.stack(rows)
    frames = np.arange(FIRST_USABLE_FRAME, length, dtype=np.int64)
    if action_features is None:
        return E, E.copy(), frames
    actions = storage.load_actions()
    if len(actions) != length:
        raise ValueError(f"{where}: actions.pkl has {len(actions)} actions, len.txt says {length}")
    A = np.stack([np.asarray(action_features(a), dtype=np.float64).reshape(-1) for a in actions])
    H = action_history(A)[FIRST_USABLE_FRAME:]
    return E, np.concatenate([E, action_scale * H], axis=1), frames


def sample_goal_points(episode_dirs: Sequence[str], video_num: int, sample_interval: int, seed: int,
                       use_action_features: bool, action_scale: float, progress: bool = True,
                       source: str = "the episode list") -> GoalPoints:
    """Pick ``video_num`` episodes and keep every ``sample_interval``-th goal point (spec §7).

    Seeds Python's ``random`` and ``np.random`` with ``seed``, then ``random.sample(episode_dirs, video_num)``
    (as upstream). The stride runs over the concatenation of the chosen episodes' goal points; episodes are
    subsampled while they are read (the same points as concatenating then striding), so memory stays small.

    Args:
        episode_dirs: candidate episode directories (the training split).
        video_num: episodes to read; -1 = all.
        sample_interval: keep goal point ``i`` of the concatenation iff ``i % sample_interval == 0``.
        seed: the seed.
        use_action_features: add the action history to the features.
        action_scale: weight of the action history.
        progress: show a tqdm bar.
        source: what ``episode_dirs`` came from, for error messages.
    Raises:
        ValueError: ``video_num`` larger than the number of episodes, ``sample_interval < 1``, episodes of
            different embedding sizes, or any problem of :func:`episode_goal_points`.
    """
    from steve1.data.EpisodeStorage import EpisodeStorage
    from tqdm.auto import tqdm

    if sample_interval < 1:
        raise ValueError(f"--sample-interval must be >= 1, got {sample_interval}")
    episode_dirs = list(episode_dirs)
    if video_num == -1:
        video_num = len(episode_dirs)
    if not 1 <= video_num <= len(episode_dirs):
        raise ValueError(f"--video-num {video_num}: {source} lists {len(episode_dirs)} episodes (use -1 for all)")
    random.seed(seed)
    np.random.seed(seed)
    chosen = random.sample(episode_dirs, video_num)

    feature_fns: dict[str, Callable] = {}
    embeds, features, paths, frames = [], [], [], []
    offset = 0  # index of the episode's first goal point in the concatenation
    for d in tqdm(chosen, desc="episodes", disable=not progress, dynamic_ncols=True):
        storage = EpisodeStorage(d)
        reason = storage.invalid_reason(require_embeds=True)
        if reason is not None:
            raise ValueError(f"{d} (listed in {source}): not a usable episode: {reason}")
        fn = None
        if use_action_features:
            sim = _sim_of(storage)
            if sim not in feature_fns:
                feature_fns[sim] = get_action_features(sim)
            fn = feature_fns[sim]
        E, Fe, fr = episode_goal_points(storage, fn, action_scale)
        keep = np.nonzero((offset + np.arange(len(E))) % sample_interval == 0)[0]
        offset += len(E)
        embeds.append(E[keep])
        features.append(Fe[keep])
        frames.append(fr[keep])
        paths.extend([d] * len(keep))
    dims = {e.shape[1] for e in embeds}
    if len(dims) != 1:
        raise ValueError(f"episodes of {source} have goal embeddings of different sizes {sorted(dims)}")
    fdims = {f.shape[1] for f in features}
    if len(fdims) != 1:
        raise ValueError(f"episodes of {source} have action features of different sizes (feature sizes "
                         f"{sorted(fdims)}): are they from different simulators?")
    return GoalPoints(embeds=np.concatenate(embeds), features=np.concatenate(features), episode_dirs=paths,
                      frames=np.concatenate(frames), chosen_episodes=chosen)
