"""A task-agnostic scripted Crafter player for the play dataset (PTGM's offline, reward-free gameplay), version 8.

**Perception (issue 18): only what the agent's observation shows, plus memory.** Each step the player reads the
tiles of the agent's 9x7 world window (``info["semantic"]`` cut to that window, and the ripeness of the plants
drawn in it), the status bar (``info["inventory"]``: health, food, drink, energy and items), its own position and
facing (drawn in the image; the position is the player's dead reckoning) and whether it sleeps (the image goes dark).
It keeps a memory map of the tiles it has seen (:class:`tasks.crafter.player_perception.MemoryMap`); creatures are
known only while in view. The time of day is its own step count (:func:`~tasks.crafter.player_perception.daylight_at`:
the image's darkness). It reads nothing of the env but its local view (``env.local_view()``) and, of the whole-map
``semantic``, only the window; the achievement counters in ``info`` only tell it whether its own last actions worked
(which the agent sees as the inventory or the tile in front changing). Paths are planned over remembered tiles only
(never-seen tiles are impassable); where it knows no tile of a material it needs, it explores: it walks to the
frontier of the remembered map (seen walkable tiles next to unseen ones), keeping a heading so that it sweeps
outwards, towards terrain that hints at the material.

Behaviour (randomised per episode by a :class:`PlayerStyle`, stored in the episode metadata):

* **Sub-goals.** Every one of the 22 achievements is a sub-goal: gather each material (wood, stone, coal, iron,
  diamond, sapling, water), place stone/table/furnace/plant, craft every pickaxe and sword, eat a cow, eat a plant
  (plant a sapling walled in by stones, stay within reach until it ripens, eat it; v7: a plant's walls are never dug
  or mined, a plot is chosen only where its open side can be faced, planting and walling take no random actions, and
  a ripe plant walled in on every side is eaten through a gap dug in its wall and walled up again), sleep until rested
  (``wake_up``), fight zombies and skeletons -- plus ``explore``, ``wander`` and ``idle``. A freely chosen sub-goal
  is, with probability ``style.p_progress`` (at least 0.9 until the stone pickaxe and the first iron), the next step
  of the tech tree (:data:`_PROGRESSION`), otherwise drawn at random, weighted towards achievements not yet unlocked.
  With probability ``style.p_prerequisites`` a sub-goal's prerequisites (tools, materials, a table or furnace nearby;
  read from crafter's ``data.yaml`` rules) are pursued first, otherwise it is attempted as is and may fail.
* **Survival** pre-empts free sub-goals, most urgent first: fight a zombie within reach or a skeleton next to the
  player, step out of a skeleton's line of fire, drink and eat as the status bar requires (a cow in view is eaten
  when food is below 8; cows seen earlier are looked for where they were, then where grass has not been in view for
  longest), and keep walls for the night (stones, or wood for tables; with fewer than two, it heads for known stone
  at dusk; v5: holding fewer than three stones, it fetches stone seen within 20 tiles at dusk, not only within 10). A threat is answered on the spot, never chased (a skeleton backs off into its tunnels while zombies
  close in). At dusk (env steps 70-125 of the 300-step day) drink and food are topped up and wood for the night's
  crafting is carried; from 125 to 20 of the next day (zombies spawn on grass while daylight is below 0.83: steps
  116-304) the player hides in a sealed shelter: a two-tile pocket dug into stone or walled up with stones/tables
  (v6: no random actions while walling up, and a wall counts as placed only once its tile is solid: a random action
  that replaced a placement had left the pocket open)
  (the walls being built are never dug through on the way to the next one; the seal is a table only where another
  wall can be dug through to leave: a table cannot be removed; v5: a site that would be sealed by a table is only
  chosen where one of its walls is a tree, a placed stone or a material the held pickaxe digs), preferably beside water (it drinks from inside) and
  away from tunnels and skeletons seen lately; it sleeps there when energy is below its maximum (only ever sealed in:
  a zombie hits a sleeper for 7) and stays in while zombies wait outside. Sealed in with a skeleton or an arrow in
  view (or hurt while fed, watered and rested), it places stones on the water next to the shelter (arrows fly over
  water). Lava is never entered, also not by random actions.
* **Night work (v4).** Awake in the sealed pocket, the player crafts the next pickaxe/sword its materials allow
  (placing a table, and a furnace, on a wall tile it digs out; the seal itself only with no creature near), else it
  digs through stone towards a wanted ore (iron with a stone pickaxe, coal, diamond with an iron pickaxe) or towards
  never-seen stone, only through tiles whose other neighbours are remembered solid, refilling the tunnel behind it
  with the dug stone: the pocket (at most 4 enclosed tiles) stays closed while the night gives stone, coal and iron.
  v8: the table is placed on any wall of the pocket that the held tools can open (also beside the pocket's other
  tile, and water, turned to stone first), safe walls first; v7 tried only the walls next to the player.
* **The tech tree's trunk (v8).** Iron comes before coal in :data:`_PROGRESSION`; at dusk, holding a stone pickaxe and
  no iron, the player fetches iron it has seen within 20 tiles, and without a stone pickaxe it fetches the wood to
  make one in the shelter from trees within 20 tiles (10 otherwise); a drink or a meal does not cut short a trip to
  iron or a ``make_stone_pickaxe`` sub-goal while drink and food are above 3, nor does a skeleton in line (not next
  to the player) while health is above 6, and no survival need but a threat or a critical drink/meal interrupts a
  ``make_*`` sub-goal one action from done (materials held, table in reach).
* **Stalls.** A sub-goal that ends without a single action (its target unreachable over the remembered tiles, e.g.
  trees only across water) is not chosen again for a while: a survival need then gives way to free sub-goals, a
  free sub-goal is replaced by ``explore``, instead of the player standing still re-planning it every step.
* **Noise.** A share ``style.epsilon`` of the actions is replaced by a random action (never ``sleep``, never while
  sealed in, building the shelter or planting); ``player.random_action`` flags it, so that behaviour cloning can leave
  those frames out.

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

Code: this module is the episode interface (:class:`ScriptedPlayer`: ``reset``, ``act``); the player's jobs live in
``tasks/crafter/player/`` (rules and style, perception state, navigation, survival, the sub-goal planner; see
:mod:`tasks.crafter.player`), perception helpers in :mod:`tasks.crafter.player_perception`.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, Iterator, Optional

import numpy as np

from tasks.crafter.env import CrafterEnv
from tasks.crafter.player.navigation import Navigation
from tasks.crafter.player.planner import Planner
from tasks.crafter.player.rules import (_FREE, _RANDOM_ACTIONS, _SUBGOAL_ID, A, DIRS, MOVES, S, SUBGOALS, PlayerStyle,
                                        _Abort)
from tasks.crafter.player.state import PlayerState
from tasks.crafter.player.survival import Survival
from tasks.crafter.player_perception import MemoryMap, daylight_at

__all__ = ["PLAYER_VERSION", "SUBGOALS", "PlayerStyle", "ScriptedPlayer"]

#: Bump when the behaviour changes: a dataset resumed with another version would mix two players.
PLAYER_VERSION = 8


class ScriptedPlayer(Planner, Survival, Navigation, PlayerState):
    """Reward-free scripted Crafter player (see the module docstring).

    Args:
        seed: seeds the player's own RNG (sub-goal choice, style, epsilon actions); with the env's world seed
            this makes an episode reproducible.
        style: a fixed :class:`PlayerStyle`; default: a new random style per episode.
        night_work: awake in its sealed shelter at night, the player crafts and digs through stone towards ore
            (:meth:`Survival._night_work`; True, player v8 as shipped); False: it waits (``noop``) or sleeps
            until the morning (no ``do`` inside a sealed pocket before it leaves; session 42's
            ``bench/results/night_sealed/``).
        early_plant: share of episodes (0-1) whose first free sub-goal is ``place_plant``: collect a sapling
            from the grass and plant it in the open, untended (it is not remembered as the player's plant: no
            leash, no shelter kept near it; :meth:`Planner._plant_in_open`); one try per episode. 0 (player
            v8 as shipped): never. Drawn from the player's RNG at :meth:`reset` only when strictly between 0 and
            1, so shares 0 and 1 play as without the option until the plant. Why: the unconditional low level
            lives ~200 env steps, and its Crafter score holds only what its teacher does early (session 43,
            ``bench/results/early_plant/``).

    Raises:
        ValueError: ``early_plant`` outside [0, 1].
    """

    def __init__(self, seed: Optional[int] = None, style: Optional[PlayerStyle] = None, night_work: bool = True,
                 early_plant: float = 0.0):
        self.rng = np.random.default_rng(seed)
        self.night_work = bool(night_work)
        if not 0.0 <= float(early_plant) <= 1.0:
            raise ValueError(f"ScriptedPlayer: early_plant {early_plant!r} is a share of episodes, expected 0-1")
        self.early_plant = float(early_plant)
        self._fixed_style = style
        self.style = style or PlayerStyle()
        self.subgoal = "idle"
        self._neighbours: Optional[list[list[int]]] = None

    # ------------------------------------------------------------------ episode interface
    def reset(self, env: CrafterEnv, info: dict[str, Any]) -> None:
        """Start an episode on ``env``, which was just reset (env step 0: the player's day clock starts here);
        ``info`` is the reset's info. The player keeps ``env`` only to read its local view
        (:meth:`tasks.crafter.env.CrafterEnv.local_view`: the texture of plants inside the window, see
        :func:`tasks.crafter.player_perception.visible_window`)."""
        self._env = env  # read only through env.local_view(): what the image shows
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
        self._keep: set[tuple[int, int]] = set()  # tiles paths must not dig through (walls being built)
        self._plant_walls: set[tuple[int, int]] = set()  # the stones around a growing plant: never dug, never mined
        self._stall_until: dict[str, int] = {}  # sub-goal -> own step until which it is not chosen (stalled)
        # ScriptedPlayer(early_plant=share): this episode's first free sub-goal is one plant in the open
        self.early_plant_episode = self.early_plant >= 1.0 or (
            self.early_plant > 0.0 and bool(self.rng.random() < self.early_plant))
        self._early_plant_due = self.early_plant_episode
        self.daylight = daylight_at(0)
        self.random_action = False
        self._observe(info)

    def act(self, info: dict[str, Any]) -> int:
        """The action (int in [0, 17)) for the state described by ``info`` (a :class:`CrafterEnv` info; read as
        the agent's image shows it, see the module docstring). Sets ``subgoal`` and ``random_action``."""
        self._observe(info)
        self.step += 1
        self.nav_target = None
        if self.sleeping:
            self.subgoal = "sleeping"
            self.random_action = False
            return A["sleep"]
        self._maybe_preempt()
        action = None
        tried = []
        for _ in range(4):  # a finished sub-goal hands over to a new one within the same env step
            if self.goal_gen is None:
                self._start_goal(*self._choose_goal())
            tried.append(self.goal_name)
            try:
                action = next(self.goal_gen)
                break
            except (StopIteration, _Abort):
                self.goal_gen = None
        if action is None:
            action = A["noop"]
            self._stalled(tried)
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
        """Index of :attr:`subgoal` in :data:`SUBGOALS` (the play dataset's per-frame ``subgoal`` info)."""
        return _SUBGOAL_ID[self.subgoal]

    def style_dict(self) -> dict:
        """This episode's :class:`PlayerStyle` as a dict (stored in the episode metadata)."""
        return asdict(self.style)
