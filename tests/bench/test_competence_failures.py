"""bench/competence_failures.py: distance bins, the target distance and view read off a real Crafter world, and the
bench end to end on tiny random models after a report of them (it rebuilds the report's test starts and plays the
report's episodes: its successes equal the report's, else it raises), with a bad report refused in one line."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from bench_testutils import load_bench_script

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cf():
    return load_bench_script("competence_failures")


def test_at_target_is_facing_it_or_within_crafting_reach(cf):
    from tasks.crafter.env import CrafterEnv

    env = CrafterEnv(size=64)
    env.reset(options={"world_seed": 3})
    world, player = env.crafter_env._world, env.crafter_env._player
    pos = np.asarray(player.pos)
    front = tuple(int(v) for v in pos + np.asarray(player.facing))
    behind = tuple(int(v) for v in pos - np.asarray(player.facing))
    world[front] = "iron"
    assert cf.at_target(env, "collect_iron") and not cf.at_target(env, "collect_coal")
    for dx in (-1, 0, 1):  # no table within reach
        for dy in (-1, 0, 1):
            if dx or dy:
                world[(int(pos[0]) + dx, int(pos[1]) + dy)] = "grass"
    world[behind] = "iron"  # next to the player but not faced: ``do`` would not reach it
    assert not cf.at_target(env, "collect_iron") and not cf.at_target(env, "make_stone_pickaxe")
    assert cf.next_to_target(env, "collect_iron") and not cf.next_to_target(env, "collect_coal")
    world[behind] = "table"  # crafting needs a table among the 3x3 tiles around the player, faced or not
    assert cf.at_target(env, "make_stone_pickaxe") and cf.at_target(env, "place_furnace")
    assert not cf.at_target(env, "wake_up") and not cf.at_target(env, "place_table")  # no target
    assert [cf.key_action(a) for a in ("collect_iron", "eat_cow", "make_stone_pickaxe", "place_furnace")] == [
        "do", "do", "make_stone_pickaxe", "place_furnace"]


def test_daylight_bins(cf):
    assert [cf.daylight_bin(x) for x in (0.0, 0.29, 0.3, 0.69, 0.7, 1.0)] == [
        "night", "night", "twilight", "twilight", "day", "day"]


def test_distance_bins(cf):
    assert [cf.distance_bin(d) for d in (0, 1, 2, 4, 5, 8, 9, 16, 17, None)] == [
        "0-1", "0-1", "2-4", "2-4", "5-8", "5-8", "9-16", "9-16", ">16", "none"]


def test_target_distance_and_view_match_the_world(cf):
    from tasks.crafter.env import SEMANTIC_NAMES, CrafterEnv

    env = CrafterEnv(size=64)
    env.reset(options={"world_seed": 3})
    world, pos = env.crafter_env._world, np.asarray(env.crafter_env._player.pos)
    xs, ys = np.nonzero(world._mat_map == SEMANTIC_NAMES.index("tree"))
    assert cf.target_distance(env, "collect_wood") == int(np.min(np.abs(xs - pos[0]) + np.abs(ys - pos[1])))
    cows = [int(np.abs(np.asarray(o.pos) - pos).sum()) for o in world.objects if type(o).__name__ == "Cow"]
    assert cf.target_distance(env, "eat_cow") == (min(cows) if cows else None)
    view = env.local_view()
    assert cf.target_in_view(env, "collect_wood") == bool((view.materials == SEMANTIC_NAMES.index("tree")).any())
    assert cf.target_in_view(env, "eat_cow") == any(t.startswith("cow") for t in view.textures.values())
    assert cf.target_in_view(env, "wake_up") is None and cf.target_distance(env, "wake_up") is None


def test_end_to_end_on_tiny_models(cf, tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(REPO / "tests" / "bench"))
    from test_pretraining_report import tiny_models_or_skip

    pr = load_bench_script("pretraining_report")
    root = tiny_models_or_skip(tmp_path / "models", 8, monkeypatch)
    report = tmp_path / "report.json"
    pr.main(["--sections", "competence", "--highlevel_config", str(root / "highlevel.yaml"), "--player_episodes",
             "2", "--max_episode_len", "60", "--worlds", "2", "--screen_worlds", "1", "--top_codes", "1",
             "--test_episodes", "2", "--test_worlds", "2", "--test_seed", "5", "--horizon", "4", "--n_envs", "2",
             "--achievements", "collect_wood", "place_table", "--codes", "0", "1", "--seed", "3",
             "--out_json", str(report), "--readme", str(tmp_path / "README.md")])
    out = tmp_path / "failures.json"
    result = cf.main(["--report", str(report), "--highlevel_config", str(root / "highlevel.yaml"), "--n_envs", "2",
                      "--out", str(out)])
    data = json.loads(out.read_text())
    assert data == json.loads(json.dumps(result)) and data["complete"] and data["test_seed"] == 5
    comp = json.loads(report.read_text())["competence"]
    for a in ("collect_wood", "place_table"):
        link = data["links"][a]
        assert link["best_code"] == comp[a]["best_code"] and link["starts"] == comp[a]["worlds"] == 2
        for arm, key in (("best_code", "success"), ("zero", "unconditional_success")):
            s = link["arms"][arm]
            assert s["success"] == comp[a][key] and s["starts"] == 2  # the report's episodes
            assert sum(s["ends"].values()) == 2
            assert all(k in ("success", "horizon") or k.startswith("death:") for k in s["ends"])
            assert sum(v["starts"] for v in s["by_distance"].values()) == 2
            assert s["timeouts"]["episodes"] == s["ends"].get("horizon", 0)
            assert sum(v["starts"] for v in s["by_start_daylight"].values()) == 2
            assert s["later"]["starts"] == 0  # horizon 4 < EARLY_STEPS: every episode ended in the early window
            f = s["failures"]
            assert f["episodes"] == 2 - s["successes"] and f["at_a_target"] <= f["episodes"]
            assert s["early"]["successes"] + s["later"]["successes"] == s["successes"]
            recs = link["records"][arm]
            assert len(recs) == 2 and sum(r["success"] for r in recs) == s["successes"]
            assert all((r["end"] == "success") == r["success"] and 0.0 <= r["daylight"] <= 1.0 for r in recs)
            assert all(1 <= len(r["first_actions"]) <= min(4, cf.FIRST_ACTIONS) for r in recs)
            assert all(r["key_action_at_target"] <= r["at_target_steps"] <= r["steps"] for r in recs)
    bad = json.loads(report.read_text())
    for v in bad["competence"].values():
        v.pop("measured_on")
    report.write_text(json.dumps(bad))
    capsys.readouterr()  # the progress bars of the runs above
    with pytest.raises(SystemExit) as exc:
        cf.main(["--report", str(report), "--highlevel_config", str(root / "highlevel.yaml"),
                 "--out", str(tmp_path / "again.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "--report" in err[0] and "test starts" in err[0]
    assert not (tmp_path / "again.json").exists()
    report.write_text(json.dumps(json.loads(report.read_text()) | {"competence": comp}))
    (tmp_path / "not.json").write_text("{")
    for argv, flag in ((["--report", str(tmp_path / "not.json")], "--report"),
                       (["--report", str(report), "--achievements", "eat_plant"], "--achievements")):
        with pytest.raises(SystemExit) as exc:
            cf.main(argv + ["--highlevel_config", str(root / "highlevel.yaml"), "--out", str(tmp_path / "again.json")])
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and len(err) == 1 and err[0].split(": error: ")[1].startswith(flag)
    assert not (tmp_path / "again.json").exists()
