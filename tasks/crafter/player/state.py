"""What the scripted Crafter player perceives and remembers: :class:`PlayerState`."""
from __future__ import annotations

from typing import Any

import numpy as np

from tasks.crafter.player.rules import _FREE, DIGGABLE, DIRS, S
from tasks.crafter.player_perception import daylight_at, visible_window, window_bounds


class PlayerState:
    """Mixin of :class:`tasks.crafter.scripted_player.ScriptedPlayer`: reads each observation into the player's
    state and answers questions about it.

    After :meth:`_observe`: ``pos`` (x, y), ``facing`` (dx, dy), ``sem`` (uint8 [W, H], remembered terrain with the
    creatures in view), ``seen`` (bool [W, H]), ``inv`` and ``ach`` (inventory and achievement counters),
    ``sleeping``, ``daylight``; ``memory`` (:class:`~tasks.crafter.player_perception.MemoryMap`) and the cow and
    skeleton sightings are updated. Uses the host's ``_env``, ``step``, ``area``, ``leash`` and ``goal_priority``.
    """

    def _observe(self, info: dict[str, Any]) -> None:
        """Perceive ``info`` as the agent's image shows it (:mod:`tasks.crafter.player_perception`): the 9x7
        window into memory, position/facing/sleeping, the status bar; daylight from the player's own step count."""
        self._prev_daylight = self.daylight
        self.pos = (int(info["player_pos"][0]), int(info["player_pos"][1]))
        self.memory.update(visible_window(info, self._env.local_view()), self.step)
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

    def _tiles_around(self, p) -> list[tuple[int, int]]:
        """The four tiles next to ``p`` that lie inside the world (a tile at the edge has fewer: a tile outside
        would index the maps out of bounds, or, with -1, silently wrap to the far edge)."""
        return [t for t in ((p[0] + d[0], p[1] + d[1]) for d in DIRS) if self._inside(t)]

    def _visible(self, ids) -> np.ndarray:
        """Mask of tiles in the current local view whose semantic id is in ``ids``."""
        mask = np.zeros(self.area, bool)
        x0, x1, y0, y1 = window_bounds(self.pos, self.area)
        mask[x0:x1, y0:y1] = np.isin(self.sem[x0:x1, y0:y1], ids)
        return mask

    def _known(self, ids) -> np.ndarray:
        """Seen tiles whose semantic id is in ``ids`` (within the leash for freely chosen sub-goals)."""
        mask = np.isin(self.sem, ids) & self.seen
        for t in self._plant_walls:  # a growing plant's walls are not stone to collect or dig into
            mask[t] = False
        if self.leash is not None and self.goal_priority == _FREE:
            mask &= self.leash
        return mask

    def _known_near(self, ids, radius: int) -> bool:
        """A tile of :meth:`_known` ``ids`` lies within ``radius`` tiles (Chebyshev) of the player."""
        x, y = self.pos
        return bool(self._known(ids)[max(0, x - radius): x + radius + 1, max(0, y - radius): y + radius + 1].any())

    def _collectable(self, tid) -> bool:
        """The held tools collect semantic id ``tid`` (a tree, or stone/coal/iron/diamond with the pickaxe crafter's
        ``collect`` rules require, :data:`~tasks.crafter.player.rules.DIGGABLE`); False for any other id."""
        need = DIGGABLE.get(int(tid))
        return need is not None and all(self.inv[k] >= v for k, v in need.items())

    def _faced(self) -> tuple[int, int]:
        return self.pos[0] + self.facing[0], self.pos[1] + self.facing[1]

    def _faced_id(self) -> int:
        p = self._faced()
        return int(self.sem[p]) if self._inside(p) else 0
