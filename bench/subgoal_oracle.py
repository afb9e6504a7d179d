"""How much can a goal tell the low level? A bound with the scripted player's own sub-goal as the goal (issue 18).

    python bench/subgoal_oracle.py embed --data_dir DATA          # write oracle goal embeddings into a dataset
    python bench/subgoal_oracle.py report --model oracle,W1,subgoal_oracle --model clip,W2,crafterclip \
        --episodes 40 --out bench/results/subgoal_oracle.json     # goal information of each model, held-out data

Why: issue 18 asks the goal to be worth at least 0.15 nats/frame of action NLL (``nll_no_goal - nll_true_goal`` on
held-out episodes, :func:`pretraining_report.goal_information`); the CrafterCLIP goal of models v3 is worth 0.025.
This bench asks how much a *perfect* goal clip could be worth on the same data and relabeling: a low level trained
with, as the goal embedding of frame ``g``, the one-hot of the sub-goal the scripted player pursued at ``g`` (the
play data's ``infos.npz`` ``subgoal``, :data:`tasks.crafter.player.rules.SUBGOALS`) instead of the CrafterCLIP
embedding of the clip ``[g - 15, g]``. Hindsight relabeling is unchanged (``steve1.data.minecraft_dataset``: frame
``t`` gets the goal of a time ``g`` 16-75 frames ahead), so this oracle is what an embedder that reads the player's
intent off the goal clip without error would give; it does not see the state at ``g`` (CrafterCLIP does), so it is
a bound on the intent part of the goal, not on everything a goal clip could carry.

``embed``: every episode of ``--data_dir`` (:class:`steve1.data.EpisodeStorage.EpisodeStorage` folders written by
``tasks/crafter/generate_play_data.py``) gets ``embeds_attn.pkl`` = ``None`` for frames 0-14 (as every window
embedder: spec §3.4) then float32 ``(1, K)`` one-hots, K = the episode's ``subgoal_names``; ``metadata.json`` records
``embedder: subgoal_oracle``. Written atomically per episode (:meth:`EpisodeStorage.update_embeds`); which episodes
to embed is decided as for every embedder (:func:`steve1.data.generation.embed_episodes.plan`): oracle embeddings
already there are kept (a rerun resumes), another embedder's are refused unless ``--overwrite`` (a dataset never
mixes goal spaces), invalid episodes are skipped.

``report``: ``--episodes`` held-out scripted-player episodes (run seed ``--seed``, default 9001, as
``bench/pretraining_report.py``) are written once, copied per goal embedder and embedded (``crafterclip`` with
``--crafterclip`` weights, or ``subgoal_oracle``); each ``--model NAME,WEIGHTS,EMBEDDER`` (training arguments read
from ``<WEIGHTS stem>_args.yaml``, architecture from ``--highlevel_config``'s ``in_model``) is measured by
:func:`pretraining_report.goal_information` (true hindsight goal vs zero goal, random actions left out, breakdowns
by sub-goal and sub-goal age). Written (``--out``, atomically): the command and per model the figures.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
from typing import Any, Optional, Sequence

import numpy as np
from tqdm import tqdm

EMBEDDER = "subgoal_oracle"
#: Frames before this index have no goal embedding (window embedders embed frames [t - 15, t]).
FIRST_EMBEDDED = 15


def oracle_embeds(subgoal: np.ndarray, n_subgoals: int) -> list[Optional[np.ndarray]]:
    """Per frame, None for ``t < 15``, else the float32 ``(1, n_subgoals)`` one-hot of ``subgoal[t]``.

    Raises:
        ValueError: a sub-goal id outside ``[0, n_subgoals)``."""
    sub = np.asarray(subgoal, np.int64)
    if len(sub) and (sub.min() < 0 or sub.max() >= n_subgoals):
        raise ValueError(f"sub-goal ids {int(sub.min())}..{int(sub.max())} outside 0..{n_subgoals - 1}")
    eye = np.eye(n_subgoals, dtype=np.float32)
    return [None if t < FIRST_EMBEDDED else eye[s][None] for t, s in enumerate(sub)]


def embed_dataset(data_dir: str, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Write the oracle embeddings of every valid episode of ``data_dir`` (module docstring); returns a summary.

    Raises:
        ValueError: an episode has no recorded ``subgoal_names`` or already holds another embedder's embeddings (and
        not ``overwrite``); nothing is written then."""
    from steve1.data.EpisodeStorage import EpisodeStorage
    from steve1.data.generation.embed_episodes import plan

    todo, done, invalid = plan(data_dir, EMBEDDER, None, overwrite)  # the embedders' own rule for what to (re)do
    for d in todo:
        if "subgoal_names" not in EpisodeStorage(d).load_metadata():
            raise ValueError(f"{d}: metadata.json has no subgoal_names (not scripted-player play data)")
    frames = 0
    for d in tqdm(todo, desc="oracle embeddings", unit="episode", disable=not progress, dynamic_ncols=True):
        st = EpisodeStorage(d)
        meta = st.load_metadata()
        embeds = oracle_embeds(st.load_infos()["subgoal"], len(meta["subgoal_names"]))
        st.update_embeds(embeds)
        st.update_metadata({"embedder": EMBEDDER, "embed_dim": len(meta["subgoal_names"]),
                            "embedder_weights": None})
        frames += len(embeds)
    return {"data_dir": data_dir, "embedded": len(todo), "skipped_existing": len(done), "invalid": len(invalid),
            "frames": frames}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("embed", help="write oracle goal embeddings into a dataset",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("--data_dir", required=True, help="dataset folder of scripted-player episodes")
    e.add_argument("--overwrite", action="store_true", help="replace another embedder's embeddings")
    r = sub.add_parser("report", help="goal information of low levels on held-out episodes",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("--model", action="append", required=True, metavar="NAME,WEIGHTS,EMBEDDER",
                   help=f"a low level: name, weights file (args beside it), goal embedder (crafterclip or "
                        f"{EMBEDDER}); repeat for each model")
    r.add_argument("--highlevel_config", default="configs/crafter/highlevel.yaml",
                   help="config whose in_model (architecture) the low levels share")
    r.add_argument("--crafterclip", default="downloads/crafter/crafterclip.pt", help="CrafterCLIP weights")
    r.add_argument("--episodes", type=int, default=40, help="held-out scripted-player episodes")
    r.add_argument("--max_episode_len", type=int, default=10000, help="env steps per player episode at most")
    r.add_argument("--seed", type=int, default=9001, help="held-out player run seed")
    r.add_argument("--batch_size", type=int, default=8, help="chunks per NLL forward")
    r.add_argument("--out", default="bench/results/subgoal_oracle.json", help="result JSON")
    return p


def parse_models(p: argparse.ArgumentParser, specs: Sequence[str]) -> list[tuple[str, str, str]]:
    """``NAME,WEIGHTS,EMBEDDER`` strings -> tuples; a bad one ends with one line (exit 2)."""
    from pretraining_report import _args_file

    out = []
    for spec in specs:
        parts = spec.split(",")
        if len(parts) != 3 or not all(parts):
            p.exit(2, f"{p.prog}: error: --model {spec}: expected NAME,WEIGHTS,EMBEDDER\n")
        name, weights, embedder = parts
        if embedder not in ("crafterclip", EMBEDDER):
            p.exit(2, f"{p.prog}: error: --model {spec}: embedder {embedder!r} is not crafterclip or {EMBEDDER}\n")
        for path in (weights, _args_file(weights)):
            if not os.path.isfile(path):
                p.exit(2, f"{p.prog}: error: --model {spec}: {path} does not exist\n")
        out.append((name, weights, embedder))
    if len({m[0] for m in out}) != len(out):
        p.exit(2, f"{p.prog}: error: --model: two models share a name\n")
    return out


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    p = build_parser()
    args = p.parse_args(argv)
    from steve1.utils.checks import run_main

    if args.cmd == "embed":
        if not os.path.isdir(args.data_dir):
            p.exit(2, f"{p.prog}: error: --data_dir {args.data_dir}: no such folder\n")

        def embed_body() -> dict[str, Any]:
            from steve1.utils.cli import UsageError

            try:
                summary = embed_dataset(args.data_dir, args.overwrite)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            print(summary)
            return summary

        return run_main("subgoal_oracle.py", embed_body)

    models = parse_models(p, args.model)
    from pretraining_report import check_flags

    check_flags(p, args, positive=("episodes", "max_episode_len", "batch_size"), json_out=("out",))
    if any(e == "crafterclip" for _, _, e in models) and not os.path.isfile(args.crafterclip):
        p.exit(2, f"{p.prog}: error: --crafterclip {args.crafterclip}: no such file\n")
    command = "python bench/subgoal_oracle.py " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None
                                                                                      else argv))

    def report_body() -> dict[str, Any]:
        from hierarchical.build import read_yaml
        from hierarchical.config import with_values
        from hierarchical_throughput import task_config
        from pretraining_report import _args_file, embed_episodes, generate_player_episodes, goal_information
        from steve1.utils.io import atomic_write_json
        from VPT.lib.loading import load_model_config

        base = task_config("crafter_score", {}, args.highlevel_config)
        size = int(load_model_config(base.in_model)[0]["img_shape"][0])
        t0 = time.time()
        result: dict[str, Any] = {"command": command.strip(), "episodes": args.episodes, "seed": args.seed,
                                  "models": {}}
        with tempfile.TemporaryDirectory(prefix="subgoal_oracle_") as tmp:
            plain = os.path.join(tmp, "plain")
            os.makedirs(plain)
            generate_player_episodes(plain, args.seed, args.episodes, args.max_episode_len, size)
            data = {}
            for embedder in sorted({e for _, _, e in models}):
                data[embedder] = os.path.join(tmp, embedder)
                shutil.copytree(plain, data[embedder])
                if embedder == EMBEDDER:
                    embed_dataset(data[embedder])
                else:
                    embed_episodes(data[embedder], args.crafterclip, embedder)
            from steve1.data.EpisodeStorage import list_episode_dirs

            for name, weights, embedder in models:
                cfg = with_values(base, in_weights=weights)
                dirs = list_episode_dirs(data[embedder])
                g = goal_information(cfg, dirs, read_yaml(_args_file(weights)), args.batch_size, args.seed)
                result["models"][name] = {"weights": weights, "embedder": embedder, **g}
                print(f"{name}: nll true goal {g['nll_true_goal']}, no goal {g['nll_no_goal']}, gap {g['gap']}",
                      flush=True)
                atomic_write_json(args.out, {**result, "complete": False})
        result["seconds"] = round(time.time() - t0, 1)
        result["complete"] = True
        atomic_write_json(args.out, result)
        return result

    return run_main("subgoal_oracle.py", report_body)


if __name__ == "__main__":
    main()
