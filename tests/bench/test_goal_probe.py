"""bench/goal_probe.py: the probe's figures on labels of known separability, the (goal, sub-goal) pairs of relabeled
chunks with the random-action frames left out, and one-line refusals of bad flags."""
import numpy as np
import pytest
from bench_testutils import load_bench_script

from steve1.data.EpisodeStorage import EpisodeStorage


def test_probe_scores_a_separable_problem_and_an_unseen_label():
    gp = load_bench_script("goal_probe")
    rng = np.random.default_rng(0)
    labels = np.array([0] * 40 + [1] * 20 + [0] * 10 + [1] * 6 + [2] * 4)
    goals = np.eye(3, dtype=np.float32)[labels] * 5 + rng.normal(0, 0.1, (len(labels), 3)).astype(np.float32)
    train = np.arange(len(labels)) < 60
    out = gp.probe(goals, labels, train, ["a", "b", "c"])
    # label 2 is never seen in training: its 4 test frames are wrong, the 16 others right
    assert (out["train_frames"], out["test_frames"]) == (60, 20)
    assert out["accuracy"] == pytest.approx(16 / 20, abs=1e-4)
    assert out["majority_subgoal"] == "a" and out["majority"] == pytest.approx(10 / 20, abs=1e-4)
    assert out["by_subgoal"]["c"] == {"frames": 4, "recall": 0.0, "precision": None}
    assert out["by_subgoal"]["b"]["recall"] == 1.0 and out["by_subgoal"]["b"]["frames"] == 6
    with pytest.raises(ValueError, match="test"):
        gp.probe(goals, labels, np.ones(len(labels), bool), ["a", "b", "c"])
    with pytest.raises(ValueError, match="fewer than 2"):
        gp.probe(goals, np.zeros(len(labels), np.int64), train, ["a", "b", "c"])


def _episode(path, length, subgoal, random, dim=4):
    """A Crafter-like episode whose embedding at frame t is (t, 0, ...): a goal's first entry is its goal time."""
    embeds = [None] * 15 + [np.array([[t] + [0] * (dim - 1)], np.float32) for t in range(15, length)]
    meta = {"sim": "crafter", "subgoal_names": ["collect_wood", "shelter", "eat_cow"]}
    EpisodeStorage(str(path)).write_episode(np.zeros((length, 8, 8, 3), np.uint8), [0] * length, metadata=meta,
                                            embeds=embeds, infos={"subgoal": subgoal, "random_action": random})
    return str(path)


def test_pairs_follow_the_relabeling_and_leave_out_random_frames(tmp_path):
    gp = load_bench_script("goal_probe")
    length = 64
    subgoal = (np.arange(length) // 10 % 3).astype(np.int16)
    random = np.zeros(length, bool)
    random[[5, 33]] = True
    dirs = [_episode(tmp_path / "ep0", length, subgoal, random), _episode(tmp_path / "ep1", length, subgoal, random)]
    settings = {"T": 32, "min_btwn_goals": 15, "max_btwn_goals": 20, "goal_lead": 16, "relabeling": "hindsight",
                "unlock_horizon": 100}
    goals, labels, eps, names = gp.goal_subgoal_pairs(dirs, settings, seed=1)
    assert names == ["collect_wood", "shelter", "eat_cow"]
    assert goals.shape == (len(labels), 4) and goals.dtype == np.float32
    # each chunk's frames in order, the random frames 5 and 33 left out
    from steve1.data.minecraft_dataset import MinecraftDataset

    chunks = MinecraftDataset(dirs, p_uncond=0.0, seed=1, **settings).chunks
    frames = np.concatenate([np.arange(start, start + 32) for _, start in chunks])
    frames_ep = np.concatenate([np.full(32, ep) for ep, _ in chunks])
    keep = ~np.isin(frames, [5, 33])
    np.testing.assert_array_equal(labels, subgoal[frames[keep]].astype(np.int64))
    np.testing.assert_array_equal(eps, frames_ep[keep])
    # every goal time (the goal's entry 0) is at least goal_lead frames ahead of its frame, or the last frame
    ahead = goals[:, 0] - frames[keep]
    assert ((ahead >= 16) | (goals[:, 0] == length - 1)).all() and (ahead > 0).all()
    with pytest.raises(ValueError, match="subgoal"):
        p = tmp_path / "bare"
        EpisodeStorage(str(p)).write_episode(np.zeros((length, 8, 8, 3), np.uint8), [0] * length,
                                             metadata={"sim": "crafter"},
                                             embeds=[None] * 15 + [np.zeros((1, 4), np.float32)] * (length - 15))
        gp.goal_subgoal_pairs([str(p)], settings, seed=1)


def test_bad_flags_end_with_one_line(capsys):
    gp = load_bench_script("goal_probe")
    for argv, msg in ((["--episodes", "4", "--train_episodes", "4"], "--train_episodes 4: must be below"),
                      (["--C", "0"], "--C 0.0: expected a number > 0"),
                      (["--unlock_horizon", "0"], "--unlock_horizon 0: expected an integer >= 1"),
                      (["--out", "x.txt"], "--out x.txt: expected a .json")):
        with pytest.raises(SystemExit) as exc:
            gp.main(argv)
        assert exc.value.code == 2 and msg in capsys.readouterr().err, argv
