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

``embed --oracle nav_target``: instead, the goal of frame ``g`` is *where the player's walk at ``g`` ends*, relative
to the player (the play data's ``nav_target`` minus ``player_pos``, clipped to +-10 tiles: one-hots of dx and dy,
its four directions, or "not walking", in 512 entries so that the shipped low level can be fine-tuned on it;
:func:`nav_vector`, :func:`nav_embeds`),
``metadata.json`` ``embedder: nav_target_oracle``. Trained with ``goal_lead 0`` and goals 1-2 frames apart, frame
``t``'s goal is its own destination: not hindsight but the teacher's intent at ``t``. It asks whether the low level
fails at night for want of knowing where its teacher goes (information) or for want of doing it when told
(``bench/teacher_agreement.py --goal nav_oracle`` drives a low level with these goals from a shadowing player).
``embed --oracle intent`` adds the player's sub-goal at ``t`` to it (one more active entry, :func:`intent_vector`;
``embedder: intent_oracle``; ``--goal intent_oracle``): where it goes and what for. ``--oracle facing`` writes the
player's facing direction alone (:func:`facing_vector`), ``intent_facing`` the intent plus the facing.

``report``: ``--episodes`` held-out scripted-player episodes (run seed ``--seed``, default 9001, as
``bench/pretraining_report.py``) are written once, copied per goal embedder and embedded (``crafterclip`` with
``--crafterclip`` weights, or one of the oracles: ``subgoal_oracle``, ``nav_target_oracle``, ``intent_oracle``,
``facing_oracle``, ``intent_facing_oracle``); each ``--model NAME,WEIGHTS,EMBEDDER`` (training arguments read from
``<WEIGHTS stem>_args.yaml``, architecture from ``--highlevel_config``'s ``in_model``) is measured by
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
#: The second oracle: where the player's current walk ends, relative to the player (:func:`nav_embeds`).
NAV_EMBEDDER = "nav_target_oracle"
#: Offsets of a walk's destination are clipped to this many tiles per axis: (2 * 10 + 1) ** 2 = 441 codes.
NAV_RADIUS = 10
#: The code of "not walking" (the step is no step of a planned walk).
NAV_NONE = (2 * NAV_RADIUS + 1) ** 2
#: Entries of a nav-target goal in use (:func:`nav_vector`): dx and dy one-hots, four directions, "not walking".
NAV_FEATURES = 2 * (2 * NAV_RADIUS + 1) + 4 + 1
#: The value of an active entry: CrafterCLIP goal entries are about +-1 with norm ~28; 4 entries of 10 give ~20.
NAV_SCALE = 10.0
#: Size of the nav-target goal: the shipped low level's goal size (CrafterCLIP's 512), so that it can be fine-tuned.
NAV_DIM = 512
#: The third oracle: the player's sub-goal and where its current walk ends (:func:`intent_vector`).
INTENT_EMBEDDER = "intent_oracle"
#: The player's facing direction (left, right, up, down as crafter's (dx, dy)): a goal of its own (``facing``) or
#: added to the intent (``intent_facing``), at entries ``FACING_OFFSET + k`` (:func:`facing_vector`).
FACINGS = ((-1, 0), (1, 0), (0, -1), (0, 1))
FACING_EMBEDDER, INTENT_FACING_EMBEDDER = "facing_oracle", "intent_facing_oracle"
#: ``embed --oracle`` -> the embedder name written into ``metadata.json``.
ORACLES = {"subgoal": EMBEDDER, "nav_target": NAV_EMBEDDER, "intent": INTENT_EMBEDDER, "facing": FACING_EMBEDDER,
           "intent_facing": INTENT_FACING_EMBEDDER}
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


def nav_code(offset: Optional[Sequence[int]]) -> int:
    """The index of a walk's destination among the nav-target goals (:func:`nav_goals`): ``offset`` = (dx, dy) in
    tiles from the player to the tile where its walk ends, each clipped to ``[-NAV_RADIUS, NAV_RADIUS]`` (a farther
    target keeps its direction), row-major over dx then dy; None (not walking) -> :data:`NAV_NONE`."""
    if offset is None:
        return NAV_NONE
    r = NAV_RADIUS
    dx, dy = (int(np.clip(int(v), -r, r)) + r for v in offset)
    return dx * (2 * r + 1) + dy


def nav_vector(offset: Optional[Sequence[int]], dim: int = NAV_DIM) -> np.ndarray:
    """The float32 ``[dim]`` goal of a walk's destination ``offset`` (as :func:`nav_code`; None = not walking):
    :data:`NAV_SCALE` at the one-hot of the clipped dx (entries 0-20), of the clipped dy (21-41), at each of
    dx < 0, dx > 0, dy < 0, dy > 0 (42-45), or, not walking, at entry 46 alone; zeros elsewhere.

    Why factorised and scaled: the goal enters the low level as ``Linear(goal)`` added to the image embedding
    (:mod:`steve1.embed_conditioned_policy`); CrafterCLIP goals have entries of about +-1 (norm ~28), so a unit
    one-hot over 442 offsets moved that layer's output ~20x more slowly under Adam (a first 100k-frame fine-tune
    with it was worth 0.008 nats/frame), and offsets that share a row, a column or a direction share entries here.

    Raises:
        ValueError: ``dim`` below :data:`NAV_FEATURES`."""
    if dim < NAV_FEATURES:
        raise ValueError(f"dim must be >= {NAV_FEATURES}, got {dim}")
    e = np.zeros(dim, np.float32)
    if offset is None:
        e[NAV_FEATURES - 1] = NAV_SCALE
        return e
    r, n = NAV_RADIUS, 2 * NAV_RADIUS + 1
    dx, dy = (int(np.clip(int(v), -r, r)) for v in offset)
    e[dx + r] = e[n + dy + r] = NAV_SCALE
    for k, on in enumerate((dx < 0, dx > 0, dy < 0, dy > 0)):
        if on:
            e[2 * n + k] = NAV_SCALE
    return e


def nav_goals(dim: int = NAV_DIM) -> np.ndarray:
    """float32 ``[NAV_NONE + 1, dim]``: row ``c`` = :func:`nav_vector` of the offset whose :func:`nav_code` is ``c``
    (the last row: not walking); a codebook from which a driver picks each step's goal by :func:`nav_code`."""
    r, n = NAV_RADIUS, 2 * NAV_RADIUS + 1
    rows = [nav_vector((c // n - r, c % n - r), dim) for c in range(NAV_NONE)]
    return np.stack(rows + [nav_vector(None, dim)])


def intent_code(offset: Optional[Sequence[int]], subgoal: int) -> int:
    """The index of (sub-goal, walk destination) among :func:`intent_goals`: ``subgoal * (NAV_NONE + 1) +``
    :func:`nav_code` ``(offset)``; ``subgoal`` an index into :data:`tasks.crafter.player.rules.SUBGOALS`."""
    return int(subgoal) * (NAV_NONE + 1) + nav_code(offset)


def intent_vector(offset: Optional[Sequence[int]], subgoal: int, dim: int = NAV_DIM) -> np.ndarray:
    """The float32 ``[dim]`` goal of the player's intent: :func:`nav_vector` ``(offset)`` plus :data:`NAV_SCALE` at
    entry ``NAV_FEATURES + subgoal`` (the sub-goal's one-hot after the walk's entries).

    Raises:
        ValueError: ``subgoal`` outside the sub-goals, or ``dim`` too small for them."""
    from tasks.crafter.player.rules import SUBGOALS

    if not 0 <= int(subgoal) < len(SUBGOALS):
        raise ValueError(f"subgoal must be in 0..{len(SUBGOALS) - 1}, got {subgoal}")
    if dim < NAV_FEATURES + len(SUBGOALS):
        raise ValueError(f"dim must be >= {NAV_FEATURES + len(SUBGOALS)}, got {dim}")
    e = nav_vector(offset, dim)
    e[NAV_FEATURES + int(subgoal)] = NAV_SCALE
    return e


def intent_goals(dim: int = NAV_DIM) -> np.ndarray:
    """float32 ``[len(SUBGOALS) * (NAV_NONE + 1), dim]``: row :func:`intent_code` ``(offset, subgoal)`` =
    :func:`intent_vector` ``(offset, subgoal)``."""
    from tasks.crafter.player.rules import SUBGOALS

    nav = nav_goals(dim)
    out = np.tile(nav, (len(SUBGOALS), 1))
    for k in range(len(SUBGOALS)):
        out[k * len(nav):(k + 1) * len(nav), NAV_FEATURES + k] = NAV_SCALE
    return out


def facing_offset() -> int:
    """First entry of the facing one-hot: after the walk's entries and the sub-goals'."""
    from tasks.crafter.player.rules import SUBGOALS

    return NAV_FEATURES + len(SUBGOALS)


def facing_vector(facing: Sequence[int], dim: int = NAV_DIM) -> np.ndarray:
    """float32 ``[dim]``: :data:`NAV_SCALE` at entry ``facing_offset() + k``, ``k`` the index of ``facing`` (crafter's
    unit (dx, dy), ``info["facing"]``) in :data:`FACINGS`, zeros elsewhere. The facing is not hidden state: every
    move action sets it (also when the move is blocked) and nothing else does, so it is a function of the agent's
    own last move action; the image shows it only as the player sprite's few pixels.

    Raises:
        ValueError: ``facing`` not one of :data:`FACINGS`."""
    f = (int(facing[0]), int(facing[1]))
    if f not in FACINGS:
        raise ValueError(f"facing must be one of {FACINGS}, got {f}")
    e = np.zeros(dim, np.float32)
    e[facing_offset() + FACINGS.index(f)] = NAV_SCALE
    return e


def nav_embeds(nav_target: np.ndarray, player_pos: np.ndarray, dim: int = NAV_DIM) -> list[Optional[np.ndarray]]:
    """Per frame, None for ``t < 15``, else the float32 ``(1, dim)`` :func:`nav_vector` of
    ``nav_target[t] - player_pos[t]`` (int [L, 2] world tiles each, the play data's ``infos.npz``; a ``nav_target``
    row of (-1, -1) = not walking).

    Raises:
        ValueError: shapes that differ or are not [L, 2], or ``dim`` below :data:`NAV_FEATURES`."""
    nav, pos = np.asarray(nav_target, np.int64), np.asarray(player_pos, np.int64)
    if nav.shape != pos.shape or nav.ndim != 2 or nav.shape[1] != 2:
        raise ValueError(f"nav_target {nav.shape} and player_pos {pos.shape} must both be [L, 2]")
    goals = nav_goals(dim)
    return [None if t < FIRST_EMBEDDED else goals[nav_code(None if nav[t, 0] < 0 else nav[t] - pos[t])][None].copy()
            for t in range(len(nav))]


def embed_dataset(data_dir: str, overwrite: bool = False, progress: bool = True,
                  oracle: str = "subgoal") -> dict[str, Any]:
    """Write the oracle embeddings of every valid episode of ``data_dir`` (module docstring); returns a summary.
    ``oracle``: ``"subgoal"`` (:data:`EMBEDDER`, :func:`oracle_embeds`), ``"nav_target"`` (:data:`NAV_EMBEDDER`,
    :func:`nav_embeds`), ``"intent"`` (:data:`INTENT_EMBEDDER`, :func:`intent_vector`), ``"facing"``
    (:func:`facing_vector`) or ``"intent_facing"`` (the sum of the last two).

    Raises:
        ValueError: an unknown ``oracle``; an episode has no recorded ``subgoal_names`` (the nav and intent oracles:
        no ``nav_target`` info; the intent oracles: sub-goal names not those of the player now) or already holds
        another embedder's embeddings (and not ``overwrite``); nothing is written then."""
    from steve1.data.EpisodeStorage import EpisodeStorage
    from steve1.data.generation.embed_episodes import plan

    if oracle not in ORACLES:
        raise ValueError(f"oracle must be one of {sorted(ORACLES)}, got {oracle!r}")
    name = ORACLES[oracle]
    todo, done, invalid = plan(data_dir, name, None, overwrite)  # the embedders' own rule for what to (re)do
    for d in todo:
        st = EpisodeStorage(d)
        if "subgoal_names" not in st.load_metadata():
            raise ValueError(f"{d}: metadata.json has no subgoal_names (not scripted-player play data)")
        if oracle in ("nav_target", "intent", "intent_facing") and "nav_target" not in st.load_infos():
            raise ValueError(f"{d}: infos.npz has no nav_target (play data written before it: regenerate)")
    frames = 0
    for d in tqdm(todo, desc="oracle embeddings", unit="episode", disable=not progress, dynamic_ncols=True):
        st = EpisodeStorage(d)
        meta, infos = st.load_metadata(), st.load_infos()
        if oracle == "subgoal":
            embeds, dim = oracle_embeds(infos["subgoal"], len(meta["subgoal_names"])), len(meta["subgoal_names"])
        elif oracle == "facing":
            embeds = [None if t < FIRST_EMBEDDED else facing_vector(f)[None] for t, f in enumerate(infos["facing"])]
            dim = NAV_DIM
        else:
            embeds, dim = nav_embeds(infos["nav_target"], infos["player_pos"]), NAV_DIM
        if oracle == "intent_facing":
            for t, e in enumerate(embeds):
                if e is not None:
                    e[0] += facing_vector(infos["facing"][t])
        if oracle in ("intent", "intent_facing"):
            from tasks.crafter.player.rules import SUBGOALS

            if list(meta["subgoal_names"]) != list(SUBGOALS):
                raise ValueError(f"{d}: subgoal_names differ from tasks.crafter.player.rules.SUBGOALS")
            for t, e in enumerate(embeds):
                if e is not None:
                    e[0, NAV_FEATURES + int(infos["subgoal"][t])] = NAV_SCALE
        st.update_embeds(embeds)
        st.update_metadata({"embedder": name, "embed_dim": dim, "embedder_weights": None})
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
    e.add_argument("--oracle", choices=sorted(ORACLES), default="subgoal",
                   help=f"the goal written: the player's sub-goal ({EMBEDDER}), where its current walk ends, "
                        f"relative to it ({NAV_EMBEDDER}, nav_vector), both ({INTENT_EMBEDDER}, intent_vector), "
                        f"the player's facing ({FACING_EMBEDDER}, facing_vector) or the intent and the facing "
                        f"({INTENT_FACING_EMBEDDER}); for all but the first train with goal_lead 0 and goals 1-2 "
                        f"frames apart so that frame t's goal is its own")
    r = sub.add_parser("report", help="goal information of low levels on held-out episodes",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("--model", action="append", required=True, metavar="NAME,WEIGHTS,EMBEDDER",
                   help=f"a low level: name, weights file (args beside it), goal embedder (crafterclip or one of "
                        f"{', '.join(ORACLES.values())}); repeat for each model")
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
        if embedder not in ("crafterclip", *ORACLES.values()):
            p.exit(2, f"{p.prog}: error: --model {spec}: embedder {embedder!r} is not crafterclip or one of "
                      f"{', '.join(ORACLES.values())}\n")
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
                summary = embed_dataset(args.data_dir, args.overwrite, oracle=args.oracle)
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
                oracle = {v: k for k, v in ORACLES.items()}.get(embedder)
                if oracle is not None:
                    embed_dataset(data[embedder], oracle=oracle)
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
