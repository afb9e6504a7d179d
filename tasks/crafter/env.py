"""Crafter (Hafner, ICLR 2022) as a gymnasium environment, with the task logic of ``tasks/task_specs.yaml``.

``crafter.Env`` speaks the old gym API (``reset() -> obs``, ``step(a) -> (obs, reward, done, info)``) and draws its
world seed from a hidden episode counter. :class:`CrafterEnv` wraps it into the gymnasium API and makes every
episode replayable from its actions:

* **World seed.** ``reset(seed=s)`` seeds the env's ``np_random``; every reset draws a ``world_seed`` from it (or
  takes ``options={"world_seed": w}``) and generates the world exactly as ``crafter.Env(seed=w).reset()`` would.
  ``info["world_seed"]`` reports it, so ``reset(options={"world_seed": w})`` followed by the recorded actions
  replays an episode frame for frame.
* **Deterministic object order.** crafter keeps the objects of each world chunk in a ``set``, whose iteration
  order follows memory addresses; when a chunk has too many creatures, the one despawned is picked from that
  order, so the same seed and actions can give different episodes in two processes (or after reusing an env).
  We swap the chunk sets for insertion-ordered ones (:class:`_OrderedSet`), which makes episodes exact replays.
* **One render per env step.** Crafter's night-time noise draws from the world RNG inside ``render()``, so a
  second render per step would change the rest of the episode. Observations come from crafter's own ``step``;
  :meth:`CrafterEnv.render` returns that cached frame and never renders again.
* **Task logic** (one env class configured by the task spec, no wrapper reaching into privates):
  ``initial_inventory`` is written on ``env._player.inventory`` after the world is generated; ``achievement`` is
  the task's achievement, and success is the step on which its counter increases; ``reward="success"`` gives a
  sparse 1.0 on success (0 otherwise), ``reward="crafter"`` passes Crafter's own reward (+1 per first unlock of
  each achievement, +-0.1 per health point gained or lost; the official benchmark protocol). An episode
  *terminates* on success (when ``terminate_on_success``) or death, and is *truncated* after ``max_steps`` env
  steps.

Observation: ``{"pov": uint8 [H, W, 3]}`` (RGB, ``size`` = (H, W), 64x64 by default). Action: ``Discrete(17)``
(crafter's ``data.yaml`` order, :data:`ACTION_NAMES`).

``info`` (at reset and after every step) describes the state shown in the returned observation:

=================  ====================================================================================
``inventory``      dict of the 16 items (health, food, drink, energy, sapling, wood, ..., iron_sword) -> int
``achievements``   dict of the 22 achievement counters -> int (times unlocked in this episode)
``player_pos``     int64 [2], (x, y) on the world grid (a copy: crafter's own is a live array)
``facing``         int64 [2], unit vector (dx, dy) the player faces; ``do``/``place_*`` act on pos + facing
``sleeping``       bool
``daylight``       float in [0, 1] (1 = full day)
``semantic``       uint8 [area_x, area_y], the whole world map indexed [x, y] (material ids 1-12, object ids
                   13-18, see :data:`SEMANTIC_NAMES`); privileged state for scripted players, not an agent input
``world_seed``     int, the episode's world seed (see above)
``success``        bool, True on the step the task achievement was unlocked (always False without a task)
``episode_step``   int, env steps taken in this episode
``dead``           bool, health reached 0 (``discount`` = 0.0 then, else 1.0)
``death_cause``    None, or on the step the player dies what killed it (:func:`death_cause`): ``"lava"``,
                   ``"zombie"``, ``"arrow"`` (a skeleton's), or the necessities at zero when health ran
                   down, e.g. ``"thirst"``, ``"hunger+thirst"`` (food, drink, energy = hunger, thirst, fatigue)
=================  ====================================================================================
"""
from __future__ import annotations

import collections
import types
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import crafter
import crafter.constants
import crafter.engine
import crafter.objects
import gymnasium
import numpy as np
from gymnasium import spaces

#: The 17 actions in crafter's order (index = action id).
ACTION_NAMES: tuple[str, ...] = tuple(crafter.constants.actions)
#: The 22 achievements in crafter's order (columns of the per-frame ``achievements`` array).
ACHIEVEMENTS: tuple[str, ...] = tuple(crafter.constants.achievements)
#: The 16 inventory items in crafter's order (columns of the per-frame ``inventory`` array).
INVENTORY_ITEMS: tuple[str, ...] = tuple(crafter.constants.items)
#: Semantic map ids: index = id (0 is unused). Materials 1-12, then objects 13-18.
SEMANTIC_NAMES: tuple[str, ...] = (
    "unused", "water", "grass", "stone", "path", "sand", "tree", "lava", "coal", "iron", "diamond", "table",
    "furnace", "player", "cow", "zombie", "skeleton", "arrow", "plant",
)
REWARD_MODES = ("success", "crafter")
_MAX_WORLD_SEED = 2**31 - 1


class _OrderedSet:
    """The ``set`` operations crafter's ``World`` uses on a chunk's objects, iterating in insertion order."""

    __slots__ = ("_items",)

    def __init__(self):
        self._items: dict = {}

    def add(self, item) -> None:
        self._items[item] = None

    def remove(self, item) -> None:
        del self._items[item]

    def __iter__(self):
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item) -> bool:
        return item in self._items


def _ordered_world_reset(world, seed=None):
    """``crafter.engine.World.reset`` with insertion-ordered chunk object sets (see the module docstring)."""
    crafter.engine.World.reset(world, seed=seed)
    world._chunks = collections.defaultdict(_OrderedSet)


@dataclass(frozen=True)
class LocalView:
    """What the agent's image shows of the world (:meth:`CrafterEnv.local_view`).

    crafter draws the top ``view[0] x (view[1] - 2)`` tiles of its ``view`` grid (9x7 by default) around the player
    (``engine.LocalView``: world tiles ``pos - grid // 2 + (i, j)``, i.e. x - 4 .. x + 4 by y - 3 .. y + 3 for a
    player at (x, y)); tiles off the map are drawn grey and are not part of the window.

    Attributes:
        bounds: ``(x0, x1, y0, y1)``: the window is world tiles ``[x0, x1) x [y0, y1)`` (clipped to the map).
        materials: uint8 [x1 - x0, y1 - y0], the material id of each tile in the window (ids as in
            ``info["semantic"]``, 1-12 of :data:`SEMANTIC_NAMES`), ``materials[0, 0]`` at world tile (x0, y0).
        textures: ``{(x, y): texture}`` for every object (the player, cows, zombies, skeletons, arrows, plants) on
            a tile of the window: the name of the texture crafter draws it with, e.g. ``"zombie"``, ``"sapling"``
            or ``"plant-ripe"`` (a plant's ripeness shows only in its texture).
    """

    bounds: tuple[int, int, int, int]
    materials: np.ndarray
    textures: dict[tuple[int, int], str]


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return value


class CrafterEnv(gymnasium.Env):
    """Crafter in the gymnasium API, optionally configured as a task (see the module docstring).

    Args:
        size: observation size in pixels, int or (H, W). Crafter renders square-ish views; 64 is the benchmark.
        area: world size in tiles (crafter default 64x64).
        view: local view in tiles (crafter default 9x9, of which 9x7 show the world and 9x2 the inventory).
        max_steps: episode length limit in env steps; reaching it truncates the episode.
        achievement: the task's achievement (one of :data:`ACHIEVEMENTS`), or None for no task.
        reward: ``"success"`` (1.0 on the success step) or ``"crafter"`` (Crafter's own reward).
        initial_inventory: item -> count written on the player after the world is generated (e.g.
            ``{"wood_pickaxe": 1}``); counts must lie in [0, 9] (crafter's item maximum).
        terminate_on_success: end the episode (terminated=True) on the success step.
        render_mode: None or ``"rgb_array"`` (returns the last observation, uint8 [H, W, 3]).

    Raises:
        ValueError: unknown achievement, item, reward mode or render mode; bad sizes or counts.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        size: int | Sequence[int] = 64,
        area: int | Sequence[int] = 64,
        view: int | Sequence[int] = 9,
        max_steps: int = 10000,
        achievement: Optional[str] = None,
        reward: str = "crafter",
        initial_inventory: Optional[Mapping[str, int]] = None,
        terminate_on_success: bool = True,
        render_mode: Optional[str] = None,
    ):
        super().__init__()
        self.size = _pair(size, "size")
        self.area = _pair(area, "area")
        self.view = _pair(view, "view")
        if int(max_steps) < 1:
            raise ValueError(f"max_steps must be >= 1 env step, got {max_steps}")
        self.max_steps = int(max_steps)
        if achievement is not None and achievement not in ACHIEVEMENTS:
            raise ValueError(f"unknown Crafter achievement {achievement!r}; known: {', '.join(ACHIEVEMENTS)}")
        self.achievement = achievement
        if reward not in REWARD_MODES:
            raise ValueError(f"reward must be one of {REWARD_MODES}, got {reward!r}")
        if reward == "success" and achievement is None:
            raise ValueError("reward='success' needs an achievement")
        self.reward_mode = reward
        self.initial_inventory = dict(initial_inventory or {})
        for item, count in self.initial_inventory.items():
            if item not in INVENTORY_ITEMS:
                raise ValueError(f"unknown Crafter item {item!r} in initial_inventory; known: {', '.join(INVENTORY_ITEMS)}")
            limit = crafter.constants.items[item]["max"]
            if not 0 <= int(count) <= limit:
                raise ValueError(f"initial_inventory[{item!r}] = {count} is outside [0, {limit}]")
        self.terminate_on_success = bool(terminate_on_success)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode

        # length=None: crafter never ends an episode by length, we truncate at max_steps ourselves.
        self._env = crafter.Env(area=self.area, view=self.view, size=self.size, reward=True, length=None, seed=0)
        self._env._world.reset = types.MethodType(_ordered_world_reset, self._env._world)
        self.observation_space = spaces.Dict(
            {"pov": spaces.Box(0, 255, (self.size[0], self.size[1], 3), np.uint8)})
        self.action_space = spaces.Discrete(len(ACTION_NAMES))
        self._last_pov: Optional[np.ndarray] = None
        self._world_seed: Optional[int] = None
        self._step_count = 0
        self._start_count = 0
        self._done = True

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        """Start a new episode. ``options={"world_seed": w}`` replays world ``w``; otherwise a world seed is drawn
        from ``np_random`` (seeded by ``seed``). Returns ``({"pov": uint8 [H, W, 3]}, info)``."""
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"world_seed"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; only 'world_seed' is supported")
        if options.get("world_seed") is not None:
            world_seed = int(options["world_seed"])
            if not 0 <= world_seed < _MAX_WORLD_SEED:
                raise ValueError(f"world_seed must lie in [0, {_MAX_WORLD_SEED}), got {world_seed}")
        else:
            world_seed = int(self.np_random.integers(0, _MAX_WORLD_SEED))
        self._world_seed = world_seed
        # Same world as crafter.Env(seed=world_seed).reset(): crafter seeds its world with hash((seed, episode)).
        self._env._seed = world_seed
        self._env._episode = 0
        pov = self._env.reset()
        if self.initial_inventory:
            self._env._player.inventory.update({k: int(v) for k, v in self.initial_inventory.items()})
            # The inventory bar is part of the frame, so draw it again. At env step 0 daylight is ~0.8 > 0.5,
            # so crafter's render draws no night noise and the world RNG is untouched (replays stay exact).
            pov = self._env.render()
        self._last_pov = pov
        self._step_count = 0
        self._done = False
        self._start_count = self._achievement_count()
        return {"pov": pov}, self._info(success=False)

    def step(self, action):
        """One env step. Returns ``({"pov": uint8 [H, W, 3]}, reward, terminated, truncated, info)``.

        Raises:
            RuntimeError: step after the episode ended without a reset.
            ValueError: action outside Discrete(17).
        """
        if self._done:
            raise RuntimeError("CrafterEnv.step() called after the episode ended; call reset() first")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an int in [0, {self.action_space.n}), got {action!r}")
        player = self._env._player
        recover_before = float(player._recover)
        pov, crafter_reward, dead, crafter_info = self._env.step(int(action))
        self._last_pov = pov
        self._step_count += 1
        success = False
        if self.achievement is not None:
            count = self._achievement_count()
            success = count > self._start_count
            self._start_count = count  # success fires once per unlock (only matters without termination)
        if self.reward_mode == "success":
            reward = 1.0 if success else 0.0
        else:
            reward = float(crafter_reward)
        terminated = bool(dead) or (success and self.terminate_on_success)
        truncated = (not terminated) and self._step_count >= self.max_steps
        self._done = terminated or truncated
        info = self._info(success=success, dead=bool(dead), semantic=crafter_info["semantic"])
        info["death_cause"] = death_cause(self._env, recover_before) if dead else None
        return {"pov": pov}, reward, terminated, truncated, info

    def render(self):
        """The last observation (uint8 [H, W, 3]); never renders the world again (see module docstring)."""
        if self.render_mode is None:
            return None
        return None if self._last_pov is None else self._last_pov.copy()

    def close(self):
        self._last_pov = None

    # ------------------------------------------------------------------ helpers
    @property
    def world_seed(self) -> Optional[int]:
        """World seed of the current episode (None before the first reset)."""
        return self._world_seed

    @property
    def crafter_env(self) -> crafter.Env:
        """The wrapped ``crafter.Env`` (read its state; stepping it directly breaks this wrapper's bookkeeping)."""
        return self._env

    def local_view(self) -> LocalView:
        """The part of the world the agent's image shows now: the local view window's materials and the textures
        of the objects in it (:class:`LocalView`). Unlike ``info["semantic"]`` (the whole map), this is what an
        agent may perceive; reading it renders nothing and draws no random numbers.

        Raises:
            RuntimeError: before the first reset.
        """
        if self._env._player is None:
            raise RuntimeError("CrafterEnv.local_view() called before reset()")
        world = self._env._world
        grid = (self.view[0], self.view[1] - 2)
        x, y = (int(v) for v in self._env._player.pos)
        x0, y0 = x - grid[0] // 2, y - grid[1] // 2
        x0, x1 = max(0, x0), min(self.area[0], x0 + grid[0])
        y0, y1 = max(0, y0), min(self.area[1], y0 + grid[1])
        ids = world._obj_map[x0:x1, y0:y1]  # index into world._objects; 0: no object
        textures = {(x0 + int(i), y0 + int(j)): str(world._objects[ids[i, j]].texture)
                    for i, j in zip(*np.nonzero(ids))}
        return LocalView((x0, x1, y0, y1), np.array(world._mat_map[x0:x1, y0:y1], dtype=np.uint8), textures)

    def _achievement_count(self) -> int:
        return int(self._env._player.achievements[self.achievement]) if self.achievement else 0

    def _info(self, success: bool, dead: bool = False, semantic: Optional[np.ndarray] = None) -> dict[str, Any]:
        player = self._env._player
        return {
            "inventory": dict(player.inventory),
            "achievements": dict(player.achievements),
            "player_pos": np.array(player.pos, dtype=np.int64),
            "facing": np.array(player.facing, dtype=np.int64),
            "sleeping": bool(player.sleeping),
            "daylight": float(self._env._world.daylight),
            "semantic": self._env._sem_view() if semantic is None else semantic,
            "world_seed": self._world_seed,
            "success": bool(success),
            "episode_step": self._step_count,
            "dead": dead,
            "discount": 0.0 if dead else 1.0,
            "death_cause": None,
        }


#: Necessity behind each inventory item whose zero runs health down (crafter ``Player._degen_or_regen_health``).
_NECESSITIES = (("food", "hunger"), ("drink", "thirst"), ("energy", "fatigue"))


def death_cause(env: crafter.Env, recover_before: float) -> str:
    """What killed the player of ``env`` on the step just taken (call it only when that step killed it).

    Crafter does not report it; this reads it off the state, in the order crafter applies damage within a step
    (``Player.update`` first, then the other objects; crafter 1.8 ``objects.py``):

    1. ``"lava"``: the player stands on lava (walking onto lava sets health to 0).
    2. ``"zombie"``: a zombie next to the player (L1 distance 1) attacked on this step (its cooldown was just set to
       5; damage 2, or 7 on a sleeping player).
    3. the necessities at zero, joined by ``+`` (``"hunger"``, ``"thirst"``, ``"fatigue"``): health was run down by
       one point because food, drink or energy was empty (the player's ``_recover`` counter passed -15 on this
       step: it was below -14 before and was reset to 0).
    4. ``"arrow"``: otherwise; the only remaining source of damage is a skeleton's arrow (2 points).

    Args:
        env: the ``crafter.Env`` after the fatal step.
        recover_before: the player's ``_recover`` counter before that step.
    Returns:
        One of ``"lava"``, ``"zombie"``, ``"arrow"``, or necessity names joined by ``+``.
    """
    player, world = env._player, env._world
    if world[player.pos][0] == "lava":
        return "lava"
    for obj in world.objects:
        if isinstance(obj, crafter.objects.Zombie) and obj.cooldown == 5 and obj.distance(player) <= 1:
            return "zombie"
    if recover_before < -14 and player._recover == 0:
        empty = [name for item, name in _NECESSITIES if player.inventory[item] <= 0]
        if empty:
            return "+".join(empty)
    return "arrow"
