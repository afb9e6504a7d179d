"""bench/subgoal_oracle.py: the oracle goal embeddings are the one-hot of the recorded sub-goal from frame 15 on,
a dataset already holding another embedder's goals is refused with nothing written, and the report measures a tiny
low level trained for oracle goals end to end on held-out player episodes."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from bench_testutils import load_bench_script

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def so():
    return load_bench_script("subgoal_oracle")


def test_oracle_embeds_are_one_hots_from_frame_15(so):
    sub = np.array([0, 2, 1] * 7)
    embeds = so.oracle_embeds(sub, 4)
    assert len(embeds) == len(sub) and all(e is None for e in embeds[:15])
    for t in range(15, len(sub)):
        assert embeds[t].shape == (1, 4) and embeds[t].dtype == np.float32
        assert embeds[t][0].tolist() == np.eye(4)[sub[t]].tolist()
    with pytest.raises(ValueError, match="outside 0..3"):
        so.oracle_embeds(np.array([0, 4]), 4)


def test_nav_embeds_encode_the_walks_offset(so):
    L = 18
    pos = np.tile(np.array([[30, 30]]), (L, 1))
    nav = np.full((L, 2), -1)
    nav[15] = (33, 28)  # 3 east, 2 north
    nav[16] = (30, 50)  # 20 south: clipped to the edge, the direction kept
    embeds = so.nav_embeds(nav, pos)
    assert all(e is None for e in embeds[:15]) and all(e.shape == (1, so.NAV_DIM) for e in embeds[15:])
    r, n, s = so.NAV_RADIUS, 2 * so.NAV_RADIUS + 1, so.NAV_SCALE
    on = lambda e: np.flatnonzero(e[0]).tolist()  # noqa: E731
    assert on(embeds[15]) == [3 + r, n - 2 + r, 2 * n + 1, 2 * n + 2]  # dx 3, dy -2, dx > 0, dy < 0
    assert on(embeds[16]) == [r, n + 2 * r, 2 * n + 3]  # dx 0 (no x direction), dy clipped to 10, dy > 0
    assert on(embeds[17]) == [so.NAV_FEATURES - 1]  # not walking
    assert all(e.dtype == np.float32 and set(e[0][e[0] != 0].tolist()) == {s} for e in embeds[15:])
    goals = so.nav_goals()
    assert goals.shape == (so.NAV_NONE + 1, so.NAV_DIM) and len(np.unique(goals, axis=0)) == so.NAV_NONE + 1
    assert np.array_equal(goals[so.nav_code((3, -2))], embeds[15][0])
    assert so.nav_code((0, r)) == so.nav_code((0, 99)) and so.nav_code(None) == so.NAV_NONE
    with pytest.raises(ValueError, match="must both be"):
        so.nav_embeds(nav[:3], pos)
    with pytest.raises(ValueError, match="dim must be"):
        so.nav_vector((1, 1), dim=8)


def test_intent_goals_add_the_subgoal(so):
    from tasks.crafter.player.rules import SUBGOALS

    v = so.intent_vector((2, -1), SUBGOALS.index("shelter"))
    assert np.array_equal(v - so.nav_vector((2, -1)), np.eye(so.NAV_DIM, dtype=np.float32)[
        so.NAV_FEATURES + SUBGOALS.index("shelter")] * so.NAV_SCALE)
    goals = so.intent_goals()
    assert goals.shape == (len(SUBGOALS) * (so.NAV_NONE + 1), so.NAV_DIM)
    for offset, k in (((2, -1), 26), (None, 3), ((-10, 10), 0)):
        assert np.array_equal(goals[so.intent_code(offset, k)], so.intent_vector(offset, k))
    with pytest.raises(ValueError, match="subgoal must be"):
        so.intent_vector(None, len(SUBGOALS))


def test_facing_vector(so):
    v = so.facing_vector((0, 1))
    assert np.flatnonzero(v).tolist() == [so.facing_offset() + 3] and v.max() == so.NAV_SCALE
    assert so.facing_offset() >= so.NAV_FEATURES + 28  # after the walk's and the sub-goals' entries
    with pytest.raises(ValueError, match="facing must be"):
        so.facing_vector((1, 1))


def test_embed_nav_target_oracle(so, tmp_path):
    pr = load_bench_script("pretraining_report")
    from steve1.data.EpisodeStorage import EpisodeStorage

    data = tmp_path / "data"
    data.mkdir()
    dirs = pr.generate_player_episodes(str(data), 5, 2, 60, 64)
    assert so.main(["embed", "--data_dir", str(data), "--oracle", "nav_target"])["embedded"] == 2
    st = EpisodeStorage(dirs[0])
    embeds, infos = st.load_embeds(), st.load_infos()
    assert st.load_metadata()["embedder"] == so.NAV_EMBEDDER and st.load_metadata()["embed_dim"] == so.NAV_DIM
    for t in range(15, len(embeds)):
        nav = infos["nav_target"][t]
        want = so.nav_vector(None if nav[0] < 0 else nav - infos["player_pos"][t])
        assert np.array_equal(embeds[t][0], want)
    assert so.main(["embed", "--data_dir", str(data), "--oracle", "intent", "--overwrite"])["embedded"] == 2
    embeds = st.load_embeds()
    assert st.load_metadata()["embedder"] == so.INTENT_EMBEDDER
    for t in range(15, len(embeds)):
        nav = infos["nav_target"][t]
        want = so.intent_vector(None if nav[0] < 0 else nav - infos["player_pos"][t], int(infos["subgoal"][t]))
        assert np.array_equal(embeds[t][0], want)
    so.main(["embed", "--data_dir", str(data), "--oracle", "intent_facing", "--overwrite"])
    both = st.load_embeds()
    for t in range(15, len(embeds)):
        assert np.array_equal(both[t][0], embeds[t][0] + so.facing_vector(infos["facing"][t]))


def test_embed_and_report_end_to_end(so, tmp_path, monkeypatch, capsys):
    pr = load_bench_script("pretraining_report")
    from steve1.data.EpisodeStorage import EpisodeStorage
    from tasks.crafter.player.rules import SUBGOALS

    data = tmp_path / "data"
    data.mkdir()
    dirs = pr.generate_player_episodes(str(data), 5, 2, 40, 64)
    assert so.main(["embed", "--data_dir", str(data)])["embedded"] == 2
    st = EpisodeStorage(dirs[0])
    embeds, sub = st.load_embeds(), st.load_infos()["subgoal"]
    assert embeds[14] is None and int(np.argmax(embeds[20][0])) == int(sub[20])
    assert st.load_metadata()["embedder"] == "subgoal_oracle"
    again = so.main(["embed", "--data_dir", str(data)])  # a rerun keeps what is there
    assert again["embedded"] == 0 and again["skipped_existing"] == 2
    # another embedder's goals: refused, one line, exit 2, the embeddings untouched
    st.update_metadata({"embedder": "crafterclip"})
    before = (Path(dirs[1]) / "embeds_attn.pkl").read_bytes()
    with pytest.raises(SystemExit) as e:
        so.main(["embed", "--data_dir", str(data)])
    err = capsys.readouterr().err  # the shared embedders' refusal (embed_episodes.plan), naming the other embedder
    assert e.value.code == 2 and "another goal embedder" in err and "crafterclip" in err
    assert (Path(dirs[1]) / "embeds_attn.pkl").read_bytes() == before

    sys.path.insert(0, str(REPO / "tests" / "bench"))
    from test_pretraining_report import _tiny_models

    root = _tiny_models(tmp_path / "models", len(SUBGOALS))
    monkeypatch.chdir(REPO)
    out = tmp_path / "oracle.json"
    result = so.main(["report", "--model", f"oracle,{root / 'low.weights'},subgoal_oracle",
                      "--highlevel_config", str(root / "highlevel.yaml"), "--episodes", "2",
                      "--max_episode_len", "60", "--seed", "3", "--out", str(out)])
    data_out = json.loads(out.read_text())
    assert data_out == json.loads(json.dumps(result)) and data_out["complete"]
    g = data_out["models"]["oracle"]
    assert g["embedder"] == "subgoal_oracle" and g["frames"] > 0
    assert g["gap"] == pytest.approx(g["nll_no_goal"] - g["nll_true_goal"], abs=2e-4)
    with pytest.raises(SystemExit) as e:
        so.main(["report", "--model", "oracle,missing.weights,subgoal_oracle"])
    assert e.value.code == 2 and "missing.weights does not exist" in capsys.readouterr().err
