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
    want_nll = -(5 * np.log(0.5) + 3 * np.log(0.2) + np.log(0.1) + np.log(0.05)) / 10
    assert out["nll"] == pytest.approx(want_nll, abs=1e-4)


def test_bad_flags_end_with_one_line(capsys):
    ap = load_bench_script("action_probs")
    with pytest.raises(SystemExit) as exc:
        ap.main(["--episodes", "0"])
    assert exc.value.code == 2 and "--episodes 0: expected an integer >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ap.main(["--out", "x.txt"])
