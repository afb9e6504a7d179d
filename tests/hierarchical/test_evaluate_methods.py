"""ppo_highlevel.py --method ppo (the PPO-ResNet recipe, tiny width) trains and resumes with --load, and
hierarchical/evaluate.py reports on a ppo checkpoint and a ptgm checkpoint the same way (Crafter, tiny files)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from highlevel_testutils import N_CODES, write_tiny_highlevel_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate_methods")
    config, _ = write_tiny_highlevel_config(root)
    torch.set_num_threads(1)
    return {"root": root, "config": config}


def _train(tiny, method, *flags):
    import ppo_highlevel

    return ppo_highlevel.main(["--config", "crafter_wood", "--highlevel_config", str(tiny["config"]), "--method",
                               method, "--results_dir", str(tiny["root"] / method), "--name", "run", "--cpu",
                               "--seed", "3", *flags])


@pytest.fixture(scope="module")
def ppo_run(tiny):
    """One PPO update of 2 envs x 8 env steps with a [2, 4, 4] trunk, then resumed for a second update."""
    first = _train(tiny, "ppo", "--impala_chans", "2", "4", "4", "--n_envs", "2", "--steps_per_iter", "8",
                   "--batch_size", "8", "--env_steps", "16")
    import ppo_highlevel

    resumed = ppo_highlevel.main(["--load", first["final_checkpoint"], "--env_steps", "32", "--cpu"])
    return first, resumed


def test_ppo_recipe_trains_and_resumes_from_its_checkpoint(ppo_run):
    from hierarchical.flat_ppo import FlatPPO, ValueNormPolicy

    first, resumed = ppo_run
    assert first["method"] == resumed["method"] == "ppo"
    # one update of 2 x 8 env steps (+ 1 step per env of the rollout that finds the budget reached), then a second
    assert first["iterations"] == 1 and 16 <= first["env_steps"] <= 18
    assert resumed["iterations"] == 2 and 32 <= resumed["env_steps"] <= 36
    run_dir = Path(first["final_checkpoint"]).parent.parent
    assert Path(resumed["final_checkpoint"]).parent.parent == run_dir  # same run directory
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert cfg["impala_chans"] == [2, 4, 4] and cfg["gamma"] == 0.95 and cfg["gae_lambda"] == 0.65
    model = FlatPPO.load(resumed["final_checkpoint"], device="cpu")
    assert isinstance(model.policy, ValueNormPolicy) and model.n_steps == 8 and model.n_epochs == 3
    # the normalizer went on from the checkpoint: two EWMA steps (beta 0.99), not one
    assert float(model.policy.value_normalizer.debiasing_term) == pytest.approx(1 - 0.99**2)


def _evaluate(checkpoint, out, n=3):
    from hierarchical.evaluate import main as evaluate_main

    report = evaluate_main(["--checkpoint", str(checkpoint), "--n_episodes", str(n), "--n_gifs", "1", "--seed", "5",
                            "--cpu", "--out", str(out)])
    assert json.loads(Path(out).read_text()) == json.loads(json.dumps(report))
    # the resolved settings beside the report: the flags over configs/evaluation.yaml
    settings = yaml.safe_load(Path(out).with_name(Path(out).stem + "_config.yaml").read_text())
    defaults = yaml.safe_load((REPO / "configs/evaluation.yaml").read_text())
    assert settings == dict(defaults, n_episodes=n, n_gifs=1, seed=5)
    return report


def _check_report(report, n, max_len):
    from hierarchical.evaluate import wilson_interval

    assert report["n_episodes"] == n == len(report["episode_lengths"]) == len(report["episode_death_causes"])
    assert all(1 <= length <= max_len for length in report["episode_lengths"])
    lo, hi = report["success_ci95"]
    assert 0 <= lo <= report["success_rate"] <= hi <= 1
    assert (lo, hi) == pytest.approx(wilson_interval(report["successes"], n))
    assert sum(report["death_causes"].values()) == sum(d is not None for d in report["episode_death_causes"])
    assert len(report["gifs"]) == 1 and Path(report["gifs"][0]).is_file()
    from tasks.crafter.env import ACHIEVEMENTS

    assert len(report["episode_achievements"]) == n  # one list per episode, names Crafter knows, sorted
    assert all(a == sorted(a) and set(a) <= set(ACHIEVEMENTS) for a in report["episode_achievements"])
    assert "benchmark_score" not in report  # crafter_wood's spec sets no benchmark score


def test_evaluate_a_ppo_checkpoint(ppo_run, tmp_path):
    first, resumed = ppo_run
    log = Path(first["final_checkpoint"]).parent.parent / "episodes.jsonl"
    logged = log.read_text()
    report = _evaluate(resumed["final_checkpoint"], tmp_path / "ppo.json")
    assert report["method"] == "ppo"
    _check_report(report, 3, 8)
    assert report["episode_decisions"] == report["episode_lengths"]  # flat: one decision per env step
    assert "code_counts" not in report  # no codebook
    assert log.read_text() == logged  # evaluation does not write into the training episode log


@pytest.fixture(scope="module")
def ptgm_run(tiny):
    return _train(tiny, "ptgm", "--env_steps", "18")


def test_evaluate_a_ptgm_checkpoint(ptgm_run, tmp_path):
    results = ptgm_run
    run_dir = Path(results["final_checkpoint"]).parent.parent
    logged = (run_dir / "episodes.jsonl").read_text().splitlines() if (run_dir / "episodes.jsonl").is_file() else []
    report = _evaluate(results["final_checkpoint"], tmp_path / "ptgm.json", n=2)
    assert report["method"] == "ptgm"
    _check_report(report, 2, 8)
    assert all(d <= length for d, length in zip(report["episode_decisions"], report["episode_lengths"]))
    # every decision of every episode picked one code of the codebook
    assert sum(report["code_counts"].values()) == sum(report["episode_decisions"])
    assert report["n_codes"] == N_CODES and all(0 <= int(c) < N_CODES for c in report["code_counts"])
    shares = np.array(list(report["code_counts"].values())) / sum(report["code_counts"].values())
    assert report["code_entropy"] == pytest.approx(-(shares * np.log(shares)).sum(), rel=1e-9)
    assert 0 <= report["code_entropy"] <= np.log(N_CODES) + 1e-12
    after = (run_dir / "episodes.jsonl").read_text().splitlines() if (run_dir / "episodes.jsonl").is_file() else []
    assert after == logged  # evaluation does not write into the training episode log


def test_evaluate_a_steve1_prompt_run_by_its_run_directory(ptgm_run, tmp_path):
    """A steve1_prompt run has no checkpoint: its config and prompt goal (a one-code codebook) are evaluated."""
    import shutil

    from hierarchical.evaluate import main as evaluate_main

    src = Path(ptgm_run["final_checkpoint"]).parent.parent
    cfg = yaml.safe_load((src / "config.yaml").read_text())
    run_dir = tmp_path / "prompt_run"
    (run_dir / "prompt_goal").mkdir(parents=True)
    shutil.copy(cfg["codebook"], run_dir / "prompt_goal" / "centers.pkl")  # stands in for the prompt's goal
    (run_dir / "config.yaml").write_text(yaml.safe_dump(dict(cfg, method="steve1_prompt")))
    report = evaluate_main(["--run_dir", str(run_dir), "--n_episodes", "2", "--n_gifs", "1", "--cpu"])
    assert report["method"] == "steve1_prompt" and report["checkpoint"] is None
    _check_report(report, 2, 8)
    assert (run_dir / "eval" / "steve1_prompt_seed0.json").is_file()
    assert (run_dir / "eval" / "steve1_prompt_seed0_config.yaml").is_file()
    with pytest.raises(SystemExit):  # a checkpoint-less evaluation of a trained method is refused
        evaluate_main(["--run_dir", str(src), "--n_episodes", "1", "--cpu"])


def test_evaluate_needs_exactly_one_of_checkpoint_and_run_dir(capsys):
    from hierarchical.evaluate import main as evaluate_main

    with pytest.raises(SystemExit) as exc:
        evaluate_main(["--n_episodes", "1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--checkpoint" in err[0] and "--run_dir" in err[0]
