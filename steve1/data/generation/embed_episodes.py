r"""Write the goal embeddings (``embeds_attn.pkl``) of every episode of a dataset with a chosen goal embedder.

    python -m steve1.data.generation.embed_episodes --embedder crafterclip \
        --weights downloads/crafter/crafterclip.pt --data_dir downloads/dataset_crafter
    python -m steve1.data.generation.embed_episodes --embedder mineclip \
        --weights downloads/mineclip_attn.pth --data_dir downloads/dataset_contractor --device cuda

Settings (:class:`EmbeddingConfig`: ``batch_size``, ``device``, ``torch_threads``) live in ``--config`` (default
``configs/goal_embeddings.yaml``, one file for every simulator); a flag of the same name overrides each; the
resolved settings are part of the JSON summary printed at the end (``"config"``). ``--embedder``, ``--data_dir``
(required), ``--weights`` (default: the embedder's own file), ``--overwrite`` and ``--no_progress`` say what to
embed, not how, and stay flags.

The one place where a dataset gets its goal embeddings after it was written (the Crafter play data is written
without them, because CrafterCLIP is trained on it; contractor episodes converted with ``--no_embeds`` too).
Window semantics as MineCLIP's (spec §3.4): ``embeds[t]`` for ``t >= 15`` embeds frames ``[t-15, t]``, ``None`` for
``t < 15`` (:func:`steve1.data.generation.window_embedding.embed_episode_windows`, which encodes each frame once
when the embedder offers ``encode_frames``/``pool_frames``, as CrafterCLIP does). Embeddings are float32 ``(1, D)``
arrays, not L2-normalised.

Each episode's embeddings are written atomically (:meth:`EpisodeStorage.update_embeds`), then its
``metadata.json`` records ``embedder``, ``embed_dim`` and ``embedder_weights`` (name and md5 of the weights file).
Resumable: an episode whose embeddings exist and whose metadata names the same embedder and weights (md5) is
skipped (``--overwrite`` re-embeds everything); an episode with embeddings from *another* embedder or other weights
(e.g. a retrained CrafterCLIP) stops the run before anything is written, unless ``--overwrite``, so that a dataset
never mixes two goal spaces. Episodes that are not valid (unfinished
writes, < 16 frames) are reported and skipped.

Embedders (``--embedder``), each a :class:`steve1.mineclip.GoalEmbedder` built by its ``from_checkpoint``, are the
simulators' (``tasks.SIMULATORS[sim].goal_embedders``, found with ``tasks.goal_embedders()``; nothing here names a
simulator or an embedder):

* ``crafterclip``: :class:`tasks.crafter.crafterclip.embedder.CrafterCLIPEmbedder` (default weights
  ``downloads/crafter/crafterclip.pt``);
* ``mineclip``: :class:`steve1.mineclip.MineCLIPEmbedder` (default weights ``downloads/mineclip_attn.pth``; on
  CUDA under float16 autocast as upstream). The episodes' 128x128 frames are upsampled to 160x256, which is close to,
  not equal to, embedding the raw frames at conversion time (see ``MineCLIPEmbedder``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from tqdm import tqdm

from steve1.data.EpisodeStorage import EpisodeReadError, EpisodeStorage, list_episode_dirs
from steve1.data.generation.window_embedding import embed_episode_windows
from steve1.utils.checks import Range
from steve1.utils.cli import source_of
from steve1.utils.config import StageConfig, add_flags, config_dict, flag_values, load_config, setting

#: The config file read when ``--config`` is not given (every simulator); relative to the repository root.
DEFAULT_CONFIG = "configs/goal_embeddings.yaml"


@dataclass
class EmbeddingConfig(StageConfig):
    """Settings of the goal-embedding stage (``configs/goal_embeddings.yaml``); a flag of the same name overrides
    each. Throughput knobs only: the embeddings are the same whatever their values, up to float rounding."""

    batch_size: int = setting("16-frame clips per model call", Range(int, lo=1, note="clips per model call"))
    device: Optional[str] = setting("torch device, cpu | cuda (null: cuda if available, else cpu)", nullable=True)
    torch_threads: Optional[int] = setting("torch CPU threads (null: torch's own)", Range(int, lo=1, optional=True))


def default_config() -> EmbeddingConfig:
    """The settings of :data:`DEFAULT_CONFIG` (for callers that embed without a command line).

    Raises:
        FileNotFoundError, steve1.utils.cli.UsageError: as :func:`steve1.utils.config.load_config`.
    """
    return load_config(EmbeddingConfig, DEFAULT_CONFIG, {})[0]


def make_embedder(name: str, weights: Optional[str], device: str) -> Any:
    """Build the goal embedder ``name`` (a simulator's, from the registry ``tasks.goal_embedders()``) from its
    weights file (default weights when ``weights`` is None).

    Raises:
        ValueError: unknown embedder name.
        FileNotFoundError and the embedder's own load errors: missing or wrong weights.
    """
    import tasks

    embedders = tasks.goal_embedders()
    if name not in embedders:
        raise ValueError(f"unknown embedder {name!r}; known: {', '.join(embedders)}")
    return embedders[name].build(weights, device)


def _embedder_names() -> dict:
    import tasks

    return tasks.goal_embedders()


def file_md5(path: os.PathLike) -> str:
    """Hex md5 of a file (read in 1 MiB blocks)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def plan(data_dir: str, embedder_name: str, weights_md5: Optional[str], overwrite: bool
         ) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Sort the episodes of ``data_dir`` into (to embed, already embedded, invalid with reason).

    An episode is already embedded when it has ``embeds_attn.pkl`` and its metadata names the same embedder with
    the same weights (md5), or the same embedder with no weights recorded (e.g. MineCLIP embeddings written by
    ``convert_from_contractor.py``). Embeddings without an embedder in the metadata (an interrupted run) are redone.

    Raises:
        FileNotFoundError: ``data_dir`` does not exist.
        ValueError: episodes hold embeddings of another embedder or other weights and ``overwrite`` is False.
    """
    todo, done, invalid, foreign = [], [], [], []
    for path in list_episode_dirs(data_dir):
        episode = EpisodeStorage(path)
        reason = episode.invalid_reason(for_training=False)
        if reason is not None:
            invalid.append((path, reason))
            continue
        if overwrite or not episode.has_embeds():
            todo.append(path)
            continue
        meta = episode.load_metadata()
        previous = meta.get("embedder")
        previous_md5 = (meta.get("embedder_weights") or {}).get("md5")
        if previous is None:
            todo.append(path)  # embeddings of unknown origin (e.g. an interrupted run): embed again
        elif previous == embedder_name and (previous_md5 is None or weights_md5 is None or previous_md5 == weights_md5):
            done.append(path)
        else:
            foreign.append((path, f"{previous} (weights {meta.get('embedder_weights')})"))
    if foreign:
        kinds = sorted({k for _, k in foreign})
        raise ValueError(f"{data_dir}: {len(foreign)} episodes already hold embeddings of another goal embedder or "
                         f"other weights ({'; '.join(kinds)}; e.g. {foreign[0][0]}); a dataset must not mix goal "
                         f"spaces: pass --overwrite to replace them all with {embedder_name!r} (md5 {weights_md5})")
    return todo, done, invalid


def embed_dataset(data_dir: str, embedder: Any, embedder_name: str, weights_info: dict,
                  batch_size: Optional[int] = None, overwrite: bool = False, progress: bool = True) -> dict:
    """Embed every episode of ``data_dir`` that needs it (module docstring). Returns a summary dict.

    ``batch_size``: clips per model call (None: ``batch_size`` of :data:`DEFAULT_CONFIG`).
    """
    if batch_size is None:
        batch_size = default_config().batch_size
    t0 = time.time()
    todo, done, invalid = plan(data_dir, embedder_name, weights_info.get("md5"), overwrite)
    for path, reason in invalid:
        print(f"skipping {path}: {reason}", file=sys.stderr)
    n_frames = 0
    bar = tqdm(todo, desc=f"embedding with {embedder_name}", unit="episode", disable=not progress)
    for path in bar:
        episode = EpisodeStorage(path)
        frames = episode.load_frame_array()
        embeds = embed_episode_windows(embedder, frames, batch_size=batch_size)
        episode.update_embeds(embeds)
        episode.update_metadata({"embedder": embedder_name, "embed_dim": int(embedder.embed_dim),
                                 "embedder_weights": weights_info})
        n_frames += len(frames)
        bar.set_postfix(frames_per_s=f"{n_frames / max(time.time() - t0, 1e-9):.0f}")
    seconds = time.time() - t0
    return {"data_dir": data_dir, "embedder": embedder_name, "embedded": len(todo), "skipped_existing": len(done),
            "invalid": len(invalid), "frames_embedded": n_frames, "seconds": round(seconds, 1),
            "frames_per_second": round(n_frames / seconds, 1) if seconds > 0 else None}


def build_parser() -> argparse.ArgumentParser:
    """The flags (see ``--help``): what to embed, ``--config`` and a flag per :class:`EmbeddingConfig` field
    (default None: the config file's value)."""
    parser = argparse.ArgumentParser(prog="embed_episodes.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", required=True, choices=sorted(_embedder_names()),
                        help="goal embedder (a simulator's, tasks/__init__.py SIMULATORS)")
    parser.add_argument("--weights", default=None, help="weights file (default: the embedder's, see above)")
    parser.add_argument("--data_dir", required=True, help="dataset folder of EpisodeStorage episodes")
    parser.add_argument("--overwrite", action="store_true", help="re-embed episodes that already have embeddings")
    parser.add_argument("--no_progress", action="store_true", help="no tqdm bar")
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help=f"YAML file with the settings below (default {DEFAULT_CONFIG}); flags override it")
    add_flags(parser, EmbeddingConfig)
    return parser


def check_args(args: argparse.Namespace, config: EmbeddingConfig, sources: Optional[dict] = None) -> str:
    """Check the device, the dataset folder and the weights file before any episode is touched (the numbers were
    checked when the config was loaded); returns the weights path (``--weights`` or the embedder's default).

    Raises:
        steve1.utils.cli.UsageError: naming the flag (or the config file and key), the value and what was expected.
    """
    from steve1.utils.checks import check_input_dir, check_input_file

    if config.device is not None:
        from steve1.utils.checks import check_device

        check_device(config.device, source_of(sources, "device"))
    check_input_dir(args.data_dir, "--data_dir", "a dataset folder of episode directories")
    weights = args.weights or _embedder_names()[args.embedder].default_weights
    check_input_file(weights, "--weights" if args.weights else f"--weights (default of --embedder {args.embedder})",
                     f"the {args.embedder} weights file")
    return weights


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a flag or config value out of range, an unknown or missing
    config key, a missing dataset folder, a missing or
    unreadable weights file, a dataset of another goal space without ``--overwrite``) ends the program with one line
    on stderr naming the flag, and exit code 2, before any episode is written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("embed_episodes.py", lambda: _main(argv), extra=(EpisodeReadError,))


def _main(argv: Optional[Sequence[str]]) -> dict:
    from steve1.utils.cli import UsageError

    args = build_parser().parse_args(argv)
    config, sources = load_config(EmbeddingConfig, args.config, flag_values(args, EmbeddingConfig))
    weights = check_args(args, config, sources)
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    weights_info = {"path": os.path.basename(weights), "md5": file_md5(weights)}
    try:
        plan(args.data_dir, args.embedder, weights_info["md5"], args.overwrite)  # fail on mixed goal spaces early
    except ValueError as e:
        raise UsageError(f"--data_dir {e}") from e
    try:
        embedder = make_embedder(args.embedder, weights, device)
    except (ValueError, KeyError, RuntimeError, OSError) as e:  # not a weights file of this embedder
        raise UsageError(f"--weights {weights}: not usable as {args.embedder} weights: {type(e).__name__}: {e}") from e
    summary = embed_dataset(args.data_dir, embedder, args.embedder, weights_info, config.batch_size, args.overwrite,
                            progress=not args.no_progress)
    summary["config"] = {"config": args.config, **config_dict(config)}  # the resolved settings, with the run's log
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
