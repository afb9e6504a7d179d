"""Build the goal codebook: the discrete goal space of PTGM (paper §4.2, spec §7).

Run (from the repository root)::

    python goal_prior/generate_codebook.py                                       # upstream recipe (Minecraft)
    python goal_prior/generate_codebook.py --config configs/crafter/codebook.yaml  # Crafter

Every setting lives in the stage's config file (:class:`CodebookConfig`; ``--config``, default
``configs/minecraft/codebook.yaml``, upstream's values); a flag of the same name overrides it (``--n_codebook`` or
upstream's spelling ``--n-codebook``; ``--no-action-features`` sets ``no_action_features``).

Recipe (spec §7):

1. Seed Python's ``random`` and numpy with ``seed``; pick ``video_num`` episodes of the training split
   ``<sampling_dir>/<sampling>_train.txt`` with ``random.sample``.
2. For every frame ``t >= 15`` of each episode, a **goal point** (:mod:`goal_prior.goal_points`): the goal embedding
   ``embeds[t]`` (the embedding of the 16-frame clip ``[t-15, t]``, written by the embedding step) and, unless
   ``no_action_features``, the **action history** ``sum_{k=0..15} action_features(actions[t-k])`` (the current and
   15 previous actions; ``action_features`` comes from the episode's simulator plugin, chosen by ``"sim"`` in its
   ``metadata.json``: 25 numbers per MineRL action dict, a 17-d one-hot per Crafter action). Clustering feature =
   ``[embedding ; action_scale * action history]``, unnormalised as upstream.
3. Keep goal points by ``point_sampling`` (:mod:`goal_prior.goal_points`). ``stride`` (upstream): every
   ``sample_interval``-th goal point of the concatenation of all episodes (the stride runs over the concatenation,
   not per episode, as upstream). ``balanced`` (ours, below): label every goal point with the simulator plugin's
   ``goal_point_labels`` and keep at most ``max_points_per_label`` points per label (seeded random choice).
   ``unlocks`` / ``events`` (ours): only the frames of first-time achievements / of every achievement event, capped
   alike (the goals of the next-unlock / next-event relabeling).
4. (:mod:`goal_prior.clustering`) ``embedding: tsne``: t-SNE to 2-D (sklearn, perplexity ``perplexity``), then
   k-means (``n_codebook`` clusters, k-means++, 10 inits) on the 2-D points. ``embedding: none``: k-means directly
   on the features.
5. For each cluster keep the **real dataset goal embedding** of the member nearest the cluster centre (in the
   clustered space): codes are medoid-like dataset embeddings, never centroids, and carry no action part.

Outputs in ``<output_dir>/<embedding>_n<N>_s<seed>[_noact]/`` (every file written atomically):

* ``centers.pkl``: the upstream format, a pickle list of N numpy ``(1, D)`` float64 arrays in code order (written
  by :func:`goal_prior.codebook.write_codebook`, read by :class:`goal_prior.codebook.KMeansCodebook`);
* ``codebook.json``: where each code came from (episode dir, frame ``t``, its clip ``[t-15, t]``, cluster size;
  with ``balanced`` also its goal-point ``label``), the chosen episodes, the arguments, ``label_agreement`` (below)
  and, with ``balanced``, ``point_labels`` (label -> goal points kept, i.e. what k-means saw) and
  ``point_labels_available`` (label -> goal points of that label in the chosen episodes, before the cap);
* ``config.yaml``: the resolved :class:`CodebookConfig` (the config file's values with the flags applied);
* ``tsne.png`` (``embedding: tsne``) or ``pca.png`` (``none``: a PCA projection of the features, for display
  only): the goal points coloured by cluster, codes in red (:mod:`goal_prior.codebook_plots`);
* ``center_<k>.gif``: the ``gif_frames`` frames of code k's clip (20 fps), so a person can see what each goal means;
* ``kmeans.npz`` (``embedding: none`` only): the k-means centroids in feature space and the feature settings, for
  the optional ``kmeans`` label space of the goal prior.

**Label space of the goal prior (spec §12.1.18).** Clusters are formed in the t-SNE space of ``[embedding ; action
history]``, but the goal prior is trained on labels ``argmax_k cos(goal embedding, code_k)`` in the raw embedding
space (:func:`goal_prior.codebook.nearest_code`). We keep the upstream cosine labelling as the default on
purpose: a code *is* an embedding, the high level executes it by handing ``code_k`` to the goal-conditioned policy,
so the prior should predict which code's embedding best matches the goal that the data actually reached next;
t-SNE cannot place new points (the relabelled goals of the prior's data) in its 2-D map, so the cluster assignment
is undefined for them anyway. ``codebook.json`` reports ``label_agreement``, the fraction of the sampled goal
points whose cosine label is their own cluster, to show how far the two label spaces differ. The alternative, for a
codebook made with ``embedding: none``, is the goal prior's ``--label_space kmeans``: nearest k-means centroid of
the goal's ``[embedding ; action history]`` feature (``kmeans.npz``), i.e. the clustering's own partition.

Where we deliberately differ from upstream (spec §7, §12.1.9):

* ``embedding`` is ``tsne`` in the Minecraft config (upstream's default ``tnse`` was a typo that always raised);
  ``none`` (k-means on the features) is new; ``no_action_features``, ``action_scale``, ``perplexity``,
  ``gif_frames`` and the config file are new;
* all outputs are written atomically; bad input (too few goal points for N codes, an episode without embeddings or
  with a missing one, more episodes requested than the split has) raises an error naming the file;
* episodes are subsampled while they are read (same points as concatenating then striding), so memory stays small;
* ``point_sampling: balanced`` (the Crafter config; issue 18 item 5) replaces upstream's uniform stride: a stride
  keeps frames in proportion to how often the data shows them, so frequent states (walking, sleeping, drinking)
  took most of the clusters and rare sub-goals (a stone pickaxe, iron) got one code or none. Balanced sampling caps
  every label at ``max_points_per_label`` points, chosen at random among ALL goal points of the chosen episodes, so
  each sub-goal the data shows is represented. The k-means recipe is unchanged and every code is still the real
  goal embedding of a dataset frame; only which frames the clustering sees changes. ``point_sampling: stride``
  (the Minecraft config) is upstream's recipe, unchanged.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import typing
import warnings
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from goal_prior.clustering import cluster_goal_points, label_agreement
from goal_prior.codebook import write_codebook
from goal_prior.codebook_plots import pca_2d, plot_clusters, write_code_gif
from goal_prior.goal_points import ACTION_HISTORY, LABELLED_SAMPLINGS, POINT_SAMPLINGS, sample_goal_points
from steve1.data.minecraft_dataset import FIRST_USABLE_FRAME
from steve1.utils.checks import Range
from steve1.utils.config import StageConfig, add_flags, config_dict, flag_values, load_config, setting, write_config
from steve1.utils.io import atomic_write_bytes

#: The config file read when ``--config`` is not given (upstream's recipe, spec §7); relative to the repository root.
DEFAULT_CONFIG = "configs/minecraft/codebook.yaml"

__all__ = [
    "CodebookConfig", "DEFAULT_CONFIG", "codebook_dir_name", "build_parser", "parse_args", "parse_command_line", "check_paths", "run", "main",
]


@dataclass
class CodebookConfig(StageConfig):
    """Settings of ``goal_prior/generate_codebook.py`` (spec §7 table); the values live in
    ``configs/minecraft/codebook.yaml`` (upstream) and ``configs/crafter/codebook.yaml``."""

    embedding: str = setting("tsne: k-means on a 2-D t-SNE of the features (upstream); none: k-means on the features",
                             choices=("tsne", "none"))
    n_codebook: int = setting("N, number of codes", Range(int, lo=1, note="codes"))
    seed: int = setting("seeds episode choice, t-SNE and k-means", Range(int))
    video_num: int = setting("episodes sampled from the split (-1: all)",
                             Range(int, lo=1, allowed=(-1,), note="episodes; -1: all"))
    point_sampling: str = setting("which goal points k-means sees: stride = every sample_interval-th of the "
                                  "concatenated episodes (upstream); balanced = up to max_points_per_label per label "
                                  "of the simulator plugin's goal_point_labels (ours: rare sub-goals not drowned); "
                                  "unlocks = the frames of first-time achievements, capped alike (ours; Crafter); "
                                  "events = the frames of every achievement event, capped alike (ours; Crafter)",
                                  choices=POINT_SAMPLINGS)
    sample_interval: int = setting("stride: keep every n-th goal point of the concatenated episodes (unused by "
                                   "balanced, unlocks and events)", Range(int, lo=1, note="goal points"))
    max_points_per_label: Optional[int] = setting("balanced/unlocks/events: goal points kept per label, a seeded "
                                                  "random choice among all of the chosen episodes (null: only with "
                                                  "stride)",
                                                  Range(int, lo=1, optional=True, note="goal points per label"))
    sampling: str = setting("split name: <sampling_dir>/<sampling>_train.txt")
    sampling_dir: str = setting("folder of the split files")
    data_dir: Optional[str] = setting("if set, episodes are <data_dir>/<basename of each listed dir> (null: as "
                                      "listed)", nullable=True)
    output_dir: str = setting("the codebook goes to <output_dir>/<embedding>_n<N>_s<seed>[_noact]/")
    no_action_features: bool = setting("cluster goal embeddings alone (no 16-action history in the features)")
    action_scale: float = setting("weight of the action history in the features (1.0: upstream)", Range(float, lo=0))
    perplexity: float = setting("t-SNE perplexity (must be below the number of goal points)",
                                Range(float, lo=0, lo_open=True))
    gif_frames: int = setting("frames per center_<k>.gif, ending at the code's frame (16: its goal clip; 0: no GIFs)",
                              Range(int, lo=0, note="frames; 0: no GIFs"))

    def check_consistency(self, sources) -> None:
        """``point_sampling`` balanced, unlocks or events needs ``max_points_per_label``.

        Raises:
            steve1.utils.cli.UsageError: naming where ``max_points_per_label`` (or ``point_sampling``) came from.
        """
        from steve1.utils.cli import UsageError

        if self.point_sampling in LABELLED_SAMPLINGS and self.max_points_per_label is None:
            where = sources.get("max_points_per_label", "config key 'max_points_per_label'")
            raise UsageError(f"{where}: point_sampling {self.point_sampling} (from "
                             f"{sources.get('point_sampling', 'the config')}) needs max_points_per_label, got null "
                             f"(e.g. --max_points_per_label 150)")


#: Upstream's hyphenated spellings (spec §7 table), accepted as well as ``--<field>``; error messages name the
#: spelling that was typed.
_UPSTREAM_FLAGS = {"n_codebook": "--n-codebook", "video_num": "--video-num", "sample_interval": "--sample-interval",
                   "output_dir": "--output-dir", "action_scale": "--action-scale", "gif_frames": "--gif-frames"}


def codebook_dir_name(embedding: str, n_codebook: int, seed: int, use_action_features: bool) -> str:
    """``<embedding>_n<N>_s<seed>`` (upstream), plus ``_noact`` without action features."""
    return f"{embedding}_n{n_codebook}_s{seed}" + ("" if use_action_features else "_noact")


# ----------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """``--config``, a flag per :class:`CodebookConfig` field (plus upstream's hyphenated spellings) and
    ``--no-progress``; every flag defaults to None (= the config file's value)."""
    p = argparse.ArgumentParser(description="Build the PTGM goal codebook (centers.pkl) from a training split.")
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help=f"YAML file with every setting below (default {DEFAULT_CONFIG}: upstream's recipe; Crafter: "
                        "configs/crafter/codebook.yaml); flags given on the command line override it")
    add_flags(p, CodebookConfig)
    hints = typing.get_type_hints(CodebookConfig)
    for name, flag in _UPSTREAM_FLAGS.items():
        p.add_argument(flag, dest=name, type=hints[name], default=None, help=f"same as --{name}")
    p.add_argument("--no-action-features", dest="no_action_features", action="store_const", const=True,
                   default=None, help="same as --no_action_features")
    p.add_argument("--no-progress", "--no_progress", dest="no_progress", action="store_true",
                   help="no tqdm progress bars")
    return p


def _typed_flags(parser: argparse.ArgumentParser, argv: Sequence[str]) -> dict[str, str]:
    """dest -> the option string typed on the command line (the last one of a dest wins, as in argparse)."""
    options = {s: a.dest for a in parser._actions for s in a.option_strings}
    typed = {}
    for token in argv:
        opt = token.split("=", 1)[0]
        if opt in options:
            typed[options[opt]] = opt
    return typed


def parse_command_line(argv: Optional[Sequence[str]] = None
                       ) -> tuple[CodebookConfig, dict[str, str], argparse.Namespace]:
    """The config file (``--config``) with the flags applied, checked once.

    Returns:
        ``(config, sources, args)``: the :class:`CodebookConfig`, key -> where its value came from (the flag as
        typed, or ``<config file> key '<key>'``), and the parsed flags (``args.config``, ``args.no_progress``).
    Raises:
        FileNotFoundError: no config file. steve1.utils.cli.UsageError: an unknown or missing key, a value of the
            wrong type or out of range (naming the flag or the file and key).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    config, sources = load_config(CodebookConfig, args.config, flag_values(args, CodebookConfig),
                                  override_sources=_typed_flags(parser, argv))
    return config, sources, args


def parse_args(argv: Optional[Sequence[str]] = None) -> CodebookConfig:
    """The resolved, checked config of a command line (:func:`parse_command_line`)."""
    return parse_command_line(argv)[0]


def check_paths(config: CodebookConfig, sources: Optional[dict] = None) -> None:
    """Check the paths before anything is read at length or written: the split file
    ``<sampling_dir>/<sampling>_train.txt`` and ``data_dir`` present, ``output_dir`` usable.

    Raises:
        steve1.utils.cli.UsageError: naming the flag or the config file and key, the value and what was expected.
    """
    from steve1.utils.checks import check_input_dir, check_output_dir
    from steve1.utils.cli import UsageError

    sources = sources or {}
    check_input_dir(config.sampling_dir, sources.get("sampling_dir", "--sampling_dir"),
                    "the folder of the split files")
    split = os.path.join(config.sampling_dir, f"{config.sampling}_train.txt")
    if not os.path.isfile(split):
        raise UsageError(f"{sources.get('sampling', '--sampling')}: {config.sampling}: no split file {split} (write "
                         f"it with python -m steve1.data.sampling.generate_sampling)")
    if config.data_dir is not None:
        check_input_dir(config.data_dir, sources.get("data_dir", "--data_dir"), "the folder of the episodes")
    check_output_dir(config.output_dir, sources.get("output_dir", "--output-dir"))


# ----------------------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------------------


def run(config: CodebookConfig, progress: bool = True, config_path: Optional[str] = None) -> dict:
    """Build and write the codebook of ``config``; returns the ``codebook.json`` dict (plus ``out_dir``).

    Args:
        progress: show tqdm bars. config_path: the config file it was read from (recorded in ``codebook.json``).
    Raises:
        FileNotFoundError: the split file is missing.
        ValueError: see :func:`sample_goal_points` and :func:`cluster_goal_points`.
    """
    from tqdm.auto import tqdm

    from steve1.data.EpisodeStorage import EpisodeStorage
    from steve1.data.sampling.generate_sampling import read_episode_list

    c = config
    split = os.path.join(c.sampling_dir, f"{c.sampling}_train.txt")
    episode_dirs = read_episode_list(split)
    if c.data_dir is not None:
        episode_dirs = [os.path.join(c.data_dir, os.path.basename(os.path.normpath(d))) for d in episode_dirs]
    use_actions = not c.no_action_features
    points = sample_goal_points(episode_dirs, c.video_num, c.sample_interval, c.seed,
                                use_action_features=use_actions, action_scale=c.action_scale,
                                progress=progress, source=split, point_sampling=c.point_sampling,
                                max_points_per_label=c.max_points_per_label)
    kept_labels = points.label_counts()
    if kept_labels is not None:
        kept = ", ".join(f"{k} {n}/{points.label_totals[k]}" for k, n in kept_labels.items())
        print(f"[codebook] point_sampling {c.point_sampling}, <= {c.max_points_per_label} per label; goal points "
              f"kept / in the episodes: {kept}", flush=True)
    print(f"[codebook] {len(points)} goal points from {len(points.chosen_episodes)} episodes; features "
          f"{points.features.shape[1]}-d (goal embedding {points.embeds.shape[1]}-d); clustering with "
          f"--embedding {c.embedding} into {c.n_codebook} codes", flush=True)
    result = cluster_goal_points(points.features, c.n_codebook, c.embedding, c.seed, c.perplexity)
    codes = points.embeds[result.representatives]
    n_distinct = len(np.unique(codes, axis=0))
    if n_distinct < len(codes):
        warnings.warn(f"only {n_distinct} of the {len(codes)} codes are distinct embeddings (repeated frames in the "
                      f"data?): cosine labels never pick the later copies; consider a smaller --n-codebook",
                      stacklevel=2)
    agreement = label_agreement(points.embeds, result.labels, codes)

    out_dir = os.path.join(c.output_dir, codebook_dir_name(c.embedding, c.n_codebook, c.seed, use_actions))
    os.makedirs(out_dir, exist_ok=True)
    write_codebook(os.path.join(out_dir, "centers.pkl"), codes)
    write_config(os.path.join(out_dir, "config.yaml"), config)
    if c.embedding == "tsne":
        plot_clusters(result.points, result.labels, result.representatives, os.path.join(out_dir, "tsne.png"),
                      f"t-SNE of {len(points)} goal points, {c.n_codebook} clusters (codes in red)")
    else:
        plot_clusters(pca_2d(result.points), result.labels, result.representatives, os.path.join(out_dir, "pca.png"),
                      f"PCA of {len(points)} goal-point features, {c.n_codebook} k-means clusters (codes in red)")
        atomic_write_bytes(os.path.join(out_dir, "kmeans.npz"), _npz_bytes(
            centroids=result.centroids, action_scale=np.float64(c.action_scale),
            use_action_features=np.bool_(use_actions), action_history=np.int64(ACTION_HISTORY),
            embed_dim=np.int64(points.embeds.shape[1])))

    for name in os.listdir(out_dir):  # GIFs of a previous run with more codes would be misleading
        if name.startswith("center_") and name.endswith(".gif") and name[7:-4].isdigit() and \
                (int(name[7:-4]) >= c.n_codebook or c.gif_frames <= 0):
            os.remove(os.path.join(out_dir, name))
    code_info = []
    for k, i in enumerate(tqdm(result.representatives, desc="code gifs", disable=not progress, dynamic_ncols=True)):
        t = int(points.frames[i])
        info = {"code": k, "episode_dir": points.episode_dirs[i], "frame": t,
                "clip": [t - FIRST_USABLE_FRAME, t + 1], "cluster_size": int(result.sizes[k])}
        if points.labels is not None:
            info["label"] = str(points.labels[i])
        if c.gif_frames > 0:
            info["gif"] = f"center_{k}.gif"
            info["gif_frames"] = write_code_gif(EpisodeStorage(points.episode_dirs[i]), t,
                                                os.path.join(out_dir, f"center_{k}.gif"), c.gif_frames)
        code_info.append(info)
    meta = {
        "format": "centers.pkl: pickle list of N numpy float64 (1, D) goal embeddings, in code order",
        "n_codes": int(c.n_codebook),
        "embed_dim": int(points.embeds.shape[1]),
        "label_space": "cosine",
        "label_agreement": agreement,
        "n_goal_points": len(points),
        "feature_dim": int(points.features.shape[1]),
        "split": split,
        "episodes": points.chosen_episodes,
        **({} if kept_labels is None else {"point_labels": kept_labels,
                                            "point_labels_available": points.label_totals}),
        "codes": code_info,
        "args": {"config": config_path, **config_dict(config), "no_progress": not progress},
    }
    atomic_write_bytes(os.path.join(out_dir, "codebook.json"), json.dumps(meta, indent=2).encode())
    print(f"[codebook] wrote {out_dir}/centers.pkl ({c.n_codebook} codes); cosine labels agree with the "
          f"clusters on {100 * agreement:.1f}% of the goal points", flush=True)
    return dict(meta, out_dir=out_dir)


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a flag or config value out of range, an unknown or missing
    config key, a missing split file, an unusable episode, too few goal points for the codes, an output folder that
    is a file) ends the program with one line on stderr naming the flag or file, and exit code 2, before anything is
    written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    def body():
        config, sources, args = parse_command_line(argv)
        check_paths(config, sources)
        try:
            return run(config, progress=not args.no_progress, config_path=args.config)
        except ValueError as e:  # the data and flags do not fit (too few points, bad episodes): named in the message
            from steve1.utils.cli import UsageError

            raise UsageError(str(e)) from e

    return run_main("generate_codebook.py", body)


if __name__ == "__main__":
    main(sys.argv[1:])
