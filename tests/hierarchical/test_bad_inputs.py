"""Every bad input to ppo_highlevel.py ends with one line naming the flag or file, exit code 2, and writes nothing.

One test per row of issue 17's table (garbage codebook, negative kl_reward, codebook of the wrong goal size, a
truncated checkpoint with and without its run directory, budgets of 0 or less, n_envs / low_level_steps 0, bad
weights files), on the tiny models of ``highlevel_testutils`` (the Crafter task, real loaders).
"""
from __future__ import annotations

import hashlib
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from highlevel_testutils import GOAL_DIM, N_CODES, write_tiny_highlevel_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny model files and a high-level config that trains in seconds; one finished run to resume from."""
    root = tmp_path_factory.mktemp("bad_inputs")
    config, files = write_tiny_highlevel_config(root, env_steps=18, print_freq=0, kl_reward=0.1)
    import ppo_highlevel

    torch.set_num_threads(1)
    results = ppo_highlevel.main(["--config", "crafter_stone_pickaxe", "--highlevel_config", str(config),
                                  "--results_dir", str(root / "results"), "--name", "tiny", "--cpu"])
    return {"root": root, "files": files, "config": config, "run_dir": Path(results["final_checkpoint"]).parents[1]}


def fail_line(capsys, argv: list[str]) -> str:
    """Run ppo_highlevel.main(argv); assert exit code 2 and exactly one line on stderr; return that line."""
    import ppo_highlevel

    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        ppo_highlevel.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("ppo_highlevel.py: error: ")
    return err[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its content hash (empty if the folder does not exist)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def base(tiny, results: Path) -> list[str]:
    return ["--config", "crafter_stone_pickaxe", "--highlevel_config", str(tiny["config"]), "--results_dir",
            str(results), "--cpu"]


def test_garbage_codebook(tiny, tmp_path, capsys):
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(np.random.default_rng(0).bytes(1000))
    line = fail_line(capsys, base(tiny, tmp_path / "results") + ["--codebook", str(garbage)])
    assert "--codebook" in line and "garbage.pkl" in line and "not a readable pickle" in line
    assert not (tmp_path / "results").exists()


def test_negative_kl_reward(tiny, tmp_path, capsys):
    line = fail_line(capsys, base(tiny, tmp_path / "results") + ["--kl_reward", "-1"])
    assert line.endswith("--kl_reward: kl_reward must be null or a number >= 0 (the weight of the KL penalty), got -1.0")
    assert not (tmp_path / "results").exists()


def test_codebook_of_the_wrong_goal_size_blames_the_codebook(tiny, tmp_path, capsys):
    codebook = tmp_path / "centers.pkl"
    with open(codebook, "wb") as f:
        pickle.dump([np.ones((1, 2 * GOAL_DIM)) * k for k in range(1, N_CODES + 1)], f)
    line = fail_line(capsys, base(tiny, tmp_path / "results") + ["--codebook", str(codebook)])
    assert "--codebook" in line and f"goals of size {2 * GOAL_DIM}" in line and f"goals of size {GOAL_DIM}" in line
    assert "weights" not in line.split("takes")[0]  # the codebook is blamed, not the weights
    assert not (tmp_path / "results").exists()


def _copy_run(tiny, tmp_path) -> Path:
    run_dir = tmp_path / "results" / tiny["run_dir"].name
    shutil.copytree(tiny["run_dir"], run_dir)
    return run_dir


def test_truncated_checkpoint_changes_nothing_in_its_run(tiny, tmp_path, capsys):
    run_dir = _copy_run(tiny, tmp_path)
    ckpt = sorted((run_dir / "checkpoints").glob("iter_*.zip"))[-1]
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    before = snapshot(run_dir)
    line = fail_line(capsys, ["--load", str(ckpt), "--env_steps", "40", "--cpu"])
    assert f"--load {ckpt}: not a readable checkpoint of this run" in line
    assert snapshot(run_dir) == before  # config.yaml still says env_steps 18
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["env_steps"] == 18


def test_truncated_checkpoint_outside_a_run_directory(tiny, tmp_path, capsys):
    ckpt = tmp_path / "lonely.zip"
    ckpt.write_bytes((tiny["run_dir"] / "checkpoints" / "final.zip").read_bytes()[:500])
    line = fail_line(capsys, ["--load", str(ckpt), "--cpu"])
    assert f"--load {ckpt}: not a checkpoint of a run directory" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lonely.zip"]


@pytest.mark.parametrize("value", ["0", "-5"])
def test_budget_of_zero_or_less(tiny, tmp_path, capsys, value):
    line = fail_line(capsys, base(tiny, tmp_path / "results") + ["--env_steps", value])
    assert line.endswith(f"--env_steps: env_steps must be null or an integer >= 1 (env steps), got {value}")
    line = fail_line(capsys, base(tiny, tmp_path / "results") + ["--steps", value])
    assert "--steps: steps must be null or an integer >= 1 (high-level steps)" in line
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("flag", ["--n_envs", "--low_level_steps"])
def test_zero_counts_name_the_flag_not_the_config_file(tiny, tmp_path, capsys, flag):
    line = fail_line(capsys, base(tiny, tmp_path / "results") + [flag, "0"])
    assert line.startswith(f"ppo_highlevel.py: error: {flag}: {flag[2:]} must be an integer >= 1")
    assert "highlevel.yaml" not in line
    assert not (tmp_path / "results").exists()


def test_a_bad_value_in_the_config_file_names_the_file_and_key(tiny, tmp_path, capsys):
    cfg = yaml.safe_load(tiny["config"].read_text())
    cfg["gamma"] = 1.5
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(cfg))
    line = fail_line(capsys, ["--config", "crafter_stone_pickaxe", "--highlevel_config", str(config), "--results_dir",
                              str(tmp_path / "results"), "--cpu"])
    assert f"{config} key 'gamma': gamma must be a number in (0, 1], got 1.5" in line
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("case", ["truncated_weights", "missing_weights", "wrong_size_codebook"])
def test_bad_model_files_leave_no_run_folder(tiny, tmp_path, capsys, case):
    results = tmp_path / "results"
    if case == "truncated_weights":
        weights = tmp_path / "low_level.weights"
        weights.write_bytes(tiny["files"]["in_weights"].read_bytes()[:1000])
        line = fail_line(capsys, base(tiny, results) + ["--in_weights", str(weights)])
        assert "--in_weights" in line and "truncated or corrupt" in line
    elif case == "missing_weights":
        line = fail_line(capsys, base(tiny, results) + ["--in_weights", str(tmp_path / "nope.weights")])
        assert "--in_weights" in line and "nope.weights" in line
    else:  # N_CODES + 2 codes, but the prior has N_CODES outputs
        codebook = tmp_path / "centers.pkl"
        with open(codebook, "wb") as f:
            pickle.dump([np.ones((1, GOAL_DIM)) * k for k in range(1, N_CODES + 3)], f)
        line = fail_line(capsys, base(tiny, results) + ["--codebook", str(codebook)])
        assert str(N_CODES) in line and str(N_CODES + 2) in line
    assert not results.exists()


def test_cli_prints_one_line_and_no_traceback(tiny, tmp_path):
    proc = subprocess.run([sys.executable, "ppo_highlevel.py", *base(tiny, tmp_path / "results"), "--kl_reward", "-1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "ppo_highlevel.py: error: --kl_reward: kl_reward must be null or a number >= 0 (the weight of the KL penalty), got -1.0"]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
