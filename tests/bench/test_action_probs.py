"""bench/action_probs.py: the table's per-action mean probabilities, top actions and NLL equal what a policy with a
known distribution gives; the player's random actions are left out; windows carry the state across an episode."""
import numpy as np
import pytest
import torch
from bench_testutils import load_bench_script

from steve1.data.EpisodeStorage import EpisodeStorage

NAMES = [f"a{i}" for i in range(5)]


class _FixedPolicy:
    """The same action distribution on every frame; records the ``first`` flags and window lengths it saw."""

    def __init__(self, probs):
        self.logp = torch.log(torch.as_tensor(probs, dtype=torch.float32))
        self.calls = []

    def initial_state(self, batch):
        return ["s"]

    def __call__(self, obs, first, state):
        t = obs["img"].shape[1]
        assert obs["mineclip_embed"].shape == (1, t, 3) and not obs["mineclip_embed"].any()  # the zero goal
        self.calls.append((t, bool(first[0, 0])))
        return (self.logp.expand(1, t, 1, len(NAMES)), None, None), state


def test_table_matches_a_known_distribution(tmp_path):
    ap = load_bench_script("action_probs")
    probs = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
    actions = [0] * 6 + [1] * 3 + [3, 3, 4]
    random = np.zeros(len(actions), bool)
    random[[1, 10]] = True  # one a0 frame and one a3 frame were the player's random actions
    frames = np.zeros((len(actions), 8, 8, 3), np.uint8)
    EpisodeStorage(str(tmp_path / "ep")).write_episode(frames, actions, metadata={"sim": "crafter"},
                                                      infos={"random_action": random})
    policy = _FixedPolicy(probs)
    out = ap.action_probs(policy, [str(tmp_path / "ep")], NAMES, goal_dim=3, window=5)
    assert policy.calls == [(5, True), (5, False), (2, False)]
    table = out["by_player_action"]
    assert out["frames"] == 10 and set(table) == {"a0", "a1", "a3", "a4"}
    assert [table[a]["frames"] for a in ("a0", "a1", "a3", "a4")] == [5, 3, 1, 1]
    for a, i in (("a0", 0), ("a1", 1), ("a3", 3), ("a4", 4)):
        assert table[a]["p_player_action"] == pytest.approx(probs[i], abs=1e-4)
        assert table[a]["top"][0] == ["a0", pytest.approx(0.5, abs=1e-4)]
    assert [name for name, _ in table["a4"]["top"]] == ["a0", "a1", "a2"]
    # actions 0 0 0 0 0 0 1 1 1 3 3 4, frames 1 and 10 random: keyframes 6 (a1 after a0), 9 (a3 after a1),
    # 11 (a4 after a3); repeats 2, 3, 4, 5, 7, 8
    assert out["keyframes"] == {"frames": 3, "p_player_action": pytest.approx((0.2 + 0.1 + 0.05) / 3, abs=1e-4),
                                "p_previous_action": pytest.approx((0.5 + 0.2 + 0.1) / 3, abs=1e-4)}
    assert out["repeats"]["frames"] == 6
    assert out["repeats"]["p_player_action"] == out["repeats"]["p_previous_action"]
    want_nll = -(5 * np.log(0.5) + 3 * np.log(0.2) + np.log(0.1) + np.log(0.05)) / 10
    assert out["nll"] == pytest.approx(want_nll, abs=1e-4)


def test_bad_flags_end_with_one_line(capsys):
    ap = load_bench_script("action_probs")
    with pytest.raises(SystemExit) as exc:
        ap.main(["--episodes", "0"])
    assert exc.value.code == 2 and "--episodes 0: expected an integer >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ap.main(["--out", "x.txt"])


def test_by_event_follows_the_achievement_counts(tmp_path):
    """by_event: lag 0 is the frame whose action raised a count, lag 1 the one before; random frames and lags
    before the episode start are left out; the goal fed is the one given."""
    ap = load_bench_script("action_probs")
    probs = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
    actions = [0, 2, 4, 1, 3, 4, 0, 0]
    random = np.zeros(len(actions), bool)
    random[4] = True      # the frame before the second "x": left out of its lag 1
    ach = np.zeros((len(actions), 2), np.int32)
    ach[3:, 0] = 1        # action 2 (a4) brought "x" about
    ach[6:, 0] = 2        # action 5 (a4) again
    ach[1:, 1] = 1        # action 0 (a0) brought "y" about: lag 1 would be frame -1
    frames = np.zeros((len(actions), 8, 8, 3), np.uint8)
    EpisodeStorage(str(tmp_path / "ep")).write_episode(frames, actions, metadata={"sim": "crafter"},
                                                      infos={"random_action": random, "achievements": ach})

    class _GoalPolicy(_FixedPolicy):
        def __call__(self, obs, first, state):
            want = torch.tensor([1.0, -2.0, 0.5]).expand_as(obs["mineclip_embed"])
            assert torch.allclose(obs["mineclip_embed"], want)
            t = obs["img"].shape[1]
            return (self.logp.expand(1, t, 1, len(NAMES)), None, None), state

    out = ap.action_probs(_GoalPolicy(probs), [str(tmp_path / "ep")], NAMES, goal_dim=3, window=4,
                          achievement_names=["x", "y"], lags=2, goal=np.array([1.0, -2.0, 0.5]))
    ev = out["by_event"]
    assert set(ev) == {"x", "y"} and set(ev["y"]) == {"lag_0", "events", "random_action_events"}
    assert (ev["x"]["events"], ev["x"]["random_action_events"], ev["y"]["events"]) == (2, 0, 1)
    assert ev["x"]["lag_0"]["frames"] == 2 and ev["x"]["lag_0"]["player_actions"] == [["a4", 1.0]]
    assert ev["x"]["lag_0"]["p_player_action"] == pytest.approx(0.05, abs=1e-4)
    # lag 1 of x: frame 1 (a2); frame 4 (a3) was a random action
    assert ev["x"]["lag_1"]["frames"] == 1
    assert ev["x"]["lag_1"]["p_player_action"] == pytest.approx(0.15, abs=1e-4)
    assert ev["x"]["lag_1"]["player_actions"] == [["a2", 1.0]]
    assert ev["x"]["lag_1"]["top"][0] == ["a0", pytest.approx(0.5, abs=1e-4)]
    assert ev["y"]["lag_0"]["frames"] == 1 and ev["y"]["lag_0"]["player_actions"] == [["a0", 1.0]]
    assert out["frames"] == 7    # the random frame 4 is left out of the table too


def _approach_episode():
    """4 frames of a 3x3 view (``[x, y]``, player at (1, 1)): coal (id 1) right, facing up (a turn frame); coal
    left and right (two: none); coal right, faced (a facing frame); coal up while exploring (none)."""
    view = np.full((4, 3, 3), 2, np.uint8)
    view[0, 2, 1] = 1
    view[1, 2, 1] = view[1, 0, 1] = 1
    view[2, 2, 1] = 1
    view[3, 1, 0] = 1
    facing = np.array([[0, -1], [0, -1], [1, 0], [0, 1]], np.int8)
    subgoal = np.array([0, 0, 0, 1], np.int16)
    return view, facing, subgoal


def test_approach_frames_finds_turns_and_facing():
    ap = load_bench_script("action_probs")
    view, facing, subgoal = _approach_episode()
    out = ap.approach_frames(view, facing, subgoal, ["collect_coal", "explore"], ["unused", "coal", "grass"])
    assert set(out) == {"collect_coal"}
    assert out["collect_coal"]["turn"].tolist() == [0] and out["collect_coal"]["move"].tolist() == [1]  # move_right
    assert out["collect_coal"]["facing"].tolist() == [2]
    # frame 3: coal up, facing down, while exploring
    assert out["collect_coal"]["turn_not_pursued"].tolist() == [3]
    assert out["collect_coal"]["move_not_pursued"].tolist() == [2]   # move_up
    with pytest.raises(ValueError, match="view"):
        ap.approach_frames(view[:3], facing, subgoal, ["collect_coal"], ["unused", "coal"])


def test_by_approach_counts_the_teacher_and_the_policy(tmp_path):
    ap = load_bench_script("action_probs")
    names = ["noop", "move_left", "move_right", "move_up", "move_down", "do"]
    probs = np.array([0.3, 0.1, 0.25, 0.1, 0.1, 0.15])
    view, facing, subgoal = _approach_episode()
    actions = [2, 0, 5, 0]      # the player turns right at the coal, then mines it
    meta = {"sim": "crafter", "subgoal_names": ["collect_coal", "explore"]}
    EpisodeStorage(str(tmp_path / "ep")).write_episode(
        np.zeros((4, 8, 8, 3), np.uint8), actions, metadata=meta,
        infos={"random_action": np.zeros(4, bool), "view": view, "facing": facing, "subgoal": subgoal})
    out = ap.action_probs(_SixPolicy(probs), [str(tmp_path / "ep")], names, goal_dim=3, window=4,
                          semantic_names=["unused", "coal", "grass"])
    row = out["by_approach"]["collect_coal"]
    assert row["turn_frames"] == 1 and row["teacher_turns"] == 1.0 and row["p_turn"] == pytest.approx(0.25, abs=1e-4)
    assert row["p_do_at_turn"] == pytest.approx(0.15, abs=1e-4)
    assert row["p_ahead_at_turn"] == pytest.approx(0.1, abs=1e-4)   # facing up at the turn frame: move_up
    assert row["top_at_turn"][:2] == [["noop", pytest.approx(0.3, abs=1e-4)],
                                      ["move_right", pytest.approx(0.25, abs=1e-4)]]
    assert row["facing_frames"] == 1 and row["teacher_do"] == 1.0 and row["p_do"] == pytest.approx(0.15, abs=1e-4)
    # frame 3 (exploring, coal up): the player does noop, the policy gives move_up 0.1
    assert row["turn_frames_not_pursued"] == 1 and row["teacher_turns_not_pursued"] == 0.0
    assert row["p_turn_not_pursued"] == pytest.approx(0.1, abs=1e-4)


class _SixPolicy:
    """The same 6-action distribution on every frame, any goal."""

    def __init__(self, probs):
        self.logp = torch.log(torch.as_tensor(probs, dtype=torch.float32))

    def initial_state(self, batch):
        return ["s"]

    def __call__(self, obs, first, state):
        t = obs["img"].shape[1]
        return (self.logp.expand(1, t, 1, len(self.logp)), None, None), state


def test_goal_code_below_zero_ends_with_one_line(capsys):
    ap = load_bench_script("action_probs")
    with pytest.raises(SystemExit) as exc:
        ap.main(["--goal_code", "-1"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.strip().count("\n") == 0 and "--goal_code -1: expected an integer >= 0" in err


def test_no_memory_feeds_each_frame_alone(tmp_path):
    """With ``no_memory`` every frame is its own sequence (``first`` set, a fresh state); with memory only the
    episode's first frame is. A policy that answers differently on ``first`` frames tells the two apart."""
    ap = load_bench_script("action_probs")
    fresh, carried = np.array([0.5, 0.2, 0.15, 0.1, 0.05]), np.array([0.05, 0.1, 0.15, 0.2, 0.5])

    class _FirstPolicy:
        def initial_state(self, batch):
            return [batch]

        def __call__(self, obs, first, state):
            b, t = first.shape
            assert obs["img"].shape[:2] == (b, t) and state in ([b], "carried")
            lp = torch.where(first[..., None], torch.log(torch.as_tensor(fresh, dtype=torch.float32)),
                             torch.log(torch.as_tensor(carried, dtype=torch.float32)))
            return (lp[:, :, None, :], None, None), "carried"

    actions = [4] * 7
    EpisodeStorage(str(tmp_path / "ep")).write_episode(np.zeros((7, 8, 8, 3), np.uint8), actions,
                                                      metadata={"sim": "crafter"},
                                                      infos={"random_action": np.zeros(7, bool)})
    with_memory = ap.action_probs(_FirstPolicy(), [str(tmp_path / "ep")], NAMES, goal_dim=3, window=4)
    alone = ap.action_probs(_FirstPolicy(), [str(tmp_path / "ep")], NAMES, goal_dim=3, window=4, no_memory=True)
    assert with_memory["by_player_action"]["a4"]["p_player_action"] == pytest.approx((0.05 + 6 * 0.5) / 7, abs=1e-4)
    assert alone["by_player_action"]["a4"]["p_player_action"] == pytest.approx(0.05, abs=1e-4)
