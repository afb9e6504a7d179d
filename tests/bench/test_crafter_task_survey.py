"""bench/crafter_task_survey.py: distances read from the world map, random-policy episodes, and clear errors."""
import json
from pathlib import Path

import pytest
from bench_testutils import load_bench_script

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def survey():
    return load_bench_script("crafter_task_survey")


def test_nearest_distance_matches_a_brute_force_scan(survey):
    import tasks

    env = tasks.make("crafter_iron")
    env.reset(options={"world_seed": 3})
    world, (px, py) = env.crafter_env._world, env.crafter_env._player.pos
    got = survey.nearest_distances(env, ["tree", "iron"])
    for name in ("tree", "iron"):
        best = min(abs(x - px) + abs(y - py) for x in range(world.area[0]) for y in range(world.area[1])
                   if world[(x, y)][0] == name)
        assert got[name] == best
    with pytest.raises(ValueError, match="unknown Crafter materials"):
        survey.nearest_distances(env, ["gold"])


def test_survey_writes_its_json(survey, tmp_path):
    out = tmp_path / "survey.json"
    result = survey.main(["--task", "crafter_wood", "--worlds", "3", "--materials", "tree", "--radii", "5",
                          "--random_episodes", "2", "--out", str(out)])
    assert json.loads(out.read_text()) == result
    assert 0 <= result["distance_from_spawn_l1"]["tree"]["p_within_5"] <= 1
    for variant in ("random", "random_no_sleep"):
        stats = result["random_policy"][variant]
        assert 1 <= stats["min_length"] <= stats["max_length"] <= result["max_env_steps"] == 500
        assert sum(stats["death_causes"].values()) <= 2
        assert set(stats["death_causes"]) <= {"lava", "zombie", "arrow", "hunger", "thirst", "fatigue"} | {
            "+".join(c) for c in (("hunger", "thirst"), ("thirst", "fatigue"), ("hunger", "fatigue"))}


def test_random_episodes_give_a_cause_exactly_for_deaths(survey):
    lengths, successes, causes = survey.random_episodes("crafter_iron", 2, no_sleep=False, seed=0)
    for length, success, cause in zip(lengths, successes, causes):
        assert (cause is None) == (success or length >= 1000)
    assert any(c is not None for c in causes)  # a random player dies long before 1000 env steps


def test_non_crafter_task_is_refused(survey, capsys, tmp_path):
    import tasks

    other = next((t for t in tasks.task_names() if tasks.get_specs(t).get("sim") != "crafter"), None)
    if other is None:
        pytest.skip("no non-Crafter task in tasks/task_specs.yaml")
    with pytest.raises(SystemExit) as exc:  # one line naming --task, exit code 2, nothing written
        survey.main(["--task", other, "--worlds", "1", "--out", str(tmp_path / "survey.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and f"--task {other}" in err[0] and "expected a 'crafter'" in err[0]
    assert not list(tmp_path.iterdir())
