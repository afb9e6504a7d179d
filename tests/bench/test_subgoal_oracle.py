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
