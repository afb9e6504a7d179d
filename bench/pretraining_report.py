"""Measure the shipped pre-trained Crafter models in one command (issue 18, Build item 6 and "Must show").

    python bench/pretraining_report.py                      # full protocol (hours on 2 CPU cores)
    python bench/pretraining_report.py --quick              # tiny counts, a few minutes: checks that it runs
    python bench/pretraining_report.py --sections player goal_information prior   # only some figures
    python bench/pretraining_report.py --merge a.json b.json    # one report from parts measured side by side

The models are those of the high-level config (``--highlevel_config``, default ``configs/crafter/highlevel.yaml``:
``in_model``/``in_weights`` = the goal-conditioned low level, ``prior_weights``, ``codebook``, ``goal_embedder``,
``cond_scale``, ``low_level_steps``); the relabeling settings are read from the training-argument files written
beside the weights (``--low_level_args``, default ``<in_weights stem>_args.yaml``; ``--prior_args`` likewise), so
the report works on any retrained model set without code changes. Nothing is hard-coded about the model sizes.

Figures (keys of ``--out_json``; "held-out" = scripted-player episodes of run seed ``--seed``, default 9001,
disjoint from the play dataset's seed 0; episode ``i`` is ``tasks.crafter.generate_play_data``'s episode ``i`` of
that seed, from an empty inventory, so these are the episodes of ``bench/player_report.py --seed 9001``):

* ``player``: ``--player_episodes`` scripted-player episodes written by
  :func:`tasks.crafter.generate_play_data.generate_episode` into a temporary folder and summarised by
  :func:`player_report.summarize` (median length in env steps, per-achievement success rate = share of episodes that
  unlocked it).
* ``goal_information``: those episodes are embedded with the config's goal embedder through
  :func:`steve1.data.generation.embed_episodes.embed_dataset` and relabeled by
  :class:`steve1.data.minecraft_dataset.MinecraftDataset` with the low level's own training settings (``T``,
  ``min_btwn_goals``, ``max_btwn_goals``, ``goal_lead`` (absent = 0), ``trunc_t``, no goal dropout). The action NLL
  (nats per frame, natural log) of the low level is computed as in ``steve1/train.py`` ``evaluate`` (the policy's
  forward and ``pi_head.logprob``, ``trunc_t`` windows with the recurrent state carried through each chunk), once
  with the true hindsight goal and once with the zero goal (the classifier-free-dropout branch = the unconditional
  policy); frames whose action was the player's random action (``infos.npz`` ``random_action``) are left out.
  ``gap = nll_no_goal - nll_true_goal``. The same figures are broken down (``by_subgoal``) by the sub-goal the
  player pursued at each frame (``infos.npz`` ``subgoal``) and (``by_subgoal_age``) by the frames since the player
  chose it (:data:`AGE_BINS`): a goal 16-75 (or 16-35) frames ahead can only tell the policy something its own past
  does not where the player has just chosen what to do next; and (``by_target_view``) by whether what the sub-goal
  heads for (:data:`SUBGOAL_TARGETS`) is in the frame's view: the player remembers every tile it has seen, the
  policy the last 64 frames; and (``by_goal_horizon``) by the frame's goal horizon (:data:`HORIZON_BINS`, env
  steps from the frame to its goal in the relabeling): how much a goal is worth as it lies further ahead; and
  (``by_event``, where the episodes hold ``achievements``) on the frames that brought each achievement about (lag 0,
  e.g. the ``do`` that mines coal) and the frame before (lag 1, e.g. the move that faces the coal), with the mean
  probability of the player's action besides the NLL (:func:`event_frames`); and (``by_approach``, Crafter's
  episodes with ``view`` and ``facing``) on the frames where exactly one tile beside the player holds a collecting
  sub-goal's material and the player does not face it (:func:`approach_frames`), split by whether the player
  pursues that sub-goal (``pursued``: it then turns to the material) or another (``not_pursued``): how often the
  player turns to it and the low level's mean probability of that turn with the true goal and the zero goal.
* ``prior``: the goal prior's NLL (nats per frame) of the code labels of the same episodes
  (:class:`goal_prior.dataset.MinecraftGoalPriorDataset` with the prior's training settings), and ``label_entropy``,
  the entropy (nats) of the empirical code-label frequencies of those frames (what a prior that ignores the state
  could reach at best on them; issue 18 asks for ``nll <= 0.8 * label_entropy``).
* ``competence``: for each achievement of ``--achievements`` a start where it is the next link, taken from the
  held-out player episodes: with ``u`` the first frame showing the achievement unlocked, the start is the later of
  (a) the first frame of the contiguous run of the sub-goal the player was pursuing at frame ``u - 1`` and (b) the
  first frame from which the achievement's item requirements (crafter ``data.yaml``: ``collect.require``,
  ``place.uses``, ``make.uses``) held until ``u - 1``; ``teacher_within_horizon`` is the share of starts from
  which the player itself unlocked it within ``--horizon`` env steps. The start state is rebuilt by replaying the
  episode's actions
  in its world (``reset(options={"world_seed": w})``; checked against the recorded achievements and inventory) and
  snapshotted (``copy.deepcopy`` of the env, exact: Crafter is deterministic), so every code starts from the same
  state. Achievements that no held-out episode unlocked fall back to a task start: an empty inventory plus the
  required items, in world ``--seed`` + j (``"start": "inventory"`` in the JSON). Each code is held fixed (re-issued
  every ``low_level_steps``, guidance ``cond_scale``) through :class:`hierarchical.high_level_wrapper.HighlevelVecEnv`
  for up to ``--horizon`` env steps; success = the achievement's counter rises. To bound the cost, every code (and
  the zero goal, for comparison) is first screened on the first ``--screen_worlds`` starts; the ``--top_codes`` best
  (success, then fewer steps) are then measured afresh on all starts (up to ``--worlds``), and the best of them
  is ``best_code``. These are the *selection* starts (``selection`` in the JSON, with each code's rate there): a
  rate picked as the largest of ``--top_codes`` on the same starts is biased upwards (models v7: ``collect_coal``
  0.75 there, 0.425 for the same code on 40 other starts). So ``best_code`` and the zero goal are then measured on
  *test* starts, found by the same rule in ``--test_episodes`` further player episodes of run seed
  ``--test_seed`` (up to ``--test_worlds`` starts; inventory starts in worlds ``--test_seed`` + j where those
  episodes hold none), and ``success``, ``unconditional_success``, ``worlds``, ``starts`` and
  ``teacher_within_horizon`` are those of the test starts: an estimate the choice of the code does not bias.
  Before session 37 the report gave the selection figures as ``success`` (kept in ``selection``).
* ``survival_under_prior``: the low level with codes drawn from the goal prior every ``low_level_steps`` (no RL),
  from an empty inventory, ``--survival_worlds`` worlds (``crafter_score`` task: Crafter's reward and length, no
  success ending): median episode length (env steps).
* ``prior_driven_success`` / ``unconditional_success``: success rate on ``--tasks`` with codes from the prior, and
  with the zero goal (the unconditional low level), ``--task_episodes`` worlds each.
  Prior codes (here and for survival) are drawn at ``--prior_temperature`` (default 1.0, the prior as trained) and
  never from the codes labelled ``--prior_exclude_labels`` (default none); the issue's figures use the defaults, the
  rest is a diagnostic (``bench/results/prior_driven_knobs/``).
* ``unconditional_bc_crafter_score``: the zero-goal low level alone on ``crafter_score`` over ``--score_episodes``
  episodes, scored by :func:`tasks.crafter.score.score_from_rates` (Hafner 2022).
* ``pipeline_hours``: from ``pipeline.json`` beside the low-level weights (its recorded seconds), else null.

Episode ``j`` of a figure is played in Crafter world ``--seed + j`` (the same worlds for prior and zero goal).
Written: ``--out_json`` (atomically), with the command, the counts and ``"quick"``; it is also rewritten after
each figure with ``"complete": false``, so an interrupted run keeps what it measured; and the section of
``--readme`` between ``<!-- pretraining_report:begin -->`` and ``<!-- pretraining_report:end -->`` (appended when
absent; written atomically).

On 2 cores the figures can be measured by two processes at once, each with the same counts, its own
``--sections``, ``--out_json`` and a scratch ``--readme``; ``--merge PART.json ...`` then writes the one report
(``--out_json`` and the README section) from the parts without measuring anything (:func:`merge_reports`).
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import pickle
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import gymnasium
import numpy as np
from tqdm import tqdm

SECTIONS = ("player", "goal_information", "prior", "competence", "survival_under_prior", "prior_driven_success",
            "unconditional_bc_crafter_score", "pipeline_hours")
#: The sub-goals of issue 18's competence figure.
ACHIEVEMENTS_DEFAULT = ("collect_wood", "place_table", "make_wood_pickaxe", "collect_stone", "make_stone_pickaxe",
                        "collect_coal", "collect_drink", "eat_cow", "place_furnace", "collect_iron",
                        "make_iron_pickaxe")
#: Where each collected item comes from (crafter ``data.yaml`` ``collect`` keys).
ITEM_SOURCE = {"wood": "tree", "stone": "stone", "coal": "coal", "iron": "iron", "diamond": "diamond",
               "drink": "water", "sapling": "grass"}
README_BEGIN = "<!-- pretraining_report:begin -->"
README_END = "<!-- pretraining_report:end -->"
#: Issue 18's competence targets: success within ``--horizon`` env steps (the default for every other link).
COMPETENCE_TARGET_DEFAULT = 0.8
COMPETENCE_TARGETS = {"place_furnace": 0.5, "collect_iron": 0.5, "make_iron_pickaxe": 0.5}
#: Counts of a ``--quick`` run (each can still be overridden by its flag).
QUICK = {"player_episodes": 3, "max_episode_len": 600, "worlds": 3, "screen_worlds": 1, "top_codes": 2,
         "test_episodes": 2, "test_worlds": 2, "survival_worlds": 3, "task_episodes": 3, "score_episodes": 3,
         "horizon": 100}
FULL = {"player_episodes": 24, "max_episode_len": 10000, "worlds": 20, "screen_worlds": 3, "top_codes": 5,
        "test_episodes": 100, "test_worlds": 20, "survival_worlds": 20, "task_episodes": 40, "score_episodes": 100,
        "horizon": 200}


# ----------------------------------------------------------------------------------------------------------------
# Held-out player episodes
# ----------------------------------------------------------------------------------------------------------------

def generate_player_episodes(out_dir: str, seed: int, n: int, max_episode_len: int, size: int) -> list[str]:
    """Write scripted-player episodes ``0 .. n-1`` of run seed ``seed`` (empty start inventory) into ``out_dir``
    with :func:`tasks.crafter.generate_play_data.generate_episode`; returns their folders."""
    from tasks.crafter.generate_play_data import episode_name, generate_episode

    dirs = []
    for i in tqdm(range(n), desc="player episodes", unit="episode", dynamic_ncols=True):
        generate_episode(out_dir, seed, i, size, max_episode_len, "npz", task_start_share=0.0)
        dirs.append(os.path.join(out_dir, episode_name(seed, i)))
    return dirs


def player_records(episode_dirs: Sequence[str]) -> list[dict[str, Any]]:
    """Episode records in :func:`player_report.summarize`'s format, read from written episodes."""
    from steve1.data.EpisodeStorage import EpisodeStorage

    records = []
    for d in episode_dirs:
        st = EpisodeStorage(d)
        meta, infos = st.load_metadata(), st.load_infos()
        records.append({"index": meta["episode_index"], "env_seed": meta["env_seed"], "world_seed": meta["world_seed"],
                        "length": int(meta["length"]), "end": meta["end"],
                        "death_cause": meta.get("death_cause") or ("unknown" if meta["end"] == "death" else None),
                        "random_actions": int(np.asarray(infos.get("random_action", [])).sum()),
                        "unlocked": sorted(a for a, c in meta["final_achievements"].items() if c > 0)})
    return records


def player_section(records: list[dict[str, Any]]) -> dict[str, Any]:
    import player_report

    s = player_report.summarize(records)
    return {"median_episode_length": s["median_episode_length"],
            "achievement_success_rate": s["achievement_success_rate"],
            "episodes": s["episodes"], "frames": s["frames"], "ends": s["ends"],
            "random_action_share": round(s["random_action_share"], 4), "targets": s["targets"],
            "meets_targets": s["meets_targets"]}


def embed_episodes(data_dir: str, embedder_weights: str, embedder_name: str = "crafterclip") -> dict:
    """Goal embeddings of every episode of ``data_dir`` (the dataset code path, ``embed_episodes.embed_dataset``)."""
    from steve1.data.generation.embed_episodes import embed_dataset, file_md5, make_embedder

    embedder = make_embedder(embedder_name, embedder_weights, "cpu")
    info = {"path": os.path.basename(embedder_weights), "md5": file_md5(embedder_weights)}
    return embed_dataset(data_dir, embedder, embedder_name, info, progress=True)


# ----------------------------------------------------------------------------------------------------------------
# NLL figures
# ----------------------------------------------------------------------------------------------------------------

class NoChunksError(ValueError):
    """The held-out episodes are too short for one chunk of the training settings (message says the minimum)."""


def _batches(n: int, size: int) -> list[list[int]]:
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


def _windows_logprob(policy, obs: dict, actions, firsts, trunc_t: int, logprob: Callable, dist: bool = False):
    """Per-frame log-likelihood float [B, T]: ``trunc_t`` windows, recurrent state carried (steve1/train.py).
    With ``dist`` (a policy with one categorical head, e.g. Crafter's, whose output is the log-probabilities
    ``[B, T, 1, n]``): ``(log-likelihood, log-probabilities float [B, T, n])``."""
    import torch

    state = policy.initial_state(firsts.shape[0])
    out, full = [], []
    for t0 in range(0, firsts.shape[1], trunc_t):
        sl = slice(t0, t0 + trunc_t)
        (pd, _, _), state = policy({k: v[:, sl] for k, v in obs.items()}, firsts[:, sl], state)
        out.append(logprob(actions[:, sl], pd).float())
        if dist:
            full.append(torch.as_tensor(pd).float().reshape(pd.shape[0], pd.shape[1], -1))
    return (torch.cat(out, dim=1), torch.cat(full, dim=1)) if dist else torch.cat(out, dim=1)


#: What each scripted-player sub-goal heads for (semantic names of :data:`tasks.crafter.env.SEMANTIC_NAMES`): the
#: goal-information breakdown ``by_target_view`` splits the frames of these sub-goals by whether one is in the
#: frame's view (``infos.npz`` ``view``, the 9x7 tiles the image shows). Crafting and the furnace need a table
#: nearby (the iron tools a furnace too: either counts here).
SUBGOAL_TARGETS = {"collect_wood": ("tree",), "collect_stone": ("stone",), "collect_coal": ("coal",),
                   "collect_iron": ("iron",), "collect_diamond": ("diamond",), "collect_drink": ("water",),
                   "collect_sapling": ("grass",), "eat_cow": ("cow",), "defeat_zombie": ("zombie",),
                   "defeat_skeleton": ("skeleton",), "place_furnace": ("table",), "make_wood_pickaxe": ("table",),
                   "make_stone_pickaxe": ("table",), "make_wood_sword": ("table",), "make_stone_sword": ("table",),
                   "make_iron_pickaxe": ("table", "furnace"), "make_iron_sword": ("table", "furnace")}
#: Rows of ``by_target_view``.
TARGET_VIEW_ROWS = ("target_in_view", "target_out_of_view", "no_target")


def target_view(subgoal, view, subgoal_names: Sequence[str]) -> np.ndarray:
    """Per frame, the ``by_target_view`` row index (:data:`TARGET_VIEW_ROWS`): 0 when the frame's sub-goal has a
    target (:data:`SUBGOAL_TARGETS`) that is in the frame's view, 1 when it has one and none is in view, 2 when the
    sub-goal has no target (shelter, sleeping, explore, ...).

    Args:
        subgoal: int array [L], sub-goal ids into ``subgoal_names``.
        view: uint8 array [L, 9, 7], semantic ids of the tiles each frame shows (play data ``infos.npz`` ``view``).
    Returns:
        int64 array [L]."""
    from tasks.crafter.env import SEMANTIC_NAMES

    sub = np.asarray(subgoal, np.int64)
    flat = np.asarray(view).reshape(len(sub), -1)
    out = np.full(len(sub), 2, np.int64)
    for i, name in enumerate(subgoal_names):
        targets = SUBGOAL_TARGETS.get(name)
        rows = sub == i
        if targets is None or not rows.any():
            continue
        ids = [SEMANTIC_NAMES.index(t) for t in targets]
        out[rows] = np.where(np.isin(flat[rows], ids).any(axis=1), 0, 1)
    return out


#: Bins of a frame's sub-goal age (env steps since the scripted player chose the sub-goal it pursues at that frame;
#: 0 = the frame of the choice) in the goal-information breakdown: ``[0, 1), [1, 4), [4, 16), [16, 64), [64, inf)``.
AGE_BINS = (0, 1, 4, 16, 64)
#: Bins of a frame's goal horizon (env steps from the frame to its hindsight goal's time, ``goal_times - t`` of the
#: relabeling) in the goal-information breakdown ``by_goal_horizon``: ``[0, 16), [16, 24), ..., [64, inf)``.
HORIZON_BINS = (0, 16, 24, 32, 48, 64)


def subgoal_age(subgoal) -> np.ndarray:
    """Per frame, env steps since the start of the run of equal sub-goal ids it belongs to (int64 [L]; 0 at the
    frame where the player chose a new sub-goal).

    Args:
        subgoal: int array [L], the recorded sub-goal id per frame (play data ``infos.npz`` ``subgoal``)."""
    sub = np.asarray(subgoal)
    if len(sub) == 0:
        return np.zeros(0, np.int64)
    start = np.r_[True, sub[1:] != sub[:-1]]
    idx = np.arange(len(sub))
    run_start = np.maximum.accumulate(np.where(start, idx, 0))
    return (idx - run_start).astype(np.int64)


#: Lags of the ``goal_information`` ``by_event`` breakdown: 0 is the frame whose action brought an achievement
#: about, 1 the frame before it (for a material, the move that faces it).
EVENT_LAGS = 2


def event_frames(achievements: np.ndarray, names: Sequence[str], lags: int) -> dict[int, list[tuple[str, int]]]:
    """Frame -> ``[(achievement name, lag)]`` for the frames ``t - lag`` (``0 <= lag < lags``, ``>= 0``) of each
    action ``t`` that brought an achievement about: ``achievements`` int ``[L, A]`` (row ``i`` the counts before
    action ``i``, columns ``names``) is higher at ``t + 1`` than at ``t``.

    Raises:
        ValueError: ``achievements`` is not ``[L, len(names)]``."""
    a = np.asarray(achievements)
    if a.ndim != 2 or a.shape[1] != len(names):
        raise ValueError(f"achievements must be [frames, {len(names)}], got shape {a.shape}")
    out: dict[int, list[tuple[str, int]]] = {}
    for t, k in zip(*np.nonzero(a[1:] > a[:-1])):
        for lag in range(int(lags)):
            if t - lag >= 0:
                out.setdefault(int(t - lag), []).append((names[k], lag))
    return out


#: ``by_approach``: the collecting sub-goals and the material each one mines or drinks (semantic names).
APPROACH_TARGETS = {"collect_wood": "tree", "collect_stone": "stone", "collect_coal": "coal",
                    "collect_iron": "iron", "collect_drink": "water"}
#: Move actions and their (dx, dy) on crafter's map (the ``view`` info is ``[x, y]``, the player at its centre).
MOVES = {"move_left": (-1, 0), "move_right": (1, 0), "move_up": (0, -1), "move_down": (0, 1)}


def approach_frames(view: np.ndarray, facing: np.ndarray, subgoal: np.ndarray, subgoal_names: Sequence[str],
                    semantic_names: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
    """Per collecting sub-goal (:data:`APPROACH_TARGETS`), the frames where the player pursues it beside its
    material, and those where its material is beside the player while it pursues another: ``turn`` frames, where exactly
    one of the 4 tiles beside the player holds the material and the player does not face it (the move toward it, index
    into :data:`MOVES`, is in ``move``), and ``facing`` frames, where the faced tile holds it (mining is a ``do``);
    ``turn_not_pursued`` (and ``move_not_pursued``): the same placement of the material on frames where the player
    pursues another sub-goal (whether it turns there is the base rate that an image without the sub-goal shows).

    Args:
        view: uint8 ``[L, W, H]`` semantic ids of the local view (``infos.npz`` ``view``, ``[x, y]``, the player at
            ``(W // 2, H // 2)``).
        facing: int ``[L, 2]`` the player's facing ``(dx, dy)``; subgoal: int ``[L]`` indices into
            ``subgoal_names``.
    Returns:
        ``{sub-goal: {"turn": int frames, "move": int move index per turn frame, "facing": int frames,
        "turn_not_pursued": int frames, "move_not_pursued": int move index per such frame}}``.
    Raises:
        ValueError: the arrays' lengths differ or ``view`` is not 3-d."""
    view, facing, subgoal = np.asarray(view), np.asarray(facing), np.asarray(subgoal)
    if view.ndim != 3 or not len(view) == len(facing) == len(subgoal):
        raise ValueError(f"view [L, W, H], facing [L, 2], subgoal [L] expected, got {view.shape}, {facing.shape}, "
                         f"{subgoal.shape}")
    cx, cy = view.shape[1] // 2, view.shape[2] // 2
    beside = np.stack([view[:, cx + dx, cy + dy] for dx, dy in MOVES.values()], 1)       # [L, 4]
    faced = view[np.arange(len(view)), cx + facing[:, 0], cy + facing[:, 1]]
    facing_move = np.array([list(MOVES.values()).index((int(x), int(y))) if (int(x), int(y)) in MOVES.values()
                            else -1 for x, y in facing])
    out = {}
    for name, material in APPROACH_TARGETS.items():
        if name not in subgoal_names or material not in semantic_names:
            continue
        mid = semantic_names.index(material)
        pursued = subgoal == subgoal_names.index(name)
        hits = beside == mid
        one = pursued & (hits.sum(1) == 1)
        move = hits.argmax(1)
        turn = np.flatnonzero(one & (move != facing_move))
        other = np.flatnonzero(~pursued & (hits.sum(1) == 1) & (move != facing_move))
        out[name] = {"turn": turn, "move": move[turn], "facing": np.flatnonzero(pursued & (faced == mid)),
                     "turn_not_pursued": other, "move_not_pursued": move[other]}
    return out


def goal_information(cfg, episode_dirs: Sequence[str], train_args: dict, batch_size: int, seed: int) -> dict:
    """Action NLL (nats/frame) of the low level with the true hindsight goal vs the zero goal (module docstring);
    ``cfg``: the :class:`hierarchical.config.HighLevelConfig` naming the low level. The goals are relabelled as the
    low level was trained (``train_args``: goal bounds, ``goal_lead``, ``relabeling``, ``goal_codebook``: each
    true goal replaced by its nearest code; recorded in the result).

    Raises:
        NoChunksError: no episode is long enough for a chunk of ``T`` frames (message from MinecraftDataset)."""
    import torch

    import tasks
    from hierarchical.build import load_low_level
    from steve1.data.EpisodeStorage import EpisodeStorage
    from steve1.data.minecraft_dataset import MinecraftDataset

    goal_codes = None
    if train_args.get("goal_codebook"):  # a low level trained on codebook goals is measured with them
        from goal_prior.codebook import KMeansCodebook

        goal_codes = KMeansCodebook(train_args["goal_codebook"]).codes
    try:
        ds = MinecraftDataset(list(episode_dirs), T=int(train_args["T"]),
                              min_btwn_goals=int(train_args["min_btwn_goals"]),
                              max_btwn_goals=int(train_args["max_btwn_goals"]),
                              goal_lead=int(train_args.get("goal_lead") or 0), p_uncond=0.0, seed=seed,
                              relabeling=train_args.get("relabeling") or "hindsight",
                              unlock_horizon=int(train_args.get("unlock_horizon") or 100), goal_codes=goal_codes)
    except ValueError as e:
        raise NoChunksError(str(e)) from e
    policy = load_low_level(cfg, tasks.get_plugin(cfg.sim).ACTION_SPACE, ds.goal_dim, torch.device("cpu"))
    trunc_t = int(train_args.get("trunc_t") or ds.T)
    random_flags, subgoals, ages, views, subgoal_names = {}, {}, {}, {}, None
    events: dict[str, dict[int, list[tuple[str, int]]]] = {}   # episode -> frame -> [(achievement, lag)]
    plugin = tasks.get_plugin(cfg.sim)
    achievement_names = list(getattr(plugin, "ACHIEVEMENTS", ()))
    action_names = list(getattr(plugin, "ACTION_NAMES", ()))
    semantic_names = list(getattr(plugin, "SEMANTIC_NAMES", ()))
    # episode -> frame -> [(collecting sub-goal, "pursued" | "not_pursued", the move toward its material)]
    approach: dict[str, dict[int, list[tuple[str, str, int]]]] = {}
    for d in ds.episode_dirs:
        st = EpisodeStorage(d)
        infos = st.load_infos()
        random_flags[d] = np.asarray(infos.get("random_action", np.zeros(0, bool)), bool)
        if "achievements" in infos and achievement_names:
            events[d] = event_frames(infos["achievements"], achievement_names, EVENT_LAGS)
        if "subgoal" in infos:
            subgoal_names = subgoal_names or list(st.load_metadata().get("subgoal_names") or [])
            subgoals[d] = np.asarray(infos["subgoal"], np.int64)
            ages[d] = subgoal_age(subgoals[d])
            if "view" in infos:
                views[d] = target_view(subgoals[d], infos["view"], subgoal_names)
            if {"view", "facing"} <= set(infos) and set(MOVES) <= set(action_names):
                frame_map = approach.setdefault(d, {})
                for name, fr in approach_frames(infos["view"], infos["facing"], subgoals[d], subgoal_names,
                                                semantic_names).items():
                    for kind, f_key, m_key in (("pursued", "turn", "move"),
                                               ("not_pursued", "turn_not_pursued", "move_not_pursued")):
                        for f, m in zip(fr[f_key], fr[m_key]):
                            frame_map.setdefault(int(f), []).append((name, kind, action_names.index(list(MOVES)[m])))
    sums = {"true": 0.0, "zero": 0.0}
    by_subgoal = np.zeros((max(len(subgoal_names or []), 1), 3))  # frames, -logp true, -logp zero
    by_age = np.zeros((len(AGE_BINS), 3))
    by_horizon = np.zeros((len(HORIZON_BINS), 3))
    by_view = np.zeros((len(TARGET_VIEW_ROWS), 3))
    by_event: dict[tuple[str, int], np.ndarray] = {}   # frames, -logp true, -logp zero, p true, p zero
    by_approach: dict[tuple[str, str], np.ndarray] = {}   # frames, player turned, p(turn) true goal, zero goal
    frames = excluded = 0
    with torch.inference_mode():
        for batch in tqdm(_batches(len(ds), batch_size), desc="goal information", unit="batch", dynamic_ncols=True):
            chunks = [ds.load_chunk(i) for i in batch]
            items = [ds.make_item(c) for c in chunks]
            img = torch.as_tensor(np.stack([it[0]["img"] for it in items]))
            goal = torch.as_tensor(np.stack([it[0]["mineclip_embed"] for it in items]))
            actions = torch.as_tensor(np.stack([it[1] for it in items]))
            firsts = torch.as_tensor(np.stack([it[2][:, 0] for it in items]))
            mask = np.ones(firsts.shape, bool)
            for r, c in enumerate(chunks):
                flags = random_flags[c.episode_dir][c.start:c.start + ds.T]
                mask[r, :len(flags)] &= ~flags
            mask_t = torch.as_tensor(mask, dtype=torch.float32)
            frames += int(mask.sum())
            excluded += int((~mask).sum())
            nll, logp_all = {}, {}
            for name, g in (("true", goal), ("zero", torch.zeros_like(goal))):
                lp = _windows_logprob(policy, {"img": img, "mineclip_embed": g}, actions, firsts, trunc_t,
                                      policy.pi_head.logprob, dist=bool(approach))
                if approach:
                    lp, logp_all[name] = lp[0], lp[1].numpy()
                sums[name] += float(-(lp * mask_t).sum())
                nll[name] = -lp.numpy()
            for r, c in enumerate(chunks):
                n = len(c.goal_times)  # frames of this chunk (= ds.T)
                tables = [(by_horizon, np.digitize(c.goal_times - (c.start + np.arange(n)), HORIZON_BINS[1:]))]
                if c.episode_dir in subgoals:
                    tables += [(by_subgoal, subgoals[c.episode_dir][c.start:c.start + n]),
                               (by_age, np.digitize(ages[c.episode_dir][c.start:c.start + n], AGE_BINS[1:]))]
                    if c.episode_dir in views:
                        tables.append((by_view, views[c.episode_dir][c.start:c.start + n]))
                keep = mask[r, :n]
                for i, f in enumerate(range(c.start, c.start + n)):
                    for key in events.get(c.episode_dir, {}).get(f, ()) if keep[i] else ():
                        t_, z_ = float(nll["true"][r, i]), float(nll["zero"][r, i])
                        by_event.setdefault(key, np.zeros(5))[:] += (1.0, t_, z_, np.exp(-t_), np.exp(-z_))
                    for name, kind, move in approach.get(c.episode_dir, {}).get(f, ()) if keep[i] else ():
                        by_approach.setdefault((name, kind), np.zeros(4))[:] += (
                            1.0, float(int(chunks[r].env_actions[i]) == move),
                            np.exp(logp_all["true"][r, i, move]), np.exp(logp_all["zero"][r, i, move]))
                for table, key in tables:
                    np.add.at(table, (key[keep], 0), 1.0)
                    np.add.at(table, (key[keep], 1), nll["true"][r, :n][keep])
                    np.add.at(table, (key[keep], 2), nll["zero"][r, :n][keep])
    nll_true, nll_zero = sums["true"] / max(frames, 1), sums["zero"] / max(frames, 1)

    def rows(table, names) -> dict[str, dict[str, Any]]:
        return {names[i]: {"frames": int(n), "nll_true_goal": round(t / n, 4), "nll_no_goal": round(z / n, 4),
                           "gap": round((z - t) / n, 4)} for i, (n, t, z) in enumerate(table) if n > 0}

    def bin_names(bins) -> list[str]:
        return [f"{lo}-{hi - 1}" if hi - lo > 1 else str(lo) for lo, hi in zip(bins, bins[1:])] + [f"{bins[-1]}+"]

    breakdown = {"by_goal_horizon": rows(by_horizon, bin_names(HORIZON_BINS))}
    if subgoals:
        breakdown |= {"by_subgoal": rows(by_subgoal, subgoal_names),
                      "by_subgoal_age": rows(by_age, bin_names(AGE_BINS))}
        if views:
            breakdown["by_target_view"] = rows(by_view, TARGET_VIEW_ROWS)
    if by_event:
        breakdown["by_event"] = {}
        for (name, lag), (n, t, z, pt, pz) in sorted(by_event.items()):
            breakdown["by_event"].setdefault(name, {})[f"lag_{lag}"] = {
                "frames": int(n), "nll_true_goal": round(t / n, 4), "nll_no_goal": round(z / n, 4),
                "p_true_goal": round(pt / n, 4), "p_no_goal": round(pz / n, 4)}
    if by_approach:
        breakdown["by_approach"] = {}
        for (name, kind), (n, turned, pt, pz) in sorted(by_approach.items()):
            breakdown["by_approach"].setdefault(name, {})[kind] = {
                "frames": int(n), "teacher_turns": round(turned / n, 4), "p_turn_true_goal": round(pt / n, 4),
                "p_turn_no_goal": round(pz / n, 4)}
    return {"nll_true_goal": round(nll_true, 4), "nll_no_goal": round(nll_zero, 4),
            "gap": round(nll_zero - nll_true, 4), **breakdown,
            "frames": frames, "random_action_frames_excluded": excluded, "chunks": len(ds), "T": ds.T,
            "trunc_t": trunc_t, "min_btwn_goals": ds.min_btwn_goals, "max_btwn_goals": ds.max_btwn_goals,
            "goal_lead": ds.goal_lead, "relabeling": ds.relabeling,
            "goal_codebook": train_args.get("goal_codebook") or None, "target_gap": 0.15}


def prior_nll(cfg, episode_dirs: Sequence[str], prior_args: dict, batch_size: int, seed: int) -> dict:
    """Goal-prior NLL (nats/frame) of the code labels of held-out frames vs the label-frequency entropy (``cfg``: the
    :class:`hierarchical.config.HighLevelConfig` naming the prior and the codebook)."""
    import torch

    from goal_prior.dataset import MinecraftGoalPriorDataset
    from goal_prior.load_prior import make_prior_model
    from goal_prior.codebook import KMeansCodebook

    codebook = KMeansCodebook(cfg.codebook)
    try:
        ds = MinecraftGoalPriorDataset(list(episode_dirs), T=int(prior_args["T"]),
                                       min_btwn_goals=int(prior_args["min_btwn_goals"]),
                                       max_btwn_goals=int(prior_args["max_btwn_goals"]), codebook=codebook,
                                       goal_lead=int(prior_args.get("goal_lead") or 0),
                                       label_space=prior_args.get("label_space") or "cosine",
                                       relabeling=prior_args.get("relabeling") or "hindsight",
                                       unlock_horizon=int(prior_args.get("unlock_horizon") or 100), seed=seed)
    except ValueError as e:
        raise NoChunksError(str(e)) from e
    prior = make_prior_model(cfg.in_model, cfg.prior_weights, n_codes=codebook.N, codebook_path=cfg.codebook)
    trunc_t = int(prior_args.get("trunc_t") or ds.T)
    total, frames = 0.0, 0
    counts = np.zeros(codebook.N, np.int64)
    with torch.inference_mode():
        for batch in tqdm(_batches(len(ds), batch_size), desc="goal prior", unit="batch", dynamic_ncols=True):
            items = [ds[i] for i in batch]
            img = torch.as_tensor(np.stack([it[0]["img"] for it in items]))
            labels = torch.as_tensor(np.stack([it[1] for it in items]))
            firsts = torch.as_tensor(np.stack([it[2][:, 0] for it in items]))
            lp = _windows_logprob(prior, {"img": img}, labels, firsts, trunc_t, prior.pi_head.logprob)
            total += float(-lp.sum())
            frames += int(lp.numel())
            counts += np.bincount(labels.numpy().reshape(-1), minlength=codebook.N)
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * np.log(p)).sum())
    nll = total / max(frames, 1)
    return {"nll": round(nll, 4), "label_entropy": round(entropy, 4),
            "ratio": round(nll / entropy, 4) if entropy > 0 else None,
            "uniform_entropy": round(math.log(codebook.N), 4),
            "frames": frames, "n_codes": codebook.N, "codes_used_by_labels": int((counts > 0).sum()),
            "relabeling": ds.relabeling, "target_ratio": 0.8}


# ----------------------------------------------------------------------------------------------------------------
# Competence from replayed starts
# ----------------------------------------------------------------------------------------------------------------

def requirements(achievement: str) -> dict[str, int]:
    """Items that must be held to unlock ``achievement`` in one step chain (crafter ``data.yaml``)."""
    import crafter.constants as C

    kind, _, what = achievement.partition("_")
    if kind == "collect" and what in ITEM_SOURCE:
        return dict(C.collect[ITEM_SOURCE[what]].get("require", {}))
    if kind == "place" and what in C.place:
        return dict(C.place[what].get("uses", {}))
    if kind == "make" and what in C.make:
        return dict(C.make[what].get("uses", {}))
    return {}


def unlock_frame(infos: dict[str, np.ndarray], meta: dict, achievement: str) -> Optional[int]:
    """The first frame of a recorded episode that shows ``achievement`` unlocked (the action of the frame before
    unlocked it), or None (never, or already at frame 0)."""
    names = list(meta["achievement_names"])
    if achievement not in names:
        return None
    unlocked = np.flatnonzero(np.asarray(infos["achievements"])[:, names.index(achievement)] > 0)
    return int(unlocked[0]) if len(unlocked) and unlocked[0] > 0 else None


def find_start(infos: dict[str, np.ndarray], meta: dict, achievement: str) -> Optional[int]:
    """The frame at which ``achievement`` is the next link in a recorded episode (module docstring), or None when
    the episode never shows it unlocked. The teacher took ``unlock_frame(...) - start`` env steps from there."""
    u = unlock_frame(infos, meta, achievement)
    if u is None:
        return None
    sub = np.asarray(infos["subgoal"])
    run_start = u - 1
    while run_start > 0 and sub[run_start - 1] == sub[u - 1]:
        run_start -= 1
    inv_names = list(meta["inventory_names"])
    inv = np.asarray(infos["inventory"])
    ok = np.ones(u, bool)
    for item, n in requirements(achievement).items():
        ok &= inv[:u, inv_names.index(item)] >= n
    req_start = u - 1
    while req_start > 0 and ok[req_start - 1]:
        req_start -= 1
    if not ok[u - 1]:
        req_start = u - 1
    return max(run_start, req_start)


def replay_steps(episode_dir: str, size: int, frames: int):
    """Replay a recorded episode's actions in its world: yields ``(env, frame, obs, info)`` for frame 0 (after the
    reset) and after each of the first ``frames`` actions; stops early where the episode ends (death or truncation:
    the last yielded ``info`` then has ``"episode_end": True``). ``size``: frame size in pixels."""
    from steve1.data.EpisodeStorage import EpisodeStorage
    from tasks.crafter.env import CrafterEnv

    st = EpisodeStorage(episode_dir)
    meta, actions = st.load_metadata(), st.load_actions()
    env = CrafterEnv(size=size, max_steps=10 ** 9, initial_inventory=meta.get("initial_inventory") or {})
    obs, info = env.reset(options={"world_seed": int(meta["world_seed"])})
    yield env, 0, obs, info
    for frame, a in enumerate(actions[:frames], start=1):
        obs, _, terminated, truncated, info = env.step(int(a))
        ended = bool(terminated or truncated)
        yield env, frame, obs, dict(info, episode_end=True) if ended else info
        if ended:
            return


def replay_snapshot(episode_dir: str, frame: int, size: int) -> tuple[Any, dict, dict]:
    """(env, obs, info) at ``frame`` of a recorded episode, rebuilt by replaying its actions in its world
    (:func:`replay_steps`).

    Raises:
        RuntimeError: the replay ends by ``frame``, or does not reproduce the recorded achievements and inventory
            (not deterministic)."""
    from steve1.data.EpisodeStorage import EpisodeStorage

    st = EpisodeStorage(episode_dir)
    meta, infos = st.load_metadata(), st.load_infos()
    for env, _, obs, info in replay_steps(episode_dir, size, frame):
        if info.get("episode_end"):
            raise RuntimeError(f"{episode_dir}: replay ended before frame {frame}")
    want_ach = np.asarray(infos["achievements"][frame])
    got_ach = np.array([info["achievements"][a] for a in meta["achievement_names"]])
    want_inv = np.asarray(infos["inventory"][frame])
    got_inv = np.array([info["inventory"][k] for k in meta["inventory_names"]])
    if not (np.array_equal(want_ach, got_ach) and np.array_equal(want_inv, got_inv)):
        raise RuntimeError(f"{episode_dir}: replaying {frame} actions in world {meta['world_seed']} does not reproduce "
                           f"the recorded state")
    return env, obs, info


def inventory_snapshot(achievement: str, world_seed: int, size: int) -> tuple[Any, dict, dict]:
    """(env, obs, info) of a task start: world ``world_seed`` with an empty inventory plus the required items."""
    from tasks.crafter.env import CrafterEnv

    env = CrafterEnv(size=size, max_steps=10 ** 9, initial_inventory=requirements(achievement))
    obs, info = env.reset(options={"world_seed": int(world_seed)})
    return env, obs, info


class SnapshotStarts(gymnasium.Env):
    """Plays episodes from saved Crafter states: episode ``j`` starts from a deep copy of ``starts[j % len]``
    (an ``(env, obs, info)`` of :class:`tasks.crafter.env.CrafterEnv`) and ends when ``achievement``'s counter rises
    (terminated, ``info["success"]``), on death, or after ``horizon`` env steps (truncated). ``self.records``:
    per ended episode ``{"success": bool, "steps": env steps}``."""

    def __init__(self, starts: Sequence[tuple[Any, dict, dict]], achievement: str, horizon: int):
        env0 = starts[0][0]
        self.observation_space, self.action_space = env0.observation_space, env0.action_space
        self.starts, self.achievement, self.horizon = list(starts), achievement, int(horizon)
        self.records: list[dict[str, Any]] = []
        self._env, self._t, self._count0 = None, 0, 0

    def reset(self, *, seed=None, options=None):
        env, obs, info = copy.deepcopy(self.starts[len(self.records) % len(self.starts)])
        self._env, self._t, self._count0 = env, 0, int(info["achievements"][self.achievement])
        return obs, dict(info, success=False)

    def step(self, action):
        obs, reward, terminated, truncated, info = self._env.step(action)
        self._t += 1
        success = int(info["achievements"][self.achievement]) > self._count0
        terminated = bool(terminated or success)
        truncated = bool(not terminated and (truncated or self._t >= self.horizon))
        info = dict(info, success=success)
        if terminated or truncated:
            self.records.append({"success": success, "steps": self._t})
        return obs, float(success), terminated, truncated, info


def _codebook_file(tmp: str, goals: np.ndarray, name: str) -> str:
    path = os.path.join(tmp, f"{name}.pkl")
    with open(path, "wb") as f:
        pickle.dump([np.asarray(g, np.float64)[None] for g in goals], f)
    return path


def goals_config(cfg, tmp: str, n_envs: int, goals: Optional[np.ndarray] = None, prior: bool = True, **values):
    """``cfg`` (:class:`hierarchical.config.HighLevelConfig`) for driving the low level without RL: ``n_envs`` envs,
    no KL term, discrete codes; ``goals`` None: the codes of ``cfg``'s codebook, with the goal prior unless
    ``prior`` is False; else float ``[G, D]`` goals laid over as a codebook of their own (written into ``tmp``),
    without the prior (one zero row: the unconditional low level). ``values``: further fields
    (:func:`hierarchical.config.with_values`)."""
    from hierarchical.config import with_values

    if goals is None:
        return with_values(cfg, n_envs=n_envs, kl_reward=0.0, discrete=True, goal_prior=bool(prior), **values)
    return with_values(cfg, n_envs=n_envs, kl_reward=0.0, discrete=True, goal_prior=False,
                       codebook=_codebook_file(tmp, goals, "goals"), **values)


def zero_goal(cfg) -> np.ndarray:
    """float32 ``[1, D]`` zeros, D = the goal size of ``cfg``'s codebook (the unconditional low level's goal)."""
    from goal_prior.codebook import KMeansCodebook

    return np.zeros((1, KMeansCodebook(cfg.codebook).codes.shape[1]), np.float32)


def run_goals_from_starts(cfg, goals: np.ndarray, starts: list, achievement: str, horizon: int,
                          n_starts: int, n_envs: int, tmp: str, desc: str, seed: int = 0,
                          starts_env: type = SnapshotStarts) -> list[list[dict]]:
    """Per goal (row of float [G, D]), the records of ``n_starts`` episodes from ``starts[:n_starts]``; the goals are
    laid over ``cfg`` (:class:`hierarchical.config.HighLevelConfig`) as a codebook of their own, without the prior
    (:func:`hierarchical.config.with_values`). The low level's action sampling (torch's global RNG) is seeded with
    ``seed`` first, so the records do not depend on what ran before. ``starts_env``: :class:`SnapshotStarts` or a
    subclass that records more per episode (it must play the same episodes)."""
    import torch

    torch.manual_seed(seed)

    from hierarchical.build import make_highlevel_env

    out: list[list[dict]] = []
    bar = tqdm(total=len(goals) * n_starts, desc=desc, unit="episode", dynamic_ncols=True, leave=False)
    for g0 in range(0, len(goals), n_envs):
        group = goals[g0:g0 + n_envs]
        run_cfg = goals_config(cfg, tmp, len(group), group)
        envs = [starts_env(starts[:n_starts], achievement, horizon) for _ in group]
        venv, _ = make_highlevel_env(run_cfg, torch.device("cpu"), envs=envs)
        venv.reset()
        actions = np.arange(len(group))
        done = 0
        while min(len(e.records) for e in envs) < n_starts:
            venv.step(actions)
            now = sum(min(len(e.records), n_starts) for e in envs)
            bar.update(now - done)
            done = now
        venv.close()
        out.extend(e.records[:n_starts] for e in envs)
    bar.close()
    return out


def _rank(records: list[dict]) -> tuple[float, float]:
    rate = float(np.mean([r["success"] for r in records]))
    steps = [r["steps"] for r in records if r["success"]]
    return rate, -float(np.mean(steps)) if steps else -1e9


def next_link_starts(episode_dirs: Sequence[str], achievement: str, n: int, seed: int,
                     size: int) -> tuple[list[tuple[Any, dict, dict]], list[dict[str, Any]], str]:
    """Up to ``n`` starts where ``achievement`` is the next link, from recorded player episodes in order
    (:func:`find_start`, :func:`replay_snapshot`), else (no episode unlocked it) ``n`` task starts in worlds
    ``seed + j`` (:func:`inventory_snapshot`). Returns (starts, origins, kind): ``origins[j]`` holds
    ``world_seed`` and ``frame`` (and for replayed starts ``teacher_steps``, the env steps the player took from
    there); ``kind`` is ``"replay"`` or ``"inventory"``."""
    from steve1.data.EpisodeStorage import EpisodeStorage

    starts, origin = [], []
    for d in episode_dirs:
        if len(starts) >= n:
            break
        st = EpisodeStorage(d)
        meta = st.load_metadata()
        infos = st.load_infos()
        frame = find_start(infos, meta, achievement)
        if frame is not None:
            starts.append(replay_snapshot(d, frame, size))
            origin.append({"world_seed": int(meta["world_seed"]), "frame": int(frame),
                           "teacher_steps": unlock_frame(infos, meta, achievement) - int(frame)})
    if starts:
        return starts, origin, "replay"
    for j in range(n):
        starts.append(inventory_snapshot(achievement, seed + j, size))
        origin.append({"world_seed": seed + j, "frame": 0})
    return starts, origin, "inventory"


def _teacher_within(origin: list[dict[str, Any]], kind: str, horizon: int) -> Optional[float]:
    return round(float(np.mean([o["teacher_steps"] <= horizon for o in origin])), 4) if kind == "replay" else None


def competence(cfg, episode_dirs: Sequence[str], achievements: Sequence[str], worlds: int, screen_worlds: int,
               top_codes: int, horizon: int, n_envs: int, seed: int, size: int, tmp: str,
               code_ids: Optional[Sequence[int]] = None, on_result: Optional[Callable[[dict], None]] = None,
               test_dirs: Sequence[str] = (), test_worlds: int = 0, test_seed: Optional[int] = None) -> dict:
    """Best code per achievement from next-link starts (module docstring): chosen on the selection starts of
    ``episode_dirs`` (up to ``worlds``; inventory starts in worlds ``seed + j``), measured with the zero goal on the
    test starts of ``test_dirs`` (up to ``test_worlds``; inventory starts in worlds ``test_seed + j``). With no
    test starts (``test_worlds`` 0) ``success`` is the selection figure, biased upwards, and ``measured_on`` says
    so. ``code_ids``: screen only these codes; ``on_result(result so far)`` is called after each achievement;
    ``cfg``: the task's :class:`hierarchical.config.HighLevelConfig`. Success rates are shares of starts (rounded
    to 4 places) at which the achievement's counter rose within ``horizon`` env steps.

    Raises:
        steve1.utils.cli.UsageError: a code index outside the codebook."""
    from goal_prior.codebook import KMeansCodebook
    from steve1.utils.cli import UsageError

    all_codes = np.asarray(KMeansCodebook(cfg.codebook).codes, np.float32)
    ids = list(range(len(all_codes))) if code_ids is None else [int(k) for k in code_ids]
    bad = [k for k in ids if not 0 <= k < len(all_codes)]
    if bad:
        raise UsageError(f"--codes {bad[0]}: the codebook {cfg.codebook} has codes 0-{len(all_codes) - 1}")
    codes = all_codes[ids]
    zero = np.zeros((1, codes.shape[1]), np.float32)
    test_seed = seed if test_seed is None else int(test_seed)
    result = {}
    for a in tqdm(achievements, desc="competence", unit="achievement", dynamic_ncols=True):
        starts, origin, kind = next_link_starts(episode_dirs, a, worlds, seed, size)
        n = len(starts)
        k = min(screen_worlds, n)
        screen = run_goals_from_starts(cfg, np.concatenate([codes, zero]), starts, a, horizon, k, n_envs, tmp,
                                       f"{a} screen", seed)
        ranked = sorted(range(len(codes)), key=lambda i: _rank(screen[i]), reverse=True)[:max(1, top_codes)]
        final = run_goals_from_starts(cfg, np.concatenate([codes[ranked], zero]), starts, a, horizon, n, n_envs, tmp,
                                      f"{a} top {len(ranked)}", seed)
        best = max(range(len(ranked)), key=lambda i: _rank(final[i]))
        selection = {"worlds": n, "start": kind, "success": round(_rank(final[best])[0], 4),
                     "unconditional_success": round(_rank(final[-1])[0], 4),
                     "teacher_within_horizon": _teacher_within(origin, kind, horizon),
                     "screened_on": k, "codes_screened": len(ids),
                     "screen_success": {f"code_{ids[ranked[i]]}": round(_rank(screen[ranked[i]])[0], 3)
                                        for i in range(len(ranked))},
                     "top_codes_success": {f"code_{ids[ranked[i]]}": round(_rank(final[i])[0], 4)
                                           for i in range(len(ranked))},
                     "starts": origin}
        measured, m_origin, m_kind, on = final[best], origin, kind, "selection starts (biased upwards)"
        zero_records = final[-1]
        if test_worlds > 0:
            t_starts, m_origin, m_kind = next_link_starts(test_dirs, a, test_worlds, test_seed, size)
            measured, zero_records = run_goals_from_starts(
                cfg, np.concatenate([codes[ranked[best]][None], zero]), t_starts, a, horizon, len(t_starts), n_envs,
                tmp, f"{a} test", test_seed)
            on = "test starts"
        steps = [r["steps"] for r in measured if r["success"]]
        result[a] = {"best_code": ids[ranked[best]], "success": round(_rank(measured)[0], 4),
                     "worlds": len(m_origin), "start": m_kind, "measured_on": on,
                     "median_env_steps": float(np.median(steps)) if steps else None,
                     "unconditional_success": round(_rank(zero_records)[0], 4),
                     "teacher_within_horizon": _teacher_within(m_origin, m_kind, horizon),
                     "starts": m_origin, "selection": selection}
        if selection["success"] == 0:
            result[a]["note"] = ("no code unlocked it from the selection starts: best_code is only the first of "
                                 "the screen")
        if on_result is not None:
            on_result(result)
    return result


# ----------------------------------------------------------------------------------------------------------------
# Whole episodes: goals from the prior, or the zero goal
# ----------------------------------------------------------------------------------------------------------------

def play_episodes(cfg, n_episodes: int, seed: int, goals: str, n_envs: int, tmp: str, desc: str,
                  max_steps: Optional[int] = None, prior_temperature: float = 1.0,
                  prior_exclude: Optional[Sequence[int]] = None,
                  chooser: Optional[Callable[[Sequence[Any]], np.ndarray]] = None) -> list[dict[str, Any]]:
    """Play ``n_episodes`` episodes of ``cfg``'s task (:class:`hierarchical.config.HighLevelConfig`) with the low
    level following codes drawn from the goal prior every ``low_level_steps`` (``goals="prior"``) or the zero goal
    (``goals="zero"``, the unconditional policy); no KL term (``kl_reward`` 0), ``max_steps`` (None: the task's) laid
    over its ``env_overrides``; prior codes drawn at ``prior_temperature``, never one of ``prior_exclude``
    (:func:`sample_codes`). ``goals="chooser"``: the codes of ``cfg``'s codebook that ``chooser(envs)`` returns
    (int [n_envs], asked before every high-level step with the episode's gymnasium envs, e.g.
    ``bench/chain_oracle.py``), without the prior.

    Episode ``j`` is played in world ``seed + j``, and the low level's action sampling (torch's global RNG) is
    seeded with ``seed`` first, so a figure does not depend on what ran before it; returns per episode
    ``{"world_seed", "length", "success", "dead", "death_cause", "achievements" (unlocked names)}``.

    Raises:
        ValueError: ``goals`` not in ("prior", "zero", "chooser"), or ``chooser`` missing with ``"chooser"``.
    """
    import torch

    from hierarchical.build import make_envs, make_highlevel_env
    from low_level_competence import AchievementTimer
    from survival_probe import SurvivalTrace

    if goals not in ("prior", "zero", "chooser"):
        raise ValueError(f"goals must be 'prior', 'zero' or 'chooser', got {goals!r}")
    if (goals == "chooser") != (chooser is not None):
        raise ValueError("goals='chooser' and a chooser go together")
    n = max(1, min(n_envs, n_episodes))
    overrides = dict(cfg.env_overrides)
    if max_steps is not None:
        overrides["max_steps"] = int(max_steps)
    run_cfg = goals_config(cfg, tmp, n, zero_goal(cfg) if goals == "zero" else None, prior=goals == "prior",
                           env_overrides=overrides)
    worlds = [[seed + j for j in range(i, n_episodes, n)] for i in range(n)]
    envs = [SurvivalTrace(AchievementTimer(e, w)) for e, w in zip(make_envs(run_cfg, n, torch.device("cpu")), worlds)]
    venv, _ = make_highlevel_env(run_cfg, torch.device("cpu"), envs=envs)
    drive(venv, envs, [len(w) for w in worlds], goals == "prior", seed, desc, prior_temperature=prior_temperature,
          prior_exclude=prior_exclude, codes=None if chooser is None else (lambda: chooser(envs)))
    out = []
    for e, w in zip(envs, worlds):
        timer = e.env
        for j, world in enumerate(w):
            r = e.records[j]
            out.append({"world_seed": world, "length": r["length"], "success": r["success"], "dead": r["dead"],
                        "death_cause": r["death_cause"], "achievements": sorted(timer.records[j])})
    return sorted(out, key=lambda r: r["world_seed"])


def sample_codes(logp: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
                 exclude: Optional[Sequence[int]] = None) -> np.ndarray:
    """One code per row of ``logp`` (float [n_envs, n_codes], the goal prior's log-probabilities), drawn from
    ``softmax(logp / temperature)`` with ``rng``: 1.0 samples the prior as it is, below 1 sharpens it towards its mode;
    the codes in ``exclude`` (indices) get probability 0 (the rest renormalised). Returns int64 [n_envs].

    Raises:
        ValueError: ``temperature`` not > 0, or ``exclude`` holds every code.
    """
    if not temperature > 0:
        raise ValueError(f"prior temperature must be > 0, got {temperature}")
    z = np.asarray(logp, np.float64) / float(temperature)
    if exclude is not None and len(exclude):
        if len(set(int(k) for k in exclude)) >= z.shape[1]:
            raise ValueError("prior exclude: every code is excluded")
        z = z.copy()
        z[:, list(exclude)] = -np.inf
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return np.array([rng.choice(p.shape[1], p=row) for row in p], np.int64)


def codes_with_labels(codebook: str, labels: Sequence[str]) -> list[int]:
    """Indices of the codes of ``codebook`` (a ``centers.pkl``) whose ``label`` in the ``codebook.json`` beside it
    (written by ``goal_prior/generate_codebook.py``: the event label of the frame each code is) is one of ``labels``.

    Raises:
        ValueError: no ``codebook.json`` beside ``codebook``, or a label no code has.
    """
    import json

    path = os.path.join(os.path.dirname(codebook), "codebook.json")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file (the codes' labels are read from it)")
    with open(path) as f:
        codes = json.load(f)["codes"]
    known = sorted({c["label"] for c in codes})
    for label in labels:
        if label not in known:
            raise ValueError(f"{label!r}: no code of {path} has this label ({', '.join(known)})")
    return sorted(int(c["code"]) for c in codes if c["label"] in labels)


def drive(venv, envs: Sequence[Any], counts: Sequence[int], prior: bool, seed: int, desc: str,
          codes: Optional[Callable[[], np.ndarray]] = None, prior_temperature: float = 1.0,
          prior_exclude: Optional[Sequence[int]] = None) -> None:
    """Step ``venv`` (a :class:`hierarchical.high_level_wrapper.HighlevelVecEnv` over ``envs``, each keeping a
    ``records`` list with one entry per ended episode) until env ``i`` holds ``counts[i]`` records, then close it.
    Every high-level step each env follows a code drawn from the goal prior at its current frame (``prior``), the
    codes ``codes()`` returns (int [n_envs], asked before every high-level step), or code 0 of the venv's codebook.
    Prior codes are drawn at ``prior_temperature``, never one of ``prior_exclude`` (:func:`sample_codes`; 1.0 and
    None: the prior as trained).
    The venv (``venv.seed``), torch's global RNG (the low level's action sampling) and the
    code sampler are seeded with ``seed`` first, so the episodes do not depend on what ran before."""
    import torch

    venv.seed(seed)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    venv.reset()
    logp = venv._prior_logp.numpy() if prior else None  # the prior at each env's first frame
    n = len(envs)

    def choose() -> np.ndarray:
        if codes is not None and not prior:
            return np.asarray(codes(), np.int64)
        if not prior:
            return np.zeros(n, np.int64)
        return sample_codes(logp, rng, prior_temperature, prior_exclude)

    bar = tqdm(total=int(sum(counts)), desc=desc, unit="episode", dynamic_ncols=True, leave=False)
    done = 0
    while any(len(e.records) < c for e, c in zip(envs, counts)):
        _, _, _, infos = venv.step(choose())
        if prior:
            logp = np.stack([info["prior_logprobs"] for info in infos])
        now = sum(min(len(e.records), c) for e, c in zip(envs, counts))
        bar.update(now - done)
        done = now
    bar.close()
    venv.close()


def _median_length(records: list[dict]) -> dict[str, Any]:
    lengths = [r["length"] for r in records]
    return {"median_episode_length": float(np.median(lengths)), "episodes": len(records),
            "mean_episode_length": round(float(np.mean(lengths)), 1), "deaths": sum(r["dead"] for r in records),
            "lengths": lengths}


def _achievement_rates(records: list[dict]) -> dict[str, float]:
    """Fraction of ``records`` (``play_episodes`` output) that unlocked each achievement unlocked in any of them:
    how far along a task's chain the episodes got (e.g. wood, table, wood pickaxe, stone before a stone pickaxe)."""
    names = sorted({a for r in records for a in r["achievements"]})
    return {a: round(sum(a in r["achievements"] for r in records) / max(1, len(records)), 4) for a in names}


def pipeline_hours(path: str) -> dict[str, Any]:
    """Hours recorded by ``pipeline.json`` (``pipeline_seconds*`` keys), or null with a note."""
    import json

    if not os.path.isfile(path):
        return {"hours": None, "note": f"{path} does not exist"}
    with open(path) as f:
        data = json.load(f)
    secs = {k: v for k, v in data.items() if k.startswith("pipeline_seconds") and isinstance(v, (int, float))}
    if not secs:
        return {"hours": None, "note": f"{path} records no pipeline_seconds* key"}
    total = sum(secs.values())
    return {"hours": round(total / 3600.0, 3), "from": secs, "note": data.get("note")}


#: Keys a section writes besides its own (merged with it).
SECTION_EXTRAS = {"goal_information": ("embedding",), "prior": ("embedding",),
                  "prior_driven_success": ("unconditional_success", "prior_driven_success_episodes"),
                  "unconditional_bc_crafter_score": ("unconditional_bc_detail",),
                  "pipeline_hours": ("pipeline_hours_detail",)}
#: Keys every part must agree on to be merged (``model_md5``: the model files' contents, so that parts measured on
#: different weights under the same paths, e.g. before and after a retraining, are refused).
MERGE_SAME = ("quick", "counts", "seed", "test_seed", "models", "model_md5", "low_level_args", "prior_args",
              "prior_temperature", "prior_exclude_labels")
#: The model files whose md5 a report records (keys of ``"models"``).
MODEL_FILES = ("in_model", "in_weights", "prior_weights", "codebook", "goal_embedder")


def model_md5(cfg) -> dict[str, Optional[str]]:
    """md5 of each file of :data:`MODEL_FILES` that ``cfg`` names (None where the file is missing)."""
    from steve1.data.generation.embed_episodes import file_md5

    paths = {k: getattr(cfg, k) for k in MODEL_FILES}
    return {k: file_md5(p) if p and os.path.isfile(p) else None for k, p in paths.items()}


def merge_reports(parts: Sequence[dict[str, Any]], names: Sequence[str], command: str,
                  out_json: str) -> dict[str, Any]:
    """One report from ``parts``, complete reports of :func:`main` on the same models and counts, each measuring
    some of :data:`SECTIONS` (e.g. two processes on two cores).

    Each section (and its :data:`SECTION_EXTRAS`) is taken from the part that lists it in ``"sections"``;
    ``"player"`` falls back to any part that generated the held-out episodes. ``"seconds"`` is the sum over the
    parts (core-seconds), ``"wall_seconds"`` their maximum. ``names`` label the parts in errors and in ``"parts"``.

    Raises:
        ValueError: a part is incomplete, two parts measured the same section, or the parts differ in one of
            :data:`MERGE_SAME` (one line naming the file and the key).
    """
    if not parts:
        raise ValueError("--merge: expected at least one part JSON")
    first, first_name = parts[0], names[0]
    owner: dict[str, str] = {}
    for part, name in zip(parts, names):
        if not part.get("complete"):
            raise ValueError(f"--merge {name}: the report is not complete (\"complete\": false)")
        for key in MERGE_SAME:
            if part.get(key) != first.get(key):
                raise ValueError(f"--merge {name}: {key!r} differs from {first_name}'s ({part.get(key)!r} vs "
                                 f"{first.get(key)!r}); parts must measure the same models with the same counts")
        for section in part.get("sections", []):
            if section in owner:
                raise ValueError(f"--merge {name}: section {section!r} was also measured by {owner[section]}")
            owner[section] = name
    result: dict[str, Any] = {
        "command": command, "sections": [s for s in SECTIONS if s in owner], "out_json": out_json,
        **{k: first.get(k) for k in MERGE_SAME},
        **{k: None for k in SECTIONS}, "unconditional_success": None,
        "parts": [{"file": name, "command": part.get("command"), "sections": part.get("sections"),
                   "seconds": part.get("seconds"), "measured_utc": part.get("measured_utc")}
                  for part, name in zip(parts, names)],
    }
    for part, name in zip(parts, names):
        for section in part.get("sections", []):
            for key in (section, *SECTION_EXTRAS.get(section, ())):
                if key in part and (key not in SECTION_EXTRAS.get(section, ()) or result.get(key) is None):
                    result[key] = part[key]
    if result["player"] is None:
        result["player"] = next((p["player"] for p in parts if p.get("player") is not None), None)
    seconds = [float(p.get("seconds") or 0.0) for p in parts]
    result["seconds"] = round(sum(seconds), 1)
    result["wall_seconds"] = round(max(seconds), 1)
    result["measured_utc"] = max(str(p.get("measured_utc", "")) for p in parts)
    result["complete"] = True
    return result


# ----------------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------------

def run_kind(result: dict[str, Any]) -> str:
    """"quick run", "full protocol" (every count at least :data:`FULL`'s, every code screened, no episode cap) or
    "reduced counts"."""
    if result.get("quick"):
        return "quick run"
    counts = result.get("counts") or {}
    full = (all(isinstance(counts.get(k), int) and counts[k] >= v for k, v in FULL.items() if k != "screen_worlds")
            and counts.get("codes_screened") == "all" and not isinstance(counts.get("max_steps"), int))
    return "full protocol" if full else "reduced counts, below the issue's protocol"


def _counts_text(counts: dict[str, int]) -> str:
    """``{"zombie": 38, "hunger": 23}`` -> ``"zombie 38, hunger 23"``, most frequent first (ties by name)."""
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def readme_section(result: dict[str, Any]) -> str:
    """Markdown for the README section (between the markers)."""
    def fmt(x):
        return "n/a" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))

    lines = [README_BEGIN, "## Pre-trained Crafter models (`bench/pretraining_report.py`)", "",
             f"`{result['command']}` ({run_kind(result)}, counts in `{result['out_json']}`; "
             + (f"{result['seconds'] / 60:.0f} min" if "wall_seconds" not in result else
              f"{len(result.get('parts') or [])} processes, the longest {result['wall_seconds'] / 60:.0f} min, "
              f"{result['seconds'] / 60:.0f} min in all") + "). Issue 18 targets in brackets.", "",
             "| figure | value |", "|---|---|"]
    t, ex = result.get("prior_temperature"), result.get("prior_exclude_labels")
    if (t is not None and t != 1.0) or ex:
        lines[-4] += (f" Prior codes drawn at temperature {t}" + (f", never a code labelled {', '.join(ex)}" if ex
                      else "") + ": a diagnostic, not the issue's protocol.")
    p = result.get("player")
    if p:
        rates = p["achievement_success_rate"]
        lines.append(f"| player: median episode length ({p['episodes']} episodes) [>= 1000] | "
                     f"{fmt(p['median_episode_length'])} |")
        lines.append(f"| player: make_stone_pickaxe / collect_iron [>= 0.8 / 0.4] | "
                     f"{fmt(rates.get('make_stone_pickaxe'))} / {fmt(rates.get('collect_iron'))} |")
        if p.get("ends"):
            lines.append(f"| player: how its episodes ended | {_counts_text(p['ends'])} |")
    g = result.get("goal_information")
    if g:
        lines.append(f"| low level action NLL, true goal / no goal, nats/frame ({g['frames']} frames) | "
                     f"{fmt(g['nll_true_goal'])} / {fmt(g['nll_no_goal'])} |")
        lines.append(f"| goal information gap [>= 0.15] | {fmt(g['gap'])} |")
    pr = result.get("prior")
    if pr:
        lines.append(f"| prior NLL / label entropy, nats/frame [ratio <= 0.8] | {fmt(pr['nll'])} / "
                     f"{fmt(pr['label_entropy'])} |")
    s = result.get("survival_under_prior")
    if s:
        lines.append(f"| survival under the prior: median length ({s['episodes']} worlds) [>= 500] | "
                     f"{fmt(s['median_episode_length'])} |")
        if s.get("death_causes"):
            lines.append(f"| survival under the prior: what killed the player | {_counts_text(s['death_causes'])} |")
    ps, us = result.get("prior_driven_success"), result.get("unconditional_success")
    if ps:
        for task in ps:
            lines.append(f"| {task}: success, prior goals / zero goal [prior >= zero] | {fmt(ps[task])} / "
                         f"{fmt((us or {}).get(task))} |")
    sc = result.get("unconditional_bc_crafter_score")
    if sc is not None:
        lines.append(f"| unconditional low level, Crafter score ({result['counts']['score_episodes']} episodes) "
                     f"[>= 10] | {fmt(sc)} |")
    ph = result.get("pipeline_hours")
    if ph is not None or "pipeline_hours" in result.get("sections", ()):
        lines.append(f"| pipeline hours [<= 6] | {fmt(ph)} |")
    c = result.get("competence")
    if c:
        met = [a for a, v in c.items() if v["success"] is not None
               and v["success"] >= COMPETENCE_TARGETS.get(a, COMPETENCE_TARGET_DEFAULT)]
        tested = all(v.get("measured_on") == "test starts" for v in c.values())
        lines += ["", "Competence (the best code from next-link starts, within "
                  f"{result['counts']['horizon']} env steps; targets {COMPETENCE_TARGET_DEFAULT}, or "
                  + ", ".join(f"{t} for {a}" for a, t in COMPETENCE_TARGETS.items()) + "): " + (
                      f"the code is chosen on the selection starts (held-out episodes of seed {result['seed']}) and "
                      f"measured with the zero goal on test starts (episodes of seed {result.get('test_seed')}). "
                      if tested else "chosen and measured on the same starts: biased upwards. ")
                  + f"At target: {len(met)} of {len(c)}.", "",
                  "| achievement | best code | success | zero goal | starts | start | selection: success / starts |",
                  "|---|---|---|---|---|---|---|"]
        for a, v in c.items():
            sel = v.get("selection") or {}
            lines.append(f"| {a} | {v['best_code']} | {fmt(v['success'])} | {fmt(v['unconditional_success'])} | "
                         f"{v['worlds']} | {v['start']} | {fmt(sel.get('success'))} / {sel.get('worlds', 'n/a')} |")
    lines.append(README_END)
    return "\n".join(lines) + "\n"


def write_readme(path: str, section: str) -> None:
    """Replace (or append) the marked section of ``path`` atomically."""
    from steve1.utils.io import atomic_write_text

    text = Path(path).read_text(encoding="utf-8") if os.path.isfile(path) else ""
    if README_BEGIN in text and README_END in text:
        head, rest = text.split(README_BEGIN, 1)
        tail = rest.split(README_END, 1)[1].lstrip("\n")
        text = head + section + tail
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    atomic_write_text(path, text)


# ----------------------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="counts default to the full protocol "
                                f"{FULL}; --quick uses {QUICK}",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--highlevel_config", default="configs/crafter/highlevel.yaml",
                   help="high-level config naming the models (in_model, in_weights, prior_weights, codebook, "
                        "goal_embedder, cond_scale, low_level_steps)")
    p.add_argument("--cond_scale", type=float, default=None,
                   help="classifier-free guidance of the low level (default: the high-level config's)")
    p.add_argument("--low_level_args", default=None,
                   help="the low level's training arguments YAML (default: <in_weights stem>_args.yaml)")
    p.add_argument("--prior_args", default=None,
                   help="the goal prior's training arguments YAML (default: <prior_weights stem>_args.yaml)")
    p.add_argument("--pipeline_json", default=None, help="pipeline record (default: pipeline.json beside in_weights)")
    p.add_argument("--embedder", default="crafterclip", help="goal embedder kind of the config's goal_embedder")
    p.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS, help="figures to measure")
    p.add_argument("--quick", action="store_true", help="small counts (a smoke run of every figure)")
    for key, help_ in (("player_episodes", "held-out scripted-player episodes"),
                       ("max_episode_len", "env steps after which a player episode is truncated"),
                       ("worlds", "competence: selection starts (held-out worlds) per achievement, on which the "
                                  "best code is chosen"),
                       ("screen_worlds", "competence: starts on which every code is screened"),
                       ("top_codes", "competence: codes kept after the screen"),
                       ("test_episodes", "competence: player episodes of --test_seed to take the test starts from"),
                       ("test_worlds", "competence: test starts per achievement, on which the chosen code is "
                                       "measured"),
                       ("horizon", "competence: env steps per attempt"),
                       ("survival_worlds", "survival under the prior: worlds"),
                       ("task_episodes", "prior-driven success: episodes per task and goal source"),
                       ("score_episodes", "Crafter score of the unconditional low level: episodes")):
        p.add_argument(f"--{key}", type=int, default=None, help=f"{help_} (default: full {FULL[key]}, quick "
                                                                  f"{QUICK[key]})")
    p.add_argument("--codes", type=int, nargs="+", default=None,
                   help="competence: screen only these code indices (default: every code; --quick: the first 4)")
    p.add_argument("--achievements", nargs="+", default=list(ACHIEVEMENTS_DEFAULT), help="competence sub-goals")
    p.add_argument("--tasks", nargs="+", default=["crafter_iron", "crafter_stone_pickaxe"],
                   help="tasks of the prior-driven success figure")
    p.add_argument("--score_task", default="crafter_score", help="task of the survival and Crafter-score figures")
    p.add_argument("--max_steps", type=int, default=None,
                   help="cap on the env steps of whole episodes (survival, prior-driven success, Crafter score; "
                        "default: each task's own, e.g. 10000 for crafter_score)")
    p.add_argument("--prior_temperature", type=float, default=1.0,
                   help="softmax temperature of the codes drawn from the goal prior (survival_under_prior, "
                        "prior_driven_success); 1.0: the prior as trained, below 1 sharper")
    p.add_argument("--prior_exclude_labels", nargs="+", default=None, metavar="LABEL",
                   help="never draw the prior's codes whose label in codebook.json (beside the config's codebook) "
                        "is one of these, e.g. sleep wake_up (a diagnostic; default: none excluded)")
    p.add_argument("--n_envs", type=int, default=8, help="envs stepped together")
    p.add_argument("--batch_size", type=int, default=8, help="chunks per NLL forward")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=9001, help="held-out seed: player run seed and first world seed")
    p.add_argument("--test_seed", type=int, default=20001,
                   help="competence: player run seed of the test starts (not --seed: the code is chosen there)")
    p.add_argument("--out_json", default="bench/results/pretraining.json", help="result JSON")
    p.add_argument("--readme", default="bench/results/README.md", help="README whose marked section is written")
    p.add_argument("--merge", nargs="+", default=None, metavar="PART_JSON",
                   help="measure nothing: write --out_json and the README section from these reports (each "
                        "some --sections of the same models and counts)")
    return p


def _fail(p: argparse.ArgumentParser, msg: str):
    p.exit(2, f"{p.prog}: error: {msg}\n")


def check_flags(p: argparse.ArgumentParser, args: argparse.Namespace, positive: Sequence[str] = (),
                non_negative: Sequence[str] = (), files: Sequence[str] = (), json_out: Sequence[str] = ()) -> None:
    """The flag checks the bench scripts share: each of ``positive`` an integer >= 1, of ``non_negative`` >= 0, of
    ``files`` an existing file, of ``json_out`` a ``.json`` path; the first bad one ends the program with one line
    naming the flag (exit code 2), before anything is written."""
    for key in positive:
        if getattr(args, key) < 1:
            _fail(p, f"--{key} {getattr(args, key)}: expected an integer >= 1")
    for key in non_negative:
        if getattr(args, key) < 0:
            _fail(p, f"--{key} {getattr(args, key)}: expected an integer >= 0")
    for key in files:
        if not os.path.isfile(getattr(args, key)):
            _fail(p, f"--{key} {getattr(args, key)}: no such file")
    for key in json_out:
        if not str(getattr(args, key)).endswith(".json"):
            _fail(p, f"--{key} {getattr(args, key)}: expected a .json file path")


def read_report_links(p: argparse.ArgumentParser, path: str, achievements: Optional[Sequence[str]],
                      test_starts: bool = False) -> tuple[dict[str, Any], list[str]]:
    """(the report at ``path``, the competence links to follow: ``achievements`` or all of the report's), for the
    bench scripts that follow a report's competence links. A file that is not JSON, a report without competence
    (measured on test starts, with ``test_starts``) or a link it lacks ends the program with one line naming the
    flag (``--report`` or ``--achievements``) and exit code 2."""
    import json

    with open(path) as f:
        try:
            report = json.load(f)
        except json.JSONDecodeError as e:
            _fail(p, f"--report {path}: not JSON ({e})")
    comp = report.get("competence") or {}
    if not comp:
        _fail(p, f"--report {path}: holds no competence figure")
    if test_starts and any(v.get("measured_on") != "test starts" for v in comp.values()):
        _fail(p, f"--report {path}: no competence measured on test starts (a report of bench/pretraining_report.py "
                 f"with --test_worlds, session 37 on)")
    links = list(achievements or comp)
    missing = [a for a in links if a not in comp]
    if missing:
        _fail(p, f"--achievements {missing[0]}: not a competence link of {path}")
    return report, links


def report_config(p: argparse.ArgumentParser, report: dict[str, Any], highlevel_config: str, n_envs: int):
    """The ``crafter_score`` :class:`hierarchical.config.HighLevelConfig` of ``highlevel_config`` with ``n_envs``
    envs and the report's ``cond_scale``; models whose md5 differs from the report's ``model_md5`` end the program
    with one line naming ``--highlevel_config`` and exit code 2."""
    from hierarchical_throughput import task_config

    cond_scale = (report.get("models") or {}).get("cond_scale")
    cfg = task_config("crafter_score", {"n_envs": n_envs, **({} if cond_scale is None else
                                                               {"cond_scale": cond_scale})}, highlevel_config)
    if model_md5(cfg) != report.get("model_md5"):
        _fail(p, f"--highlevel_config {highlevel_config}: its models are not the report's (model_md5 differs)")
    return cfg


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse and check the flags; a bad value ends with one line naming it and exit code 2."""
    p = build_parser()
    args = p.parse_args(argv)
    counts = QUICK if args.quick else FULL
    for key, default in counts.items():
        if getattr(args, key) is None:
            setattr(args, key, default)
        if getattr(args, key) < 1:
            _fail(p, f"--{key} {getattr(args, key)}: expected an integer >= 1")
    for key in ("n_envs", "batch_size", "threads"):
        if getattr(args, key) < 1:
            _fail(p, f"--{key} {getattr(args, key)}: expected an integer >= 1")
    if args.max_steps is not None and args.max_steps < 1:
        _fail(p, f"--max_steps {args.max_steps}: expected an integer >= 1 (env steps)")
    if args.codes is not None and any(k < 0 for k in args.codes):
        _fail(p, f"--codes {args.codes}: expected code indices >= 0")
    if args.seed < 0:
        _fail(p, f"--seed {args.seed}: expected an integer >= 0")
    if args.test_seed < 0 or args.test_seed == args.seed:
        _fail(p, f"--test_seed {args.test_seed}: expected an integer >= 0 other than --seed (the test starts must "
                 f"come from other episodes than the ones the code is chosen on)")
    if not args.prior_temperature > 0:
        _fail(p, f"--prior_temperature {args.prior_temperature}: expected a number > 0")
    from tasks.crafter.env import ACHIEVEMENTS

    bad = [a for a in args.achievements if a not in ACHIEVEMENTS]
    if bad:
        _fail(p, f"--achievements {bad[0]}: expected Crafter achievements ({', '.join(ACHIEVEMENTS)})")
    import tasks

    for t in args.tasks + [args.score_task]:
        if t not in tasks.task_names("crafter"):
            _fail(p, f"--tasks/--score_task {t}: expected a Crafter task of tasks/task_specs.yaml "
                     f"({', '.join(tasks.task_names('crafter'))})")
    if not os.path.isfile(args.highlevel_config):
        _fail(p, f"--highlevel_config {args.highlevel_config}: no such file (expected a high-level config YAML)")
    for key in ("low_level_args", "prior_args", "pipeline_json"):
        value = getattr(args, key)
        if value is not None and key != "pipeline_json" and not os.path.isfile(value):
            _fail(p, f"--{key} {value}: no such file (expected a training-arguments YAML)")
    out = Path(args.out_json)
    if out.suffix != ".json" or out.is_dir():
        _fail(p, f"--out_json {args.out_json}: expected a .json file path")
    for part in args.merge or ():
        if not os.path.isfile(part):
            _fail(p, f"--merge {part}: no such file (expected a report JSON of this script)")
        if os.path.abspath(part) == os.path.abspath(args.out_json):
            _fail(p, f"--merge {part}: is also --out_json (write the merged report elsewhere)")
    return args


def _args_file(weights: str) -> str:
    stem = weights[:-len(".weights")] if weights.endswith(".weights") else os.path.splitext(weights)[0]
    return stem + "_args.yaml"


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    args = parse_args(argv)
    import torch

    from hierarchical.build import read_yaml
    from hierarchical_throughput import task_config
    from steve1.utils.checks import run_main
    from steve1.utils.io import atomic_write_json
    from tasks.crafter.score import score_from_rates
    from tasks.crafter.env import ACHIEVEMENTS
    from VPT.lib.loading import load_model_config

    torch.set_num_threads(args.threads)
    command = "python bench/pretraining_report.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    if args.merge:
        def merge_body() -> dict[str, Any]:
            import json

            from steve1.utils.cli import UsageError

            parts = []
            for name in args.merge:
                with open(name) as f:
                    try:
                        parts.append(json.load(f))
                    except json.JSONDecodeError as e:
                        raise UsageError(f"--merge {name}: not JSON ({e})") from None
            try:
                result = merge_reports(parts, args.merge, command.strip(), args.out_json)
            except ValueError as e:
                raise UsageError(str(e)) from None
            atomic_write_json(args.out_json, result)
            write_readme(args.readme, readme_section(result))
            return result

        return run_main("pretraining_report.py", merge_body)

    def cfg_for(task: str):  # the task's HighLevelConfig, as ppo_highlevel.py resolves it
        overrides = {"n_envs": args.n_envs, **({} if args.cond_scale is None else {"cond_scale": args.cond_scale})}
        return task_config(task, overrides, args.highlevel_config)

    def body() -> dict[str, Any]:
        base = cfg_for(args.score_task)
        low_args_path = args.low_level_args or _args_file(base.in_weights)
        prior_args_path = args.prior_args or _args_file(base.prior_weights)
        size = int(load_model_config(base.in_model)[0]["img_shape"][0])
        t0 = time.time()
        counts = {k: getattr(args, k) for k in FULL}
        counts["max_steps"] = args.max_steps or "each task's own"
        counts["codes_screened"] = "all" if args.codes is None and not args.quick else (args.codes or list(range(4)))
        result: dict[str, Any] = {
            "command": command.strip(), "quick": bool(args.quick), "sections": list(args.sections), "counts": counts,
            "seed": args.seed, "test_seed": args.test_seed, "out_json": args.out_json,
            "prior_temperature": args.prior_temperature,
            "prior_exclude_labels": args.prior_exclude_labels,
            "models": {k: getattr(base, k) for k in ("in_model", "in_weights", "prior_weights", "codebook", "goal_embedder",
                                                "cond_scale", "low_level_steps")},
            "model_md5": model_md5(base),
            "low_level_args": low_args_path, "prior_args": prior_args_path,
            **{k: None for k in SECTIONS}, "unconditional_success": None,
        }
        exclude = None
        if args.prior_exclude_labels:
            from steve1.utils.cli import UsageError

            try:
                exclude = codes_with_labels(base.codebook, args.prior_exclude_labels)
            except ValueError as e:
                raise UsageError(f"--prior_exclude_labels: {e}") from None
            result["prior_exclude_codes"] = exclude
        if args.codes is not None and "competence" in args.sections:
            from goal_prior.codebook import KMeansCodebook
            from steve1.utils.cli import UsageError

            n_codes = KMeansCodebook(base.codebook).N
            if max(args.codes) >= n_codes:
                raise UsageError(f"--codes {max(args.codes)}: the codebook {base.codebook} has codes "
                                 f"0-{n_codes - 1}")

        def save_partial() -> None:  # an interrupted run keeps the figures measured so far
            atomic_write_json(args.out_json, {**result, "complete": False,
                                              "seconds_so_far": round(time.time() - t0, 1)})

        need_episodes = {"player", "goal_information", "prior", "competence"} & set(args.sections)
        with tempfile.TemporaryDirectory(prefix="pretraining_report_") as tmp:
            dirs: list[str] = []
            if need_episodes:
                ep_dir = os.path.join(tmp, "episodes")
                os.makedirs(ep_dir)
                dirs = generate_player_episodes(ep_dir, args.seed, args.player_episodes, args.max_episode_len, size)
                records = player_records(dirs)
                result["player"] = player_section(records)
                result["player"]["seed"] = args.seed
                if not {"player"} & set(args.sections):
                    result["player"]["note"] = "measured for the episodes the other figures use"
                if {"goal_information", "prior"} & set(args.sections):
                    result["embedding"] = embed_episodes(ep_dir, base.goal_embedder, args.embedder)
            save_partial()
            if "goal_information" in args.sections:
                try:
                    result["goal_information"] = goal_information(base, dirs, read_yaml(low_args_path), args.batch_size,
                                                                  args.seed)
                except NoChunksError as e:
                    result["goal_information"] = {"nll_true_goal": None, "nll_no_goal": None, "gap": None,
                                                  "note": str(e)}
            save_partial()
            if "prior" in args.sections:
                try:
                    result["prior"] = prior_nll(base, dirs, read_yaml(prior_args_path), args.batch_size, args.seed)
                except NoChunksError as e:
                    result["prior"] = {"nll": None, "label_entropy": None, "note": str(e)}
            save_partial()
            if "competence" in args.sections:
                test_dir = os.path.join(tmp, "test_episodes")
                os.makedirs(test_dir)
                test_dirs = generate_player_episodes(test_dir, args.test_seed, args.test_episodes,
                                                     args.max_episode_len, size)
                result["competence"] = competence(base, dirs, args.achievements, args.worlds, args.screen_worlds,
                                                  args.top_codes, args.horizon, args.n_envs, args.seed, size, tmp,
                                                  args.codes if args.codes is not None or not args.quick
                                                  else list(range(4)),
                                                  on_result=lambda c: (result.update(competence=c), save_partial()),
                                                  test_dirs=test_dirs, test_worlds=args.test_worlds,
                                                  test_seed=args.test_seed)
            save_partial()
            if "survival_under_prior" in args.sections:
                recs = play_episodes(base, args.survival_worlds, args.seed, "prior", args.n_envs, tmp,
                                     "survival under prior", args.max_steps, args.prior_temperature, exclude)
                result["survival_under_prior"] = {**_median_length(recs), "task": args.score_task,
                                                  "max_steps": args.max_steps or "task's",
                                                  "death_causes": {c: sum(r["death_cause"] == c for r in recs)
                                                                   for c in sorted({str(r["death_cause"]) for r in recs
                                                                                    if r["dead"]})}}
            save_partial()
            if "prior_driven_success" in args.sections:
                prior_s, zero_s, detail = {}, {}, {}
                for task in args.tasks:
                    cfg = cfg_for(task)
                    for goals, dest in (("prior", prior_s), ("zero", zero_s)):
                        recs = play_episodes(cfg, args.task_episodes, args.seed, goals, args.n_envs, tmp,
                                             f"{task} {goals}", args.max_steps, args.prior_temperature,
                                             exclude)
                        dest[task] = round(float(np.mean([r["success"] for r in recs])), 4)
                        detail[f"{task}/{goals}"] = {**_median_length(recs),
                                                     "achievement_rates": _achievement_rates(recs)}
                result["prior_driven_success"], result["unconditional_success"] = prior_s, zero_s
                result["prior_driven_success_episodes"] = {
                    k: {kk: v[kk] for kk in ("episodes", "median_episode_length", "achievement_rates")}
                    for k, v in detail.items()}
            save_partial()
            if "unconditional_bc_crafter_score" in args.sections:
                recs = play_episodes(base, args.score_episodes, args.seed, "zero", args.n_envs, tmp,
                                     "unconditional crafter score", args.max_steps)
                rates = {a: float(np.mean([a in r["achievements"] for r in recs])) for a in ACHIEVEMENTS}
                percent = [100.0 * r for r in rates.values()]
                result["unconditional_bc_crafter_score"] = round(score_from_rates(percent), 4)
                result["unconditional_bc_detail"] = {"episodes": len(recs), "success_rates": rates,
                                                     **{k: v for k, v in _median_length(recs).items()
                                                        if k != "lengths"}, "max_steps": args.max_steps or "task's"}
        if "pipeline_hours" in args.sections:
            ph = pipeline_hours(args.pipeline_json or os.path.join(os.path.dirname(base.in_weights),
                                                                   "pipeline.json"))
            result["pipeline_hours"] = ph["hours"]
            result["pipeline_hours_detail"] = ph
        result["seconds"] = round(time.time() - t0, 1)
        result["measured_utc"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        result["complete"] = True
        atomic_write_json(args.out_json, result)
        write_readme(args.readme, readme_section(result))
        print({k: result[k] for k in ("goal_information", "prior", "survival_under_prior", "prior_driven_success",
                                      "unconditional_success", "unconditional_bc_crafter_score", "pipeline_hours")})
        return result

    return run_main("pretraining_report.py", body)


if __name__ == "__main__":
    main()
