"""bench/night_targets.py: the player's night moves along a planned path carry their destination, whose age in the
player's memory is split into in view / within the low level's memory / older; a bad flag is one line."""
import json

import pytest
from bench_testutils import load_bench_script


@pytest.fixture(scope="module")
def nt():
    return load_bench_script("night_targets")


def test_summary_splits_destinations_by_age(nt):
    steps = [{"age": 0, "distance": 2, "subgoal": "shelter", "path": True},
             {"age": None, "distance": 1, "subgoal": "explore", "path": True},
             {"age": 5, "distance": 4, "subgoal": "shelter", "path": True},
             {"age": 300, "distance": 9, "subgoal": "eat_cow", "path": True},
             {"age": None, "distance": None, "subgoal": "shelter"}]
    s = nt.summarize(steps, memory=160)
    assert s["night_moves"] == 5 and s["path_moves"] == 4 and s["path_share"] == 0.8
    assert (s["in_view_now"], s["seen_within_memory"], s["seen_longer_ago"], s["never_seen"]) == (0.25,) * 4
    assert s["by_subgoal"]["shelter"]["steps"] == 2 and s["by_subgoal"]["eat_cow"]["seen_longer_ago"] == 1.0
    assert s["median_age"] == 5.0 and s["median_distance"] == 3.0  # ages of seen destinations only


def test_end_to_end_and_bad_flag(nt, tmp_path, capsys):
    out = tmp_path / "t.json"
    result = nt.main(["--episodes", "1", "--seed", "9003", "--out", str(out)])  # a world with night walks
    saved = json.loads(out.read_text())
    assert saved["command"].startswith("python bench/night_targets.py") and saved["episodes"] == 1
    assert result["night_moves"] >= result["path_moves"] > 0
    shares = ("in_view_now", "seen_within_memory", "seen_longer_ago", "never_seen")
    assert sum(result[k] for k in shares) == pytest.approx(1.0, abs=3e-4)
    with pytest.raises(SystemExit) as e:
        nt.main(["--episodes", "0", "--out", str(out)])
    assert e.value.code == 2 and "--episodes 0" in capsys.readouterr().err
