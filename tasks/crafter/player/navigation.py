"""How the scripted Crafter player gets around: :class:`Navigation`."""
from __future__ import annotations

import heapq
from typing import Callable, Generator, Iterator, Optional

import numpy as np

from tasks.crafter.player.masks import _dilate4, _dilate8
from tasks.crafter.player.rules import (_FREE, _INF, _TERRAIN_HINT, A, CREATURES, DIGGABLE, DIRS, MOVES, S,
                                        WALKABLE)


class Navigation:
    """Mixin of :class:`tasks.crafter.scripted_player.ScriptedPlayer`: paths over remembered tiles only (never-seen
    tiles are impassable; Dijkstra over per-tile costs in env steps), walking to and facing tiles, frontier
    exploration and patrols. The walking methods are generators of actions that return whether they arrived.
    Reads the state of :class:`~tasks.crafter.player.state.PlayerState`.
    """

    #: Shadowing (DAgger labels): when the next tile of the current path is no longer adjacent (someone else's
    #: action was executed, e.g. the low level's in ``bench/teacher_agreement.py``), plan a new path in the same env
    #: step instead of answering with a ``noop`` and re-planning on the next one. The ``noop`` is harmless while the
    #: player's own actions run (after one of its random actions), but as a label on a learner's states it says
    #: "stand still" after every deviation: with the player shadowing a low level from dusk, 19.5% of its labels
    #: were these noops (``bench/results/README.md``, "DAgger on the first night"). Off (False) for the play data, whose episodes it would change (``PLAYER_VERSION`` 8).
    replan_off_path: bool = False
    #: The destination tile (x, y) of the path behind the last action, when that action was a step of
    #: :meth:`_go_stand` (``None`` otherwise; reset by :meth:`ScriptedPlayer.act` each step). Read only by benches.
    nav_target: Optional[tuple[int, int]] = None

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
            ok = yield from self._go_stand_at(a, max_steps=max_steps)
            if not ok:
                continue
            yield MOVES[d]
            if self._faced() == t:
                return True
        return False

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

    def _cost_map(self) -> list[float]:
        """Per-tile cost in env steps of entering it: 1 walkable, 3 to collect-then-enter a diggable material
        (tree; stone/coal/iron/diamond with the right pickaxe), 4 for a creature's tile, inf otherwise (and for the
        tiles in ``self._keep``: walls being built)."""
        sem = self.sem
        cost = np.full(sem.shape, _INF)
        cost[WALKABLE[sem]] = 1.0
        for mid in DIGGABLE:
            if self._collectable(mid):
                cost[sem == mid] = 3.0
        cost[np.isin(sem, CREATURES)] = 4.0
        for sx, sy in zip(*np.nonzero(sem == S["skeleton"])):  # stay out of a skeleton's line of fire
            cost[max(0, sx - 5): sx + 6, sy] += 3.0
            cost[sx, max(0, sy - 5): sy + 6] += 3.0
        for t in self._keep:  # walls being built (a shelter's): never dug through
            if self._inside(t):
                cost[t] = _INF
        for t in self._plant_walls:  # a plant's walls: never dug (an open side may be walked on)
            if self._inside(t) and not WALKABLE[sem[t]]:
                cost[t] = _INF
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

    def _go_stand_at(self, t: tuple[int, int], max_steps: int) -> Generator[int, None, bool]:
        """Walk onto tile ``t`` (:meth:`_go_stand` with the one-tile goal); True on arrival, False if
        unreachable/timeout."""
        goal = np.zeros(self.area, bool)
        goal[t] = True
        return (yield from self._go_stand(lambda: goal, max_steps=max_steps))

    def _go_stand(self, goal_fn: Callable[[], np.ndarray], max_steps: int, replan: int = 12,
                  pick_random: bool = False, stop: Optional[Callable[[], bool]] = None) -> Generator[int, None, bool]:
        """Walk to any tile of ``goal_fn()``; True on arrival (or when ``stop()``), False if unreachable/timeout."""
        path: Optional[list[int]] = None
        since = 0
        last_pos, stuck = self.pos, 0
        replanned = False
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
                if self.replan_off_path and not replanned:
                    replanned = True  # at most one fresh plan per action: an unsteppable plan still gives a noop
                    continue
                yield A["noop"]
                replanned = False
                continue
            replanned = False
            self.nav_target = (path[-1] // h, path[-1] % h)  # where this walk ends (read by bench/night_targets.py)
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
