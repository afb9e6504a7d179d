"""bench/player_report.py: the player measurement writes the figures issue 18 asks for, and refuses bad input."""
import json

import numpy as np
import pytest
from bench_testutils import load_bench_script

from tasks.crafter.player.rules import _DUSK_START, _NIGHT_START, S


@pytest.fixture(scope="module")
def pr():
    return load_bench_script("player_report")


def test_report_figures_from_real_episodes(pr, tmp_path):
    out = tmp_path / "player.json"
    result = pr.main(["--episodes", "2", "--max_episode_len", "40", "--seed", "3", "--out", str(out)])
    on_disk = json.loads(out.read_text())
    assert on_disk["episodes"] == 2 and on_disk["frames"] == sum(r["length"] for r in on_disk["records"])
    assert all(1 <= r["length"] <= 40 for r in on_disk["records"])
    assert on_disk["median_episode_length"] == result["median_episode_length"]
    rates = on_disk["achievement_success_rate"]
    assert len(rates) == 22 and rates["collect_wood"] in (0.0, 0.5, 1.0)
    assert sum(on_disk["ends"].values()) == 2
    assert on_disk["command"].startswith("python bench/player_report.py") and "--seed 3" in on_disk["command"]
    assert set(on_disk["meets_targets"]) == {"median_episode_length", "make_stone_pickaxe", "collect_iron"}
    assert 0.0 <= on_disk["random_action_share"] < 0.2
    assert on_disk["night_work"] is True
    quiet = pr.main(["--episodes", "1", "--max_episode_len", "40", "--seed", "3", "--no_night_work",
                     "--out", str(tmp_path / "quiet.json")])
    assert quiet["night_work"] is False  # (the first 40 env steps are the same day for both players)
    assert quiet["records"][0]["length"] == on_disk["records"][0]["length"]
    assert on_disk["early_plant"] == 0.0 and "place_plant" not in on_disk["records"][0]["unlocked"]
    planting = pr.main(["--episodes", "1", "--max_episode_len", "40", "--seed", "3", "--early_plant", "1",
                        "--out", str(tmp_path / "plant.json")])
    assert planting["early_plant"] == 1.0 and planting["records"][0]["early_plant"] is True
    assert "place_plant" in planting["records"][0]["unlocked"]


@pytest.mark.parametrize("argv", [["--episodes", "0"], ["--workers", "0"], ["--max_episode_len", "-1"],
                                  ["--food_bonus", "10", "400", "300"], ["--food_bonus", "4", "400", "0"],
                                  ["--early_plant", "1.5"]])
def test_bad_input_exits_2_and_writes_nothing(pr, tmp_path, capsys, argv):
    out = tmp_path / "player.json"
    with pytest.raises(SystemExit) as exc:
        pr.main(argv + ["--out", str(out)])
    assert exc.value.code == 2 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and argv[0] in err[0]


def test_survival_figures_from_real_episodes(pr, tmp_path):
    out = tmp_path / "player.json"
    pr.main(["--episodes", "2", "--max_episode_len", "160", "--seed", "3", "--out", str(out)])
    on_disk = json.loads(out.read_text())
    survival = on_disk["survival"]
    assert sum(survival["frame_share_by_subgoal"].values()) == pytest.approx(1.0)
    reached_dusk = sum(r["length"] > _DUSK_START for r in on_disk["records"])
    assert survival["food_at"]["dusk_start"]["cycles"] == reached_dusk
    assert survival["food_at"]["morning"]["cycles"] == 0  # no episode reaches a second cycle
    reached_night = sum(r["length"] > _NIGHT_START for r in on_disk["records"])
    assert survival["nights"]["all"]["nights"] == reached_night
    assert survival["nights"]["fed"]["nights"] + survival["nights"]["starving"]["nights"] == reached_night
    by_task, by_stones = survival["nights"]["by_subgoal_at_nightfall"], survival["nights"]["by_stones_at_nightfall"]
    assert sum(g["nights"] for g in by_task.values()) == sum(g["nights"] for g in by_stones.values()) == reached_night
    assert set(by_task) == {n["subgoal"] for r in on_disk["records"] for n in r["survival"]["nights"]}
    for r in on_disk["records"]:
        log = r["survival"]
        assert sum(log["subgoal_steps"].values()) == r["length"]
        assert log["death_phase"] in ("day", "dusk", "night")


class _StubPlayer:
    def __init__(self):
        self.subgoal, self.cow = "idle", False

    def _visible(self, ids):
        return np.array([self.cow])


def _info(step, eaten, food=5):
    semantic = np.zeros((64, 64), np.uint8)
    semantic[30, 45] = S["cow"]  # 15 tiles from the player at (30, 30)
    return {"episode_step": step, "inventory": {"food": food}, "achievements": {"eat_cow": eaten, "eat_plant": 0},
            "dead": False,
            "semantic": semantic, "player_pos": np.array([30, 30])}


def test_survival_log_hunts(pr):
    """A hunt survives a short interruption, ends when a cow is eaten, and a long break ends it as failed."""
    log, player = pr.SurvivalLog(), _StubPlayer()
    script = ([("eat_cow", 0, False)] * 5 + [("flee", 0, False)] * 3 + [("eat_cow", 0, True)] * 4
              + [("explore", 1, False)]  # eaten on the step after the last eat_cow action: a success of 12 steps
              + [("eat_cow", 1, False)] * 3 + [("collect_drink", 1, False)] * 12  # abandoned: failed, no cow seen
              + [("eat_cow", 1, True)] * 2)  # still running at the end: failed, a cow was seen
    for step, (subgoal, eaten, cow) in enumerate(script):
        player.subgoal, player.cow = subgoal, cow
        log.update(player, _info(step, eaten))
    record = log.record(_info(len(script), 1))
    assert record["meals"] == [["cow", 5]]  # the food shown on the step before the one that ate
    hunts = record["hunts"]
    assert hunts == {"attempts": 3, "success_steps": [12], "failed_without_cow_in_view": 1,
                     "failed_ended_by": {"collect_drink": 1, "episode_end": 1}, "steps": 14,
                     "steps_cow_within_10": 0}


def test_meal_figures(pr):
    meals = [["cow", 0], ["cow", 7], ["plant", 6], ["cow", 0]]
    figures = pr.meal_figures(meals, cycles=2.0)
    assert figures["cow"]["meals"] == 3 and figures["cow"]["per_cycle"] == 1.5
    assert figures["cow"]["food_gained_per_cycle"] == (6 + 2 + 6) / 2  # crafter caps food at 9
    assert figures["cow"]["food_before_histogram"] == [2, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert figures["plant"]["food_gained_per_cycle"] == 3 / 2 and figures["plant"]["mean_food_before"] == 6


def test_food_bonus_what_if(pr, tmp_path):
    """--food_bonus 9 1 1 refills food after every env step: the player is full at dusk and never starves."""
    out = tmp_path / "player.json"
    argv = ["--episodes", "2", "--max_episode_len", "100", "--seed", "3", "--out", str(out)]
    plain = pr.main(argv)
    fed = pr.main(argv + ["--food_bonus", "9", "1", "1"])
    assert plain["food_bonus"] is None and fed["food_bonus"] == {"amount": 9, "start": 1, "every": 1}
    assert plain["survival"]["food_at"]["dusk_start"]["mean"] < 9
    assert fed["survival"]["food_at"]["dusk_start"]["mean"] == 9
    assert "--food_bonus 9 1 1" in json.loads(out.read_text())["command"]
