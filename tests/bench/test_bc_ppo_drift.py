"""bench/bc_ppo_drift.py: how far one PPO update moves bc_ppo from the BC policy (shipped Crafter models, a tiny
rollout)."""
import json

import pytest
from bench_testutils import load_bench_script


@pytest.fixture(scope="module")
def drift():
    return load_bench_script("bc_ppo_drift")


def test_variants_parse_and_bad_ones_get_one_line(drift, tmp_path, capsys):
    assert drift.parse_variant("default") == ("default", {})
    assert drift.parse_variant("v:value_init=zero,learning_rate=3e-5,n_epochs=1") == \
        ("v", {"value_init": "zero", "learning_rate": 3e-5, "n_epochs": 1})
    for bad, msg in (("v:lr=1", "not key=value"), ("v:n_epochs=x", "must be a int"), (":vf_coef=0", "no name"),
                     ("v:value_init=ones", "value_init must be")):
        with pytest.raises(ValueError, match=msg):
            drift.parse_variant(bad)
    out = tmp_path / "d.json"
    assert drift.main(["--out", str(out), "--variants", "a", "a"]) == 2
    assert drift.main(["--out", str(out), "--task", "no_such_task"]) == 2
    assert drift.main(["--out", str(out), "--n_steps", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("bc_ppo_drift: ") for line in err)
    assert not out.exists()


def test_a_tiny_update_moves_the_policy_and_a_zero_lr_does_not(drift, tmp_path):
    out = tmp_path / "d.json"
    data = drift.main(["--out", str(out), "--n_envs", "1", "--n_steps", "64", "--variants",
                       "moved:batch_size=32,n_epochs=2,learning_rate=1e-3", "still:batch_size=32,learning_rate=0"])
    moved, still = data["variants"]
    assert json.loads(out.read_text()) == data and data["command"].startswith("python bench/bc_ppo_drift.py")
    assert moved["steps"] == still["steps"] == 64 and moved["finite"]
    # the same rollout (same seed, the BC policy collects it in both): the same BC entropy on it
    assert moved["entropy_bc"] == pytest.approx(still["entropy_bc"], abs=1e-6)
    # lr 0: Adam moves nothing, so the policy is the BC policy (KL 0 up to float32 rounding of one log-softmax)
    assert still["kl_mean"] < 1e-4 and still["argmax_agreement"] == 1.0
    assert moved["kl_mean"] > 10 * max(still["kl_mean"], 1e-4)
