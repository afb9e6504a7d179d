"""bench/teacher_agreement.py: in the teacher condition the env follows the scripted player exactly (the episode is
the play-data episode of the same seeds), in the learner condition it follows the low level; the summary counts only
the steps where the teacher was awake and did not act at random; end to end on a tiny random low level."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from bench_testutils import load_bench_script

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ta():
    return load_bench_script("teacher_agreement")


def test_teacher_mode_replays_the_scripted_player(ta):
    from tasks.crafter.env import CrafterEnv
    from tasks.crafter.scripted_player import ScriptedPlayer

    env = CrafterEnv(size=64, max_steps=40)
    obs, info = env.reset(options={"world_seed": 11})
    player = ScriptedPlayer(seed=11)
    player.reset(env, info)
    want = []
    for _ in range(40):
        a = player.act(info)
        want.append(a)
        obs, _, term, trunc, info = env.step(a)
        if term or trunc:
            break
    shadow = ta.ShadowEnv("teacher", [11], [11], 64, 40)
    shadow.reset()
    while not shadow.records:
        shadow.step(0)  # the low level's proposal is recorded, never executed
    steps = shadow.records[0]["steps"]
    assert [t for _, t, _, _, _ in steps] == want and all(ll == 0 for ll, _, _, _, _ in steps)
    learner = ta.ShadowEnv("learner", [11], [11], 64, 30)
    _, info0 = learner.reset()
    while not learner.records:
        _, _, _, _, info = learner.step(ta_noop())  # executed: the player stands still, the teacher keeps proposing
    assert info["player_pos"].tolist() == info0["player_pos"].tolist()
    assert any(t != ta_noop() for _, t, _, _, _ in learner.records[0]["steps"])
    with pytest.raises(ValueError, match="mode must be"):
        ta.ShadowEnv("expert", [1], [1], 64, 10)


def test_learner_mode_opening_and_mixture(ta):
    """``learner_from``: the player's actions run until that env step (the trajectory is the teacher's own), the
    low level's after it; ``beta`` 1 executes the player throughout, ``beta`` 0.5 about half the later steps."""
    from tasks.crafter.env import CrafterEnv
    from tasks.crafter.scripted_player import ScriptedPlayer

    env = CrafterEnv(size=64, max_steps=30)
    obs, info = env.reset(options={"world_seed": 11})
    player = ScriptedPlayer(seed=11)
    player.reset(env, info)
    for _ in range(20):
        obs, _, _, _, info = env.step(player.act(info))
    teacher_pos = info["player_pos"].tolist()

    def play(**kw):
        shadow = ta.ShadowEnv("learner", [11], [11], 64, 30, **kw)
        shadow.reset()
        positions = []
        while not shadow.records:
            _, _, _, _, info = shadow.step(ta_noop())
            positions.append(info["player_pos"].tolist())
        return shadow.records[0], positions

    record, positions = play(learner_from=20)
    assert record["teacher_executed"] == [True] * 20 + [False] * 10
    assert positions[19] == teacher_pos and positions[-1] == teacher_pos  # noops from step 20: it stands still
    assert all(play(beta=1.0)[0]["teacher_executed"])
    mixed = play(learner_from=5, beta=0.5)[0]["teacher_executed"]
    assert all(mixed[:5]) and 0 < sum(mixed[5:]) < 25
    assert mixed == play(learner_from=5, beta=0.5)[0]["teacher_executed"]  # seeded per world
    for bad in ({"learner_from": -1}, {"beta": 1.5}):
        with pytest.raises(ValueError, match="learner_from|beta"):
            ta.ShadowEnv("learner", [1], [1], 64, 10, **bad)


def test_nav_offset_is_known_before_the_step_and_opening_is_left_out(ta):
    """The player is asked once per state before the low level's step (so its walk's destination can be the low
    level's goal); in the teacher condition each step's destination is where the player's own walk then goes."""
    from tasks.crafter.env import ACTION_NAMES

    shadow = ta.ShadowEnv("teacher", [11], [11], 64, 40)
    _, info = shadow.reset()
    seen = 0
    while not shadow.records:
        offset, pos = shadow.nav_offset, info["player_pos"].tolist()
        _, _, _, _, info = shadow.step(0)
        if offset is not None and not shadow.records:
            seen += 1
            assert offset != (0, 0)
            name = ACTION_NAMES[shadow._steps[-1][1]]
            if name.startswith("move_") and info["player_pos"].tolist() != pos:  # a step along the walk: closer
                d = np.abs(np.asarray(offset)).sum()
                moved = np.asarray(info["player_pos"]) - np.asarray(pos)
                assert np.abs(np.asarray(offset) - moved).sum() == d - 1
    assert seen > 0
    steps = [(1, 1, False, "collect_wood", False)] * 3 + [(2, 1, False, "shelter", True)]
    s = ta.summarize([{"length": 4, "dead": False, "death_cause": None, "steps": steps, "opening": 3,
                       "sealed": True}])
    assert s["steps"] == 1 and s["agreement"] == 0.0 and s["alive_at_end"] == 1.0 and s["sealed"] == 1.0


def ta_noop():
    from tasks.crafter.env import ACTION_NAMES

    return ACTION_NAMES.index("noop")


def test_summary_skips_random_and_asleep_steps(ta):
    steps = [(1, 1, False, "collect_wood", False), (2, 1, False, "collect_wood", False),
             (3, 3, True, "collect_wood", False), (4, 4, False, "shelter", True)]
    s = ta.summarize([{"length": 4, "dead": True, "death_cause": "zombie", "steps": steps}])
    assert s["steps"] == 3 and s["agreement"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["agreement_day"] == 0.5 and s["agreement_night"] == 1.0 and s["deaths"] == {"zombie": 1}
    assert s["by_teacher_subgoal"]["collect_wood"] == {"agreement": 0.5, "steps": 2}
    from tasks.crafter.env import ACTION_NAMES

    a1, a4 = ACTION_NAMES[1], ACTION_NAMES[4]
    assert s["by_teacher_action"] == {a1: {"agreement": 0.5, "steps": 2}, a4: {"agreement": 1.0, "steps": 1}}
    assert s["by_teacher_action_night"] == {a4: {"agreement": 1.0, "steps": 1}}


def test_end_to_end_on_a_tiny_low_level(ta, tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(REPO / "tests" / "bench"))
    from test_pretraining_report import tiny_models_or_skip

    root = tiny_models_or_skip(tmp_path / "models", 8, monkeypatch)
    out = tmp_path / "ta.json"
    result = ta.main(["--highlevel_config", str(root / "highlevel.yaml"), "--episodes", "2", "--max_steps", "30",
                      "--n_envs", "2", "--seed", "3", "--out", str(out)])
    data = json.loads(out.read_text())
    assert data == json.loads(json.dumps(result)) and data["complete"]
    for mode in ("teacher", "learner"):
        s = data["conditions"][mode]
        assert s["episodes"] == 2 and 0.0 <= s["agreement"] <= 1.0 and 0 < s["steps"] <= 60
    nav_root = tiny_models_or_skip(tmp_path / "nav_models", 512, monkeypatch)  # the nav-target goal size
    nav = ta.main(["--highlevel_config", str(nav_root / "highlevel.yaml"), "--episodes", "2", "--max_steps", "30",
                   "--n_envs", "2", "--seed", "3", "--goal", "nav_oracle", "--conditions", "learner",
                   "--learner_from", "10", "--out", str(tmp_path / "nav.json")])
    s = nav["conditions"]["learner"]
    assert nav["goal"] == "nav_oracle" and s["episodes"] == 2 and 0 < s["steps"] <= 40  # 20 learner steps each
    intent = ta.main(["--highlevel_config", str(nav_root / "highlevel.yaml"), "--episodes", "1", "--max_steps", "20",
                      "--n_envs", "1", "--seed", "3", "--goal", "intent_oracle", "--conditions", "learner",
                      "--out", str(tmp_path / "intent.json")])
    assert intent["goal"] == "intent_oracle" and intent["conditions"]["learner"]["episodes"] == 1
    with pytest.raises(SystemExit) as e:
        ta.main(["--episodes", "0", "--out", str(tmp_path / "x.json")])
    assert e.value.code == 2 and "--episodes 0" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_goal_driver_codes_index_the_goal_table(ta):
    """Each oracle's code, asked before a step, picks the row of its table that is the goal of that state."""
    so = load_bench_script("subgoal_oracle")
    from tasks.crafter.player.rules import SUBGOALS

    envs = [ta.ShadowEnv("teacher", [s], [s], 64, 30) for s in (11, 12)]
    for e in envs:
        e.reset()
    for _ in range(20):
        for goal in ("nav_oracle", "intent_oracle", "facing_oracle", "intent_facing_oracle"):
            table, codes, values = ta.goal_driver(goal, None, envs)
            assert values == {"low_level_steps": 1}
            for e, c in zip(envs, codes()):
                want = {"nav_oracle": so.nav_vector(e.nav_offset),
                        "intent_oracle": so.intent_vector(e.nav_offset, SUBGOALS.index(e.pending_subgoal)),
                        "facing_oracle": so.facing_vector(e.facing_now),
                        "intent_facing_oracle": so.intent_vector(e.nav_offset, SUBGOALS.index(e.pending_subgoal))
                        + so.facing_vector(e.facing_now)}[goal]
                assert np.array_equal(table[c], want)
        for e in envs:
            e.step(0)
    with pytest.raises(ValueError, match="goal must be"):
        ta.goal_driver("prior", None, envs)
