"""bench/dagger_episodes.py on a tiny random low level: episodes are written with the frames the low level acted on,
the shadowing player's actions as labels, zero goal embeddings from frame 15 and the random/asleep flags; a rerun
skips what exists; a bad flag is one line with exit code 2."""
import sys
from pathlib import Path

import numpy as np
import pytest
from bench_testutils import load_bench_script

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def de():
    return load_bench_script("dagger_episodes")


def test_dagger_episodes_end_to_end(de, tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(REPO / "tests" / "bench"))
    from test_pretraining_report import tiny_models_or_skip

    from steve1.data.EpisodeStorage import EpisodeStorage

    root = tiny_models_or_skip(tmp_path / "models", 8, monkeypatch)
    out = tmp_path / "dagger"
    argv = ["--out_dir", str(out), "--highlevel_config", str(root / "highlevel.yaml"), "--first_world", "5",
            "--episodes", "2", "--max_steps", "40", "--n_envs", "2"]
    summary = de.main(argv)
    assert summary["written"] == 2 and 2 <= summary["frames"] <= 80
    for w in (5, 6):
        st = EpisodeStorage(str(out / f"dagger_w{w}"))
        length = st.get_len()
        frames, actions, embeds = st.load_frame_array(), st.load_actions(), st.load_embeds()
        flags = st.load_info("random_action")
        assert frames.shape == (length, 64, 64, 3) and len(actions) == length == len(flags)
        assert all(0 <= a < 17 for a in actions)
        assert all(e is None for e in embeds[:15]) and all(not e.any() and e.shape == (1, 8) for e in embeds[15:])
        assert st.load_metadata()["world_seed"] == w and st.load_metadata()["replan_off_path"] is False
    night = de.main(["--out_dir", str(tmp_path / "night"), "--highlevel_config", str(root / "highlevel.yaml"),
                     "--first_world", "5", "--episodes", "1", "--max_steps", "30", "--n_envs", "1",
                     "--learner_from", "12", "--beta", "0.5", "--replan_off_path"])
    st = EpisodeStorage(str(tmp_path / "night" / "dagger_w5"))
    meta, flags = st.load_metadata(), st.load_info("random_action")
    assert night["written"] == 1 and meta["learner_from"] == 12 and meta["beta"] == 0.5 and meta["replan_off_path"]
    assert flags[:12].all() and 0 < meta["learner_steps"] <= st.get_len() - 12  # the player's opening: no loss
    again = de.main(argv)
    assert again["written"] == 0 and again["skipped_existing"] == 2
    with pytest.raises(SystemExit) as e:
        de.main(["--out_dir", str(out), "--episodes", "0"])
    assert e.value.code == 2 and "--episodes 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        de.main(["--out_dir", str(out), "--beta", "2"])
    assert e.value.code == 2 and "--beta must be in [0, 1]" in capsys.readouterr().err


def test_intent_goals_are_written_as_the_episodes_goals(de, tmp_path):
    """``write_episode(..., goal="intent_oracle")``: frame t's goal is the labelling player's intent in that state."""
    from steve1.data.EpisodeStorage import EpisodeStorage

    so = load_bench_script("subgoal_oracle")
    ta = load_bench_script("teacher_agreement")
    from tasks.crafter.player.rules import SUBGOALS

    shadow = ta.ShadowEnv("teacher", [7], [7], 64, 25, keep_frames=True)
    shadow.reset()
    while not shadow.records:
        shadow.step(0)
    record = shadow.records[0]
    assert len(record["nav_offsets"]) == record["length"] == 25
    path = de.write_episode(str(tmp_path), record, 512, goal="intent_oracle")
    st = EpisodeStorage(path)
    embeds, meta = st.load_embeds(), st.load_metadata()
    assert meta["embedder"] == "intent_oracle" and all(e is None for e in embeds[:15])
    for t in range(15, 25):
        want = so.intent_vector(record["nav_offsets"][t], SUBGOALS.index(record["steps"][t][3]))
        assert np.array_equal(embeds[t][0], want)
    with pytest.raises(ValueError, match="goal must be"):
        de.write_episode(str(tmp_path / "x"), record, 512, goal="prior")
