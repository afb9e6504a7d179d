"""bench/low_level_competence.py: every goal is measured on the same Crafter worlds, and the summary picks the best
goal per achievement."""
from pathlib import Path

import numpy as np
import pytest
from bench_testutils import load_bench_script

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def llc():
    return load_bench_script("low_level_competence")


def _play(env, steps):
    """Resets ``env`` (world chosen by the wrapper) and plays ``steps`` noop env steps; returns the first frame."""
    obs, _ = env.reset()
    for _ in range(steps):
        env.step(0)
    return obs["pov"]


def test_timer_plays_the_listed_worlds_then_draws_its_own(llc):
    from tasks.crafter.env import CrafterEnv

    a = llc.AchievementTimer(CrafterEnv(max_steps=3), world_seeds=[5, 6])
    b = llc.AchievementTimer(CrafterEnv(max_steps=3), world_seeds=[5, 6])
    a.env.reset(seed=0)
    b.env.reset(seed=1)  # different env RNGs: only the listed worlds can make the episodes equal
    for j, world in enumerate([5, 6]):
        pa, pb = _play(a, 3), _play(b, 3)
        assert a.env.world_seed == b.env.world_seed == world
        np.testing.assert_array_equal(pa, pb)
        assert len(a.records) == len(b.records) == j + 1  # the episode ended at max_steps and was recorded
    _play(a, 3), _play(b, 3)
    assert a.env.world_seed != b.env.world_seed  # past the list: each env's own RNG


def test_summary_picks_the_most_reliable_then_fastest_goal(llc):
    records = [[{"collect_wood": 9}, {}], [{"collect_wood": 30}, {"collect_wood": 40}],
               [{"collect_wood": 5}, {"collect_wood": 7}]]
    summary = llc.summarize(records, ["code_0", "code_1", "code_2"], horizon=100)
    assert summary["collect_wood"]["best_goal"] == "code_2"
    assert summary["collect_wood"]["median_env_steps"] == 6.0
    assert summary["collect_wood"]["goals_that_unlock_it"] == 3
