"""The play-data generator: a tiny dataset from the real script, its layout, replay from actions, resume."""
import json
import os

import numpy as np
import pytest

from steve1.data.EpisodeStorage import EpisodeStorage, list_valid_episodes
from steve1.utils.cli import UsageError
from tasks.crafter import generate_play_data as gpd
from tasks.crafter.env import ACHIEVEMENTS, INVENTORY_ITEMS, CrafterEnv


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("play") / "dataset_crafter"
    summary = gpd.main(["--out_dir", str(out), "--num_episodes", "3", "--max_episode_len", "60", "--workers", "2",
                        "--seed", "7"])
    return out, summary


def test_layout_and_summary(dataset):
    out, summary = dataset
    episodes = list_valid_episodes(out, for_training=False)
    assert [os.path.basename(p) for p, _ in episodes] == [f"crafter_s7_{i:06d}" for i in range(3)]
    assert summary["episodes"] == 3 and summary["frames"] == sum(n for _, n in episodes)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["frames"] == summary["frames"]
    assert set(on_disk["achievement_success_rate"]) == set(ACHIEVEMENTS)
    assert on_disk["this_run"]["episodes"] == 3 and on_disk["this_run"]["env_steps_per_s"] > 0
    ep = EpisodeStorage(episodes[0][0])
    assert ep.frame_format == "npz" and not ep.has_embeds()
    length = ep.get_len()
    infos = ep.load_infos()
    assert infos["inventory"].shape == (length, len(INVENTORY_ITEMS)) and infos["inventory"].dtype == np.uint8
    assert infos["achievements"].shape == (length, len(ACHIEVEMENTS))
    assert infos["player_pos"].shape == (length, 2) and infos["subgoal"].shape == (length,)
    meta = ep.load_metadata()
    assert meta["sim"] == "crafter" and meta["length"] == length and meta["end"] in ("death", "max_steps")
    assert (meta["death_cause"] is None) == (meta["end"] == "max_steps")  # what killed the player, when it died
    assert meta["subgoal_names"][int(infos["subgoal"][0])]
    assert infos["inventory"][0, INVENTORY_ITEMS.index("health")] == 9  # row 0 = the state after reset


def test_episode_replays_from_world_seed_and_actions(dataset):
    out, _ = dataset
    ep = EpisodeStorage(out / "crafter_s7_000001")
    meta, frames, actions, infos = ep.load_metadata(), ep.load_frame_array(), ep.load_actions(), ep.load_infos()
    env = CrafterEnv(max_steps=meta["max_episode_len"])
    obs, info = env.reset(options={"world_seed": meta["world_seed"]})
    np.testing.assert_array_equal(obs["pov"], frames[0])
    for t, action in enumerate(actions[:-1]):
        obs, _, _, _, info = env.step(action)
        np.testing.assert_array_equal(obs["pov"], frames[t + 1])
        np.testing.assert_array_equal(info["player_pos"], infos["player_pos"][t + 1])
    _, _, _, _, info = env.step(actions[-1])
    assert info["achievements"] == meta["final_achievements"]


def test_rerun_skips_finished_episodes_and_extends(dataset):
    out, _ = dataset
    before = {p: os.path.getmtime(os.path.join(p, "len.txt")) for p, _ in list_valid_episodes(out, for_training=False)}
    (out / ".crafter_s7_000003.tmp-1-x").mkdir()  # left by a killed run
    summary = gpd.main(["--out_dir", str(out), "--num_episodes", "4", "--max_episode_len", "60", "--workers", "1",
                        "--seed", "7"])
    assert summary["this_run"]["episodes"] == 1 and summary["episodes"] == 4
    after = list_valid_episodes(out, for_training=False)
    assert all(os.path.getmtime(os.path.join(p, "len.txt")) == t for p, t in before.items())
    assert not [n for n in os.listdir(out) if ".tmp-" in n]
    # same seeds per index whatever the worker count
    assert gpd.episode_seeds(7, 3) == gpd.episode_seeds(7, 3) != gpd.episode_seeds(7, 2)
    assert len(after) == 4


def test_settings_mismatch_is_refused(dataset):
    out, _ = dataset
    with pytest.raises(SystemExit, match="generation.json"):
        gpd.main(["--out_dir", str(out), "--num_episodes", "3", "--max_episode_len", "99", "--seed", "7"])


def test_night_work_off_is_pinned_and_recorded(tmp_path):
    out = tmp_path / "d"
    gpd.main(["--out_dir", str(out), "--num_episodes", "1", "--max_episode_len", "30", "--workers", "1",
              "--no-night_work"])
    assert json.loads((out / "generation.json").read_text())["seed0"]["night_work"] is False
    assert EpisodeStorage(out / "crafter_s0_000000").load_metadata()["player_night_work"] is False
    with pytest.raises(SystemExit, match="generation.json"):  # resuming with the player's night work is refused
        gpd.main(["--out_dir", str(out), "--num_episodes", "2", "--max_episode_len", "30", "--workers", "1"])


def test_early_plant_is_pinned_and_recorded(tmp_path):
    out = tmp_path / "d"
    gpd.main(["--out_dir", str(out), "--num_episodes", "1", "--max_episode_len", "30", "--workers", "1",
              "--early_plant", "1"])
    assert json.loads((out / "generation.json").read_text())["seed0"]["early_plant"] == 1.0
    ep = EpisodeStorage(out / "crafter_s0_000000")
    assert ep.load_metadata()["player_early_plant"] is True
    assert ep.load_metadata()["final_achievements"]["place_plant"] == 1  # planted within its first 30 env steps
    with pytest.raises(SystemExit, match="generation.json"):  # resuming with player v8's start is refused
        gpd.main(["--out_dir", str(out), "--num_episodes", "2", "--max_episode_len", "30", "--workers", "1"])


def test_num_frames_mode(tmp_path):
    summary = gpd.main(["--out_dir", str(tmp_path / "d"), "--num_frames", "70", "--max_episode_len", "40",
                        "--workers", "1"])
    assert summary["frames"] >= 70 and summary["episodes"] == 2


def test_crafter_score():
    from tasks.crafter.score import score_from_rates

    assert score_from_rates([0.0] * 22) == pytest.approx(0.0)
    assert score_from_rates([100.0] * 22) == pytest.approx(100.0)


def test_random_actions_are_flagged_per_frame(dataset):
    out, _ = dataset
    infos = EpisodeStorage(out / "crafter_s7_000000").load_infos()
    flags = infos["random_action"]
    assert flags.dtype == bool and flags.shape == infos["subgoal"].shape


def test_nav_target_is_where_each_walk_ends(dataset):
    """``nav_target`` [L, 2]: (-1, -1) off a walk; on a walk the action is a move (or ``do`` through a tile in the
    way, or ``noop`` instead of a step into lava) and the target is never the tile the player stands on."""
    from tasks.crafter.env import ACTION_NAMES

    out, _ = dataset
    walk_actions = [ACTION_NAMES.index(n) for n in ("move_left", "move_right", "move_up", "move_down", "do", "noop")]
    walked = moved = 0
    for name in ("crafter_s7_000000", "crafter_s7_000001", "crafter_s7_000002"):
        ep = EpisodeStorage(out / name)
        actions, infos = np.asarray(ep.load_actions()), ep.load_infos()
        nav, pos, rand = infos["nav_target"], infos["player_pos"], infos["random_action"]
        assert nav.dtype == np.int16 and nav.shape == (len(actions), 2)
        on_walk = nav[:, 0] >= 0
        assert np.all(nav[~on_walk] == -1)
        assert np.all(np.isin(actions[on_walk & ~rand], walk_actions))
        moved += int(np.isin(actions[on_walk & ~rand], walk_actions[:4]).sum())
        assert not np.any(np.all(nav[on_walk] == pos[on_walk], axis=1))
        walked += int(on_walk.sum())
    assert walked > 0 and moved >= 0.8 * walked  # mostly moves (a random action may replace a walk's step)


def test_task_start_share_starts_from_a_task_inventory(tmp_path):
    starts = gpd.task_starts()
    assert starts and all(inventory for inventory in starts.values())
    assert gpd.episode_start(3, 0, 0.0) is None and gpd.episode_start(3, 0, 1.0) in starts
    shares = [gpd.episode_start(0, i, 0.25) is not None for i in range(400)]
    assert 0.15 < np.mean(shares) < 0.35  # binomial(400, 0.25): 0.25 +- 4.6 standard deviations
    gpd.generate_episode(str(tmp_path), seed=3, index=0, size=64, max_episode_len=20, frame_format="npz",
                         task_start_share=1.0)
    ep = EpisodeStorage(tmp_path / "crafter_s3_000000")
    meta, infos = ep.load_metadata(), ep.load_infos()
    assert meta["start_task"] in starts and meta["initial_inventory"] == starts[meta["start_task"]]
    for item, count in meta["initial_inventory"].items():
        assert infos["inventory"][0, INVENTORY_ITEMS.index(item)] == count  # frame 0 shows the task's start


def test_settings_come_from_the_config_file_and_flags_override():
    args, config = gpd.parse_args(["--out_dir", "x", "--num_frames", "5", "--workers", "3"])
    assert (config.seed, config.max_episode_len, config.size, config.task_start_share, config.frame_format,
            config.workers, config.night_work, config.early_plant) == (0, 10000, 64, 0.25, "npz", 3, True, 0.0)
    assert gpd.parse_args(["--out_dir", "x", "--num_frames", "5", "--no-night_work"])[1].night_work is False
    assert gpd.parse_args(["--out_dir", "x", "--num_frames", "5", "--early_plant", "0.5"])[1].early_plant == 0.5
    with pytest.raises(UsageError, match="early_plant"):  # a share of episodes
        gpd.parse_args(["--out_dir", "x", "--num_frames", "5", "--early_plant", "1.5"])
    with pytest.raises(SystemExit):  # exactly one of --num_frames and --num_episodes
        gpd.parse_args(["--num_frames", "5", "--num_episodes", "2"])


def test_view_is_the_window_the_frame_shows(dataset):
    """``view`` [L, 9, 7]: the local view window of each frame (materials, objects over them), the player at its
    centre; checked against the env's own local_view on a replay."""
    from tasks.crafter.env import SEMANTIC_NAMES

    out, _ = dataset
    ep = EpisodeStorage(out / "crafter_s7_000002")
    meta, actions, infos = ep.load_metadata(), ep.load_actions(), ep.load_infos()
    view = infos["view"]
    assert view.shape == (ep.get_len(), 9, 7) and view.dtype == np.uint8
    assert np.all(view[:, 4, 3] == SEMANTIC_NAMES.index("player"))
    env = CrafterEnv(max_steps=meta["max_episode_len"])
    env.reset(options={"world_seed": meta["world_seed"]})
    for t in range(len(actions)):
        local = env.local_view()
        x0, x1, y0, y1 = local.bounds
        pos = infos["player_pos"][t]
        window = view[t, x0 - pos[0] + 4: x1 - pos[0] + 4, y0 - pos[1] + 3: y1 - pos[1] + 3]
        objects = np.zeros(window.shape, bool)
        for (x, y) in local.textures:
            objects[x - x0, y - y0] = True
        np.testing.assert_array_equal(window[~objects], local.materials[~objects])
        assert np.all(window[objects] >= SEMANTIC_NAMES.index("player"))
        if t < len(actions) - 1:
            env.step(actions[t])


def test_view_window_pads_off_map_tiles():
    semantic = np.arange(1, 26, dtype=np.uint8).reshape(5, 5)
    window = gpd.view_window({"semantic": semantic, "player_pos": (0, 1)})
    assert window.shape == (9, 7) and window[4, 3] == semantic[0, 1]
    assert np.all(window[:4] == 0) and np.all(window[:, :2] == 0)  # x < 0, y < 0: off the map
    np.testing.assert_array_equal(window[4:9, 2:7], semantic[0:5, 0:5])
