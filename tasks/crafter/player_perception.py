"""What the scripted Crafter player may perceive: the agent's 9x7 tile window, its status bar, and its own memory.

The agent's 64x64 image (crafter 1.8 ``Env.render``) is a 9x9 tile grid: the top 9x7 tiles are the world around the
player (``engine.LocalView`` with ``grid = [view[0], view[1] - 2]`` and ``offset = grid // 2 = (4, 3)``, so world
tiles ``x - 4 .. x + 4`` by ``y - 3 .. y + 3`` around the player at ``(x, y)``; tiles off the map are drawn grey), the
bottom 9x2 the inventory and status numbers. The image shows each tile's material and the creatures on it (their
textures), a plant's ripeness (texture ``plant`` vs ``plant-ripe``), the direction the player faces, and, by its
darkness, the time of day.

:func:`visible_window` cuts exactly that window out of ``info["semantic"]`` (the whole map, which the player must not
read elsewhere), with the plants' ripeness from the env's :meth:`~tasks.crafter.env.CrafterEnv.local_view`, and
:class:`MemoryMap` keeps what has been seen:

* ``terrain``: uint8 [W, H] material id per tile as last seen (``UNKNOWN`` = 0 for tiles never in view). Creatures
  are not terrain: a tile seen with a creature on it keeps its last seen material, or, never seen bare, the
  material that creature walks on (cow and zombie: grass, skeleton: path, the player: grass), also where the
  remembered material is one no walker stands on (it has changed: dug out); an arrow flies over water and lava too,
  so a tile never seen without one stays unknown.
* ``creatures``: uint8 [W, H], the creatures (cow, zombie, skeleton, arrow) in the *current* window only; a creature
  that left the view is forgotten (it moves).
* ``ripe``: set of (x, y) of plants last seen ripe.

Time of day: the player counts its own env steps since the episode began; :func:`daylight_at` is the darkness cue
the image shows (crafter's ``Env._update_time``), a function of that count.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from tasks.crafter.env import SEMANTIC_NAMES, LocalView

S = {name: i for i, name in enumerate(SEMANTIC_NAMES)}
#: Half extent (x, y) of the world window the image shows: 9 wide x 7 tall, centred on the player.
VIEW_HALF = (4, 3)
UNKNOWN = 0
#: Moving objects: shown only while in view.
CREATURE_IDS = (S["cow"], S["zombie"], S["skeleton"], S["arrow"])
#: Material assumed under a creature on a tile never seen bare (what it spawns/walks on).
_WALKABLE_IDS = (S["grass"], S["sand"], S["path"])
_UNDER = {S["cow"]: S["grass"], S["zombie"]: S["grass"], S["skeleton"]: S["path"], S["arrow"]: UNKNOWN,
          S["player"]: S["grass"]}
# per-id lookup tables (bool [len(SEMANTIC_NAMES)]) of the two sets above, the player counted as moving; read every
# env step by MemoryMap.update (indexing is several times faster than np.isin on a 9x7 window)
_IS_MOVING = np.zeros(len(SEMANTIC_NAMES), bool)
_IS_MOVING[list(CREATURE_IDS) + [S["player"]]] = True
_IS_WALKABLE = np.zeros(len(SEMANTIC_NAMES), bool)
_IS_WALKABLE[list(_WALKABLE_IDS)] = True


def window_bounds(pos, area) -> tuple[int, int, int, int]:
    """``(x0, x1, y0, y1)``: the world tiles ``[x0, x1) x [y0, y1)`` shown in the image of a player at ``pos``
    (clipped to the ``area`` of the map; crafter draws off-map tiles grey)."""
    x, y = int(pos[0]), int(pos[1])
    return (max(0, x - VIEW_HALF[0]), min(area[0], x + VIEW_HALF[0] + 1),
            max(0, y - VIEW_HALF[1]), min(area[1], y + VIEW_HALF[1] + 1))


def daylight_at(step: int) -> float:
    """Daylight in [0, 1] after ``step`` env steps of an episode (crafter 1.8 ``Env._update_time``): the image's
    darkness, read off the player's own step count."""
    progress = (step / 300) % 1 + 0.3
    return float(1 - np.abs(np.cos(np.pi * progress)) ** 3)


@dataclass
class Window:
    """One observation's world window. ``sem``: uint8 [x1 - x0, y1 - y0] semantic ids of the tiles in view;
    ``origin``: (x0, y0) world tile of ``sem[0, 0]``; ``ripe``: bool [same shape], a ripe plant is drawn there."""

    sem: np.ndarray
    origin: tuple[int, int]
    ripe: np.ndarray


def visible_window(info: dict[str, Any], view: Optional[LocalView] = None) -> Window:
    """The tiles the image of ``info``'s state shows (see the module docstring).

    Args:
        info: a :class:`tasks.crafter.env.CrafterEnv` info (``semantic`` uint8 [W, H], ``player_pos``).
        view: the env's :meth:`~tasks.crafter.env.CrafterEnv.local_view` of the same state, read only at the
            plants inside the window, for their texture (ripe or not); None: no plant is taken as ripe.
    Returns:
        :class:`Window`.
    """
    sem = info["semantic"]
    x0, x1, y0, y1 = window_bounds(info["player_pos"], sem.shape)
    crop = np.array(sem[x0:x1, y0:y1], dtype=np.uint8)
    ripe = np.zeros(crop.shape, bool)
    if view is not None:
        for i, j in zip(*np.nonzero(crop == S["plant"])):
            ripe[i, j] = view.textures.get((x0 + int(i), y0 + int(j))) == "plant-ripe"
    return Window(crop, (x0, y0), ripe)


class MemoryMap:
    """The player's memory of the map, built only from :class:`Window` observations (module docstring).

    Args:
        area: (W, H) map size in tiles (the map's extent is known; its content is not).
    """

    def __init__(self, area: tuple[int, int]):
        self.area = (int(area[0]), int(area[1]))
        self.terrain = np.zeros(self.area, np.uint8)
        self.creatures = np.zeros(self.area, np.uint8)
        self.ever_seen = np.zeros(self.area, bool)  # tiles that were inside some window
        self.seen_at = np.full(self.area, -1, np.int64)  # the ``step`` of update() at which each was last in view
        self.ripe: set[tuple[int, int]] = set()
        self._window: Optional[tuple[int, int, int, int]] = None

    def update(self, window: Window, step: int = 0) -> None:
        """Write ``window`` into the memory: materials into ``terrain``, creatures (only these) into
        ``creatures``, plant ripeness into ``ripe``; ``step`` (the observer's own count) into ``seen_at``."""
        x0, y0 = window.origin
        w, h = window.sem.shape
        x1, y1 = x0 + w, y0 + h
        if self._window is not None:  # forget the creatures of the previous window
            a0, a1, b0, b1 = self._window
            self.creatures[a0:a1, b0:b1] = 0
        self._window = (x0, x1, y0, y1)
        crop = window.sem
        moving = _IS_MOVING[crop]
        old = self.terrain[x0:x1, y0:y1]
        under = old.copy()
        # a tile never seen bare, or remembered as a material no walker stands on (it changed, e.g. dug out)
        fresh = moving & ((old == UNKNOWN) | ((crop != S["arrow"]) & ~_IS_WALKABLE[old]))
        for cid, mat in _UNDER.items():
            under[fresh & (crop == cid)] = mat
        self.terrain[x0:x1, y0:y1] = np.where(moving, under, crop)
        self.creatures[x0:x1, y0:y1] = np.where(moving & (crop != S["player"]), crop, 0)
        self.ever_seen[x0:x1, y0:y1] = True
        self.seen_at[x0:x1, y0:y1] = step
        if self.ripe:
            self.ripe = {p for p in self.ripe if not (x0 <= p[0] < x1 and y0 <= p[1] < y1)}
        for i, j in zip(*np.nonzero((crop == S["plant"]) & window.ripe)):
            self.ripe.add((x0 + int(i), y0 + int(j)))

    @property
    def known(self) -> np.ndarray:
        """bool [W, H]: tiles seen at least once."""
        return self.terrain != UNKNOWN

    def semantic(self, player_pos) -> np.ndarray:
        """uint8 [W, H]: remembered terrain with the creatures in view and the player drawn in (0 = unknown)."""
        sem = self.terrain.copy()
        mask = self.creatures != 0
        sem[mask] = self.creatures[mask]
        sem[int(player_pos[0]), int(player_pos[1])] = S["player"]
        return sem

    def in_view(self, pos) -> bool:
        """Whether world tile ``pos`` is inside the current window."""
        if self._window is None:
            return False
        x0, x1, y0, y1 = self._window
        return x0 <= pos[0] < x1 and y0 <= pos[1] < y1
