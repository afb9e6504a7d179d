"""bench/survival_probe.py: the trace counts sleep, time asleep and health lost asleep; forbidding sleep keeps the
player awake while still counting the policy's choice."""
import pytest
from bench_testutils import load_bench_script


@pytest.fixture(scope="module")
def sp():
    return load_bench_script("survival_probe")


def _tired_env(sp, forbid_sleep):
    from tasks.crafter.env import CrafterEnv

    env = sp.SurvivalTrace(CrafterEnv(max_steps=6), forbid_sleep=forbid_sleep)
    env.reset(seed=0)
    env.unwrapped._env._player.inventory["energy"] = 3  # below the maximum: `sleep` puts the player to sleep
    return env


@pytest.mark.parametrize("forbid_sleep", [False, True])
def test_trace_counts_sleep(sp, forbid_sleep):
    env = _tired_env(sp, forbid_sleep)
    for _ in range(6):
        env.step(env.sleep_action)
    (rec,) = env.records
    assert rec["length"] == 6 and rec["sleep_chosen"] == 6 and not rec["dead"]
    if forbid_sleep:
        assert rec["steps_asleep"] == 0 and rec["first_asleep"] is None
    else:
        assert rec["steps_asleep"] == 6 and rec["first_asleep"] == 0  # asleep from the first step, until the limit
    s = sp.summarize([rec])
    assert s["episodes_asleep"] == (0 if forbid_sleep else 1) and s["episodes_with_sleep_chosen"] == 1


def test_health_lost_while_asleep_is_attributed(sp):
    env = _tired_env(sp, False)
    env.step(env.sleep_action)
    env.unwrapped._env._player.health = 5  # as if hit while asleep: lost on the next step, counted as asleep
    env.step(env.sleep_action)
    for _ in range(4):
        env.step(env.noop_action)
    (rec,) = env.records
    assert rec["health_lost"] >= 4 and rec["health_lost_asleep"] >= 4
    with pytest.raises(ValueError):
        sp.summarize([])
