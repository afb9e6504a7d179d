"""How the scripted Crafter player stays alive: :class:`Survival`."""
from __future__ import annotations

from typing import Generator, Iterator, Optional

import crafter.constants
import numpy as np

from tasks.crafter.env import ACHIEVEMENTS
from tasks.crafter.player.masks import _box_sum, _dilate4, _shift
from tasks.crafter.player.rules import (_DAY, _ENERGY_MAX, _FREE, _NIGHT_END, _NIGHT_START,
                                        _STONE_STOCK, _TABLE_WOOD, A, CREATURES, DIGGABLE, DIRS, MOVES, PASSABLE, S,
                                        WALKABLE, _Abort, day_phase)
from tasks.crafter.player_perception import UNKNOWN, window_bounds

#: Env steps a survival sub-goal that ended without any action is not chosen again.
_STALL_WAIT = 25
#: Largest enclosed walkable region around the player that counts as a sealed pocket (tiles): the two-tile
#: shelter, and the few tiles open for a moment while it digs through stone at night (skeletons spawn >= 7 tiles
#: away, so none can appear inside).
_POCKET_MAX = 4
#: At dusk, holding fewer than this many stones, the player fetches stone seen within
#: ``_DUSK_STONE_RADIUS`` tiles (Chebyshev) instead of within 10 (v5; with the trap-free shelter sites, against v4
#: on dev seeds 7000x32 + 5000x16: median 683 vs 654, mean 729 vs 681 env steps; 6000x16: 749 vs 674, 956 vs 865).
_DUSK_STONES, _DUSK_STONE_RADIUS = 3, 20
#: At dusk, holding a stone pickaxe and no iron, the player fetches iron seen within this many tiles (Chebyshev; v8).
_DUSK_IRON_RADIUS = 20
#: At dusk, without a stone pickaxe and short of the wood to make one in the shelter (a table and the pickaxe), the
#: player fetches wood seen within this many tiles (Chebyshev; v8; 10 otherwise, as in v7).
_DUSK_WOOD_RADIUS = 20
#: The tech tree's trunk trips (v8): sub-goals that a drink or meal does not interrupt while drink and food are above
#: _TRIP_RESERVE (the dusk top-ups start at drink or food 7, so a dusk trip to iron ended at the first drink), and that
#: a skeleton in line but not next to the player does not turn back while health is above 6 (iron lies by the
#: tunnels). Measured on 240 dev episodes (seed 7000): the skeleton rule on the trip to iron gave collect_iron 0.396
#: vs 0.367, mean length 834 +- 38 vs 818 +- 37 env steps; adding make_stone_pickaxe (its wood, stone and table
#: fetched without a break) gave make_stone_pickaxe 0.858 vs 0.762, collect_iron 0.412 vs 0.396, mean length
#: 789 +- 32 vs 834 +- 38 (on the 80 held-out episodes: 0.875 vs 0.738, 0.450 vs 0.388, 706 +- 46 vs 737 +- 52).
_TRUNK_TRIPS, _TRIP_RESERVE = ("collect_iron", "make_stone_pickaxe"), 3
#: Materials the night miner digs through (they leave a path tile), and tiles it counts as walls.
_DIG_THROUGH = (S["stone"], S["coal"], S["iron"], S["diamond"])
_SOLID = np.zeros(max(S.values()) + 1, bool)
_SOLID[[S["stone"], S["coal"], S["iron"], S["diamond"], S["tree"], S["table"], S["furnace"]]] = True


class Survival:
    """Mixin of :class:`tasks.crafter.scripted_player.ScriptedPlayer`: the survival needs that pre-empt free
    sub-goals (threats, drink, food, sleep, the night shelter; see the module docstring of
    :mod:`tasks.crafter.scripted_player`), the day-night clock, fleeing, sleeping, the sealed two-tile shelter and
    the walled-in plants grown for ``eat_plant``.
    """

    def _survival_need(self) -> Optional[tuple[str, int]]:
        """:meth:`_urgent_need`, unless that sub-goal just ended without a single action (e.g. the only known
        trees are across water): it then waits :data:`_STALL_WAIT` env steps (see :meth:`_stalled`), so that the
        player does something else instead of standing still re-planning it every step."""
        need = self._urgent_need()
        if need is not None and self._stall_until.get(need[0], -1) > self.step:
            return None
        return need

    def _stalled(self, names) -> None:
        """The sub-goals ``names`` all ended at once without an action: do not choose them for a while."""
        for name in names:
            self._stall_until[name] = self.step + _STALL_WAIT

    def _urgent_need(self) -> Optional[tuple[str, int]]:
        """The most urgent survival sub-goal and its priority (lower pre-empts higher), if any: drink, eat, sleep
        when tired (always in a sealed shelter: a zombie hits a sleeper for 7), hide in a shelter at night. At dusk
        drink and food are topped up (drink to full, food with a cow; v8: holding a stone pickaxe and no iron, the
        player fetches iron seen within :data:`_DUSK_IRON_RADIUS` tiles); at night, out of the shelter, only a critical
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
            # too few stones to wall a shelter: farther to the stone
            r = _DUSK_STONE_RADIUS if self.inv["stone"] < _DUSK_STONES else 10
            stone_near = self._known_near([S["stone"]], r)
            far_stone = self._blocks() < 2 and self._known([S["stone"]]).any()  # out of walls: to the mountains
            if self.inv["wood_pickaxe"] > 0 and (stone_near or far_stone):
                return "collect_stone", 3
            if self._known_near([S["tree"]], 10):
                return "collect_wood", 3
        if (self._is_dusk() and self.inv["stone_pickaxe"] > 0 and self.inv["iron"] == 0
                and self._known_near([S["iron"]], _DUSK_IRON_RADIUS)):
            return "collect_iron", 3  # v8: the day's free time is short; dusk trips go to known iron
        if self._is_dusk() and self.inv["wood"] < self._night_wood():  # wood to craft in tonight's shelter
            if self._known_near([S["tree"]], _DUSK_WOOD_RADIUS if self.inv["stone_pickaxe"] == 0 else 10):
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
        return day_phase(self.step) == "night"

    def _is_dusk(self) -> bool:
        """The hour before night: time to drink and eat up and to look for a shelter site."""
        return day_phase(self.step) == "dusk"

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

    def _water_near_shelter(self) -> bool:
        """Water next to the player or next to a walkable tile next to it (the other tile of a shelter)."""
        x, y = self.pos
        for d in ((0, 0),) + DIRS:
            p = (x + d[0], y + d[1])
            if d != (0, 0) and not (self._inside(p) and PASSABLE[self.memory.terrain[p]]):
                continue
            if any(self._inside((p[0] + e[0], p[1] + e[1])) and self.sem[p[0] + e[0], p[1] + e[1]] == S["water"]
                   for e in DIRS):
                return True
        return False

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
        if need is not None and self.goal_gen is not None and self._can_make_now() and (
                need[1] >= 3 or (self.inv["drink"] > 2 and self.inv["food"] > 2)):
            return  # v8: one step from a new tool (materials held, table in reach): make it first
        if (need is not None and need[0] in ("collect_drink", "eat_cow", "eat_plant")
                and self.goal_name in _TRUNK_TRIPS and self.goal_gen is not None
                and self.inv["drink"] > _TRIP_RESERVE and self.inv["food"] > _TRIP_RESERVE):
            return  # v8: a top-up waits until the trunk trip is over (see _TRUNK_TRIPS)
        if need is not None and need[1] < self.goal_priority:
            if self.goal_gen is not None and self.goal_priority == _FREE and self.goal_name in ACHIEVEMENTS:
                self.resume = self.goal_name
            self._start_goal(*need)

    def _can_make_now(self) -> bool:
        """The current sub-goal is ``make_<tool>`` and one ``make`` action would make it now: its materials are
        held and its stations are within crafter's reach (the 3x3 tiles around the player)."""
        if not self.goal_name.startswith("make_"):
            return False
        info = crafter.constants.make.get(self.goal_name[len("make_"):])
        if info is None or not all(self.inv[k] >= v for k, v in info["uses"].items()):
            return False
        return bool(self._station_mask(list(info["nearby"]), radius=2)[self.pos])

    def _nearest_threat(self) -> Optional[tuple[tuple[int, int], int, bool]]:
        """``(pos, semantic id, fight?)`` of the nearest zombie within ``fight_radius`` (1 when hurt), or of a
        skeleton next to the player (fight) or in line with it within shooting range (5 tiles: arrows fly straight
        along a row or column; flee out of the line; v8: not on a trunk trip at health above 6), or None."""
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
                    if self.goal_name in _TRUNK_TRIPS and health > 6:
                        continue  # on a trunk trip (iron lies by the tunnels): take an arrow (2 health)
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
            ok = yield from self._eat_walled_plant(ripe)
            if not ok:
                raise _Abort
            return
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

    def _eat_walled_plant(self, ripe: list) -> Generator[int, None, bool]:
        """Eat a ripe plant walled in on every side: from the tile two steps out, dig the stone wall between,
        step into the gap (now facing the plant), eat it, and wall the gap up again. True when eaten."""
        if not self._collectable(S["stone"]):
            return False
        for p in ripe:
            for d in DIRS:
                w, o = (p[0] + d[0], p[1] + d[1]), (p[0] + 2 * d[0], p[1] + 2 * d[1])
                if not (self._inside(o) and self.sem[w] == S["stone"] and WALKABLE[self.sem[o]]):
                    continue
                ok = yield from self._go_stand_at(o, max_steps=80)
                if not ok:
                    continue
                back = (-d[0], -d[1])
                quiet, self._quiet = self._quiet, True
                try:
                    if self.facing != back:
                        yield MOVES[back]  # the wall is solid: this only turns the player
                    yield A["do"]  # dig the wall
                    if not WALKABLE[self.sem[w]]:
                        return False
                    yield MOVES[back]  # into the gap, facing the plant
                    before = self.ach["eat_plant"]
                    if self.pos == w and self._faced() == p:
                        yield A["do"]
                    eaten = self.ach["eat_plant"] > before
                    if self.pos == w:
                        yield MOVES[d]  # out again
                finally:
                    self._quiet = quiet
                yield from self._place_wall(w, A["place_stone"])
                return eaten
        return False

    def _plant_walled(self) -> Iterator[int]:
        """Plant a sapling on a grass tile and wall in its open neighbours with stones (needs up to 4), without
        random actions (v7: a random action in place of the planting or a wall lost the plant)."""
        quiet, self._quiet = self._quiet, True
        try:
            yield from self._plant_walled_steps()
        finally:
            self._quiet = quiet

    def _plant_walled_steps(self) -> Iterator[int]:
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
        for i in order[:20]:
            g = (int(xs[i]), int(ys[i]))
            opens = [(g[0] + d[0], g[1] + d[1]) for d in DIRS if self._inside((g[0] + d[0], g[1] + d[1]))
                     and open_[g[0] + d[0], g[1] + d[1]]]
            # the side to plant from: the player faces the plot by stepping onto it from the tile beyond (v7: a
            # plot whose only open side had a solid tile beyond could not be faced once the others were walled)
            beyond = {t: (2 * t[0] - g[0], 2 * t[1] - g[1]) for t in opens}
            stands = [t for t in opens if self._inside(beyond[t])
                      and (WALKABLE[sem[beyond[t]]] or beyond[t] == self.pos)]
            if stands:
                break
        else:
            raise _Abort
        stands.sort(key=lambda t: abs(t[0] - x) + abs(t[1] - y))
        stand = stands[0]
        opens = [stand] + [t for t in opens if t != stand]
        walls = {t for t in self._tiles_around(g) if t != stand}
        self._plant_walls |= walls  # once placed, never dug again on the way to the next one
        try:
            for t in opens[1:]:  # wall in all open sides but the one we plant from
                ok = yield from self._place_wall(t, A["place_stone"])
                if not ok:
                    raise _Abort
            ok = yield from self._face_tile(g)
            if not ok or self.sem[g] != S["grass"]:
                raise _Abort
            yield A["place_plant"]
            if not self._plant_at(g):
                raise _Abort
        except _Abort:
            self._plant_walls -= walls
            raise
        self.plants.add(g)
        self._plant_walls |= set(self._tiles_around(g))
        self._set_leash(g)
        yield from self._place_wall(stand, A["place_stone"])  # step out and close the last side

    def _place_wall(self, t: tuple[int, int], block: Optional[int] = None) -> Generator[int, None, bool]:
        """Face tile ``t`` and place a block on it (``block``, default :meth:`_block_action`), without random
        actions, until the tile is solid (at most 3 tries: a creature may step onto it). True when solid (v6: a
        random action that replaced a placement had left walls open; v7: shared by the shelter's and the plants'
        walls, and a creature standing on the tile after a try is no wall: v6 counted it as placed)."""
        quiet, self._quiet = self._quiet, True
        try:
            for _ in range(3):
                if not WALKABLE[self.sem[t]] and self.sem[t] not in CREATURES:
                    return True
                ok = yield from self._face_tile(t, max_steps=30)
                action = block if block is not None else self._block_action()
                if not ok or action is None or not WALKABLE[self.sem[t]]:
                    return False
                yield action
            return not WALKABLE[self.sem[t]] and self.sem[t] not in CREATURES
        finally:
            self._quiet = quiet

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
        health = self.inv["health"]
        while (self._is_night() or (self._zombie_near() and self.inv["food"] > 1 and self.inv["drink"] > 1)) \
                and self._sealed():
            starving = min(self.inv["food"], self.inv["drink"], self.inv["energy"]) == 0  # hurts by itself
            hurt, health = self.inv["health"] < health and not starving, self.inv["health"]
            if self._water_near_shelter() and self.inv["stone"] > 0 and (
                    hurt or self._visible([S["skeleton"], S["arrow"]]).any()):
                yield from self._wall_water()  # arrows fly over water: close the water side(s)
                continue
            if self.inv["energy"] < _ENERGY_MAX:
                self.goal_name = "wake_up"
                try:
                    yield from self._sleep()
                except _Abort:
                    pass
                self.goal_name = "shelter"
            elif self.night_work:
                yield from self._night_work()
            else:  # ScriptedPlayer(night_work=False): wait for the morning
                yield A["noop"]

    def _wall_water(self) -> Iterator[int]:
        """Sealed in with a skeleton or an arrow in view (or hurt, not starving): place a stone on a water tile
        next to the shelter (arrows fly over water; crafter lets stone be placed on water), stepping into the
        shelter's other tile first where the water is next to that one."""
        pocket = [self.pos] + [(self.pos[0] + d[0], self.pos[1] + d[1]) for d in DIRS
                               if self._inside((self.pos[0] + d[0], self.pos[1] + d[1]))
                               and PASSABLE[self.memory.terrain[self.pos[0] + d[0], self.pos[1] + d[1]]]]
        for i, p in enumerate(pocket):
            for d in DIRS:
                t = (p[0] + d[0], p[1] + d[1])
                if self._inside(t) and self.sem[t] == S["water"]:
                    if i > 0:  # the water is next to the shelter's other tile: step over
                        yield MOVES[(p[0] - self.pos[0], p[1] - self.pos[1])]
                        return
                    if self.facing != d:
                        yield MOVES[d]  # water is not walkable: this only turns the player
                    yield A["place_stone"]
                    return

    def _shelter(self) -> Generator[int, None, bool]:
        """Make a two-tile shelter and get sealed in it. It is a line E -> P0 -> P1 from an entrance E, with P0, P1
        walkable or stone (dug out) and their five other neighbours solid: solid already (stone, water, trees,
        ...) or walled up with stones first. The player walks in to P1, steps back into P0 (now facing E) and
        seals E with a stone. Cheap sites (few stones to place) are preferred; a site that the last wall (a table,
        once out of stones) would seal is skipped unless one of its walls can be removed again (a tree, a placed
        stone, what the held pickaxe digs). Returns True when sealed in."""
        if self._sealed():
            return True
        sem = self.sem
        # tiles never seen count as open: a wall must be known to be solid
        open_ = PASSABLE[sem] | np.isin(sem, CREATURES + (S["player"],)) | ~self.seen
        stone = sem == S["stone"]
        for t in self._plant_walls:  # a plant's walls are not dug out for a shelter
            stone[t] = False
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
        # walls the player can remove later (a tree, or what the held pickaxe digs): a pocket sealed by a table
        # must have one, else the player could never leave it (see the table guard below)
        removable = np.isin(sem, [mid for mid in DIGGABLE if self._collectable(mid)])  # trees always
        stone_wall = self.inv["stone"] > 0 and self.inv["wood_pickaxe"] > 0  # a placed stone can be dug again
        best = None
        for d in DIRS:
            e = (-d[1], d[0])  # perpendicular
            walls = [(3 * d[0], 3 * d[1])] + [(k * d[0] + s_ * e[0], k * d[1] + s_ * e[1])
                                               for k in (1, 2) for s_ in (1, -1)]
            cost = sum(_shift(open_, *w).astype(np.int16) for w in walls)
            gain = _shift(stone, *d).astype(np.int16) + _shift(stone, 2 * d[0], 2 * d[1])
            # sealed by a table (out of stones by then) and no wall removable: a trap, not a shelter
            exit_ = np.zeros(self.area, bool)
            for w in walls:
                exit_ |= _shift(removable, *w)
            if stone_wall:
                exit_ |= cost >= 1
            trap = (cost + 1 > self.inv["stone"] + gain) & ~exit_  # dug-out stone seals it with stone
            cand = (WALKABLE[self.memory.terrain] & ~np.isin(sem, CREATURES) & _shift(inside, *d) & _shift(inside, 2 * d[0], 2 * d[1])
                    & (cost + 1 <= self._blocks() + gain) & (dist <= 30) & ~trap)
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
        ok = yield from self._go_stand_at(site, max_steps=80)
        if not ok:
            return False
        entrance = self.pos
        # the walls, once placed, are not dug through again on the way to the next one
        self._keep = {(entrance[0] + w[0], entrance[1] + w[1]) for w in walls}
        self._quiet = True  # no random actions while walling up (v6): a lost placement left a wall open
        try:
            for w in walls:  # wall up the open sides
                t = (entrance[0] + w[0], entrance[1] + w[1])
                if not self._inside(t) or not (WALKABLE[self.sem[t]] or self.sem[t] in CREATURES):
                    continue
                ok = yield from self._place_wall(t)
                if not ok:
                    return False
            if self.pos != entrance:
                ok = yield from self._go_stand_at(entrance, max_steps=30)
                if not ok:
                    return False
            entrance = self.pos
            p0 = (entrance[0] + d[0], entrance[1] + d[1])
            p1 = (entrance[0] + 2 * d[0], entrance[1] + 2 * d[1])
        finally:
            self._keep = set()
            self._quiet = False
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
                    block = self._block_action()
                    if block == A["place_table"] and not self._can_dig_out(p0, p1):
                        return False  # a table cannot be removed: sealed by one, the player could never leave
                    if block is not None and WALKABLE[faced]:
                        yield block
                    elif faced in (S["zombie"], S["cow"]):
                        yield A["do"]
                    else:
                        return False
                else:
                    return False
            return self._sealed()
        finally:
            self._quiet = False

    def _can_dig_out(self, *pocket: tuple[int, int], but: Optional[tuple[int, int]] = None) -> bool:
        """A wall of the ``pocket`` tiles (other than ``but``) can be removed: a tree (collecting it leaves grass)
        or a material the held pickaxe collects (it leaves a path tile)."""
        for p in pocket:
            for d in DIRS:
                q = (p[0] + d[0], p[1] + d[1])
                if not self._inside(q) or q in pocket or q == but:
                    continue
                if self._collectable(self.sem[q]):  # a tree, or what the held pickaxe digs
                    return True
        return False

    def _sealed(self) -> bool:
        """True if no creature can reach the player: the walkable region around it (remembered terrain, so an
        arrow flying past over water does not count; never-seen tiles count as open) is enclosed and at most
        :data:`_POCKET_MAX` tiles."""
        return self._region() is not None

    def _ripe_plants(self) -> list[tuple[int, int]]:
        out = []
        for p in list(self.plants):
            if not self._plant_at(p):
                self.plants.discard(p)
                self._plant_walls -= set(self._tiles_around(p))
            elif p in self.memory.ripe:
                out.append(p)
        if not self.plants and self.leash is not None:
            self.leash = None
        return out

    def _plant_at(self, p) -> bool:
        """A plant is remembered at ``p``."""
        return bool(self.sem[p] == S["plant"])

    # ------------------------------------------------------------------ night work in stone
    def _region(self, limit: int = _POCKET_MAX) -> Optional[set]:
        """The passable tiles (remembered terrain) the player can walk to, if they are at most ``limit`` and
        enclosed by remembered non-passable tiles; None when the region is larger (open to the world)."""
        terrain = self.memory.terrain
        region, todo = {self.pos}, [self.pos]
        while todo:
            p = todo.pop()
            for d in DIRS:
                q = (p[0] + d[0], p[1] + d[1])
                if q in region or not self._inside(q):
                    continue
                if PASSABLE[terrain[q]] or terrain[q] == UNKNOWN:
                    region.add(q)
                    if len(region) > limit:
                        return None
                    todo.append(q)
        return region

    def _safe_dig(self, t: tuple[int, int], region: set) -> bool:
        """Digging ``t`` keeps the pocket sealed: ``t`` is a material the held tools collect and that leaves a path
        tile (stone, coal, iron, diamond), and each of its neighbours is in ``region`` or a remembered solid tile
        (stone, ores, tree, table, furnace; no water: arrows fly over it, no lava, nothing unseen) with no creature."""
        if not self._inside(t) or t in region or t in self._plant_walls:
            return False
        tid = int(self.sem[t])
        if tid not in _DIG_THROUGH or not self._collectable(tid):
            return False
        for d in DIRS:
            n = (t[0] + d[0], t[1] + d[1])
            if n in region:
                continue
            if not self._inside(n) or not _SOLID[self.sem[n]]:
                return False
        return True

    def _night_wood(self) -> int:
        """Wood worth carrying into the night: a table inside the shelter and the next tool of the tech tree
        (:meth:`_night_craft`)."""
        if self.inv["stone_pickaxe"] == 0:
            return _TABLE_WOOD + 1
        if self.inv["iron_pickaxe"] == 0 and self.inv["iron"] > 0:
            return _TABLE_WOOD + 1
        return 0

    def _night_targets(self) -> list[int]:
        """Ores worth digging towards tonight, most wanted first (iron with a stone pickaxe, coal, diamond)."""
        out = []
        if self.inv["stone_pickaxe"] > 0 and self.inv["iron"] < 2:
            out.append(S["iron"])
        if self.inv["coal"] < 2:
            out.append(S["coal"])
        if self.inv["iron_pickaxe"] > 0:
            out.append(S["diamond"])
        return out

    def _dig_plan(self, region: set, max_len: int = 14) -> Optional[tuple[list, Optional[tuple[int, int]]]]:
        """Breadth-first route of safe tiles (:meth:`_safe_dig`) from the pocket to a tile next to a wanted ore
        (returns ``(route, ore)``), else to a tile next to never-seen land (``(route, None)``: digging reveals it)."""
        targets = self._night_targets()
        ore_mask = np.isin(self.sem, targets) & self.seen if targets else np.zeros(self.area, bool)
        start = list(region)
        prev = {p: None for p in start}
        frontier = list(start)
        explore_goal = None
        for _ in range(max_len):
            nxt = []
            for p in frontier:
                for d in DIRS:
                    q = (p[0] + d[0], p[1] + d[1])
                    if not self._inside(q):
                        continue
                    if ore_mask[q] and self._collectable(self.sem[q]):
                        route = []
                        while p is not None and p not in region:
                            route.append(p)
                            p = prev[p]
                        return route[::-1], q
                    if q in prev or not self._safe_dig(q, region | set(prev)):
                        continue
                    prev[q] = p
                    nxt.append(q)
                    if explore_goal is None and any(self._inside((q[0] + e[0], q[1] + e[1]))
                                                    and not self.seen[q[0] + e[0], q[1] + e[1]] for e in DIRS):
                        explore_goal = q
            frontier = nxt
            if not frontier:
                break
        if explore_goal is None:
            return None
        route, p = [], explore_goal
        while p is not None and p not in region:
            route.append(p)
            p = prev[p]
        return route[::-1], None

    def _night_work(self) -> Iterator[int]:
        """Awake in a sealed pocket at night (:meth:`_night_work_steps`); at least one action (a noop when there
        is nothing safe to do)."""
        acted = False
        for action in self._night_work_steps():
            acted = True
            yield action
        if not acted:
            yield A["noop"]

    def _night_work_steps(self) -> Iterator[int]:
        """Craft what the held materials allow (:meth:`_night_craft`: a table/furnace placed inside the pocket),
        else dig through stone towards a wanted ore (or never-seen stone), only through tiles whose other
        neighbours are solid (:meth:`_safe_dig`), refilling the tunnel behind with the dug stone so that the pocket
        stays closed (zombies spawn only on grass; skeletons only on path tiles >= 7 tiles from the player). Yields
        at most one route's actions (none when there is nothing safe to do)."""
        self._quiet = True
        try:
            crafted = yield from self._night_craft()
            if crafted:
                return
            region = self._region()
            if region is None or self.inv["wood_pickaxe"] == 0:
                yield A["noop"]
                return
            plan = self._dig_plan(region)
            if plan is None:
                yield A["noop"]
                return
            route, ore = plan
            for t in route:
                region = self._region()
                if region is None or not self._safe_dig(t, region) and not (
                        WALKABLE[self.sem[t]] and t in region):
                    return
                d = (t[0] - self.pos[0], t[1] - self.pos[1])
                if d not in MOVES:
                    return
                if not WALKABLE[self.sem[t]]:
                    if self.facing != d:
                        yield MOVES[d]  # blocked: turns the player
                    yield A["do"]
                    if not WALKABLE[self.sem[t]]:
                        return
                prev = self.pos
                yield MOVES[d]
                if self.pos != t:
                    return
                behind = (prev[0] - d[0], prev[1] - d[1])
                if self._inside(behind) and WALKABLE[self.memory.terrain[behind]] and self.inv["stone"] > 0:
                    yield MOVES[(-d[0], -d[1])]  # back into the previous tile, facing the one behind it
                    if self.pos == prev and self._faced() == behind and WALKABLE[self.sem[behind]]:
                        yield A["place_stone"]
                    yield MOVES[d]
            if ore is not None:
                d = (ore[0] - self.pos[0], ore[1] - self.pos[1])
                if d in MOVES:
                    if self.facing != d:
                        yield MOVES[d]
                    yield A["do"]
                    # the ore's tile is a path now: close it again if it opens onto the world
                    if self._region() is None and self._faced() == ore and self.inv["stone"] > 0:
                        yield A["place_stone"]
        finally:
            self._quiet = False

    def _night_craft(self) -> Generator[int, None, bool]:
        """Make the next missing pickaxe/sword the held materials allow, placing the table (and furnace) it needs
        inside the pocket on a tile dug for it. Returns True if it acted."""
        for tool in ("stone_pickaxe", "wood_pickaxe", "iron_pickaxe", "stone_sword", "wood_sword", "iron_sword"):
            if self.inv[tool] > 0:
                continue
            info = crafter.constants.make[tool]
            stations = list(info["nearby"])
            cost = dict(info["uses"])
            for s in stations:
                if not self._station_mask([s], radius=2)[self.pos]:
                    for k, v in crafter.constants.place[s]["uses"].items():
                        cost[k] = cost.get(k, 0) + v
            if not all(self.inv[k] >= v for k, v in cost.items()):
                continue
            for s in stations:
                if not self._station_mask([s], radius=2)[self.pos]:
                    ok = yield from self._place_in_pocket(s)
                    if not ok:
                        return True
            yield A[f"make_{tool}"]
            return True
        return False

    def _place_in_pocket(self, name: str) -> Generator[int, None, bool]:
        """Place station ``name`` on the wall tile of the sealed pocket chosen by :meth:`_station_wall`, made a path
        tile first (a stone or ore dug out; water first turned to stone with a placed stone and dug again): the
        pocket stays sealed but for the step between digging and placing. True when placed."""
        region = self._region()
        if region is None:
            return False
        where = [S[m] for m in crafter.constants.place[name]["where"]]
        chosen = self._station_wall(region)
        if chosen is None:
            return False
        q, d, t, water = chosen
        if q != self.pos:
            yield MOVES[(q[0] - self.pos[0], q[1] - self.pos[1])]  # onto the pocket's other tile
            if self.pos != q:
                return False
        if self.facing != d:
            yield MOVES[d]  # the wall is solid: this only turns the player
        if self._faced() != t:
            return False
        if water:
            yield A["place_stone"]
            if self.sem[t] != S["stone"]:
                return False
        yield A["do"]
        if self.sem[t] not in where:
            return False
        yield A[f"place_{name}"]
        return bool(self.sem[t] == S[name])

    def _station_wall(self, region: set) -> Optional[tuple[tuple[int, int], tuple[int, int], tuple[int, int], bool]]:
        """Where to put a station in the sealed pocket ``region``: ``(q, d, t, water)``, the pocket tile ``q`` to
        stand on (the player's, or the pocket's other tile one move away), the direction ``d`` to face from it, the
        wall tile ``t = q + d`` and whether ``t`` is water (a placed stone first); None when no wall will do.

        A wall qualifies when the held tools can make it a path tile: a stone or ore the held pickaxe digs (never a
        plant's wall), or water with a stone to place on it and a pickaxe to dig that. Safe walls come first: each
        of ``t``'s other neighbours is solid or water, so no creature can step in while ``t`` is open. Else a wall
        with open neighbours, only with no creature within 3 tiles of it and another wall the player can dig
        through to leave later. Ties: a wall next to the player before one beside the other tile, stone before
        water, the faced one (the shelter's seal) first (v8: v7 tried only the walls next to the player and, where
        none was safe, only the faced one, so a pocket facing water, or one whose safe wall was beside the other
        tile, never crafted: 2 of 18 nights with the wood and stone for a stone pickaxe made one, 48 dev episodes)."""
        best = None
        for q in region:
            if abs(q[0] - self.pos[0]) + abs(q[1] - self.pos[1]) > 1 or not (q == self.pos or WALKABLE[self.sem[q]]):
                continue  # the player's tile, or a walkable one next to it (a plant in the pocket is not stood on)
            for d in DIRS:
                t = (q[0] + d[0], q[1] + d[1])
                if not self._inside(t) or t in region or t in self._plant_walls:
                    continue
                tid = int(self.sem[t])
                water = tid == S["water"] and self.inv["stone"] > 0 and self._collectable(S["stone"])
                if not (water or (tid in _DIG_THROUGH and self._collectable(tid))):
                    continue
                outer = [(t[0] + e[0], t[1] + e[1]) for e in DIRS]
                safe = all(self._inside(n) and (_SOLID[self.sem[n]] or self.sem[n] == S["water"])
                           for n in outer if n != q and n not in region)
                if not safe:
                    x, y = t
                    near = self.memory.creatures[max(0, x - 3): x + 4, max(0, y - 3): y + 4]
                    if near.any() or not self._can_dig_out(*region, but=t):
                        continue
                rank = (not safe, q != self.pos, water, t != self._faced(), t)
                if best is None or rank < best[0]:
                    best = (rank, q, d, t, water)
        return None if best is None else best[1:]
