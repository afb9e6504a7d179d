"""Does the low level still act like its teacher on its own states? (covariate shift; issue 18)

    python bench/teacher_agreement.py --episodes 20            # both conditions, 20 held-out worlds
    python bench/teacher_agreement.py --episodes 2 --max_steps 50   # a smoke run

Why: behaviour cloning is trained on the scripted player's states; once the low level acts, small mistakes take it
to states its teacher never showed it (Ross et al. 2011, DAgger), and the night probe (``bench/night_probe.py``) shows
that it does not complete the player's night shelter even from the player's own dusk state. This bench measures the
shift directly. The scripted player (:class:`tasks.crafter.scripted_player.ScriptedPlayer`) decides only from what
the agent's image shows and its own memory of it, so it can *shadow* any trajectory: every env step it is asked for
its action in the current state, whether or not that action is then executed.

Two conditions on the same held-out worlds (world seed ``--seed + j``, empty start inventory; teacher seed
``--seed + j``, a random style per episode as in the play data), each through
:class:`hierarchical.high_level_wrapper.HighlevelVecEnv` with the zero goal (the unconditional low level, the
config's ``cond_scale``), until death or ``--max_steps`` env steps:

* ``teacher``: the env executes the teacher's action; the low level (its memory fed the teacher's frames) proposes
  its own, which is recorded and dropped. Its agreement with the teacher is what BC reaches on the teacher's states.
* ``learner``: the env executes the low level's action; the teacher shadows. The agreement here is on the states the
  low level visits itself; the teacher's action is the label DAgger would train on.

Agreement = share of env steps where the low level's sampled action equals the teacher's, over steps where the
teacher was awake and its action was not one of its random (epsilon) actions. Reported per condition: agreement
overall, by the teacher's sub-goal, by day / night (daylight below 0.5 = night), episode lengths and ends, the
share alive at the end and sealed in.

``--learner_from N`` lets the player play the first N env steps of the learner condition (e.g. 70: from dusk, as
``bench/results/nav_oracle/``); ``--goal`` gives the low level, instead of the zero goal, the shadowing player's
intent in the current state every env step (walk destination, sub-goal, facing: :func:`goal_driver`), for a low
level trained on that goal space (``bench/subgoal_oracle.py embed --oracle ...``).
Written (``--out``, default ``bench/results/teacher_agreement.json``, atomically): the command and the summaries.
"""
from __future__ import annotations

import argparse
import collections
import shlex
import sys
import time
from typing import Any, Callable, Optional, Sequence

import gymnasium
import numpy as np

CONDITIONS = ("teacher", "learner")
GOALS = ("zero", "nav_oracle", "intent_oracle", "facing_oracle", "intent_facing_oracle")


class ShadowEnv(gymnasium.Env):
    """A :class:`tasks.crafter.env.CrafterEnv` whose every step also asks a shadowing scripted player for its action.

    ``mode="teacher"`` executes the player's action, ``"learner"`` the action given to :meth:`step` -- except, in
    ``"learner"`` mode, at env steps before ``learner_from`` (the player plays the episode's opening, e.g. up to dusk)
    and, after it, at each step with probability ``beta`` (DAgger's mixture policy, Ross et al. 2011 §3; drawn from
    ``numpy.random.default_rng([beta_seed, world seed])``), where the player's action is executed. Episode ``j``
    is played in world ``world_seeds[j]`` (past the list: ``world_seeds[-1] + 1 + ...``) with a player seeded
    ``player_seeds[j]``. ``self.records``: per ended episode ``{"length", "dead", "death_cause", "steps",
    "world_seed"}``, where ``steps`` is a list of ``(low_level_action, teacher_action, teacher_random_or_asleep,
    teacher_subgoal, night)`` per env step; with ``keep_frames`` also ``"frames"``: uint8 [L, H, W, 3], frame ``t`` =
    the observation the step-``t`` actions were chosen on (what DAgger pairs with the teacher's action), and
    ``"teacher_executed"``: bool per env step, whether the player's action was the one executed.
    The player is asked for its action once per state, right after the state is reached (:meth:`reset`, the end of
    :meth:`step`), so that before each step ``nav_offset`` holds where its walk in the current state ends, relative
    to the player ((dx, dy) tiles, None when the step is no step of a walk) and ``pending_subgoal`` its sub-goal
    there (the goals of ``--goal nav_oracle`` / ``intent_oracle``, :func:`goal_driver`); a record also holds
    ``nav_offsets`` (per env step), ``sealed`` (sealed in at some step from ``learner_from`` on,
    :func:`night_probe.sealed`) and ``opening`` (``learner_from`` in the learner mode, else 0).
    ``replan_off_path`` sets the player's
    :attr:`~tasks.crafter.player.navigation.Navigation.replan_off_path` (a fresh path instead of a ``noop`` after
    a step that left its path: the label a shadowing player should give).

    Raises:
        ValueError: an unknown ``mode``, ``learner_from < 0`` or ``beta`` outside [0, 1].
    """

    def __init__(self, mode: str, world_seeds: Sequence[int], player_seeds: Sequence[int], size: int,
                 max_steps: int, keep_frames: bool = False, learner_from: int = 0, beta: float = 0.0,
                 beta_seed: int = 0, replan_off_path: bool = False):
        from night_probe import sealed
        from tasks.crafter.env import CrafterEnv

        self._sealed_fn = sealed  # imported once, not per env step
        if mode not in CONDITIONS:
            raise ValueError(f"mode must be one of {CONDITIONS}, got {mode!r}")
        if learner_from < 0:
            raise ValueError(f"learner_from must be >= 0 env steps, got {learner_from}")
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {beta}")
        self.learner_from, self.beta, self.beta_seed = int(learner_from), float(beta), int(beta_seed)
        self.replan_off_path = bool(replan_off_path)
        self.mode, self.world_seeds, self.player_seeds = mode, list(world_seeds), list(player_seeds)
        self.keep_frames = bool(keep_frames)
        self.env = CrafterEnv(size=size, max_steps=max_steps)
        self.observation_space, self.action_space = self.env.observation_space, self.env.action_space
        self.records: list[dict[str, Any]] = []

    def reset(self, *, seed=None, options=None):
        from tasks.crafter.scripted_player import ScriptedPlayer

        j = len(self.records)
        world = self.world_seeds[j] if j < len(self.world_seeds) else self.world_seeds[-1] + 1 + j
        pseed = self.player_seeds[j] if j < len(self.player_seeds) else self.player_seeds[-1] + 1 + j
        obs, info = self.env.reset(options={"world_seed": int(world)})
        self.player = ScriptedPlayer(seed=int(pseed))
        self.player.replan_off_path = self.replan_off_path
        self.player.reset(self.env, info)
        self._info, self._steps, self._frames, self._world = info, [], [], int(world)
        self._executed: list[bool] = []
        self._navs: list[Optional[tuple[int, int]]] = []
        self._sealed = False
        self._rng = np.random.default_rng([self.beta_seed, int(world)])
        self._obs = obs
        self._ask()
        return obs, info

    def _ask(self) -> None:
        """Ask the player for its action in the current state (once per state, in order: it updates its memory)."""
        awake = not bool(self._info["sleeping"])
        teacher = int(self.player.act(self._info))
        nav = self.player.nav_target
        pos = self._info["player_pos"]
        self._pending = (teacher, bool(self.player.random_action) or not awake, float(self._info["daylight"]) < 0.5)
        self.nav_offset = None if nav is None else (int(nav[0]) - int(pos[0]), int(nav[1]) - int(pos[1]))
        self.pending_subgoal = self.player.subgoal
        self.facing_now = (int(self._info["facing"][0]), int(self._info["facing"][1]))

    def step(self, action):
        action = int(np.asarray(action).reshape(-1)[0])
        teacher, skip, night = self._pending
        self._steps.append((action, teacher, skip, self.pending_subgoal, night))
        self._navs.append(self.nav_offset)
        if self.keep_frames:
            self._frames.append(np.asarray(self._obs["pov"], np.uint8))
        by_teacher = (self.mode == "teacher" or len(self._steps) <= self.learner_from
                      or (self.beta > 0.0 and self._rng.random() < self.beta))
        self._executed.append(bool(by_teacher))
        executed = teacher if by_teacher else action
        obs, reward, terminated, truncated, info = self.env.step(executed)
        self._info, self._obs = info, obs
        if len(self._steps) >= self.learner_from and not self._sealed and not info["dead"]:
            self._sealed = self._sealed_fn(info["semantic"], info["player_pos"])
        if terminated or truncated:
            record = {"length": len(self._steps), "dead": bool(info["dead"]), "death_cause": info.get("death_cause"),
                      "steps": self._steps, "world_seed": self._world, "teacher_executed": self._executed,
                      "sealed": self._sealed, "opening": self.learner_from if self.mode == "learner" else 0,
                      "nav_offsets": self._navs}
            if self.keep_frames:
                record["frames"] = np.stack(self._frames)
            self.records.append(record)
        else:
            self._ask()
        return obs, reward, terminated, truncated, info


def goal_driver(goal: str, cfg, envs: Sequence[ShadowEnv]) -> tuple[np.ndarray, Optional[Callable[[], np.ndarray]],
                                                                     dict[str, Any]]:
    """How the low level's goal is chosen for ``envs`` (:data:`GOALS`): the goal table laid over as a codebook
    (float32 [G, D]), the function giving each env's code before every env step (None: code 0, the zero goal) and
    the config fields to override (``low_level_steps`` 1 for the oracles, whose goal changes every env step).
    ``nav_oracle``: :func:`subgoal_oracle.nav_goals` at :func:`subgoal_oracle.nav_code` of each env's
    :attr:`ShadowEnv.nav_offset`; ``intent_oracle``: :func:`subgoal_oracle.intent_goals` with the player's sub-goal
    in that state too; ``facing_oracle``: the player's facing (:func:`subgoal_oracle.facing_vector`; the agent's
    own last move); ``intent_facing_oracle``: both. ``cfg``: a :class:`hierarchical.config.HighLevelConfig` (its
    codebook's goal size for ``zero``).

    Raises:
        ValueError: an unknown ``goal``."""
    from pretraining_report import zero_goal
    from subgoal_oracle import FACINGS, facing_vector, intent_code, intent_goals, nav_code, nav_goals
    from tasks.crafter.player.rules import SUBGOALS

    if goal == "zero":
        return zero_goal(cfg), None, {}
    if goal == "nav_oracle":
        return nav_goals(), lambda: np.array([nav_code(e.nav_offset) for e in envs]), {"low_level_steps": 1}
    if goal == "intent_oracle":
        return (intent_goals(), lambda: np.array([intent_code(e.nav_offset, SUBGOALS.index(e.pending_subgoal))
                                                  for e in envs]), {"low_level_steps": 1})
    if goal == "facing_oracle":
        table = np.stack([facing_vector(f) for f in FACINGS])
        return table, lambda: np.array([FACINGS.index(e.facing_now) for e in envs]), {"low_level_steps": 1}
    if goal == "intent_facing_oracle":
        intent = intent_goals()
        table = np.concatenate([intent + facing_vector(f)[None] for f in FACINGS])  # row k * len(intent) + code
        return table, lambda: np.array([FACINGS.index(e.facing_now) * len(intent)
                                        + intent_code(e.nav_offset, SUBGOALS.index(e.pending_subgoal))
                                        for e in envs]), {"low_level_steps": 1}
    raise ValueError(f"goal must be one of {GOALS}, got {goal!r}")


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Agreement overall, by the teacher's sub-goal, by day/night and by the teacher's action (all steps, and night
    steps only), over the steps where the teacher was awake and did not act at random (and, in the learner
    condition, after the player's opening: a record's ``opening`` steps); episode lengths and ends, the share of
    episodes alive at their end (``alive_at_end``) and sealed in at some step after the opening (``sealed``,
    :func:`night_probe.sealed`)."""
    from tasks.crafter.env import ACTION_NAMES

    agree: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for r in records:
        for ll, teacher, skip, subgoal, night in r["steps"][r.get("opening", 0):]:
            if skip:
                continue
            hit = int(ll == teacher)
            keys = ["all", f"subgoal/{subgoal}", "night" if night else "day", f"action/{ACTION_NAMES[teacher]}"]
            if night:
                keys.append(f"night_action/{ACTION_NAMES[teacher]}")
            for key in keys:
                agree[key][0] += hit
                agree[key][1] += 1

    def rate(key: str) -> Optional[float]:
        k, n = agree.get(key, (0, 0))
        return round(k / n, 4) if n else None

    lengths = [r["length"] for r in records]
    def by(prefix: str) -> dict[str, dict[str, Any]]:
        return {key.split("/", 1)[1]: {"agreement": rate(key), "steps": agree[key][1]}
                for key in sorted(agree, key=lambda k: -agree[k][1]) if key.startswith(prefix + "/")}

    return {"episodes": len(records), "agreement": rate("all"), "steps": agree["all"][1],
            "agreement_day": rate("day"), "steps_day": agree["day"][1],
            "agreement_night": rate("night"), "steps_night": agree["night"][1],
            "median_length": float(np.median(lengths)) if lengths else None,
            "alive_at_end": round(float(np.mean([not r["dead"] for r in records])), 4) if records else None,
            "sealed": round(float(np.mean([bool(r.get("sealed")) for r in records])), 4) if records else None,
            "deaths": dict(collections.Counter(r["death_cause"] for r in records if r["dead"])),
            "by_teacher_subgoal": by("subgoal"), "by_teacher_action": by("action"),
            "by_teacher_action_night": by("night_action")}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--highlevel_config", default="configs/crafter/highlevel.yaml",
                   help="high-level config naming the low level (in_model, in_weights, cond_scale, low_level_steps)")
    p.add_argument("--episodes", type=int, default=20, help="held-out worlds per condition")
    p.add_argument("--max_steps", type=int, default=1000, help="env steps after which an episode ends")
    p.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS, help="conditions")
    p.add_argument("--seed", type=int, default=9001, help="first world seed and teacher seed; RNG seed")
    p.add_argument("--n_envs", type=int, default=8, help="envs stepped together")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--replan_off_path", action="store_true",
                   help="the shadowing player plans a fresh path instead of a noop after a step off its path "
                        "(Navigation.replan_off_path; off reproduces the results committed before it existed)")
    p.add_argument("--goal", choices=GOALS, default="zero",
                   help="the low level's goal: the zero goal (unconditional), or, every env step, where the "
                        "shadowing player's walk in that state ends (nav_oracle: the subgoal_oracle.py nav_target "
                        "goal space, for a low level trained on it; low_level_steps 1), or that and the player's "
                        "sub-goal in that state (intent_oracle), the player's facing (facing_oracle) or both "
                        "(intent_facing_oracle)")
    p.add_argument("--learner_from", type=int, default=0,
                   help="learner condition: the player plays the first env steps (e.g. 70: up to dusk), left "
                        "out of the agreement; 'sealed' counts from there on (both conditions)")
    p.add_argument("--out", default="bench/results/teacher_agreement.json", help="result JSON")
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    p = build_parser()
    args = p.parse_args(argv)
    from pretraining_report import check_flags

    check_flags(p, args, positive=("episodes", "max_steps", "n_envs", "threads"),
                non_negative=("seed", "learner_from"),
                files=("highlevel_config",), json_out=("out",))
    import tempfile

    import torch

    from hierarchical.build import make_highlevel_env
    from hierarchical_throughput import task_config
    from pretraining_report import drive, goals_config
    from steve1.utils.checks import run_main
    from steve1.utils.io import atomic_write_json
    from VPT.lib.loading import load_model_config

    torch.set_num_threads(args.threads)
    command = "python bench/teacher_agreement.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))

    def body() -> dict[str, Any]:
        cfg = task_config("crafter_score", {"n_envs": args.n_envs}, args.highlevel_config)
        size = int(load_model_config(cfg.in_model)[0]["img_shape"][0])
        t0 = time.time()
        result: dict[str, Any] = {"command": command.strip(), "episodes": args.episodes, "max_steps": args.max_steps,
                                  "seed": args.seed, "in_weights": cfg.in_weights, "cond_scale": cfg.cond_scale,
                                  "replan_off_path": args.replan_off_path, "goal": args.goal,
                                  "learner_from": args.learner_from, "conditions": {}}
        with tempfile.TemporaryDirectory(prefix="teacher_agreement_") as tmp:
            for mode in args.conditions:
                n = max(1, min(args.n_envs, args.episodes))
                seeds = [[args.seed + j for j in range(i, args.episodes, n)] for i in range(n)]
                envs = [ShadowEnv(mode, s, s, size, args.max_steps, replan_off_path=args.replan_off_path,
                                  learner_from=args.learner_from) for s in seeds]
                table, codes, values = goal_driver(args.goal, cfg, envs)
                run_cfg = goals_config(cfg, tmp, n, table, **values)
                venv, _ = make_highlevel_env(run_cfg, torch.device("cpu"), envs=envs)
                drive(venv, envs, [len(s) for s in seeds], False, args.seed, mode, codes=codes)
                records = [r for e, s in zip(envs, seeds) for r in e.records[:len(s)]]
                result["conditions"][mode] = summarize(records)
                s = result["conditions"][mode]
                print(f"{mode}: agreement {s['agreement']} (day {s['agreement_day']}, night {s['agreement_night']}), "
                      f"median length {s['median_length']}", flush=True)
                atomic_write_json(args.out, {**result, "complete": False})
        result["seconds"] = round(time.time() - t0, 1)
        result["complete"] = True
        atomic_write_json(args.out, result)
        return result

    return run_main("teacher_agreement.py", body)


if __name__ == "__main__":
    main()
