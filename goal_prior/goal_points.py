"""Goal points of the codebook: sampled from the episodes of a training split (paper §4.2, spec §7 "Per episode"
and "Subsampling"), clustered by :mod:`goal_prior.clustering`, written by ``goal_prior/generate_codebook.py``.

A goal point is a frame ``t >= FIRST_USABLE_FRAME`` (15) of an episode: its goal embedding ``embeds[t]`` (the
embedding of the 16-frame clip ``[t-15, t]``) and its clustering feature ``[embedding ; action_scale * action
history]``, where the action history is the sum of the features of the current and 15 previous actions
(``action_features`` of the episode's simulator plugin, chosen by ``"sim"`` in its ``metadata.json``: 25 numbers per
MineRL action dict, a 17-d one-hot per Crafter action), unnormalised as upstream.

Which goal points the codebook keeps (``point_sampling`` of ``configs/<sim>/codebook.yaml``):

* ``stride`` (upstream, spec §7 "Subsampling"): every ``sample_interval``-th goal point of the concatenation of the
  chosen episodes, i.e. uniform over frames, so the states the data shows most (walking, sleeping) hold most of the
  points and most of the k-means clusters.
* ``balanced`` (**deviation from upstream**, issue 18 item 5): every goal point of the chosen episodes gets a label
  from the episode's simulator plugin, ``goal_point_labels(storage) -> str [L]`` (the label of the goal clip
  ``[t-15, t]``; Crafter: :mod:`tasks.crafter.goal_labels`, the achievement unlocked inside the clip, else
  ``sleep``/``none``), and at most ``max_points_per_label`` points of each label are kept (a seeded random choice
  among all of that label's points; labels with fewer keep all of them). Rare sub-goals keep every point while
  frequent states are capped, so they get a share of the clusters. Every kept point is still a real frame with its
  real goal embedding, so the codes stay real dataset embeddings as upstream; only which frames k-means sees
  changes.
* ``unlocks`` (**deviation from upstream**, ours, issue 18 item 5; Crafter play data): only the frames at which an
  achievement is unlocked for the first time in the episode (:func:`unlock_point_labels`, the frames of
  ``relabeling: next_unlock``, :mod:`steve1.data.minecraft_dataset`), labelled with that achievement and capped per
  label as ``balanced``. Each kept goal point is the clip that ends with an unlock, i.e. exactly a goal of the
  next-unlock relabeling, so the codes are the sub-goals that relabeling teaches the low level to reach.
* ``events`` (**deviation from upstream**, ours; Crafter play data): as ``unlocks`` but at every achievement event
  (a count rises: the stone mined again, the water drunk again), the frames of ``relabeling: next_event``
  (:func:`unlock_point_labels` with ``first_only=False``), so the codes are the goals the next-event low level
  learnt to reach.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Optional, Sequence

import numpy as np

from steve1.data.minecraft_dataset import FIRST_USABLE_FRAME

#: Actions summed into the action history of frame t: t-15 .. t (spec §7, ``history_act='add'``).
ACTION_HISTORY = 16

#: The ``point_sampling`` choices: upstream's stride over the concatenated episodes, per-label caps, first-time
#: unlocks or every achievement event, with per-label caps.
POINT_SAMPLINGS = ("stride", "balanced", "unlocks", "events")

#: The choices that label goal points and cap each label (``max_points_per_label`` required).
LABELLED_SAMPLINGS = ("balanced", "unlocks", "events")

__all__ = ["ACTION_HISTORY", "POINT_SAMPLINGS", "LABELLED_SAMPLINGS", "GoalPoints", "action_history",
           "get_action_features", "unlock_point_labels",
           "get_goal_point_labels", "episode_goal_points", "balanced_choice", "sample_goal_points"]


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
        labels: ``point_sampling`` balanced, unlocks and events only (else None): str [M], the label of each kept
            goal point.
        label_totals: the same samplings only (else None): label -> number of goal points of that label in the chosen
            episodes (before the cap), sorted by label.
    """

    embeds: np.ndarray
    features: np.ndarray
    episode_dirs: list[str]
    frames: np.ndarray
    chosen_episodes: list[str] = field(default_factory=list)
    labels: Optional[np.ndarray] = None
    label_totals: Optional[dict[str, int]] = None

    def label_counts(self) -> Optional[dict[str, int]]:
        """label -> number of kept goal points (sorted by label); None without labels."""
        if self.labels is None:
            return None
        names, counts = np.unique(self.labels, return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}

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


def get_goal_point_labels(sim: str) -> Callable[[Any], np.ndarray]:
    """The ``goal_point_labels(storage) -> str [L]`` of simulator ``sim``'s plugin (``tasks/<sim>/``), needed by
    ``point_sampling: balanced``.

    Raises:
        KeyError: ``sim`` is not a registered simulator.
        ValueError: the plugin has no ``goal_point_labels`` (the message names the config key and the fix).
    """
    from steve1.data.minecraft_dataset import sim_plugin

    module = sim_plugin(sim)
    fn = getattr(module, "goal_point_labels", None)
    if fn is None:
        raise ValueError(f"point_sampling: balanced needs goal-point labels, but the plugin of simulator {sim!r} "
                         f"({module.__name__}) has no goal_point_labels(storage); set point_sampling: stride "
                         f"(--point_sampling stride) or add goal_point_labels to that plugin")
    return fn


def unlock_point_labels(storage, first_only: bool = True) -> np.ndarray:
    """str ``[L]``: at each frame where an achievement is first unlocked in the episode (``infos.npz``
    ``achievements``, :func:`steve1.data.minecraft_dataset.unlock_frames`) its name (``metadata.json``
    ``achievement_names``; the first if several unlock together), ``""`` elsewhere. An unlock before frame 15 is
    put on frame 15, whose clip holds it (as the next-unlock relabeling does). ``first_only=False``: at every frame
    where an achievement count rises (``point_sampling: events``, the frames of the next-event relabeling).

    Raises:
        ValueError: the episode has no ``achievements`` or no ``achievement_names`` (names the episode).
    """
    from steve1.data.minecraft_dataset import unlock_frames

    where = str(storage.episode_dirpath)
    ach = storage.load_info("achievements")
    names = (storage.load_metadata() or {}).get("achievement_names")
    if ach is None or names is None:
        raise ValueError(f"{where}: point_sampling unlocks/events needs infos.npz 'achievements' and metadata.json "
                         f"'achievement_names' (Crafter play data)")
    ach = np.asarray(ach)
    labels = np.full(len(ach), "", dtype=object)
    for u in unlock_frames(ach, first_only=first_only):
        rose = (ach[u] > 0) & (ach[u - 1] == 0) if first_only else ach[u] > ach[u - 1]
        k = int(np.flatnonzero(rose)[0])
        t = max(int(u), FIRST_USABLE_FRAME)
        if t < len(ach) and labels[t] == "":
            labels[t] = str(names[k])
    return labels.astype(str)


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


def balanced_choice(labels: np.ndarray, max_per_label: int, seed: int) -> np.ndarray:
    """Indices of the goal points kept by ``point_sampling: balanced``: all points of a label with at most
    ``max_per_label`` points, else ``max_per_label`` of them drawn without replacement.

    Labels are visited in sorted order, each draw from one ``np.random.default_rng(seed)``, so the choice depends only
    on the labels and the seed.

    Args:
        labels: str [M], the label of each goal point (in concatenation order).
        max_per_label: cap per label (>= 1).
        seed: the seed.
    Returns:
        int64 [K], increasing indices into ``labels`` (K = sum over labels of min(count, max_per_label)).
    Raises:
        ValueError: ``max_per_label < 1``.
    """
    if max_per_label < 1:
        raise ValueError(f"--max_points_per_label must be >= 1, got {max_per_label}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    kept = []
    for name in np.unique(labels):
        idx = np.flatnonzero(labels == name)
        if len(idx) > max_per_label:
            idx = rng.choice(idx, size=max_per_label, replace=False)
        kept.append(idx)
    if not kept:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(kept)).astype(np.int64)


def sample_goal_points(episode_dirs: Sequence[str], video_num: int, sample_interval: int, seed: int,
                       use_action_features: bool, action_scale: float, progress: bool = True,
                       source: str = "the episode list", point_sampling: str = "stride",
                       max_points_per_label: Optional[int] = None) -> GoalPoints:
    """Pick ``video_num`` episodes and keep their goal points by ``point_sampling`` (spec §7; module docstring).

    Seeds Python's ``random`` and ``np.random`` with ``seed``, then ``random.sample(episode_dirs, video_num)``
    (as upstream).

    * ``stride`` (upstream): keep every ``sample_interval``-th goal point of the concatenation of the chosen
      episodes' goal points; episodes are subsampled while they are read (the same points as concatenating then
      striding), so memory stays small.
    * ``balanced`` / ``unlocks`` / ``events`` (deviations from upstream): first read every chosen episode's labels
      (the plugin's ``goal_point_labels``, or :func:`unlock_point_labels`, whose unlabelled frames are never kept;
      rows t >= 15), keep :func:`balanced_choice` of them (``max_points_per_label``, ``seed``) over the
      concatenation of ALL goal points, then read the episodes' goal points and keep those.
      ``sample_interval`` is not used.

    Args:
        episode_dirs: candidate episode directories (the training split).
        video_num: episodes to read; -1 = all.
        sample_interval: ``stride``: keep goal point ``i`` of the concatenation iff ``i % sample_interval == 0``.
        seed: the seed.
        use_action_features: add the action history to the features.
        action_scale: weight of the action history.
        progress: show a tqdm bar.
        source: what ``episode_dirs`` came from, for error messages.
        point_sampling: ``stride``, ``balanced``, ``unlocks`` or ``events``.
        max_points_per_label: ``balanced`` / ``unlocks`` / ``events``: the cap per label (required there).
    Returns:
        :class:`GoalPoints` in concatenation order (episodes as chosen, frames increasing); ``labels`` and
        ``label_totals`` are set for ``balanced``, ``unlocks`` and ``events``.
    Raises:
        ValueError: ``video_num`` larger than the number of episodes, ``sample_interval < 1``, an unknown
            ``point_sampling``, ``balanced`` without ``max_points_per_label`` or for a simulator whose plugin has no
            ``goal_point_labels``, labels of the wrong length, episodes of different embedding sizes, or any
            problem of :func:`episode_goal_points`.
    """
    from steve1.data.EpisodeStorage import EpisodeReadError, EpisodeStorage
    from tqdm.auto import tqdm

    if point_sampling not in POINT_SAMPLINGS:
        raise ValueError(f"--point_sampling must be one of {', '.join(POINT_SAMPLINGS)}, got {point_sampling!r}")
    balanced = point_sampling in LABELLED_SAMPLINGS
    if balanced and max_points_per_label is None:
        raise ValueError(f"point_sampling: {point_sampling} needs max_points_per_label (set it in the config file or "
                         f"pass --max_points_per_label)")
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

    def open_episode(d: str):
        storage = EpisodeStorage(d)
        reason = storage.invalid_reason(require_embeds=True)
        if reason is not None:
            raise ValueError(f"{d} (listed in {source}): not a usable episode: {reason}")
        return storage

    keep_global = label_of = label_totals = None
    if balanced:  # pass 1: the label of every goal point (infos only), then the per-label choice
        label_fns: dict[str, Callable] = {}
        per_episode = []
        for d in tqdm(chosen, desc="labels", disable=not progress, dynamic_ncols=True):
            storage = open_episode(d)
            sim = _sim_of(storage)
            if point_sampling in ("unlocks", "events"):
                label_fns[sim] = partial(unlock_point_labels, first_only=point_sampling == "unlocks")
            elif sim not in label_fns:
                label_fns[sim] = get_goal_point_labels(sim)
            try:
                lab = np.asarray(label_fns[sim](storage)).astype(str)
            except EpisodeReadError as e:
                raise ValueError(f"{d} (listed in {source}): point_sampling: balanced cannot label its goal "
                                 f"points: {e}") from e
            if lab.shape != (storage.get_len(),):
                raise ValueError(f"{d} (listed in {source}): goal_point_labels of simulator {sim!r} returned shape "
                                 f"{lab.shape}, expected one label per frame ({storage.get_len()},)")
            per_episode.append(lab[FIRST_USABLE_FRAME:])
        label_of = np.concatenate(per_episode) if per_episode else np.zeros(0, dtype=str)
        eligible = np.flatnonzero(label_of != "")  # unlocks/events: only those frames; balanced: every frame
        keep_global = eligible[balanced_choice(label_of[eligible], max_points_per_label, seed)]
        names, counts = np.unique(label_of[eligible], return_counts=True)
        label_totals = {str(n): int(c) for n, c in zip(names, counts)}

    feature_fns: dict[str, Callable] = {}
    embeds, features, paths, frames, labels = [], [], [], [], []
    offset = 0  # index of the episode's first goal point in the concatenation
    for d in tqdm(chosen, desc="episodes", disable=not progress, dynamic_ncols=True):
        storage = open_episode(d)
        fn = None
        if use_action_features:
            sim = _sim_of(storage)
            if sim not in feature_fns:
                feature_fns[sim] = get_action_features(sim)
            fn = feature_fns[sim]
        E, Fe, fr = episode_goal_points(storage, fn, action_scale)
        if balanced:
            if offset + len(E) > len(label_of):
                raise ValueError(f"{d} (listed in {source}): {len(E)} goal points, but its labels were read for "
                                 f"fewer (did the episode change while the codebook was built?)")
            lo, hi = np.searchsorted(keep_global, [offset, offset + len(E)])
            keep = keep_global[lo:hi] - offset
            labels.append(label_of[offset + keep])
        else:
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
                      frames=np.concatenate(frames), chosen_episodes=chosen,
                      labels=np.concatenate(labels) if balanced else None, label_totals=label_totals)
