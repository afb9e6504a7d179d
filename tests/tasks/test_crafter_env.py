"""CrafterEnv and the Crafter tasks of task_specs.yaml: gymnasium API, replayable seeds, task logic."""
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tasks
from tasks.crafter.env import ACHIEVEMENTS, ACTION_NAMES, CrafterEnv

CRAFTER_TASKS = tasks.task_names(sim="crafter")
A = {name: i for i, name in enumerate(ACTION_NAMES)}


def _rollout(env, actions, **reset_kw):
    obs, info = env.reset(**reset_kw)
    povs = [obs["pov"]]
    for a in actions:
        obs, _, terminated, truncated, info = env.step(a)
        povs.append(obs["pov"])
        if terminated or truncated:
            break
    return np.stack(povs), info


def test_all_crafter_tasks_listed():
    assert set(CRAFTER_TASKS) >= {"crafter_wood", "crafter_stone", "crafter_iron", "crafter_stone_pickaxe",
                                  "crafter_iron_pickaxe", "crafter_drink", "crafter_zombie", "crafter_score"}


@pytest.mark.parametrize("name", CRAFTER_TASKS)
def test_task_builds_and_passes_check_env(name):
    env = tasks.make(name)
    check_env(env, skip_render_check=True)
    spec = tasks.get_specs(name)
    assert env.achievement == spec["task_id"]
    assert env.max_steps == spec["terminal_specs"]["max_steps"]
    assert isinstance(spec["prompt"], str) and spec["prompt"]
    obs, info = env.reset(seed=0)
    assert obs["pov"].shape == (64, 64, 3) and obs["pov"].dtype == np.uint8
    for item, count in spec["sim_specs"]["initial_inventory"].items():
        assert info["inventory"][item] == count, (name, item)


def test_start_inventory_is_applied_and_shown():
    plain, _ = CrafterEnv().reset(seed=5)
    env = tasks.make("crafter_iron")
    obs, info = env.reset(seed=5)
    assert info["inventory"]["stone_pickaxe"] == 1
    assert env.crafter_env._player.inventory["stone_pickaxe"] == 1
    # same world, but the inventory bar of the frame shows the pickaxe
    assert not np.array_equal(obs["pov"], plain["pov"])
    assert np.array_equal(obs["pov"][:48], plain["pov"][:48])


def test_seeded_reset_is_deterministic_and_replayable():
    env = CrafterEnv(max_steps=300)
    rng = np.random.default_rng(0)
    actions = [int(a) for a in rng.integers(0, len(ACTION_NAMES), 300)]
    povs, info = _rollout(env, actions, seed=123)
    again, _ = _rollout(CrafterEnv(max_steps=300), actions, seed=123)
    np.testing.assert_array_equal(povs, again)
    # replay from the reported world seed, in a reused env after another episode
    _rollout(env, actions[:50], seed=7)
    replay, _ = _rollout(env, actions, options={"world_seed": info["world_seed"]})
    np.testing.assert_array_equal(povs, replay)
    other, _ = _rollout(env, actions, seed=124)
    assert not np.array_equal(povs[0], other[0])


def test_info_fields_are_copies():
    env = CrafterEnv()
    _, info = env.reset(seed=1)
    pos = info["player_pos"].copy()
    _, _, _, _, info2 = env.step(A["move_left"])
    assert np.array_equal(info["player_pos"], pos)  # not the live crafter array
    assert set(info2["achievements"]) == set(ACHIEVEMENTS)
    assert info2["facing"].tolist() == [-1, 0]
    assert info2["semantic"].shape == (64, 64)


def test_render_returns_last_frame_without_rendering_again():
    env = CrafterEnv(render_mode="rgb_array")
    obs, _ = env.reset(seed=3)
    state = env.crafter_env._world.random.get_state()[1].copy()
    frame = env.render()
    np.testing.assert_array_equal(frame, obs["pov"])
    np.testing.assert_array_equal(env.crafter_env._world.random.get_state()[1], state)


def _face_tree(env, info):
    """Place the player next to a tree, facing it (test set-up through crafter's world)."""
    sem = info["semantic"]
    world, player = env.crafter_env._world, env.crafter_env._player
    for x, y in np.argwhere(sem == 6):
        stand = (x, y + 1)
        if world[stand][0] in ("grass", "sand", "path") and world[stand][1] is None:
            world.move(player, stand)
            player.facing = (0, -1)
            return
    pytest.skip("no tree with a free tile below it")


def test_success_terminates_with_sparse_reward():
    env = tasks.make("crafter_wood")
    obs, info = env.reset(seed=0)
    _face_tree(env, info)
    obs, reward, terminated, truncated, info = env.step(A["do"])
    assert info["success"] and terminated and not truncated
    assert reward == 1.0
    assert info["achievements"]["collect_wood"] == 1
    with pytest.raises(RuntimeError):
        env.step(A["noop"])


def test_max_steps_truncates():
    env = tasks.make("crafter_wood", max_steps=5)
    env.reset(seed=0)
    for t in range(5):
        _, reward, terminated, truncated, info = env.step(A["noop"])
        assert reward == 0.0 and not terminated
    assert truncated and info["episode_step"] == 5


def test_score_task_uses_crafter_reward_and_does_not_stop_on_unlocks():
    env = tasks.make("crafter_score")
    assert env.reward_mode == "crafter" and env.achievement is None and env.max_steps == 10000
    _, info = env.reset(seed=0)
    _face_tree(env, info)
    _, reward, terminated, _, info = env.step(A["do"])
    assert reward == pytest.approx(1.0) and not terminated and not info["success"]


def test_death_terminates():
    env = CrafterEnv(max_steps=100)
    env.reset(seed=0)
    env.crafter_env._player.health = 0
    _, _, terminated, truncated, info = env.step(A["noop"])
    assert terminated and not truncated and info["dead"] and info["discount"] == 0.0


def _lone_player(env, health=1):
    """Reset, remove every creature but the player, set its health; returns (player, world)."""
    env.reset(seed=0)
    world, player = env.crafter_env._world, env.crafter_env._player
    for obj in world.objects:
        if obj is not player:
            world.remove(obj)
    player.health = health
    player._last_health = health
    return player, world


def _free_neighbour(world, player, direction):
    pos = player.pos + np.array(direction)
    world[pos] = "grass"
    assert world[pos][1] is None
    return pos


@pytest.mark.parametrize("cause", ["lava", "zombie", "arrow", "thirst", "hunger+thirst"])
def test_death_cause(cause):
    import crafter.objects
    env = CrafterEnv(max_steps=1000)
    player, world = _lone_player(env)
    action = A["noop"]
    if cause == "lava":
        world[_free_neighbour(world, player, (1, 0))] = "lava"
        action = A["move_right"]
    elif cause == "zombie":
        world.add(crafter.objects.Zombie(world, _free_neighbour(world, player, (1, 0)), player))
    elif cause == "arrow":  # an arrow left of the player, flying right, hits it on this step
        world.add(crafter.objects.Arrow(world, _free_neighbour(world, player, (-1, 0)), np.array((1, 0))))
    else:
        for item in ("drink",) if cause == "thirst" else ("food", "drink"):
            player.inventory[item] = 0
        player._recover = -15  # one more step without drink passes -15: health -1
    # the zombie moves towards the player 90% of the time and may first step aside: allow a few steps
    for _ in range(20):
        _, _, terminated, _, info = env.step(action)
        if terminated:
            break
        assert info["death_cause"] is None
    assert info["dead"] and info["death_cause"] == cause


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown Crafter achievement"):
        CrafterEnv(achievement="collect_gold")
    with pytest.raises(ValueError, match="unknown Crafter item"):
        CrafterEnv(initial_inventory={"gold": 1})
    with pytest.raises(ValueError, match="outside"):
        CrafterEnv(initial_inventory={"wood": 10})
    env = CrafterEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(17)


def test_local_view_is_the_drawn_window():
    """``local_view``: the 9x7 tiles around the player (crafter's ``LocalView``), their materials as in
    ``info["semantic"]`` and the textures of the objects on them; nothing outside; no RNG draws."""
    env = CrafterEnv()
    with pytest.raises(RuntimeError, match="before reset"):
        env.local_view()
    _, info = env.reset(seed=3)
    x, y = (int(v) for v in info["player_pos"])
    view = env.local_view()
    assert view.bounds == (x - 4, x + 5, y - 3, y + 4)
    x0, x1, y0, y1 = view.bounds
    sem = info["semantic"][x0:x1, y0:y1]
    assert view.materials.shape == sem.shape and view.materials.dtype == np.uint8
    bare = sem <= 12  # no object on the tile: the semantic id is the material's
    np.testing.assert_array_equal(view.materials[bare], sem[bare])
    assert view.textures[(x, y)].startswith("player-")
    assert all(x0 <= p[0] < x1 and y0 <= p[1] < y1 for p in view.textures)
    objects_in_window = {tuple(int(v) for v in o.pos) for o in env.crafter_env._world.objects
                         if x0 <= o.pos[0] < x1 and y0 <= o.pos[1] < y1}
    assert set(view.textures) == objects_in_window
    rng_state = env.crafter_env._world.random.get_state()[1].copy()
    env.local_view()
    np.testing.assert_array_equal(env.crafter_env._world.random.get_state()[1], rng_state)


def test_local_view_is_clipped_at_the_map_edge():
    env = CrafterEnv()
    env.reset(seed=0)
    env.crafter_env._player.pos = np.array([1, 62])  # near a corner (read-only use of the view below)
    view = env.local_view()
    assert view.bounds == (0, 6, 59, 64)
    assert view.materials.shape == (6, 5)
