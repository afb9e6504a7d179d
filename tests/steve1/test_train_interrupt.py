"""The BC trainer (steve1/train.py) on Ctrl-C / SIGTERM: it saves a checkpoint at the next optimiser step, prints it
and the command that resumes it, exits 130 (143), and the resumed run ends with the same parameters as an
uninterrupted run of the same length."""
import json
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

import steve1.bc_trainer as bc_trainer
from steve1.bc_trainer import weights_path
from steve1.train import main
from steve1.utils.interrupt import Interrupted
from test_train import TINY_MODEL, needs_crafter_actions, toy_argv, write_goal_episodes, write_sampling

REPO = Path(__file__).resolve().parents[2]
FRAMES_PER_STEP = 8 * 4  # trunc_t x batch_size of toy_argv
#: 3 windows per chunk, 2 window steps per optimiser step, 16 window steps in all; no periodic checkpoint
COMMON = dict(T=24, n_frames=FRAMES_PER_STEP * 16, warmup_frames=FRAMES_PER_STEP * 4, gradient_accumulation_steps=2,
              save_freq=100, log_freq=1, val_freq=5, val_freq_begin=5, val_freq_switch_steps=5,
              snapshot_every_n_frames=10**9)


@pytest.fixture(scope="module")
def goal_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bc_interrupt")
    dirs = write_goal_episodes(str(root / "episodes"), 12, 63)
    write_sampling(str(root / "samplings"), "toy", dirs[:8], dirs[8:])
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY_MODEL))
    return root


@needs_crafter_actions
def test_sigint_checkpoints_and_the_resumed_run_equals_an_uninterrupted_one(goal_data, monkeypatch, capsys):
    ref = main(toy_argv(goal_data, "ref", **COMMON))
    assert ref["n_steps"] == 16

    # Ctrl-C while window step 5 runs (lr_at is called at the start of each window step with the frames done):
    # step 5 ends half-way through an optimiser step, so the trainer stops after step 6
    original_lr_at = bc_trainer.lr_at

    def lr_at_with_sigint(frames, *a):
        if frames == 4 * FRAMES_PER_STEP:
            os.kill(os.getpid(), signal.SIGINT)
        return original_lr_at(frames, *a)

    monkeypatch.setattr(bc_trainer, "lr_at", lr_at_with_sigint)
    argv = toy_argv(goal_data, "cut", **COMMON) + ["--reset_checkpoint_dir"]
    with pytest.raises(Interrupted) as exc:
        main(argv)
    monkeypatch.setattr(bc_trainer, "lr_at", original_lr_at)
    assert exc.value.code == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # pytest's handler is back
    lines = capsys.readouterr().out.splitlines()
    ckpt_dir = goal_data / "cut" / "ckpt"
    assert f"interrupted by SIGINT: checkpoint saved to {ckpt_dir} (window step 6, {6 * FRAMES_PER_STEP} frames)" \
        in lines
    resume = [line[len("resume with: "):] for line in lines if line.startswith("resume with: ")]
    assert len(resume) == 1
    command = shlex.split(resume[0])
    assert command[:2] == ["python", "steve1/train.py"] and command[2:] == argv[:-1]  # without --reset_...
    assert json.loads((ckpt_dir / "checkpoint.json").read_text())["n_steps"] == 6
    assert os.path.isfile(weights_path(str(goal_data / "cut" / "w" / "toy.weights"), "latest"))

    resumed = main(command[2:])  # the printed command, in-process
    assert resumed["n_steps"] == 16 and resumed["train_losses"][0][0] == 7
    ref_losses = dict(ref["train_losses"])
    for step, loss in resumed["train_losses"]:
        assert loss == ref_losses[step], step  # same operations on the same data in the same order: bitwise equal
    a = torch.load(weights_path(str(goal_data / "ref" / "w" / "toy.weights"), "latest"), weights_only=True)
    b = torch.load(weights_path(str(goal_data / "cut" / "w" / "toy.weights"), "latest"), weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@needs_crafter_actions
def test_ctrl_c_to_the_process_group_of_a_script_with_dataloader_workers(goal_data):
    """The real thing: ``python steve1/train.py`` with a DataLoader worker, Ctrl-C sent (as a terminal does) to
    every process of its group once the first periodic checkpoint exists: the trainer saves at its next optimiser
    step and exits 130, without a traceback from the trainer or its worker."""
    overrides = dict(COMMON, n_frames=FRAMES_PER_STEP * 10**6, save_freq=4, val_freq=10**6, val_freq_begin=10**6,
                     num_workers=1)
    argv = toy_argv(goal_data, "script", **overrides)
    ckpt_index = goal_data / "script" / "ckpt" / "checkpoint.json"
    proc = subprocess.Popen([sys.executable, "steve1/train.py", *argv], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        deadline = time.monotonic() + 120
        while not ckpt_index.is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ckpt_index.is_file(), proc.communicate(timeout=30)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "DataLoader worker" not in err, err
    n_steps = json.loads(ckpt_index.read_text())["n_steps"]
    assert n_steps >= 4 and n_steps % 2 == 0  # saved on an optimiser step
    assert f"interrupted by SIGINT: checkpoint saved to {ckpt_index.parent} (window step {n_steps}," in out
    assert "resume with: python steve1/train.py --sampling toy" in out
