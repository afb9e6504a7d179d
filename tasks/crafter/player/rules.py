"""What the scripted Crafter player knows of the game's rules, its sub-goal names and its per-episode style.

The ids are those of :mod:`tasks.crafter.env` (actions: ``A[name]``, semantic map: ``S[name]``); the rules are read
from crafter's ``data.yaml`` (``crafter.constants``) where crafter has them.
"""
from __future__ import annotations

from dataclasses import dataclass

import crafter.constants
import numpy as np

from tasks.crafter.env import ACHIEVEMENTS, ACTION_NAMES, SEMANTIC_NAMES

A = {name: i for i, name in enumerate(ACTION_NAMES)}
S = {name: i for i, name in enumerate(SEMANTIC_NAMES)}
MOVES = {(-1, 0): A["move_left"], (1, 0): A["move_right"], (0, -1): A["move_up"], (0, 1): A["move_down"]}
DIRS = tuple(MOVES)

WALKABLE = np.zeros(len(SEMANTIC_NAMES), bool)
WALKABLE[[S["grass"], S["sand"], S["path"]]] = True
#: Not a wall for a shelter: walkable, or a plant (a zombie next to it eats it, and the grass is open again).
PASSABLE = WALKABLE.copy()
PASSABLE[S["plant"]] = True
CREATURES = (S["cow"], S["zombie"], S["skeleton"], S["arrow"])
#: Materials a path may go through by collecting them, and the tool each needs (crafter's data.yaml).
DIGGABLE = {S[m]: dict(crafter.constants.collect[m]["require"]) for m in ("tree", "stone", "coal", "iron", "diamond")}
#: Where each inventory item comes from when collected.
ITEM_SOURCE = {"wood": "tree", "stone": "stone", "coal": "coal", "iron": "iron", "diamond": "diamond",
               "sapling": "grass", "drink": "water"}
TOOLS = tuple(crafter.constants.make)
#: Sub-goal names recorded per frame (index = id in the play dataset's ``subgoal`` info).
SUBGOALS: tuple[str, ...] = tuple(ACHIEVEMENTS) + ("explore", "wander", "idle", "flee", "shelter", "sleeping")
#: Priority of freely chosen sub-goals; survival ones have 0 (threats) to 4 (night shelter) and pre-empt them.
_FREE = 9
_SUBGOAL_ID = {name: i for i, name in enumerate(SUBGOALS)}
#: Terrain worth exploring towards when looking for a target of this semantic id.
_TERRAIN_HINT = {S["tree"]: [S["grass"], S["tree"]], S["water"]: [S["sand"], S["water"]],
                 S["cow"]: [S["grass"]], S["zombie"]: [S["grass"]], S["skeleton"]: [S["path"]],
                 S["stone"]: [S["stone"]], S["coal"]: [S["stone"], S["path"]], S["iron"]: [S["stone"], S["path"]],
                 S["diamond"]: [S["stone"], S["path"]], S["grass"]: [S["grass"]]}
_INF = float("inf")
#: Random (epsilon) actions: everything but sleep, which would leave the player helpless next to a zombie.
_RANDOM_ACTIONS = np.array([i for i, name in enumerate(ACTION_NAMES) if name != "sleep"])
_ENERGY_MAX = crafter.constants.items["energy"]["max"]
#: The day-night cycle in env steps (crafter ``Env._update_time``: daylight = 1 - |cos(pi (t / 300 + 0.3))|^3),
#: and the player's phases in it, as steps into the cycle: dusk [_DUSK_START, _NIGHT_START) (top up drink and food),
#: night from _NIGHT_START to _NIGHT_END of the next cycle (hide). Zombies spawn while daylight < 0.83 (t in
#: [116, 304)). Chosen by measurement on dev seeds (bench/player_report.py --seed 500): ending the night at 285
#: instead of 20 (next cycle) gave median episode lengths ~100-300 env steps shorter (zombies wait outside at dawn).
#: v4 (--seed 7000, 32 episodes, player v4 night work): dusk/night starting at 70/125 instead of 55/110 gave
#: make_stone_pickaxe 0.69 vs 0.50 and collect_iron 0.28 vs 0.06 at a similar median length (722 vs 643; 75/130:
#: 611, 0.66, 0.28; 80/110: 710, 0.62, 0.19; 80/135: 511, 0.72, 0.25): the dusk top-ups took the day's free time.
#: Kept at 70/125 in v6 (bench/results/player_variants/, 240 dev episodes of seed 7000 each, player with v6's quiet
#: wall building): night from 140 gave make_stone_pickaxe 0.671 vs 0.629, collect_iron 0.171 vs 0.138 and fewer
#: deaths at food 0 (0.43 vs 0.56 of deaths) at a similar mean length (830 +- 43 vs 822 +- 37; median 647 vs 695), but
#: more nights lost while building the shelter (fed nights never sealed 0.145 vs 0.110), and on the 80 held-out
#: episodes (seed 9001) median 548 vs 668, mean 687 +- 51 vs 730 +- 63, iron 0.175 vs 0.21. The 32-episode
#: comparisons above are within the noise that 240 episodes show (+-35-45 env steps on the mean). v7 (session 14,
#: same 240 dev episodes): dusk/night from 55/110 gave mean 739 +- 30 vs 834 +- 36 (fewer zombie deaths, 97 vs 122,
#: more by hunger, 86 vs 65; stone pickaxe 0.50 vs 0.63); the night ending at 8 instead of 20 gave 838 +- 36, iron
#: 0.18 vs 0.13, but on the held-out episodes median 676 vs 664, iron 0.19 vs 0.20: kept at 70/125/20.
_DAY = 300
#: Stones the player likes to carry (walls for a shelter away from the mountains).
_STONE_STOCK = 6
_TABLE_WOOD = int(crafter.constants.place["table"]["uses"]["wood"])
_DUSK_START, _NIGHT_START, _NIGHT_END = 70, 125, 20


def day_phase(step: int) -> str:
    """``"night"`` (from _NIGHT_START to _NIGHT_END of the next cycle; the first cycle's opening steps are day),
    ``"dusk"`` ([_DUSK_START, _NIGHT_START)) or ``"day"`` at the player's env step count ``step`` (int >= 0)."""
    t = step % _DAY
    if t >= _NIGHT_START or (t < _NIGHT_END and step >= _DAY):
        return "night"
    return "dusk" if t >= _DUSK_START else "day"


@dataclass
class PlayerStyle:
    """Per-episode randomised play style (drawn by :meth:`PlayerStyle.sample`, stored in episode metadata)."""

    epsilon: float = 0.05          # share of env steps with a random action
    p_prerequisites: float = 0.85  # chance that a sub-goal's prerequisites are pursued first
    new_weight: float = 4.0        # weight of achievements not yet unlocked this episode (others: 1)
    drink_threshold: int = 4       # drink when the drink level is <= this
    food_threshold: int = 4        # eat when food is <= this
    energy_threshold: int = 2      # sleep when energy is <= this
    fight_radius: int = 2          # fight zombies/skeletons within this Manhattan distance (tiles)
    p_shelter: float = 0.8         # chance to dig a shelter (if possible) before sleeping
    p_random_target: float = 0.25  # chance to go for the 2nd/3rd nearest target instead of the nearest
    p_progress: float = 0.5        # chance that a free sub-goal is the next step of the tech tree
    gardener: bool = False         # plants a walled-in sapling early in the tech tree (for eat_plant)

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "PlayerStyle":
        return cls(
            epsilon=float(rng.uniform(0.02, 0.12)),
            p_prerequisites=float(rng.uniform(0.9, 1.0)),
            new_weight=float(rng.uniform(2.0, 8.0)),
            drink_threshold=int(rng.integers(4, 7)),
            food_threshold=int(rng.integers(5, 7)),
            energy_threshold=int(rng.integers(1, 4)),
            fight_radius=int(rng.integers(1, 4)),
            p_shelter=float(rng.uniform(0.5, 1.0)),
            p_random_target=float(rng.uniform(0.1, 0.4)),
            p_progress=float(rng.uniform(0.3, 0.95)),
            gardener=bool(rng.random() < 0.4),
        )


class _Abort(Exception):
    """Raised inside a sub-goal generator to give up."""
