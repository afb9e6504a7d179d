"""ppo_highlevel.py end to end on tiny files (Crafter task, real HighlevelVecEnv + SB3 PPO), resume, evaluation."""
from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from highlevel_testutils import write_tiny_highlevel_config

REPO = Path(__file__).resolve().parents[2]

REQUIRED_FLAGS = ["--config", "--discrete", "--goal_prior", "--kl_reward", "--kl_direction", "--low_level_steps",
                  "--steps_per_iter", "--batch_size", "--n_epochs", "--lr", "--gamma", "--codebook", "--in_model",
                  "--in_weights", "--prior_weights", "--weights", "--cond_scale", "--steps", "--env_steps", "--n_envs",
                  "--load", "--seed", "--cpu", "--device", "--initialize_with_prior", "--name", "--results_dir"]


def test_help_lists_every_flag():
    out = subprocess.run([sys.executable, "ppo_highlevel.py", "--help"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    missing = [f for f in REQUIRED_FLAGS if f not in out]
    assert not missing, f"--help lacks {missing}"


def test_minecraft_task_without_minedojo_fails_fast(capsys):
    if importlib.util.find_spec("minedojo") is not None:
        pytest.skip("minedojo is installed")
    import ppo_highlevel

    with pytest.raises(SystemExit) as exc:
        ppo_highlevel.main(["--config", "log_plains", "--cpu"])
    msg = capsys.readouterr().err
    assert exc.value.code == 2 and "minedojo" in msg and "install" in msg


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One short training run: 2 PPO iterations of 2 envs x 3 decisions x 3 env steps on crafter_wood."""
    root = tmp_path_factory.mktemp("ppo_highlevel")
    config, files = write_tiny_highlevel_config(root, n_epochs=2, env_steps=30, kl_reward=0.1)
    import ppo_highlevel

    torch.set_num_threads(1)
    results = ppo_highlevel.main(["--config", "crafter_wood", "--highlevel_config", str(config), "--results_dir",
                                  str(root / "results"), "--name", "tiny", "--cpu", "--seed", "3"])
    run_dir = Path(results["final_checkpoint"]).parent.parent
    return {"root": root, "files": files, "config": config, "results": results, "run_dir": run_dir}


def test_training_run_writes_artefacts(tiny_run):
    run_dir, results = tiny_run["run_dir"], tiny_run["results"]
    assert run_dir.name.startswith("tiny_") and run_dir.parent == tiny_run["root"] / "results"
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert cfg["seed"] == 3 and cfg["low_level_steps"] == 3 and cfg["config"] == "crafter_wood"
    from sb3_vpt.logging import read_stats

    rows = read_stats(run_dir / "stats.csv")
    assert len(rows) == 2 and results["iterations"] == 2
    assert [int(r["high_level_steps"]) for r in rows] == [6, 12]
    assert 0 < int(rows[0]["env_steps"]) <= 18 and int(rows[1]["env_steps"]) > int(rows[0]["env_steps"])
    assert float(rows[0]["reward_kl"] or 0) <= 0
    assert results["env_steps"] >= int(rows[-1]["env_steps"]) >= 30 - 18
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").glob("*.zip"))
    assert ckpts == ["final.zip", "iter_000001_envsteps_%s.zip" % rows[0]["env_steps"],
                     "iter_000002_envsteps_%s.zip" % rows[1]["env_steps"]]
    assert (run_dir / "results.json").is_file() and json.loads((run_dir / "results.json").read_text())["env_steps"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"histograms": 0})  # keep every histogram
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"charts/env_steps", "charts/high_level_steps", "charts/fps"} <= tags
    assert any(t.startswith("losses/") for t in tags)  # SB3's train/* of the first update, re-tagged
    # which codes the high level chose: 6 decisions per rollout (steps_per_iter 3 x 2 envs) over the codebook
    assert {"actions/usage_entropy", "actions/top_share"} <= tags
    from goal_prior.codebook import KMeansCodebook

    n_codes = len(KMeansCodebook(str(tiny_run["files"]["codebook"])).codes)
    for event in acc.Scalars("actions/usage_entropy"):
        assert 0 <= event.value <= math.log(min(6, n_codes)) + 1e-6
    for event in acc.Scalars("actions/top_share"):
        assert 1 / 6 - 1e-6 <= event.value <= 1
    histograms = acc.Histograms("actions/chosen")
    assert len(histograms) == 2 and all(h.histogram_value.num == 6 for h in histograms)


def _load(path):
    from stable_baselines3 import PPO

    return PPO.load(path, device="cpu")


def _same_model(a, b):
    sa, sb = a.policy.state_dict(), b.policy.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0)
    oa, ob = a.policy.optimizer.state_dict(), b.policy.optimizer.state_dict()
    assert oa["param_groups"] == ob["param_groups"]
    assert oa["state"].keys() == ob["state"].keys() and len(oa["state"]) > 0
    for k in oa["state"]:
        for name in oa["state"][k]:
            torch.testing.assert_close(oa["state"][k][name], ob["state"][k][name], rtol=0, atol=0)


def test_load_resumes_identically_then_continues(tiny_run):
    import ppo_highlevel
    from sb3_vpt.logging import load_checkpoint_state, read_stats

    run_dir = tiny_run["run_dir"]
    ckpt = sorted((run_dir / "checkpoints").glob("iter_000001_*.zip"))[0]
    state = load_checkpoint_state(ckpt)
    assert state["counters"]["iteration"] == 1 and state["counters"]["high_level_steps"] == 6
    # budget already reached at the checkpoint: nothing is trained, the model is saved back unchanged
    res = ppo_highlevel.main(["--load", str(ckpt), "--env_steps", str(state["counters"]["env_steps"]), "--cpu"])
    assert res["env_steps"] == state["counters"]["env_steps"] and res["iterations"] == 1
    resumed = _load(run_dir / "checkpoints" / "final.zip")
    _same_model(_load(ckpt), resumed)
    assert resumed.num_timesteps == 6 and resumed._n_updates == _load(ckpt)._n_updates == 2  # 1 iteration x 2 epochs
    # a larger budget continues training from the checkpoint's counters
    res = ppo_highlevel.main(["--load", str(ckpt), "--env_steps", str(state["counters"]["env_steps"] + 10),
                              "--cpu"])
    assert res["iterations"] == 2 and res["env_steps"] > state["counters"]["env_steps"]
    rows = read_stats(run_dir / "stats.csv")
    assert [int(r["iteration"]) for r in rows] == [1, 2]
    assert _load(run_dir / "checkpoints" / "final.zip").num_timesteps >= 12


def test_missing_model_file_is_a_clear_error(tiny_run, tmp_path, capsys):
    import ppo_highlevel

    with pytest.raises(SystemExit) as exc:
        ppo_highlevel.main(["--config", "crafter_wood", "--highlevel_config", str(tiny_run["config"]),
                            "--prior_weights", str(tmp_path / "nope.weights"), "--results_dir", str(tmp_path), "--cpu"])
    msg = capsys.readouterr().err
    assert exc.value.code == 2 and "--prior_weights" in msg and "nope.weights" in msg and "train_goal_prior.sh" in msg
    assert not list(tmp_path.iterdir())  # failed before creating a run directory


def test_evaluate_writes_report_and_gif(tiny_run, tmp_path):
    from hierarchical.evaluate import main as evaluate_main, wilson_interval

    out = tmp_path / "eval.json"
    report = evaluate_main(["--checkpoint", str(tiny_run["run_dir"] / "checkpoints" / "final.zip"),
                            "--n_episodes", "2", "--n_gifs", "1", "--seed", "5", "--cpu", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["n_episodes"] == 2 and len(saved["episode_lengths"]) == 2
    assert all(1 <= length <= 8 for length in saved["episode_lengths"])
    # 8-step episodes end at the limit, not in death
    assert saved["episode_death_causes"] == [None, None] and saved["death_causes"] == {}
    lo, hi = saved["success_ci95"]
    assert (lo, hi) == pytest.approx(wilson_interval(saved["successes"], 2))
    assert len(report["gifs"]) == 1 and Path(report["gifs"][0]).is_file()


def test_wilson_interval_known_values():
    from hierarchical.evaluate import wilson_interval

    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
