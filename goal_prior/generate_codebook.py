"""Build the goal codebook: the discrete goal space of PTGM (paper §4.2, spec §7).

Run (from the repository root)::

    python goal_prior/generate_codebook.py --embedding tsne --n-codebook 100            # upstream recipe (Minecraft)
    python goal_prior/generate_codebook.py --config configs/crafter/codebook.yaml        # Crafter

Recipe (spec §7):

1. Seed Python's ``random`` and numpy with ``--seed``; pick ``--video-num`` episodes of the training split
   ``<sampling_dir>/<sampling>_train.txt`` with ``random.sample``.
2. For every frame ``t >= 15`` of each episode, a **goal point**: the goal embedding ``embeds[t]`` (the embedding
   of the 16-frame clip ``[t-15, t]``, written by the embedding step) and, unless ``--no-action-features``, the
   **action history** ``sum_{k=0..15} action_features(actions[t-k])`` (the current and 15 previous actions;
   ``action_features`` comes from the episode's simulator plugin, chosen by ``"sim"`` in its ``metadata.json``:
   25 numbers per MineRL action dict, a 17-d one-hot per Crafter action). Clustering feature = ``[embedding ;
   action_scale * action history]``, unnormalised as upstream.
3. Keep every ``--sample-interval``-th goal point of the concatenation of all episodes (the stride runs over the
   concatenation, not per episode, as upstream).
4. ``--embedding tsne``: t-SNE to 2-D (sklearn, perplexity ``--perplexity``), then k-means (``--n-codebook``
   clusters, k-means++, 10 inits) on the 2-D points. ``--embedding none``: k-means directly on the features.
5. For each cluster keep the **real dataset goal embedding** of the member nearest the cluster centre (in the
   clustered space): codes are medoid-like dataset embeddings, never centroids, and carry no action part.

Outputs in ``<output-dir>/<embedding>_n<N>_s<seed>[_noact]/`` (every file written atomically):

* ``centers.pkl``: the upstream format, a pickle list of N numpy ``(1, D)`` float64 arrays in code order (read by
  :class:`goal_prior.codebook.KMeansCodebook`);
* ``codebook.json``: where each code came from (episode dir, frame ``t``, its clip ``[t-15, t]``, cluster size),
  the chosen episodes, the arguments, and ``label_agreement`` (below);
* ``tsne.png`` (``--embedding tsne``) or ``pca.png`` (``none``: a PCA projection of the features, for display
  only): the goal points coloured by cluster, codes in red;
* ``center_<k>.gif``: the 16 frames of code k's clip (``--gif-frames``; 20 fps), so a person can see what each goal
  means;
* ``kmeans.npz`` (``--embedding none`` only): the k-means centroids in feature space and the feature settings, for
  the optional ``kmeans`` label space of the goal prior.

**Label space of the goal prior (spec §12.1.18).** Clusters are formed in the t-SNE space of ``[embedding ; action
history]``, but the goal prior is trained on labels ``argmax_k cos(goal embedding, code_k)`` in the raw embedding
space (:func:`goal_prior.codebook.nearest_code`). We keep the upstream cosine labelling as the default on
purpose: a code *is* an embedding, the high level executes it by handing ``code_k`` to the goal-conditioned policy,
so the prior should predict which code's embedding best matches the goal that the data actually reached next;
t-SNE cannot place new points (the relabelled goals of the prior's data) in its 2-D map, so the cluster assignment
is undefined for them anyway. ``codebook.json`` reports ``label_agreement``, the fraction of the sampled goal
points whose cosine label is their own cluster, to show how far the two label spaces differ. The alternative, for a
codebook made with ``--embedding none``, is the goal prior's ``--label_space kmeans``: nearest k-means centroid of
the goal's ``[embedding ; action history]`` feature (``kmeans.npz``), i.e. the clustering's own partition.

Where we deliberately differ from upstream (spec §7, §12.1.9):

* ``--embedding`` defaults to ``tsne`` (upstream default ``tnse`` was a typo that always raised); ``none`` (k-means
  on the features) is new; ``--no-action-features``, ``--action-scale``, ``--perplexity``, ``--config`` are new;
* all outputs are written atomically; bad input (too few goal points for N codes, an episode without embeddings or
  with a missing one, more episodes requested than the split has) raises an error naming the file;
* episodes are subsampled while they are read (same points as concatenating then striding), so memory stays small.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from goal_prior.codebook import write_codebook
from steve1.data.minecraft_dataset import FIRST_USABLE_FRAME as FIRST_GOAL_FRAME  # the first frame with a goal
from steve1.utils.io import atomic_write_bytes as _atomic_write_bytes

#: Actions summed into the action history of frame t: t-15 .. t (spec §7, ``history_act='add'``).
ACTION_HISTORY = 16

__all__ = [
    "GoalPoints", "ClusterResult", "action_history", "episode_goal_points", "sample_goal_points",
    "cluster_goal_points", "label_agreement", "write_codebook", "build_parser", "main",
]


# ----------------------------------------------------------------------------------------------------------------
# Goal points
# ----------------------------------------------------------------------------------------------------------------


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


def episode_goal_points(storage, action_features: Optional[Callable[[Any], np.ndarray]] = None,
                        action_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    if length <= FIRST_GOAL_FRAME:
        raise ValueError(f"{where}: {length} frames, need more than {FIRST_GOAL_FRAME} for a goal point")
    embeds = storage.load_embeds()
    if len(embeds) != length:
        raise ValueError(f"{where}: embeds_attn.pkl has {len(embeds)} entries, len.txt says {length}")
    rows = []
    for t in range(FIRST_GOAL_FRAME, length):
        e = embeds[t]
        if e is None:
            raise ValueError(f"{where}: embeds_attn.pkl entry {t} is None (frames t >= {FIRST_GOAL_FRAME} need an "
                             f"embedding; re-run the embedding step)")
        rows.append(np.asarray(e, dtype=np.float64).reshape(-1))
    dims = {r.shape[0] for r in rows}
    if len(dims) != 1:
        raise ValueError(f"{where}: embeds_attn.pkl holds embeddings of several sizes {sorted(dims)}")
    E = np.stack(rows)
    frames = np.arange(FIRST_GOAL_FRAME, length, dtype=np.int64)
    if action_features is None:
        return E, E.copy(), frames
    actions = storage.load_actions()
    if len(actions) != length:
        raise ValueError(f"{where}: actions.pkl has {len(actions)} actions, len.txt says {length}")
    A = np.stack([np.asarray(action_features(a), dtype=np.float64).reshape(-1) for a in actions])
    H = action_history(A)[FIRST_GOAL_FRAME:]
    return E, np.concatenate([E, action_scale * H], axis=1), frames


def sample_goal_points(episode_dirs: Sequence[str], video_num: int, sample_interval: int, seed: int,
                       use_action_features: bool = True, action_scale: float = 1.0,
                       progress: bool = True, source: str = "the episode list") -> GoalPoints:
    """Pick ``video_num`` episodes and keep every ``sample_interval``-th goal point (spec §7).

    Seeds Python's ``random`` and ``np.random`` with ``seed``, then ``random.sample(episode_dirs, video_num)``
    (as upstream). The stride runs over the concatenation of the chosen episodes' goal points.

    Args:
        episode_dirs: candidate episode directories (the training split).
        video_num: episodes to read; -1 = all.
        sample_interval: keep goal point ``i`` of the concatenation iff ``i % sample_interval == 0``.
        seed: the seed.
        use_action_features: add the action history to the features.
        action_scale: weight of the action history.
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


# ----------------------------------------------------------------------------------------------------------------
# Clustering
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class ClusterResult:
    """Attributes:
        points: float64 [M, P], the space k-means ran in (t-SNE 2-D points, or the features for ``none``).
        labels: int64 [M], cluster of each goal point.
        centroids: float64 [N, P], k-means centres.
        representatives: int64 [N], index (into the goal points) of each cluster's member nearest its centre.
        sizes: int64 [N], members per cluster.
    """

    points: np.ndarray
    labels: np.ndarray
    centroids: np.ndarray
    representatives: np.ndarray
    sizes: np.ndarray


def cluster_goal_points(features: np.ndarray, n_codebook: int, embedding: str = "tsne", seed: int = 1,
                        perplexity: float = 30.0) -> ClusterResult:
    """t-SNE (optional) + k-means, and each cluster's representative member (spec §7 "Clustering").

    Args:
        features: float [M, F] goal-point features.
        n_codebook: N, the number of clusters (codes).
        embedding: ``tsne`` (2-D t-SNE first, sklearn defaults, ``random_state=seed``) or ``none``.
        seed: seeds t-SNE and k-means.
        perplexity: t-SNE perplexity (sklearn default 30; must be < M).
    Raises:
        ValueError: unknown ``embedding``, fewer goal points than ``n_codebook`` (or than the perplexity needs), or
            fewer distinct points than clusters (an empty cluster).
    """
    from sklearn.cluster import KMeans

    features = np.asarray(features, dtype=np.float64)
    m = features.shape[0]
    if n_codebook < 1:
        raise ValueError(f"--n-codebook must be >= 1, got {n_codebook}")
    if m < n_codebook:
        raise ValueError(f"{m} goal points for {n_codebook} codes: lower --sample-interval or raise --video-num")
    if embedding == "tsne":
        from sklearn.manifold import TSNE

        if not perplexity < m:
            raise ValueError(f"t-SNE perplexity {perplexity} must be below the number of goal points ({m}); "
                             f"lower --perplexity or sample more points")
        points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
        points = np.asarray(points, dtype=np.float64)
    elif embedding == "none":
        points = features
    else:
        raise ValueError(f"--embedding must be 'tsne' or 'none', got {embedding!r}")
    kmeans = KMeans(n_clusters=n_codebook, init="k-means++", n_init=10, random_state=seed).fit(points)
    labels = kmeans.labels_.astype(np.int64)
    centroids = np.asarray(kmeans.cluster_centers_, dtype=np.float64)
    reps = np.empty(n_codebook, dtype=np.int64)
    sizes = np.bincount(labels, minlength=n_codebook).astype(np.int64)
    for k in range(n_codebook):
        members = np.nonzero(labels == k)[0]
        if len(members) == 0:
            raise ValueError(f"cluster {k} is empty: the goal points have fewer than {n_codebook} distinct values; "
                             f"lower --n-codebook or sample more points")
        dist = np.linalg.norm(points[members] - centroids[k], axis=1)
        reps[k] = members[int(np.argmin(dist))]
    return ClusterResult(points=points, labels=labels, centroids=centroids, representatives=reps, sizes=sizes)


def label_agreement(embeds: np.ndarray, labels: np.ndarray, codes: np.ndarray) -> float:
    """Fraction of goal points whose cosine-nearest code (the goal prior's label) is their own cluster's code.

    Args:
        embeds: float [M, D] goal embeddings; labels: int [M] their clusters; codes: float [N, D].
    """
    from goal_prior.codebook import nearest_code

    return float(np.mean(nearest_code(embeds, codes) == np.asarray(labels)))


# ----------------------------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------------------------


def _tmp_path(path: str) -> str:
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}")


def plot_clusters(points: np.ndarray, labels: np.ndarray, representatives: np.ndarray, path: str,
                  title: str) -> None:
    """Scatter of 2-D points (min-max normalised), coloured by cluster, representatives in red; PNG, atomic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = np.asarray(points, dtype=np.float64)[:, :2]
    span = p.max(axis=0) - p.min(axis=0)
    p = (p - p.min(axis=0)) / np.where(span > 0, span, 1.0)
    fig, ax = plt.subplots(figsize=(8, 8), dpi=100)
    ax.scatter(p[:, 0], p[:, 1], c=labels, cmap="tab20", s=6, alpha=0.7)
    r = p[representatives]
    ax.scatter(r[:, 0], r[:, 1], c="red", s=30, marker="x", label="codes")
    for k, (x, y) in enumerate(r):
        ax.annotate(str(k), (x, y), fontsize=6, color="red")
    ax.set_title(title)
    ax.legend(loc="upper right")
    tmp = _tmp_path(path)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)


def write_code_gif(storage, frame: int, path: str, n_frames: int = ACTION_HISTORY, fps: float = 20.0) -> list[int]:
    """GIF of the clip ending at ``frame``: frames ``[frame - n_frames + 1, frame]`` (the clip whose embedding is
    the code when ``n_frames`` = 16; spec §7 ``center_<k>.gif``), ``1/fps`` s per frame, looping; atomic.

    Returns:
        ``[start, end)`` of the frames written.
    """
    import imageio.v3 as iio

    start = max(0, int(frame) - n_frames + 1)
    clip = storage.load_frame_array((start, int(frame) + 1))
    tmp = _tmp_path(path)
    try:
        iio.imwrite(tmp, clip, extension=".gif", duration=int(round(1000.0 / fps)), loop=0)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return [start, int(frame) + 1]


def pca_2d(x: np.ndarray) -> np.ndarray:
    """2-D PCA projection (for display of ``--embedding none`` clusters)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    out = x @ vt[:2].T
    if out.shape[1] < 2:
        out = np.concatenate([out, np.zeros((len(out), 2 - out.shape[1]))], axis=1)
    return out


def codebook_dir_name(embedding: str, n_codebook: int, seed: int, use_action_features: bool = True) -> str:
    """``<embedding>_n<N>_s<seed>`` (upstream), plus ``_noact`` without action features."""
    return f"{embedding}_n{n_codebook}_s{seed}" + ("" if use_action_features else "_noact")


# ----------------------------------------------------------------------------------------------------------------
# Script
# ----------------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Flags (spec §7 table; upstream mixes hyphens and underscores, kept for compatibility)."""
    p = argparse.ArgumentParser(description="Build the PTGM goal codebook (centers.pkl) from a training split.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", default=None, help="YAML file of flag values (flag name: value; '-' or '_'); flags "
                                                   "given on the command line override it")
    p.add_argument("--embedding", default="tsne", choices=["tsne", "none"],
                   help="tsne: k-means on a 2-D t-SNE of the features (upstream); none: k-means on the features")
    p.add_argument("--n-codebook", type=int, default=100, help="N, number of codes")
    p.add_argument("--seed", type=int, default=1, help="seeds episode choice, t-SNE and k-means")
    p.add_argument("--video-num", type=int, default=50, help="episodes sampled from the split (-1: all)")
    p.add_argument("--sample-interval", type=int, default=50,
                   help="keep every n-th goal point of the concatenated episodes")
    p.add_argument("--sampling", default="seed1", help="split name: <sampling_dir>/<sampling>_train.txt")
    p.add_argument("--sampling_dir", default="downloads/samplings/", help="folder of the split files")
    p.add_argument("--data_dir", default=None, help="if set, episodes are <data_dir>/<basename of each listed dir>")
    p.add_argument("--output-dir", default="downloads/codebook/", help="the codebook goes to "
                                                                     "<output-dir>/<embedding>_n<N>_s<seed>/")
    p.add_argument("--no-action-features", action="store_true",
                   help="cluster goal embeddings alone (no 16-action history)")
    p.add_argument("--action-scale", type=float, default=1.0, help="weight of the action history in the features")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity")
    p.add_argument("--gif-frames", type=int, default=ACTION_HISTORY, help="frames per center_<k>.gif (0: no GIFs)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    return p


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Defaults < ``--config`` YAML < command line (the same rule as ``steve1/train.py``)."""
    return parse_args_and_sources(argv)[0]


def parse_args_and_sources(argv: Optional[Sequence[str]] = None) -> tuple[argparse.Namespace, dict[str, str]]:
    """:func:`parse_args` plus where each value came from (the flag, or the ``--config`` file and key)."""
    from steve1.train import parse_args_and_sources as parse_with_config

    return parse_with_config(build_parser(), argv)


def check_args(args: argparse.Namespace, sources: Optional[dict] = None) -> None:
    """Check every input before anything is read at length or written: numbers in range, the split file
    ``<sampling_dir>/<sampling>_train.txt`` and ``--data_dir`` present, ``--output-dir`` usable.

    Raises:
        steve1.utils.cli.UsageError: naming the flag or the config file and key, the value and what was expected.
    """
    from steve1.utils.checks import Range, check_input_dir, check_output_dir, check_ranges
    from steve1.utils.cli import UsageError

    sources = sources or {}
    check_ranges(args, {
        "n_codebook": Range(int, lo=1, note="codes"),
        "seed": Range(int),
        "video_num": Range(int, lo=1, allowed=(-1,), note="episodes; -1: all"),
        "sample_interval": Range(int, lo=1, note="goal points"),
        "action_scale": Range(float, lo=0),
        "perplexity": Range(float, lo=0, lo_open=True),
        "gif_frames": Range(int, lo=0, note="frames; 0: no GIFs"),
    }, {k: sources.get(k, "--" + k.replace("_", "-")) for k in vars(args)})
    check_input_dir(args.sampling_dir, sources.get("sampling_dir", "--sampling_dir"), "the folder of the split files")
    split = os.path.join(args.sampling_dir, f"{args.sampling}_train.txt")
    if not os.path.isfile(split):
        raise UsageError(f"{sources.get('sampling', '--sampling')}: {args.sampling}: no split file {split} (write it "
                         f"with python -m steve1.data.sampling.generate_sampling)")
    if args.data_dir is not None:
        check_input_dir(args.data_dir, sources.get("data_dir", "--data_dir"), "the folder of the episodes")
    check_output_dir(args.output_dir, sources.get("output_dir", "--output-dir"))


def run(args: argparse.Namespace) -> dict:
    """Build and write the codebook for parsed ``args``; returns the ``codebook.json`` dict (plus ``out_dir``).

    Raises:
        FileNotFoundError: the split file is missing.
        ValueError: see :func:`sample_goal_points` and :func:`cluster_goal_points`.
    """
    from steve1.data.sampling.generate_sampling import read_episode_list
    from tqdm.auto import tqdm

    from steve1.data.EpisodeStorage import EpisodeStorage

    split = os.path.join(args.sampling_dir, f"{args.sampling}_train.txt")
    episode_dirs = read_episode_list(split)
    if args.data_dir is not None:
        episode_dirs = [os.path.join(args.data_dir, os.path.basename(os.path.normpath(d))) for d in episode_dirs]
    use_actions = not args.no_action_features
    points = sample_goal_points(episode_dirs, args.video_num, args.sample_interval, args.seed,
                                use_action_features=use_actions, action_scale=args.action_scale,
                                progress=not args.no_progress, source=split)
    print(f"[codebook] {len(points)} goal points from {len(points.chosen_episodes)} episodes; features "
          f"{points.features.shape[1]}-d (goal embedding {points.embeds.shape[1]}-d); clustering with "
          f"--embedding {args.embedding} into {args.n_codebook} codes", flush=True)
    result = cluster_goal_points(points.features, args.n_codebook, args.embedding, args.seed, args.perplexity)
    codes = points.embeds[result.representatives]
    n_distinct = len(np.unique(codes, axis=0))
    if n_distinct < len(codes):
        warnings.warn(f"only {n_distinct} of the {len(codes)} codes are distinct embeddings (repeated frames in the "
                      f"data?): cosine labels never pick the later copies; consider a smaller --n-codebook",
                      stacklevel=2)
    agreement = label_agreement(points.embeds, result.labels, codes)

    out_dir = os.path.join(args.output_dir, codebook_dir_name(args.embedding, args.n_codebook, args.seed,
                                                              use_actions))
    os.makedirs(out_dir, exist_ok=True)
    write_codebook(os.path.join(out_dir, "centers.pkl"), codes)
    if args.embedding == "tsne":
        plot_clusters(result.points, result.labels, result.representatives, os.path.join(out_dir, "tsne.png"),
                      f"t-SNE of {len(points)} goal points, {args.n_codebook} clusters (codes in red)")
    else:
        plot_clusters(pca_2d(result.points), result.labels, result.representatives, os.path.join(out_dir, "pca.png"),
                      f"PCA of {len(points)} goal-point features, {args.n_codebook} k-means clusters (codes in red)")
        _atomic_write_bytes(os.path.join(out_dir, "kmeans.npz"), _npz_bytes(
            centroids=result.centroids, action_scale=np.float64(args.action_scale),
            use_action_features=np.bool_(use_actions), action_history=np.int64(ACTION_HISTORY),
            embed_dim=np.int64(points.embeds.shape[1])))

    for name in os.listdir(out_dir):  # GIFs of a previous run with more codes would be misleading
        if name.startswith("center_") and name.endswith(".gif") and name[7:-4].isdigit() and \
                (int(name[7:-4]) >= args.n_codebook or args.gif_frames <= 0):
            os.remove(os.path.join(out_dir, name))
    code_info = []
    for k, i in enumerate(tqdm(result.representatives, desc="code gifs", disable=args.no_progress,
                               dynamic_ncols=True)):
        t = int(points.frames[i])
        info = {"code": k, "episode_dir": points.episode_dirs[i], "frame": t,
                "clip": [t - FIRST_GOAL_FRAME, t + 1], "cluster_size": int(result.sizes[k])}
        if args.gif_frames > 0:
            info["gif"] = f"center_{k}.gif"
            info["gif_frames"] = write_code_gif(EpisodeStorage(points.episode_dirs[i]), t,
                                                os.path.join(out_dir, f"center_{k}.gif"), args.gif_frames)
        code_info.append(info)
    meta = {
        "format": "centers.pkl: pickle list of N numpy float64 (1, D) goal embeddings, in code order",
        "n_codes": int(args.n_codebook),
        "embed_dim": int(points.embeds.shape[1]),
        "label_space": "cosine",
        "label_agreement": agreement,
        "n_goal_points": len(points),
        "feature_dim": int(points.features.shape[1]),
        "split": split,
        "episodes": points.chosen_episodes,
        "codes": code_info,
        "args": {k: v for k, v in vars(args).items()},
    }
    _atomic_write_bytes(os.path.join(out_dir, "codebook.json"), json.dumps(meta, indent=2).encode())
    print(f"[codebook] wrote {out_dir}/centers.pkl ({args.n_codebook} codes); cosine labels agree with the "
          f"clusters on {100 * agreement:.1f}% of the goal points", flush=True)
    return dict(meta, out_dir=out_dir)


def _npz_bytes(**arrays) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a flag or config value out of range, a missing split file, an
    unusable episode, too few goal points for the codes, an output folder that is a file) ends the program with one
    line on stderr naming the flag or file, and exit code 2, before anything is written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    def body():
        args, sources = parse_args_and_sources(argv)
        check_args(args, sources)
        try:
            return run(args)
        except ValueError as e:  # the data and flags do not fit (too few points, bad episodes): named in the message
            from steve1.utils.cli import UsageError

            raise UsageError(str(e)) from e

    return run_main("generate_codebook.py", body)


if __name__ == "__main__":
    main(sys.argv[1:])
