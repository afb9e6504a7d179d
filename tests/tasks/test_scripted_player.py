"""The scripted Crafter player: decides only from what the agent's image shows plus its memory; reproducible,
reward-free play that progresses."""
import copy

import numpy as np
import pytest

from tasks.crafter.env import ACHIEVEMENTS, CrafterEnv
from tasks.crafter.player_perception import (S, VIEW_HALF, MemoryMap, daylight_at, visible_window,
                                             window_bounds)
from tasks.crafter.player.masks import _box_sum, _dilate8, _shift
from tasks.crafter.scripted_player import SUBGOALS, PlayerStyle, ScriptedPlayer


def _play(seed, max_steps, style=None):
    env = CrafterEnv(max_steps=max_steps)
    player = ScriptedPlayer(seed=seed, style=style)
    obs, info = env.reset(seed=seed)
    player.reset(env, info)
    actions, subgoals, sealed_when_sleeping = [], [], []
    while True:
        action = player.act(info)
        assert isinstance(action, int) and 0 <= action < 17
        if action == 6 and not info["sleeping"]:
            sealed_when_sleeping.append(player._sealed())
        actions.append(action)
        subgoals.append(player.subgoal)
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return actions, subgoals, info, sealed_when_sleeping


def test_play_is_reproducible_and_makes_progress():
    actions, subgoals, info, _ = _play(seed=1, max_steps=250)
    again, _, _, _ = _play(seed=1, max_steps=250)
    assert actions == again
    assert set(subgoals) <= set(SUBGOALS)
    unlocked = {a for a in ACHIEVEMENTS if info["achievements"][a] > 0}
    # the tech tree's first steps within 250 env steps, finding trees by exploring
    assert {"collect_wood", "place_table", "make_wood_pickaxe"} <= unlocked, unlocked
    assert len(set(subgoals)) >= 4


@pytest.mark.parametrize("seed", [3, 4])  # worlds where it lives through the first night (it loses ~1 in 5 nights)
def test_no_noise_style_falls_asleep_only_sealed_in(seed):
    style = PlayerStyle(epsilon=0.0)
    actions, subgoals, info, sealed = _play(seed=seed, max_steps=400, style=style)
    assert info["episode_step"] >= 200  # does not die at once
    assert all(a != 6 or g in ("wake_up", "sleeping", "shelter") for a, g in zip(actions, subgoals))
    assert sealed and all(sealed)  # it sleeps, and a sleeper is hit for 7 by a zombie: only ever walled in


@pytest.mark.parametrize("seed", [1, 3])  # worlds whose first shelter needs walls placed on open tiles
def test_walls_are_built_without_random_actions(seed):
    """v6: a random action that replaced a wall placement left the shelter open, so walling up is quiet."""
    env = CrafterEnv(max_steps=300)
    player = ScriptedPlayer(seed=seed, style=PlayerStyle(epsilon=0.3))
    walls = []  # quiet? whenever the player, building a shelter, turns to a tile to place a wall on it
    face_tile, shelter = player._face_tile, player._shelter
    building = [False]

    def recording_face_tile(t, max_steps=60):
        if building[0]:  # only the shelter's walls (a walled-in plant is another sub-goal's)
            walls.append(player._quiet)
        return (yield from face_tile(t, max_steps=max_steps))

    def recording_shelter():
        building[0] = True
        try:
            return (yield from shelter())
        finally:
            building[0] = False

    player._face_tile, player._shelter = recording_face_tile, recording_shelter
    obs, info = env.reset(seed=seed)
    player.reset(env, info)
    while True:
        obs, reward, terminated, truncated, info = env.step(player.act(info))
        if terminated or truncated:
            break
    assert walls and all(walls)


def test_styles_differ_between_episodes():
    rng = np.random.default_rng(0)
    styles = [PlayerStyle.sample(rng) for _ in range(5)]
    assert len({s.epsilon for s in styles}) == 5
    assert all(0.0 < s.epsilon < 0.2 for s in styles)
    assert "full_map" not in PlayerStyle().__dict__


def test_mask_helpers():
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = True
    assert _shift(mask, 1, 0)[1, 2] and not _shift(mask, 1, 0)[2, 2]
    assert _dilate8(mask).sum() == 9 and _dilate8(mask)[1, 1]
    mask[0, 4] = True
    box = _box_sum(mask, 1)
    assert box.shape == mask.shape and box[1, 3] == 2 and box[2, 2] == 1 and box[4, 0] == 0 and box.sum() == 9 + 4


def test_window_is_the_rendered_local_view():
    """The 9x7 window of :func:`window_bounds` is what crafter draws: a tile changed inside it changes the image, one
    just outside it does not."""
    env = CrafterEnv()
    _, info = env.reset(seed=3)
    world, cenv = env.crafter_env._world, env.crafter_env
    x, y = (int(v) for v in info["player_pos"])
    assert window_bounds((x, y), (64, 64)) == (x - 4, x + 5, y - 3, y + 4)
    base = cenv.render()

    def changed(dx, dy):
        pos = (x + dx, y + dy)
        old = world[pos][0]
        world[pos] = "lava" if old != "lava" else "water"
        out = not np.array_equal(cenv.render(), base)
        world[pos] = old
        return out

    for dx, dy in [(-4, -3), (4, 3), (4, -3), (-4, 3), (0, 3), (0, -3)]:
        assert changed(dx, dy), (dx, dy)
    for dx, dy in [(5, 0), (-5, 0), (0, 4), (0, -4)]:
        assert not changed(dx, dy), (dx, dy)
    assert VIEW_HALF == (4, 3)


def test_daylight_clock_matches_crafter():
    env = CrafterEnv()
    _, info = env.reset(seed=0)
    for t in range(1, 60):
        _, _, terminated, truncated, info = env.step(0)
        assert abs(daylight_at(t) - info["daylight"]) < 1e-9
        if terminated or truncated:
            break
    assert t > 10
    assert daylight_at(210) < 0.01 < 0.99 < daylight_at(60)  # darkest night / noon of the 300-step cycle


def test_window_shows_ripe_plants_from_the_local_view():
    """Ripeness is read off the env's local view (the plant's texture), only for plants inside the window."""
    import crafter.objects

    env = CrafterEnv()
    _, info = env.reset(seed=3)
    x, y = (int(v) for v in info["player_pos"])
    world = env.crafter_env._world
    grass = [(x + dx, y + dy) for dx in range(-4, 5) for dy in range(-3, 4)
             if world[(x + dx, y + dy)] == ("grass", None)]
    ripe_at, young_at = grass[0], grass[1]
    for pos, grown in ((ripe_at, 400), (young_at, 0)):
        plant = crafter.objects.Plant(world, pos)
        plant.grown = grown
        world.add(plant)
    info = dict(info, semantic=env.crafter_env._sem_view())
    window = visible_window(info, env.local_view())
    x0, y0 = window.origin
    assert window.sem[ripe_at[0] - x0, ripe_at[1] - y0] == S["plant"]
    assert window.ripe[ripe_at[0] - x0, ripe_at[1] - y0] and window.ripe.sum() == 1
    assert not visible_window(info).ripe.any()  # without the view no plant is taken as ripe


def test_memory_keeps_materials_forgets_creatures():
    memory = MemoryMap((10, 10))
    ripe = np.zeros((3, 3), bool)
    sem = np.full((3, 3), S["grass"], np.uint8)
    sem[1, 1] = S["zombie"]
    sem[0, 0] = S["tree"]
    memory.update(type("W", (), {"sem": sem, "origin": (2, 2), "ripe": ripe})())
    assert memory.terrain[3, 3] == S["grass"] and memory.creatures[3, 3] == S["zombie"]
    assert memory.terrain[2, 2] == S["tree"] and memory.known.sum() == 9
    memory.update(type("W", (), {"sem": np.full((2, 2), S["sand"], np.uint8), "origin": (7, 7),
                                 "ripe": np.zeros((2, 2), bool)})())
    assert memory.creatures.sum() == 0  # the zombie left the view: forgotten
    assert memory.terrain[3, 3] == S["grass"] and memory.known.sum() == 13
    # an arrow over remembered water: still water (arrows fly over water); over an unseen tile: still unknown
    water = np.full((1, 2), S["water"], np.uint8)
    memory.update(type("W", (), {"sem": water, "origin": (0, 0), "ripe": np.zeros((1, 2), bool)})())
    arrow = np.full((1, 3), S["arrow"], np.uint8)
    memory.update(type("W", (), {"sem": arrow, "origin": (0, 0), "ripe": np.zeros((1, 3), bool)})())
    assert list(memory.terrain[0, :3]) == [S["water"], S["water"], 0]
    assert memory.creatures[0, 2] == S["arrow"]


def _unseen_tiles_changed(env, player, info, rng):
    """Rewrite every world tile the player has never had in view, nor has in the view it is about to act on
    (materials only, where no object stands) to a random material; returns how many tiles were rewritten."""
    world = env.crafter_env._world
    unseen = ~player.memory.ever_seen
    x0, x1, y0, y1 = window_bounds(info["player_pos"], unseen.shape)
    unseen[x0:x1, y0:y1] = False
    names = ["water", "tree", "stone", "iron", "diamond", "lava", "coal", "grass", "sand", "table"]
    changed = 0
    for x, y in zip(*np.nonzero(unseen)):
        if world[(int(x), int(y))][1] is None:
            world[(int(x), int(y))] = names[int(rng.integers(len(names)))]
            changed += 1
    return changed


def _start(seed, max_steps=400):
    env = CrafterEnv(max_steps=max_steps)
    player = ScriptedPlayer(seed=seed)
    _, info = env.reset(seed=seed)
    player.reset(env, info)
    return env, player, info


@pytest.mark.parametrize("seed", [5, 12])
def test_tiles_never_in_view_do_not_change_the_next_action(seed):
    """Issue 18: the player reads nothing the agent cannot see. A reference episode is played; then, for several
    steps T, the same episode is replayed to T (same world seed and player seed: identical so far), every world tile
    the player has never had in view is rewritten to random materials, and its action at T must equal the
    reference's (same RNG state: the player's RNG also matches afterwards)."""
    env, player, info = _start(seed)
    reference = []
    for t in range(240):
        reference.append((player.act(info), player.subgoal, player.rng.bit_generator.state))
        _, _, terminated, truncated, info = env.step(reference[-1][0])
        if terminated or truncated:
            break
    checkpoints = sorted({len(reference) // 4, len(reference) // 2, 3 * len(reference) // 4})
    assert len(checkpoints) == 3 and checkpoints[0] >= 20
    rng = np.random.default_rng(seed)
    for T in checkpoints:
        env, player, info = _start(seed)
        for t in range(T):
            _, _, _, _, info = env.step(player.act(info))
        changed = _unseen_tiles_changed(env, player, info, rng)
        assert changed > 500  # most of the 64x64 map is still unseen
        info2 = dict(info, semantic=env.crafter_env._sem_view())
        assert (info2["semantic"] != info["semantic"]).sum() > 100
        action = player.act(info2)
        assert (action, player.subgoal, player.rng.bit_generator.state) == reference[T], T


def test_memory_holds_only_tiles_that_were_in_view():
    env = CrafterEnv(max_steps=300)
    player = ScriptedPlayer(seed=4)
    _, info = env.reset(seed=4)
    player.reset(env, info)
    in_view = np.zeros((64, 64), bool)
    for _ in range(300):
        x0, x1, y0, y1 = window_bounds(info["player_pos"], (64, 64))
        in_view[x0:x1, y0:y1] = True
        window = visible_window(info)
        sem_now = info["semantic"][x0:x1, y0:y1]
        action = player.act(info)
        # after observing, the current window is remembered as shown (creatures aside)
        static = ~np.isin(sem_now, (S["cow"], S["zombie"], S["skeleton"], S["arrow"], S["player"]))
        np.testing.assert_array_equal(player.memory.terrain[x0:x1, y0:y1][static], sem_now[static])
        assert window.sem.shape == (x1 - x0, y1 - y0)
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    assert player.memory.known.any()
    assert not (player.memory.known & ~in_view).any()
    assert not (player.memory.ever_seen & ~in_view).any()
    assert in_view.sum() < 64 * 64  # the test is not vacuous: some of the map was never in view


def test_a_stalled_subgoal_gives_way():
    """A sub-goal that ended without a single action is not chosen again for a while: a free one is replaced by
    ``explore``, a survival need gives way (the player does not stand still re-planning it every step)."""
    env = CrafterEnv(max_steps=50)
    player = ScriptedPlayer(seed=0)
    _, info = env.reset(seed=0)
    player.reset(env, info)
    player._pick_goal = lambda: ("make_wood_pickaxe", 9)
    assert player._choose_goal() == ("make_wood_pickaxe", 9)
    player._stalled(["make_wood_pickaxe"])
    assert player._choose_goal() == ("explore", 9)
    player.step += 100
    assert player._choose_goal() == ("make_wood_pickaxe", 9)
    player._urgent_need = lambda: ("collect_wood", 3)
    assert player._survival_need() == ("collect_wood", 3)
    player._stalled(["collect_wood"])
    assert player._survival_need() is None


def _pocket_player(inventory):
    """A player whose memory is a stone block with a two-tile pocket at (10, 10)-(11, 10), the player at (10, 10)."""
    env = CrafterEnv()
    _, info = env.reset(seed=0)
    player = ScriptedPlayer(seed=0)
    player.reset(env, info)
    player.memory.terrain[:] = S["stone"]
    player.memory.creatures[:] = 0
    player.memory.terrain[11, 10] = S["path"]
    player.memory.terrain[10, 10] = S["path"]
    player.pos = (10, 10)
    player.inv = dict(info["inventory"], **inventory)
    player.sem = player.memory.semantic(player.pos)
    player.seen = player.memory.known
    return player


def test_pocket_is_sealed_and_night_digging_keeps_it_closed():
    player = _pocket_player({"wood_pickaxe": 1})
    assert player._sealed() and player._region() == {(10, 10), (11, 10)}
    region = player._region()
    assert player._safe_dig((10, 9), region)  # stone all around: digging it keeps the pocket closed
    player.memory.terrain[10, 7] = S["grass"]
    player.sem = player.memory.semantic(player.pos)
    assert player._safe_dig((10, 9), region) and not player._safe_dig((10, 8), region)  # (10, 8) borders grass
    player.memory.terrain[9, 10] = S["grass"]  # a wall opens onto grassland: the pocket is open
    player.memory.terrain[8:10, 9:12] = S["grass"]
    player.sem = player.memory.semantic(player.pos)
    assert not player._sealed()
    assert not _pocket_player({})._safe_dig((10, 9), region)  # no pickaxe: stone cannot be dug


def test_night_dig_plan_heads_for_a_wanted_ore():
    player = _pocket_player({"wood_pickaxe": 1, "stone_pickaxe": 1})
    player.memory.terrain[14, 10] = S["iron"]
    player.sem = player.memory.semantic(player.pos)
    route, ore = player._dig_plan(player._region())
    assert ore == (14, 10) and route == [(12, 10), (13, 10)]
    assert player._can_dig_out((10, 10), (11, 10))  # stone walls and a wood pickaxe: the player can leave
    player.inv["wood_pickaxe"] = player.inv["stone_pickaxe"] = 0
    assert not player._can_dig_out((10, 10), (11, 10))  # walls it cannot remove: never seal with a table


def _grassland_player(inventory):
    """A player at (20, 20) whose memory is open grassland, all of it seen (no creature)."""
    player = _pocket_player(inventory)
    player.memory.terrain[:] = S["grass"]
    player.pos = (20, 20)
    player.sem = player.memory.semantic(player.pos)
    return player


def test_no_shelter_that_a_table_would_seal_for_good():
    """Walls from wood only (no stone, no removable wall): no site is chosen, since a pocket sealed by a table
    could never be left; next to a tree (collecting it leaves grass) the player sets off to build one."""
    shelter = _grassland_player({"wood": 12, "wood_pickaxe": 1})._shelter()
    with pytest.raises(StopIteration) as stop:
        next(shelter)
    assert stop.value.value is False
    player = _grassland_player({"wood": 12, "wood_pickaxe": 1})
    player.memory.terrain[23, 20] = S["tree"]
    player.sem = player.memory.semantic(player.pos)
    assert isinstance(next(player._shelter()), int)
    player = _grassland_player({"wood": 12, "wood_pickaxe": 1, "stone": 1})  # a placed stone can be dug again
    assert isinstance(next(player._shelter()), int)
    player = _grassland_player({"wood": 12, "stone": 1})  # ... but not without a pickaxe
    with pytest.raises(StopIteration):
        next(player._shelter())


def test_at_dusk_short_of_stones_the_player_fetches_farther_stone():
    """At dusk with fewer than three stones (walls from wood for two tables) and a wood pickaxe, stone seen 15 tiles
    away is fetched; 25 tiles away it is not."""
    for far, need in ((15, "collect_stone"), (25, None)):
        player = _grassland_player({"wood": 4, "wood_pickaxe": 1, "food": 9, "drink": 9, "energy": 9})
        player.memory.terrain[20 + far, 20] = S["stone"]
        player.sem = player.memory.semantic(player.pos)
        player.step = 80
        assert player._is_dusk()
        assert (player._urgent_need() or (None,))[0] == need


def _plots_player(seed):
    """Grassland player at (20, 20) holding one stone, with two plots walled by stone on three sides: (21, 20), whose
    open side is the player's tile with stone beyond it, and (20, 23), open towards the player over grass."""
    player = _grassland_player({"stone": 1, "sapling": 1, "wood_pickaxe": 1})
    player.rng = np.random.default_rng(seed)
    for t in ((22, 20), (21, 19), (21, 21), (19, 20), (19, 23), (21, 23), (20, 24)):
        player.memory.terrain[t] = S["stone"]
    player.sem = player.memory.semantic(player.pos)
    return player


@pytest.mark.parametrize("seed", range(6))
def test_a_plant_is_set_where_the_player_can_face_its_plot(seed):
    """v7: a walkable tile is faced only by stepping towards it from the tile beyond, so the plot's open side must
    have a walkable tile beyond it (the nearer plot (21, 20) has stone there: v6 often chose it and then could not
    face it once walled); its walls are guarded from then on: not stone to collect, never dug on the way."""
    player = _plots_player(seed)
    assert isinstance(next(player._plant_walled()), int)
    assert player._plant_walls == {(19, 23), (21, 23), (20, 24)}
    assert not player._known([S["stone"]])[19, 23] and player._known([S["stone"]])[19, 20]
    # a stone whose open neighbours all belong to the pocket is safe to dig, unless it walls in a plant
    pocket_around = {t: {(t[0] + dx, t[1] + dy) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))}
                     for t in ((19, 23), (19, 20))}
    assert player._safe_dig((19, 20), pocket_around[(19, 20)])
    assert not player._safe_dig((19, 23), pocket_around[(19, 23)])


def test_a_plot_at_the_edge_of_the_world_has_walls_only_inside_it():
    """A plot on the world's last row has three neighbours: its walls are those (v8 recorded a fourth tile outside
    the world, and a later shelter search indexed the maps with it: IndexError at row 64, or a silent wrap at -1)."""
    player = _grassland_player({"stone": 1, "sapling": 1, "wood_pickaxe": 1})
    player.rng = np.random.default_rng(0)
    last = player.area[1] - 1
    for t in ((0, last), (2, last)):  # (1, last) is walled on both sides already: the cheapest plot
        player.memory.terrain[t] = S["stone"]
    player.pos = (1, last - 2)
    player.sem = player.memory.semantic(player.pos)
    assert isinstance(next(player._plant_walled()), int)
    assert player._plant_walls == {(0, last), (2, last)}
    assert sorted(player._tiles_around((0, 0))) == [(0, 1), (1, 0)]


def test_a_ripe_plant_walled_in_on_every_side_is_eaten_and_walled_up_again():
    """v7 (``_eat_walled_plant``): a hungry player with a pickaxe digs one wall of its ripe plant, eats the plant from
    the gap and places the stone back; the plant lives on (it regrows)."""
    import crafter.objects

    env = CrafterEnv(max_steps=200)
    _, info = env.reset(seed=3)
    world, body = env.crafter_env._world, env.crafter_env._player
    x, y = (int(v) for v in info["player_pos"])
    for dx in range(-6, 7):
        for dy in range(-5, 6):
            world[(x + dx, y + dy)] = "grass"
    for obj in list(world.objects):
        if obj is not body and abs(obj.pos[0] - x) + abs(obj.pos[1] - y) <= 14:
            world.remove(obj)
    plant_at = (x + 3, y)
    walls = [(plant_at[0] + dx, plant_at[1] + dy) for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1))]
    plant = crafter.objects.Plant(world, np.array(plant_at))
    plant.grown = 400  # ripe
    world.add(plant)
    for w in walls:
        world[w] = "stone"
    body.inventory.update(food=1, drink=9, energy=9, wood_pickaxe=1)
    _, _, _, _, info = env.step(0)  # noop: the info now shows the changed world
    player = ScriptedPlayer(seed=0, style=PlayerStyle(epsilon=0.0))
    player.reset(env, info)
    player.plants, player._plant_walls = {plant_at}, set(walls)  # as if it had planted it
    assert player._ripe_plants() == [plant_at]  # seen ripe in the window
    for _ in range(60):
        _, _, _, _, info = env.step(player.act(info))
        if info["achievements"]["eat_plant"] and player.subgoal != "eat_plant":
            break
    assert info["achievements"]["eat_plant"] == 1 and info["inventory"]["food"] >= 5
    assert plant in world.objects and all(world[w][0] == "stone" for w in walls)


def test_a_station_goes_on_a_pocket_wall_the_player_can_open():
    """v8 (``_station_wall``): a table for the night's crafting goes on a wall whose other neighbours are solid, also
    one beside the pocket's other tile (v7 looked only next to the player); a water wall is turned to stone first
    (a stone held), and a pocket whose walls the held tools cannot open gets no station."""
    player = _pocket_player({"wood_pickaxe": 1, "wood": 3, "stone": 1})
    for t in ((10, 8), (10, 12), (8, 10), (11, 12), (11, 8)):  # grass beyond every wall but (12, 10)
        player.memory.terrain[t] = S["grass"]
    player.sem = player.memory.semantic(player.pos)
    region = player._region()
    assert region == {(10, 10), (11, 10)}
    assert player._station_wall(region) == ((11, 10), (1, 0), (12, 10), False)
    player.memory.creatures[13, 12] = S["zombie"]  # beside the only safe wall: still safe (solid all round)
    assert player._station_wall(region) == ((11, 10), (1, 0), (12, 10), False)

    player = _pocket_player({"wood_pickaxe": 1, "wood": 3, "stone": 1})
    for t in ((9, 10), (10, 11), (11, 9), (11, 11), (12, 10)):  # iron: a wood pickaxe cannot open it
        player.memory.terrain[t] = S["iron"]
    for t in ((10, 9), (10, 8), (9, 9)):  # a water wall with water and iron beyond it
        player.memory.terrain[t] = S["water"]
    player.sem = player.memory.semantic(player.pos)
    region = player._region()
    assert region == {(10, 10), (11, 10)}
    assert player._station_wall(region) == ((10, 10), (0, -1), (10, 9), True)
    player.inv["stone"] = 0  # no stone to place on the water
    assert player._station_wall(region) is None


def _dusk_player(inventory):
    """A grassland player at dusk (env step 80), fed, watered and rested unless ``inventory`` says otherwise."""
    player = _grassland_player(dict({"food": 9, "drink": 9, "energy": 9}, **inventory))
    player.step = 80
    assert player._is_dusk()
    return player


def test_a_dusk_trip_to_iron_is_not_cut_short_by_a_top_up():
    """v8: at dusk with a stone pickaxe and no iron, iron seen 10 tiles away is fetched (30 away: not); a drink
    need does not interrupt the trip while drink is above 3, and does at 3."""
    player = _dusk_player({"wood_pickaxe": 1, "stone_pickaxe": 1})
    player.memory.terrain[50, 20] = S["iron"]
    player.sem = player.memory.semantic(player.pos)
    assert player._urgent_need() is None  # 30 tiles away
    player.memory.terrain[30, 20] = S["iron"]
    player.sem = player.memory.semantic(player.pos)
    assert player._urgent_need() == ("collect_iron", 3)
    player._start_goal("collect_iron", 3)
    player.inv["drink"] = 5  # a dusk top-up is due (drink <= 7)
    assert player._urgent_need() == ("collect_drink", 1)
    player._maybe_preempt()
    assert player.goal_name == "collect_iron"
    player.inv["drink"] = 3
    player._maybe_preempt()
    assert player.goal_name == "collect_drink"


def test_a_tool_one_action_away_is_made_before_a_top_up():
    """v8: ``make_stone_pickaxe`` with its wood and stone held and a table in reach is not interrupted by a dusk
    drink (drink above 2); without the table in reach it is (at drink 3, where the trunk-trip guard no longer holds)."""
    for table, kept in ((True, True), (False, False)):
        player = _dusk_player({"wood_pickaxe": 1, "wood": 1, "stone": 1, "drink": 3})
        if table:
            player.memory.terrain[21, 20] = S["table"]
            player.sem = player.memory.semantic(player.pos)
        player._start_goal("make_stone_pickaxe")
        assert player._can_make_now() == table
        player._maybe_preempt()
        assert (player.goal_name == "make_stone_pickaxe") == kept


def test_a_skeleton_in_line_does_not_turn_back_a_trip_to_iron():
    """v8: a skeleton in line 4 tiles away is fled from (arrows fly straight), but not on the way to iron while
    health is above 6; next to the player it is always answered."""
    player = _dusk_player({"wood_pickaxe": 1, "stone_pickaxe": 1, "wood_sword": 1})
    player.memory.creatures[24, 20] = S["skeleton"]
    player.sem = player.memory.semantic(player.pos)
    assert player._nearest_threat() == ((24, 20), S["skeleton"], False)  # flee
    player.goal_name = "collect_iron"
    assert player._nearest_threat() is None
    player.inv["health"] = 6
    assert player._nearest_threat() == ((24, 20), S["skeleton"], False)
    player.inv["health"] = 9
    player.memory.creatures[24, 20] = 0
    player.memory.creatures[21, 20] = S["skeleton"]
    player.sem = player.memory.semantic(player.pos)
    assert player._nearest_threat() == ((21, 20), S["skeleton"], True)  # next to it: fight


def test_making_the_stone_pickaxe_is_a_trunk_trip():
    """v8: a ``make_stone_pickaxe`` sub-goal (fetching its wood, stone or table) is not cut short by a dusk drink while
    drink is above 3; a free sub-goal off the trunk is."""
    for goal, kept in (("make_stone_pickaxe", True), ("place_plant", False)):
        player = _dusk_player({"wood_pickaxe": 1, "drink": 5})
        player._start_goal(goal)
        player._maybe_preempt()
        assert (player.goal_name == goal) == kept


@pytest.mark.parametrize("replan", [False, True])
def test_a_step_off_the_path_is_answered_by_a_fresh_path_when_shadowing(replan):
    """Knocked off its path (another policy's action ran), the player answers with a noop and re-plans on the next
    step, as in the play data; with ``replan_off_path`` (shadowing, DAgger labels) it re-plans in the same step and
    answers with a move along the new path."""
    from tasks.crafter.player.rules import A, MOVES

    player = _grassland_player({})
    player.replan_off_path = replan
    walk = player._go_stand_at((30, 20), 50)
    assert next(walk) == MOVES[(1, 0)]  # east along the row
    assert player.nav_target == (30, 20)  # the step names where the walk ends (bench/night_targets.py)
    player.pos = (20, 22)  # the executed action took it two rows down instead
    player.sem = player.memory.semantic(player.pos)
    second = next(walk)
    if replan:
        assert second in (MOVES[(1, 0)], MOVES[(0, -1)])  # a step of a shortest path from (20, 22) to (30, 20)
    else:
        assert second == A["noop"]
        assert next(walk) in (MOVES[(1, 0)], MOVES[(0, -1)])  # the re-plan comes one step late


@pytest.mark.parametrize("seed", [0, 3])
def test_without_night_work_the_player_only_waits_sleeps_or_drinks_in_its_shelter(seed):
    """ScriptedPlayer(night_work=False): sealed in at night, no `do` but drinking from the water beside it, and
    no crafting; the same world with night work (player v8) digs or crafts in its pocket."""
    from tasks.crafter.env import ACTION_NAMES

    def night_actions(night_work):
        env = CrafterEnv(max_steps=10 ** 6)
        _, info = env.reset(seed=seed)
        player = ScriptedPlayer(seed=seed, night_work=night_work)
        player.reset(env, info)
        names = []
        for _ in range(330):  # the first night ends at env step 320
            action = player.act(info)
            if player._is_night() and player._sealed():
                name = ACTION_NAMES[action]
                names.append("drink" if name == "do" and player._faced_id() == S["water"] else name)
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        return names

    work = [a for a in night_actions(True) if a == "do" or a.startswith(("make_", "place_table"))]
    quiet = night_actions(False)
    assert work  # player v8 digs or crafts in this world's first night
    assert quiet.count("sleep") > 50 and quiet.count("noop") > 50
    assert not [a for a in quiet if a == "do" or a.startswith(("make_", "place_table", "place_furnace"))]


@pytest.mark.parametrize("seed", [0, 5])
def test_early_plant_is_the_first_free_subgoal_and_the_plant_is_not_tended(seed):
    """ScriptedPlayer(early_plant=1): a sapling is collected and planted in the open within the first env steps,
    under the sub-goal ``place_plant``, and the plant is not the player's (no leash, not in ``plants``); player v8
    (early_plant False) has not planted by then."""
    from tasks.crafter.env import ACTION_NAMES

    def first_steps(early_plant, steps=60):
        env = CrafterEnv(max_steps=10 ** 6)
        _, info = env.reset(seed=seed)
        player = ScriptedPlayer(seed=seed, early_plant=early_plant)
        player.reset(env, info)
        subgoals, planted_at = [], None
        for t in range(steps):
            action = player.act(info)
            subgoals.append(player.subgoal)
            _, _, terminated, truncated, info = env.step(action)
            if planted_at is None and info["achievements"]["place_plant"] > 0:
                planted_at = t
                assert ACTION_NAMES[action] == "place_plant"
            assert not (terminated or truncated)
        return player, subgoals, planted_at, info

    player, subgoals, planted_at, info = first_steps(1.0)
    assert planted_at is not None and info["achievements"]["collect_sapling"] > 0
    assert set(subgoals[:planted_at + 1]) <= {"place_plant", "defeat_zombie", "flee"}  # nothing else came first
    assert not player.plants and player.leash is None  # untended: nothing else the player does changes
    assert "place_plant" not in subgoals[planted_at + 1:]  # one plant per episode
    v8, subgoals_v8, planted_v8, _ = first_steps(0.0)
    assert planted_v8 is None and "place_plant" not in subgoals_v8


def test_early_plant_share_is_drawn_per_episode():
    """A share strictly between 0 and 1 is drawn per episode from the player's RNG; 0 and 1 draw nothing, so the
    player's later choices are player v8's until the plant; a share outside [0, 1] is refused."""
    env = CrafterEnv(max_steps=100)
    drawn = []
    for seed in range(12):
        _, info = env.reset(seed=seed)
        player = ScriptedPlayer(seed=seed, early_plant=0.5)
        player.reset(env, info)
        drawn.append(player.early_plant_episode)
        v8, always = ScriptedPlayer(seed=seed), ScriptedPlayer(seed=seed, early_plant=1.0)
        v8.reset(env, info)
        always.reset(env, info)
        assert not v8.early_plant_episode and always.early_plant_episode
        assert v8.rng.random() == always.rng.random()  # the same RNG stream after reset
    assert 0 < sum(drawn) < len(drawn)
    with pytest.raises(ValueError, match="early_plant"):
        ScriptedPlayer(seed=0, early_plant=1.5)
