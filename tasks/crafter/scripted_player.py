"""A task-agnostic scripted Crafter player for the play dataset (PTGM's offline, reward-free gameplay), version 2.

**Perception (issue 18): only what the agent's observation shows, plus memory.** Each step the player reads the
tiles of the agent's 9x7 world window (``info["semantic"]`` cut to that window, and the ripeness of the plants
drawn in it), the status bar (``info["inventory"]``: health, food, drink, energy and items), its own position and
facing (drawn in the image; the position is the player's dead reckoning) and whether it sleeps (the image goes dark).
It keeps a memory map of the tiles it has seen (:class:`tasks.crafter.player_perception.MemoryMap`); creatures are
known only while in view. The time of day is its own step count (:func:`~tasks.crafter.player_perception.daylight_at`:
the image's darkness). It never reads ``env._world`` beyond the window or the whole-map ``semantic``; the achievement
counters in ``info`` only tell it whether its own last actions worked (which the agent sees as the inventory or the
tile in front changing). Paths are planned over remembered tiles only (never-seen tiles are impassable); where it
knows no tile of a material it needs, it explores: it walks to the frontier of the remembered map (seen walkable
tiles next to unseen ones), keeping a heading so that it sweeps outwards, towards terrain that hints at the material.

Behaviour (randomised per episode by a :class:`PlayerStyle`, stored in the episode metadata):

* **Sub-goals.** Every one of the 22 achievements is a sub-goal: gather each material (wood, stone, coal, iron,
  diamond, sapling, water), place stone/table/furnace/plant, craft every pickaxe and sword, eat a cow, eat a plant
  (plant a sapling walled in by stones, stay within reach until it ripens, eat it), sleep until rested
  (``wake_up``), fight zombies and skeletons -- plus ``explore``, ``wander`` and ``idle``. A freely chosen sub-goal
  is, with probability ``style.p_progress`` (at least 0.9 until the stone pickaxe and the first iron), the next step
  of the tech tree (:data:`_PROGRESSION`), otherwise drawn at random, weighted towards achievements not yet unlocked.
  With probability ``style.p_prerequisites`` a sub-goal's prerequisites (tools, materials, a table or furnace nearby;
  read from crafter's ``data.yaml`` rules) are pursued first, otherwise it is attempted as is and may fail.
* **Survival** pre-empts free sub-goals, most urgent first: fight a zombie within reach or a skeleton next to the
  player, step out of a skeleton's line of fire, drink and eat as the status bar requires (a cow in view is eaten
  when food is below 8; cows seen earlier are looked for where they were, then where grass has not been in view for
  longest), and keep walls for the night (stones, or wood for tables). At dusk (env steps 55-110 of the 300-step
  day) drink and food are topped up; from 110 to 20 of the next day (zombies spawn on grass while daylight is below
  0.83: steps 116-304) the player hides in a sealed shelter: a two-tile
  pocket dug into stone or walled up with stones/tables, preferably beside water (it drinks from inside) and away
  from tunnels and skeletons seen lately; it sleeps there when energy is below its maximum (only ever sealed in: a
  zombie hits a sleeper for 7) and stays in while zombies wait outside. Lava is never entered, also not by random
  actions.
* **Noise.** A share ``style.epsilon`` of the actions is replaced by a random action (never ``sleep``, never while
  sealed in); ``player.random_action`` flags it, so that behaviour cloning can leave those frames out.

Usage::

    env = CrafterEnv(max_steps=10000)
    player = ScriptedPlayer(seed=0)
    obs, info = env.reset(seed=0)
    player.reset(env, info)
    while True:
        action = player.act(info)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break

``player.subgoal`` names the sub-goal behind the last action (one of :data:`SUBGOALS`), ``player.random_action``
whether that action was a random one. Measured figures: ``bench/player_report.py`` (``bench/results/player.json``).
"""
from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass
from typing import Any, Callable, Generator, Iterator, Optional

import crafter.constants
import numpy as np

from tasks.crafter.env import ACHIEVEMENTS, ACTION_NAMES, SEMANTIC_NAMES, CrafterEnv
from tasks.crafter.player_perception import MemoryMap, daylight_at, visible_window, window_bounds

#: Bump when the behaviour changes: a dataset resumed with another version would mix two players.
PLAYER_VERSION = 2

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
#: The tech tree as a human plays it: (achievement, is this step done?) in order.
_PROGRESSION = (
    ("make_wood_pickaxe", lambda p: p.inv["wood_pickaxe"] > 0),
    ("make_wood_sword", lambda p: p.inv["wood_sword"] > 0),
    ("make_stone_pickaxe", lambda p: p.inv["stone_pickaxe"] > 0),
    ("collect_coal", lambda p: p.inv["coal"] > 0 or p.inv["iron_pickaxe"] > 0),
    ("collect_iron", lambda p: p.inv["iron"] > 0 or p.inv["iron_pickaxe"] > 0),
    ("eat_plant", lambda p: not p.style.gardener or p.ach["eat_plant"] > 0 or bool(p.plants)),
    ("make_stone_sword", lambda p: p.inv["stone_sword"] > 0),
    ("make_iron_pickaxe", lambda p: p.inv["iron_pickaxe"] > 0),
    ("collect_diamond|make_iron_sword", lambda p: p.ach["collect_diamond"] > 0 and p.inv["iron_sword"] > 0),
    ("eat_plant", lambda p: p.ach["eat_plant"] > 0 or bool(p.plants)),
)
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
_DAY = 300
#: Stones the player likes to carry (walls for a shelter away from the mountains).
_STONE_STOCK = 6
_TABLE_WOOD = int(crafter.constants.place["table"]["uses"]["wood"])
_DUSK_START, _NIGHT_START, _NIGHT_END = 55, 110, 20


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


def _shift(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """out[x, y] = mask[x + dx, y + dy] (False outside the map)."""
    out = np.zeros_like(mask)
    w, h = mask.shape
    xs, xd = (slice(dx, None), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, None))
    ys, yd = (slice(dy, None), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, None))
    out[xd, yd] = mask[xs, ys]
    return out


def _box_sum(mask: np.ndarray, r: int) -> np.ndarray:
    """int [W, H]: number of ``mask`` tiles within Chebyshev distance ``r`` of each tile."""
    c = np.pad(mask.astype(np.int32), ((r + 1, r), (r + 1, r))).cumsum(0).cumsum(1)
    k = 2 * r + 1
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]


def _dilate4(mask: np.ndarray) -> np.ndarray:
    """Tiles with a 4-neighbour in ``mask`` (the tile itself excluded)."""
    return _shift(mask, 1, 0) | _shift(mask, -1, 0) | _shift(mask, 0, 1) | _shift(mask, 0, -1)


def _dilate8(mask: np.ndarray) -> np.ndarray:
    """Tiles within Chebyshev distance 1 of ``mask`` (itself included): crafter's ``nearby(pos, 1)``."""
    out = mask.copy()
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            if dx or dy:
                out |= _shift(mask, dx, dy)
    return out


class ScriptedPlayer:
    """Reward-free scripted Crafter player (see the module docstring).

    Args:
        seed: seeds the player's own RNG (sub-goal choice, style, epsilon actions); with the env's world seed
            this makes an episode reproducible.
        style: a fixed :class:`PlayerStyle`; default: a new random style per episode.
    """

    def __init__(self, seed: Optional[int] = None, style: Optional[PlayerStyle] = None):
        self.rng = np.random.default_rng(seed)
        self._fixed_style = style
        self.style = style or PlayerStyle()
        self.subgoal = "idle"
        self._neighbours: Optional[list[list[int]]] = None

    # ------------------------------------------------------------------ episode interface
    def reset(self, env: CrafterEnv, info: dict[str, Any]) -> None:
        """Start an episode on ``env``, which was just reset (env step 0: the player's day clock starts here);
        ``info`` is the reset's info. The player keeps a reference to crafter's world only to read the texture of
        plants inside the window (:func:`tasks.crafter.player_perception.visible_window`)."""
        self._world = env.crafter_env._world  # read only by visible_window, at the plants inside the window
        self.style = self._fixed_style or PlayerStyle.sample(self.rng)
        self.area = tuple(info["semantic"].shape)
        if self._neighbours is None or len(self._neighbours) != self.area[0] * self.area[1]:
            self._neighbours = self._build_neighbours(self.area)
        self.memory = MemoryMap(self.area)
        self._cow_sightings: dict[tuple[int, int], int] = {}  # where cows were seen -> own step count then
        self._heading: Optional[tuple[float, float]] = None  # exploration direction (unit vector)
        self._skeleton_sightings: dict[tuple[int, int], int] = {}  # where skeletons were seen -> step then
        self.plants: set[tuple[int, int]] = set()
        self.leash: Optional[np.ndarray] = None
        self.goal_gen: Optional[Iterator[int]] = None
        self.goal_name = "idle"
        self.goal_priority = _FREE
        self.subgoal = "idle"
        self.resume: Optional[str] = None
        self.step = 0
        self._quiet = False
        self._fight_cooldown_until = 0
        self._no_sleep_until = 0
        self._no_shelter_until = 0
        self.daylight = daylight_at(0)
        self.random_action = False
        self._observe(info)

    def act(self, info: dict[str, Any]) -> int:
        """The action (int in [0, 17)) for the state described by ``info`` (a :class:`CrafterEnv` info; read as
        the agent's image shows it, see the module docstring). Sets ``subgoal`` and ``random_action``."""
        self._observe(info)
        self.step += 1
        if self.sleeping:
            self.subgoal = "sleeping"
            self.random_action = False
            return A["sleep"]
        self._maybe_preempt()
        action = None
        for _ in range(4):  # a finished sub-goal hands over to a new one within the same env step
            if self.goal_gen is None:
                self._start_goal(*self._choose_goal())
            try:
                action = next(self.goal_gen)
                break
            except (StopIteration, _Abort):
                self.goal_gen = None
        if action is None:
            action = A["noop"]
        self.subgoal = self.goal_name
        self.random_action = False
        if self.rng.random() < self.style.epsilon and not self._quiet and not self._sealed():
            action = int(self.rng.choice(_RANDOM_ACTIONS))
            self.random_action = True
        if action in MOVES.values():
            d = DIRS[list(MOVES.values()).index(action)]
            target = (self.pos[0] + d[0], self.pos[1] + d[1])
            if self._inside(target) and self.sem[target] == S["lava"]:
                action = A["noop"]  # never walk into lava
        return int(action)

    @property
    def subgoal_id(self) -> int:
        return _SUBGOAL_ID[self.subgoal]

    def style_dict(self) -> dict:
        return asdict(self.style)

    # ------------------------------------------------------------------ state
    def _observe(self, info: dict[str, Any]) -> None:
        """Perceive ``info`` as the agent's image shows it (:mod:`tasks.crafter.player_perception`): the 9x7
        window into memory, position/facing/sleeping, the status bar; daylight from the player's own step count."""
        self._prev_daylight = self.daylight
        self.pos = (int(info["player_pos"][0]), int(info["player_pos"][1]))
        self.memory.update(visible_window(info, self._world), self.step)
        self.sem = self.memory.semantic(self.pos)
        for x, y in zip(*np.nonzero(self.memory.creatures == S["cow"])):
            self._cow_sightings[(int(x), int(y))] = self.step
        for x, y in zip(*np.nonzero(self.memory.creatures == S["skeleton"])):
            self._skeleton_sightings[(int(x), int(y))] = self.step
        if len(self._cow_sightings) > 128:
            self._cow_sightings = dict(sorted(self._cow_sightings.items(), key=lambda kv: -kv[1])[:64])
        self.seen = self.memory.known
        self.facing = (int(info["facing"][0]), int(info["facing"][1]))
        self.inv = info["inventory"]
        self.ach = info["achievements"]
        self.sleeping = info["sleeping"]
        self.daylight = daylight_at(self.step)

    def _inside(self, p) -> bool:
        return 0 <= p[0] < self.area[0] and 0 <= p[1] < self.area[1]

    def _visible(self, ids) -> np.ndarray:
        """Mask of tiles in the current local view whose semantic id is in ``ids``."""
        mask = np.zeros(self.area, bool)
        x0, x1, y0, y1 = window_bounds(self.pos, self.area)
        mask[x0:x1, y0:y1] = np.isin(self.sem[x0:x1, y0:y1], ids)
        return mask

    def _known(self, ids) -> np.ndarray:
        """Seen tiles whose semantic id is in ``ids`` (within the leash for freely chosen sub-goals)."""
        mask = np.isin(self.sem, ids) & self.seen
        if self.leash is not None and self.goal_priority == _FREE:
            mask &= self.leash
        return mask

    def _faced(self) -> tuple[int, int]:
        return self.pos[0] + self.facing[0], self.pos[1] + self.facing[1]

    def _faced_id(self) -> int:
        p = self._faced()
        return int(self.sem[p]) if self._inside(p) else 0

    # ------------------------------------------------------------------ sub-goal choice
    def _survival_need(self) -> Optional[tuple[str, int]]:
        """The most urgent survival sub-goal and its priority (lower pre-empts higher), if any: drink, eat, sleep
        when tired (always in a sealed shelter: a zombie hits a sleeper for 7), hide in a shelter at night. At dusk
        drink and food are topped up (drink to full, food with a cow); at night, out of the shelter, only a critical
        need comes before hiding, and inside it the player stays (drinking only from water next to the shelter)."""
        st = self.style
        sealed = self._sealed()
        waiting = sealed and self._zombie_near() and self.inv["food"] > 1 and self.inv["drink"] > 1
        night = self._is_night() or waiting  # zombies waiting outside: stay in while food and drink last
        if night and sealed:
            if self.inv["drink"] < 9 and self._water_adjacent():
                return "collect_drink", 1
            return "shelter", 4
        drink_threshold = 1 if night else (7 if self._is_dusk() else st.drink_threshold)
        food_threshold = 1 if night else (7 if self._is_dusk() else st.food_threshold)
        if self.inv["drink"] <= drink_threshold:
            return "collect_drink", 1
        if self.inv["food"] <= food_threshold:
            return ("eat_plant" if self._ripe_plants() else "eat_cow"), 2
        if not night and self.inv["food"] <= 7 and self._visible([S["cow"]]).any():
            return "eat_cow", 2  # a cow in view: eat while it is here
        if night and self.step >= self._no_shelter_until:
            return "shelter", 4
        if self._is_dusk() and self._blocks() < _STONE_STOCK:  # walls for tonight's shelter: stone, else wood
            x0, x1, y0, y1 = self.pos[0] - 10, self.pos[0] + 11, self.pos[1] - 10, self.pos[1] + 11
            stone_near = self._known([S["stone"]])[max(0, x0):x1, max(0, y0):y1].any()
            if self.inv["wood_pickaxe"] > 0 and stone_near:
                return "collect_stone", 3
            if self._known([S["tree"]])[max(0, x0):x1, max(0, y0):y1].any():
                return "collect_wood", 3
        if self.step >= self._no_sleep_until and self.inv["energy"] < _ENERGY_MAX and (
                self.inv["energy"] <= st.energy_threshold
                or (self.inv["health"] <= 4 and self.inv["wood_pickaxe"] > 0)):
            return "wake_up", 3
        return None

    def _day_time(self) -> int:
        """Env steps into the current day-night cycle (the player's own step count modulo :data:`_DAY`)."""
        return self.step % _DAY

    def _is_night(self) -> bool:
        """From daylight ~0.87, falling (zombies spawn on grass below 0.83), to ~0.93 the next morning."""
        t = self._day_time()
        return t >= _NIGHT_START or (t < _NIGHT_END and self.step >= _DAY)

    def _is_dusk(self) -> bool:
        """The hour before night: time to drink and eat up and to look for a shelter site."""
        return _DUSK_START <= self._day_time() < _NIGHT_START

    def _zombie_near(self, radius: int = 5) -> bool:
        """A zombie in view within ``radius`` tiles (Manhattan)."""
        xs, ys = np.nonzero(self.memory.creatures == S["zombie"])
        return bool(len(xs) and (np.abs(xs - self.pos[0]) + np.abs(ys - self.pos[1])).min() <= radius)

    def _blocks(self) -> int:
        """Walls the player can place: stones, and tables (2 wood each) where stones run out."""
        return int(self.inv["stone"] + self.inv["wood"] // _TABLE_WOOD)

    def _block_action(self) -> Optional[int]:
        """``place_stone``, or ``place_table`` when out of stone, or None when neither can be placed."""
        if self.inv["stone"] > 0:
            return A["place_stone"]
        if self.inv["wood"] >= _TABLE_WOOD:
            return A["place_table"]
        return None

    def _stone_in_view(self) -> bool:
        return bool(self._visible([S["stone"]]).any())

    def _water_adjacent(self) -> bool:
        return any(self._inside((self.pos[0] + d[0], self.pos[1] + d[1]))
                   and self.sem[self.pos[0] + d[0], self.pos[1] + d[1]] == S["water"] for d in DIRS)

    def _maybe_preempt(self) -> None:
        """Answer a nearby zombie/skeleton (fight, or flee when hurt), or switch to a more urgent survival need,
        interrupting the current sub-goal."""
        if self.goal_priority == 0 and self.goal_gen is not None:
            return
        sealed = self._sealed()
        threat = self._nearest_threat() if self.step >= self._fight_cooldown_until and not sealed else None
        if threat is not None:
            self._fight_cooldown_until = self.step + 3
            pos, kind, fight = threat
            if fight:
                self._start_goal("defeat_zombie" if kind == S["zombie"] else "defeat_skeleton", priority=0)
            else:
                self._start_goal("flee", priority=0)
                self.goal_gen = self._flee(pos)
            return
        need = self._survival_need()
        late = self._day_time() >= _NIGHT_START + 25 or self._day_time() < _NIGHT_END
        if (need is not None and need[0] == "shelter" and self.goal_name in ("collect_drink", "eat_cow", "eat_plant")
                and ((self.inv["drink"] > 4 and self.inv["food"] > 4) or late)):
            self._start_goal(*need)  # night fell during a top-up: hide first
            return
        if (need is not None and need[0] == "collect_drink" and self.goal_name in ("eat_cow", "eat_plant")
                and self.goal_gen is not None and self.inv["drink"] > 2):
            return  # finish the hunt first: walking back and forth between water and cows feeds neither
        if need is not None and need[1] < self.goal_priority:
            if self.goal_gen is not None and self.goal_priority == _FREE and self.goal_name in ACHIEVEMENTS:
                self.resume = self.goal_name
            self._start_goal(*need)

    def _nearest_threat(self) -> Optional[tuple[tuple[int, int], int, bool]]:
        """``(pos, semantic id, fight?)`` of the nearest zombie within ``fight_radius`` (1 when hurt), or of a
        skeleton next to the player (fight) or in line with it within shooting range (5 tiles: arrows fly straight
        along a row or column; flee out of the line), or None."""
        health = self.inv["health"]
        r = self.style.fight_radius if health > 4 else 1
        skeleton_range = 4
        if self.goal_name == "shelter":  # building the shelter: answer only what is about to hit
            r, skeleton_range = 1, 0
        x, y = self.pos
        best, best_d = None, 99
        for dx in range(-4, 5):
            for dy in range(-4, 5):
                d = abs(dx) + abs(dy)
                p = (x + dx, y + dy)
                if not (0 < d < best_d and self._inside(p)):
                    continue
                kind = int(self.sem[p])
                if kind == S["zombie"] and d <= r:
                    best, best_d = (p, kind, True), d
                elif kind == S["skeleton"] and d == 1:
                    best, best_d = (p, kind, health > 3), d
                elif kind == S["skeleton"] and d <= skeleton_range + 1 and (dx == 0 or dy == 0):
                    best, best_d = (p, kind, self.goal_name == "defeat_skeleton" and health > 6), d
        return best

    def _flee(self, threat: tuple[int, int]) -> Iterator[int]:
        """Step away from ``threat`` for a few steps, preferring to leave its row/column (arrows fly straight)."""
        for _ in range(int(self.rng.integers(1, 4))):  # a sidestep out of the line of fire
            best, best_score = None, -1.0
            for d in DIRS:
                p = (self.pos[0] + d[0], self.pos[1] + d[1])
                if not (self._inside(p) and WALKABLE[self.sem[p]]):
                    continue
                score = abs(p[0] - threat[0]) + abs(p[1] - threat[1]) + 3.0 * (p[0] != threat[0] and p[1] != threat[1])
                score += 0.1 * self.rng.random()
                if score > best_score:
                    best, best_score = d, score
            if best is None:
                return
            yield MOVES[best]

    def _choose_goal(self) -> tuple[str, int]:
        need = self._survival_need()
        if need is not None:
            return need
        if self.resume is not None:
            name, self.resume = self.resume, None
            if self.rng.random() < 0.7:
                return name, _FREE
        if self._ripe_plants() and self.rng.random() < 0.8:
            return "eat_plant", _FREE
        armed = self.inv["wood_pickaxe"] > 0 and (self.inv["wood_sword"] > 0 or self.inv["stone_sword"] > 0)
        # the tech tree's trunk (pickaxes, iron) comes first for every style
        trunk = self.inv["stone_pickaxe"] == 0 or (self.ach["collect_iron"] == 0 and self.inv["iron_pickaxe"] == 0)
        if self.rng.random() < (self.style.p_progress if armed and not trunk else max(self.style.p_progress, 0.9)):
            for name, done in _PROGRESSION:
                if not done(self):
                    if "|" in name:  # the order of these steps is free
                        options = [n for n in name.split("|") if self.ach[n] == 0] or name.split("|")
                        name = options[int(self.rng.integers(len(options)))]
                    return name, _FREE
        if self.inv["sapling"] == 0 and self.rng.random() < 0.1:
            return "collect_sapling", _FREE  # saplings come in handy for a plant by the shelter
        r = self.rng.random()
        if r < 0.10:
            return "explore", _FREE
        if r < 0.14:
            return "wander", _FREE
        if r < 0.16:
            return "idle", _FREE
        weights = np.array([self.style.new_weight if self.ach[a] == 0 else 1.0 for a in ACHIEVEMENTS])
        weights[ACHIEVEMENTS.index("defeat_skeleton")] *= 0.25  # long, dangerous trips into the tunnels
        if self.inv["health"] < 9 or not (self.inv["wood_sword"] or self.inv["stone_sword"] or self.inv["iron_sword"]):
            weights[ACHIEVEMENTS.index("defeat_skeleton")] = 0.0
        if self.inv["health"] < 8 or self._is_dusk():  # no picking fights when hurt or before nightfall
            weights[[ACHIEVEMENTS.index("defeat_zombie"), ACHIEVEMENTS.index("defeat_skeleton")]] = 0.0
        return str(self.rng.choice(ACHIEVEMENTS, p=weights / weights.sum())), _FREE

    def _start_goal(self, name: str, priority: int = _FREE) -> None:
        if self.goal_gen is not None:
            self.goal_gen.close()
        self.goal_name = name
        self.goal_priority = priority
        self.goal_gen = self._goal(name, resolve=True if priority < _FREE else None)

    # ------------------------------------------------------------------ top-level sub-goals
    def _goal(self, name: str, resolve: Optional[bool] = None) -> Generator[int, None, None]:
        """Pursue ``name`` (an achievement, or explore/wander/idle/shelter) until it is unlocked (collect_*: 1-3
        more times) or its step budget runs out. ``resolve``: pursue prerequisites first (default: with
        probability ``style.p_prerequisites``)."""
        survival = self.goal_priority < _FREE
        if name == "shelter":
            yield from self._night()
            return
        if name == "explore":
            yield from self._explore(None, int(self.rng.integers(20, 80)))
            return
        if name == "wander":
            for _ in range(int(self.rng.integers(5, 30))):
                yield int(self.rng.choice(list(MOVES.values()) + [A["noop"], A["do"]]))
            return
        if name == "idle":
            for _ in range(int(self.rng.integers(2, 12))):
                yield A["noop"]
            return
        start = self.ach[name]
        amount = 1
        if name.startswith("collect_") and not survival:
            amount = int(self.rng.integers(1, 4))
            if name == "collect_stone" and self._stone_in_view():
                amount = max(amount, _STONE_STOCK - self.inv["stone"])  # stock up for the shelter's walls
        if name == "collect_drink" and survival:
            amount = max(1, int(self.rng.integers(7, 10)) - self.inv["drink"])
        budget = {"collect_diamond": 1500, "make_iron_pickaxe": 2000, "make_iron_sword": 2000,
                  "eat_plant": 900, "defeat_skeleton": 800, "eat_cow": 250, "defeat_zombie": 300}.get(name, 600)
        failures = 0
        steps = 0
        if resolve is None:
            resolve = bool(self.rng.random() < self.style.p_prerequisites)
        while self.ach[name] - start < amount and steps < budget and failures < 4:
            leaf = self._leaf(name, resolve)
            if leaf is None:
                return
            ok, acted = True, False
            try:
                for action in leaf:
                    steps += 1
                    acted = True
                    yield action
                    if self.ach[name] - start >= amount:
                        break
            except _Abort:
                ok = False
            if not ok or not acted:
                failures += 1
                if not resolve:
                    return  # a fumbled attempt without prerequisites ends at the first failure

    def _leaf(self, name: str, resolve: bool) -> Optional[Iterator[int]]:
        """The next bounded sub-goal towards achievement ``name`` (prerequisites first if ``resolve``)."""
        kind, _, what = name.partition("_")
        if name == "collect_drink":
            return self._collect(S["water"], lambda: self.inv["drink"], self.inv["drink"] + 1)
        if name == "collect_sapling":
            return self._collect_sapling()
        if kind == "collect":
            material = ITEM_SOURCE[what]
            return self._need_or(resolve, dict(crafter.constants.collect[material]["require"]),
                                 lambda: self._collect(S[material], lambda: self.inv[what], self.inv[what] + 1))
        if kind == "place":
            if what == "plant":
                return self._need_or(resolve, {"sapling": 1}, self._place_plant)
            info = crafter.constants.place[what]
            return self._need_or(resolve, dict(info["uses"]), lambda: self._place(what), stations=info.get("nearby", []))
        if kind == "make":
            info = crafter.constants.make[what]
            return self._need_or(resolve, dict(info["uses"]), lambda: self._make(what), stations=info["nearby"])
        if name == "eat_cow":
            return self._hunt(S["cow"], "eat_cow")
        if name == "eat_plant":
            return self._eat_plant()
        if name == "defeat_zombie":
            return self._hunt(S["zombie"], "defeat_zombie")
        if name == "defeat_skeleton":
            return self._hunt(S["skeleton"], "defeat_skeleton")
        if name == "wake_up":
            return self._sleep()
        raise ValueError(f"no sub-goal for {name!r}")

    def _need_or(self, resolve: bool, needs: dict[str, int], leaf: Callable[[], Iterator[int]],
                 stations: Optional[list] = None) -> Iterator[int]:
        """``leaf()`` if the items in ``needs`` are held and, for crafting, a tile with all ``stations`` within
        reach is known; otherwise (only when ``resolve``) the sub-goal that gets the first missing item or places
        the missing station (next to the known ones)."""
        if resolve:
            for item, n in needs.items():
                if self.inv[item] < n:
                    return self._get_item(item, n)
            if stations and not self._station_mask(stations).any():
                missing = [s for s in stations if not self._station_mask([s]).any()] or [stations[-1]]
                name = missing[0]
                near = [s for s in stations if s != name and self._station_mask([s]).any()]
                uses = dict(crafter.constants.place[name]["uses"])
                return self._need_or(True, uses, lambda: self._place(name, near=near))
        return leaf()

    def _get_item(self, item: str, n: int) -> Iterator[int]:
        if item in TOOLS:
            info = crafter.constants.make[item]
            return self._need_or(True, dict(info["uses"]), lambda: self._make(item), stations=info["nearby"])
        material = ITEM_SOURCE[item]
        if material == "grass":
            return self._collect_sapling()
        target = min(9, n + int(self.rng.integers(0, 3)))
        return self._need_or(True, dict(crafter.constants.collect[material]["require"]),
                             lambda: self._collect(S[material], lambda: self.inv[item], target))

    # ------------------------------------------------------------------ leaf sub-goals
    def _collect(self, target_id: int, count: Callable[[], int], until: int) -> Iterator[int]:
        """Go to a seen ``target_id`` tile, face it and ``do`` until ``count() >= until``."""
        tries = 0
        while count() < until:
            mask = self._known([target_id])
            if not mask.any():
                found = yield from self._explore([target_id], 60, stop=lambda: self._known([target_id]).any())
                tries += 1
                if not found and tries >= 3:
                    raise _Abort
                continue
            ok = yield from self._go_face(lambda: self._known([target_id]), max_steps=250)
            if not ok:
                raise _Abort
            before = count()
            for _ in range(3):
                yield A["do"]
                if count() > before or self._faced_id() != target_id:
                    break
            if count() == before and self._faced_id() == target_id:
                raise _Abort  # missing tool: doing does nothing

    def _collect_sapling(self) -> Iterator[int]:
        """``do`` on grass until a sapling drops (10% per try), moving between grass tiles."""
        before = self.inv["sapling"]
        for _ in range(120):
            if self.inv["sapling"] > before:
                return
            if self._faced_id() == S["grass"]:
                yield A["do"]
                continue
            ok = yield from self._go_face(lambda: self._known([S["grass"]]), max_steps=60)
            if not ok:
                yield from self._explore([S["grass"]], 20)
        raise _Abort

    def _place(self, name: str, near: Optional[list] = None) -> Iterator[int]:
        """Place ``name`` on the faced tile, first walking to a tile with the stations ``near`` close by and a
        valid faced tile (crafter's ``where`` list, no object)."""
        where = [S[m] for m in crafter.constants.place[name]["where"]]
        action = A[f"place_{name}"]
        before = self.ach[f"place_{name}"]
        if near:
            ok = yield from self._go_stand(lambda: self._station_mask(near), max_steps=200)
            if not ok:
                raise _Abort
        for _ in range(12):
            if self._faced_id() in where and (not near or self._station_mask(near)[self.pos]):
                yield action
                if self.ach[f"place_{name}"] > before:
                    return
            # turn or step towards a free neighbour (moving turns the player to face the next tile)
            options = [d for d in DIRS if self._inside((self.pos[0] + 2 * d[0], self.pos[1] + 2 * d[1]))]
            if near:
                options = [d for d in options if self.sem[self.pos[0] + d[0], self.pos[1] + d[1]] in where]
            if not options:
                break
            yield MOVES[options[int(self.rng.integers(len(options)))]]
        raise _Abort

    def _place_plant(self) -> Iterator[int]:
        before = self.ach["place_plant"]
        for _ in range(40):
            if self._faced_id() == S["grass"]:
                yield A["place_plant"]
                if self.ach["place_plant"] > before:
                    self.plants.add(self._faced())
                    return
            ok = yield from self._go_face(lambda: self._known([S["grass"]]) & ~self._near_creature(), max_steps=40)
            if not ok:
                yield from self._wander(3)
        raise _Abort

    def _make(self, tool: str) -> Iterator[int]:
        stations = crafter.constants.make[tool]["nearby"]
        ok = yield from self._go_stand(lambda: self._station_mask(stations), max_steps=250)
        if not ok:
            raise _Abort
        before = self.ach[f"make_{tool}"]
        yield A[f"make_{tool}"]
        if self.ach[f"make_{tool}"] == before:
            raise _Abort

    def _hunt(self, creature: int, achievement: str) -> Iterator[int]:
        """Chase the nearest visible creature (exploring to find one, unless this is a threat response) and hit it
        until ``achievement`` rises."""
        before = self.ach[achievement]
        misses = 0
        for _ in range(12):
            if self.ach[achievement] > before:
                return
            if creature != S["cow"] and self.inv["health"] <= (6 if creature == S["skeleton"] else 2):
                raise _Abort  # too weak to keep fighting
            if not self._visible([creature]).any() and self.goal_priority == 0:
                return  # the threat is gone
            if not self._known([creature]).any():
                seen = [p for p, t in self._cow_sightings.items() if self.step - t < 400 and p != self.pos]
                if creature == S["cow"] and seen:  # go where cows were last seen (they wander slowly)
                    p = min(seen, key=lambda q: abs(q[0] - self.pos[0]) + abs(q[1] - self.pos[1])
                            + 0.05 * (self.step - self._cow_sightings[q]))
                    for q in seen:  # going there shows the whole neighbourhood: forget the sightings around it
                        if abs(q[0] - p[0]) <= 3 and abs(q[1] - p[1]) <= 2:
                            del self._cow_sightings[q]
                    near = np.zeros(self.area, bool)
                    near[max(0, p[0] - 1): p[0] + 2, max(0, p[1] - 1): p[1] + 2] = True
                    yield from self._go_stand(lambda: near & WALKABLE[self.memory.terrain], max_steps=80,
                                              stop=lambda: self._known([creature]).any())
                    continue
                if creature == S["cow"]:  # look again where grass has not been in view for longest
                    yield from self._patrol(S["grass"], 60, stop=lambda: self._known([creature]).any())
                    misses += 1
                    if misses > 4:
                        raise _Abort
                    continue
                if creature == S["skeleton"]:
                    yield from self._to_tunnels()
                else:
                    yield from self._explore([creature], 40, stop=lambda: self._known([creature]).any())
                misses += 1
                if misses > 4:
                    raise _Abort
                continue
            ok = yield from self._go_face(lambda: self._known([creature]), max_steps=40, replan=3)
            if not ok:
                misses += 1
                if misses > 2:
                    raise _Abort
            for _ in range(8):
                if not (self._faced_id() == creature and self.ach[achievement] == before):
                    break
                yield A["do"]
            if self.ach[achievement] > before:
                return
        raise _Abort

    def _to_tunnels(self) -> Iterator[int]:
        """Walk to a seen, distant path tile (tunnels and caves, where skeletons spawn), or explore the mountains."""
        mask = self._known([S["path"]])
        x, y = self.pos
        mask[max(0, x - 4): x + 5, max(0, y - 3): y + 4] = False
        if mask.any():
            ok = yield from self._go_stand(lambda: mask, max_steps=80, pick_random=True,
                                           stop=lambda: self._visible([S["skeleton"]]).any())
            if ok:
                return
        yield from self._explore([S["skeleton"]], 50, stop=lambda: self._visible([S["skeleton"]]).any())

    def _eat_plant(self) -> Iterator[int]:
        """Eat a ripe plant; else plant a sapling walled in by stones (zombies, cows and skeletons next to a plant
        eat it) and keep the player within reach so that it grows (crafter only updates objects near the player)."""
        ripe = self._ripe_plants()
        if ripe:
            mask = np.zeros(self.area, bool)
            for p in ripe:
                mask[p] = True
            ok = yield from self._go_face(lambda: mask, max_steps=150)
            if ok:
                yield A["do"]
                return
            raise _Abort
        if self.plants:
            yield from self._wander(int(self.rng.integers(3, 10)))  # waiting for it to ripen
            return
        if self.inv["sapling"] < 1:
            yield from self._collect_sapling()
            return
        need = 4 - self.inv["stone"]
        if need > 0:
            yield from self._get_item("stone", 4)
            return
        yield from self._plant_walled()

    def _plant_walled(self) -> Iterator[int]:
        """Plant a sapling on a grass tile and wall in its open neighbours with stones (needs up to 4)."""
        sem = self.sem
        open_ = WALKABLE[sem] | np.isin(sem, CREATURES + (S["player"],))
        n_open = sum(_shift(open_, d[0], d[1]).astype(int) for d in DIRS)
        cand = (sem == S["grass"]) & self.seen & (n_open >= 1) & (n_open <= self.inv["stone"])
        x, y = self.pos
        near = np.zeros(self.area, bool)
        near[max(0, x - 8): x + 9, max(0, y - 8): y + 9] = True
        cand &= near & ~self._near_creature()
        if not cand.any():
            raise _Abort
        xs, ys = np.nonzero(cand)
        order = np.argsort(np.abs(xs - x) + np.abs(ys - y) + self.rng.random(len(xs)) * 4)
        g = (int(xs[order[0]]), int(ys[order[0]]))
        opens = [(g[0] + d[0], g[1] + d[1]) for d in DIRS if self._inside((g[0] + d[0], g[1] + d[1]))
                 and open_[g[0] + d[0], g[1] + d[1]]]
        opens.sort(key=lambda t: abs(t[0] - x) + abs(t[1] - y))
        stand = opens[0]
        for t in opens[1:]:  # wall in all open sides but the one we plant from
            ok = yield from self._face_tile(t)
            if not ok:
                raise _Abort
            if WALKABLE[self.sem[t]]:
                yield A["place_stone"]
        ok = yield from self._face_tile(g)
        if not ok or self.sem[g] != S["grass"]:
            raise _Abort
        yield A["place_plant"]
        if not self._plant_at(g):
            raise _Abort
        self.plants.add(g)
        self._set_leash(g)
        ok = yield from self._face_tile(stand)  # step out and close the last side
        if ok and WALKABLE[self.sem[stand]]:
            yield A["place_stone"]

    def _plant_area(self, radius: int = 12) -> np.ndarray:
        """Tiles within ``radius`` (Chebyshev) of a known plant."""
        mask = np.zeros(self.area, bool)
        for p in self.plants:
            mask[max(0, p[0] - radius): p[0] + radius + 1, max(0, p[1] - radius): p[1] + radius + 1] = True
        return mask

    def _set_leash(self, home: Optional[tuple[int, int]], radius: int = 14) -> None:
        """While a plant grows, freely chosen sub-goals only target tiles within ``radius`` of ``home``."""
        if home is None:
            self.leash = None
            return
        self.leash = np.zeros(self.area, bool)
        self.leash[max(0, home[0] - radius): home[0] + radius + 1, max(0, home[1] - radius): home[1] + radius + 1] = True

    def _face_tile(self, t: tuple[int, int], max_steps: int = 60) -> Generator[int, None, bool]:
        """Stand next to tile ``t`` facing it. A blocked tile is faced by bumping into it; a walkable one by
        stepping onto a neighbour while moving towards ``t``."""
        if self._faced() == t:
            return True
        mask = np.zeros(self.area, bool)
        mask[t] = True
        if not WALKABLE[self.sem[t]]:
            return (yield from self._go_face(lambda: mask, max_steps=max_steps))
        options = []
        for d in DIRS:
            n = (t[0] - d[0], t[1] - d[1])          # stand here, facing d
            a = (t[0] - 2 * d[0], t[1] - 2 * d[1])  # arriving from here
            if (self._inside(n) and self._inside(a) and WALKABLE[self.sem[n]]
                    and (WALKABLE[self.sem[a]] or a == self.pos)):
                options.append((abs(a[0] - self.pos[0]) + abs(a[1] - self.pos[1]), n, a, d))
        options.sort()
        for _, n, a, d in options[:2]:
            if self.pos == n and self.facing == d:
                return True
            approach = np.zeros(self.area, bool)
            approach[a] = True
            ok = yield from self._go_stand(lambda: approach, max_steps=max_steps)
            if not ok:
                continue
            yield MOVES[d]
            if self._faced() == t:
                return True
        return False

    def _sleep(self) -> Iterator[int]:
        """Sleep until rested (``wake_up``), always in a sealed shelter first (a zombie hits a sleeper for 7 health);
        where no shelter can be made the player stays awake for a while."""
        if self.inv["energy"] >= _ENERGY_MAX:
            raise _Abort  # crafter ignores sleep when rested
        sheltered = yield from self._shelter()
        if not sheltered:
            self._no_sleep_until = self.step + 40
            raise _Abort
        before = self.ach["wake_up"]
        for _ in range(30):
            yield A["sleep"]
            if not self.sleeping:
                break
        while self.sleeping:  # act() answers with 'sleep' while asleep, so this only resumes once awake
            yield A["sleep"]
        if self.ach["wake_up"] == before and self.inv["energy"] < _ENERGY_MAX:
            self._no_sleep_until = self.step + 20
            raise _Abort  # woken by damage

    def _night(self) -> Iterator[int]:
        """Spend the night in a shelter: get a wood pickaxe if needed (to dig into stone), dig and seal a shelter,
        then stay inside until the morning, sleeping whenever energy is below its maximum."""
        if self.inv["wood_pickaxe"] == 0 and self.inv["stone"] < 5:
            yield from self._goal("make_wood_pickaxe", resolve=True)
        if not self.plants and self.inv["sapling"] > 0 and self.inv["stone"] >= 3 and self.rng.random() < 0.5:
            try:  # plant a walled-in sapling next to tonight's shelter: it grows while we sleep nearby
                yield from self._plant_walled()
            except _Abort:
                pass
        sealed = False
        for _ in range(3):
            sealed = yield from self._shelter()
            if sealed:
                break
            # no place to dig in: head for the mountains (seen stone, or unseen land next to it)
            stone = self._known([S["stone"]])
            x0, x1, y0, y1 = window_bounds(self.pos, self.area)
            stone[x0:x1, y0:y1] = False
            if stone.any():
                yield from self._go_stand(lambda: _dilate4(stone), max_steps=40)
            else:
                yield from self._explore([S["stone"]], 40)
        if not sealed:
            self._no_shelter_until = self.step + 10
            return
        while (self._is_night() or (self._zombie_near() and self.inv["food"] > 1 and self.inv["drink"] > 1)) \
                and self._sealed():
            if self.inv["energy"] < _ENERGY_MAX:
                self.goal_name = "wake_up"
                try:
                    yield from self._sleep()
                except _Abort:
                    pass
                self.goal_name = "shelter"
            else:
                yield A["noop"]

    def _shelter(self) -> Generator[int, None, bool]:
        """Make a two-tile shelter and get sealed in it. It is a line E -> P0 -> P1 from an entrance E, with P0, P1
        walkable or stone (dug out) and their five other neighbours solid: solid already (stone, water, trees,
        ...) or walled up with stones first. The player walks in to P1, steps back into P0 (now facing E) and
        seals E with a stone. Cheap sites (few stones to place) are preferred. Returns True when sealed in."""
        if self._sealed():
            return True
        sem = self.sem
        # tiles never seen count as open: a wall must be known to be solid
        open_ = PASSABLE[sem] | np.isin(sem, CREATURES + (S["player"],)) | ~self.seen
        stone = sem == S["stone"]
        water = sem == S["water"]
        inside = (WALKABLE[sem] & ~np.isin(sem, CREATURES)) | stone | (sem == S["player"])
        area = self._plant_area() if self.plants else None
        xs, ys = np.meshgrid(np.arange(self.area[0]), np.arange(self.area[1]), indexing="ij")
        dist = np.abs(xs - self.pos[0]) + np.abs(ys - self.pos[1])
        # tunnels (path) and skeletons nearby: arrows fly over water and through any opening
        tunnels = _box_sum((sem == S["path"]) | (sem == S["skeleton"]), 4).astype(np.float64)
        for (sx, sy), t in list(self._skeleton_sightings.items()):  # keep well away from skeletons seen lately
            if self.step - t > 150:
                del self._skeleton_sightings[(sx, sy)]
            else:
                tunnels += 40.0 * ((np.abs(xs - sx) + np.abs(ys - sy)) <= 7)
        best = None
        for d in DIRS:
            e = (-d[1], d[0])  # perpendicular
            walls = [(3 * d[0], 3 * d[1])] + [(k * d[0] + s_ * e[0], k * d[1] + s_ * e[1])
                                               for k in (1, 2) for s_ in (1, -1)]
            cost = sum(_shift(open_, *w).astype(np.int16) for w in walls)
            gain = _shift(stone, *d).astype(np.int16) + _shift(stone, 2 * d[0], 2 * d[1])
            cand = (WALKABLE[self.memory.terrain] & ~np.isin(sem, CREATURES) & _shift(inside, *d) & _shift(inside, 2 * d[0], 2 * d[1])
                    & (cost + 1 <= self._blocks() + gain) & (dist <= 30))
            if area is not None and (cand & area).any():
                cand &= area  # stay close enough to the plant for it to grow
            if not cand.any():
                continue
            # water beside the inner tile: the player can drink without leaving the shelter
            wet = _shift(water, d[0] + e[0], d[1] + e[1]) | _shift(water, d[0] - e[0], d[1] - e[1])
            score = np.where(cand, dist + 8.0 * cost - 6.0 * wet + 0.5 * tunnels + self.rng.random(self.area) * 2,
                             np.inf)
            i = np.unravel_index(int(np.argmin(score)), self.area)
            if best is None or score[i] < best[0]:
                best = (float(score[i]), d, (int(i[0]), int(i[1])), walls)
        if best is None:
            return False
        _, d, site, walls = best
        target = np.zeros(self.area, bool)
        target[site] = True
        ok = yield from self._go_stand(lambda: target, max_steps=80)
        if not ok:
            return False
        entrance = self.pos
        for w in walls:  # wall up the open sides
            t = (entrance[0] + w[0], entrance[1] + w[1])
            if not self._inside(t) or not (WALKABLE[self.sem[t]] or self.sem[t] in CREATURES):
                continue
            ok = yield from self._face_tile(t, max_steps=30)
            block = self._block_action()
            if not ok or block is None or not WALKABLE[self.sem[t]]:
                return False
            yield block
        if self.pos != entrance:
            goal = np.zeros(self.area, bool)
            goal[entrance] = True
            ok = yield from self._go_stand(lambda: goal, max_steps=30)
            if not ok:
                return False
        entrance = self.pos
        p0 = (entrance[0] + d[0], entrance[1] + d[1])
        p1 = (entrance[0] + 2 * d[0], entrance[1] + 2 * d[1])
        back = (-d[0], -d[1])
        self._quiet = True  # no random actions while digging in and sealing
        try:
            for _ in range(14):
                if self._sealed():
                    return True
                nxt = (self.pos[0] + d[0], self.pos[1] + d[1])
                if self.pos in (entrance, p0) and not WALKABLE[self.sem[nxt]]:
                    if self.sem[nxt] not in (S["stone"], S["path"]):
                        return False  # something moved in
                    yield MOVES[d] if self.facing != d else A["do"]  # dig P0 / P1
                elif self.pos in (entrance, p0) and not (self.pos == p0 and self.facing == back):
                    yield MOVES[d]  # walk in
                elif self.pos == p1:
                    yield MOVES[back]  # step back into P0, now facing the entrance
                elif self.pos == p0 and self.facing == back:
                    faced = self._faced_id()
                    if self._block_action() is not None and WALKABLE[faced]:
                        yield self._block_action()
                    elif faced in (S["zombie"], S["cow"]):
                        yield A["do"]
                    else:
                        return False
                else:
                    return False
            return self._sealed()
        finally:
            self._quiet = False

    def _sealed(self) -> bool:
        """True if no creature can reach the player: the walkable region around it (remembered terrain, so an
        arrow flying past over water does not count) is at most 2 tiles."""
        x, y = self.pos
        terrain = self.memory.terrain
        free = []
        for d in DIRS:
            p = (x + d[0], y + d[1])
            if self._inside(p) and PASSABLE[terrain[p]]:
                free.append(p)
        if len(free) > 1:
            return False
        for p in free:
            for d in DIRS:
                q = (p[0] + d[0], p[1] + d[1])
                if q != self.pos and self._inside(q) and PASSABLE[terrain[q]]:
                    return False
        return True

    def _frontier(self) -> np.ndarray:
        """bool [W, H]: remembered walkable tiles next to a tile never seen (where walking reveals new land)."""
        return WALKABLE[self.sem] & _dilate4(~self.seen) | ((self.sem == S["player"]) & _dilate4(~self.seen))

    def _explore(self, target_ids: Optional[list], max_steps: int,
                 stop: Optional[Callable[[], bool]] = None) -> Generator[int, None, bool]:
        """Frontier exploration: walk to a remembered tile next to unseen land, preferring frontier near seen terrain
        that hints at ``target_ids`` (e.g. stone for iron), at a random one of the nearer ones. The walk is
        re-aimed as the view uncovers land. Returns True when ``stop()`` became true."""
        x, y = self.pos
        frontier = self._frontier()
        frontier[max(0, x - 2): x + 3, max(0, y - 2): y + 3] = False
        if not frontier.any():
            goal = WALKABLE[self.memory.terrain]  # everything reachable seen: walk over known land
            goal[self.pos] = False
        else:
            goal = frontier
            hints = sorted({h for t in (target_ids or []) for h in _TERRAIN_HINT.get(t, [])})
            if hints:
                near = self._known(hints)
                for _ in range(3):
                    near = _dilate8(near)
                if (near & frontier).any():
                    goal = near & frontier
        if self.leash is not None and self.goal_priority == _FREE and (goal & self.leash).any():
            goal = goal & self.leash
        xs, ys = np.nonzero(goal)
        if len(xs) == 0:
            yield from self._wander(3)
            return bool(stop and stop())
        # keep a heading (resampled now and then) so that exploring sweeps outwards instead of dithering
        if self._heading is None or self.rng.random() < 0.15:
            angle = self.rng.uniform(0, 2 * np.pi)
            self._heading = (float(np.cos(angle)), float(np.sin(angle)))
        dx, dy = xs - x, ys - y
        score = np.abs(dx) + np.abs(dy) - 1.5 * (dx * self._heading[0] + dy * self._heading[1])
        order = np.argsort(score + self.rng.random(len(xs)) * 4)
        i = int(order[0])
        target = (int(xs[i]), int(ys[i]))
        goal = np.zeros(self.area, bool)
        goal[target] = True
        was_frontier = bool(frontier[target])

        def done() -> bool:  # the target's unknown neighbours came into view: pick a new frontier
            return bool(stop and stop()) or (was_frontier and not self._frontier()[target])

        yield from self._go_stand(lambda: goal, max_steps=max_steps, stop=done)
        return bool(stop and stop())

    def _patrol(self, terrain_id: int, max_steps: int, stop: Callable[[], bool]) -> Generator[int, None, bool]:
        """Walk to where ``terrain_id`` (e.g. grass, where cows roam) was in view longest ago, or to the frontier
        next to it (never seen: the stalest), weighing staleness against distance. True when ``stop()``."""
        x, y = self.pos
        stale = np.minimum(self.step - self.memory.seen_at, 600).astype(np.float64)
        frontier = self._frontier() & _dilate8(_dilate8(self.memory.terrain == terrain_id))
        stale[frontier] = 600.0
        cand = (WALKABLE[self.memory.terrain] & (self.memory.terrain == terrain_id)) | frontier
        cand[max(0, x - 4): x + 5, max(0, y - 3): y + 4] = False  # in view now
        xs, ys = np.nonzero(cand & (stale >= 100))
        if len(xs) == 0:
            return (yield from self._explore([S["cow"]], max_steps, stop=stop))
        score = np.abs(xs - x) + np.abs(ys - y) - 0.08 * stale[xs, ys] + self.rng.random(len(xs)) * 4
        i = int(np.argmin(score))
        goal = np.zeros(self.area, bool)
        goal[int(xs[i]), int(ys[i])] = True
        steps = 0
        for action in self._go_stand(lambda: goal, max_steps=max_steps, stop=stop):
            steps += 1
            yield action
        if steps == 0:  # unreachable: a few random steps rather than replanning on the spot
            yield from self._wander(2)
        return bool(stop())

    def _wander(self, steps: int) -> Iterator[int]:
        for _ in range(steps):
            yield MOVES[DIRS[int(self.rng.integers(4))]]

    # ------------------------------------------------------------------ navigation
    def _station_mask(self, stations: list, radius: int = 25) -> np.ndarray:
        """Tiles with every station of ``stations`` within crafter's ``nearby`` distance (3x3), among stations
        within ``radius`` tiles (a far-away table is replaced by a new one)."""
        x, y = self.pos
        near = np.zeros(self.area, bool)
        near[max(0, x - radius): x + radius + 1, max(0, y - radius): y + radius + 1] = True
        mask = np.ones(self.area, bool)
        for s in stations:
            mask &= _dilate8(self._known([S[s]]) & near)
        return mask

    def _near_creature(self) -> np.ndarray:
        return _dilate4(np.isin(self.sem, (S["cow"], S["zombie"], S["skeleton"])))

    def _ripe_plants(self) -> list[tuple[int, int]]:
        out = []
        for p in list(self.plants):
            if not self._plant_at(p):
                self.plants.discard(p)
            elif p in self.memory.ripe:
                out.append(p)
        if not self.plants and self.leash is not None:
            self.leash = None
        return out

    def _plant_at(self, p) -> bool:
        """A plant is remembered at ``p``."""
        return bool(self.sem[p] == S["plant"])

    def _cost_map(self) -> list[float]:
        """Per-tile cost in env steps of entering it: 1 walkable, 3 to collect-then-enter a diggable material
        (tree; stone/coal/iron/diamond with the right pickaxe), 4 for a creature's tile, inf otherwise."""
        sem = self.sem
        cost = np.full(sem.shape, _INF)
        cost[WALKABLE[sem]] = 1.0
        for mid, need in DIGGABLE.items():
            if all(self.inv[k] >= v for k, v in need.items()):
                cost[sem == mid] = 3.0
        cost[np.isin(sem, CREATURES)] = 4.0
        for sx, sy in zip(*np.nonzero(sem == S["skeleton"])):  # stay out of a skeleton's line of fire
            cost[max(0, sx - 5): sx + 6, sy] += 3.0
            cost[sx, max(0, sy - 5): sy + 6] += 3.0
        cost[self.pos] = 1.0
        return cost.ravel().tolist()

    def _plan(self, goal: np.ndarray, pick_random: bool = False) -> Optional[list[int]]:
        """Cheapest path (flat tile indices, excluding the start) from the player to a tile of ``goal``."""
        h = self.area[1]
        start = self.pos[0] * h + self.pos[1]
        goal_flat = goal.ravel()
        if goal_flat[start]:
            return []
        cost = self._cost_map()
        nbrs = self._neighbours
        dist = {start: 0.0}
        prev: dict[int, int] = {}
        heap = [(0.0, start)]
        found: list[int] = []
        want = 1
        if pick_random or self.rng.random() < self.style.p_random_target:
            want = int(self.rng.integers(2, 4))
        while heap:
            d, i = heapq.heappop(heap)
            if d > dist[i]:
                continue
            if goal_flat[i]:
                found.append(i)
                if len(found) >= want:
                    break
                continue
            for j in nbrs[i]:
                nd = d + cost[j]
                if nd < dist.get(j, _INF):
                    dist[j] = nd
                    prev[j] = i
                    heapq.heappush(heap, (nd, j))
        if not found:
            return None
        node = found[-1]
        path = []
        while node != start:
            path.append(node)
            node = prev[node]
        return path[::-1]

    def _step_towards(self, nxt: int) -> Optional[int]:
        """The action that makes progress onto the adjacent tile ``nxt`` (None if it is not adjacent)."""
        h = self.area[1]
        p = (nxt // h, nxt % h)
        d = (p[0] - self.pos[0], p[1] - self.pos[1])
        if d not in MOVES:
            return None
        tile = int(self.sem[p])
        if WALKABLE[tile] or self.facing != d:
            return MOVES[d]  # walk, or turn towards a blocked tile
        if tile in DIGGABLE or tile in (S["zombie"], S["cow"], S["skeleton"]):
            return A["do"]  # collect the material / hit the creature in the way
        return None

    def _go_stand(self, goal_fn: Callable[[], np.ndarray], max_steps: int, replan: int = 12,
                  pick_random: bool = False, stop: Optional[Callable[[], bool]] = None) -> Generator[int, None, bool]:
        """Walk to any tile of ``goal_fn()``; True on arrival (or when ``stop()``), False if unreachable/timeout."""
        path: Optional[list[int]] = None
        since = 0
        last_pos, stuck = self.pos, 0
        h = self.area[1]
        for _ in range(max_steps):
            if stop is not None and stop():
                return True
            goal = goal_fn()
            if goal[self.pos]:
                return True
            if path is None or since >= replan or stuck > 3:
                path = self._plan(goal, pick_random=pick_random)
                pick_random = False
                since, stuck = 0, 0
                if path is None:
                    return False
            while path and path[0] == self.pos[0] * h + self.pos[1]:
                path.pop(0)
            if not path:
                path = None
                continue
            action = self._step_towards(path[0])
            if action is None:
                path = None
                stuck += 1
                yield A["noop"]
                continue
            yield action
            since += 1
            stuck = stuck + 1 if self.pos == last_pos else 0
            last_pos = self.pos
        return False

    def _go_face(self, target_fn: Callable[[], np.ndarray], max_steps: int, replan: int = 12) -> Generator[int, None, bool]:
        """Walk next to a tile of ``target_fn()`` and turn to face it. True when facing one."""
        for _ in range(4):
            target = target_fn()
            faced = self._faced()
            if self._inside(faced) and target[faced]:
                return True
            adjacent = [d for d in DIRS if self._inside((self.pos[0] + d[0], self.pos[1] + d[1]))
                        and target[self.pos[0] + d[0], self.pos[1] + d[1]]]
            if adjacent:
                d = adjacent[int(self.rng.integers(len(adjacent)))]
                # a blocked target: the move turns the player in place; a walkable one (grass): the player steps
                # onto it and then faces the next tile in that direction
                yield MOVES[d]
                continue
            stand = _dilate4(target) & ~target
            if not stand.any():
                return False
            ok = yield from self._go_stand(lambda: _dilate4(target_fn()), max_steps=max_steps, replan=replan)
            if not ok:
                return False
        target = target_fn()
        faced = self._faced()
        return bool(self._inside(faced) and target[faced])

    @staticmethod
    def _build_neighbours(shape) -> list[list[int]]:
        w, h = shape
        nbrs = []
        for x in range(w):
            for y in range(h):
                n = []
                if x > 0:
                    n.append((x - 1) * h + y)
                if x < w - 1:
                    n.append((x + 1) * h + y)
                if y > 0:
                    n.append(x * h + y - 1)
                if y < h - 1:
                    n.append(x * h + y + 1)
                nbrs.append(n)
        return nbrs
