"""ppo_highlevel.py on Ctrl-C / SIGTERM (tiny Crafter run, real HighlevelVecEnv + SB3 PPO): the run stops at the
next high-level step, checkpoints the last PPO update with the counters of the last finished rollout, prints the
checkpoint and the resume command, exits 130 (143) without final.zip/results.json, and ``--load`` of the printed
checkpoint continues from its env-step count with its parameters and optimizer state."""
from __future__ import annotations

import copy
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from highlevel_testutils import write_tiny_files

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    """A high-level config over tiny files: 2 envs x 3 decisions x 3 env steps per PPO iteration, no periodic
    checkpoint, a budget of 40 env steps (at least 3 iterations)."""
    root = tmp_path_factory.mktemp("interrupt")
    files = write_tiny_files(root / "files")
    cfg = yaml.safe_load((REPO / "configs/crafter/highlevel.yaml").read_text())
    cfg.update(in_model=str(files["low_level_model"]), in_weights=str(files["in_weights"]),
               weights=str(files["weights"]), prior_weights=str(files["prior_weights"]),
               codebook=str(files["codebook"]),
               low_level_steps=3, steps_per_iter=3, batch_size=6, n_epochs=2, n_envs=2, steps=None, env_steps=40,
               save_freq=0, print_freq=1, env_overrides={"max_steps": 8}, kl_reward=0.1)
    path = root / "highlevel.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return root, path


def _state(model):
    """Copies of the policy parameters and the optimizer state."""
    return ({k: v.detach().clone() for k, v in model.policy.state_dict().items()},
            copy.deepcopy(model.policy.optimizer.state_dict()))


def _assert_same_state(a, b):
    (pa, oa), (pb, ob) = a, b
    assert pa.keys() == pb.keys()
    for k in pa:
        assert torch.equal(pa[k], pb[k]), k
    assert oa["param_groups"] == ob["param_groups"]
    assert oa["state"].keys() == ob["state"].keys() and len(oa["state"]) > 0  # Adam moments of a trained model
    for k in oa["state"]:
        for name in oa["state"][k]:
            assert torch.equal(oa["state"][k][name], ob["state"][k][name]), (k, name)


def test_sigint_mid_rollout_checkpoints_the_last_update_and_load_continues(tiny_config, monkeypatch, capsys):
    import ppo_highlevel
    from stable_baselines3 import PPO

    from sb3_vpt.logging import HighLevelLogger, load_checkpoint_state, read_stats
    from steve1.utils.interrupt import Interrupted

    root, config = tiny_config
    torch.set_num_threads(1)
    seen = {}
    original_on_step = HighLevelLogger._on_step

    def on_step_with_sigint(self):
        # second decision of the second rollout (2 envs: 6 high-level steps per rollout): Ctrl-C mid-rollout
        if self.iteration == 1 and self.num_timesteps == 6 + 2 * 2 and "at_sigint" not in seen:
            seen["at_sigint"] = _state(self.model)
            os.kill(os.getpid(), signal.SIGINT)
        return original_on_step(self)

    monkeypatch.setattr(HighLevelLogger, "_on_step", on_step_with_sigint)
    with pytest.raises(Interrupted) as exc:
        ppo_highlevel.main(["--config", "crafter_wood", "--highlevel_config", str(config), "--results_dir",
                            str(root / "results"), "--name", "cut", "--cpu", "--seed", "3"])
    monkeypatch.setattr(HighLevelLogger, "_on_step", original_on_step)
    assert exc.value.code == 130 and "at_sigint" in seen
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    out = capsys.readouterr().out.splitlines()
    ckpt = Path(exc.value.checkpoint)
    run_dir = ckpt.parent.parent
    rows = read_stats(run_dir / "stats.csv")
    assert len(rows) == 1  # the second rollout was abandoned: no row, no update
    env_steps = int(rows[0]["env_steps"])
    assert ckpt.name == f"iter_000001_envsteps_{env_steps}.zip" and ckpt.is_file()
    assert f"interrupted by SIGINT: checkpoint saved to {ckpt} ({env_steps} env steps, 1 PPO iteration)" in out
    assert f"resume with: python ppo_highlevel.py --load {ckpt} --cpu" in out
    assert not (run_dir / "checkpoints" / "final.zip").exists() and not (run_dir / "results.json").exists()
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("*.zip")) == [ckpt.name]
    # the checkpoint: the parameters and optimizer of the first update, the counters of the first rollout
    counters = load_checkpoint_state(ckpt)["counters"]
    assert counters == {"env_steps": env_steps, "iteration": 1, "high_level_steps": 6,
                        "episodes": int(rows[0]["episodes"])}
    saved = PPO.load(ckpt, device="cpu")
    assert saved.num_timesteps == 6 and saved._n_updates == 2  # 1 iteration x 2 epochs
    _assert_same_state(_state(saved), seen["at_sigint"])

    # resume with the printed command: learn() starts from the saved counters, parameters and optimizer
    command = shlex.split(out[-1][len("resume with: "):])
    assert command[:2] == ["python", "ppo_highlevel.py"]
    original_start = HighLevelLogger._on_training_start

    def on_training_start(self):
        seen["at_resume"] = (_state(self.model), self.model.num_timesteps, self.env_steps, self.iteration)
        return original_start(self)

    monkeypatch.setattr(HighLevelLogger, "_on_training_start", on_training_start)
    results = ppo_highlevel.main(command[2:])
    state, num_timesteps, resumed_env_steps, iteration = seen["at_resume"]
    _assert_same_state(state, seen["at_sigint"])
    assert (num_timesteps, resumed_env_steps, iteration) == (6, env_steps, 1)
    rows = read_stats(run_dir / "stats.csv")
    assert [int(r["iteration"]) for r in rows][:2] == [1, 2] and int(rows[0]["env_steps"]) == env_steps
    assert int(rows[1]["high_level_steps"]) == 12 and int(rows[1]["env_steps"]) > env_steps
    assert results["env_steps"] >= 40 - 18 and (run_dir / "results.json").is_file()


def test_sigterm_to_the_script_saves_and_exits_143(tiny_config):
    """The real signal path: ``python ppo_highlevel.py`` gets SIGTERM once its first PPO iteration is logged."""
    root, config = tiny_config
    cfg = yaml.safe_load(config.read_text())
    cfg.update(env_steps=10**6)
    big = root / "highlevel_big.yaml"
    big.write_text(yaml.safe_dump(cfg))
    results = root / "results_term"
    proc = subprocess.Popen([sys.executable, "ppo_highlevel.py", "--config", "crafter_wood", "--highlevel_config",
                             str(big), "--results_dir", str(results), "--name", "term", "--cpu", "--seed", "4"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        deadline = time.monotonic() + 120
        while not list(results.glob("term_*/stats.csv")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(results.glob("term_*/stats.csv")), proc.communicate(timeout=30)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, (out, err)
    assert "Traceback" not in err, err
    from sb3_vpt.logging import load_checkpoint_state, read_stats

    (run_dir,) = results.glob("term_*")
    lines = [line for line in out.splitlines() if line.startswith(("interrupted by", "resume with"))]
    assert len(lines) == 2 and lines[0].startswith("interrupted by SIGTERM: checkpoint saved to "), out
    ckpt = Path(lines[0].split("checkpoint saved to ")[1].split(" (")[0])
    assert lines[1] == f"resume with: python ppo_highlevel.py --load {ckpt} --cpu"
    counters = load_checkpoint_state(ckpt)["counters"]
    rows = read_stats(run_dir / "stats.csv")
    # the checkpoint is the last logged iteration (the signal may land in any later rollout or update)
    assert counters["iteration"] == len(rows) >= 1 and counters["env_steps"] == int(rows[-1]["env_steps"]) > 0
    assert not (run_dir / "results.json").exists() and not (run_dir / "checkpoints" / "final.zip").exists()
