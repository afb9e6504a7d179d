"""What the scripted Crafter player does next: :class:`Planner`."""
from __future__ import annotations

from typing import Callable, Iterator, Optional

import crafter.constants
import numpy as np

from tasks.crafter.env import ACHIEVEMENTS
from tasks.crafter.player.rules import (_FREE, _STONE_STOCK, A, DIRS, ITEM_SOURCE, MOVES, S, TOOLS, WALKABLE,
                                        _Abort)

#: The tech tree as a human plays it: (achievement, is this step done?) in order. v8: iron before coal (iron is
#: rarer, and coal only matters for the iron pickaxe; 240 dev episodes, seed 7000, with v8's dusk iron trips and their
#: guard against top-ups, together with the dusk iron radius raised from 15 to 20 tiles: collect_iron 0.30 vs 0.23,
#: mean episode length 763 +- 35 vs 798 +- 33 env steps; bench/results/player_variants/summary.json ``session_16``).
_PROGRESSION = (
    ("make_wood_pickaxe", lambda p: p.inv["wood_pickaxe"] > 0),
    ("make_wood_sword", lambda p: p.inv["wood_sword"] > 0),
    ("make_stone_pickaxe", lambda p: p.inv["stone_pickaxe"] > 0),
    ("collect_iron", lambda p: p.inv["iron"] > 0 or p.inv["iron_pickaxe"] > 0),
    ("collect_coal", lambda p: p.inv["coal"] > 0 or p.inv["iron_pickaxe"] > 0),
    ("eat_plant", lambda p: not p.style.gardener or p.ach["eat_plant"] > 0 or bool(p.plants)),
    ("make_stone_sword", lambda p: p.inv["stone_sword"] > 0),
    ("make_iron_pickaxe", lambda p: p.inv["iron_pickaxe"] > 0),
    ("collect_diamond|make_iron_sword", lambda p: p.ach["collect_diamond"] > 0 and p.inv["iron_sword"] > 0),
    ("eat_plant", lambda p: p.ach["eat_plant"] > 0 or bool(p.plants)),
)

#: Sub-goals whose leaf still has work after the achievement counts: eating a walled plant digs a gap in its wall,
#: which the leaf walls up again after the meal (v7; cutting it short left the plant open to cows and zombies).
_FINISH_LEAF = frozenset({"eat_plant"})


class Planner:
    """Mixin of :class:`tasks.crafter.scripted_player.ScriptedPlayer`: chooses the sub-goal (survival first, else
    the tech tree with probability ``style.p_progress``, else a weighted random achievement), runs it as a
    generator of actions with a step budget, pursuing its prerequisites (items, stations) first, and the leaf
    sub-goals that collect, place, craft and hunt.
    """

    # ------------------------------------------------------------------ sub-goal choice
    def _choose_goal(self) -> tuple[str, int]:
        """The next sub-goal and its priority (:meth:`_pick_goal`); a freely chosen one that just ended without
        a single action (stalled: its target unreachable from what the player knows) is replaced by ``explore``."""
        name, priority = self._pick_goal()
        if priority == _FREE and self._stall_until.get(name, -1) > self.step:
            return "explore", _FREE
        return name, priority

    def _pick_goal(self) -> tuple[str, int]:
        need = self._survival_need()
        if need is not None:
            return need
        if self.resume is not None:
            name, self.resume = self.resume, None
            if self.rng.random() < 0.7:
                return name, _FREE
        if self._ripe_plants() and self.rng.random() < 0.8:
            return "eat_plant", _FREE
        if self._early_plant_due:  # ScriptedPlayer(early_plant): one try, the episode's first free sub-goal
            self._early_plant_due = False
            if self.ach["place_plant"] == 0:
                return "place_plant", _FREE
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
        if name == "place_plant" and self.early_plant_episode and self.ach["place_plant"] == 0:
            yield from self._plant_in_open()
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
                    if self.ach[name] - start >= amount and name not in _FINISH_LEAF:
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

    def _plant_in_open(self) -> Iterator[int]:
        """The first plant of an episode of ``ScriptedPlayer(early_plant)``: collect a sapling if none is held,
        then plant it on the nearest grass, unwalled and untended (not added to :attr:`plants`: no leash, no
        shelter kept near it, not waited for). Gives up quietly (no exception) when either step fails."""
        try:
            if self.inv["sapling"] == 0:
                yield from self._collect_sapling()
            yield from self._place_plant(keep=False)
        except _Abort:
            return

    def _place_plant(self, keep: bool = True) -> Iterator[int]:
        """Plant a held sapling on grass (walking to face some); ``keep``: remember it as the player's plant
        (:attr:`plants`, tended and eaten when ripe). Raises :class:`_Abort` after 40 tries."""
        before = self.ach["place_plant"]
        for _ in range(40):
            if self._faced_id() == S["grass"]:
                yield A["place_plant"]
                if self.ach["place_plant"] > before:
                    if keep:
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
            if self.goal_priority == 0 and not self._creature_within(creature, 2):
                return  # the threat is gone, or keeps its distance: no chase (zombies may be about)
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
            ok = yield from self._go_face(lambda: self._known([creature]), replan=3,
                                          max_steps=4 if self.goal_priority == 0 else 40)  # threats: no chase
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

    def _creature_within(self, creature: int, radius: int) -> bool:
        """A ``creature`` (semantic id) in view within ``radius`` tiles (Manhattan) of the player."""
        xs, ys = np.nonzero(self.memory.creatures == creature)
        return bool(len(xs) and (np.abs(xs - self.pos[0]) + np.abs(ys - self.pos[1])).min() <= radius)

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
