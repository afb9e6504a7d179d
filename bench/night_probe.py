"""Night probe: can the low level survive Crafter's first night from the state its teacher was in? (issue 18)

    python bench/night_probe.py --episodes 20                        # dusk and shelter starts, every condition
    python bench/night_probe.py --episodes 3 --conditions noop zero   # a smoke run

Why: every learned agent of this project dies in the first night (~175 env steps, zombies; ``bench/results/README.md``),
while the scripted player it imitates survives nights by walling itself into a two-tile pocket
(:meth:`tasks.crafter.player.survival.Survival._shelter`). This probe separates the two possible reasons: the low level
reaches the night unprepared (too slow up the tech tree to hold a pickaxe and stones), or it cannot shelter even
when prepared.

Starts (``--starts``), taken from held-out scripted-player episodes (run seed ``--seed``, default 9001, disjoint from
the play dataset's seed 0; empty start inventory; written by :func:`tasks.crafter.generate_play_data.generate_episode`)
and rebuilt exactly by replaying each episode's actions in its world
(:func:`pretraining_report.replay_snapshot`):

* ``dusk``: env step 70, the start of the player's first dusk (``tasks.crafter.player.rules._DUSK_START``), where the
  player starts to top up drink and food and to fetch stones for the night.
* ``shelter``: the first frame at or after env step 116 (zombies spawn from daylight < 0.83, env step ~116 of
  each 300-step day) at which the player's sub-goal is ``shelter``, i.e. the player holds its materials and starts
  to look for a site and wall itself in.
* ``sealed`` (not run unless asked for): the first frame at or after env step 116 at which the player is sealed in
  (:func:`sealed`), found by replaying the episode: the shelter is built, and what is left is to stay in it until
  the morning (separates building the shelter from keeping to it).

An episode in which the player died before the start frame (or never chose ``shelter`` in the first night) gives no
start. From each start, every condition plays until the morning, env step 320 of the episode
(``_DAY + _NIGHT_END``: daylight back above the zombie-spawn level, zombies no longer spawn on grass), or death:

* ``player``: the scripted player's recorded actions, replayed from the start.
* ``noop``: the ``noop`` action every env step (a player that stands still).
* ``random``: uniform random actions (a fixed RNG seeded by ``--seed``).
* ``zero``: the low level with the zero goal (the unconditional BC policy; classifier-free guidance at the config's
  ``cond_scale`` has no effect on a zero goal), through :class:`hierarchical.high_level_wrapper.HighlevelVecEnv`.
* ``prior``: the low level with codes drawn from the goal prior every ``low_level_steps`` (no RL, no KL).
* ``code<K>``: the low level with code K of the codebook held fixed (``--codes``).

Recorded per episode: env steps survived, alive at the morning, death cause, whether the player was ever sealed in
(the walkable region reachable from the player, creatures counted as walkable, has at most 4 tiles: the scripted
player's two-tile shelter; computed from ``info["semantic"]``), stones placed, stones held at the start, whether
a wood pickaxe was held at the start, and, once sealed, whether, when and by which action the player left its
pocket and what it did while sealed (:class:`_Trace`). Summary per start kind and condition: survival rate through
the night with a 95% Wilson interval, median steps survived, sealed share, death causes, and of the sealed episodes
the share that left the pocket, the median env steps to leaving, the actions that opened it and the action shares
while sealed.

Written (``--out``, default ``bench/results/night_probe.json``, atomically): the command, the counts, and the summary and
records per start kind and condition; beside it the same name ``.png``: survival through the night per condition
and start kind, with the 95% intervals (:func:`plot`).
"""
from __future__ import annotations

import argparse
import collections
import copy
import math
import os
import shlex
import sys
import tempfile
import time
from typing import Any, Optional, Sequence

import gymnasium
import numpy as np
from tqdm import tqdm

START_KINDS = ("dusk", "shelter", "sealed")
DEFAULT_STARTS = ("dusk", "shelter")
BASE_CONDITIONS = ("player", "noop", "random", "zero", "prior")
from tasks.crafter.env import ACTION_NAMES  # noqa: E402
from tasks.crafter.player.rules import _DAY, _DUSK_START, _NIGHT_END  # noqa: E402
from tasks.crafter.player.survival import _POCKET_MAX as POCKET_MAX  # noqa: E402,F401  (sealed in: <= 4 tiles)

#: Env step of the first dusk and of the next morning (the scripted player's clock, ``tasks.crafter.player.rules``),
#: and of the first darkness in which zombies spawn (daylight < 0.83, crafter's balance rule; rules.py comment).
DUSK_STEP, DARK_STEP, MORNING_STEP = _DUSK_START, 116, _DAY + _NIGHT_END


def sealed(semantic: np.ndarray, pos: Sequence[int]) -> bool:
    """The walkable region reachable from ``pos`` (4-neighbours; grass, sand, path and creature tiles; the player's
    own tile included) has at most :data:`POCKET_MAX` tiles.

    Args:
        semantic: int array [W, H] of the whole world (``info["semantic"]`` of ``tasks.crafter.env.CrafterEnv``).
        pos: the player's tile (x, y).
    """
    from tasks.crafter.player.rules import CREATURES, S, WALKABLE

    creatures = set(CREATURES) | {S["player"]}
    seen = {(int(pos[0]), int(pos[1]))}
    stack = list(seen)
    while stack:  # visits at most POCKET_MAX + 1 tiles: cheap enough for every env step
        x, y = stack.pop()
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            t = (x + dx, y + dy)
            if t in seen or not (0 <= t[0] < semantic.shape[0] and 0 <= t[1] < semantic.shape[1]):
                continue
            tid = int(semantic[t])
            if not (WALKABLE[tid] or tid in creatures):
                continue
            seen.add(t)
            if len(seen) > POCKET_MAX:
                return False
            stack.append(t)
    return True


class NightStarts(gymnasium.Env):
    """Plays episodes from saved Crafter states until the morning: episode ``j`` starts from a deep copy of
    ``starts[j % len]`` (an ``(env, obs, info)`` of :class:`tasks.crafter.env.CrafterEnv` at env step ``frames[j]`` of
    its recorded episode) and ends on death (terminated) or at env step :data:`MORNING_STEP` of that episode
    (truncated). ``self.records``: per ended episode ``{"steps", "alive", "death_cause", "sealed", "stones_placed",
    "start_stone", "start_wood_pickaxe", "left_after", "left_by", "sealed_actions"}`` (:meth:`_Trace.record`)."""

    def __init__(self, starts: Sequence[tuple[Any, dict, dict]], frames: Sequence[int]):
        env0 = starts[0][0]
        self.observation_space, self.action_space = env0.observation_space, env0.action_space
        self.starts, self.frames = list(starts), [int(f) for f in frames]
        self.records: list[dict[str, Any]] = []
        self._env = None

    def reset(self, *, seed=None, options=None):
        j = len(self.records) % len(self.starts)
        env, obs, info = copy.deepcopy(self.starts[j])
        self._env, self._horizon = env, MORNING_STEP - self.frames[j]
        self._trace = _Trace(info)
        return obs, dict(info, success=False)

    def step(self, action):
        obs, reward, terminated, truncated, info = self._env.step(action)
        self._trace.update(info, int(action))
        truncated = bool(not terminated and (truncated or self._trace.steps >= self._horizon))
        if terminated or truncated:
            self.records.append(self._trace.record(info))
        return obs, 0.0, bool(terminated), truncated, dict(info, success=False)


class _Trace:
    """What one probe episode did (see :class:`NightStarts`): besides survival, whether it was ever sealed in and,
    once sealed, whether it left the pocket: ``left_after`` (env steps from the start to the first step that ends
    unsealed after a sealed one; None if it never left), ``left_by`` (that step's action name) and
    ``sealed_actions`` (action name -> count over the steps taken while sealed, before leaving)."""

    def __init__(self, info: dict):
        self.steps, self.sealed = 0, sealed(info["semantic"], info["player_pos"])
        self.inside = self.sealed
        self.placed0 = int(info["achievements"]["place_stone"])
        self.placed = 0
        self.start_stone = int(info["inventory"]["stone"])
        self.start_pickaxe = int(info["inventory"]["wood_pickaxe"]) > 0
        self.left_after: Optional[int] = None
        self.left_by: Optional[str] = None
        self.sealed_actions: collections.Counter = collections.Counter()

    def update(self, info: dict, action: Optional[int] = None) -> None:
        """Account for one env step: ``info`` after it, ``action`` (crafter's action index) taken in it."""
        self.steps += 1
        self.placed = int(info["achievements"]["place_stone"]) - self.placed0
        if info.get("dead"):
            return
        now = sealed(info["semantic"], info["player_pos"])
        name = None if action is None else ACTION_NAMES[action]
        if self.inside and self.left_after is None:
            if name is not None:
                self.sealed_actions[name] += 1
            if not now:
                self.left_after, self.left_by = self.steps, name
        self.inside = now
        self.sealed = self.sealed or now

    def record(self, info: dict) -> dict[str, Any]:
        dead = bool(info.get("dead"))
        return {"steps": self.steps, "alive": not dead, "death_cause": info.get("death_cause") if dead else None,
                "sealed": bool(self.sealed), "stones_placed": self.placed, "start_stone": self.start_stone,
                "start_wood_pickaxe": self.start_pickaxe, "left_after": self.left_after, "left_by": self.left_by,
                "sealed_actions": dict(self.sealed_actions)}


def find_starts(episode_dir: str, kinds: Sequence[str] = DEFAULT_STARTS) -> dict[str, Optional[int]]:
    """The frame of each start kind in ``kinds`` (module docstring) in a recorded episode, None where it has none.
    ``sealed`` replays the episode's actions in its world (up to :data:`MORNING_STEP` env steps)."""
    from steve1.data.EpisodeStorage import EpisodeStorage

    st = EpisodeStorage(episode_dir)
    meta, infos = st.load_metadata(), st.load_infos()
    length = int(meta["length"])
    out: dict[str, Optional[int]] = {"dusk": DUSK_STEP if length > DUSK_STEP else None, "shelter": None}
    sub = np.asarray(infos["subgoal"])
    shelter_id = list(meta["subgoal_names"]).index("shelter")
    hits = np.flatnonzero(sub[DARK_STEP:min(length, MORNING_STEP)] == shelter_id)
    if len(hits):
        out["shelter"] = DARK_STEP + int(hits[0])
    if "sealed" in kinds:
        out["sealed"] = first_sealed_frame(episode_dir)
    return {k: out[k] for k in kinds}


def first_sealed_frame(episode_dir: str) -> Optional[int]:
    """The first frame in [:data:`DARK_STEP`, :data:`MORNING_STEP`) of a recorded episode at which the player is
    sealed in (:func:`sealed`), found by replaying its actions in its world; None if it never is (or the episode
    ends first)."""
    from pretraining_report import replay_steps
    from steve1.data.EpisodeStorage import EpisodeStorage

    length = int(EpisodeStorage(episode_dir).load_metadata()["length"])
    for _, frame, _, info in replay_steps(episode_dir, 64, min(length - 1, MORNING_STEP - 1)):
        if info.get("episode_end"):
            return None
        if frame >= DARK_STEP and sealed(info["semantic"], info["player_pos"]):
            return frame
    return None


def player_record(episode_dir: str, frame: int, snapshot: tuple[Any, dict, dict]) -> dict[str, Any]:
    """The recorded scripted player from ``frame`` to the morning, in :class:`NightStarts`' record format: its
    recorded actions are replayed from ``snapshot`` (the state at ``frame``, :func:`pretraining_report.replay_snapshot`)
    so that the same trace (sealed, stones placed, death cause) is taken as for every other condition."""
    from steve1.data.EpisodeStorage import EpisodeStorage

    actions = EpisodeStorage(episode_dir).load_actions()
    env = NightStarts([snapshot], [frame])
    env.reset()
    for a in actions[frame:]:
        _, _, term, trunc, _ = env.step(int(a))
        if term or trunc:
            break
    if not env.records:
        raise RuntimeError(f"{episode_dir}: the recorded actions end before the morning and before a death")
    return env.records[0]


def play_plain(starts, frames, policy: str, seed: int) -> list[dict[str, Any]]:
    """``noop`` or ``random`` actions from each start (:class:`NightStarts`), one episode per start."""
    env = NightStarts(starts, frames)
    rng = np.random.default_rng(seed)
    noop = ACTION_NAMES.index("noop")
    for _ in tqdm(range(len(starts)), desc=policy, unit="episode", dynamic_ncols=True, leave=False):
        env.reset()
        while True:
            a = noop if policy == "noop" else int(rng.integers(len(ACTION_NAMES)))
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                break
    return env.records


def play_low_level(cfg, starts, frames, goals: str, n_envs: int, seed: int, tmp: str) -> list[dict[str, Any]]:
    """The low level from each start (one episode per start) with ``goals``: ``"zero"``, ``"prior"`` (codes drawn
    from the goal prior every ``low_level_steps``) or ``"code<K>"``; ``cfg``: a
    :class:`hierarchical.config.HighLevelConfig`. Returns the records in start order."""
    import torch

    from goal_prior.codebook import KMeansCodebook
    from hierarchical.build import make_highlevel_env
    from pretraining_report import drive, goals_config, zero_goal

    n = max(1, min(n_envs, len(starts)))
    if goals == "prior":
        goal = None
    elif goals == "zero":
        goal = zero_goal(cfg)
    else:
        goal = np.asarray(KMeansCodebook(cfg.codebook).codes, np.float32)[[int(goals[4:])]]
    run_cfg = goals_config(cfg, tmp, n, goal)
    groups = [list(range(i, len(starts), n)) for i in range(n)]
    envs = [NightStarts([starts[j] for j in g], [frames[j] for j in g]) for g in groups]
    venv, _ = make_highlevel_env(run_cfg, torch.device("cpu"), envs=envs)
    drive(venv, envs, [len(g) for g in groups], goals == "prior", seed, goals)
    out: list[Optional[dict]] = [None] * len(starts)
    for e, g in zip(envs, groups):
        for k, j in enumerate(g):
            out[j] = e.records[k]
    return out  # type: ignore[return-value]


def wilson(k: int, n: int, z: float = 1.96) -> list[Optional[float]]:
    """95% Wilson score interval of a rate k/n ([None, None] for n = 0)."""
    if n == 0:
        return [None, None]
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [round(max(0.0, c - h), 4), round(min(1.0, c + h), 4)]


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Survival through the night (rate, 95% interval), median env steps survived, sealed share, death causes, and
    what the sealed episodes did in the pocket (:func:`_pocket_summary`)."""
    n = len(records)
    alive = sum(r["alive"] for r in records)
    sealed_ = [r["sealed"] for r in records if r["sealed"] is not None]
    return {"episodes": n, "survived_night": round(alive / n, 4) if n else None, "survived_ci95": wilson(alive, n),
            "median_steps": float(np.median([r["steps"] for r in records])) if n else None,
            "sealed_share": round(float(np.mean(sealed_)), 4) if sealed_ else None,
            "mean_stones_placed": round(float(np.mean([r["stones_placed"] for r in records])), 2) if n else None,
            "death_causes": dict(collections.Counter(r["death_cause"] for r in records if not r["alive"])),
            **_pocket_summary(records)}


def _pocket_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Of the episodes ever sealed in: the share that left the pocket alive (:class:`_Trace`), the median env steps
    to leaving, the actions that opened it, and the action shares while sealed (before leaving)."""
    inside = [r for r in records if r.get("sealed") and "left_after" in r]
    left = [r for r in inside if r["left_after"] is not None]
    acts: collections.Counter = collections.Counter()
    for r in inside:
        acts.update(r["sealed_actions"])
    total = sum(acts.values())
    return {"left_pocket_share": round(len(left) / len(inside), 4) if inside else None,
            "left_pocket_median_steps": float(np.median([r["left_after"] for r in left])) if left else None,
            "left_pocket_by": dict(collections.Counter(r["left_by"] for r in left)),
            "sealed_action_shares": {a: round(n / total, 4) for a, n in acts.most_common()} if total else {}}


def plot(result: dict[str, Any], out: str) -> None:
    """Bar chart (PNG, written atomically) of the share of episodes alive at the morning per condition, one group
    per start kind, with the 95% Wilson intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from steve1.utils.io import atomic_output

    kinds = [k for k, v in result["starts"].items() if v["conditions"]]
    conds = list(dict.fromkeys(c for k in kinds for c in result["starts"][k]["conditions"]))
    fig, ax = plt.subplots(figsize=(min(16.0, 1.2 + 0.9 * len(conds) * max(1, len(kinds))), 3.8))
    width = 0.8 / max(1, len(kinds))
    for i, kind in enumerate(kinds):
        entry = result["starts"][kind]
        xs, ys, lo, hi = [], [], [], []
        for j, cond in enumerate(conds):
            if cond not in entry["conditions"]:
                continue
            s = entry["conditions"][cond]["summary"]
            xs.append(j + (i - (len(kinds) - 1) / 2) * width)
            ys.append(s["survived_night"])
            lo.append(s["survived_night"] - s["survived_ci95"][0])
            hi.append(s["survived_ci95"][1] - s["survived_night"])
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=f"from {kind} ({entry['starts']} worlds)")
    ax.set_xticks(range(len(conds)), conds, rotation=90 if len(conds) > 10 else 0, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("alive at the morning (env step 320)")
    models = result.get("models") or {}
    low_level = "/".join(str(models.get("in_weights", "?")).split("/")[-2:])
    ax.set_title("crafter, first night: scripted player vs low level (zero goal, prior, codes)\n"
                 f"low level {low_level}, cond_scale {models.get('cond_scale', '?')}", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_output(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--highlevel_config", default="configs/crafter/highlevel.yaml",
                   help="high-level config naming the models (low level, prior, codebook, cond_scale, "
                        "low_level_steps)")
    p.add_argument("--task", default="crafter_score", help="task whose high-level settings are used")
    p.add_argument("--cond_scale", type=float, default=None,
                   help="classifier-free guidance of the low level (default: the high-level config's)")
    p.add_argument("--episodes", type=int, default=20, help="held-out player episodes (each gives <= 1 start a kind)")
    p.add_argument("--starts", nargs="+", default=list(DEFAULT_STARTS), choices=START_KINDS, help="start kinds")
    p.add_argument("--conditions", nargs="+", default=list(BASE_CONDITIONS),
                   help=f"any of {', '.join(BASE_CONDITIONS)}")
    p.add_argument("--codes", type=int, nargs="+", default=[], help="also play these codebook codes held fixed")
    p.add_argument("--seed", type=int, default=9001, help="held-out player run seed (and the RNG seed)")
    p.add_argument("--n_envs", type=int, default=8, help="envs stepped together")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", default="bench/results/night_probe.json", help="result JSON")
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    p = build_parser()
    args = p.parse_args(argv)
    bad = [c for c in args.conditions if c not in BASE_CONDITIONS]
    if bad:
        p.exit(2, f"{p.prog}: error: --conditions {bad[0]}: expected any of {', '.join(BASE_CONDITIONS)}\n")
    from pretraining_report import check_flags

    check_flags(p, args, positive=("episodes", "n_envs", "threads"), files=("highlevel_config",), json_out=("out",))
    import torch

    from hierarchical_throughput import task_config
    from pretraining_report import generate_player_episodes, replay_snapshot
    from steve1.utils.checks import run_main
    from steve1.utils.io import atomic_write_json
    from VPT.lib.loading import load_model_config

    torch.set_num_threads(args.threads)
    command = "python bench/night_probe.py " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None
                                                                                   else argv))
    conditions = list(args.conditions) + [f"code{k}" for k in args.codes]

    def body() -> dict[str, Any]:
        from goal_prior.codebook import KMeansCodebook
        from steve1.utils.cli import UsageError

        overrides = {"n_envs": args.n_envs, **({} if args.cond_scale is None else {"cond_scale": args.cond_scale})}
        cfg = task_config(args.task, overrides, args.highlevel_config)
        n_codes = KMeansCodebook(cfg.codebook).N
        if any(not 0 <= k < n_codes for k in args.codes):
            raise UsageError(f"--codes {args.codes}: the codebook {cfg.codebook} has codes 0-{n_codes - 1}")
        size = int(load_model_config(cfg.in_model)[0]["img_shape"][0])
        t0 = time.time()
        result: dict[str, Any] = {"command": command.strip(), "seed": args.seed, "episodes": args.episodes,
                                  "models": {k: getattr(cfg, k) for k in ("in_weights", "prior_weights", "codebook",
                                                                         "cond_scale", "low_level_steps")},
                                  "morning_step": MORNING_STEP, "starts": {}}
        with tempfile.TemporaryDirectory(prefix="night_probe_") as tmp:
            ep_dir = os.path.join(tmp, "episodes")
            os.makedirs(ep_dir)
            dirs = generate_player_episodes(ep_dir, args.seed, args.episodes, MORNING_STEP + 1, size)
            found = [find_starts(d, args.starts) for d in dirs]
            for kind in args.starts:
                picks = [(d, f[kind]) for d, f in zip(dirs, found) if f[kind] is not None]
                entry: dict[str, Any] = {"starts": len(picks), "player_episodes": len(dirs),
                                         "frames": [f for _, f in picks], "conditions": {}}
                result["starts"][kind] = entry
                if not picks:
                    continue
                snaps = [replay_snapshot(d, f, size) for d, f in tqdm(picks, desc=f"{kind} starts", leave=False)]
                frames = [f for _, f in picks]
                for cond in conditions:
                    if cond == "player":
                        recs = [player_record(d, f, snap) for (d, f), snap in zip(picks, snaps)]
                    elif cond in ("noop", "random"):
                        recs = play_plain(snaps, frames, cond, args.seed)
                    else:
                        recs = play_low_level(cfg, snaps, frames, cond, args.n_envs, args.seed, tmp)
                    entry["conditions"][cond] = {"summary": summarize(recs), "records": recs}
                    s = entry["conditions"][cond]["summary"]
                    print(f"{kind:8s} {cond:8s} survived {s['survived_night']} {s['survived_ci95']} median steps "
                          f"{s['median_steps']} sealed {s['sealed_share']} deaths {s['death_causes']}", flush=True)
                    atomic_write_json(args.out, {**result, "complete": False})
        result["seconds"] = round(time.time() - t0, 1)
        result["complete"] = True
        atomic_write_json(args.out, result)
        plot(result, args.out[:-len(".json")] + ".png")
        return result

    return run_main("night_probe.py", body)


if __name__ == "__main__":
    main()
