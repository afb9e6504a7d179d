"""tasks/crafter/ship_models.sh (shipping trained models, with an optional JSON of extra pipeline.json keys),
tasks/crafter/finetune_and_prior.sh (its bad inputs) and tasks/crafter/train_pipeline.sh (TINY=1 end to end, with
PIPELINE_EXTRA): run as bash scripts from the repository root."""

import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "OMP_NUM_THREADS": "1"})


def _trained_files(tmp: Path) -> list[str]:
    """The 6 inputs ship_models.sh reads, tiny and fake."""
    torch.save({"w": torch.ones(2, 3), "steps": torch.tensor(7)}, tmp / "steve1.weights")
    torch.save({"w": torch.full((4,), 0.5)}, tmp / "prior.weights")
    (tmp / "steve1_args.yaml").write_text("n_frames: 10\n")
    (tmp / "prior_args.yaml").write_text("n_frames: 5\n")
    (tmp / "codebook").mkdir()
    with open(tmp / "codebook" / "centers.pkl", "wb") as f:
        pickle.dump([np.zeros((1, 4))], f)
    (tmp / "codebook" / "codebook.json").write_text("{}")
    (tmp / "ep").mkdir()
    (tmp / "ep" / "len.txt").write_text("123\n")
    (tmp / "train.txt").write_text(f"{tmp / 'ep'}\n")
    return [str(tmp / n) for n in ("steve1.weights", "steve1_args.yaml", "prior.weights", "prior_args.yaml",
                                     "codebook", "train.txt")]


def _ship_dir(path: Path) -> Path:
    path.mkdir()
    (path / "crafterclip.pt").write_bytes(b"clip")
    return path


def test_ship_models_adds_the_extra_keys_to_pipeline_json(tmp_path):
    ship = _ship_dir(tmp_path / "ship")
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"pipeline_seconds_earlier_stage": 12.5, "models_version": 9, "note": "n"}))
    t0 = int(time.time()) - 5
    r = _run("tasks/crafter/ship_models.sh", *_trained_files(tmp_path), str(ship), str(t0), str(extra))
    assert r.returncode == 0, r.stderr
    info = json.loads((ship / "pipeline.json").read_text())
    assert info["pipeline_seconds_earlier_stage"] == 12.5 and info["models_version"] == 9 and info["note"] == "n"
    assert info["train_episodes"] == 1 and info["train_frames"] == 123
    # now - T0 (not a fixed number), rounded to 0.1 s by the script: at most 0.05 s over, plus float slack
    assert 5 <= info["pipeline_seconds_this_invocation"] <= time.time() - t0 + 0.06
    sd = torch.load(ship / "steve1_crafter.weights", weights_only=True)
    assert sd["w"].dtype == torch.float16 and sd["steps"].dtype == torch.int64 and int(sd["steps"]) == 7
    assert (ship / "codebook" / "centers.pkl").exists() and (ship / "goal_prior_crafter_args.yaml").exists()


def test_ship_models_without_extra_and_with_a_bad_extra(tmp_path):
    files = _trained_files(tmp_path)
    ship = _ship_dir(tmp_path / "ship")
    r = _run("tasks/crafter/ship_models.sh", *files, str(ship), "0")
    assert r.returncode == 0, r.stderr
    assert "models_version" not in json.loads((ship / "pipeline.json").read_text())
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    ship2 = _ship_dir(tmp_path / "ship2")
    r = _run("tasks/crafter/ship_models.sh", *files, str(ship2), "0", str(bad))
    assert r.returncode == 2 and "EXTRA_JSON" in r.stderr and "not a JSON object" in r.stderr
    assert sorted(p.name for p in ship2.iterdir()) == ["crafterclip.pt"]  # checked before anything is shipped
    r = _run("tasks/crafter/ship_models.sh", *files, str(ship2), "0", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "missing.json does not exist" in r.stderr


def test_finetune_and_prior_refuses_bad_inputs_before_training(tmp_path):
    r = _run("tasks/crafter/finetune_and_prior.sh", str(tmp_path / "w"))
    assert r.returncode == 2 and "usage:" in r.stderr and "got 1" in r.stderr
    weights = tmp_path / "init.weights"
    weights.write_bytes(b"x")
    r = _run("tasks/crafter/finetune_and_prior.sh", str(tmp_path / "w"), str(weights), str(tmp_path / "centers.pkl"),
             "no_such_split", "1000")
    assert r.returncode == 2 and "centers.pkl does not exist" in r.stderr
    assert not (tmp_path / "w").exists()  # nothing started, nothing written


def _pipeline_env(tmp: Path, extra: Path) -> dict[str, str]:
    return {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "OMP_NUM_THREADS": "1", "TINY": "1",
            "WORK": str(tmp / "w"), "DATA_DIR": str(tmp / "ds"), "SHIP": str(tmp / "ship"),
            "SAMPLINGS": str(tmp / "samplings"), "PIPELINE_EXTRA": str(extra)}


def test_train_pipeline_tiny_ships_with_the_extra_keys_and_refuses_a_bad_extra_first(tmp_path):
    """The one Crafter pipeline script, every stage at TINY budgets (~1 min) on ~6k frames of fresh play data: the
    shipped pipeline.json carries PIPELINE_EXTRA's keys; a PIPELINE_EXTRA that is not a JSON object stops it before
    any stage writes."""
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    r = subprocess.run(["bash", "tasks/crafter/train_pipeline.sh"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60, env=_pipeline_env(tmp_path, bad))
    assert r.returncode == 2 and "PIPELINE_EXTRA" in r.stderr and "not a readable JSON object" in r.stderr
    assert not (tmp_path / "w").exists() and not (tmp_path / "ship").exists()
    r = subprocess.run(["bash", "tasks/crafter/train_pipeline.sh"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60, env={**_pipeline_env(tmp_path, bad), "PIPELINE_EXTRA": "", "STOP_AFTER": "codebook"})
    assert r.returncode == 2 and "STOP_AFTER=codebook" in r.stderr
    assert not (tmp_path / "w").exists() and not (tmp_path / "ship").exists()

    gen = subprocess.run([sys.executable, "-m", "tasks.crafter.generate_play_data", "--config",
                          "configs/crafter/play_data.yaml", "--out_dir", str(tmp_path / "ds"), "--num_frames", "6000",
                          "--workers", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert gen.returncode == 0, gen.stderr[-2000:]
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"pipeline_seconds_play_data": 12.5, "note": "smoke"}))
    # STOP_AFTER=embed: the split and the embeddings, no training; the full run below goes on from them
    r = subprocess.run(["bash", "tasks/crafter/train_pipeline.sh"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600, env={**_pipeline_env(tmp_path, extra), "STOP_AFTER": "embed"})
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "stopping after stage 3" in r.stdout and "4/7" not in r.stdout
    assert (tmp_path / "samplings" / "crafter_seed1_train.txt").stat().st_size > 0
    assert not (tmp_path / "w" / "steve1").exists() and not (tmp_path / "ship" / "pipeline.json").exists()
    r = subprocess.run(["bash", "tasks/crafter/train_pipeline.sh"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600, env=_pipeline_env(tmp_path, extra))
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    info = json.loads((tmp_path / "ship" / "pipeline.json").read_text())
    assert info["pipeline_seconds_play_data"] == 12.5 and info["note"] == "smoke"
    assert info["pipeline_seconds_this_invocation"] > 0
    for name in ("steve1_crafter.weights", "goal_prior_crafter.weights", "crafterclip.pt", "codebook/centers.pkl"):
        assert (tmp_path / "ship" / name).stat().st_size > 0, name
    # the shipped low level is stage 4b's next-unlock fine-tune of stage 4's; the prior has next-unlock labels and
    # its trunk from stage 4's low level (models v7's recipe)
    low = yaml.safe_load((tmp_path / "ship" / "steve1_crafter_args.yaml").read_text())
    prior = yaml.safe_load((tmp_path / "ship" / "goal_prior_crafter_args.yaml").read_text())
    assert low["relabeling"] == "next_unlock"
    assert low["in_weights"].endswith("steve1/weights/steve1_crafter_latest.weights")
    assert low["out_weights"].endswith("steve1_unlock/weights/steve1_crafter.weights")
    assert prior["relabeling"] == "next_unlock" and prior["in_weights"] == low["in_weights"]
