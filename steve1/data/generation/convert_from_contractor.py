"""Convert OpenAI VPT contractor episodes (mp4 + JSONL) into the episode dataset: frames, actions, MineCLIP goal
embeddings (spec §3.1-§3.6).

Per episode of the index: download the pair (or read it locally), convert it
(:func:`steve1.data.contractor.load_episode`: null steps dropped, cursor drawn while a GUI is open, 128x128 agent
frames, 160x256 MineCLIP frames), embed every 16-frame window of kept frames with MineCLIP
(:func:`steve1.data.generation.window_embedding.embed_episode_windows`; ``embeds[t]`` for ``t >= 15`` embeds frames
``[t-15, t]``, None before; each frame goes through the ViT once when the embedder offers ``encode_frames`` /
``pool_frames``, else once per window as upstream), and write it atomically as an :class:`steve1.data.EpisodeStorage.EpisodeStorage`
directory ``<output_dir>/contractor_<index with . -> _>_<idx>_contractor_nmFrm<kept frames>_term``.

Upstream (README) usage, one run per data version::

    python -m steve1.data.generation.convert_from_contractor --index 8.x --batch_size 32 --num_episodes -1 \
        --min_timesteps 1 --output_dir downloads/dataset_contractor

Every setting lives in the stage's config file (:class:`ContractorConfig`; ``--config``, default
``configs/minecraft/contractor.yaml``, upstream's values where upstream had them); a flag of the same name overrides
it. The resolved config of a run is written as
``<output_dir>/convert_from_contractor_<index with . -> _>_<first>-<end>_config.yaml`` (its episode range).

Local copies of the data (``<name>.mp4`` + ``<name>.jsonl`` pairs) convert without downloading::

    python -m steve1.data.generation.convert_from_contractor --source_dir /data/contractor/8xx --index 8.x ...
    python -m steve1.data.generation.convert_from_contractor --local_index my_index.json --index 8.x ...

Episode range: ``[start_idx + worker_id * num_episodes, + num_episodes)``; ``--num_episodes -1``: from
``start_idx`` to the end of the index. ``--workers N`` converts N episodes at a time in N processes, each with its
own MineCLIP (``--worker_id`` instead shards the index between separate runs, e.g. on several machines).

Resumable: a rerun skips every episode whose directory exists (an interrupted write leaves only a hidden temporary
directory, never one that reads as valid). An episode whose files are corrupt or truncated, whose download fails,
or that has fewer than ``--min_timesteps`` kept frames is logged with the reason (stderr and
``<output_dir>/convert_from_contractor.log``) and skipped.

Where we deliberately differ from upstream:

* ``--legacy_int_camera`` reproduces upstream's integer-degree camera (spec §12.1.6); the default keeps float
  degrees (see :mod:`steve1.data.contractor`);
* embeddings are float32; on CUDA MineCLIP runs under float16 autocast as upstream, on CPU in float32;
* ``--start_idx`` also offsets ``--worker_id`` ranges (upstream uses it only with ``--num_episodes -1``);
  ``--min_timesteps`` below 16 is raised to 16 (shorter episodes are not valid episodes);
* a directory that exists but is not a valid episode is reported and left alone (upstream: skipped silently);
* the settings come from a config file, and the resolved ones are written with the run;
* each episode's ``metadata.json`` also holds ``"sim"`` (the Minecraft plugin key), its relative path in the index,
  the camera mode and the embedder.
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import multiprocessing
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import tqdm

from steve1.data.contractor import (INDEX_FILES, SIM, ContractorData, ContractorDataError, ContractorIndex,
                                    index_from_source_dir, load_index)
from steve1.data.EpisodeStorage import FRAME_FILES, MIN_EPISODE_FRAMES, TMP_MARKER, EpisodeStorage
from steve1.utils.checks import Range
from steve1.utils.cli import UsageError, source_of
from steve1.utils.config import StageConfig, add_flags, flag_values, load_config, setting, write_config

LOG_FILE = "convert_from_contractor.log"
#: The config file read when ``--config`` is not given; relative to the repository root.
DEFAULT_CONFIG = "configs/minecraft/contractor.yaml"
LOGGER = logging.getLogger("convert_from_contractor")
_DIR_RE = re.compile(r"^contractor_(?P<version>.+)_(?P<idx>\d+)_contractor_nmFrm(?P<length>\d+)_term$")


@dataclass
class ContractorConfig(StageConfig):
    """Settings of the contractor conversion (Minecraft stage 1); the values live in
    ``configs/minecraft/contractor.yaml``; a flag of the same name overrides each (booleans: ``--x``/``--no-x``)."""

    # source
    index: str = setting("contractor data version (also the label of local_index/source_dir episodes)",
                         choices=sorted(INDEX_FILES))
    local_index: Optional[str] = setting("index JSON {basedir, relpaths} to use instead of the official one (a "
                                         "relative basedir is relative to the file; a local folder or a URL); null: "
                                         "the official index", nullable=True)
    source_dir: Optional[str] = setting("folder of local <name>.mp4 + <name>.jsonl pairs (searched recursively, "
                                        "sorted) to convert instead of an index; null: the index", nullable=True)
    cache_dir: str = setting("where downloads are kept meanwhile")
    keep_cache: bool = setting("keep downloaded mp4/jsonl files after conversion")
    # episode range
    worker_id: int = setting("shard number: episodes start_idx + worker_id * num_episodes ...", Range(int, lo=0))
    start_idx: int = setting("first episode index", Range(int, lo=0))
    num_episodes: int = setting("episodes per shard (-1: all from start_idx)",
                                Range(int, lo=1, allowed=(-1,), note="episodes per shard; -1: all from start_idx"))
    # conversion
    output_dir: str = setting("dataset folder (episode dirs)")
    min_timesteps: int = setting("skip episodes with fewer kept frames (>= 16)",
                                 Range(int, lo=MIN_EPISODE_FRAMES, note="kept frames"))
    legacy_int_camera: bool = setting("truncate the camera to whole degrees as upstream did (the released "
                                      "PTGM/STEVE-1 checkpoints were trained on that); false: float degrees")
    max_missing_frames: int = setting("tolerate a video this many frames shorter than its JSONL (the last records "
                                      "are dropped)", Range(int, lo=0, note="frames"))
    frame_format: str = setting("frames file: mp4 (official, lossy mp4v), npz or npy (lossless)",
                                choices=sorted(FRAME_FILES))
    # MineCLIP goal embeddings
    no_embeds: bool = setting("do not embed (write embeds_attn.pkl later with steve1/data/generation/"
                              "embed_episodes.py)")
    batch_size: int = setting("16-frame windows per MineCLIP forward (upstream README: 32)",
                              Range(int, lo=1, note="16-frame windows per forward"))
    mineclip_path: str = setting("MineCLIP checkpoint")
    mineclip_md5: str = setting("expected md5 of the checkpoint ('none': no check)")
    mineclip_config: Optional[str] = setting("JSON object (inline or file) of MineCLIP constructor overrides, e.g. "
                                             "{\"clip_config\": {...}, \"hidden_dim\": 64, \"image_feature_dim\": "
                                             "64} for small test models; null: none", nullable=True)
    device: Optional[str] = setting("torch device (null: cuda if available, else cpu)", nullable=True)
    # parallelism
    workers: int = setting("worker processes, each with its own MineCLIP and one episode in memory (~170 kB per "
                           "kept frame: ~1 GB for a 6000-frame episode)", Range(int, lo=1, note="processes"))
    torch_threads: Optional[int] = setting("torch threads per worker (null: cores / workers with workers > 1, else "
                                           "torch's own)", Range(int, lo=1, optional=True))

    def check_consistency(self, sources: Dict[str, str]) -> None:
        """``num_episodes -1`` needs ``worker_id 0``; at most one of ``local_index`` and ``source_dir``.

        Raises:
            UsageError: naming the flags or the config file and keys.
        """
        if self.num_episodes == -1 and self.worker_id != 0:
            raise UsageError(f"{sources.get('num_episodes', '--num_episodes')} -1 (everything from start_idx) needs "
                             f"worker_id 0, got {sources.get('worker_id', '--worker_id')} {self.worker_id}")
        if self.local_index is not None and self.source_dir is not None:
            where = f"{sources.get('local_index', '--local_index')}/{sources.get('source_dir', '--source_dir')}"
            raise UsageError(f"{where}: give at most one, got {self.local_index!r} and {self.source_dir!r}")


def torch_threads(config: ContractorConfig) -> Optional[int]:
    """Torch threads per worker: ``torch_threads``, or with null ``cores // workers`` (at least 1) when
    ``workers > 1``, else None (torch's own)."""
    if config.torch_threads is not None:
        return config.torch_threads
    return max(1, (os.cpu_count() or 1) // config.workers) if config.workers > 1 else None


def config_file_name(version: str, episodes: range) -> str:
    """``convert_from_contractor_<version with . -> _>_<first>-<end>_config.yaml``: the resolved config of the run
    that converts ``episodes`` (one file per shard, so shards writing into one folder keep theirs)."""
    return f"convert_from_contractor_{version.replace('.', '_')}_{episodes.start}-{episodes.stop}_config.yaml"


# ---------------------------------------------------------------------------------------------------- naming
def episode_prefix(version: str, idx: int) -> str:
    """``contractor_<version with . -> _>_<idx>``: the part of an episode's directory name known before conversion."""
    return f"contractor_{version.replace('.', '_')}_{idx}"


def episode_dir_name(version: str, idx: int, length: int) -> str:
    """Directory name of a converted episode (spec §3.5): ``<prefix>_contractor_nmFrm<length>_term``."""
    return f"{episode_prefix(version, idx)}_contractor_nmFrm{length}_term"


def existing_episodes(output_dir: os.PathLike, version: str) -> Dict[int, Path]:
    """Episode index -> directory, for the directories of ``version`` under ``output_dir`` (hidden temporary
    directories of unfinished writes are ignored)."""
    out: Dict[int, Path] = {}
    if not os.path.isdir(output_dir):
        return out
    tag = version.replace(".", "_")
    for name in os.listdir(output_dir):
        m = _DIR_RE.match(name)
        if m and m.group("version") == tag and os.path.isdir(os.path.join(output_dir, name)):
            out[int(m.group("idx"))] = Path(output_dir) / name
    return out


def episode_range(num_in_index: int, worker_id: int, num_episodes: int, start_idx: int) -> range:
    """Indices to convert (see the module doc), clipped to the index.

    Raises:
        ValueError: negative ``start_idx``/``worker_id``, ``num_episodes`` 0 or below -1, or ``num_episodes=-1``
            with ``worker_id != 0``.
    """
    if start_idx < 0 or worker_id < 0:
        raise ValueError(f"start_idx and worker_id must be >= 0, got {start_idx}, {worker_id}")
    if num_episodes == -1:
        if worker_id != 0:
            raise ValueError("--num_episodes -1 (everything from --start_idx) needs --worker_id 0")
        return range(min(start_idx, num_in_index), num_in_index)
    if num_episodes < 1:
        raise ValueError(f"--num_episodes must be >= 1 or -1, got {num_episodes}")
    start = start_idx + worker_id * num_episodes
    return range(min(start, num_in_index), min(start + num_episodes, num_in_index))


# ---------------------------------------------------------------------------------------------------- embedder
def make_embedder(args: ContractorConfig):
    """The MineCLIP :class:`steve1.mineclip.GoalEmbedder` of the run (None with ``--no_embeds``).

    Raises:
        FileNotFoundError, ValueError: from :func:`steve1.mineclip.load_mineclip` (missing or wrong checkpoint).
    """
    if args.no_embeds:
        return None
    import torch

    from steve1.mineclip import MineCLIPEmbedder

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    overrides = _read_json_arg(args.mineclip_config, "--mineclip_config") or {}
    md5 = None if args.mineclip_md5.lower() == "none" else args.mineclip_md5
    return MineCLIPEmbedder.from_checkpoint(args.mineclip_path, device=device, amp=True, md5=md5, **overrides)


def _read_json_arg(value: Optional[str], flag: str) -> Optional[dict]:
    """A JSON object given inline or as a file path."""
    if value is None:
        return None
    text = Path(value).read_text() if os.path.isfile(value) else value
    try:
        data = json.loads(text)
    except ValueError as e:
        raise UsageError(f"{flag}: neither a JSON file nor a JSON object: {value!r} ({e})") from e
    if not isinstance(data, dict):
        raise UsageError(f"{flag}: expected a JSON object, got {type(data).__name__}")
    return data


# ---------------------------------------------------------------------------------------------------- one episode
@dataclass
class EpisodeResult:
    """Outcome of one episode: ``status`` is ``converted``, ``exists``, ``too_short`` or ``failed``."""

    idx: int
    status: str
    detail: str = ""
    length: int = 0
    seconds: float = 0.0


def convert_episode(data: ContractorData, idx: int, embedder: Any, args: ContractorConfig) -> EpisodeResult:
    """Fetch, convert, embed and write episode ``idx``. Never raises for a bad episode: the reason is in the
    returned :class:`EpisodeResult` (``KeyboardInterrupt`` and other non-``Exception`` errors propagate)."""
    from steve1.data.generation.window_embedding import embed_episode_windows

    t0 = time.perf_counter()
    where = f"{data.version} #{idx} ({data.index.relpaths[idx]})"
    try:
        episode = data.load(idx, legacy_int_camera=args.legacy_int_camera, max_missing_frames=args.max_missing_frames)
    except (ContractorDataError, OSError) as e:
        return EpisodeResult(idx, "failed", f"{where}: {type(e).__name__}: {e}", seconds=time.perf_counter() - t0)
    length = len(episode.actions)
    min_frames = max(args.min_timesteps, MIN_EPISODE_FRAMES)
    if length < min_frames:
        return EpisodeResult(idx, "too_short", f"{where}: {length} kept frames < {min_frames}", length,
                             time.perf_counter() - t0)
    try:
        embeds = None
        metadata: Dict[str, Any] = {
            "contractor_version": data.version,
            "contractor_index": idx,
            "sim": SIM,
            "contractor_relpath": data.index.relpaths[idx],
            "camera": "legacy_int_degrees" if args.legacy_int_camera else "float_degrees",
        }
        if embedder is not None:
            embeds = embed_episode_windows(embedder, episode.frames_mineclip, batch_size=args.batch_size)
            metadata.update(embedder="mineclip", embed_dim=int(embedder.embed_dim))
        path = Path(args.output_dir) / episode_dir_name(data.version, idx, length)
        EpisodeStorage(path).write_episode(episode.frames, episode.actions, metadata=metadata, embeds=embeds,
                                           frame_format=args.frame_format)
    except Exception as e:  # a write or model error for this episode: report it, go on with the others
        return EpisodeResult(idx, "failed", f"{where}: {type(e).__name__}: {e}", length, time.perf_counter() - t0)
    return EpisodeResult(idx, "converted", str(path), length, time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------- workers
_WORKER: Dict[str, Any] = {}


def _worker_init(args: ContractorConfig, index: ContractorIndex) -> None:
    """Set up a worker: its torch threads, data source and own MineCLIP. A failure is kept and raised by the first
    :func:`_worker_convert` (an exception escaping a ``Pool`` initializer makes the pool respawn workers forever)."""
    import torch

    _WORKER.clear()
    try:
        threads = torch_threads(args)
        if threads is not None:
            torch.set_num_threads(max(1, threads))
        _WORKER["args"] = args
        _WORKER["data"] = ContractorData(index, args.cache_dir, keep_cache=args.keep_cache)
        _WORKER["embedder"] = make_embedder(args)
    except Exception as e:
        _WORKER["init_error"] = f"{type(e).__name__}: {e}"


def _worker_convert(idx: int) -> EpisodeResult:
    if "init_error" in _WORKER:
        raise RuntimeError(f"worker setup failed: {_WORKER['init_error']}")
    return convert_episode(_WORKER["data"], idx, _WORKER["embedder"], _WORKER["args"])


# ---------------------------------------------------------------------------------------------------- main
class _TqdmHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        tqdm.tqdm.write(self.format(record), file=sys.stderr)


def _setup_logging(output_dir: str) -> logging.Logger:
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False
    for handler in list(LOGGER.handlers):
        LOGGER.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    for handler in (logging.FileHandler(os.path.join(output_dir, LOG_FILE)), _TqdmHandler()):
        handler.setFormatter(formatter)
        LOGGER.addHandler(handler)
    return LOGGER


def build_parser() -> argparse.ArgumentParser:
    """``--config`` and a flag per :class:`ContractorConfig` field; every flag defaults to None (= the config file's
    value)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help=f"YAML file with every setting below (default {DEFAULT_CONFIG}); flags given on the command "
                        "line override it")
    add_flags(p, ContractorConfig)
    return p


def parse_command_line(argv: Optional[Sequence[str]] = None) -> tuple[ContractorConfig, Dict[str, str]]:
    """The config file (``--config``) with the flags applied, checked once (types, ranges, choices, the cross-field
    rules of :meth:`ContractorConfig.check_consistency`).

    Returns:
        ``(config, sources)``: the :class:`ContractorConfig` and key -> where its value came from.
    Raises:
        FileNotFoundError: no config file. steve1.utils.cli.UsageError: an unknown or missing key, a value of the
            wrong type or out of range (naming the flag, or the file and key).
    """
    args = build_parser().parse_args(argv)
    return load_config(ContractorConfig, args.config, flag_values(args, ContractorConfig))


def parse_args(argv: Optional[Sequence[str]] = None) -> ContractorConfig:
    """The resolved, checked config of a command line (:func:`parse_command_line`)."""
    return parse_command_line(argv)[0]


def check_args(args: ContractorConfig, sources: Optional[Dict[str, str]] = None) -> None:
    """Check the paths before the index is read or anything is written (the numbers were checked when the config
    was loaded): the source present, ``output_dir`` and ``cache_dir`` usable, the MineCLIP checkpoint present and
    ``mineclip_config`` a JSON object, ``device`` available.

    Raises:
        steve1.utils.cli.UsageError: naming the flag or the config file and key, the value and what was expected.
    """
    from steve1.utils.checks import check_input_dir, check_input_file, check_output_dir

    where = functools.partial(source_of, sources)

    if args.local_index is not None and not re.match(r"^[a-z]+://", str(args.local_index)):
        check_input_file(args.local_index, where("local_index"), "an index JSON {basedir, relpaths}")
    if args.source_dir is not None:
        check_input_dir(args.source_dir, where("source_dir"), "a folder of <name>.mp4 + <name>.jsonl pairs")
    check_output_dir(args.output_dir, where("output_dir"))
    check_output_dir(args.cache_dir, where("cache_dir"))
    if not args.no_embeds:
        if not os.path.isfile(args.mineclip_path):
            raise UsageError(f"{where('mineclip_path')}: MineCLIP checkpoint not found: {args.mineclip_path} (bash "
                             "downloads.sh fetches it; or pass --no_embeds and embed later with embed_episodes.py)")
        _read_json_arg(args.mineclip_config, where("mineclip_config"))
        if args.device is not None:
            from steve1.utils.checks import check_device

            check_device(args.device, where("device"))


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, List[EpisodeResult]]:
    """Run the conversion; returns the results grouped by status (``converted``, ``exists``, ``too_short``,
    ``failed``). A user's mistake (a flag or config value out of range, an unknown or missing config key, a missing
    or unreadable index, source folder or MineCLIP checkpoint, an output folder that is a file) ends the program
    with one line on stderr naming the flag (or the config file and key), and exit code 2, before anything is
    written (``steve1.utils.cli``); a bad episode is logged and skipped."""
    from steve1.utils.checks import run_main

    return run_main("convert_from_contractor.py", lambda: _main(argv))


def _main(argv: Optional[Sequence[str]]) -> Dict[str, List[EpisodeResult]]:
    args, sources = parse_command_line(argv)
    check_args(args, sources)
    try:
        if args.source_dir is not None:
            index = index_from_source_dir(args.source_dir, args.index)
        else:
            index = load_index(args.index, args.local_index, cache_dir=args.cache_dir)
    except (ContractorDataError, OSError) as e:
        key = "source_dir" if args.source_dir is not None else "local_index" if args.local_index else "index"
        flag = sources.get(key, f"--{key}")
        raise UsageError(f"{flag}: cannot read the contractor index: {e}") from e
    todo_range = episode_range(len(index), args.worker_id, args.num_episodes, args.start_idx)
    _worker_init(args, index)  # this process's converter and MineCLIP: a bad checkpoint stops here, nothing written
    if "init_error" in _WORKER:
        raise UsageError(f"{sources.get('mineclip_path', '--mineclip_path')} {args.mineclip_path}: cannot load "
                         f"MineCLIP: {_WORKER['init_error']}")
    os.makedirs(args.output_dir, exist_ok=True)
    log = _setup_logging(args.output_dir)
    write_config(os.path.join(args.output_dir, config_file_name(args.index, todo_range)), args)
    log.info(f"index {index.source} ({args.index}): {len(index)} episodes; converting [{todo_range.start}, "
             f"{todo_range.stop}) into {args.output_dir} with {args.workers} worker(s)")

    results: Dict[str, List[EpisodeResult]] = {"converted": [], "exists": [], "too_short": [], "failed": []}
    existing = existing_episodes(args.output_dir, args.index)
    leftovers = sorted(name for name in os.listdir(args.output_dir)
                       if name.startswith(f".contractor_{args.index.replace('.', '_')}_") and TMP_MARKER in name)
    if leftovers:
        log.warning(f"{len(leftovers)} temporary directories of interrupted writes in {args.output_dir} (e.g. "
                    f"{leftovers[0]}): they are ignored; delete them when no other conversion is running")
    todo = []
    for idx in todo_range:
        if idx in existing:
            reason = EpisodeStorage(existing[idx]).invalid_reason()
            if reason is not None:
                log.warning(f"episode {idx}: {existing[idx]} exists but is not a valid episode ({reason}); "
                            "delete it to convert the episode again")
            results["exists"].append(EpisodeResult(idx, "exists", str(existing[idx])))
        else:
            todo.append(idx)
    if results["exists"]:
        log.info(f"{len(results['exists'])} episodes already converted, skipped")

    def record(result: EpisodeResult) -> None:
        results[result.status].append(result)
        if result.status == "converted":
            log.info(f"episode {result.idx}: {result.length} frames -> {result.detail} ({result.seconds:.1f} s)")
        else:
            log.warning(f"episode {result.idx} skipped ({result.status}): {result.detail}")

    if todo:
        with tqdm.tqdm(total=len(todo), desc="episodes", unit="ep", file=sys.stderr) as bar:
            if args.workers == 1:
                for idx in todo:
                    record(_worker_convert(idx))
                    bar.update(1)
            else:
                _WORKER.clear()  # the workers load their own MineCLIP
                ctx = multiprocessing.get_context("spawn")  # fresh interpreters: safe with torch threads and CUDA
                with ctx.Pool(args.workers, initializer=_worker_init, initargs=(args, index)) as pool:
                    for result in pool.imap_unordered(_worker_convert, todo):
                        record(result)
                        bar.update(1)
    frames = sum(r.length for r in results["converted"])
    log.info(f"done: {len(results['converted'])} converted ({frames} frames), {len(results['exists'])} already there, "
             f"{len(results['too_short'])} too short, {len(results['failed'])} failed")
    return results


if __name__ == "__main__":
    main()
