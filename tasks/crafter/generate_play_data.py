"""Generate the task-agnostic Crafter play dataset with the scripted player, in the EpisodeStorage layout.

    python -m tasks.crafter.generate_play_data --out_dir downloads/dataset_crafter --num_frames 1000000 --workers 2

Episode ``i`` of a run with ``--seed s`` is written to ``<out_dir>/crafter_s<s>_<i:06d>/`` (see
:mod:`steve1.data.EpisodeStorage`): ``frames.npz`` (uint8 [L, 64, 64, 3] RGB, lossless), ``actions.pkl`` (L ints in
[0, 17)), ``infos.npz`` (per-frame state, below), ``metadata.json`` and ``len.txt``; no ``embeds_attn.pkl`` (a later
embedding step adds it). Its env seed and player seed are derived from ``(s, i)`` only, so episodes are identical
whatever the number of workers, and a rerun skips the episodes already on disk (resume after an interruption: run
the same command again). Episodes are written atomically, so an interrupted run leaves no half episode that reads
as valid; the hidden temporary folders it may leave are removed at the next start.

Per-frame ``infos.npz`` (row t = the state shown in ``frames[t]``, before ``actions[t]``):

===============  ==============  ===================================================================
``inventory``     uint8 [L, 16]   item counts in :data:`tasks.crafter.env.INVENTORY_ITEMS` order
``achievements``  int32 [L, 22]   achievement counters in :data:`tasks.crafter.env.ACHIEVEMENTS` order
``player_pos``    int16 [L, 2]    (x, y) world tile
``facing``        int8 [L, 2]     (dx, dy)
``sleeping``      bool [L]
``daylight``      float32 [L]     1 = day, 0 = darkest night
``view``          uint8 [L, 9, 7] semantic ids (:data:`tasks.crafter.env.SEMANTIC_NAMES`: materials, objects over
                                  them) of the world window the frame shows, ``view[t, i, j]`` = world tile
                                  (x - 4 + i, y - 3 + j) around the player at (x, y) (:func:`view_window`);
                                  0 = off the map (drawn grey). Datasets written before it lack this key
``subgoal``       int16 [L]       the scripted player's sub-goal, index into metadata ``subgoal_names``
``random_action`` bool [L]        ``actions[t]`` is the player's random (epsilon) action, not its decision:
                                  leave these frames out of a behaviour-cloning loss
``nav_target``    int16 [L, 2]    (x, y) world tile where the walk behind ``actions[t]`` ends
                                  (:attr:`~tasks.crafter.player.navigation.Navigation.nav_target`), (-1, -1)
                                  when the step is not a step along a planned path. Datasets written before it
                                  lack this key
===============  ==============  ===================================================================

Task starts: with ``--task_start_share p`` a share ``p`` of the episodes (chosen from ``(seed, i)`` only) starts with
the initial inventory of a Crafter task of ``tasks/task_specs.yaml`` that has one (e.g. ``crafter_iron``: a stone
pickaxe), drawn uniformly among those tasks; metadata ``start_task`` names it (None otherwise) and
``initial_inventory`` holds the items written on the player after reset.

Night work: ``--no-night_work`` (``night_work: false`` in the config) makes the player wait or sleep in its sealed
shelter at night instead of crafting and digging towards ore there
(:class:`~tasks.crafter.scripted_player.ScriptedPlayer`'s ``night_work``); metadata ``player_night_work`` records it
(absent in datasets written before session 42, which all have night work), and ``generation.json`` pins it when off.
Early plant: ``--early_plant SHARE`` (``early_plant`` in the config) makes the player's first free sub-goal a sapling
planted in the open in that share of the episodes (``ScriptedPlayer(early_plant=SHARE)``); metadata
``player_early_plant`` records whether this episode did (absent before session 43: none did), and ``generation.json``
pins the share when above 0.

``metadata.json`` holds the world seed (``reset(options={"world_seed": w})`` + the actions replays the episode),
the player's seed and style, how the episode ended (``end``; ``death_cause``: what killed the player, None if it
lived, written since session 34), and the achievements/inventory after the last action (which no frame shows).
``<out_dir>/summary.json`` reports frames, episodes, episode lengths, the per-achievement success rate (share of
episodes that unlocked it), the Crafter score of those rates, and this run's wall-clock time and env steps per
second; ``<out_dir>/generation.json`` pins the settings a resumed run must match.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from importlib.metadata import version
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
from tqdm import tqdm

from steve1.data.EpisodeStorage import TMP_MARKER, EpisodeStorage
from steve1.utils.checks import Range
from steve1.utils.config import StageConfig, add_flags, flag_values, load_config, setting
from steve1.utils.io import atomic_write_text
from tasks.crafter.env import ACHIEVEMENTS, ACTION_NAMES, INVENTORY_ITEMS, CrafterEnv
from tasks.crafter.player_perception import VIEW_HALF, visible_window
from tasks.crafter.scripted_player import PLAYER_VERSION, SUBGOALS, ScriptedPlayer
from tasks.crafter.score import score_from_rates

#: The config file read when ``--config`` is not given (relative to the repository root).
DEFAULT_CONFIG = "configs/crafter/play_data.yaml"


@dataclass
class PlayDataConfig(StageConfig):
    """Settings of the play dataset (``configs/crafter/play_data.yaml``); a flag of the same name overrides each.
    All but ``workers`` are pinned in ``<out_dir>/generation.json``: a resumed run must use the same."""

    seed: int = setting("dataset seed (episode i's env and player seeds derive from (seed, i))", Range(int, lo=0))
    max_episode_len: int = setting("env steps after which an episode is truncated (Crafter's own length is 10000)",
                                   Range(int, lo=1, note="env steps"))
    size: int = setting("frame size in pixels (square)", Range(int, lo=1, note="pixels"))
    task_start_share: float = setting("share of episodes starting from a task_specs.yaml task's initial inventory",
                                      Range(float, lo=0, hi=1))
    frame_format: str = setting("EpisodeStorage frame format (npz: lossless, compressed)",
                                choices=("npz", "npy", "mp4"))
    workers: int = setting("worker processes", Range(int, lo=1, note="processes"))
    night_work: bool = setting("the player crafts and digs towards ore in its sealed shelter at night (player v8); "
                               "false: it waits or sleeps there until the morning (ScriptedPlayer(night_work))")
    early_plant: float = setting("share of episodes whose first free sub-goal is a sapling planted in the open "
                                 "(ScriptedPlayer(early_plant)); 0: player v8 as shipped", Range(float, lo=0, hi=1))


def task_starts() -> dict[str, dict[str, int]]:
    """Crafter tasks of ``tasks/task_specs.yaml`` with a non-empty initial inventory: name -> {item: count}."""
    from tasks import get_specs, task_names
    out = {}
    for name in task_names("crafter"):
        inventory = (get_specs(name).get("sim_specs") or {}).get("initial_inventory") or {}
        if inventory:
            out[name] = {k: int(v) for k, v in inventory.items()}
    return out


def episode_start(seed: int, index: int, share: float) -> Optional[str]:
    """The task whose start inventory episode ``index`` of a run seeded ``seed`` starts from (None: an empty
    inventory): a function of ``(seed, index, share)`` only."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, 1]))
    starts = sorted(task_starts())
    if not starts or rng.random() >= share:
        return None
    return starts[int(rng.integers(len(starts)))]

POLICY = "tasks.crafter.scripted_player.ScriptedPlayer"


def view_window(info: dict[str, Any]) -> np.ndarray:
    """The world window the agent's image shows, as semantic ids (the ``view`` row of ``infos.npz``): the tiles of
    :func:`tasks.crafter.player_perception.visible_window` (what the scripted player perceives), placed in a fixed
    [9, 7] grid around the player.

    Args:
        info: a :class:`tasks.crafter.env.CrafterEnv` info (``semantic`` uint8 [W, H] indexed [x, y],
            ``player_pos`` (x, y)).
    Returns:
        uint8 [2 * VIEW_HALF[0] + 1, 2 * VIEW_HALF[1] + 1] = [9, 7], entry [i, j] = world tile
        (x - 4 + i, y - 3 + j); 0 (no semantic id) for tiles off the map.
    """
    window = visible_window(info)
    out = np.zeros((2 * VIEW_HALF[0] + 1, 2 * VIEW_HALF[1] + 1), np.uint8)
    i0 = window.origin[0] - (int(info["player_pos"][0]) - VIEW_HALF[0])
    j0 = window.origin[1] - (int(info["player_pos"][1]) - VIEW_HALF[1])
    out[i0: i0 + window.sem.shape[0], j0: j0 + window.sem.shape[1]] = window.sem
    return out


def episode_name(seed: int, index: int) -> str:
    return f"crafter_s{seed}_{index:06d}"


def episode_seeds(seed: int, index: int) -> tuple[int, int]:
    """(env seed, player seed) of episode ``index`` of a run seeded ``seed``: a function of the pair only."""
    env_seed, player_seed = np.random.SeedSequence([seed, index]).generate_state(2)
    return int(env_seed), int(player_seed)


_WORKER: dict[str, Any] = {}


def _worker_env(size: int, max_episode_len: int) -> CrafterEnv:
    key = (size, max_episode_len)
    if _WORKER.get("key") != key:
        _WORKER["env"] = CrafterEnv(size=size, max_steps=max_episode_len)
        _WORKER["key"] = key
    return _WORKER["env"]


def play_episode(env: CrafterEnv, player: ScriptedPlayer, env_seed: int,
                 initial_inventory: Optional[dict[str, int]] = None) -> dict[str, Any]:
    """Play one episode; returns frames uint8 [L, H, W, 3], actions (L ints), infos (name -> [L, ...]) and the
    final ``info`` (after the last action). ``initial_inventory``: items written on the player after reset."""
    env.initial_inventory = dict(initial_inventory or {})
    obs, info = env.reset(seed=env_seed)
    player.reset(env, info)
    frames, actions = [], []
    rows: dict[str, list] = {k: [] for k in ("inventory", "achievements", "player_pos", "facing", "sleeping",
                                             "daylight", "view", "subgoal", "random_action", "nav_target")}
    world_seed = info["world_seed"]
    while True:
        action = player.act(info)
        frames.append(obs["pov"])
        actions.append(int(action))
        rows["inventory"].append([info["inventory"][k] for k in INVENTORY_ITEMS])
        rows["achievements"].append([info["achievements"][k] for k in ACHIEVEMENTS])
        rows["player_pos"].append(info["player_pos"])
        rows["facing"].append(info["facing"])
        rows["sleeping"].append(info["sleeping"])
        rows["daylight"].append(info["daylight"])
        rows["view"].append(view_window(info))
        rows["subgoal"].append(player.subgoal_id)
        rows["random_action"].append(bool(getattr(player, "random_action", False)))
        nav = getattr(player, "nav_target", None)  # a player without walks (e.g. a test's) records none
        rows["nav_target"].append(nav if nav is not None else (-1, -1))
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    infos = {
        "inventory": np.asarray(rows["inventory"], np.uint8),
        "achievements": np.asarray(rows["achievements"], np.int32),
        "player_pos": np.asarray(rows["player_pos"], np.int16),
        "facing": np.asarray(rows["facing"], np.int8),
        "sleeping": np.asarray(rows["sleeping"], bool),
        "daylight": np.asarray(rows["daylight"], np.float32),
        "view": np.stack(rows["view"]).astype(np.uint8),
        "subgoal": np.asarray(rows["subgoal"], np.int16),
        "random_action": np.asarray(rows["random_action"], bool),
        "nav_target": np.asarray(rows["nav_target"], np.int16).reshape(-1, 2),
    }
    return {"frames": np.stack(frames), "actions": actions, "infos": infos, "final_info": info,
            "world_seed": world_seed, "end": "death" if info["dead"] else "max_steps"}


def generate_episode(out_dir: str, seed: int, index: int, size: int, max_episode_len: int,
                     frame_format: str, task_start_share: float, night_work: bool = True,
                     early_plant: float = 0.0) -> dict[str, Any]:
    """Play and write episode ``index`` (worker entry point). Returns its summary (length, final achievements).
    ``night_work``, ``early_plant``: :class:`tasks.crafter.scripted_player.ScriptedPlayer`'s options of those
    names."""
    start = time.time()
    env = _worker_env(size, max_episode_len)
    env_seed, player_seed = episode_seeds(seed, index)
    player = ScriptedPlayer(seed=player_seed, night_work=night_work, early_plant=early_plant)
    start_task = episode_start(seed, index, task_start_share)
    initial_inventory = task_starts()[start_task] if start_task else {}
    ep = play_episode(env, player, env_seed, initial_inventory)
    final = ep["final_info"]
    metadata = {
        "sim": "crafter",
        "policy": POLICY,
        "policy_version": PLAYER_VERSION,
        "dataset_seed": seed,
        "episode_index": index,
        "env_seed": env_seed,
        "world_seed": ep["world_seed"],
        "player_seed": player_seed,
        "player_style": player.style_dict(),
        "player_night_work": bool(night_work),
        "player_early_plant": bool(player.early_plant_episode),
        "start_task": start_task,
        "initial_inventory": initial_inventory,
        "size": [size, size],
        "max_episode_len": max_episode_len,
        "length": len(ep["actions"]),
        "end": ep["end"],
        "death_cause": final["death_cause"],
        "final_achievements": {k: int(v) for k, v in final["achievements"].items()},
        "final_inventory": {k: int(v) for k, v in final["inventory"].items()},
        "action_names": list(ACTION_NAMES),
        "subgoal_names": list(SUBGOALS),
        "inventory_names": list(INVENTORY_ITEMS),
        "achievement_names": list(ACHIEVEMENTS),
        "crafter_version": version("crafter"),
    }
    path = os.path.join(out_dir, episode_name(seed, index))
    EpisodeStorage(path).write_episode(ep["frames"], ep["actions"], metadata=metadata, infos=ep["infos"],
                                       frame_format=frame_format)
    return {"index": index, "length": metadata["length"], "end": metadata["end"],
            "final_achievements": metadata["final_achievements"], "seconds": time.time() - start}


def _existing(out_dir: str, seed: int) -> dict[int, dict[str, Any]]:
    """Valid episodes of this seed already in ``out_dir``: index -> summary (from metadata.json)."""
    pattern = re.compile(rf"^crafter_s{seed}_(\d+)$")
    found = {}
    for name in sorted(os.listdir(out_dir)):
        m = pattern.match(name)
        if not m:
            continue
        episode = EpisodeStorage(os.path.join(out_dir, name))
        if not episode.is_valid():
            continue
        meta = episode.load_metadata()
        found[int(m.group(1))] = {"index": int(m.group(1)), "length": episode.get_len(), "end": meta.get("end"),
                                  "final_achievements": meta["final_achievements"]}
    return found


def _remove_stale_tmp(out_dir: str, seed: int) -> int:
    removed = 0
    for name in os.listdir(out_dir):
        if name.startswith(f".crafter_s{seed}_") and TMP_MARKER in name:
            shutil.rmtree(os.path.join(out_dir, name), ignore_errors=True)
            removed += 1
    return removed


def summarize(episodes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Dataset statistics from episode summaries."""
    lengths = np.array([e["length"] for e in episodes], dtype=np.int64)
    rates = {a: float(np.mean([e["final_achievements"][a] > 0 for e in episodes])) if episodes else 0.0
             for a in ACHIEVEMENTS}
    return {
        "frames": int(lengths.sum()),
        "episodes": len(episodes),
        "episode_length": {"mean": float(lengths.mean()) if len(lengths) else 0.0,
                           "median": float(np.median(lengths)) if len(lengths) else 0.0,
                           "min": int(lengths.min()) if len(lengths) else 0,
                           "max": int(lengths.max()) if len(lengths) else 0},
        "ended_by_death": float(np.mean([e["end"] == "death" for e in episodes])) if episodes else 0.0,
        "achievement_success_rate": rates,
        "achievements_unlocked_in_some_episode": int(sum(r > 0 for r in rates.values())),
        "crafter_score_of_rates": score_from_rates([100.0 * r for r in rates.values()]),
    }


def _write_json(path: str, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2))


def parse_args(argv: Optional[Sequence[str]] = None) -> tuple[argparse.Namespace, PlayDataConfig]:
    """The run's size and folder (``--out_dir``, exactly one of ``--num_frames`` / ``--num_episodes``) and the
    :class:`PlayDataConfig` (``--config`` with the flags applied, checked once).

    Raises:
        SystemExit: (argparse) not exactly one of ``--num_frames`` and ``--num_episodes``. FileNotFoundError: no
            config file. steve1.utils.cli.UsageError: an unknown or missing key, a value of the wrong type or out of
            range (naming the flag or the file and key).
    """
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=DEFAULT_CONFIG, help="YAML file of the settings below (flags override)")
    p.add_argument("--out_dir", default="downloads/dataset_crafter", help="dataset folder (episode directories)")
    p.add_argument("--num_frames", type=int, default=None,
                   help="generate episodes 0, 1, ... until they hold at least this many frames (env steps)")
    p.add_argument("--num_episodes", type=int, default=None, help="generate episodes 0 .. N-1 instead")
    add_flags(p, PlayDataConfig)
    args = p.parse_args(argv)
    if (args.num_frames is None) == (args.num_episodes is None):
        p.error("give exactly one of --num_frames and --num_episodes")
    config, _ = load_config(PlayDataConfig, args.config, flag_values(args, PlayDataConfig))
    return args, config


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Entry point (see ``--help``). A config value or flag out of range, an unknown or missing config key ends the
    program with one line on stderr naming the flag or the config file and key, and exit code 2
    (``steve1.utils.cli``); settings that differ from those of the episodes already in ``--out_dir`` end it with a
    message naming ``generation.json``."""
    from steve1.utils.checks import run_main

    args, config = run_main("generate_play_data.py", lambda: parse_args(argv))
    return _generate(args, config, argv)


def _generate(args: argparse.Namespace, config: PlayDataConfig, argv: Optional[Sequence[str]]) -> dict[str, Any]:
    c = config
    os.makedirs(args.out_dir, exist_ok=True)
    settings = {"seed": c.seed, "max_episode_len": c.max_episode_len, "size": c.size,
                "frame_format": c.frame_format, "policy": POLICY, "policy_version": PLAYER_VERSION,
                "task_start_share": c.task_start_share,
                "crafter_version": version("crafter")}
    if not c.night_work:  # only when off, so that datasets generated before the option resume as they were
        settings["night_work"] = False
    if c.early_plant > 0:  # only when on, for the same reason
        settings["early_plant"] = c.early_plant
    gen_path = os.path.join(args.out_dir, "generation.json")
    if os.path.exists(gen_path):
        with open(gen_path) as f:
            previous = json.load(f).get(f"seed{c.seed}")
        if previous is not None and previous != settings:
            raise SystemExit(f"{gen_path}: episodes of seed {c.seed} were generated with {previous}, not "
                             f"{settings}; use another --out_dir or --seed")
        with open(gen_path) as f:
            all_settings = json.load(f)
    else:
        all_settings = {}
    all_settings[f"seed{c.seed}"] = settings
    _write_json(gen_path, all_settings)
    removed = _remove_stale_tmp(args.out_dir, c.seed)
    if removed:
        print(f"removed {removed} unfinished episode folder(s) of an interrupted run")

    done = _existing(args.out_dir, c.seed)
    frames_done = sum(e["length"] for e in done.values())
    target_episodes = args.num_episodes
    total = args.num_frames if args.num_frames is not None else args.num_episodes
    progress = frames_done if args.num_frames is not None else len(done)

    def finished() -> bool:
        if target_episodes is not None:
            return all(i in done for i in range(target_episodes))
        return frames_done >= args.num_frames

    def next_indices():
        i = 0
        while True:
            if target_episodes is not None and i >= target_episodes:
                return
            if i not in done:
                yield i
            i += 1

    start = time.time()
    new_frames = new_episodes = 0
    bar = tqdm(total=total, initial=min(progress, total), unit="frame" if args.num_frames else "episode",
               dynamic_ncols=True, desc=os.path.basename(os.path.normpath(args.out_dir)))
    indices = next_indices()
    with ProcessPoolExecutor(max_workers=c.workers) as pool:
        running = set()
        while True:
            while len(running) < c.workers and not finished():
                i = next(indices, None)
                if i is None:
                    break
                running.add(pool.submit(generate_episode, args.out_dir, c.seed, i, c.size,
                                        c.max_episode_len, c.frame_format, c.task_start_share, c.night_work,
                                        c.early_plant))
            if not running:
                break
            completed, running = wait(running, return_when=FIRST_COMPLETED)
            for future in completed:
                result = future.result()
                done[result["index"]] = result
                frames_done += result["length"]
                new_frames += result["length"]
                new_episodes += 1
                bar.update(result["length"] if args.num_frames is not None else 1)
                bar.set_postfix(episodes=len(done), steps_per_s=f"{new_frames / (time.time() - start):.0f}")
                if new_episodes % 25 == 0:  # progress for long runs
                    _write_summary(args, c, argv, done, start, new_episodes, new_frames)
    bar.close()
    summary = _write_summary(args, c, argv, done, start, new_episodes, new_frames)
    print(json.dumps({k: summary[k] for k in ("frames", "episodes", "this_run", "achievements_unlocked_in_some_episode",
                                              "crafter_score_of_rates")}, indent=2))
    return summary


def _write_summary(args, c, argv, done, start, new_episodes, new_frames) -> dict[str, Any]:
    wall = time.time() - start
    summary = summarize([done[i] for i in sorted(done)])
    summary.update({
        "dataset_seed": c.seed,
        "this_run": {"episodes": new_episodes, "frames": new_frames, "wall_clock_s": round(wall, 1),
                     "env_steps_per_s": round(new_frames / wall, 1) if wall > 0 else None,
                     "workers": c.workers},
        "command": " ".join([os.path.basename(sys.executable), "-m", "tasks.crafter.generate_play_data"]
                            + list(argv if argv is not None else sys.argv[1:])),
    })
    _write_json(os.path.join(args.out_dir, "summary.json"), summary)
    return summary


if __name__ == "__main__":
    main()
